from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.errors import Conflict, InvalidInput
from tests.conftest import PASSWORD, login

HTML = {"accept": "text/html"}


def test_staff_of_one_department_is_denied_another_departments_page(
    client: TestClient, people: dict[str, User]
) -> None:
    login(client, "staff.cmb@example.org")
    own = client.get("/admin/departments/CMB", headers=HTML)
    assert own.status_code == 200
    assert "staff.cmb@example.org" in own.text
    other = client.get("/admin/departments/WATER", headers=HTML)
    assert other.status_code == 403
    assert "your own department" in other.text


def test_admin_sees_every_department_page(client: TestClient, people: dict[str, User]) -> None:
    login(client, "admin@example.org")
    for code in ("CMB", "WATER"):
        assert client.get(f"/admin/departments/{code}", headers=HTML).status_code == 200


def test_staff_is_denied_admin_only_pages_and_api(
    client: TestClient, people: dict[str, User]
) -> None:
    login(client, "staff.water@example.org")
    for path in ("/admin/users", "/admin/departments", "/admin/audit"):
        assert client.get(path, headers=HTML).status_code == 403
    response = client.get("/api/auth/users")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This needs the admin role."


def test_anonymous_visitor_is_sent_to_login_from_pages_and_gets_401_from_the_api(
    client: TestClient, people: dict[str, User]
) -> None:
    page = client.get("/admin/departments/CMB", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
    assert client.get("/api/auth/me").status_code == 401


def test_deactivated_user_cannot_sign_in(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    admin = people["admin"]
    auth_service.update_user(
        db,
        user_id=people["cmb"].id,
        display_name="",
        roles=["staff"],
        department_code="CMB",
        is_active=False,
        actor=Actor(user_id=admin.id, label=admin.email),
    )
    db.commit()
    assert login(client, "staff.cmb@example.org").status_code == 401


def test_user_validation_gives_clear_errors(db: Session, people: dict[str, User]) -> None:
    actor = Actor.system("test")
    with pytest.raises(InvalidInput, match="not a valid email"):
        auth_service.create_user(db, email="not-an-email", password=PASSWORD, actor=actor)
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        auth_service.create_user(db, email="a@example.org", password="short", actor=actor)
    with pytest.raises(InvalidInput, match="Unknown role 'mayor'"):
        auth_service.create_user(
            db, email="a@example.org", password=PASSWORD, roles=["mayor"], actor=actor
        )
    with pytest.raises(Conflict, match="already exists"):
        auth_service.create_user(db, email="ADMIN@example.org", password=PASSWORD, actor=actor)


def test_admin_creates_a_user_in_the_web_form(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/users")
    from tests.conftest import csrf_from

    response = client.post(
        "/admin/users",
        data={
            "email": "new.staff@example.org",
            "password": PASSWORD,
            "display_name": "New Staff",
            "department": "WATER",
            "roles": ["staff", "analyst"],
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 200
    user = auth_service.get_user_by_email(db, email="new.staff@example.org")
    assert sorted(user.roles) == ["analyst", "staff"]
    assert user.department is not None
    assert user.department.code == "WATER"
