from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import ApiKey, User
from cityos.db import utcnow
from cityos.errors import InvalidInput

ACTOR = Actor.system("test")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_api_key_authenticates_and_is_stored_only_as_a_hash(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    _key, raw = auth_service.create_api_key(db, user=people["cmb"], name="sensor", actor=ACTOR)
    db.commit()
    response = client.get("/api/auth/me", headers=bearer(raw))
    assert response.status_code == 200
    assert response.json()["email"] == "staff.cmb@example.org"
    stored = db.scalars(select(ApiKey)).one()
    assert raw not in (stored.key_hash, stored.prefix)
    assert stored.key_hash != raw
    assert len(stored.key_hash) == 64


def test_revoked_api_key_is_refused_with_the_reason(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    key, raw = auth_service.create_api_key(db, user=people["cmb"], name="old", actor=ACTOR)
    auth_service.revoke_api_key(db, key_id=key.id, actor=ACTOR)
    db.commit()
    response = client.get("/api/auth/me", headers=bearer(raw))
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_expired_api_key_is_refused_with_the_reason(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    key, raw = auth_service.create_api_key(
        db, user=people["cmb"], name="short", expires_at=utcnow() + timedelta(days=1), actor=ACTOR
    )
    key.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    response = client.get("/api/auth/me", headers=bearer(raw))
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_malformed_and_unknown_api_keys_are_refused(
    client: TestClient, people: dict[str, User]
) -> None:
    malformed = client.get("/api/auth/me", headers=bearer("letmein"))
    assert malformed.status_code == 401
    assert "Malformed API key" in malformed.json()["error"]["message"]
    unknown = client.get("/api/auth/me", headers=bearer("cos_abcdefgh_" + "x" * 43))
    assert unknown.status_code == 401
    assert "Unknown API key" in unknown.json()["error"]["message"]


def test_key_created_over_the_api_is_shown_once_and_can_be_revoked(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    _admin_key, admin_raw = auth_service.create_api_key(
        db, user=people["admin"], name="admin", actor=ACTOR
    )
    db.commit()
    created = client.post(
        "/api/auth/api-keys",
        json={"name": "integration", "user_email": "staff.water@example.org"},
        headers=bearer(admin_raw),
    )
    assert created.status_code == 201
    raw = created.json()["key"]
    assert client.get("/api/auth/me", headers=bearer(raw)).json()["email"] == (
        "staff.water@example.org"
    )
    listed = client.get("/api/auth/api-keys", headers=bearer(raw)).json()
    assert all("key" not in item for item in listed)
    revoked = client.delete(f"/api/auth/api-keys/{created.json()['id']}", headers=bearer(raw))
    assert revoked.status_code == 200
    assert client.get("/api/auth/me", headers=bearer(raw)).status_code == 401


def test_api_key_expiry_in_the_past_is_refused(db: Session, people: dict[str, User]) -> None:
    with pytest.raises(InvalidInput, match="must be in the future"):
        auth_service.create_api_key(
            db, user=people["cmb"], name="x", expires_at=utcnow() - timedelta(days=1), actor=ACTOR
        )
    assert db.scalars(select(ApiKey)).all() == []
