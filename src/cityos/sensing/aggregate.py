"""Time series from the rollups: one datastream, or every datastream of a property in an area.

Rollups are stored per minute, hour and day (``sensing_rollups``). An interval is written
``<n>m``, ``<n>h`` or ``<n>d``; ``1m``/``1h``/``1d`` are read as stored, and other multiples
(``15m``, ``6h``, ``7d``) are composed from the stored buckets of their unit (minutes,
hours, days): counts, sums, minima and maxima combine exactly, the mean is the sum over the
count (weighted by readings), and ``last`` is the value read last. Buckets are aligned to the
interval counted from 1970-01-01T00:00Z (so ``6h`` buckets start at 00, 06, 12 and 18 UTC,
``1d`` at midnight UTC); ``from`` is rounded down to a bucket start and ``to`` is exclusive.
Buckets without readings are left out. Across several datastreams the same combination
applies per bucket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput
from cityos.sensing.models import Rollup

FUNCTIONS = ("mean", "min", "max", "sum", "count", "last")
UNITS = {"m": 60, "h": 3600, "d": 86400}
MAX_BUCKETS = 20_000
MAX_STORED_ROWS = 1_000_000
DEFAULT_BUCKETS = 1000
_FIRST_S = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
_INTERVAL = re.compile(r"(\d{1,4})([mhd])")


@dataclass(frozen=True, slots=True)
class Interval:
    text: str
    stored_s: int  # the stored rollup interval it is read from
    factor: int  # how many stored buckets make one

    @property
    def seconds(self) -> int:
        return self.stored_s * self.factor


def parse_interval(text: str) -> Interval:
    match = _INTERVAL.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"interval {text[:40]!r} is not an interval: write a whole number and m, h or d, "
            "e.g. 1m, 15m, 1h, 6h, 1d (1m, 1h and 1d are stored; others are composed)."
        )
    return Interval(text=text.strip(), stored_s=UNITS[match.group(2)], factor=int(match.group(1)))


def parse_function(text: str) -> str:
    if text not in FUNCTIONS:
        raise InvalidInput(f"fn {text[:40]!r} is not one of {', '.join(FUNCTIONS)}.")
    return text


def window(
    interval: Interval, start: datetime | None, end: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """``[start, end)`` with start rounded down to a bucket; defaults: the last 1,000 buckets
    (fewer when they would reach back before the year 1)."""
    end = end or now
    step = interval.seconds
    end_s = int(end.timestamp())
    if start is None:
        start_s = end_s - step * DEFAULT_BUCKETS
        if start_s < _FIRST_S:
            start_s = -(-_FIRST_S // step) * step  # the first bucket start in the year 1
    else:
        start_s = int(start.timestamp())
        if start_s >= end_s:
            raise InvalidInput(f"from ({start.isoformat()}) must be before to ({end.isoformat()}).")
    start_s = start_s // step * step
    if start_s < _FIRST_S:
        raise InvalidInput(
            f"from ({start.isoformat() if start else '-'}) rounded down to a bucket of "
            f"{interval.text} falls before the year 1; give a later from or a shorter interval."
        )
    if start_s >= end_s:
        raise InvalidInput(
            f"from..to holds no whole bucket of {interval.text} counted from 1970-01-01; give "
            "an earlier from or a shorter interval."
        )
    buckets = (end_s - start_s) / step
    if buckets > MAX_BUCKETS:
        raise InvalidInput(
            f"from..to holds {int(buckets):,} buckets of {interval.text}; at most "
            f"{MAX_BUCKETS:,} are returned. Use a larger interval or a shorter range."
        )
    return datetime.fromtimestamp(start_s, tz=UTC), end


@dataclass(frozen=True, slots=True)
class Series:
    times: list[datetime]
    values: list[float | None]
    counts: list[int]


def _combine(rows: list[Any], step: int, fn: str) -> Series:
    if not rows:
        return Series([], [], [])
    starts = np.fromiter((int(r.bucket.timestamp()) for r in rows), dtype=np.int64)
    keys = starts // step * step
    counts = np.fromiter((r.count for r in rows), dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    picked = [rows[i] for i in order]
    groups, first = np.unique(keys, return_index=True)
    count_per = np.add.reduceat(counts, first)
    values: npt.NDArray[np.float64]
    if fn == "count":
        values = count_per.astype(np.float64)
    elif fn in ("sum", "mean"):
        sums = np.add.reduceat(np.fromiter((r.sum for r in picked), dtype=np.float64), first)
        values = sums if fn == "sum" else sums / np.maximum(count_per, 1)
    elif fn == "min":
        values = np.minimum.reduceat(np.fromiter((r.min for r in picked), dtype=np.float64), first)
    elif fn == "max":
        values = np.maximum.reduceat(np.fromiter((r.max for r in picked), dtype=np.float64), first)
    else:  # last: the value read last within each group
        last_times = np.fromiter((r.last_time.timestamp() for r in picked), dtype=np.float64)
        lasts = np.fromiter((r.last for r in picked), dtype=np.float64)
        bounds = [*first[1:].tolist(), len(picked)]
        values = np.empty(len(groups), dtype=np.float64)
        for g, (lo, hi) in enumerate(zip(first, bounds, strict=True)):
            values[g] = lasts[lo + int(np.argmax(last_times[lo:hi]))]
    return Series(
        times=[datetime.fromtimestamp(int(t), tz=UTC) for t in groups],
        values=[float(v) for v in values],
        counts=[int(c) for c in count_per],
    )


def series(
    db_session: Session,
    *,
    datastream_ids: list[int],
    interval: Interval,
    start: datetime,
    end: datetime,
    fn: str,
) -> Series:
    """The combined buckets of ``datastream_ids`` in ``[start, end)``."""
    if not datastream_ids:
        return Series([], [], [])
    estimate = (end - start).total_seconds() / interval.stored_s * len(datastream_ids)
    if estimate > MAX_STORED_ROWS:
        raise InvalidInput(
            f"This asks for up to {int(estimate):,} stored buckets ({len(datastream_ids):,} "
            f"datastreams × {interval.stored_s} s buckets); at most {MAX_STORED_ROWS:,} are "
            "read at once. Use a larger interval, a shorter range or a smaller area."
        )
    extra: dict[str, list[Any]] = {
        "count": [],
        "sum": [Rollup.sum],
        "mean": [Rollup.sum],
        "min": [Rollup.min],
        "max": [Rollup.max],
        "last": [Rollup.last, Rollup.last_time],
    }
    many = len(datastream_ids) > 1
    columns: list[Any] = [Rollup.bucket, Rollup.count, *extra[fn]]
    if many and fn != "last":
        # Several datastreams: their stored buckets are added up in SQL first, so one row
        # per stored bucket leaves the database (count, sum, min and max combine again).
        merged: dict[str, Any] = {
            "count": func.sum(Rollup.count),
            "sum": func.sum(Rollup.sum),
            "min": func.min(Rollup.min),
            "max": func.max(Rollup.max),
        }
        columns = [Rollup.bucket] + [merged[column.key].label(column.key) for column in columns[1:]]
    query = select(*columns).where(
        Rollup.interval_s == interval.stored_s,
        Rollup.bucket >= start,
        Rollup.bucket < end,
    )
    if not many:
        query = query.where(Rollup.datastream_id == datastream_ids[0])
    else:
        query = query.where(Rollup.datastream_id.in_(sorted(datastream_ids)))
        if fn != "last":
            query = query.group_by(Rollup.bucket)
    rows = list(db_session.execute(query.order_by(Rollup.bucket)))
    return _combine(rows, interval.seconds, fn)


def as_json(result: Series) -> list[dict[str, Any]]:
    return [
        {"t": t.isoformat(), "v": v, "count": c}
        for t, v, c in zip(result.times, result.values, result.counts, strict=True)
    ]
