"""Alert actions: cases opened at the sensor and updated on clearing, e-mails, webhooks, live
events after commit, acknowledging (API, roles, audit), and the assessment figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.models import AuditEntry
from cityos.auth import service as auth_service
from cityos.cases import service as cases_service
from cityos.cases.models import Case, CaseSource
from cityos.notify.models import OutboxMessage
from cityos.sensing import rules, service
from cityos.sensing.models import Alert, AlertState
from tests.cases.conftest import CatalogFixture, city, services
from tests.sensing.alerts_support import (
    ACTOR,
    EAST_NORTH,
    MIN,
    OUTSIDE,
    T0,
    WEST_SOUTH,
    feed,
    make_gauge,
    make_rule,
)

__all__ = ["city", "services"]


def only_alert(db: Session) -> Alert:
    [alert] = db.scalars(select(Alert)).all()
    return alert


def department_of(db: Session, case: Case) -> str:
    assert case.department_id is not None
    return auth_service.get_department_by_id(db, department_id=case.department_id).code


def flood_rule(db: Session, datastream_id: int, **fields: Any) -> None:
    make_rule(
        db,
        name="Street flooding",
        datastream_id=datastream_id,
        threshold=20,
        clear_threshold=10,
        open_case=True,
        case_category="FLOODING",
        **fields,
    )


def test_water_over_20_cm_opens_a_drainage_case_at_the_sensor_routed_like_any_case(
    db: Session, services: CatalogFixture
) -> None:
    gauge = make_gauge(db, WEST_SOUTH)
    flood_rule(db, gauge.datastream_id)
    feed(db, gauge.datastream_id, [12, 24, 31])
    alert = only_alert(db)
    assert alert.case_id is not None
    case = cases_service.get_case(db, case_id=alert.case_id)
    assert case.source == CaseSource.SENSOR
    assert case.source_ref == f"sensing-alert:{alert.id}"
    assert (case.lon, case.lat) == WEST_SOUTH
    assert department_of(db, case) == "WATER"  # the city-wide FLOODING rule
    assert "Street flooding" in case.description


def test_the_case_follows_the_routing_rules_of_the_sensors_area(
    db: Session, services: CatalogFixture
) -> None:
    gauge = make_gauge(db, EAST_NORTH)
    flood_rule(db, gauge.datastream_id)
    feed(db, gauge.datastream_id, [25])
    alert = only_alert(db)
    assert alert.case_id is not None
    case = cases_service.get_case(db, case_id=alert.case_id)
    assert department_of(db, case) == "CMB"  # the finer rule for TC-E-N


def test_clearing_the_alert_adds_a_public_update_to_its_case(
    db: Session, services: CatalogFixture
) -> None:
    gauge = make_gauge(db)
    flood_rule(db, gauge.datastream_id)
    feed(db, gauge.datastream_id, [25, 15])  # 15 is not back to 10: still flooding
    alert = only_alert(db)
    assert alert.case_id is not None
    case = cases_service.get_case(db, case_id=alert.case_id)
    assert [u.kind for u in cases_service.history(db, case=case, public_only=False)] == [
        "submitted"
    ]
    feed(db, gauge.datastream_id, [8], start=T0 + 2 * MIN)
    assert alert.state == AlertState.CLEARED
    updates = cases_service.history(db, case=case, public_only=True)
    assert [u.kind for u in updates] == ["submitted", "note"]
    assert "cleared" in updates[-1].note
    assert "latest reading 8" in updates[-1].note


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"enabled": False}, "disabled by an operator"),
        ({"threshold": 25}, "changed by an operator"),
    ],
)
def test_disabling_or_changing_a_rule_notes_its_case_internally_not_as_back_to_normal(
    db: Session, services: CatalogFixture, change: dict[str, Any], words: str
) -> None:
    gauge = make_gauge(db)
    flood_rule(db, gauge.datastream_id)
    feed(db, gauge.datastream_id, [25])
    alert = only_alert(db)
    assert alert.case_id is not None
    rule_id = alert.rule_id
    rules.update_rule(db, rule_id=rule_id, changes=change, actor=ACTOR, now=T0 + 5 * MIN)
    assert alert.state == AlertState.CLEARED
    case = cases_service.get_case(db, case_id=alert.case_id)
    public = cases_service.history(db, case=case, public_only=True)
    assert [u.kind for u in public] == ["submitted"]
    internal = cases_service.history(db, case=case, public_only=False)[-1]
    assert words in internal.note
    assert "back to normal" not in internal.note


def test_deleting_a_rule_notes_the_cases_of_its_alerts_first(
    db: Session, services: CatalogFixture
) -> None:
    gauge = make_gauge(db)
    flood_rule(db, gauge.datastream_id)
    feed(db, gauge.datastream_id, [25])
    alert = only_alert(db)
    case_id = alert.case_id
    assert case_id is not None
    rules.delete_rule(db, rule_id=alert.rule_id, actor=ACTOR, now=T0 + 5 * MIN)
    db.expire_all()
    assert db.scalars(select(Alert)).all() == []
    case = cases_service.get_case(db, case_id=case_id)
    last = cases_service.history(db, case=case, public_only=False)[-1]
    assert "deleted by an operator" in last.note


def test_a_sensor_outside_the_city_still_alerts_but_opens_no_case(
    db: Session, services: CatalogFixture
) -> None:
    gauge = make_gauge(db, OUTSIDE)
    flood_rule(db, gauge.datastream_id)
    ids = feed(db, gauge.datastream_id, [30])
    assert ids[0] is not None  # the reading is stored all the same
    alert = only_alert(db)
    assert alert.case_id is None
    assert "no case opened" in alert.message
    assert "outside the city" in alert.message
    assert db.scalars(select(Case)).all() == []


def test_rules_notify_by_e_mail_when_raised_and_cleared(
    db: Session, services: CatalogFixture
) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, notify_emails=["duty@example.org"])
    feed(db, gauge.datastream_id, [30, 5])
    subjects = [m.subject for m in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert subjects == [
        "[warning] sensor alert raised: High water",
        "[warning] sensor alert cleared: High water",
    ]


def test_live_events_are_published_only_after_commit(db: Session, services: CatalogFixture) -> None:
    seen: list[dict[str, Any]] = []
    unsubscribe = events.subscribe("sensing.alert", lambda _topic, payload: seen.append(payload))
    try:
        gauge = make_gauge(db)
        make_rule(db, datastream_id=gauge.datastream_id)
        db.commit()
        feed(db, gauge.datastream_id, [30])
        assert seen == []
        db.rollback()  # nothing happened after all
        db.commit()
        assert seen == []
        feed(db, gauge.datastream_id, [31])
        db.commit()
        assert [(p["datastream"], p["state"]) for p in seen] == [(gauge.datastream_id, "active")]
    finally:
        unsubscribe()


# --- acknowledging through the API ----------------------------------------------------------


def bearer(db: Session, email: str) -> dict[str, str]:
    user = auth_service.get_user_by_email(db, email=email)
    _, raw = auth_service.create_api_key(db, user=user, name="tests", actor=ACTOR)
    db.commit()
    return {"authorization": f"Bearer {raw}"}


@pytest.fixture
def raised(db: Session, services: CatalogFixture) -> Alert:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [30])
    db.commit()
    return only_alert(db)


def test_staff_acknowledge_an_alert_once_and_it_is_audited(
    db: Session, client: TestClient, raised: Alert
) -> None:
    headers = bearer(db, "staff.water@example.org")
    response = client.post(f"/api/sensing/alerts/{raised.id}/acknowledge", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_at"] is not None
    again = client.post(f"/api/sensing/alerts/{raised.id}/acknowledge", headers=headers)
    assert again.status_code == 409
    assert "already acknowledged" in again.json()["error"]["message"]
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "sensing.alert.acknowledge")
    ).all()
    assert [e.entity_id for e in entries] == [str(raised.id)]


def test_acknowledging_needs_a_signed_in_operator_or_staff(
    db: Session, client: TestClient, raised: Alert
) -> None:
    assert client.get(f"/api/sensing/alerts/{raised.id}").status_code == 401
    # without a key, a write is refused before anything else (no CSRF token either)
    assert client.post(f"/api/sensing/alerts/{raised.id}/acknowledge").status_code == 403
    auth_service.create_user(
        db,
        email="analyst@example.org",
        password="correct horse battery",
        roles=["analyst"],
        actor=ACTOR,
    )
    db.commit()
    headers = bearer(db, "analyst@example.org")
    refused = client.post(f"/api/sensing/alerts/{raised.id}/acknowledge", headers=headers)
    assert refused.status_code == 403
    assert client.get("/api/sensing/alerts", headers=headers).status_code == 200  # reads are ok


def test_unknown_alert_is_404(db: Session, client: TestClient, raised: Alert) -> None:
    headers = bearer(db, "admin@example.org")
    response = client.post("/api/sensing/alerts/999999/acknowledge", headers=headers)
    assert response.status_code == 404
    assert "no alert 999999" in response.json()["error"]["message"]


def test_alerts_are_listed_newest_first_with_filters(
    db: Session, client: TestClient, raised: Alert
) -> None:
    headers = bearer(db, "staff.cmb@example.org")
    assert client.get("/api/sensing/alerts").status_code == 401
    body = client.get("/api/sensing/alerts", params={"state": "active"}, headers=headers).json()
    assert body["total"] == 1
    assert body["items"][0]["readings"][0]["v"] == 30
    assert (
        client.get("/api/sensing/alerts", params={"area": "TC-E"}, headers=headers).json()["total"]
        == 0
    )
    bad = client.get("/api/sensing/alerts", params={"state": "asleep"}, headers=headers)
    assert bad.status_code == 400
    assert "not an alert state" in bad.json()["error"]["message"]


def test_rules_are_edited_through_the_api_by_staff(
    db: Session, client: TestClient, services: CatalogFixture
) -> None:
    gauge = make_gauge(db)
    db.commit()
    headers = bearer(db, "staff.cmb@example.org")
    body = {"name": "Flood", "kind": "above", "threshold": 20, "datastream_id": gauge.datastream_id}
    assert client.get("/api/sensing/rules").status_code == 401
    assert client.post("/api/sensing/rules", json=body).status_code == 403
    created = client.post("/api/sensing/rules", json=body, headers=headers)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    patched = client.patch(
        f"/api/sensing/rules/{rule_id}", json={"clear_threshold": 15}, headers=headers
    )
    assert patched.json()["clear_threshold"] == 15
    assert patched.json()["threshold"] == 20
    bad = client.patch(
        f"/api/sensing/rules/{rule_id}", json={"clear_threshold": 25}, headers=headers
    )
    assert bad.status_code == 400
    assert "clear_threshold must be at or below" in bad.json()["error"]["message"]
    listed = client.get("/api/sensing/rules", headers=headers).json()
    assert [r["id"] for r in listed["items"]] == [rule_id]
    assert client.delete(f"/api/sensing/rules/{rule_id}", headers=headers).status_code == 204
    assert client.get(f"/api/sensing/rules/{rule_id}", headers=headers).status_code == 404


# --- the assessment figures -----------------------------------------------------------------


def test_assessment_figures_count_sensors_reporting_and_response_times(
    db: Session, services: CatalogFixture
) -> None:
    west = make_gauge(db, WEST_SOUTH, name="West")
    east = make_gauge(db, EAST_NORTH, name="East")
    make_gauge(db, EAST_NORTH, name="Quiet")  # never reports
    make_gauge(db, OUTSIDE, name="Away")  # not in the city: not counted
    make_rule(db, datastream_id=west.datastream_id)
    feed(db, west.datastream_id, [30])
    feed(db, east.datastream_id, [3])
    alert = only_alert(db)
    service.acknowledge(db, alert_id=alert.id, user_id=None, actor=ACTOR, now=T0 + 12 * MIN)
    figures = service.assessment_metrics(
        db,
        area_codes=[None, "TC-W", "TC-E"],
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=1),
        now=T0 + timedelta(hours=1),
    )
    assert figures[None] == {"sensors": 3.0, "reporting_pct": 66.7, "alert_response_minutes": 12.0}
    assert figures["TC-W"] == {
        "sensors": 1.0,
        "reporting_pct": 100.0,
        "alert_response_minutes": 12.0,
    }
    assert figures["TC-E"] == {
        "sensors": 2.0,
        "reporting_pct": 50.0,
        "alert_response_minutes": None,
    }


def test_a_failed_case_does_not_lose_or_hasten_the_transactions_events(
    db: Session, services: CatalogFixture
) -> None:
    seen: list[dict[str, Any]] = []
    unsubscribe = events.subscribe("sensing.alert", lambda _topic, payload: seen.append(payload))
    try:
        inside = make_gauge(db, WEST_SOUTH, name="Inside")
        outside = make_gauge(db, OUTSIDE, name="Outside")
        flood_rule(db, inside.datastream_id)
        flood_rule(db, outside.datastream_id)
        feed(db, inside.datastream_id, [30])  # opens a case (a savepoint released)
        feed(db, outside.datastream_id, [30])  # its case fails (a savepoint rolled back)
        assert seen == []
        db.commit()
        assert sorted(p["datastream"] for p in seen) == [
            inside.datastream_id,
            outside.datastream_id,
        ]
    finally:
        unsubscribe()
