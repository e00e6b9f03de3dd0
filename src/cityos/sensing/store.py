"""Storing readings: one batched insert that skips what is already stored, then everything
that follows from new observations (feature of interest, latest values, rollups, the
datastream's time ranges, alert rules, change notices) in the same transaction.

Datastream facts needed on every reading (observation type, the feature made from the
Thing's Location) are cached per engine; ORM writes to the entities they come from clear the
cache, entries also expire after :data:`CACHE_SECONDS` (other processes' writes), and Core
writers call :func:`invalidate_metadata`.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.orm import Session, UOWTransaction

from cityos.db import serial_writes, utcnow
from cityos.errors import InvalidInput
from cityos.sensing import evaluate, notices, obs_insert
from cityos.sensing.models import (
    Datastream,
    FeatureOfInterest,
    LatestValue,
    Location,
    MultiDatastream,
    MultiDatastreamProperty,
    Thing,
    thing_locations,
)
from cityos.sensing.readings import Reading
from cityos.sensing.rollups import add_to_rollups, to_micros

CACHE_SECONDS = 30.0


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
    cols = obs_insert.columns(readings, features)
    ids = obs_insert.writer(connection.dialect.name).insert(connection, cols)
    if any(i is not None for i in ids):
        _follow_up(db_session, connection, cols, ids, now)
    return StoreResult(ids)


# --- what follows from new observations ---------------------------------------------------

_NO_TIME_LOW = np.iinfo(np.int64).max  # "no result time" where the earliest is taken
_NO_TIME_HIGH = np.iinfo(np.int64).min  # … and where the latest is taken


def _widen(column: str, value: str, beyond: str) -> str:
    """``column`` set to ``value`` when it is unset or ``value`` lies ``beyond`` it."""
    return (
        f"{column} = CASE WHEN {column} IS NULL OR {column} {beyond} {value} "
        f"THEN {value} ELSE {column} END"
    )


def _extend_sql(table: str, dialect: str) -> str:
    """Widen (Multi)Datastreams' phenomenon and result time ranges to cover new readings."""
    if dialect == "postgresql":
        values = ("u.ps", "u.pe", "u.rs", "u.re")
    else:
        values = ("?2", "?3", "?4", "?5")
    sets = ", ".join(
        (
            _widen("phenomenon_time_start", values[0], ">"),
            _widen("phenomenon_time_end", values[1], "<"),
            _widen("result_time_start", values[2], ">"),
            _widen("result_time_end", values[3], "<"),
        )
    )
    if dialect == "postgresql":
        times = ", ".join(
            f"{obs_insert.pg_time('v.' + n)} AS {n}" for n in ("ps", "pe", "rs", "re")
        )
        return (
            f"UPDATE {table} SET {sets} FROM (SELECT v.id, {times} FROM unnest("  # noqa: S608
            "%s::int4[], %s::int8[], %s::int8[], %s::int8[], %s::int8[]) "
            f"AS v(id, ps, pe, rs, re)) AS u WHERE {table}.id = u.id"
        )
    return f"UPDATE {table} SET {sets} WHERE id = ?1"  # noqa: S608


_TABLES = {False: Datastream.__tablename__, True: MultiDatastream.__tablename__}
_EXTEND = {
    (multi, dialect): _extend_sql(table, dialect)
    for multi, table in _TABLES.items()
    for dialect in ("postgresql", "sqlite")
}

_L = LatestValue.__tablename__
_LATEST_COLUMNS = (
    "datastream_id, observation_id, phenomenon_time, result_number, result_json, received_at"
)
_LATEST_CONFLICT = (
    "ON CONFLICT (datastream_id) DO UPDATE SET observation_id = excluded.observation_id, "
    "phenomenon_time = excluded.phenomenon_time, result_number = excluded.result_number, "
    "result_json = excluded.result_json, received_at = excluded.received_at "
    f"WHERE excluded.phenomenon_time >= {_L}.phenomenon_time"
)
_LATEST = {
    "postgresql": (
        f"INSERT INTO {_L} ({_LATEST_COLUMNS}) "  # noqa: S608
        f"SELECT u.ds, u.obs, {obs_insert.pg_time('u.t')}, u.num, u.js::json, %s::timestamptz "
        "FROM unnest(%s::int4[], %s::int8[], %s::int8[], %s::float8[], %s::text[]) "
        f"AS u(ds, obs, t, num, js) {_LATEST_CONFLICT}"
    ),
    "sqlite": (
        f"INSERT INTO {_L} ({_LATEST_COLUMNS}) "  # noqa: S608 - model names only
        f"VALUES (?, ?, ?, ?, ?, ?) {_LATEST_CONFLICT}"
    ),
}


def _group_edges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``keys``: the first and the last position of each run of equal keys."""
    change = np.empty(len(keys), dtype=bool)
    change[0] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    return starts, np.append(starts[1:], len(keys)) - 1


def _follow_up(
    db_session: Session,
    connection: Connection,
    cols: obs_insert.Columns,
    ids: list[int | None],
    now: datetime,
) -> None:
    """Time ranges, latest values, rollups, alert rules and notices of the new readings."""
    dialect = connection.dialect.name
    readings = cols.readings
    count = len(ids)
    new = np.fromiter((i is not None for i in ids), dtype=bool, count=count)
    multi_all = np.fromiter((ds is None for ds in cols.datastreams), dtype=bool, count=count)
    owner_all = np.fromiter(
        (md if ds is None else ds for ds, md in zip(cols.datastreams, cols.multis, strict=True)),
        dtype=np.int64,
        count=count,
    )
    micros_all = np.asarray(cols.micros, dtype=np.int64)
    obs_all = np.fromiter((i or 0 for i in ids), dtype=np.int64, count=count)
    where = np.flatnonzero(new)

    _extend_ranges(connection, dialect, cols, where, multi_all, owner_all, micros_all)

    single = where[~multi_all[where]]
    if len(single):
        _update_latest(connection, dialect, cols, single, owner_all, micros_all, obs_all, now)
        numbers = cols.numbers
        if cols.any_other:
            numeric = single[[numbers[i] is not None for i in single.tolist()]]
        else:
            numeric = single
        if len(numeric):
            values = np.fromiter(
                (numbers[i] for i in numeric.tolist()), dtype=np.float64, count=len(numeric)
            )
            add_to_rollups(connection, owner_all[numeric], micros_all[numeric], values)
        datastreams = cols.datastreams
        hook: list[tuple[int, int, datetime, float | None]] = [
            (datastreams[i], ids[i], readings[i].phenomenon_start, numbers[i])
            for i in single.tolist()
        ]
        _evaluate(db_session, hook, now)
    notices.queue_many(
        db_session,
        "Observation",
        [i for i in ids if i is not None],
        "create",
        datastreams=np.unique(owner_all[single]).tolist() if len(single) else (),
    )


def _extend_ranges(
    connection: Connection,
    dialect: str,
    cols: obs_insert.Columns,
    where: np.ndarray,
    multi_all: np.ndarray,
    owner_all: np.ndarray,
    micros_all: np.ndarray,
) -> None:
    """One statement per kind (Datastream, MultiDatastream) widening their time ranges."""
    readings = cols.readings
    optional = {column for column, _ in cols.optional}
    starts = micros_all[where]
    ends = starts.copy()
    low = np.full(len(where), _NO_TIME_LOW, dtype=np.int64)
    high = np.full(len(where), _NO_TIME_HIGH, dtype=np.int64)
    if "phenomenon_time_end" in optional or "result_time" in optional:
        for j, i in enumerate(where.tolist()):
            reading = readings[i]
            if reading.phenomenon_end is not None:
                ends[j] = to_micros(reading.phenomenon_end)
            if reading.result_time is not None:
                low[j] = high[j] = to_micros(reading.result_time)
    keys = owner_all[where] * 2 + multi_all[where]
    order = np.argsort(keys, kind="stable")
    keys, starts, ends, low, high = keys[order], starts[order], ends[order], low[order], high[order]
    first, _last = _group_edges(keys)
    group_keys = keys[first]
    figures = (
        np.minimum.reduceat(starts, first),
        np.maximum.reduceat(ends, first),
        np.minimum.reduceat(low, first),
        np.maximum.reduceat(high, first),
    )
    for multi in (False, True):
        pick = (group_keys % 2 == 1) if multi else (group_keys % 2 == 0)
        if not pick.any():
            continue
        owners = (group_keys[pick] // 2).tolist()
        ps, pe, rs, re = (f[pick] for f in figures)
        rs_list: list[int | None] = [None if v == _NO_TIME_LOW else v for v in rs.tolist()]
        re_list: list[int | None] = [None if v == _NO_TIME_HIGH else v for v in re.tolist()]
        sql = _EXTEND[(multi, dialect)]
        if dialect == "postgresql":
            arrays = (owners, ps.tolist(), pe.tolist(), rs_list, re_list)
            connection.exec_driver_sql(sql, tuple(obs_insert.pg_array(a) for a in arrays))
        else:
            rows = list(
                zip(
                    owners,
                    obs_insert.sqlite_times(ps),
                    obs_insert.sqlite_times(pe),
                    _sqlite_optional(rs_list),
                    _sqlite_optional(re_list),
                    strict=True,
                )
            )
            connection.exec_driver_sql(sql, rows)


def _sqlite_optional(micros: list[int | None]) -> list[str | None]:
    if None not in micros:
        return list(obs_insert.sqlite_times(micros))
    return [None if m is None else obs_insert.sqlite_times([m])[0] for m in micros]


def _update_latest(
    connection: Connection,
    dialect: str,
    cols: obs_insert.Columns,
    single: np.ndarray,
    owner_all: np.ndarray,
    micros_all: np.ndarray,
    obs_all: np.ndarray,
    now: datetime,
) -> None:
    """Each datastream's newest reading of the batch (by phenomenon time; the later one of
    the batch on a tie) replaces its latest value unless that is newer still."""
    owners, micros = owner_all[single], micros_all[single]
    order = np.lexsort((single, micros, owners))
    _first, last = _group_edges(owners[order])
    chosen = single[order[last]].tolist()
    numbers = [cols.numbers[i] for i in chosen]
    texts = [
        None if n is not None else json.dumps(cols.readings[i].result)
        for i, n in zip(chosen, numbers, strict=True)
    ]
    ds = owner_all[chosen].tolist()
    obs = obs_all[chosen].tolist()
    times = micros_all[chosen].tolist()
    sql = _LATEST[dialect]
    if dialect == "postgresql":
        arrays = (ds, obs, times, numbers)
        connection.exec_driver_sql(sql, (now, *(obs_insert.pg_array(a) for a in arrays), texts))
    else:
        received = obs_insert.sqlite_time(now)
        rows = list(
            zip(
                ds,
                obs,
                obs_insert.sqlite_times(times),
                numbers,
                texts,
                [received] * len(ds),
                strict=True,
            )
        )
        connection.exec_driver_sql(sql, rows)


def _evaluate(
    db_session: Session, stored: list[tuple[int, int, datetime, float | None]], now: datetime
) -> None:
    evaluate.on_readings(db_session, stored, now=now)
