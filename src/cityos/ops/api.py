"""The operations center's JSON API: figures, map layers, charts and operator actions.

Every endpoint needs an operator (or an admin). The data endpoints take the filters
``range`` and ``area`` (:mod:`cityos.ops.filters`); their figures are cached briefly per app
and dropped by bus events (:mod:`cityos.ops.cache`): the router's lifespan makes the cache
and subscribes it, and unsubscribes at shutdown. Documented in docs/ops.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse

from cityos.auth.models import Role, User
from cityos.cases import service as cases_service
from cityos.db import utcnow
from cityos.deps import ActorDep, SessionDep, SettingsDep, require_role
from cityos.ops import service
from cityos.ops.schemas import DispatchIn, NoteIn
from cityos.sensing import service as sensing_service

CACHE_STATE = "ops_cache"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One figure cache per app, listening to the bus while the app runs."""
    cache = service.FigureCache(app.state.settings.ops_cache_seconds)
    cache.subscribe()
    setattr(app.state, CACHE_STATE, cache)
    try:
        yield
    finally:
        cache.unsubscribe()
        setattr(app.state, CACHE_STATE, None)


router = APIRouter(prefix="/api/ops", tags=["ops"], lifespan=lifespan)
Operator = Annotated[User, Depends(require_role(Role.OPERATOR), scope="function")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def get_cache(request: Request) -> service.FigureCache:
    """The app's cache; without a running lifespan (nothing listens to events) none."""
    cache = getattr(request.app.state, CACHE_STATE, None)
    return cache if isinstance(cache, service.FigureCache) else service.FigureCache(0)


CacheDep = Annotated[service.FigureCache, Depends(get_cache)]


def get_filters(
    db: SessionDep,
    settings: SettingsDep,
    _user: Operator,
    range_: Annotated[
        str | None, Query(alias="range", description="today (default), 24h, 7d or 30d")
    ] = None,
    area: Annotated[
        str | None, Query(description="An area code; absent for the whole city")
    ] = None,
) -> service.Filters:
    return service.parse_filters(
        db, range_=range_, area=area, now=utcnow(), timezone=settings.timezone
    )


FiltersDep = Annotated[service.Filters, Depends(get_filters)]


# --- figures ----------------------------------------------------------------------------


@router.get("/summary", summary="The KPI tiles for a range and area")
def summary(db: SessionDep, filters: FiltersDep, cache: CacheDep) -> JSONResponse:
    return JSONResponse(service.summary(db, filters=filters, cache=cache))


@router.get("/layers/{layer}", summary="A map layer as GeoJSON (areas, sensors, alerts, cases)")
def layer(
    db: SessionDep,
    filters: FiltersDep,
    cache: CacheDep,
    layer: str,
    metric: Annotated[str | None, Query(description="areas: open or breached")] = None,
    level: Annotated[str | None, Query(description="areas: district, subdistrict or grid")] = None,
    observed_property: Annotated[
        str | None, Query(description="sensors: the observed property's name")
    ] = None,
) -> JSONResponse:
    document = service.layer(
        db,
        name=layer,
        filters=filters,
        cache=cache,
        metric=metric,
        level=level,
        observed_property=observed_property,
    )
    return JSONResponse(document)


@router.get("/series/{name}", summary="A chart's data")
def series(
    db: SessionDep,
    filters: FiltersDep,
    cache: CacheDep,
    name: str,
    datastream: Annotated[str | None, Query(description="sensor_trend: a datastream id")] = None,
    observed_property: Annotated[
        str | None, Query(description="sensor_trend: an observed property's name")
    ] = None,
) -> JSONResponse:
    document = service.series(
        db,
        name=name,
        filters=filters,
        cache=cache,
        datastream=datastream,
        observed_property=observed_property,
    )
    return JSONResponse(document)


# --- actions ----------------------------------------------------------------------------


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert (once)")
def acknowledge(db: SessionDep, user: Operator, actor: ActorDep, alert_id: Id) -> dict[str, Any]:
    alert = service.acknowledge(db, alert_id=alert_id, user_id=user.id, actor=actor)
    return sensing_service.alert_dict(alert)  # as the sensing API shows it


@router.post("/dispatch", status_code=201, summary="Open a case from an alert or the map")
def dispatch(
    db: SessionDep, settings: SettingsDep, _user: Operator, actor: ActorDep, body: DispatchIn
) -> dict[str, Any]:
    data = service.Dispatch(
        alert_id=body.alert_id,
        lon=body.lon,
        lat=body.lat,
        service_code=body.service_code,
        description=body.description,
        priority=body.priority,
        attributes=body.attributes or {},
    )
    policy = cases_service.CasePolicy.from_settings(settings)
    case_id = service.dispatch(db, data=data, actor=actor, policy=policy)
    return {"case_id": case_id, "url": f"/staff/cases/{case_id}"}


@router.post("/notes", status_code=201, summary="Add an operator note to an area or incident")
def add_note(db: SessionDep, _user: Operator, actor: ActorDep, body: NoteIn) -> dict[str, Any]:
    note = service.add_note(
        db,
        target_type=body.target_type,
        target_ref=None if body.target_ref is None else str(body.target_ref),
        text=body.text,
        actor=actor,
    )
    return service.note_dict(note)


@router.get("/notes", summary="Operator notes, newest first")
def notes(
    db: SessionDep,
    _user: Operator,
    target_type: Annotated[str | None, Query(description="area, alert or case")] = None,
    target_ref: Annotated[str | None, Query(description="The area code or the id")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    found = service.list_notes(db, target_type=target_type, target_ref=target_ref, limit=limit)
    return {"items": [service.note_dict(note) for note in found]}
