"""The DCAT-AP 3 catalogue: ``/catalog.jsonld`` and ``/catalog.ttl``, and one dataset at
``/catalog/{name}.jsonld`` and ``/catalog/{name}.ttl``.

Anonymous callers get the open datasets; signed-in callers (session or API key) every
catalogue entry they may see, as on the portal.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from rdflib import Graph

from cityos.datahub import dcat, service
from cityos.datahub.access import require_metadata
from cityos.deps import OptionalUser, SessionDep, SettingsDep
from cityos.errors import NotFound

router = APIRouter(tags=["data hub"])

JSONLD = "application/ld+json"
TURTLE = "text/turtle"


def _answer(graph: Graph, fmt: str) -> Response:
    if fmt == "ttl":
        return Response(dcat.to_turtle(graph), media_type=f"{TURTLE}; charset=utf-8")
    return Response(dcat.to_jsonld(graph), media_type=JSONLD)


@router.get(
    "/catalog.{fmt}",
    summary="The DCAT-AP 3 catalogue (fmt: jsonld or ttl)",
    response_class=Response,
    responses={200: {"content": {JSONLD: {}, TURTLE: {}}}},
)
def catalog(db: SessionDep, user: OptionalUser, settings: SettingsDep, fmt: str) -> Response:
    _check_format(fmt)
    graph = dcat.catalog_graph(db, user=user, base_url=settings.base_url)
    return _answer(graph, fmt)


@router.get(
    "/catalog/{name}.{fmt}",
    summary="One dataset as DCAT-AP 3 (fmt: jsonld or ttl)",
    response_class=Response,
    responses={200: {"content": {JSONLD: {}, TURTLE: {}}}},
)
def dataset(
    db: SessionDep, user: OptionalUser, settings: SettingsDep, name: str, fmt: str
) -> Response:
    _check_format(fmt)
    found = service.get_dataset(db, name=name)
    require_metadata(found, user)
    return _answer(dcat.dataset_graph(db, dataset=found, base_url=settings.base_url), fmt)


def _check_format(fmt: str) -> None:
    if fmt not in {"jsonld", "ttl"}:
        raise NotFound(f"No catalogue format {fmt!r}: use .jsonld (JSON-LD) or .ttl (Turtle).")
