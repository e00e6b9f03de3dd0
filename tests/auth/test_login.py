from __future__ import annotations

from fastapi.testclient import TestClient

from cityos.auth.models import User
from tests.conftest import PASSWORD, csrf_from, login


def test_login_opens_a_session_and_logout_ends_it(
    client: TestClient, people: dict[str, User]
) -> None:
    response = login(client, "admin@example.org")
    assert response.status_code == 303
    cookie = response.cookies.get("cityos_session")
    assert cookie
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=lax" in response.headers["set-cookie"].lower()
    assert client.get("/api/auth/me").json()["email"] == "admin@example.org"

    home = client.get("/")
    client.post("/logout", data={"csrf_token": csrf_from(home.text)})
    client.cookies.set("cityos_session", cookie)  # replaying the old cookie does not work
    assert client.get("/api/auth/me").status_code == 401


def test_wrong_password_is_refused_with_a_clear_message(
    client: TestClient, people: dict[str, User]
) -> None:
    response = login(client, "admin@example.org", "not the password")
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
    assert client.get("/api/auth/me").status_code == 401


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(
    client: TestClient, people: dict[str, User]
) -> None:
    response = login(client, "nobody@example.org", PASSWORD)
    assert response.status_code == 401
    assert "Wrong email or password" in response.text


def test_failed_logins_are_rate_limited_even_with_the_right_password(
    client: TestClient, people: dict[str, User]
) -> None:
    for _ in range(5):
        assert login(client, "admin@example.org", "guess").status_code == 401
    blocked = login(client, "admin@example.org", PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in blocked.text


def test_login_without_csrf_token_is_refused(client: TestClient, people: dict[str, User]) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert response.status_code == 403
    assert "security token" in response.json()["error"]["message"]


def test_form_with_a_forged_csrf_token_is_refused(
    client: TestClient, people: dict[str, User]
) -> None:
    login(client, "admin@example.org")
    response = client.post(
        "/admin/departments",
        data={"code": "X", "name_zh": "某局", "name_en": "X", "csrf_token": "0" * 64},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 403
    assert "security token" in response.text
    assert "X" not in [row["code"] for row in client.get("/api/auth/departments").json()]


def test_after_login_the_user_returns_to_the_page_asked_for(
    client: TestClient, people: dict[str, User]
) -> None:
    page = client.get("/admin/users", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/admin/users"
    form = client.get(page.headers["location"])
    assert 'name="next" value="/admin/users"' in form.text
    response = client.post(
        "/login",
        data={
            "email": "admin@example.org",
            "password": PASSWORD,
            "next": "/admin/users",
            "csrf_token": csrf_from(form.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin/users"


def test_login_never_redirects_to_another_site(client: TestClient, people: dict[str, User]) -> None:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": "admin@example.org",
            "password": PASSWORD,
            "next": "//evil.example.com/",
            "csrf_token": csrf_from(form.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
