"""Keeping the derived stores true when an Observation is changed or deleted over the API.

Ingest keeps ``sensing_latest`` and ``sensing_rollups`` up to date as readings arrive (in
:mod:`cityos.sensing.store`); an edit or delete of a stored Observation is rare, so here the
affected datastream's latest value and the rollup buckets around the old and new times are
simply recomputed from the raw observations.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.sensing import models as m
from cityos.sensing.rollups import INTERVALS


def result_columns(result: Any) -> tuple[float | None, Any]:
    """(result_number, result_json): numbers go to the number column, the rest to JSON."""
    if isinstance(result, int | float) and not isinstance(result, bool):
        return float(result), None
    return None, result


def bucket_start(moment: datetime, interval_s: int) -> datetime:
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % interval_s, UTC)


def observation_changed(
    db_session: Session,
    *,
    old: tuple[int | None, datetime] | None,
    new: tuple[int | None, datetime] | None,
) -> None:
    """Recompute what an edit or delete of an observation may have changed."""
    points = {p for p in (old, new) if p is not None and p[0] is not None}
    for datastream_id in {p[0] for p in points}:
        assert datastream_id is not None
        refresh_latest(db_session, datastream_id)
    for datastream_id, moment in points:
        assert datastream_id is not None
        refresh_rollups(db_session, datastream_id, [moment])


def observations_removed(
    db_session: Session, removed: Iterable[tuple[int | None, datetime]]
) -> None:
    """Recompute the latest values and rollup buckets of many removed observations."""
    moments: dict[int, set[datetime]] = {}
    for datastream_id, moment in removed:
        if datastream_id is not None:
            moments.setdefault(datastream_id, set()).add(moment)
    for datastream_id, times in moments.items():
        refresh_latest(db_session, datastream_id)
        refresh_rollups(db_session, datastream_id, times)


def refresh_latest(db_session: Session, datastream_id: int) -> None:
    newest = db_session.execute(
        select(
            m.Observation.id,
            m.Observation.phenomenon_time_start,
            m.Observation.result_number,
            m.Observation.result_json,
        )
        .where(m.Observation.datastream_id == datastream_id)
        .order_by(m.Observation.phenomenon_time_start.desc())
        .limit(1)
    ).first()
    latest = db_session.get(m.LatestValue, datastream_id)
    if newest is None:
        if latest is not None:
            db_session.delete(latest)
        return
    if latest is None:
        latest = m.LatestValue(datastream_id=datastream_id, received_at=utcnow())
        db_session.add(latest)
    latest.observation_id = newest.id
    latest.phenomenon_time = newest.phenomenon_time_start
    latest.result_number = newest.result_number
    latest.result_json = newest.result_json
    db_session.flush()


def refresh_rollups(db_session: Session, datastream_id: int, moments: Iterable[datetime]) -> None:
    for interval in INTERVALS:
        for start in {bucket_start(t, interval) for t in moments}:
            _rebuild_bucket(db_session, datastream_id, interval, start)


def _rebuild_bucket(
    db_session: Session, datastream_id: int, interval: int, start: datetime
) -> None:
    end = datetime.fromtimestamp(start.timestamp() + interval, UTC)
    rows = db_session.execute(
        select(m.Observation.phenomenon_time_start, m.Observation.result_number)
        .where(
            m.Observation.datastream_id == datastream_id,
            m.Observation.result_number.is_not(None),
            m.Observation.phenomenon_time_start >= start,
            m.Observation.phenomenon_time_start < end,
        )
        .order_by(m.Observation.phenomenon_time_start)
    ).all()
    db_session.execute(
        delete(m.Rollup).where(
            m.Rollup.datastream_id == datastream_id,
            m.Rollup.interval_s == interval,
            m.Rollup.bucket == start,
        )
    )
    if not rows:
        return
    values = [float(r.result_number) for r in rows]
    db_session.add(
        m.Rollup(
            datastream_id=datastream_id,
            interval_s=interval,
            bucket=start,
            count=len(values),
            min=min(values),
            max=max(values),
            sum=sum(values),
            last=values[-1],
            last_time=rows[-1].phenomenon_time_start,
        )
    )
    db_session.flush()
