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


def raise_alert(db: Session, *, case_category: str | None) -> int:
    """An active alert on a gauge in TC-W-S whose rule names ``case_category`` (or none)."""
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, case_category=case_category)
    feed(db, gauge.datastream_id, [30], start=utcnow())
    db.commit()
    [alert] = sensing_service.list_alerts(db).alerts
    return alert.id


@pytest.fixture
def alert_id(db: Session, operator: dict[str, str]) -> int:
    """An active alert on a gauge in TC-W-S whose rule names the FLOODING category."""
    return raise_alert(db, case_category="FLOODING")


@pytest.fixture
def plain_alert_id(db: Session, operator: dict[str, str]) -> int:
    """An active alert on a gauge in TC-W-S whose rule names no case category."""
    return raise_alert(db, case_category=None)


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


def test_dispatching_at_a_map_point_needs_no_answers_to_required_attributes(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    body = {"lon": 120.07, "lat": 30.17, "service_code": "POTHOLE", "description": "Deep hole"}
    response = client.post("/api/ops/dispatch", json=body, headers=operator)
    assert response.status_code == 201, response.text  # POTHOLE's "size" is required
    case = cases_service.get_case(db, case_id=response.json()["case_id"])
    assert (case.category.service_code, case.attributes) == ("POTHOLE", {})
    answered = body | {"attributes": {"size": "large", "depth_cm": "12"}}
    response = client.post("/api/ops/dispatch", json=answered, headers=operator)
    assert response.status_code == 201, response.text
    case = cases_service.get_case(db, case_id=response.json()["case_id"])
    assert case.attributes == {"size": "large", "depth_cm": 12}


def test_dispatching_from_an_alert_whose_rule_names_no_category_takes_the_chosen_one(
    client: TestClient, operator: dict[str, str], db: Session, plain_alert_id: int
) -> None:
    body = {"alert_id": plain_alert_id, "service_code": "POTHOLE"}
    response = client.post("/api/ops/dispatch", json=body, headers=operator)
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    db.expire_all()
    assert cases_service.get_case(db, case_id=case_id).category.service_code == "POTHOLE"
    assert sensing_service.get_alert(db, alert_id=plain_alert_id).case_id == case_id
    assert audit_actions(db, "sensing.alert.link_case") == ["sensing.alert.link_case"]


def test_an_alert_whose_rule_names_no_category_asks_to_choose_one(
    client: TestClient, operator: dict[str, str], db: Session, plain_alert_id: int
) -> None:
    response = client.post("/api/ops/dispatch", json={"alert_id": plain_alert_id}, headers=operator)
    assert "choose a category" in error_of(response, 400)
    assert case_count(db) == 0
    assert sensing_service.get_alert(db, alert_id=plain_alert_id).case_id is None


def test_a_bad_attribute_value_that_is_sent_is_refused_and_nothing_is_written(
    client: TestClient, operator: dict[str, str], db: Session, alert_id: int
) -> None:
    bad = [
        {"service_code": "POTHOLE", "attributes": {"size": "huge"}},
        {"service_code": "POTHOLE", "attributes": {"depth_cm": "deep"}},
        {"service_code": "POTHOLE", "attributes": {"colour": "red"}},
    ]
    messages = ["'huge' is not a value of attribute size", "must be a number", "no attribute"]
    for extra, message in zip(bad, messages, strict=True):
        at_point = {"lon": 120.07, "lat": 30.17} | extra
        response = client.post("/api/ops/dispatch", json=at_point, headers=operator)
        assert message in error_of(response, 400), extra
        from_alert = {"alert_id": alert_id} | extra
        response = client.post("/api/ops/dispatch", json=from_alert, headers=operator)
        assert message in error_of(response, 400), extra
    assert case_count(db) == 0
    assert audit_actions(db, "ops.dispatch") == []
    assert audit_actions(db, "sensing.alert.link_case") == []
    assert sensing_service.get_alert(db, alert_id=alert_id).case_id is None


def test_an_alert_id_that_is_not_a_database_id_is_refused_naming_the_field(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    for bad, message in [
        (0, "greater than or equal to 1"),
        (-3, "greater than or equal to 1"),
        (2**31, "less than or equal to 2147483647"),
        (2**63, "less than or equal to 2147483647"),
        ("twelve", "valid integer"),
    ]:
        response = client.post("/api/ops/dispatch", json={"alert_id": bad}, headers=operator)
        text = error_of(response, 422)
        assert text.startswith("alert_id: "), (bad, text)
        assert message in text, (bad, text)
    assert case_count(db) == 0
