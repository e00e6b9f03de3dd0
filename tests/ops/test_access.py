"""Only operators and admins use the ops API: anonymous callers get 401, other roles 403 —
on every endpoint, reads and actions alike."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.ops.api import router
from tests.cases.conftest import city, services
from tests.conftest import csrf_from, login
from tests.ops.ops_support import OPERATOR_EMAIL, api_key, operator

__all__ = ["city", "operator", "services"]

SAMPLE = {"layer": "areas", "name": "top_categories", "alert_id": "1"}
ENDPOINTS = sorted(
    (method, route.path.format(**SAMPLE))
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in route.methods or ()
)


def test_every_endpoint_is_listed() -> None:
    assert len(ENDPOINTS) == 7
    assert ("POST", "/api/ops/dispatch") in ENDPOINTS


def test_anonymous_callers_get_401_and_staff_get_403_everywhere(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    csrf = {"x-csrf-token": csrf_from(client.get("/login").text)}  # so writes reach the check
    staff = api_key(db, "staff.cmb@example.org")
    for method, path in ENDPOINTS:
        anonymous = client.request(method, path, headers=csrf, json={})
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert "Sign in" in anonymous.json()["error"]["message"]
        refused = client.request(method, path, headers=staff, json={})
        assert refused.status_code == 403, (path, refused.text)
        assert "operator" in refused.json()["error"]["message"]


def test_operators_signed_in_in_the_browser_and_admins_get_through(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    assert login(client, OPERATOR_EMAIL).status_code == 303
    assert client.get("/api/ops/summary").status_code == 200
    csrf = {"x-csrf-token": csrf_from(client.get("/login").text)}
    note = {"target_type": "area", "target_ref": "TC", "text": "Shift change"}
    assert client.post("/api/ops/notes", json=note, headers=csrf).status_code == 201
    admin = api_key(db, "admin@example.org")
    assert client.get("/api/ops/layers/areas", headers=admin).status_code == 200
