"""The operations center's sensing figures: alerts by severity (now or at an instant), the
active alerts for the map, how many datastreams are reporting, and the latest value of each
public sensor of one observed property.

Readings are taken from ``sensing_latest`` (one row per datastream), never from the
observations. Datastreams of restricted Things are left out of the sensor figures; alerts
are for operators and are all counted.

An area is a code of any level (:func:`cityos.sensing.areas.resolve`): a grid cell or a
district matches the codes stored on each Location and Alert; a sub-district matches the
sensor Locations inside it (geo lineage), and an alert by its datastream's Location; the
city matches its districts. ``None`` is everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cityos.errors import InvalidInput
from cityos.sensing.areas import resolve
from cityos.sensing.latest import first_location, scoped_datastreams
from cityos.sensing.models import (
    Alert,
    AlertRule,
    AlertState,
    Datastream,
    LatestValue,
    Location,
    ObservedProperty,
    Rollup,
    Severity,
    Thing,
    thing_locations,
)

HOUR_S = 3600
SEVERITY_RANK = {Severity.CRITICAL.value: 0, Severity.WARNING.value: 1, Severity.INFO.value: 2}


@dataclass(frozen=True, slots=True)
class AlertCounts:
    active: int
    by_severity: dict[str, int]  # every severity, info → critical, 0 when none


@dataclass(frozen=True, slots=True)
class AlertPoint:
    id: int
    severity: str
    message: str
    started_at: datetime
    acknowledged_at: datetime | None
    case_id: int | None
    datastream_id: int
    datastream_name: str
    lon: float | None
    lat: float | None
    district_code: str | None
    grid_code: str | None
    case_category: str | None = None  # the service code the alert's rule opens cases in


@dataclass(frozen=True, slots=True)
class Reporting:
    datastreams: int
    reporting: int  # with a reading in [now - window, now]
    pct: float | None


@dataclass(frozen=True, slots=True)
class SensorPoint:
    datastream_id: int
    thing_name: str
    datastream_name: str
    value: float | None  # None: the latest result is not a number
    unit: str  # the unit's symbol ("" when none)
    phenomenon_time: datetime
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class SensorLayer:
    properties: list[str]  # the observed properties that have public readings, by name
    observed_property: str  # the chosen one ("" when there is none)
    points: list[SensorPoint]


# --- areas ---------------------------------------------------------------------------------


def alert_area_clause(db_session: Session, area_code: str | None) -> ColumnElement[bool]:
    """A condition on :class:`Alert` for an area code (everything when None)."""
    if area_code is None:
        return true()
    match = resolve(db_session, area_code)
    parts: list[ColumnElement[bool]] = []
    if match.grids:
        parts.append(Alert.grid_code.in_(sorted(match.grids)))
    if match.districts:
        parts.append(Alert.district_code.in_(sorted(match.districts)))
    if match.location_ids:
        located = (
            select(Datastream.id)
            .join(thing_locations, thing_locations.c.thing_id == Datastream.thing_id)
            .where(thing_locations.c.location_id.in_(sorted(match.location_ids)))
        )
        parts.append(Alert.datastream_id.in_(located))
    return or_(*parts) if parts else false()


# --- alerts --------------------------------------------------------------------------------


def alert_board(
    db_session: Session, *, area_code: str | None, at: datetime | None = None
) -> AlertCounts:
    """Alerts active now (``at`` None: in the active state) or at the instant ``at``
    (``started_at <= at`` and not ended by then), by severity."""
    if at is None:
        active: ColumnElement[bool] = Alert.state == AlertState.ACTIVE.value
    else:
        active = and_(Alert.started_at <= at, or_(Alert.ended_at.is_(None), Alert.ended_at > at))
    rows = db_session.execute(
        select(Alert.severity, func.count())
        .where(active, alert_area_clause(db_session, area_code))
        .group_by(Alert.severity)
    ).all()
    counts = {severity.value: 0 for severity in Severity}
    for severity, count in rows:
        counts[str(severity)] = counts.get(str(severity), 0) + int(count)
    return AlertCounts(active=sum(counts.values()), by_severity=counts)


def active_alert_points(
    db_session: Session, *, area_code: str | None, limit: int = 500
) -> list[AlertPoint]:
    """The active alerts, most severe first, then newest first (at most ``limit``)."""
    rank = case(SEVERITY_RANK, value=Alert.severity, else_=len(SEVERITY_RANK))
    rows = db_session.execute(
        select(Alert, Datastream.name, AlertRule.case_category)
        .join(Datastream, Datastream.id == Alert.datastream_id)
        .join(AlertRule, AlertRule.id == Alert.rule_id)
        .where(Alert.state == AlertState.ACTIVE.value, alert_area_clause(db_session, area_code))
        .order_by(rank, Alert.started_at.desc(), Alert.id.desc())
        .limit(max(limit, 0))
    ).all()
    return [
        AlertPoint(
            id=alert.id,
            severity=str(alert.severity),
            message=alert.message,
            started_at=alert.started_at,
            acknowledged_at=alert.acknowledged_at,
            case_id=alert.case_id,
            datastream_id=alert.datastream_id,
            datastream_name=name,
            lon=alert.lon,
            lat=alert.lat,
            district_code=alert.district_code,
            grid_code=alert.grid_code,
            case_category=category,
        )
        for alert, name, category in rows
    ]


# --- sensors -------------------------------------------------------------------------------


def reporting(
    db_session: Session,
    *,
    area_code: str | None,
    now: datetime,
    window: timedelta = timedelta(hours=1),
) -> Reporting:
    """How many public datastreams (in the area) have a latest reading in
    ``[now - window, now]``, of how many there are."""
    fresh = and_(LatestValue.phenomenon_time >= now - window, LatestValue.phenomenon_time <= now)
    query = scoped_datastreams(
        db_session,
        select(
            func.count(Datastream.id),
            func.coalesce(func.sum(case((fresh, 1), else_=0)), 0),
        )
        .select_from(Datastream)
        .outerjoin(LatestValue, LatestValue.datastream_id == Datastream.id),
        area=area_code,
        observed_property=None,
        bbox=None,
        include_restricted=False,
    )
    total, recent = db_session.execute(query).one()
    total, recent = int(total), int(recent)
    return Reporting(
        datastreams=total,
        reporting=recent,
        pct=round(100.0 * recent / total, 1) if total else None,
    )


def reporting_at(
    db_session: Session,
    *,
    area_code: str | None,
    at: datetime,
    window: timedelta = timedelta(hours=1),
) -> Reporting:
    """:func:`reporting` at a past instant, from the hourly rollups (kept when raw readings
    are pruned): a datastream counts when it has a reading in an hour that overlaps
    ``[at - window, at)``, so up to an hour more than ``window`` (the operations center's
    previous period)."""
    seen = (
        select(Rollup.datastream_id)
        .where(
            Rollup.datastream_id == Datastream.id,
            Rollup.interval_s == HOUR_S,
            Rollup.bucket > at - window - timedelta(seconds=HOUR_S),
            Rollup.bucket < at,
        )
        .exists()
    )
    query = scoped_datastreams(
        db_session,
        select(
            func.count(Datastream.id), func.coalesce(func.sum(case((seen, 1), else_=0)), 0)
        ).select_from(Datastream),
        area=area_code,
        observed_property=None,
        bbox=None,
        include_restricted=False,
    )
    total, recent = (int(n) for n in db_session.execute(query).one())
    return Reporting(
        datastreams=total,
        reporting=recent,
        pct=round(100.0 * recent / total, 1) if total else None,
    )


def property_counts(db_session: Session, *, area_code: str | None) -> dict[str, int]:
    """Observed property name → how many public datastreams of it (in the area) have a
    latest value, in name order."""
    counted: Any = (
        select(ObservedProperty.name, func.count(Datastream.id))
        .select_from(Datastream)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .join(LatestValue, LatestValue.datastream_id == Datastream.id)
        .group_by(ObservedProperty.name)
    )
    query = scoped_datastreams(
        db_session,
        counted,
        area=area_code,
        observed_property=None,
        bbox=None,
        include_restricted=False,
    )
    return dict(sorted((str(name), int(count)) for name, count in db_session.execute(query)))


def choose_property(
    db_session: Session, *, area_code: str | None, observed_property: str | None
) -> tuple[dict[str, int], str]:
    """The property counts of the area and the chosen name (by default the first; ``""``
    when there is none). A name no observed property has is InvalidInput listing the names."""
    counts = property_counts(db_session, area_code=area_code)
    chosen = (observed_property or "").strip()
    if chosen and chosen not in counts:
        known = db_session.scalar(select(func.count()).where(ObservedProperty.name == chosen))
        if not known:
            raise InvalidInput(
                f"There is no observed property named {chosen!r}; "
                f"use one of {', '.join(counts) or '(none yet)'}."
            )
    return counts, chosen or next(iter(counts), "")


def _unit_symbol(unit: Any) -> str:
    if isinstance(unit, dict):
        return str(unit.get("symbol") or "")
    return ""


def sensor_points(
    db_session: Session, *, area_code: str | None, observed_property: str | None
) -> SensorLayer:
    """The latest value of every public, placed datastream of one observed property (by
    name; default the first of ``properties``). A name no observed property has is
    InvalidInput; a known one without readings in the area gives no points."""
    counts, chosen = choose_property(
        db_session, area_code=area_code, observed_property=observed_property
    )
    properties = list(counts)
    if not chosen:
        return SensorLayer(properties=properties, observed_property="", points=[])
    first = first_location()
    query = scoped_datastreams(
        db_session,
        select(
            Datastream.id,
            Datastream.name,
            Datastream.unit_of_measurement,
            Thing.name.label("thing_name"),
            LatestValue.result_number,
            LatestValue.phenomenon_time,
            Location.lon,
            Location.lat,
        )
        .select_from(Datastream)
        .join(LatestValue, LatestValue.datastream_id == Datastream.id)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id),
        area=area_code,
        observed_property=None,
        bbox=None,
        include_restricted=False,
    )
    query = (
        query.join(first, first.c.thing_id == Thing.id)
        .join(Location, Location.id == first.c.location_id)
        .where(
            ObservedProperty.name == chosen,
            Location.lon.is_not(None),
            Location.lat.is_not(None),
        )
        .order_by(Datastream.id)
    )
    points = [
        SensorPoint(
            datastream_id=row.id,
            thing_name=row.thing_name,
            datastream_name=row.name,
            value=row.result_number,
            unit=_unit_symbol(row.unit_of_measurement),
            phenomenon_time=row.phenomenon_time,
            lon=float(row.lon),
            lat=float(row.lat),
        )
        for row in db_session.execute(query)
    ]
    return SensorLayer(properties=properties, observed_property=chosen, points=points)
