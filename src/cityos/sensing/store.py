"""Storing readings: one batched insert that skips what is already stored, then everything
that follows from new observations (feature of interest, latest values, rollups, the
datastream's time ranges, alert rules, change notices) in the same transaction.

Datastream facts needed on every reading (observation type, the feature made from the
Thing's Location) are cached per engine; ORM writes to the entities they come from clear the
cache, entries also expire after :data:`CACHE_SECONDS` (other processes' writes), and Core
writers call :func:`invalidate_metadata`.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    Update,
    bindparam,
    case,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, UOWTransaction

from cityos.db import UTCDateTime, serial_writes, utcnow
from cityos.errors import InvalidInput
from cityos.sensing import evaluate, notices, obs_insert
from cityos.sensing.models import (
    Datastream,
    FeatureOfInterest,
    LatestValue,
    Location,
    MultiDatastream,
    MultiDatastreamProperty,
    Observation,
    Thing,
    thing_locations,
)
from cityos.sensing.readings import Reading
from cityos.sensing.rollups import add_to_rollups, to_micros

CACHE_SECONDS = 30.0

_obs = Observation.__table__
_latest = LatestValue.__table__
_OPTIONAL = (
    "phenomenon_time_end",
    "result_time",
    "result_number",
    "result_json",
    "result_quality",
    "valid_time_start",
    "valid_time_end",
    "parameters",
    "feature_id",
)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What storing needs to know of a Datastream (``multi`` False) or MultiDatastream."""

    id: int
    multi: bool
    observation_type: str
    thing_id: int
    # The feature made from the Thing's Location; None when the Thing has no Location.
    feature_id: int | None
    # MultiDatastream only: how many result components (one per ObservedProperty).
    components: int = 0
    result_types: tuple[str, ...] = ()
    loaded: float = field(default_factory=time.monotonic, compare=False)


@dataclass
class StoreResult:
    """Per input reading: the new observation's id, or None when it was already stored."""

    ids: list[int | None]

    @property
    def stored(self) -> int:
        return sum(1 for i in self.ids if i is not None)


# --- metadata cache ---------------------------------------------------------------------

_Key = tuple[bool, int]
_caches: weakref.WeakKeyDictionary[Engine, dict[_Key, StreamInfo]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()
_WATCHED = (
    Datastream,
    MultiDatastream,
    MultiDatastreamProperty,
    Thing,
    Location,
    FeatureOfInterest,
)


def invalidate_metadata() -> None:
    """Forget every cached datastream fact (call after Core writes to the entities)."""
    with _cache_lock:
        for cache in _caches.values():
            cache.clear()


@event.listens_for(Session, "after_flush")
def _clear_on_flush(db_session: Session, _flush: UOWTransaction) -> None:
    for group in (db_session.new, db_session.dirty, db_session.deleted):
        if any(isinstance(obj, _WATCHED) for obj in group):
            invalidate_metadata()
            return


def _engine_cache(db_session: Session) -> dict[_Key, StreamInfo]:
    engine = db_session.get_bind()
    assert isinstance(engine, Engine)
    with _cache_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = {}
        return cache


def stream_infos(
    db_session: Session,
    datastream_ids: Iterable[int] = (),
    multi_datastream_ids: Iterable[int] = (),
) -> dict[_Key, StreamInfo]:
    """Facts of the given (Multi)Datastreams keyed by ``(multi, id)``; unknown ids are absent.

    Makes (and flushes) the feature of interest of a Thing's Location when it is missing.
    """
    cache = _engine_cache(db_session)
    now = time.monotonic()
    wanted: set[_Key] = {(False, i) for i in datastream_ids} | {
        (True, i) for i in multi_datastream_ids
    }
    found: dict[_Key, StreamInfo] = {}
    missing: list[_Key] = []
    for key in wanted:
        info = cache.get(key)
        if info is not None and now - info.loaded < CACHE_SECONDS:
            found[key] = info
        else:
            missing.append(key)
    if missing:
        loaded, fresh_features = _load_infos(db_session, missing)
        found.update(loaded)
        with _cache_lock:
            for key, info in loaded.items():
                # a feature made in this (uncommitted) transaction is not cached
                if info.feature_id not in fresh_features:
                    cache[key] = info
    return found


def _load_infos(
    db_session: Session, keys: Sequence[_Key]
) -> tuple[dict[_Key, StreamInfo], set[int]]:
    single = [i for multi, i in keys if not multi]
    multis = [i for multi, i in keys if multi]
    rows: list[tuple[bool, int, str, int]] = []
    if single:
        rows += [
            (False, r.id, r.observation_type, r.thing_id)
            for r in db_session.execute(
                select(Datastream.id, Datastream.observation_type, Datastream.thing_id).where(
                    Datastream.id.in_(single)
                )
            )
        ]
    components: dict[int, list[str]] = {}
    if multis:
        for r in db_session.execute(
            select(
                MultiDatastream.id,
                MultiDatastream.observation_type,
                MultiDatastream.thing_id,
                MultiDatastream.multi_observation_data_types,
            ).where(MultiDatastream.id.in_(multis))
        ):
            rows.append((True, r.id, r.observation_type, r.thing_id))
            components[r.id] = list(r.multi_observation_data_types or [])
    features, fresh = _thing_features(db_session, {r[3] for r in rows})
    infos = {
        (multi, i): StreamInfo(
            id=i,
            multi=multi,
            observation_type=otype,
            thing_id=thing,
            feature_id=features.get(thing),
            components=len(components.get(i, ())),
            result_types=tuple(components.get(i, ())),
        )
        for multi, i, otype, thing in rows
    }
    return infos, fresh


def _thing_features(db_session: Session, thing_ids: set[int]) -> tuple[dict[int, int], set[int]]:
    """Each Thing's feature of interest, made from its (newest) Location; and the ids made now."""
    if not thing_ids:
        return {}, set()
    location_of: dict[int, int] = dict(
        db_session.execute(
            select(thing_locations.c.thing_id, func.max(thing_locations.c.location_id))
            .where(thing_locations.c.thing_id.in_(thing_ids))
            .group_by(thing_locations.c.thing_id)
        ).all()
    )
    if not location_of:
        return {}, set()
    feature_of: dict[int, int] = {
        location: feature
        for location, feature in db_session.execute(
            select(FeatureOfInterest.location_id, func.min(FeatureOfInterest.id))
            .where(FeatureOfInterest.location_id.in_(set(location_of.values())))
            .group_by(FeatureOfInterest.location_id)
        )
        if location is not None
    }
    fresh: set[int] = set()
    lacking = set(location_of.values()) - feature_of.keys()
    if lacking:
        for place in db_session.scalars(select(Location).where(Location.id.in_(lacking))):
            feature = FeatureOfInterest(
                name=place.name,
                description=place.description,
                encoding_type=place.encoding_type,
                feature=place.location,
                location_id=place.id,
            )
            db_session.add(feature)
            db_session.flush()
            feature_of[place.id] = feature.id
            fresh.add(feature.id)
            notices.queue(db_session, "FeatureOfInterest", feature.id, "create")
    return {thing: feature_of[loc] for thing, loc in location_of.items()}, fresh


# --- statements -----------------------------------------------------------------------


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


_insert_cache: dict[tuple[str, tuple[str, ...], bool], Insert] = {}


def _observation_insert(dialect: str, columns: tuple[str, ...], multi: bool) -> Insert:
    key = (dialect, columns, multi)
    statement = _insert_cache.get(key)
    if statement is None:
        owner = _obs.c.multi_datastream_id if multi else _obs.c.datastream_id
        statement = (
            _insert(dialect)(_obs)
            .on_conflict_do_nothing(index_elements=[owner, _obs.c.phenomenon_time_start])
            .returning(_obs.c.id, owner, _obs.c.phenomenon_time_start)
        )
        _insert_cache[key] = statement
    return statement


_latest_cache: dict[tuple[str, bool], Insert] = {}


def _latest_upsert(dialect: str, numeric: bool) -> Insert:
    statement = _latest_cache.get((dialect, numeric))
    if statement is None:
        base = _insert(dialect)(_latest)
        new, old = base.excluded, _latest.c
        statement = base.on_conflict_do_update(
            index_elements=[old.datastream_id],
            set_={
                "observation_id": new.observation_id,
                "phenomenon_time": new.phenomenon_time,
                "result_number": new.result_number,
                "result_json": new.result_json,
                "received_at": new.received_at,
            },
            where=new.phenomenon_time >= old.phenomenon_time,
        )
        _latest_cache[(dialect, numeric)] = statement
    return statement


def _extend_times(model: type[Datastream] | type[MultiDatastream]) -> Update:
    """Widen a (Multi)Datastream's phenomenon and result time ranges to cover new readings."""
    table: Table = model.__table__  # type: ignore[assignment]
    c = table.c

    def earlier(column: Any, name: str) -> Any:
        value = bindparam(name, type_=UTCDateTime())
        return case((column.is_(None) | (column > value), value), else_=column)

    def later(column: Any, name: str) -> Any:
        value = bindparam(name, type_=UTCDateTime())
        return case((column.is_(None) | (column < value), value), else_=column)

    return (
        table.update()
        .where(c.id == bindparam("b_id"))
        .values(
            phenomenon_time_start=earlier(c.phenomenon_time_start, "b_ps"),
            phenomenon_time_end=later(c.phenomenon_time_end, "b_pe"),
            result_time_start=earlier(c.result_time_start, "b_rs"),
            result_time_end=later(c.result_time_end, "b_re"),
        )
    )


_EXTEND = {False: _extend_times(Datastream), True: _extend_times(MultiDatastream)}


# --- storing --------------------------------------------------------------------------


def store_readings(
    db_session: Session, readings: Sequence[Reading], *, now: datetime | None = None
) -> StoreResult:
    """Store ``readings`` in the session's transaction (the caller commits).

    Readings already stored (same datastream and phenomenon start) are skipped: their id is
    None in the result. A reading without a feature of interest gets the one made from its
    Thing's Location; :class:`InvalidInput` when the (Multi)Datastream is unknown or its
    Thing has no Location. On SQLite the write holds :func:`cityos.db.serial_writes`, so
    callers must not hold it themselves.
    """
    if not readings:
        return StoreResult([])
    now = now or utcnow()
    engine = db_session.get_bind()
    assert isinstance(engine, Engine)
    with serial_writes(engine):
        return _store(db_session, readings, now)


def _store(db_session: Session, readings: Sequence[Reading], now: datetime) -> StoreResult:
    infos = stream_infos(
        db_session,
        {r.datastream_id for r in readings if r.datastream_id is not None},
        {r.multi_datastream_id for r in readings if r.multi_datastream_id is not None},
    )
    features: list[int | None] = []
    for index, reading in enumerate(readings):
        multi = reading.datastream_id is None
        owner = reading.multi_datastream_id if multi else reading.datastream_id
        kind = "MultiDatastream" if multi else "Datastream"
        if owner is None:
            raise InvalidInput(
                f"Reading {index}: it names neither a Datastream nor a MultiDatastream."
            )
        info = infos.get((multi, owner))
        if info is None:
            raise InvalidInput(f"Reading {index}: there is no {kind} with id {owner}.")
        feature = reading.feature_id if reading.feature_id is not None else info.feature_id
        if feature is None:
            raise InvalidInput(
                f"Reading {index}: no FeatureOfInterest given and {kind} {owner}'s Thing "
                "has no Location to make one from; add a Location to the Thing or give "
                "the FeatureOfInterest."
            )
        features.append(feature)

    connection = db_session.connection()
    writer = obs_insert.writer(connection.dialect.name)
    new_ids = writer.insert(connection, readings, features)
    ids: list[int | None] = []
    stored: list[tuple[Reading, int]] = []
    key = writer.key
    for reading in readings:
        obs_id = new_ids.pop(key(reading), None)
        ids.append(obs_id)
        if obs_id is not None:
            stored.append((reading, obs_id))
    if stored:
        _follow_up(db_session, connection, stored, now)
    return StoreResult(ids)


def _follow_up(
    db_session: Session,
    connection: Connection,
    stored: list[tuple[Reading, int]],
    now: datetime,
) -> None:
    dialect = connection.dialect.name
    # time ranges per (multi)datastream
    ranges: dict[tuple[bool, int], list[datetime | None]] = {}
    latest: dict[int, tuple[Reading, int]] = {}
    roll_ids: list[int] = []
    roll_times: list[int] = []
    roll_values: list[float] = []
    hook: list[tuple[int, int, datetime, float | None]] = []
    for reading, obs_id in stored:
        multi = reading.datastream_id is None
        owner = reading.multi_datastream_id if multi else reading.datastream_id
        assert owner is not None
        start = reading.phenomenon_start
        end = reading.phenomenon_end or start
        span = ranges.get((multi, owner))
        if span is None:
            ranges[(multi, owner)] = [start, end, reading.result_time, reading.result_time]
        else:
            if start < span[0]:  # type: ignore[operator]
                span[0] = start
            if end > span[1]:  # type: ignore[operator]
                span[1] = end
            rt = reading.result_time
            if rt is not None:
                if span[2] is None or rt < span[2]:
                    span[2] = rt
                if span[3] is None or rt > span[3]:
                    span[3] = rt
        if multi:
            continue
        number: float | None = None
        result = reading.result
        if isinstance(result, (int, float)) and not isinstance(result, bool):
            number = float(result)
            roll_ids.append(owner)
            roll_times.append(to_micros(start))
            roll_values.append(number)
        hook.append((owner, obs_id, start, number))
        best = latest.get(owner)
        if best is None or start >= best[0].phenomenon_start:
            latest[owner] = (reading, obs_id)

    for multi in (False, True):
        params = [
            {"b_id": owner, "b_ps": s[0], "b_pe": s[1], "b_rs": s[2], "b_re": s[3]}
            for (is_multi, owner), s in ranges.items()
            if is_multi == multi
        ]
        if params:
            connection.execute(_EXTEND[multi], params)

    if latest:
        numeric: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        for owner, (reading, obs_id) in latest.items():
            row: dict[str, Any] = {
                "datastream_id": owner,
                "observation_id": obs_id,
                "phenomenon_time": reading.phenomenon_start,
                "received_at": now,
            }
            result = reading.result
            if isinstance(result, (int, float)) and not isinstance(result, bool):
                row["result_number"] = float(result)
                numeric.append(row)
            else:
                row["result_json"] = result
                other.append(row)
        if numeric:
            connection.execute(_latest_upsert(dialect, True), numeric)
        if other:
            connection.execute(_latest_upsert(dialect, False), other)

    add_to_rollups(connection, roll_ids, roll_times, roll_values)

    if hook:
        _evaluate(db_session, hook, now)
    notices.queue_many(db_session, "Observation", [obs_id for _, obs_id in stored], "create")


def _evaluate(
    db_session: Session, stored: list[tuple[int, int, datetime, float | None]], now: datetime
) -> None:
    evaluate.on_readings(db_session, stored, now=now)
