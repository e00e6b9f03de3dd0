"""Queue e-mail and webhook events. Delivery happens in the worker (see ``deliver``)."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.notify.models import OutboxMessage, Webhook, WebhookDelivery


def queue_email(
    db_session: Session, *, to: str, subject: str, body: str, topic: str = ""
) -> OutboxMessage:
    """Put one e-mail in the outbox, in the caller's transaction."""
    message = OutboxMessage(to_address=to, subject=subject[:300], body=body, topic=topic)
    db_session.add(message)
    return message


def emit(db_session: Session, *, event: str, payload: Mapping[str, Any]) -> int:
    """Queue ``event`` for every active webhook subscribed to it; returns how many."""
    hooks = db_session.scalars(select(Webhook).where(Webhook.is_active.is_(True))).all()
    queued = 0
    for hook in hooks:
        if any(fnmatchcase(event, pattern) for pattern in hook.events or ["*"]):
            db_session.add(WebhookDelivery(webhook_id=hook.id, event=event, payload=dict(payload)))
            queued += 1
    return queued
