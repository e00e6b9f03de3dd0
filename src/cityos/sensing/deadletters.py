"""Dead letters: readings that could not be stored, kept with the reason; ingestion goes on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.sensing.models import DeadLetter

MAX_PAYLOAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Letter:
    source: str  # mqtt | http | simulator
    topic: str
    payload: bytes | str
    reason: str


def _text(payload: bytes | str, limit: int = MAX_PAYLOAD) -> str:
    """Storable text: cut at ``limit``, invalid UTF-8 and NUL (PostgreSQL text holds no NUL)
    replaced by U+FFFD."""
    if isinstance(payload, bytes):
        payload = payload[:limit].decode("utf-8", errors="replace")
    return payload[:limit].replace("\x00", "\ufffd")


def record(db_session: Session, letters: Sequence[Letter], *, now: datetime | None = None) -> None:
    """Keep ``letters`` in the session's transaction (payloads cut at 64 KiB)."""
    if not letters:
        return
    at = now or utcnow()
    db_session.execute(
        insert(DeadLetter),
        [
            {
                "received_at": at,
                "source": letter.source[:16],
                "topic": _text(letter.topic, 255),
                "payload": _text(letter.payload),
                "reason": _text(letter.reason),
            }
            for letter in letters
        ],
    )


def count(db_session: Session, *, since: datetime | None = None) -> int:
    """How many dead letters there are (received at or after ``since``)."""
    query = select(func.count()).select_from(DeadLetter)
    if since is not None:
        query = query.where(DeadLetter.received_at >= since)
    return db_session.scalar(query) or 0
