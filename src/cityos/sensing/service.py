"""The sensing domain's interface for other domains, the web layer and the CLI.

Latest values, aggregates, alert rules and alerts, dead letters, and the figures the
assessment module reads (:func:`assessment_metrics`). Nothing here knows about HTTP.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.errors import InvalidInput, NotFound
from cityos.sensing import aggregate
from cityos.sensing.alerts import AlertPage, acknowledge, get_alert, link_case, list_alerts
from cityos.sensing.board import (
    AlertCounts,
    AlertPoint,
    Reporting,
    SensorLayer,
    SensorPoint,
    active_alert_points,
    alert_board,
    choose_property,
    property_counts,
    reporting,
    reporting_at,
    sensor_points,
)
from cityos.sensing.evaluate import check_silent, on_readings
from cityos.sensing.latest import (
    BBox,
    as_geojson,
    first_location,
    latest_document,
    latest_values,
    parse_bbox,
    scoped_datastreams,
)
from cityos.sensing.models import (
    Alert,
    Datastream,
    DeadLetter,
    LatestValue,
    Location,
    ObservedProperty,
    Thing,
)
from cityos.sensing.rules import (
    RuleInput,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    update_rule,
)
from cityos.sensing.schemas import alert_dict

__all__ = [
    "Alert",
    "AlertCounts",
    "AlertPage",
    "AlertPoint",
    "BBox",
    "Reporting",
    "RuleInput",
    "SensorLayer",
    "SensorPoint",
    "acknowledge",
    "active_alert_points",
    "alert_board",
    "alert_dict",
    "area_aggregate",
    "as_geojson",
    "assessment_metrics",
    "check_silent",
    "choose_property",
    "create_rule",
    "datastream_aggregate",
    "delete_rule",
    "get_alert",
    "get_rule",
    "latest_document",
    "latest_values",
    "link_case",
    "list_alerts",
    "list_dead_letters",
    "list_rules",
    "on_readings",
    "parse_bbox",
    "property_counts",
    "reporting",
    "reporting_at",
    "sensor_points",
    "update_rule",
]

REPORTING_WINDOW = timedelta(hours=24)


# --- aggregates ----------------------------------------------------------------------------


def _aggregate_json(
    interval: aggregate.Interval,
    fn: str,
    start: datetime,
    end: datetime,
    result: aggregate.Series,
) -> dict[str, Any]:
    return {
        "interval": interval.text,
        "stored_interval_s": interval.stored_s,
        "fn": fn,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "buckets": aggregate.as_json(result),
    }


def datastream_aggregate(
    db_session: Session,
    *,
    datastream_id: int,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    fn: str,
    include_restricted: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One datastream's buckets; NotFound when it does not exist or is hidden."""
    parsed = aggregate.parse_interval(interval)
    fn = aggregate.parse_function(fn)
    row = db_session.execute(
        select(Datastream.id, Datastream.name, Datastream.unit_of_measurement, Thing.restricted)
        .join(Thing, Thing.id == Datastream.thing_id)
        .where(Datastream.id == datastream_id)
    ).first()
    if row is None or (row.restricted and not include_restricted):
        raise NotFound(f"There is no datastream {datastream_id}.")
    begin, finish = aggregate.window(parsed, start, end, now=now or utcnow())
    result = aggregate.series(
        db_session, datastream_ids=[row.id], interval=parsed, start=begin, end=finish, fn=fn
    )
    return {
        "datastream": {"id": row.id, "name": row.name, "unit": row.unit_of_measurement}
    } | _aggregate_json(parsed, fn, begin, finish, result)


def area_aggregate(
    db_session: Session,
    *,
    observed_property: str | None,
    area: str | None,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    fn: str,
    include_restricted: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The buckets of every datastream of an observed property (within an area), combined."""
    if observed_property is None or not observed_property.strip():
        raise InvalidInput(
            "observedProperty is required: readings of different properties do not add up. "
            "Give its id or name."
        )
    parsed = aggregate.parse_interval(interval)
    fn = aggregate.parse_function(fn)
    query = scoped_datastreams(
        db_session,
        select(Datastream.id, Datastream.unit_of_measurement),
        area=area,
        observed_property=observed_property,
        bbox=None,
        include_restricted=include_restricted,
    )
    rows = db_session.execute(query.order_by(Datastream.id)).all()
    begin, finish = aggregate.window(parsed, start, end, now=now or utcnow())
    result = aggregate.series(
        db_session,
        datastream_ids=[r.id for r in rows],
        interval=parsed,
        start=begin,
        end=finish,
        fn=fn,
    )
    units = {str((r.unit_of_measurement or {}).get("symbol", "")) for r in rows}
    return {
        "observed_property": observed_property,
        "area": area,
        "datastreams": len(rows),
        "units": sorted(units),
    } | _aggregate_json(parsed, fn, begin, finish, result)


# --- dead letters --------------------------------------------------------------------------


def list_dead_letters(
    db_session: Session, *, limit: int = 100, offset: int = 0, source: str | None = None
) -> tuple[Sequence[DeadLetter], int]:
    """Rejected readings, newest first, and how many there are."""
    query = select(DeadLetter)
    if source is not None:
        query = query.where(DeadLetter.source == source)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(
        query.order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


# --- for the assessment module -------------------------------------------------------------


def assessment_metrics(
    db_session: Session,
    *,
    area_codes: Sequence[str | None],
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str | None, dict[str, float | None]]:
    """Per district code (None: the whole city): ``sensors`` (Things placed there),
    ``reporting_pct`` (% of their datastreams with a reading in the 24 hours before
    ``now``) and ``alert_response_minutes`` (median minutes from an alert's start to its
    acknowledgement, over alerts started in ``[start, end)``; None when none was)."""
    first = first_location()
    things = db_session.execute(
        select(Thing.id, Location.district_code)
        .join(first, first.c.thing_id == Thing.id)
        .join(Location, Location.id == first.c.location_id)
        .where(or_(Location.district_code.is_not(None), Location.grid_code.is_not(None)))
    ).all()
    district_of = {row.id: row.district_code for row in things}
    streams = db_session.execute(
        select(Datastream.thing_id, LatestValue.phenomenon_time).outerjoin(
            LatestValue, LatestValue.datastream_id == Datastream.id
        )
    ).all()
    recent = now - REPORTING_WINDOW
    total: dict[str | None, int] = defaultdict(int)
    reporting: dict[str | None, int] = defaultdict(int)
    for thing_id, latest in streams:
        if thing_id not in district_of:
            continue
        fresh = latest is not None and recent <= latest <= now + timedelta(minutes=5)
        for key in {None, district_of[thing_id]}:
            total[key] += 1
            reporting[key] += int(fresh)
    sensors: dict[str | None, int] = defaultdict(int)
    for district in district_of.values():
        sensors[None] += 1
        if district is not None:
            sensors[district] += 1
    waits: dict[str | None, list[float]] = defaultdict(list)
    for started, acknowledged, district in db_session.execute(
        select(Alert.started_at, Alert.acknowledged_at, Alert.district_code).where(
            Alert.started_at >= start,
            Alert.started_at < end,
            Alert.acknowledged_at.is_not(None),
        )
    ):
        if acknowledged is None:
            continue
        minutes = max((acknowledged - started).total_seconds() / 60, 0.0)
        waits[None].append(minutes)
        if district is not None:
            waits[district].append(minutes)
    out: dict[str | None, dict[str, float | None]] = {}
    for code in dict.fromkeys(area_codes):
        count = total.get(code, 0)
        out[code] = {
            "sensors": float(sensors.get(code, 0)),
            "reporting_pct": round(100 * reporting[code] / count, 1) if count else None,
            "alert_response_minutes": round(statistics.median(waits[code]), 1)
            if waits.get(code)
            else None,
        }
    return out


def observed_property_ids(db_session: Session) -> dict[str, int]:
    """Observed property name → id (for pages and the simulator)."""
    return {
        row.name: row.id
        for row in db_session.execute(select(ObservedProperty.name, ObservedProperty.id))
    }
