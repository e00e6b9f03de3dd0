"""Minute, hour and day rollups of numeric results, kept up to date on ingest.

A batch is aggregated with numpy first (one group per datastream and bucket), then each
interval's groups are merged into ``sensing_rollups`` with one upsert statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Insert, Table, case
from sqlalchemy.dialects import postgresql, sqlite

from cityos.sensing.models import Rollup

INTERVALS: tuple[int, ...] = (60, 3600, 86400)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

_table: Table = Rollup.__table__  # type: ignore[assignment]
_statements: dict[str, Insert] = {}


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - EPOCH) // _US


def _upsert(dialect: str) -> Insert:
    statement = _statements.get(dialect)
    if statement is not None:
        return statement
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    base = insert(_table)
    new, old = base.excluded, _table.c
    statement = base.on_conflict_do_update(
        index_elements=[old.datastream_id, old.interval_s, old.bucket],
        set_={
            "count": old["count"] + new["count"],
            "min": case((new["min"] < old["min"], new["min"]), else_=old["min"]),
            "max": case((new["max"] > old["max"], new["max"]), else_=old["max"]),
            "sum": old["sum"] + new["sum"],
            "last": case((new.last_time >= old.last_time, new["last"]), else_=old["last"]),
            "last_time": case((new.last_time >= old.last_time, new.last_time), else_=old.last_time),
        },
    )
    _statements[dialect] = statement
    return statement


def aggregate(
    datastream_ids: Sequence[int], micros: Sequence[int], values: Sequence[float], interval_s: int
) -> list[dict[str, Any]]:
    """Group readings by (datastream, bucket of ``interval_s``): rows for ``sensing_rollups``."""
    ids = np.asarray(datastream_ids, dtype=np.int64)
    times = np.asarray(micros, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    step = interval_s * 1_000_000
    buckets = times // step
    order = np.lexsort((times, buckets, ids))
    ids, buckets, times, vals = ids[order], buckets[order], times[order], vals[order]
    change = np.empty(len(ids), dtype=bool)
    change[0] = True
    np.not_equal(ids[1:], ids[:-1], out=change[1:])
    change[1:] |= buckets[1:] != buckets[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(ids)) - 1
    counts = np.diff(np.append(starts, len(ids)))
    mins = np.minimum.reduceat(vals, starts)
    maxs = np.maximum.reduceat(vals, starts)
    sums = np.add.reduceat(vals, starts)
    rows = []
    for ds, bucket, count, low, high, total, last, last_t in zip(
        ids[starts].tolist(),
        buckets[starts].tolist(),
        counts.tolist(),
        mins.tolist(),
        maxs.tolist(),
        sums.tolist(),
        vals[ends].tolist(),
        times[ends].tolist(),
        strict=True,
    ):
        rows.append(
            {
                "datastream_id": ds,
                "interval_s": interval_s,
                "bucket": EPOCH + timedelta(seconds=bucket * interval_s),
                "count": count,
                "min": low,
                "max": high,
                "sum": total,
                "last": last,
                "last_time": EPOCH + timedelta(microseconds=last_t),
            }
        )
    return rows


def add_to_rollups(
    connection: Connection,
    datastream_ids: Sequence[int],
    micros: Sequence[int],
    values: Sequence[float],
) -> None:
    """Merge numeric readings into every interval's rollups (one statement per interval)."""
    if not datastream_ids:
        return
    statement = _upsert(connection.dialect.name)
    for interval_s in INTERVALS:
        connection.execute(statement, aggregate(datastream_ids, micros, values, interval_s))
