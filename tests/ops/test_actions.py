"""Operator actions: acknowledging an alert and dispatching a case from an alert or from the
map; audited, and refused with what to fix (nothing half-written) on bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.cases import service as cases_service
from cityos.cases.models import CaseSource
from cityos.db import utcnow
from cityos.sensing import service as sensing_service
from tests.cases.conftest import WEST_POINT, city, services
from tests.ops.ops_support import audit_actions, case_count, error_of, operator
from tests.sensing.alerts_support import feed, make_gauge, make_rule

__all__ = ["city", "operator", "services"]


@pytest.fixture
def alert_id(db: Session, operator: dict[str, str]) -> int:
    """An active alert on a gauge in TC-W-S whose rule names the FLOODING category."""
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, case_category="FLOODING")
    feed(db, gauge.datastream_id, [30], start=utcnow())
    db.commit()
    [alert] = sensing_service.list_alerts(db).alerts
    return alert.id


def test_acknowledging_an_alert_once_returns_it_and_is_audited(
    client: TestClient, operator: dict[str, str], db: Session, alert_id: int
) -> None:
    url = f"/api/ops/alerts/{alert_id}/acknowledge"
    response = client.post(url, headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == alert_id
    assert response.json()["acknowledged_at"]
    assert "already acknowledged" in error_of(client.post(url, headers=operator), 409)
    assert audit_actions(db, "sensing.alert.acknowledge") == ["sensing.alert.acknowledge"]
    missing = client.post("/api/ops/alerts/999/acknowledge", headers=operator)
    assert "There is no alert 999" in error_of(missing, 404)


def test_dispatching_from_an_alert_opens_a_staff_case_at_the_sensor_and_links_it(
    client: TestClient, operator: dict[str, str], db: Session, alert_id: int
) -> None:
    response = client.post("/api/ops/dispatch", json={"alert_id": alert_id}, headers=operator)
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    assert response.json()["url"] == f"/staff/cases/{case_id}"
    db.expire_all()
    case = cases_service.get_case(db, case_id=case_id)
    assert (case.source, case.source_ref) == (CaseSource.STAFF, f"sensing-alert:{alert_id}")
    assert (case.lon, case.lat) == WEST_POINT
    assert case.category.service_code == "FLOODING"
    assert sensing_service.get_alert(db, alert_id=alert_id).case_id == case_id
    assert audit_actions(db, "ops.dispatch") == ["ops.dispatch"]
    assert audit_actions(db, "sensing.alert.link_case") == ["sensing.alert.link_case"]
    again = client.post("/api/ops/dispatch", json={"alert_id": alert_id}, headers=operator)
    assert f"already has case {case_id}" in error_of(again, 409)
    assert case_count(db) == 1


def test_dispatching_from_the_map_opens_a_case_there(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    body = {"lon": 120.12, "lat": 30.22, "service_code": "NOISE", "description": "Loud works"}
    response = client.post("/api/ops/dispatch", json=body, headers=operator)
    assert response.status_code == 201, response.text
    case = cases_service.get_case(db, case_id=response.json()["case_id"])
    assert (case.description, case.source) == ("Loud works", CaseSource.STAFF)
    assert audit_actions(db, "cases.case.open") == ["cases.case.open"]


BAD_DISPATCHES = [
    ({"service_code": "NOISE"}, 400, "missing: lon, lat"),
    ({"lon": 120.07, "lat": 30.17, "service_code": "GRAFFITI"}, 400, "GRAFFITI"),
    ({"lon": 121.5, "lat": 31.2, "service_code": "NOISE"}, 400, "outside"),
    ({"alert_id": 999}, 404, "There is no alert 999"),
]


def test_each_bad_dispatch_is_refused_with_what_to_fix_and_opens_nothing(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    for body, status, message in BAD_DISPATCHES:
        response = client.post("/api/ops/dispatch", json=body, headers=operator)
        assert message in error_of(response, status), body
    assert case_count(db) == 0
    assert audit_actions(db, "ops.dispatch") == []
