"""Recording and reading the audit log. Every service write calls :func:`record`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is doing something: a user, or the system acting through a named channel."""

    user_id: int | None
    label: str
    ip: str | None = None

    @classmethod
    def system(cls, channel: str) -> Actor:
        return cls(user_id=None, label=f"system:{channel}")


def record(
    db_session: Session,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    summary: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry to the log in the caller's transaction (so it lands with the write)."""
    entry = AuditEntry(
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        summary=summary[:500],
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
        ip=actor.ip,
    )
    db_session.add(entry)
    db_session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    total: int
    page: int
    page_size: int


def search(
    db_session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> AuditPage:
    """Newest entries first, optionally filtered by action prefix or actor label."""
    page = max(page, 1)
    page_size = min(max(page_size, 1), 500)
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if actor:
        query = query.where(AuditEntry.actor_label.contains(actor))
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    entries = db_session.scalars(
        query.order_by(AuditEntry.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return AuditPage(entries=entries, total=total, page=page, page_size=page_size)
