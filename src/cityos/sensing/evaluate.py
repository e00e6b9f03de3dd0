"""Evaluating alert rules: on every stored batch of readings, and the silent check.

:func:`on_readings` is called by the store (:func:`cityos.sensing.store.store_readings`) in
the ingest transaction. It must cost next to nothing when no rule applies, so the enabled
rules are cached per process and per engine: a snapshot lists the rules on one datastream
and the rules on an observed property (within an area), and remembers, per datastream, which
of the latter apply. The snapshot is dropped when a rule changes in this process
(:func:`invalidate`, called by :mod:`cityos.sensing.rules`) and reloaded at least every
:data:`SNAPSHOT_SECONDS` so rules edited in another process are seen soon. When some rule
applies, the rule rows are read again in the transaction, so a rule deleted or disabled
elsewhere is never acted on.

Per (rule, datastream) a :class:`~cityos.sensing.models.RuleState` keeps since when the
condition has held, the last reading, and the active alert (one incident, one alert).
Readings older than the last one evaluated (late data) do not change the state.

- ``above``/``below``: the result beyond ``threshold`` for at least ``duration_minutes``
  raises an alert; it clears when the result is back to ``clear_threshold`` (hysteresis;
  the threshold itself when unset).
- ``rate``: the change per minute between consecutive readings, in absolute value, is
  compared the same way.
- ``silent``: :func:`check_silent` (each worker pass) raises an alert when a datastream has
  had no reading for ``duration_minutes`` (counted from the rule's creation when it never
  had one); the next reading clears it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.sensing import alerts
from cityos.sensing.areas import AreaMatch, resolve
from cityos.sensing.models import (
    AlertRule,
    Datastream,
    LatestValue,
    Location,
    Observation,
    RuleKind,
    RuleState,
    thing_locations,
)

Stored = tuple[int, int, datetime, float | None]
"""One stored reading: (datastream id, observation id, phenomenon start, numeric result)."""

SNAPSHOT_SECONDS = 5.0
MAX_ALERT_READINGS = 100
STATE_CHUNK = 500  # rule states inserted and locked per statement


# --- the per-process rule cache -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scoped:
    rule_id: int
    observed_property_id: int | None
    area: AreaMatch | None


@dataclass(slots=True)
class _Snapshot:
    loaded_at: float
    direct: dict[int, tuple[int, ...]]
    scoped: tuple[_Scoped, ...]
    memo: dict[int, tuple[int, ...]] = field(default_factory=dict)


_lock = threading.Lock()
_snapshots: weakref.WeakKeyDictionary[Engine, _Snapshot] = weakref.WeakKeyDictionary()


def invalidate() -> None:
    """Forget the cached rules (every engine): the next batch reloads them."""
    with _lock:
        _snapshots.clear()


def _engine(db_session: Session) -> Engine:
    bind = db_session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _load(db_session: Session) -> _Snapshot:
    rules = db_session.execute(
        select(
            AlertRule.id,
            AlertRule.datastream_id,
            AlertRule.observed_property_id,
            AlertRule.area_code,
        ).where(AlertRule.enabled.is_(True))
    ).all()
    direct: dict[int, list[int]] = defaultdict(list)
    scoped: list[_Scoped] = []
    areas: dict[str, AreaMatch] = {}
    for rule in rules:
        if rule.datastream_id is not None:
            direct[rule.datastream_id].append(rule.id)
            continue
        area = None
        if rule.area_code:
            if rule.area_code not in areas:
                try:
                    areas[rule.area_code] = resolve(db_session, rule.area_code)
                except Exception:  # the area was removed from the map: the rule matches nothing
                    areas[rule.area_code] = AreaMatch(code=rule.area_code)
            area = areas[rule.area_code]
        scoped.append(_Scoped(rule.id, rule.observed_property_id, area))
    return _Snapshot(
        loaded_at=time.monotonic(),
        direct={ds: tuple(ids) for ds, ids in direct.items()},
        scoped=tuple(scoped),
    )


def _snapshot(db_session: Session) -> _Snapshot:
    engine = _engine(db_session)
    with _lock:
        snapshot = _snapshots.get(engine)
    if snapshot is None or time.monotonic() - snapshot.loaded_at > SNAPSHOT_SECONDS:
        snapshot = _load(db_session)
        with _lock:
            _snapshots[engine] = snapshot
    return snapshot


def _scoped_for(
    db_session: Session, snapshot: _Snapshot, datastream_ids: Iterable[int]
) -> dict[int, tuple[int, ...]]:
    unknown = [ds for ds in datastream_ids if ds not in snapshot.memo]
    if unknown:
        rows = db_session.execute(
            select(
                Datastream.id,
                Datastream.observed_property_id,
                Location.id.label("location_id"),
                Location.grid_code,
                Location.district_code,
            )
            .outerjoin(thing_locations, thing_locations.c.thing_id == Datastream.thing_id)
            .outerjoin(Location, Location.id == thing_locations.c.location_id)
            .where(Datastream.id.in_(unknown))
        ).all()
        places: dict[int, list[tuple[int | None, str | None, str | None]]] = defaultdict(list)
        properties: dict[int, int] = {}
        for row in rows:
            properties[row.id] = row.observed_property_id
            places[row.id].append((row.location_id, row.grid_code, row.district_code))
        for ds in unknown:
            found: list[int] = []
            for rule in snapshot.scoped:
                if rule.observed_property_id not in (None, properties.get(ds)):
                    continue
                if rule.area is not None and not any(
                    location_id is not None
                    and rule.area.contains(location_id=location_id, grid_code=grid, district=dist)
                    for location_id, grid, dist in places.get(ds, [])
                ):
                    continue
                found.append(rule.rule_id)
            snapshot.memo[ds] = tuple(found)
    return {ds: snapshot.memo[ds] for ds in datastream_ids}


def rules_for(db_session: Session, datastream_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """The enabled rules that apply to each datastream (only those with some), from the cache."""
    snapshot = _snapshot(db_session)
    ids = set(datastream_ids)
    out: dict[int, tuple[int, ...]] = {}
    scoped = _scoped_for(db_session, snapshot, ids) if snapshot.scoped else {}
    for ds in ids:
        found = snapshot.direct.get(ds, ()) + scoped.get(ds, ())
        if found:
            out[ds] = found
    return out


# --- evaluation on ingest -----------------------------------------------------------------


def _clear_level(rule: AlertRule) -> float:
    value = rule.clear_threshold if rule.clear_threshold is not None else rule.threshold
    return float(value or 0.0)


def _breached(rule: AlertRule, value: float) -> bool:
    threshold = float(rule.threshold or 0.0)
    if rule.kind == RuleKind.BELOW:
        return value < threshold
    return value > threshold  # above, rate


def _cleared(rule: AlertRule, value: float) -> bool:
    if rule.kind == RuleKind.BELOW:
        return value >= _clear_level(rule)
    return value <= _clear_level(rule)


def _describe(rule: AlertRule, value: float, since: datetime) -> str:
    what = {
        RuleKind.ABOVE: f"above {rule.threshold:g}",
        RuleKind.BELOW: f"below {rule.threshold:g}",
        RuleKind.RATE: f"changing faster than {rule.threshold:g} per minute",
    }[RuleKind(rule.kind)]
    subject = "rate of change" if rule.kind == RuleKind.RATE else "value"
    return f"{rule.name}: {subject} {value:g} {what} since {since.isoformat()}"


def _trigger_readings(
    db_session: Session, datastream_id: int, since: datetime, until: datetime
) -> list[dict[str, object]]:
    rows = db_session.execute(
        select(Observation.id, Observation.phenomenon_time_start, Observation.result_number)
        .where(
            Observation.datastream_id == datastream_id,
            Observation.phenomenon_time_start >= since,
            Observation.phenomenon_time_start <= until,
        )
        .order_by(Observation.phenomenon_time_start)
        .limit(MAX_ALERT_READINGS)
    ).all()
    return [
        {"t": row.phenomenon_time_start.isoformat(), "v": row.result_number, "observation": row.id}
        for row in rows
    ]


def _step(
    db_session: Session,
    rule: AlertRule,
    state: RuleState,
    readings: Sequence[Stored],
    now: datetime,
) -> None:
    """Run one rule over one datastream's new readings (sorted by time)."""
    for datastream_id, _observation_id, at, number in readings:
        if state.last_time is not None and at <= state.last_time:
            continue  # late data: the state has moved past it
        if rule.kind == RuleKind.SILENT:
            if state.active_alert_id is not None:
                alerts.clear_alert(
                    db_session, alert_id=state.active_alert_id, ended_at=at, value=number, now=now
                )
                state.active_alert_id = None
            state.last_time = at
            state.last_value = number
            continue
        if number is None:
            continue
        value = number
        if rule.kind == RuleKind.RATE:
            previous, previous_at = state.last_value, state.last_time
            state.last_time, state.last_value = at, number
            minutes = (at - previous_at).total_seconds() / 60 if previous_at else 0.0
            if previous is None or minutes <= 0:
                continue
            value = abs(number - previous) / minutes
        else:
            state.last_time, state.last_value = at, number
        if state.active_alert_id is not None:
            if _cleared(rule, value):
                alerts.clear_alert(
                    db_session, alert_id=state.active_alert_id, ended_at=at, value=number, now=now
                )
                state.active_alert_id = None
                state.condition_since = None
            continue
        if not _breached(rule, value):
            state.condition_since = None
            continue
        since = state.condition_since or at
        state.condition_since = since
        if at - since >= timedelta(minutes=rule.duration_minutes or 0.0):
            alert = alerts.raise_alert(
                db_session,
                rule=rule,
                datastream_id=datastream_id,
                started_at=at,
                message=_describe(rule, value, since),
                readings=_trigger_readings(db_session, datastream_id, since, at),
                now=now,
            )
            state.active_alert_id = alert.id


def _states(db_session: Session, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], RuleState]:
    """The states of ``pairs`` (rule, datastream), created when missing and locked.

    Several ingest workers may evaluate the same rule at once: missing states are inserted
    with ON CONFLICT DO NOTHING (no IntegrityError when another worker made one first), then
    all are read again FOR UPDATE, in key order, so one worker at a time steps a state and
    an incident raises one alert (SQLite serialises writers and ignores FOR UPDATE).
    """
    if not pairs:
        return {}
    keys = sorted(pairs)
    dialect = db_session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    states: dict[tuple[int, int], RuleState] = {}
    for first in range(0, len(keys), STATE_CHUNK):
        chunk = keys[first : first + STATE_CHUNK]
        db_session.execute(
            insert(RuleState)
            .values([{"rule_id": rule_id, "datastream_id": ds} for rule_id, ds in chunk])
            .on_conflict_do_nothing(index_elements=["rule_id", "datastream_id"])
        )
        found = db_session.scalars(
            select(RuleState)
            .where(tuple_(RuleState.rule_id, RuleState.datastream_id).in_(chunk))
            .order_by(RuleState.rule_id, RuleState.datastream_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        states.update({(s.rule_id, s.datastream_id): s for s in found})
    return states


def on_readings(
    db_session: Session, stored: Sequence[Stored], *, now: datetime | None = None
) -> int:
    """Evaluate the rules that apply to newly stored readings; returns how many alerts
    were raised or cleared. Called by the store in its transaction."""
    if not stored:
        return 0
    applicable = rules_for(db_session, {item[0] for item in stored})
    if not applicable:
        return 0
    now = now or utcnow()
    rule_ids = {rule_id for ids in applicable.values() for rule_id in ids}
    rules = {
        rule.id: rule
        for rule in db_session.scalars(
            select(AlertRule).where(AlertRule.id.in_(sorted(rule_ids)), AlertRule.enabled.is_(True))
        )
    }
    if not rules:
        return 0
    by_datastream: dict[int, list[Stored]] = defaultdict(list)
    for item in stored:
        if item[0] in applicable:
            by_datastream[item[0]].append(item)
    pairs = {(rule_id, ds) for ds, ids in applicable.items() for rule_id in ids if rule_id in rules}
    states = _states(db_session, pairs)
    before = alerts.changes(db_session)
    for (rule_id, ds), state in sorted(states.items()):
        readings = sorted(by_datastream[ds], key=lambda item: item[2])
        _step(db_session, rules[rule_id], state, readings, now)
    db_session.flush()
    return alerts.changes(db_session) - before


# --- the silent check ---------------------------------------------------------------------


def _datastreams_of(db_session: Session, snapshot: _Snapshot, rule: AlertRule) -> list[int]:
    if rule.datastream_id is not None:
        return [rule.datastream_id]
    query = select(Datastream.id)
    if rule.observed_property_id is not None:
        query = query.where(Datastream.observed_property_id == rule.observed_property_id)
    candidates = list(db_session.scalars(query))
    scoped = _scoped_for(db_session, snapshot, candidates)
    return [ds for ds in candidates if rule.id in scoped.get(ds, ())]


def check_silent(db_session: Session, now: datetime | None = None) -> int:
    """Raise an alert for each datastream silent longer than its silent rule allows;
    returns how many were raised. Called by the worker on each pass."""
    now = now or utcnow()
    rules = db_session.scalars(
        select(AlertRule).where(AlertRule.kind == RuleKind.SILENT, AlertRule.enabled.is_(True))
    ).all()
    if not rules:
        return 0
    snapshot = _load(db_session)  # fresh: the worker pass is not a hot path
    raised = 0
    for rule in rules:
        datastreams = _datastreams_of(db_session, snapshot, rule)
        if not datastreams:
            continue
        latest = {
            row.datastream_id: row.phenomenon_time
            for row in db_session.execute(
                select(LatestValue.datastream_id, LatestValue.phenomenon_time).where(
                    LatestValue.datastream_id.in_(datastreams)
                )
            )
        }
        states = _states(db_session, {(rule.id, ds) for ds in datastreams})
        limit = timedelta(minutes=rule.duration_minutes or 0.0)
        for ds in datastreams:
            state = states[(rule.id, ds)]
            if state.active_alert_id is not None:
                continue
            times = [t for t in (latest.get(ds), state.last_time) if t is not None]
            last = max(times) if times else rule.created_at
            if now - last < limit:
                continue
            started = min(last + limit, now)
            heard = f"last reading {last.isoformat()}" if times else "no reading yet"
            alert = alerts.raise_alert(
                db_session,
                rule=rule,
                datastream_id=ds,
                started_at=started,
                message=f"{rule.name}: no data for {rule.duration_minutes:g} minutes ({heard})",
                readings=[],
                now=now,
            )
            state.active_alert_id = alert.id
            state.last_time = last if times else None
            raised += 1
    db_session.flush()
    return raised
