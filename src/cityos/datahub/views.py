"""The data portal's pages (zh-CN and en): search with facets (/data) and the field standard
library (/data/elements). The dataset page and the validation report live in
views_dataset.py, the steward's area and the new-dataset flow in views_steward.py, a
dataset's settings (/data/{name}/manage) in views_manage.py;
``router`` mounts them all (the fixed paths before ``/data/{name}``).

Pages read through :mod:`cityos.datahub.service` (and the access, sharing and quality
modules it re-exports); the browser scripts call the JSON API (rows, downloads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cityos.auth.models import Role
from cityos.datahub import elements as elements_module
from cityos.datahub import quality, service, views_dataset, views_manage, views_steward
from cityos.datahub.models import Dataset
from cityos.datahub.search import FACETS, SORTS, FacetValue
from cityos.datahub.tableschema import TableSchema, from_resolved
from cityos.datahub.views_common import pick, render
from cityos.datahub.views_words import constraint_words, type_word
from cityos.db import utcnow
from cityos.deps import SessionDep
from cityos.web.render import PageDep

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
SORT_CHOICES = ("relevance", "updated", "title", "rows")
MAX_PAGE = 10_000


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return "/data" + (f"?{urlencode(list(pairs))}" if pairs else "")


def search_params(request: Request) -> tuple[str, dict[str, list[str]], str, int]:
    """``(q, filters, sort, page)`` from the query string (unknown names ignored)."""
    params = request.query_params
    q = params.get("q", "").strip()
    filters = {facet: [v for v in params.getlist(facet) if v] for facet in FACETS}
    sort = params.get("sort", "relevance") or "relevance"
    try:
        page = min(max(int(params.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        page = 1
    return q, {k: v for k, v in filters.items() if v}, sort, page


def _pairs(q: str, filters: Mapping[str, Sequence[str]], sort: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = [("q", q)] if q else []
    for facet in FACETS:
        pairs += [(facet, value) for value in filters.get(facet, [])]
    if sort != "relevance":
        pairs.append(("sort", sort))
    return pairs


def facet_lists(
    facets: Mapping[str, list[FacetValue]],
    *,
    q: str,
    filters: Mapping[str, Sequence[str]],
    sort: str,
    lang: str,
) -> list[dict[str, Any]]:
    """Each facet with its values: label, count, whether chosen, and the link that toggles it."""
    out = []
    for facet in FACETS:
        chosen = list(filters.get(facet, []))
        values = list(facets.get(facet, []))
        known = {value.value for value in values}
        values += [FacetValue(value, 0, value, value) for value in chosen if value not in known]
        items = []
        for value in values:
            selected = value.value in chosen
            others = [v for v in chosen if v != value.value]
            toggled = others if selected else [*chosen, value.value]
            link = _query(_pairs(q, {**filters, facet: toggled}, sort))
            items.append(
                {
                    "value": value.value,
                    "label": pick(lang, value.label_zh, value.label_en, value.value),
                    "count": value.count,
                    "selected": selected,
                    "href": link,
                }
            )
        out.append({"name": facet, "values": items, "chosen": bool(chosen)})
    return out


def card(dataset: Dataset, schema: TableSchema | None) -> dict[str, Any]:
    state, days = quality.freshness(dataset, now=utcnow())
    return {
        "dataset": dataset,
        "formats": service.table_formats(schema),
        "freshness": state,
        "days": days,
        "updated": dataset.data_updated_at or dataset.updated_at,
    }


@router.get("/data", response_class=HTMLResponse)
def search_page(request: Request, page: PageDep, db: SessionDep) -> HTMLResponse:
    q, filters, sort, number = search_params(request)
    result = service.search(
        db,
        user=page.user,
        q=q or None,
        filters=filters,
        sort=sort,
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    pairs = _pairs(q, filters, sort)
    last = max((result.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    context = {
        "q": q,
        "sort": sort,
        "sorts": [s for s in SORT_CHOICES if s in SORTS],
        "filters": filters,
        "facets": facet_lists(result.facets, q=q, filters=filters, sort=sort, lang=page.language),
        "total": result.total,
        "cards": [card(d, result.schemas.get(d.id)) for d in result.datasets],
        "page_number": number,
        "last_page": last,
        "previous_href": _query([*pairs, ("page", str(number - 1))]) if number > 1 else "",
        "next_href": _query([*pairs, ("page", str(number + 1))]) if number < last else "",
        "clear_href": _query([("q", q)] if q else []),
        "hidden_pairs": [(k, v) for k, v in pairs if k not in ("q", "sort")],
        "is_steward": page.user is not None and page.user.has_role(Role.STEWARD, Role.STAFF),
    }
    return render(page, "datahub/search.html", context)


@router.get("/data/elements", response_class=HTMLResponse)
def elements_page(page: PageDep, db: SessionDep) -> HTMLResponse:
    """The city's field standard: every data element, readable by everyone."""
    rows = []
    for element in elements_module.list_elements(db):
        descriptor: dict[str, Any] = {"name": element.code, "type": element.type}
        if element.format:
            descriptor["format"] = element.format
        if element.constraints:
            descriptor["constraints"] = dict(element.constraints)
        try:
            as_field = from_resolved({"fields": [descriptor]}).fields[0]
            words = constraint_words(page.t, as_field)
        except (KeyError, TypeError, ValueError):
            words = [str(element.constraints)]
        rows.append(
            {
                "element": element,
                "name": pick(page.language, element.name_zh, element.name_en, element.code),
                "definition": pick(page.language, element.definition_zh, element.definition_en),
                "type": type_word(page.t, element.type),
                "constraints": words,
            }
        )
    return render(page, "datahub/elements.html", {"rows": rows})


# fixed paths (/data/steward, /data/new) first, then /data/{name}…
router.include_router(views_steward.router)
router.include_router(views_manage.router)
router.include_router(views_dataset.router)
