from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from http.server import BaseHTTPRequestHandler, HTTPServer
from threading import Thread
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.audit.service import Actor
from cityos.config import Settings
from cityos.errors import Conflict, InvalidInput, NotFound
from cityos.notify import service
from cityos.notify.models import DeliveryStatus, Webhook, WebhookDelivery
from tests.notify.conftest import Receiver, ReceiverServer, free_port, soon

ACTOR = Actor.system("test")


def add_hook(db: Session, url: str, events: list[str] | None = None) -> tuple[Webhook, str]:
    hook, secret = service.create_webhook(
        db, name="Work orders", url=url, events=events, actor=ACTOR
    )
    db.commit()
    return hook, secret


def one_delivery(db: Session) -> WebhookDelivery:
    db.expire_all()
    return db.scalars(select(WebhookDelivery)).one()


# --- signing ---------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = '{"event":"case.created"}'
    expected = hmac.new(b"s3cret", b'1767225600.{"event":"case.created"}', hashlib.sha256)
    assert service.sign("s3cret", 1767225600, body) == "sha256=" + expected.hexdigest()
    assert service.sign("s3cret", "1767225600", body.encode()) == service.sign(
        "s3cret", 1767225600, body
    )


def test_verify_signature_refuses_forgeries_tampering_and_stale_timestamps() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ts = int(now.timestamp())
    body = b'{"id":1}'
    header = service.sign("s3cret", ts, body)
    assert service.verify_signature("s3cret", str(ts), body, header, now=now)
    assert service.verify_signature("s3cret", ts, body, f"sha256=00, {header}", now=now)
    assert not service.verify_signature("other", ts, body, header, now=now)
    assert not service.verify_signature("s3cret", ts, b'{"id":2}', header, now=now)
    assert not service.verify_signature("s3cret", ts + 1, body, header, now=now)
    assert not service.verify_signature("s3cret", ts, body, None, now=now)
    assert not service.verify_signature("s3cret", "soon", body, header, now=now)
    late = now + timedelta(seconds=301)
    assert not service.verify_signature("s3cret", ts, body, header, now=late)
    assert service.verify_signature("s3cret", ts, body, header, now=late, tolerance_s=600)
    assert service.verify_signature("s3cret", ts, body, header, now=ts + 299.0)


# --- delivery --------------------------------------------------------------------------


def test_event_is_posted_signed_to_a_real_receiver(db: Session, receiver: Receiver) -> None:
    _hook, receiver.secret = add_hook(db, receiver.url, ["case.*"])
    queued = service.emit(
        db, event="case.created", payload={"id": 7, "status": "submitted", "note": "积水"}
    )
    db.commit()
    assert queued == 1
    now = soon()
    before = int(time.time())
    counts = service.deliver_webhooks(db, now=now)
    db.commit()
    assert (counts.delivered, counts.retrying, counts.failed) == (1, 0, 0)

    [got] = receiver.received
    assert got.signature_ok
    delivery = one_delivery(db)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-cityos-event"] == "case.created"
    assert got.headers["x-cityos-delivery"] == str(delivery.id)
    assert int(got.headers["x-cityos-timestamp"]) >= before
    assert got.headers["x-cityos-signature"].startswith("sha256=")
    assert got.json["id"] == delivery.id
    assert got.json["event"] == "case.created"
    assert got.json["data"] == {"id": 7, "status": "submitted", "note": "积水"}
    assert "积水".encode() in got.body  # UTF-8, not \u escapes

    assert delivery.status == DeliveryStatus.DELIVERED
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)
    assert delivery.delivered_at == now
    assert service.deliver_webhooks(db, now=now + timedelta(days=1)).total == 0


def test_receiver_errors_are_retried_with_back_off_until_it_accepts(
    db: Session, receiver: Receiver
) -> None:
    _hook, receiver.secret = add_hook(db, receiver.url)
    service.emit(db, event="case.closed", payload={"id": 1})
    db.commit()
    receiver.status = 500
    now = soon()
    waits = []
    for attempt in range(1, 4):
        counts = service.deliver_webhooks(db, now=now)
        db.commit()
        assert counts.retrying == 1
        delivery = one_delivery(db)
        assert (delivery.attempts, delivery.last_status_code) == (attempt, 500)
        assert delivery.last_error is not None
        assert "HTTP 500" in delivery.last_error
        assert "receiver says no" in delivery.last_error
        early = delivery.next_attempt_at - timedelta(seconds=1)
        assert service.deliver_webhooks(db, now=early).total == 0
        waits.append(delivery.next_attempt_at - now)
        now = delivery.next_attempt_at
    assert waits == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)]

    receiver.status = 204
    counts = service.deliver_webhooks(db, now=now)
    db.commit()
    assert counts.delivered == 1
    delivery = one_delivery(db)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 4)
    assert (delivery.last_status_code, delivery.last_error) == (204, None)
    ids = {r.headers["x-cityos-delivery"] for r in receiver.received}
    assert len(receiver.received) == 4
    assert ids == {str(delivery.id)}, "retries carry the same delivery id"
    assert all(r.signature_ok for r in receiver.received)


def test_refused_connections_are_retried_and_delivered_once_the_receiver_is_back(
    db: Session, receiver_server: ReceiverServer
) -> None:
    receiver = receiver_server.receiver
    _hook, receiver.secret = add_hook(db, receiver.url)
    service.emit(db, event="case.created", payload={"id": 2})
    db.commit()
    now = soon()
    counts = service.deliver_webhooks(db, now=now)
    db.commit()
    assert counts.retrying == 1
    delivery = one_delivery(db)
    assert delivery.last_status_code is None
    assert delivery.last_error is not None
    assert f"cannot reach 127.0.0.1:{receiver_server.port}" in delivery.last_error

    receiver_server.start()
    counts = service.deliver_webhooks(db, now=delivery.next_attempt_at)
    db.commit()
    assert counts.delivered == 1
    assert [r.json["data"] for r in receiver.received] == [{"id": 2}]
    assert one_delivery(db).attempts == 2


def test_delivery_gives_up_after_six_attempts(db: Session) -> None:
    add_hook(db, f"http://127.0.0.1:{free_port()}/gone")
    service.emit(db, event="case.created", payload={})
    db.commit()
    now = soon()
    waits = []
    for _ in range(6):
        counts = service.deliver_webhooks(db, now=now, timeout=5)
        db.commit()
        delivery = one_delivery(db)
        if delivery.status == DeliveryStatus.PENDING:
            waits.append(delivery.next_attempt_at - now)
            now = delivery.next_attempt_at
    assert waits == [timedelta(minutes=m) for m in (1, 5, 30, 120, 720)]
    assert counts.failed == 1
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 6)
    assert service.deliver_webhooks(db, now=now + timedelta(days=2)).total == 0


def test_redirects_are_not_followed(db: Session, receiver: Receiver) -> None:
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", receiver.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    thread = Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        add_hook(db, f"http://127.0.0.1:{server.server_address[1]}/moved")
        service.emit(db, event="case.created", payload={})
        db.commit()
        counts = service.deliver_webhooks(db, now=soon())
        db.commit()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert counts.retrying == 1
    assert one_delivery(db).last_status_code == 307
    assert receiver.received == []


def test_event_patterns_choose_which_webhooks_get_an_event(db: Session) -> None:
    everything, _ = add_hook(db, "https://a.example.org/hook")
    cases, _ = add_hook(db, "https://b.example.org/hook", ["case.*"])
    closed, _ = add_hook(db, "https://c.example.org/hook", ["case.closed", "sensor.alert"])
    paused, _ = add_hook(db, "https://d.example.org/hook")
    service.set_webhook_active(db, webhook_id=paused.id, active=False, actor=ACTOR)

    assert service.emit(db, event="case.created", payload={}) == 2
    assert service.emit(db, event="case.closed", payload={}) == 3
    assert service.emit(db, event="sensor.alert", payload={}) == 2
    assert service.emit(db, event="dataset.published", payload={}) == 1
    db.commit()
    got: dict[int, list[str]] = {}
    for delivery in db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)):
        got.setdefault(delivery.webhook_id, []).append(delivery.event)
    assert got == {
        everything.id: ["case.created", "case.closed", "sensor.alert", "dataset.published"],
        cases.id: ["case.created", "case.closed"],
        closed.id: ["case.closed", "sensor.alert"],
    }


def test_deliveries_of_a_paused_webhook_wait_until_it_is_active_again(
    db: Session, receiver: Receiver
) -> None:
    hook, receiver.secret = add_hook(db, receiver.url)
    service.emit(db, event="case.created", payload={"id": 3})
    service.set_webhook_active(db, webhook_id=hook.id, active=False, actor=ACTOR)
    db.commit()
    assert service.deliver_webhooks(db, now=soon()).total == 0
    db.commit()
    assert receiver.received == []
    service.set_webhook_active(db, webhook_id=hook.id, active=True, actor=ACTOR)
    db.commit()
    assert service.deliver_webhooks(db, now=soon()).delivered == 1
    db.commit()


def test_payload_values_are_made_json_and_bad_events_are_refused(db: Session) -> None:
    class Colour(Enum):
        RED = "red"

    add_hook(db, "https://a.example.org/hook")
    when = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    payload = {"at": when, "colour": Colour.RED, "cost": Decimal("1.50")}
    service.emit(db, event="case.updated", payload=payload)
    db.commit()
    assert one_delivery(db).payload == {
        "at": "2026-05-01T08:30:00+00:00",
        "colour": "red",
        "cost": "1.50",
    }
    with pytest.raises(InvalidInput, match="cannot be sent as JSON"):
        service.emit(db, event="case.updated", payload={"x": object()})
    with pytest.raises(InvalidInput, match="is not an event name"):
        service.emit(db, event="case created\r\nX-Evil: 1", payload={})


def test_redeliver_sends_a_delivered_event_again(db: Session, receiver: Receiver) -> None:
    _hook, receiver.secret = add_hook(db, receiver.url)
    service.emit(db, event="case.created", payload={"id": 4})
    db.commit()
    service.deliver_webhooks(db, now=soon())
    db.commit()
    delivery = one_delivery(db)
    again = service.redeliver(db, delivery_id=delivery.id, actor=ACTOR)
    db.commit()
    assert (again.status, again.attempts, again.delivered_at) == (DeliveryStatus.PENDING, 0, None)
    assert service.deliver_webhooks(db, now=soon()).delivered == 1
    db.commit()
    assert [r.headers["x-cityos-delivery"] for r in receiver.received] == [str(delivery.id)] * 2
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.action.startswith("notify.")))
    assert "notify.delivery.redeliver" in list(actions)
    with pytest.raises(NotFound, match="No webhook delivery has the id 999"):
        service.redeliver(db, delivery_id=999, actor=ACTOR)


def test_redeliver_of_a_paused_webhook_says_to_activate_it(db: Session) -> None:
    hook, _ = add_hook(db, "https://a.example.org/hook")
    service.emit(db, event="case.created", payload={})
    service.set_webhook_active(db, webhook_id=hook.id, active=False, actor=ACTOR)
    db.commit()
    with pytest.raises(Conflict, match="activate it first"):
        service.redeliver(db, delivery_id=one_delivery(db).id, actor=ACTOR)


def test_deliver_pending_sends_mail_and_webhooks_in_one_pass(
    db: Session, settings: Settings, receiver: Receiver
) -> None:
    _hook, receiver.secret = add_hook(db, receiver.url)
    service.emit(db, event="case.created", payload={})
    service.queue_email(db, to="a@example.org", subject="s", body="b")
    db.commit()
    report = service.deliver_pending(db, settings=settings, now=soon())
    db.commit()
    assert report.email.logged == 1
    assert report.webhooks.delivered == 1
    assert report.describe() == (
        "E-mail: 0 sent, 1 logged, 0 to retry, 0 failed. "
        "Webhooks: 1 delivered, 0 to retry, 0 failed."
    )


# --- management ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/hook", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("example.org/hook", "must start with http:// or https://"),
        ("https://", "must start with http:// or https://"),
        ("https://example.org:port/x", "is not a valid URL"),
        ("https://user:pw@example.org/x", "no user name or password"),
        ("https://example.org/a b", "without spaces"),
    ],
)
def test_webhook_url_must_be_http_or_https(db: Session, url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        service.create_webhook(db, name="x", url=url, actor=ACTOR)
    assert db.scalar(select(func.count()).select_from(Webhook)) == 0


def test_webhook_name_and_patterns_are_checked(db: Session) -> None:
    with pytest.raises(InvalidInput, match="name of 1 to 200"):
        service.create_webhook(db, name="  ", url="https://a.example.org", actor=ACTOR)
    with pytest.raises(InvalidInput, match="is not an event pattern"):
        service.create_webhook(
            db, name="x", url="https://a.example.org", events=["case/*"], actor=ACTOR
        )
    hook, _ = service.create_webhook(
        db, name="x", url=" https://a.example.org ", events=[" case.* ", "case.*", ""], actor=ACTOR
    )
    assert (hook.url, hook.events) == ("https://a.example.org", ["case.*"])
    assert service.split_patterns("case.*, sensor.alert  dataset.*") == [
        "case.*",
        "sensor.alert",
        "dataset.*",
    ]


def test_webhook_changes_are_audited_without_the_secret(db: Session) -> None:
    hook, secret = add_hook(db, "https://a.example.org/hook")
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    service.set_webhook_active(db, webhook_id=hook.id, active=False, actor=ACTOR)
    service.delete_webhook(db, webhook_id=hook.id, actor=ACTOR)
    db.commit()
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "webhook").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == [
        "notify.webhook.create",
        "notify.webhook.deactivate",
        "notify.webhook.delete",
    ]
    everything = json.dumps([[e.summary, e.before, e.after] for e in entries])
    assert secret not in everything
    with pytest.raises(NotFound, match="No webhook has the id"):
        service.get_webhook(db, webhook_id=hook.id)


def test_deleting_a_webhook_removes_its_deliveries(db: Session) -> None:
    hook, _ = add_hook(db, "https://a.example.org/hook")
    service.emit(db, event="case.created", payload={})
    db.commit()
    service.delete_webhook(db, webhook_id=hook.id, actor=ACTOR)
    db.commit()
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_listing_filters_by_webhook_and_status_and_checks_them(db: Session) -> None:
    first, _ = add_hook(db, "https://a.example.org/hook")
    second, _ = add_hook(db, "https://b.example.org/hook", ["case.closed"])
    service.emit(db, event="case.created", payload={})
    service.emit(db, event="case.closed", payload={})
    db.commit()
    assert len(service.list_deliveries(db)) == 3
    assert len(service.list_deliveries(db, webhook_id=second.id)) == 1
    assert len(service.list_deliveries(db, status="pending", limit=2)) == 2
    assert service.list_deliveries(db, status="delivered") == []
    with pytest.raises(InvalidInput, match="use one of: pending, delivered, failed"):
        service.list_deliveries(db, status="lost")
    with pytest.raises(NotFound):
        service.list_deliveries(db, webhook_id=first.id + second.id + 1)
    with pytest.raises(InvalidInput, match="use one of: pending, sent, logged, failed"):
        service.list_outbox(db, status="delivered")
