"""Delivering webhook events: signed JSON POSTs, retried with back-off.

What a receiver gets (see docs/webhooks.md)::

    POST <url>
    Content-Type: application/json
    X-CityOS-Event: case.created
    X-CityOS-Delivery: 42                (the same on every retry: use it to drop duplicates)
    X-CityOS-Timestamp: 1767225600       (unix seconds when this attempt was sent)
    X-CityOS-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>

    {"id": 42, "event": "case.created", "created_at": "2026-01-01T00:00:00+00:00", "data": {...}}

Any 2xx answer counts as delivered; anything else (and no answer within the timeout) is
retried after 1, 5, 30, 120 and 720 minutes, then the delivery is marked failed. Redirects
are not followed. Delivery is at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

import cityos
from cityos.notify.backoff import WEBHOOK_BACKOFF, aware
from cityos.notify.models import DeliveryStatus, Webhook, WebhookDelivery

log = logging.getLogger("cityos.notify")

EVENT_HEADER = "X-CityOS-Event"
DELIVERY_HEADER = "X-CityOS-Delivery"
TIMESTAMP_HEADER = "X-CityOS-Timestamp"
SIGNATURE_HEADER = "X-CityOS-Signature"
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-CityOS-Signature`` value for a body sent at ``timestamp`` (unix seconds).

    ``sha256=`` followed by the lowercase hex HMAC-SHA256, keyed with the webhook's secret
    (UTF-8), of the bytes ``<timestamp>.<body>`` — the raw request body as received.
    """
    data = body.encode("utf-8") if isinstance(body, str) else body
    signed = f"{str(timestamp).strip()}.".encode("ascii") + data
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    header: str | None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: datetime | float | None = None,
) -> bool:
    """Whether a received webhook is genuine and fresh. For receivers written in Python.

    ``timestamp`` and ``header`` are the ``X-CityOS-Timestamp`` and ``X-CityOS-Signature``
    header values, ``body`` the raw request body (before any JSON parsing). A timestamp more
    than ``tolerance_s`` seconds away from ``now`` (default: the current time) is refused,
    so a recorded request cannot be replayed later. The comparison takes constant time.
    ``header`` may hold several comma-separated signatures; one match is enough.
    """
    if not header:
        return False
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    if now is None:
        current = time.time()
    elif isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = float(now)
    if abs(current - sent_at) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given.strip()) for given in header.split(","))


@dataclass(slots=True)
class WebhookCounts:
    """What one delivery pass did with the due deliveries."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.retrying + self.failed


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is a failed delivery: never re-send the event (or its body) elsewhere."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def body_of(delivery: WebhookDelivery) -> bytes:
    """The JSON document POSTed for ``delivery`` (the same bytes on every attempt)."""
    document = {
        "id": delivery.id,
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Outcome:
    """POST ``body``; the status code and, unless it was 2xx, what went wrong."""
    if urlsplit(url).scheme not in {"http", "https"}:
        return Outcome(None, f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked above
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Outcome(response.status, None)
    except urllib.error.HTTPError as error:
        try:
            answer = error.read(300).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):
            answer = ""
        finally:
            error.close()
        reason = f"HTTP {error.code} {error.reason}".strip()
        return Outcome(error.code, f"{reason}: {answer}" if answer else reason)
    except urllib.error.URLError as error:
        return Outcome(None, f"cannot reach {urlsplit(url).netloc}: {error.reason}")
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Outcome(None, f"{type(error).__name__}: {error}".rstrip(": "))


def headers_for(delivery: WebhookDelivery, body: bytes, *, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": f"CityOS-Webhooks/{cityos.__version__}",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(delivery.webhook.secret, timestamp, body),
    }


def due_deliveries(db_session: Session, *, now: datetime, limit: int) -> Sequence[WebhookDelivery]:
    """Pending deliveries of active webhooks whose time has come, oldest first.

    Deliveries of an inactive webhook wait until it is active again. On PostgreSQL the rows
    are locked and rows locked by another worker are skipped.
    """
    query = (
        select(WebhookDelivery)
        .join(Webhook, WebhookDelivery.webhook_id == Webhook.id)
        .options(contains_eager(WebhookDelivery.webhook))
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            Webhook.is_active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    return db_session.scalars(query).all()


def record_outcome(
    delivery: WebhookDelivery, outcome: Outcome, *, now: datetime, counts: WebhookCounts
) -> None:
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    if outcome.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = None
        counts.delivered += 1
        return
    delivery.last_error = (outcome.error or f"HTTP {outcome.status_code}")[:2000]
    retry_at = WEBHOOK_BACKOFF.next_attempt(now, delivery.attempts)
    if retry_at is None:
        delivery.status = DeliveryStatus.FAILED
        counts.failed += 1
        log.warning(
            "Gave up webhook delivery %s (%s to %s) after %s attempts: %s",
            delivery.id,
            delivery.event,
            delivery.webhook.url,
            delivery.attempts,
            delivery.last_error,
        )
    else:
        delivery.next_attempt_at = retry_at
        counts.retrying += 1


def deliver_webhooks(
    db_session: Session, *, now: datetime | None = None, timeout: float = 10.0, limit: int = 200
) -> WebhookCounts:
    """POST the deliveries due at ``now``, in the caller's transaction.

    ``now`` decides which deliveries are due and when to retry; the signed timestamp is the
    wall-clock time of each attempt, which receivers compare with their own clock.
    """
    now = aware(now)
    counts = WebhookCounts()
    for delivery in due_deliveries(db_session, now=now, limit=limit):
        body = body_of(delivery)
        headers = headers_for(delivery, body, timestamp=int(time.time()))
        outcome = post(delivery.webhook.url, body, headers, timeout=timeout)
        record_outcome(delivery, outcome, now=now, counts=counts)
    return counts
