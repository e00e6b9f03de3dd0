"""The sensing pages (zh-CN and en): the sensors map (/sensing) and a datastream's page
(/sensing/datastreams/{id}), open to everyone for sensors that are not restricted. The
operators' pages (rules, alerts, dead letters) live in :mod:`cityos.sensing.views_ops`;
``router`` mounts both.

The pages read through :mod:`cityos.sensing.service`; the browser scripts draw the map and
the chart from the JSON API (``/api/sensing/latest``, ``/api/sensing/datastreams/{id}/aggregate``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.auth.models import Role, User
from cityos.deps import SessionDep
from cityos.errors import NotFound
from cityos.geo import service as geo_service
from cityos.sensing import service
from cityos.sensing.models import Datastream, LatestValue, Location, ObservedProperty, Thing
from cityos.sensing.models import thing_locations as links
from cityos.sensing.simulate_patterns import KIND_KEY, KINDS
from cityos.sensing.views_ops import router as ops_router
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
router.include_router(ops_router)
OPERATORS = (Role.OPERATOR, Role.STAFF)
RANGES = (("6h", "1m"), ("7d", "1h"), ("30d", "1d"))  # the chart's windows and intervals


def is_operator(user: User | None) -> bool:
    return user is not None and user.has_role(*OPERATORS)


def property_label(page: Page, prop: ObservedProperty) -> str:
    """A demo/simulator property's name in the page's language, else its own name."""
    kind = (prop.properties or {}).get(KIND_KEY)
    return page.t(f"sensing.kind.{kind}") if kind in KINDS else prop.name


def property_choices(page: Page, db: Session) -> list[dict[str, Any]]:
    props = db.scalars(select(ObservedProperty).order_by(ObservedProperty.name)).all()
    return [{"value": str(p.id), "label": property_label(page, p)} for p in props]


def area_choices(page: Page, db: Session) -> list[dict[str, str]]:
    level = geo_service.AreaLevel
    areas = geo_service.list_areas(db, level=level.DISTRICT) or geo_service.list_areas(
        db, level=level.CITY
    )
    zh = page.language == "zh-CN"
    return [
        {"value": a.code, "label": f"{(a.name_zh if zh else a.name_en) or a.code} ({a.code})"}
        for a in areas
    ]


@router.get("/sensing", response_class=HTMLResponse)
def map_page(request: Request, page: PageDep, db: SessionDep) -> HTMLResponse:
    """The sensors map: markers coloured by their latest value, filtered by property and area."""
    chosen_property = request.query_params.get("observedProperty", "").strip()
    chosen_area = request.query_params.get("area", "").strip()
    query = {"format": "geojson"}
    if chosen_property:
        query["observedProperty"] = chosen_property
    if chosen_area:
        query["area"] = chosen_area
    context = {
        "properties": property_choices(page, db),
        "areas": area_choices(page, db),
        "chosen_property": chosen_property,
        "chosen_area": chosen_area,
        "api_url": "/api/sensing/latest?" + urlencode(query),
        "is_operator": is_operator(page.user),
        "section": "map",
    }
    return page.render("sensing/map.html", context)


def _datastream(db: Session, datastream_id: int, user: User | None) -> dict[str, Any]:
    row = db.execute(
        select(Datastream, Thing, ObservedProperty)
        .join(Thing, Thing.id == Datastream.thing_id)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .where(Datastream.id == datastream_id)
    ).first()
    if row is None or (row.Thing.restricted and user is None):
        raise NotFound(f"There is no datastream {datastream_id}.")
    location = db.scalars(
        select(Location)
        .join(links, links.c.location_id == Location.id)
        .where(links.c.thing_id == row.Thing.id)
        .order_by(Location.id)
    ).first()
    return {
        "datastream": row.Datastream,
        "thing": row.Thing,
        "prop": row.ObservedProperty,
        "location": location,
        "latest": db.get(LatestValue, datastream_id),
    }


@router.get("/sensing/datastreams/{datastream_id}", response_class=HTMLResponse)
def datastream_page(datastream_id: int, page: PageDep, db: SessionDep) -> HTMLResponse:
    """A datastream: its latest reading, a chart of its rollups, and (for operators) alerts."""
    found = _datastream(db, datastream_id, page.user)
    operator = is_operator(page.user)
    alerts = (
        service.list_alerts(db, datastream_id=datastream_id, limit=50).alerts if operator else []
    )
    rules = service.list_rules(db, datastream_id=datastream_id) if operator else []
    context = {
        **found,
        "unit": (found["datastream"].unit_of_measurement or {}).get("symbol", ""),
        "property_label": property_label(page, found["prop"]),
        "api_url": f"/api/sensing/datastreams/{datastream_id}/aggregate",
        "ranges": RANGES,
        "alerts": alerts,
        "rules": rules,
        "is_operator": operator,
        "section": "map",
    }
    return page.render("sensing/datastream.html", context)
