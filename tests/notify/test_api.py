from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.notify import service
from cityos.notify.models import Webhook

ACTOR = Actor.system("test")


def key_for(db: Session, user: User) -> dict[str, str]:
    _key, raw = auth_service.create_api_key(db, user=user, name="test", actor=ACTOR)
    db.commit()
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def admin(db: Session, people: dict[str, User]) -> dict[str, str]:
    return key_for(db, people["admin"])


def test_admin_manages_webhooks_and_sees_the_secret_only_on_creation(
    client: TestClient, db: Session, admin: dict[str, str]
) -> None:
    body = {"name": "Work orders", "url": "https://wo.example.org/cityos", "events": ["case.*"]}
    created = client.post("/api/notify/webhooks", json=body, headers=admin)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert (hook["name"], hook["events"], hook["is_active"]) == ("Work orders", ["case.*"], True)
    stored = db.get(Webhook, hook["id"])
    assert stored is not None
    assert stored.secret == hook["secret"]

    listed = client.get("/api/notify/webhooks", headers=admin)
    one = client.get(f"/api/notify/webhooks/{hook['id']}", headers=admin)
    assert [h["id"] for h in listed.json()] == [hook["id"]]
    assert hook["secret"] not in listed.text
    assert hook["secret"] not in one.text
    assert "secret" not in one.json()

    paused = client.patch(
        f"/api/notify/webhooks/{hook['id']}", json={"is_active": False}, headers=admin
    )
    assert paused.status_code == 200
    assert paused.json()["is_active"] is False

    deleted = client.delete(f"/api/notify/webhooks/{hook['id']}", headers=admin)
    assert deleted.status_code == 204
    assert client.get(f"/api/notify/webhooks/{hook['id']}", headers=admin).status_code == 404


def test_webhook_events_default_to_every_event(client: TestClient, admin: dict[str, str]) -> None:
    created = client.post(
        "/api/notify/webhooks", json={"name": "All", "url": "http://10.0.0.5/h"}, headers=admin
    )
    assert created.status_code == 201
    assert created.json()["events"] == ["*"]


def test_non_http_url_is_refused_with_a_clear_message(
    client: TestClient, db: Session, admin: dict[str, str]
) -> None:
    response = client.post(
        "/api/notify/webhooks",
        json={"name": "Bad", "url": "ftp://example.org/x", "events": ["*"]},
        headers=admin,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "must start with http:// or https://" in error["message"]
    assert service.list_webhooks(db) == []


def test_unknown_ids_get_404(client: TestClient, admin: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/api/notify/webhooks/999"),
        ("PATCH", "/api/notify/webhooks/999"),
        ("DELETE", "/api/notify/webhooks/999"),
        ("GET", "/api/notify/deliveries?webhook_id=999"),
        ("POST", "/api/notify/deliveries/999/redeliver"),
    ]:
        body = {"is_active": True} if method == "PATCH" else None
        response = client.request(method, path, json=body, headers=admin)
        assert response.status_code == 404, (method, path)
        assert "has the id 999" in response.json()["error"]["message"]


def test_unknown_status_filter_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/api/notify/outbox?status=lost", headers=admin)
    assert response.status_code == 400
    assert "pending, sent, logged, failed" in response.json()["error"]["message"]


def test_non_admins_get_403_and_anonymous_callers_401(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    staff = key_for(db, people["cmb"])
    for method, path in [
        ("GET", "/api/notify/webhooks"),
        ("POST", "/api/notify/webhooks"),
        ("GET", "/api/notify/deliveries"),
        ("GET", "/api/notify/outbox"),
    ]:
        body = {"name": "x", "url": "https://a.example.org"} if method == "POST" else None
        assert client.request(method, path, json=body, headers=staff).status_code == 403, path
        if method == "GET":  # an anonymous POST is stopped by the CSRF check first
            assert client.request(method, path).status_code == 401, path
    assert service.list_webhooks(db) == []


def test_deliveries_can_be_listed_filtered_and_redelivered(
    client: TestClient, db: Session, admin: dict[str, str]
) -> None:
    hook, _ = service.create_webhook(db, name="A", url="https://a.example.org/h", actor=ACTOR)
    service.emit(db, event="case.created", payload={"id": 1})
    service.emit(db, event="case.closed", payload={"id": 1})
    db.commit()
    listed = client.get(f"/api/notify/deliveries?webhook_id={hook.id}", headers=admin).json()
    assert [d["event"] for d in listed] == ["case.closed", "case.created"]
    assert listed[0]["payload"] == {"id": 1}
    assert listed[0]["status"] == "pending"
    limited = client.get("/api/notify/deliveries?limit=1&status=pending", headers=admin)
    assert len(limited.json()) == 1
    again = client.post(f"/api/notify/deliveries/{listed[1]['id']}/redeliver", headers=admin)
    assert again.status_code == 200
    assert again.json()["attempts"] == 0
    assert client.get("/api/notify/deliveries?limit=0", headers=admin).status_code == 422


def test_outbox_lists_recent_email(client: TestClient, db: Session, admin: dict[str, str]) -> None:
    service.queue_email(db, to="a@example.org", subject="您好", body="正文", topic="case.created")
    db.commit()
    [message] = client.get("/api/notify/outbox", headers=admin).json()
    assert (message["to"], message["subject"], message["body"]) == ("a@example.org", "您好", "正文")
    assert message["status"] == "pending"
    assert client.get("/api/notify/outbox?status=sent", headers=admin).json() == []
