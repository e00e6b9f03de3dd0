"""Minute, hour and day rollups of numeric results, kept up to date on ingest.

A batch is aggregated with numpy first (one group per datastream, interval and bucket), then
all groups are merged into ``sensing_rollups`` with one upsert: on PostgreSQL one
``INSERT … SELECT FROM unnest(…)`` of array literals, on SQLite one prepared statement run
over the groups. Only the model's table and column names are spelled into the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table

from cityos.sensing.models import Rollup
from cityos.sensing.obs_insert import pg_array, pg_time, sqlite_times, to_micros

__all__ = ["INTERVALS", "Groups", "add_to_rollups", "aggregate", "to_micros"]

INTERVALS: tuple[int, ...] = (60, 3600, 86400)

_table: Table = Rollup.__table__  # type: ignore[assignment]
_NAMES = (
    "datastream_id",
    "interval_s",
    "bucket",
    "count",
    "min",
    "max",
    "sum",
    "last",
    "last_time",
)
_T = _table.name


def _conflict() -> str:
    def pick(condition: str, new: str, old: str) -> str:
        return f"CASE WHEN {condition} THEN {new} ELSE {old} END"

    newer = f"excluded.last_time >= {_T}.last_time"
    sets = {
        "count": f'{_T}."count" + excluded."count"',
        "min": pick(f'excluded."min" < {_T}."min"', 'excluded."min"', f'{_T}."min"'),
        "max": pick(f'excluded."max" > {_T}."max"', 'excluded."max"', f'{_T}."max"'),
        "sum": f'{_T}."sum" + excluded."sum"',
        "last": pick(newer, 'excluded."last"', f'{_T}."last"'),
        "last_time": pick(newer, "excluded.last_time", f"{_T}.last_time"),
    }
    assignments = ", ".join(f'"{name}" = {value}' for name, value in sets.items())
    return f"ON CONFLICT (datastream_id, interval_s, bucket) DO UPDATE SET {assignments}"


_COLUMNS = ", ".join(f'"{name}"' for name in _NAMES)
_PG_SQL = (
    f"INSERT INTO {_T} ({_COLUMNS}) "  # noqa: S608 - model names only
    f"SELECT u.ds, u.iv, {pg_time('u.b')}, u.n, u.lo, u.hi, u.s, u.l, {pg_time('u.lt')} "
    "FROM unnest(%s::int4[], %s::int4[], %s::int8[], %s::int4[], %s::float8[], %s::float8[], "
    "%s::float8[], %s::float8[], %s::int8[]) AS u(ds, iv, b, n, lo, hi, s, l, lt) "
    f"{_conflict()}"
)
_SQLITE_SQL = (
    f"INSERT INTO {_T} ({_COLUMNS}) "  # noqa: S608 - model names only
    f"VALUES ({', '.join('?' * len(_NAMES))}) {_conflict()}"
)


@dataclass(frozen=True, slots=True)
class Groups:
    """Rollup rows as columns: per (datastream, interval, bucket) the batch's figures.
    Times are microseconds since the epoch."""

    datastream_ids: list[int]
    intervals: list[int]
    buckets: list[int]
    counts: list[int]
    mins: list[float]
    maxs: list[float]
    sums: list[float]
    lasts: list[float]
    last_times: list[int]


def aggregate(
    datastream_ids: Sequence[int] | np.ndarray,
    micros: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    intervals: Sequence[int] = INTERVALS,
) -> Groups:
    """Group readings by (datastream, interval, bucket) for every interval in ``intervals``."""
    ids = np.asarray(datastream_ids, dtype=np.int64)
    times = np.asarray(micros, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    # readings sorted by datastream then time once: every interval's buckets follow that order
    order = np.lexsort((times, ids))
    ids, times, vals = ids[order], times[order], vals[order]
    parts: list[list[Any]] = [[] for _ in range(9)]
    n = len(ids)
    for interval_s in intervals:
        step = interval_s * 1_000_000
        buckets = times // step
        change = np.empty(n, dtype=bool)
        change[0] = True
        np.not_equal(ids[1:], ids[:-1], out=change[1:])
        change[1:] |= buckets[1:] != buckets[:-1]
        starts = np.flatnonzero(change)
        ends = np.append(starts[1:], n) - 1
        pieces = (
            ids[starts],
            np.full(len(starts), interval_s, dtype=np.int64),
            buckets[starts] * step,
            np.diff(np.append(starts, n)),
            np.minimum.reduceat(vals, starts),
            np.maximum.reduceat(vals, starts),
            np.add.reduceat(vals, starts),
            vals[ends],
            times[ends],
        )
        for part, piece in zip(parts, pieces, strict=True):
            part.append(piece)
    joined = [np.concatenate(p).tolist() for p in parts]
    return Groups(*joined)


def add_to_rollups(
    connection: Connection,
    datastream_ids: Sequence[int] | np.ndarray,
    micros: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
) -> None:
    """Merge numeric readings (times in microseconds since the epoch) into every interval's
    rollups with one statement."""
    if len(datastream_ids) == 0:
        return
    g = aggregate(datastream_ids, micros, values)
    if connection.dialect.name == "postgresql":
        arrays = (
            g.datastream_ids,
            g.intervals,
            g.buckets,
            g.counts,
            g.mins,
            g.maxs,
            g.sums,
            g.lasts,
            g.last_times,
        )
        connection.exec_driver_sql(_PG_SQL, tuple(pg_array(a) for a in arrays))
        return
    rows = list(
        zip(
            g.datastream_ids,
            g.intervals,
            sqlite_times(g.buckets),
            g.counts,
            g.mins,
            g.maxs,
            g.sums,
            g.lasts,
            sqlite_times(g.last_times),
            strict=True,
        )
    )
    connection.exec_driver_sql(_SQLITE_SQL, rows)
