from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.audit.service import Actor
from cityos.auth.models import User
from cityos.notify import service
from cityos.notify.models import DeliveryStatus, Webhook, WebhookDelivery
from tests.conftest import csrf_from, login
from tests.notify.conftest import free_port, soon

HTML = {"accept": "text/html"}
ACTOR = Actor.system("test")


def secret_on(html: str) -> str | None:
    match = re.search(r'data-testid="new-secret">([^<]+)<', html)
    return match.group(1) if match else None


def test_admin_adds_a_webhook_in_the_form_and_sees_the_secret_once(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/webhooks", headers=HTML)
    assert page.status_code == 200
    assert 'href="/admin/webhooks"' in page.text
    assert 'href="/admin/outbox"' in page.text
    added = client.post(
        "/admin/webhooks",
        data={
            "name": "Work orders",
            "url": "https://wo.example.org/cityos",
            "events": "case.*, sensor.alert",
            "csrf_token": csrf_from(page.text),
        },
        headers=HTML,
    )
    assert added.status_code == 200
    secret = secret_on(added.text)
    assert secret is not None
    assert secret.startswith("whsec_")
    assert "Webhook Work orders added." in added.text
    hook = db.scalars(select(Webhook)).one()
    assert (hook.secret, hook.events) == (secret, ["case.*", "sensor.alert"])
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "notify.webhook.create")).one()
    assert entry.actor_label == "admin@example.org"

    again = client.get("/admin/webhooks", headers=HTML)
    assert "https://wo.example.org/cityos" in again.text
    assert secret not in again.text


def test_the_form_refuses_a_non_http_url_and_keeps_what_was_typed(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/webhooks", headers=HTML)
    refused = client.post(
        "/admin/webhooks",
        data={"name": "Bad", "url": "javascript:alert(1)", "csrf_token": csrf_from(page.text)},
        headers=HTML,
    )
    assert refused.status_code == 400
    assert "must start with http:// or https://" in refused.text
    assert 'value="Bad"' in refused.text
    assert secret_on(refused.text) is None
    assert db.scalars(select(Webhook)).all() == []


def test_the_form_needs_the_csrf_token(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    response = client.post(
        "/admin/webhooks", data={"name": "x", "url": "https://a.example.org"}, headers=HTML
    )
    assert response.status_code == 403
    assert db.scalars(select(Webhook)).all() == []


def test_admin_pauses_activates_and_deletes_a_webhook(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    hook, _ = service.create_webhook(db, name="A", url="https://a.example.org/h", actor=ACTOR)
    db.commit()
    login(client, "admin@example.org")
    token = csrf_from(client.get("/admin/webhooks", headers=HTML).text)
    paused = client.post(
        f"/admin/webhooks/{hook.id}/active",
        data={"active": "false", "csrf_token": token},
        follow_redirects=False,
    )
    assert paused.status_code == 303
    db.expire_all()
    assert service.get_webhook(db, webhook_id=hook.id).is_active is False
    page = client.get("/admin/webhooks", headers=HTML)
    assert f'data-testid="activate-{hook.id}"' in page.text
    client.post(f"/admin/webhooks/{hook.id}/active", data={"active": "true", "csrf_token": token})
    db.expire_all()
    assert service.get_webhook(db, webhook_id=hook.id).is_active is True

    deleted = client.post(
        f"/admin/webhooks/{hook.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert service.list_webhooks(db) == []
    path = f"/admin/webhooks/{hook.id}/delete"
    gone = client.post(path, data={"csrf_token": token}, headers=HTML)
    assert gone.status_code == 404


def test_recent_deliveries_show_status_attempts_and_error_and_can_be_redelivered(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    service.create_webhook(db, name="Down", url=f"http://127.0.0.1:{free_port()}/h", actor=ACTOR)
    service.emit(db, event="case.created", payload={"id": 1})
    db.commit()
    service.deliver_webhooks(db, now=soon(), timeout=5)
    db.commit()
    delivery = db.scalars(select(WebhookDelivery)).one()
    login(client, "admin@example.org")
    page = client.get("/admin/webhooks", headers=HTML)
    table = page.text.split('data-testid="deliveries"')[1]
    assert "case.created" in table
    assert "Pending" in table
    assert "next attempt" in table
    assert "cannot reach 127.0.0.1" in table
    assert f'data-testid="redeliver-{delivery.id}"' in table

    redelivered = client.post(
        f"/admin/deliveries/{delivery.id}/redeliver",
        data={"csrf_token": csrf_from(page.text)},
        headers=HTML,
    )
    assert redelivered.status_code == 200
    assert f"Delivery {delivery.id} will be sent again" in redelivered.text
    db.expire_all()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    filtered = client.get("/admin/webhooks?status=delivered", headers=HTML)
    assert "case.created" not in filtered.text.split('data-testid="deliveries"')[1]
    assert client.get("/admin/webhooks?webhook=abc", headers=HTML).status_code == 400


def test_outbox_page_lists_email_with_the_body_behind_the_subject(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    service.queue_email(
        db, to="resident@example.org", subject="<b>受理</b>", body="Body <script>x</script>"
    )
    db.commit()
    login(client, "admin@example.org")
    page = client.get("/admin/outbox", headers=HTML)
    assert page.status_code == 200
    table = page.text.split('data-testid="outbox"')[1]
    assert "resident@example.org" in table
    assert "<details><summary>&lt;b&gt;受理&lt;/b&gt;</summary>" in table
    assert "Body &lt;script&gt;x&lt;/script&gt;" in table
    assert "<script>x" not in page.text
    assert "Pending" in table
    empty = client.get("/admin/outbox?status=sent", headers=HTML)
    assert "resident@example.org" not in empty.text


def test_pages_are_translated_into_chinese(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    chinese = {**HTML, "accept-language": "zh-CN"}
    assert "Webhook 推送" in client.get("/admin/webhooks", headers=chinese).text
    assert "邮件发件箱" in client.get("/admin/outbox", headers=chinese).text


def test_staff_cannot_see_the_notify_pages(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "staff.cmb@example.org")
    home = client.get("/", headers=HTML)
    assert "/admin/webhooks" not in home.text
    for path in ("/admin/webhooks", "/admin/outbox"):
        assert client.get(path, headers=HTML).status_code == 403
    token = csrf_from(home.text)
    response = client.post(
        "/admin/webhooks",
        data={"name": "x", "url": "https://a.example.org", "csrf_token": token},
        headers=HTML,
    )
    assert response.status_code == 403
    assert service.list_webhooks(db) == []
    client.cookies.clear()
    anonymous = client.get("/admin/webhooks", headers=HTML, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
