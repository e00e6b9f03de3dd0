"""The demo city's sensors: about 2,000 devices over the grid, 30 days of history, alert
rules, a few active alerts, and live readings while the demo is served.

1. ``SENSORS`` simulated devices (water level, PM2.5, noise, traffic flow, smart meters,
   street lights: :mod:`cityos.sensing.simulate_patterns`), each a Thing with a Location in a
   grid cell, a FeatureOfInterest and one Datastream
   (:func:`cityos.sensing.simulate.create_members`).
   The first water-level gauges stand in flood-prone streets (underpasses).
2. ``HISTORY_DAYS`` days of readings with day patterns and faults, loaded in bulk:
   ``BIG_OBSERVATIONS`` on PostgreSQL (COPY), ``SMALL_OBSERVATIONS`` on SQLite (executemany);
   the reading interval follows from the target. Then, in SQL: hour and day rollups of the
   whole history, minute rollups of the last ``MINUTE_ROLLUP_HOURS``, the latest values and
   the datastreams' phenomenon times.
3. Alert rules through :mod:`cityos.sensing.rules` — a flood-prone street's water level over
   20 cm for 10 minutes opens a ``FLOOD-STREET`` case — and incidents stored through
   :func:`cityos.sensing.store.store_readings`, so the rules raise real alerts (and the case).
4. :func:`start_live_readings`: the in-process simulator `cityos demo` runs while serving.

Idempotent: nothing is added when the simulated fleet exists.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.orm import Session

from cityos.db import make_engine, make_session_factory, utcnow
from cityos.demo.people import DEMO_ACTOR
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel
from cityos.sensing import rules, store
from cityos.sensing.models import (
    Alert,
    AlertState,
    Datastream,
    FeatureOfInterest,
    LatestValue,
    Observation,
    ObservedProperty,
    RuleKind,
    Severity,
    thing_locations,
)
from cityos.sensing.readings import Reading
from cityos.sensing.simulate import (
    Member,
    Simulator,
    StoreSink,
    create_members,
    fleet,
    random_places,
    run,
)
from cityos.sensing.simulate_patterns import KINDS, split, values, with_faults

SENSORS = 2_000
HISTORY_DAYS = 30
BIG_OBSERVATIONS = 10_000_000  # PostgreSQL
SMALL_OBSERVATIONS = 720_000  # SQLite: a reading every two hours
MINUTE_ROLLUP_HOURS = 24
FLOOD_PRONE = 3  # water-level gauges in underpasses
INCIDENT_KEY = "demo:incident"  # datastreams whose readings the live simulator leaves alone
LIVE_PERIOD_S = 60.0  # each device reads about once a minute while the demo runs
_CHUNK = 1_000_000
_UNDERPASSES = ("文三路下穿通道", "秋涛路下穿通道", "钱江路下穿通道")


def history_size(dialect: str) -> int:
    """How many observations of history the demo loads on ``dialect``."""
    return BIG_OBSERVATIONS if dialect == "postgresql" else SMALL_OBSERVATIONS


def seed_sensing(db_session: Session, *, now: datetime | None = None) -> str:
    """Seed the demo's sensors (see the module's docstring); a one-line summary."""
    if fleet(db_session):
        return f"sensing: already seeded ({len(fleet(db_session))} simulated sensors)"
    if not geo_service.list_areas(db_session, level=AreaLevel.GRID):
        return "sensing: skipped (the city map is not seeded)"
    moment = now or utcnow()
    rng = np.random.default_rng(20240507)
    places = random_places(db_session, rng, SENSORS)
    members = create_members(db_session, split(SENSORS), rng=rng, places=places, now=moment)
    water = [m for m in members if m.kind == "water_level"][:FLOOD_PRONE]
    _mark_flood_prone(db_session, water)
    incidents = _incident_streams(members)
    _mark_incidents(db_session, incidents)
    db_session.flush()
    dialect = db_session.get_bind().dialect.name
    loaded, step_s = _load_history(db_session, members, incidents, moment, history_size(dialect))
    _derive(db_session, members, moment)
    made = _rules(db_session, members, water)
    raised = _incidents(db_session, incidents, moment)
    return (
        f"sensing: {len(members):,} sensors, {loaded:,} observations over {HISTORY_DAYS} days "
        f"(every {step_s // 60} min), {made} alert rules, {raised} active alerts"
    )


# --- the fleet -----------------------------------------------------------------------------


def _mark_flood_prone(db_session: Session, water: list[Member]) -> None:
    for member, street in zip(water, _UNDERPASSES, strict=False):
        datastream = db_session.get(Datastream, member.datastream_id)
        assert datastream is not None
        thing = datastream.thing_id
        datastream.name = f"{street} water level"
        datastream.description = f"{street}积水水位（易涝点）"
        datastream.properties = {**(datastream.properties or {}), "floodProne": True}
        db_session.execute(
            text("UPDATE sensing_things SET description = :d WHERE id = :i"),
            {"d": f"{street}积水监测 / underpass water level (flood-prone)", "i": thing},
        )


@dataclass(frozen=True, slots=True)
class Incidents:
    flood: Member
    pm25: Member
    noise: Member

    @property
    def ids(self) -> set[int]:
        return {self.flood.datastream_id, self.pm25.datastream_id, self.noise.datastream_id}


def _incident_streams(members: list[Member]) -> Incidents:
    def first(kind: str) -> Member:
        return next(m for m in members if m.kind == kind)

    return Incidents(first("water_level"), first("pm25"), first("noise"))


def _mark_incidents(db_session: Session, incidents: Incidents) -> None:
    for datastream_id in incidents.ids:
        datastream = db_session.get(Datastream, datastream_id)
        assert datastream is not None
        datastream.properties = {**(datastream.properties or {}), INCIDENT_KEY: True}


# --- history -------------------------------------------------------------------------------


def _features(db_session: Session, ids: list[int]) -> dict[int, int]:
    rows = db_session.execute(
        select(Datastream.id, FeatureOfInterest.id)
        .join(thing_locations, thing_locations.c.thing_id == Datastream.thing_id)
        .join(FeatureOfInterest, FeatureOfInterest.location_id == thing_locations.c.location_id)
        .where(Datastream.id.in_(ids))
    )
    return {int(datastream): int(feature) for datastream, feature in rows}


def _load_history(
    db_session: Session, members: list[Member], incidents: Incidents, now: datetime, target: int
) -> tuple[int, int]:
    """Bulk-load the history; ``(observations, step in seconds)``."""
    span = HISTORY_DAYS * 86_400
    step = max(60, span * len(members) * 100 // max(target * 101, 1))  # 1 % for faults
    end = int(now.timestamp()) // step * step
    times = np.arange(end - span + step, end + 1, step, dtype=np.int64)
    stamps = np.datetime_as_string(times.astype("datetime64[s]"), unit="us")
    quiet_from = now.timestamp() - 3600  # incidents are told by the readings stored later
    feature_of = _features(db_session, [m.datastream_id for m in members])
    connection = db_session.connection()
    if connection.dialect.name == "sqlite":  # room for the indexes while they grow
        connection.exec_driver_sql("PRAGMA cache_size = -262144")
    rng = np.random.default_rng(7)
    loaded = 0
    for kind in KINDS:
        ids = np.array([m.datastream_id for m in members if m.kind == kind], dtype=np.int64)
        for start in range(0, len(ids), max(_CHUNK // len(times), 1)):
            part = ids[start : start + max(_CHUNK // len(times), 1)]
            matrix, keep = with_faults(values(kind, part, times.astype(float), rng), rng, step)
            for row, datastream_id in enumerate(part):
                if int(datastream_id) in incidents.ids:
                    keep[row] &= times < quiet_from
            rows, columns = np.nonzero(keep)
            frame = pl.DataFrame(
                {
                    "datastream_id": part[rows],
                    "feature_id": np.array([feature_of[int(i)] for i in part])[rows],
                    "t": stamps[columns],
                    "v": matrix[rows, columns],
                }
            )
            loaded += _write(connection, frame)
    return loaded, step


def _write(connection: Connection, frame: pl.DataFrame) -> int:
    columns = "datastream_id, feature_id, phenomenon_time_start, result_number"
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        frame.with_columns(pl.col("t") + "+00").write_csv(buffer, include_header=False)
        raw: Any = connection.connection.driver_connection
        sql = f"COPY sensing_observations ({columns}) FROM STDIN (FORMAT csv)"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(buffer.getvalue())
    else:
        sqlite_frame = frame.with_columns(pl.col("t").str.replace("T", " "))
        connection.exec_driver_sql(
            f"INSERT INTO sensing_observations ({columns}) VALUES (?, ?, ?, ?)",  # noqa: S608
            list(sqlite_frame.iter_rows()),
        )
    return frame.height


def _bucket(dialect: str, interval_s: int) -> str:
    if dialect == "postgresql":
        return (
            "to_timestamp(floor(extract(epoch from phenomenon_time_start) / "
            f"{interval_s}) * {interval_s})"
        )
    length = {60: 16, 3600: 13, 86400: 10}[interval_s]
    tail = {60: ":00.000000", 3600: ":00:00.000000", 86400: " 00:00:00.000000"}[interval_s]
    return f"substr(phenomenon_time_start, 1, {length}) || {tail!r}".replace(":", "\\:")


def _derive(db_session: Session, members: list[Member], now: datetime) -> None:
    """Rollups, latest values and the datastreams' times of the new history, in SQL."""
    dialect = db_session.get_bind().dialect.name
    low = min(m.datastream_id for m in members)
    high = max(m.datastream_id for m in members)
    minute_since = now - timedelta(hours=MINUTE_ROLLUP_HOURS)
    for interval_s in (3600, 86400, 60):
        bucket = _bucket(dialect, interval_s)
        since = minute_since if interval_s == 60 else now - timedelta(days=HISTORY_DAYS + 1)
        sql = (
            "INSERT INTO sensing_rollups (datastream_id, interval_s, bucket, count, min, "  # noqa: S608
            "max, sum, last, last_time) "
            f"SELECT datastream_id, {interval_s}, {bucket} AS b, count(*), min(result_number), "
            "max(result_number), sum(result_number), 0, max(phenomenon_time_start) "
            "FROM sensing_observations WHERE datastream_id BETWEEN :low AND :high "
            "AND result_number IS NOT NULL AND phenomenon_time_start >= :since "
            "GROUP BY datastream_id, b"
        )
        bound = {"low": low, "high": high, "since": _bind_time(dialect, since)}
        db_session.execute(text(sql).bindparams(**bound))
    # each bucket's last value: the reading at its last time (unique per datastream)
    db_session.execute(
        text(
            "UPDATE sensing_rollups SET last = o.result_number FROM sensing_observations AS o "
            "WHERE o.datastream_id = sensing_rollups.datastream_id "
            "AND o.phenomenon_time_start = sensing_rollups.last_time "
            "AND sensing_rollups.datastream_id BETWEEN :low AND :high"
        ).bindparams(low=low, high=high)
    )
    newest = (
        select(Observation.datastream_id, func.max(Observation.phenomenon_time_start).label("t"))
        .where(Observation.datastream_id.between(low, high))
        .group_by(Observation.datastream_id)
        .subquery()
    )
    last = db_session.execute(
        select(
            Observation.datastream_id,
            Observation.id,
            Observation.phenomenon_time_start,
            Observation.result_number,
        ).join(
            newest,
            (newest.c.datastream_id == Observation.datastream_id)
            & (newest.c.t == Observation.phenomenon_time_start),
        )
    ).all()
    if last:
        db_session.execute(
            insert(LatestValue),
            [
                {
                    "datastream_id": d,
                    "observation_id": o,
                    "phenomenon_time": t,
                    "result_number": v,
                    "result_json": None,
                    "received_at": now,
                }
                for d, o, t, v in last
            ],
        )
    first_time = (
        select(func.min(Observation.phenomenon_time_start))
        .where(Observation.datastream_id == Datastream.id)
        .scalar_subquery()
    )
    last_time = (
        select(func.max(Observation.phenomenon_time_start))
        .where(Observation.datastream_id == Datastream.id)
        .scalar_subquery()
    )
    db_session.execute(
        update(Datastream)
        .where(Datastream.id.between(low, high))
        .values(phenomenon_time_start=first_time, phenomenon_time_end=last_time),
        execution_options={"synchronize_session": False},
    )
    db_session.expire_all()
    store.invalidate_metadata()


def _bind_time(dialect: str, moment: datetime) -> object:
    """``moment`` as the raw SQL of :func:`_derive` compares it (SQLite stores naive text)."""
    if dialect == "postgresql":
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# --- rules and incidents -------------------------------------------------------------------


def _rules(db_session: Session, members: list[Member], water: list[Member]) -> int:
    """The demo's alert rules (skipping those already there, by name)."""
    have = {rule.name for rule in rules.list_rules(db_session)}
    pm25 = _property_id(db_session, "pm25")
    noise = _property_id(db_session, "noise")
    lights = _property_id(db_session, "street_light")
    wanted: list[rules.RuleInput] = [
        rules.RuleInput(
            name=f"{datastream_name(db_session, member)}: 积水超过 20 cm / flooding over 20 cm",
            kind=RuleKind.ABOVE.value,
            severity=Severity.CRITICAL.value,
            datastream_id=member.datastream_id,
            threshold=20.0,
            clear_threshold=12.0,
            duration_minutes=10,
            open_case=True,
            case_category="FLOOD-STREET",
            notify_emails=["staff.water@example.org"],
        )
        for member in water
    ]
    wanted += [
        rules.RuleInput(
            name="PM2.5 重度污染 / PM2.5 over 150 µg/m³ for 30 min",
            kind=RuleKind.ABOVE.value,
            severity=Severity.WARNING.value,
            observed_property_id=pm25,
            area_code="MH",
            threshold=150.0,
            clear_threshold=115.0,
            duration_minutes=30,
        ),
        rules.RuleInput(
            name="夜间噪声 / noise over 80 dB(A) for 15 min",
            kind=RuleKind.ABOVE.value,
            severity=Severity.INFO.value,
            observed_property_id=noise,
            area_code="MH",
            threshold=80.0,
            clear_threshold=72.0,
            duration_minutes=15,
        ),
        rules.RuleInput(
            name="湖滨区路灯离线 / Hubin street lights silent for 3 h",
            kind=RuleKind.SILENT.value,
            severity=Severity.WARNING.value,
            observed_property_id=lights,
            area_code="MH-01",
            duration_minutes=180,
        ),
    ]
    made = 0
    for data in wanted:
        if data.name in have:
            continue
        rules.create_rule(db_session, data=data, actor=DEMO_ACTOR)
        made += 1
    db_session.flush()
    return made


def datastream_name(db_session: Session, member: Member) -> str:
    datastream = db_session.get(Datastream, member.datastream_id)
    return datastream.name if datastream else str(member.datastream_id)


def _property_id(db_session: Session, kind: str) -> int:
    found = db_session.scalar(
        select(ObservedProperty.id).where(
            ObservedProperty.definition == KINDS[kind].property_definition
        )
    )
    assert found is not None
    return int(found)


def _incidents(db_session: Session, incidents: Incidents, now: datetime) -> int:
    """Readings of the last 45 minutes that break the rules (stored like any reading)."""
    plan = (
        (incidents.flood, 6.0, 31.0),  # a flooded underpass
        (incidents.pm25, 120.0, 185.0),  # a smoky construction site
        (incidents.noise, 70.0, 86.0),  # night works
    )
    readings = []
    for member, low, high in plan:
        for k in range(10):
            moment = now - timedelta(minutes=45 - 5 * k)
            value = low + (high - low) * min(1.0, (k + 1) / 3)
            readings.append(Reading(member.datastream_id, None, moment, None, round(value, 1)))
    store.store_readings(db_session, readings, now=now)
    db_session.flush()
    return db_session.scalar(select(func.count()).where(Alert.state == AlertState.ACTIVE)) or 0


# --- live readings -------------------------------------------------------------------------


class LiveReadings:
    """The demo's simulator in a daemon thread: every second it stores readings of a share
    of the fleet, so each device reads about once per ``LIVE_PERIOD_S`` (incident devices
    are left alone, so their alerts stay active)."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.factory = make_session_factory(self.engine)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-sensors", daemon=True)
        self.sent = 0

    def start(self) -> LiveReadings:
        self.thread.start()
        return self

    def _members(self) -> list[Member]:
        with self.factory() as db_session:
            quiet = {
                d.id
                for d in db_session.scalars(select(Datastream))
                if (d.properties or {}).get(INCIDENT_KEY)
            }
            return [m for m in fleet(db_session) if m.datastream_id not in quiet]

    def _run(self) -> None:
        members = self._members()
        if not members:
            return
        rate = len(members) / LIVE_PERIOD_S
        report = run(
            Simulator(members), StoreSink(self.factory, self.engine), rate=rate, stop=self.stop
        )
        self.sent = report.sent

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.engine.dispose()


def start_live_readings(database_url: str) -> LiveReadings:
    """Start the demo's live readings (a daemon thread); ``close()`` stops them."""
    return LiveReadings(database_url).start()
