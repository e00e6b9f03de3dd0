"""Retention: raw observations older than the configured age are removed; rollups and
latest values stay."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.sensing.models import Observation

CHUNK = 50_000


def prune(db_session: Session, *, older_than_days: float, now: datetime | None = None) -> int:
    """Delete observations whose phenomenon time began before ``now - older_than_days``, in
    chunks (each committed), and return how many were deleted."""
    if older_than_days <= 0:
        raise ValueError("older_than_days must be positive")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    total = 0
    while True:
        ids = list(
            db_session.scalars(
                select(Observation.id)
                .where(Observation.phenomenon_time_start < cutoff)
                .limit(CHUNK)
            )
        )
        if not ids:
            return total
        db_session.execute(delete(Observation).where(Observation.id.in_(ids)))
        db_session.commit()
        total += len(ids)
