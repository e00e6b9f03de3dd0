"""The sensing JSON API under ``/api/sensing``: latest values, aggregates, rules, alerts.

Latest values and aggregates are open to anyone for Things that are not restricted (signed-in
users see restricted ones too). Rules, alerts and dead letters are read by signed-in users;
operators, staff and admins edit rules and acknowledge alerts. Machine clients send
``Authorization: Bearer <API key>``; browser sessions send the CSRF token with each write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from cityos.auth.models import Role, User
from cityos.deps import ActorDep, CurrentUser, OptionalUser, SessionDep, require_role
from cityos.sensing import service
from cityos.sensing.readings import parse_time
from cityos.sensing.schemas import RuleIn, RulePatch, alert_dict, dead_letter_dict, rule_dict

router = APIRouter(prefix="/api/sensing", tags=["sensing"])
# Who may edit rules and acknowledge alerts: operators and staff (and admins).
Editor = Annotated[User, Depends(require_role(Role.OPERATOR, Role.STAFF), scope="function")]
MAX_PAGE = 1000
# Ids in paths: beyond the integer columns' range there is nothing to find (a clear 422).
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _time(value: str | None, what: str) -> datetime | None:
    return None if value is None or not value.strip() else parse_time(value.strip(), what=what)


# --- latest values and aggregates ---------------------------------------------------------


@router.get("/latest", summary="Each matching datastream's latest reading, with its place")
def latest(
    db: SessionDep,
    user: OptionalUser,
    area: Annotated[str | None, Query(description="An area code of any level")] = None,
    observed_property: Annotated[
        str | None, Query(alias="observedProperty", description="Id, name or definition")
    ] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north (WGS84)")] = None,
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
) -> Response:
    document = service.latest_document(
        db,
        area=area,
        observed_property=observed_property,
        bbox=service.parse_bbox(bbox),
        include_restricted=user is not None,
        geojson=format == "geojson",
    )
    # Written straight out: thousands of items must stay fast.
    media = "application/geo+json" if format == "geojson" else "application/json"
    return Response(document, media_type=media)


@router.get(
    "/datastreams/{datastream_id}/aggregate",
    summary="One datastream's readings per interval (from the rollups)",
)
def datastream_aggregate(
    db: SessionDep,
    user: OptionalUser,
    datastream_id: Id,
    interval: Annotated[str, Query(description="1m, 1h, 1d, or a multiple: 15m, 6h, 7d")] = "1h",
    start: Annotated[str | None, Query(alias="from", description="ISO 8601 with a zone")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO 8601 with a zone")] = None,
    fn: Annotated[str, Query(description="mean, min, max, sum, count or last")] = "mean",
) -> Response:
    return JSONResponse(
        service.datastream_aggregate(
            db,
            datastream_id=datastream_id,
            interval=interval,
            start=_time(start, "from"),
            end=_time(end, "to"),
            fn=fn,
            include_restricted=user is not None,
        )
    )


@router.get("/aggregate", summary="An observed property's readings per interval, over an area")
def area_aggregate(
    db: SessionDep,
    user: OptionalUser,
    observed_property: Annotated[
        str | None, Query(alias="observedProperty", description="Id, name or definition")
    ] = None,
    area: Annotated[str | None, Query(description="An area code of any level")] = None,
    interval: Annotated[str, Query(description="1m, 1h, 1d, or a multiple: 15m, 6h, 7d")] = "1h",
    start: Annotated[str | None, Query(alias="from", description="ISO 8601 with a zone")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO 8601 with a zone")] = None,
    fn: Annotated[str, Query(description="mean, min, max, sum, count or last")] = "mean",
) -> Response:
    return JSONResponse(
        service.area_aggregate(
            db,
            observed_property=observed_property,
            area=area,
            interval=interval,
            start=_time(start, "from"),
            end=_time(end, "to"),
            fn=fn,
            include_restricted=user is not None,
        )
    )


# --- rules ---------------------------------------------------------------------------------


@router.get("/rules", summary="Alert rules")
def list_rules(
    db: SessionDep,
    _user: CurrentUser,
    datastream: Annotated[int | None, Query()] = None,
    observed_property: Annotated[int | None, Query(alias="observedProperty")] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> dict[str, Any]:
    rules = service.list_rules(
        db, datastream_id=datastream, observed_property_id=observed_property, enabled=enabled
    )
    return {"count": len(rules), "items": [rule_dict(rule) for rule in rules]}


@router.post("/rules", status_code=201, summary="Create an alert rule")
def create_rule(db: SessionDep, user: Editor, actor: ActorDep, body: RuleIn) -> dict[str, Any]:
    rule = service.create_rule(
        db, data=service.RuleInput(**body.model_dump()), actor=actor, user_id=user.id
    )
    return rule_dict(rule)


@router.get("/rules/{rule_id}", summary="One alert rule")
def get_rule(db: SessionDep, _user: CurrentUser, rule_id: Id) -> dict[str, Any]:
    return rule_dict(service.get_rule(db, rule_id=rule_id))


@router.patch("/rules/{rule_id}", summary="Change some fields of an alert rule")
def update_rule(
    db: SessionDep, _user: Editor, actor: ActorDep, rule_id: Id, body: RulePatch
) -> dict[str, Any]:
    rule = service.update_rule(
        db, rule_id=rule_id, changes=body.model_dump(exclude_unset=True), actor=actor
    )
    return rule_dict(rule)


@router.delete("/rules/{rule_id}", status_code=204, summary="Delete an alert rule and its alerts")
def delete_rule(db: SessionDep, _user: Editor, actor: ActorDep, rule_id: Id) -> Response:
    service.delete_rule(db, rule_id=rule_id, actor=actor)
    return Response(status_code=204)


# --- alerts and dead letters ---------------------------------------------------------------


@router.get("/alerts", summary="Alerts, newest first")
def list_alerts(
    db: SessionDep,
    _user: CurrentUser,
    state: Annotated[str | None, Query(description="active or cleared")] = None,
    datastream: Annotated[int | None, Query()] = None,
    rule: Annotated[int | None, Query()] = None,
    area: Annotated[str | None, Query(description="An area code of any level")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    page = service.list_alerts(
        db,
        state=state,
        datastream_id=datastream,
        rule_id=rule,
        area=area,
        limit=limit,
        offset=offset,
    )
    return {"total": page.total, "items": [alert_dict(alert) for alert in page.alerts]}


@router.get("/alerts/{alert_id}", summary="One alert, with the readings that raised it")
def get_alert(db: SessionDep, _user: CurrentUser, alert_id: Id) -> dict[str, Any]:
    return alert_dict(service.get_alert(db, alert_id=alert_id))


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert (once)")
def acknowledge(db: SessionDep, user: Editor, actor: ActorDep, alert_id: Id) -> dict[str, Any]:
    alert = service.acknowledge(db, alert_id=alert_id, user_id=user.id, actor=actor, now=None)
    return alert_dict(alert)


@router.get("/dead-letters", summary="Readings that could not be stored, and why")
def dead_letters(
    db: SessionDep,
    _user: CurrentUser,
    source: Annotated[str | None, Query(description="mqtt, http or simulator")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    rows, total = service.list_dead_letters(db, limit=limit, offset=offset, source=source)
    return {"total": total, "items": [dead_letter_dict(row) for row in rows]}
