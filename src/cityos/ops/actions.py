"""Operator actions: acknowledge an alert, and dispatch a case from an alert or the map.

Both run in the caller's transaction, so a refused action writes nothing. An operator
dispatching from the screen does not answer the category's required attributes (the
description carries the detail), as sensor-opened cases do not; attributes that are sent
are still checked. Acknowledging is
audited by the sensing domain (``sensing.alert.acknowledge``) and announced on
``sensing.alert``; dispatching opens the case through the cases domain (audited, announced on
``cases.changed``), links it to the alert (``sensing.alert.link_case``) and records
``ops.dispatch``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.cases import service as cases_service
from cityos.errors import Conflict, InvalidInput
from cityos.sensing import service as sensing_service
from cityos.sensing.service import Alert

MAX_DESCRIPTION = 4000


@dataclass(frozen=True, slots=True)
class Dispatch:
    """What the operator sent (see :class:`cityos.ops.schemas.DispatchIn`)."""

    alert_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    service_code: str | None = None
    description: str | None = None
    priority: str | None = None
    attributes: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


def acknowledge(db_session: Session, *, alert_id: int, user_id: int | None, actor: Actor) -> Alert:
    """Mark the alert seen; Conflict when it already was, NotFound when there is none."""
    return sensing_service.acknowledge(
        db_session, alert_id=alert_id, user_id=user_id, actor=actor, now=None
    )


def _from_alert(db_session: Session, data: Dispatch, alert: Alert) -> cases_service.CaseInput:
    if alert.case_id is not None:
        raise Conflict(
            f"Alert {alert.id} already has case {alert.case_id}; open that case instead of "
            "dispatching another.",
            details={"case_id": alert.case_id},
        )
    lon = data.lon if data.lon is not None else alert.lon
    lat = data.lat if data.lat is not None else alert.lat
    if lon is None or lat is None:
        raise InvalidInput(
            f"Alert {alert.id}'s sensor has no location; send lon and lat for the case.",
            details={"field": "location"},
        )
    code = (data.service_code or "").strip()
    if not code:
        rule = sensing_service.get_rule(db_session, rule_id=alert.rule_id)
        code = (rule.case_category or "").strip()
    if not code:
        raise InvalidInput(
            f"Alert {alert.id}'s rule names no case category: choose a category for the case "
            "(service_code; the list is at /open311/v2/services.json).",
            details={"field": "service_code"},
        )
    description = (data.description or "").strip() or f"Sensor alert {alert.id}: {alert.message}"
    return cases_service.CaseInput(
        service_code=code,
        lon=lon,
        lat=lat,
        description=description[:MAX_DESCRIPTION],
        attributes=dict(data.attributes),
        priority=data.priority,
        source=cases_service.CaseSource.STAFF,
        source_ref=f"sensing-alert:{alert.id}",
        follow=False,
        require_attributes=False,
    )


def _from_map(data: Dispatch) -> cases_service.CaseInput:
    missing = [
        name
        for name, value in (
            ("lon", data.lon),
            ("lat", data.lat),
            ("service_code", data.service_code),
        )
        if value is None or (isinstance(value, str) and not value.strip())
    ]
    if missing:
        raise InvalidInput(
            f"To dispatch a case, send alert_id, or lon, lat and service_code; missing: "
            f"{', '.join(missing)}.",
            details={"missing": missing},
        )
    return cases_service.CaseInput(
        service_code=data.service_code,
        lon=data.lon,
        lat=data.lat,
        description=(data.description or "").strip(),
        attributes=dict(data.attributes),
        priority=data.priority,
        source=cases_service.CaseSource.STAFF,
        follow=False,
        require_attributes=False,
    )


def dispatch(
    db_session: Session,
    *,
    data: Dispatch,
    actor: Actor,
    policy: cases_service.CasePolicy,
    now: datetime | None = None,
) -> int:
    """Open a case for an alert or a place; returns its id. InvalidInput (what to fix),
    NotFound (no such alert) or Conflict (the alert has a case) otherwise."""
    alert = (
        sensing_service.get_alert(db_session, alert_id=data.alert_id)
        if data.alert_id is not None
        else None
    )
    case_input = _from_alert(db_session, data, alert) if alert is not None else _from_map(data)
    case = cases_service.open_case(db_session, case_input, actor=actor, policy=policy, now=now)
    if alert is not None:
        sensing_service.link_case(db_session, alert_id=alert.id, case_id=case.id, actor=actor)
    record(
        db_session,
        actor=actor,
        action="ops.dispatch",
        entity_type="cases_case",
        entity_id=case.id,
        summary=f"Dispatched case {case.id}"
        + (f" for alert {alert.id}" if alert is not None else " from the map"),
        after={"alert_id": alert.id if alert is not None else None, "case_id": case.id},
    )
    return case.id
