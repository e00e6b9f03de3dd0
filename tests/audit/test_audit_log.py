from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.auth.models import User
from tests.conftest import csrf_from, login


def test_every_write_through_the_web_lands_in_the_audit_log_with_who_and_what(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/departments")
    client.post(
        "/admin/departments",
        data={
            "code": "PARKS",
            "name_zh": "园林局",
            "name_en": "Parks",
            "csrf_token": csrf_from(page.text),
        },
    )
    entry = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "auth.department.create")
        .where(AuditEntry.entity_id == "PARKS")
    ).one()
    assert entry.actor_label == "admin@example.org"
    assert entry.actor_user_id == people["admin"].id
    assert entry.after == {"code": "PARKS", "name_zh": "园林局", "name_en": "Parks", "parent": None}
    assert entry.at is not None
    assert entry.at.tzinfo is not None


def test_admin_reads_the_audit_log_as_a_page_and_as_json(
    client: TestClient, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/audit?action=auth.user", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "staff.cmb@example.org" in page.text
    data = client.get("/api/audit", params={"action": "auth.login"}).json()
    assert data["total"] >= 1
    assert data["entries"][0]["actor_label"] == "admin@example.org"


def test_audit_log_refuses_updates_and_deletes(db: Session, people: dict[str, User]) -> None:
    assert db.scalar(select(AuditEntry.id).limit(1)) is not None
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("UPDATE audit_log SET summary = 'rewritten'"))
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("DELETE FROM audit_log"))
    db.rollback()
