"""Notifications: queue e-mail and webhook events, manage webhooks, run delivery passes.

This is the notify domain's public face: other domains, the API, the pages, the CLI and the
background worker call only this module. Queuing happens in the caller's transaction, so a
message or event exists exactly when the write that caused it was committed. Sending happens
later, in :func:`deliver_pending` (see ``mailer`` and ``webhooks`` for the details).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.config import Settings
from cityos.errors import Conflict, InvalidInput, NotFound
from cityos.notify.backoff import aware
from cityos.notify.mailer import EmailCounts, deliver_email
from cityos.notify.models import (
    DeliveryStatus,
    MessageStatus,
    OutboxMessage,
    Webhook,
    WebhookDelivery,
)
from cityos.notify.webhooks import WebhookCounts, deliver_webhooks, sign, verify_signature

__all__ = [
    "DeliveryReport",
    "EmailCounts",
    "WebhookCounts",
    "create_webhook",
    "delete_webhook",
    "deliver_email",
    "deliver_pending",
    "deliver_webhooks",
    "emit",
    "get_delivery",
    "get_webhook",
    "list_deliveries",
    "list_outbox",
    "list_webhooks",
    "queue_email",
    "redeliver",
    "set_webhook_active",
    "sign",
    "split_patterns",
    "verify_signature",
]

MAX_LIST = 1000
_ADDRESS = re.compile(r"[^@\s<>,;\"\x00-\x1f]+@[^@\s<>,;\"\x00-\x1f]+")
_EVENT = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_PATTERN = re.compile(r"[A-Za-z0-9_.:*?!\[\]-]{1,100}")


# --- queuing -------------------------------------------------------------------------------


def queue_email(
    db_session: Session, *, to: str, subject: str, body: str, topic: str = ""
) -> OutboxMessage:
    """Put one e-mail in the outbox, in the caller's transaction.

    ``to`` is one plain address (``name@example.org``); line breaks in ``subject`` become
    spaces. The worker sends it (or logs it when no SMTP server is configured).
    """
    address = to.strip()
    if len(address) > 320 or not _ADDRESS.fullmatch(address):
        raise InvalidInput(f"{to!r} is not an e-mail address; give one like name@example.org.")
    one_line = " ".join(subject.split())
    message = OutboxMessage(
        to_address=address, subject=one_line[:300], body=body, topic=topic[:100]
    )
    db_session.add(message)
    return message


def emit(db_session: Session, *, event: str, payload: Mapping[str, Any]) -> int:
    """Queue ``event`` for every active webhook subscribed to it; returns how many.

    ``payload`` must be JSON-like; datetimes, dates, enums and decimals are converted to
    strings. The deliveries are written in the caller's transaction.
    """
    if not _EVENT.fullmatch(event):
        raise InvalidInput(
            f"{event!r} is not an event name; use letters, digits and . _ : - "
            "(e.g. case.created), at most 100 characters."
        )
    data = _jsonable(event, payload)
    hooks = db_session.scalars(select(Webhook).where(Webhook.is_active.is_(True))).all()
    queued = 0
    for hook in hooks:
        if matches(event, hook.events):
            db_session.add(WebhookDelivery(webhook_id=hook.id, event=event, payload=data))
            queued += 1
    return queued


def matches(event: str, patterns: Iterable[str] | None) -> bool:
    """Whether ``event`` matches one of the fnmatch ``patterns`` (none means every event)."""
    chosen = list(patterns or []) or ["*"]
    return any(fnmatchcase(event, pattern) for pattern in chosen)


def _jsonable(event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    try:
        text = json.dumps(dict(payload), default=_encode, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise InvalidInput(
            f"The payload of event {event!r} cannot be sent as JSON: {error}"
        ) from None
    data: dict[str, Any] = json.loads(text)
    return data


def _encode(value: object) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"a {type(value).__name__} is not JSON")


# --- webhooks ------------------------------------------------------------------------------


def split_patterns(text: str) -> list[str]:
    """Event patterns typed as one string, separated by commas or spaces."""
    return [part for part in re.split(r"[\s,]+", text) if part]


def _check_url(url: str) -> str:
    url = url.strip()
    example = "e.g. https://example.org/hooks/cityos"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput(f"{url!r} is not a valid URL; give an http(s) URL, {example}.") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput(
            f"The webhook URL must start with http:// or https:// and name a host, {example} "
            f"(got {url!r})."
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "Put no user name or password in the webhook URL; receivers check the "
            "X-CityOS-Signature header instead."
        )
    if len(url) > 2000 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidInput("The webhook URL must be at most 2000 characters, without spaces.")
    return url


def _check_patterns(events: Iterable[str] | None) -> list[str]:
    patterns: list[str] = []
    for pattern in events or []:
        pattern = pattern.strip()
        if not pattern or pattern in patterns:
            continue
        if not _PATTERN.fullmatch(pattern):
            raise InvalidInput(
                f"{pattern!r} is not an event pattern; use event names with * and ? "
                "wildcards, e.g. case.* or case.closed (at most 100 characters)."
            )
        patterns.append(pattern)
    if len(patterns) > 50:
        raise InvalidInput("A webhook takes at most 50 event patterns; use wildcards (case.*).")
    return patterns or ["*"]


def _snapshot(hook: Webhook) -> dict[str, Any]:
    """What the audit log keeps of a webhook (never its secret)."""
    return {
        "name": hook.name,
        "url": hook.url,
        "events": list(hook.events),
        "active": hook.is_active,
    }


def create_webhook(
    db_session: Session,
    *,
    name: str,
    url: str,
    events: Iterable[str] | None = None,
    actor: Actor,
) -> tuple[Webhook, str]:
    """Register a receiver of events; returns it and its signing secret (shown only once).

    ``events`` are fnmatch patterns such as ``case.*``; none means every event (``*``).
    """
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("Give the webhook a name of 1 to 200 characters.")
    hook = Webhook(
        name=name,
        url=_check_url(url),
        events=_check_patterns(events),
        secret="whsec_" + secrets.token_urlsafe(32),
        is_active=True,
    )
    db_session.add(hook)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="notify.webhook.create",
        entity_type="webhook",
        entity_id=hook.id,
        summary=f"Added webhook {hook.name} → {hook.url}",
        after=_snapshot(hook),
    )
    return hook, hook.secret


def list_webhooks(db_session: Session) -> Sequence[Webhook]:
    return db_session.scalars(select(Webhook).order_by(Webhook.id)).all()


def get_webhook(db_session: Session, *, webhook_id: int) -> Webhook:
    hook = db_session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"No webhook has the id {webhook_id}.")
    return hook


def set_webhook_active(
    db_session: Session, *, webhook_id: int, active: bool, actor: Actor
) -> Webhook:
    """Pause or resume a webhook. A paused webhook gets no new events; queued ones wait."""
    hook = get_webhook(db_session, webhook_id=webhook_id)
    if hook.is_active == active:
        return hook
    before = _snapshot(hook)
    hook.is_active = active
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="notify.webhook.activate" if active else "notify.webhook.deactivate",
        entity_type="webhook",
        entity_id=hook.id,
        summary=f"{'Activated' if active else 'Deactivated'} webhook {hook.name}",
        before=before,
        after=_snapshot(hook),
    )
    return hook


def delete_webhook(db_session: Session, *, webhook_id: int, actor: Actor) -> None:
    """Remove a webhook and its deliveries."""
    hook = get_webhook(db_session, webhook_id=webhook_id)
    before = _snapshot(hook)
    db_session.delete(hook)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="notify.webhook.delete",
        entity_type="webhook",
        entity_id=webhook_id,
        summary=f"Removed webhook {before['name']}",
        before=before,
    )


def _status(value: str | None, allowed: type[DeliveryStatus] | type[MessageStatus]) -> str | None:
    if not value:
        return None
    known = [status.value for status in allowed]
    if value not in known:
        raise InvalidInput(f"Unknown status {value!r}; use one of: {', '.join(known)}.")
    return value


def _limit(limit: int) -> int:
    return min(max(limit, 1), MAX_LIST)


def list_deliveries(
    db_session: Session,
    *,
    webhook_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
) -> Sequence[WebhookDelivery]:
    """The newest deliveries, optionally of one webhook and/or in one status."""
    query = select(WebhookDelivery)
    if webhook_id is not None:
        get_webhook(db_session, webhook_id=webhook_id)
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    chosen = _status(status, DeliveryStatus)
    if chosen:
        query = query.where(WebhookDelivery.status == chosen)
    query = query.order_by(WebhookDelivery.id.desc()).limit(_limit(limit))
    return db_session.scalars(query).all()


def get_delivery(db_session: Session, *, delivery_id: int) -> WebhookDelivery:
    delivery = db_session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"No webhook delivery has the id {delivery_id}.")
    return delivery


def redeliver(
    db_session: Session, *, delivery_id: int, actor: Actor, now: datetime | None = None
) -> WebhookDelivery:
    """Send a delivery again at the next pass, with a fresh set of retries."""
    delivery = get_delivery(db_session, delivery_id=delivery_id)
    if not delivery.webhook.is_active:
        raise Conflict(
            f"Webhook {delivery.webhook.name} is inactive; activate it first, then redeliver."
        )
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = aware(now)
    delivery.delivered_at = None
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="notify.delivery.redeliver",
        entity_type="webhook_delivery",
        entity_id=delivery.id,
        summary=f"Queued {delivery.event} for webhook {delivery.webhook.name} again",
        before=before,
        after={"status": delivery.status, "attempts": 0},
    )
    return delivery


def list_outbox(
    db_session: Session, *, status: str | None = None, limit: int = 100
) -> Sequence[OutboxMessage]:
    """The newest e-mails, optionally in one status."""
    query = select(OutboxMessage)
    chosen = _status(status, MessageStatus)
    if chosen:
        query = query.where(OutboxMessage.status == chosen)
    return db_session.scalars(query.order_by(OutboxMessage.id.desc()).limit(_limit(limit))).all()


# --- delivery --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    email: EmailCounts
    webhooks: WebhookCounts

    def describe(self) -> str:
        e, w = self.email, self.webhooks
        return (
            f"E-mail: {e.sent} sent, {e.logged} logged, {e.retrying} to retry, "
            f"{e.failed} failed. Webhooks: {w.delivered} delivered, {w.retrying} to retry, "
            f"{w.failed} failed."
        )


def deliver_pending(
    db_session: Session,
    *,
    settings: Settings,
    now: datetime | None = None,
    webhook_timeout: float = 10.0,
) -> DeliveryReport:
    """One delivery pass: the e-mail and the webhook deliveries due at ``now``.

    Runs in the caller's transaction, which should be committed right after (the worker
    does one pass per transaction).
    """
    now = aware(now)
    email = deliver_email(db_session, settings=settings, now=now)
    hooks = deliver_webhooks(db_session, now=now, timeout=webhook_timeout)
    return DeliveryReport(email=email, webhooks=hooks)
