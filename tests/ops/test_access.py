"""Only operators and admins use the ops API: anonymous callers get 401, other roles 403 —
on every endpoint, reads and actions alike."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.ops.api import router
from cityos.sensing import service as sensing_service
from tests.cases.conftest import city, services
from tests.conftest import csrf_from, login
from tests.ops.ops_support import OPERATOR_EMAIL, api_key, audit_actions, case_count, operator
from tests.sensing.alerts_support import feed, make_gauge, make_rule

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


def test_actions_from_a_signed_in_browser_need_the_csrf_token(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, case_category="FLOODING")
    feed(db, gauge.datastream_id, [30], start=utcnow())
    db.commit()
    [alert] = sensing_service.list_alerts(db).alerts
    assert login(client, OPERATOR_EMAIL).status_code == 303
    token = csrf_from(client.get("/login").text)
    actions = [
        ("/api/ops/notes", {"target_type": "area", "target_ref": "TC", "text": "Crew out"}, 201),
        ("/api/ops/dispatch", {"alert_id": alert.id}, 201),
        (f"/api/ops/alerts/{alert.id}/acknowledge", None, 200),
    ]
    for path, body, _status in actions:
        for headers in ({}, {"x-csrf-token": "forged"}, {"x-csrf-token": ""}):
            refused = client.post(path, json=body, headers=headers)
            assert refused.status_code == 403, (path, headers, refused.text)
            assert "CSRF check" in refused.json()["error"]["message"]
    assert case_count(db) == 0  # nothing was done
    assert audit_actions(db, "ops.") == audit_actions(db, "sensing.alert.") == []
    for path, body, status in actions:
        accepted = client.post(path, json=body, headers={"x-csrf-token": token})
        assert accepted.status_code == status, (path, accepted.text)
    assert case_count(db) == 1
    db.expire_all()
    assert sensing_service.get_alert(db, alert_id=alert.id).acknowledged_at is not None
