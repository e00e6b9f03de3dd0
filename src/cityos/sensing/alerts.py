"""Alerts: raising and clearing them (with their actions), reading and acknowledging them.

Raising an alert records it at the sensor's Location and then acts, all in the caller's
transaction: an e-mail to each of the rule's addresses and a ``sensing.alert.raised`` webhook
event (:mod:`cityos.notify.service`), a citizen-services case when the rule asks for one
(:func:`cityos.cases.service.open_case`, source ``sensor``, routed like any case), and, once
the transaction commits, ``events.publish("sensing.alert", ...)`` for live pages. A case that
cannot be opened (the sensor is outside the city, the category is unknown or needs
attributes) does not stop ingestion: the alert says why in its message. Clearing an alert
adds an update to its case: public when the readings are back to normal, internal when an
operator's change to the rule ended it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.service import Actor, record
from cityos.cases import service as cases_service
from cityos.config import get_settings
from cityos.db import utcnow
from cityos.errors import CityOSError, Conflict, InvalidInput, NotFound
from cityos.notify import service as notify_service
from cityos.sensing.areas import clause_for
from cityos.sensing.models import (
    Alert,
    AlertRule,
    AlertState,
    Datastream,
    Location,
    RuleState,
    thing_locations,
)

log = logging.getLogger("cityos.sensing.alerts")
SENSING_ACTOR = Actor.system("sensing")
EVENT_TOPIC = "sensing.alert"
_CHANGES = "cityos.sensing.alert_changes"


# --- events after commit -------------------------------------------------------------------


def _queue_event(db_session: Session, payload: dict[str, Any]) -> None:
    """Announce ``payload`` on ``sensing.alert`` once the transaction commits."""
    events.publish_after_commit(db_session, EVENT_TOPIC, payload)


def changes(db_session: Session) -> int:
    """How many alerts this session has raised or cleared (for callers' counts)."""
    count: int = db_session.info.get(_CHANGES, 0)
    return count


def _count(db_session: Session) -> None:
    db_session.info[_CHANGES] = changes(db_session) + 1


def event_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule": alert.rule_id,
        "datastream": alert.datastream_id,
        "state": str(alert.state),
        "severity": str(alert.severity),
        "message": alert.message,
        "started_at": alert.started_at.isoformat(),
        "ended_at": alert.ended_at.isoformat() if alert.ended_at else None,
        "lon": alert.lon,
        "lat": alert.lat,
        "district": alert.district_code,
        "case": alert.case_id,
    }


# --- raising and clearing ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    lon: float | None
    lat: float | None
    grid_code: str | None
    district_code: str | None


def place_of(db_session: Session, datastream_id: int) -> Place:
    """Where a datastream's Thing is (its first Location), or nowhere."""
    row = db_session.execute(
        select(Location.lon, Location.lat, Location.grid_code, Location.district_code)
        .join(thing_locations, thing_locations.c.location_id == Location.id)
        .join(Datastream, Datastream.thing_id == thing_locations.c.thing_id)
        .where(Datastream.id == datastream_id)
        .order_by(Location.id)
        .limit(1)
    ).first()
    if row is None:
        return Place(None, None, None, None)
    return Place(row.lon, row.lat, row.grid_code, row.district_code)


def _case_policy() -> cases_service.CasePolicy:
    return cases_service.CasePolicy.from_settings(get_settings())


def _open_case(db_session: Session, rule: AlertRule, alert: Alert, now: datetime) -> None:
    if alert.lon is None or alert.lat is None:
        alert.message += " (no case opened: the sensor has no location)"
        return
    data = cases_service.CaseInput(
        service_code=rule.case_category,
        lon=alert.lon,
        lat=alert.lat,
        description=f"Sensor alert {alert.id}: {alert.message}"[:4000],
        source=cases_service.CaseSource.SENSOR,
        source_ref=f"sensing-alert:{alert.id}",
        requested_at=min(alert.started_at, now),
        follow=False,
    )
    try:
        with db_session.begin_nested():
            case = cases_service.open_case(
                db_session, data, actor=SENSING_ACTOR, policy=_case_policy(), now=now
            )
    except CityOSError as error:
        log.warning("alert %s opened no case: %s", alert.id, error.message)
        alert.message += f" (no case opened: {error.message})"
        return
    alert.case_id = case.id


def _notify(db_session: Session, rule: AlertRule, alert: Alert, *, cleared: bool) -> None:
    verb = "cleared" if cleared else "raised"
    payload = event_payload(alert)
    notify_service.emit(db_session, event=f"sensing.alert.{verb}", payload=payload)
    for address in rule.notify_emails or []:
        try:
            notify_service.queue_email(
                db_session,
                to=address,
                subject=f"[{alert.severity}] sensor alert {verb}: {rule.name}",
                body=f"{alert.message}\n\nAlert {alert.id}, datastream {alert.datastream_id}, "
                f"started {alert.started_at.isoformat()}"
                + (f", ended {alert.ended_at.isoformat()}" if alert.ended_at else "")
                + (f".\nCase {alert.case_id}." if alert.case_id else "."),
                topic=EVENT_TOPIC,
            )
        except InvalidInput as error:  # an address that went bad after the rule was saved
            log.warning("alert %s: %s", alert.id, error.message)


def raise_alert(
    db_session: Session,
    *,
    rule: AlertRule,
    datastream_id: int,
    started_at: datetime,
    message: str,
    readings: Sequence[dict[str, Any]],
    now: datetime,
) -> Alert:
    """Record a new active alert for ``rule`` on a datastream and carry out its actions."""
    place = place_of(db_session, datastream_id)
    alert = Alert(
        rule_id=rule.id,
        datastream_id=datastream_id,
        state=AlertState.ACTIVE,
        severity=rule.severity,
        message=message,
        started_at=started_at,
        readings=list(readings),
        lon=place.lon,
        lat=place.lat,
        grid_code=place.grid_code,
        district_code=place.district_code,
    )
    db_session.add(alert)
    db_session.flush()
    if rule.open_case and rule.case_category:
        _open_case(db_session, rule, alert, now)
    _notify(db_session, rule, alert, cleared=False)
    _queue_event(db_session, event_payload(alert))
    _count(db_session)
    return alert


def clear_alert(
    db_session: Session,
    *,
    alert_id: int,
    ended_at: datetime,
    value: float | None,
    now: datetime,
    reason: str | None = None,
) -> Alert | None:
    """End an active alert; its case gets an update. None when it is gone.

    Without ``reason`` the readings are back to normal and the update is public; with one
    (e.g. "the alert rule was disabled by an operator") the update is an internal note that
    gives it, since nothing is known about the readings.
    """
    alert = db_session.get(Alert, alert_id)
    if alert is None or alert.state != AlertState.ACTIVE:
        return alert
    alert.state = AlertState.CLEARED
    alert.ended_at = ended_at
    rule = db_session.get(AlertRule, alert.rule_id)
    if alert.case_id is not None:
        reading = f" (latest reading {value:g})" if value is not None else ""
        note = (
            f"The sensor alert has cleared at {ended_at.isoformat()}{reading}: "
            "the readings are back to normal."
            if reason is None
            else f"The sensor alert was closed at {ended_at.isoformat()}: {reason}. This says "
            "nothing about the readings."
        )
        try:
            with db_session.begin_nested():
                case = cases_service.get_case(db_session, case_id=alert.case_id)
                cases_service.add_note(
                    db_session,
                    case,
                    note=note,
                    public=reason is None,
                    user=None,
                    actor=SENSING_ACTOR,
                    policy=_case_policy(),
                    now=now,
                )
        except CityOSError as error:
            log.warning("alert %s: case %s not updated: %s", alert.id, alert.case_id, error)
    if rule is not None:
        _notify(db_session, rule, alert, cleared=True)
    _queue_event(db_session, event_payload(alert))
    _count(db_session)
    return alert


# --- reading and acknowledging -------------------------------------------------------------


def get_alert(db_session: Session, *, alert_id: int) -> Alert:
    alert = db_session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"There is no alert {alert_id}. List alerts with GET /api/sensing/alerts.")
    return alert


@dataclass(frozen=True, slots=True)
class AlertPage:
    alerts: Sequence[Alert]
    total: int


def list_alerts(
    db_session: Session,
    *,
    state: str | None = None,
    datastream_id: int | None = None,
    rule_id: int | None = None,
    area: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> AlertPage:
    """Alerts, newest first, filtered by state, datastream, rule and area."""
    query = select(Alert)
    if state is not None:
        if state not in {s.value for s in AlertState}:
            raise InvalidInput(
                f"state {state!r} is not an alert state; use one of "
                f"{', '.join(s.value for s in AlertState)}."
            )
        query = query.where(Alert.state == state)
    if datastream_id is not None:
        query = query.where(Alert.datastream_id == datastream_id)
    if rule_id is not None:
        query = query.where(Alert.rule_id == rule_id)
    if area is not None:
        located = (
            select(Datastream.id)
            .join(thing_locations, thing_locations.c.thing_id == Datastream.thing_id)
            .join(Location, Location.id == thing_locations.c.location_id)
            .where(clause_for(db_session, area))
        )
        query = query.where(Alert.datastream_id.in_(located))
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(
        query.order_by(Alert.started_at.desc(), Alert.id.desc()).limit(limit).offset(offset)
    ).all()
    return AlertPage(alerts=rows, total=total)


def acknowledge(
    db_session: Session, *, alert_id: int, user_id: int | None, actor: Actor, now: datetime | None
) -> Alert:
    """Mark an alert as seen by someone (once); audited.

    NotFound when there is no such alert; Conflict when it was already acknowledged (checked
    in the UPDATE itself, so of two operators acknowledging at once only one succeeds, and
    only the winner's acknowledgement is audited and announced)."""
    alert = get_alert(db_session, alert_id=alert_id)
    acknowledged = False
    if alert.acknowledged_at is None:
        result = db_session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
            .values(acknowledged_at=now or utcnow(), acknowledged_by=user_id)
            .execution_options(synchronize_session=False)
        )
        acknowledged = getattr(result, "rowcount", 0) == 1
    db_session.refresh(alert)
    if not acknowledged:
        when = alert.acknowledged_at.isoformat() if alert.acknowledged_at else "an earlier time"
        raise Conflict(f"Alert {alert_id} was already acknowledged at {when}.")
    record(
        db_session,
        actor=actor,
        action="sensing.alert.acknowledge",
        entity_type="sensing_alert",
        entity_id=alert.id,
        summary=alert.message,
    )
    _queue_event(db_session, event_payload(alert) | {"acknowledged": True})
    return alert


def link_case(db_session: Session, *, alert_id: int, case_id: int, actor: Actor) -> Alert:
    """Record that case ``case_id`` was opened for an alert (an operator's dispatch); audited.

    NotFound when the alert or the case does not exist; Conflict when the alert already has
    a case (checked in the UPDATE itself, so two operators cannot both link one)."""
    alert = get_alert(db_session, alert_id=alert_id)
    cases_service.get_case(db_session, case_id=case_id)
    linked = False
    if alert.case_id is None:
        result = db_session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.case_id.is_(None))
            .values(case_id=case_id)
            .execution_options(synchronize_session=False)
        )
        linked = getattr(result, "rowcount", 0) == 1
    db_session.refresh(alert)
    if not linked:
        raise Conflict(
            f"Alert {alert_id} already has case {alert.case_id}; open that case instead of "
            "dispatching another."
        )
    record(
        db_session,
        actor=actor,
        action="sensing.alert.link_case",
        entity_type="sensing_alert",
        entity_id=alert.id,
        summary=f"case {case_id}: {alert.message}",
        after={"case_id": case_id},
    )
    _queue_event(db_session, event_payload(alert) | {"case_linked": True})
    return alert


def active_for(db_session: Session, *, rule_id: int) -> Sequence[RuleState]:
    """The states of a rule that hold an active alert."""
    return db_session.scalars(
        select(RuleState).where(
            RuleState.rule_id == rule_id, RuleState.active_alert_id.is_not(None)
        )
    ).all()
