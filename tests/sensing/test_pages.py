"""The sensing pages: the public map and datastream pages (restricted sensors hidden), and
the operators' rule editor, alerts (acknowledge) and dead letters, in both languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth.models import User
from cityos.sensing import rules
from cityos.sensing.models import Alert, AlertRule, Datastream, DeadLetter, Thing
from cityos.sensing.readings import Reading
from cityos.sensing.store import store_readings
from tests.conftest import csrf_from, login
from tests.sensing.sim_support import seed_fleet

ACTOR = Actor.system("test")


def readings(db: Session, datastream_id: int, values: list[float]) -> None:
    start = datetime.now(UTC) - timedelta(minutes=len(values))
    batch = [
        Reading(datastream_id, None, start + timedelta(minutes=i), None, value)
        for i, value in enumerate(values)
    ]
    store_readings(db, batch)
    db.commit()


def test_the_map_page_is_public_and_points_at_the_latest_values_api(
    client: TestClient, db: Session
) -> None:
    seed_fleet(db, 6)
    page = client.get("/sensing", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'data-testid="sensor-map"' in page.text
    assert "/api/sensing/latest?format=geojson" in page.text
    assert "Street water level" in page.text
    assert 'href="/sensing/rules"' not in page.text  # operators only
    chinese = client.get("/sensing", headers={"Accept-Language": "zh-CN"})
    assert "传感器地图" in chinese.text
    assert "道路积水水位" in chinese.text


def test_the_map_page_keeps_the_chosen_filters(client: TestClient, db: Session) -> None:
    seed_fleet(db, 6)
    page = client.get("/sensing?observedProperty=1&area=TC-W")
    assert "observedProperty=1" in page.text
    assert "area=TC-W" in page.text
    assert '<option value="TC-W" selected>' in page.text


def test_the_datastream_page_shows_the_latest_reading_and_the_chart(
    client: TestClient, db: Session
) -> None:
    members = seed_fleet(db, 6)
    ident = members[0].datastream_id
    readings(db, ident, [3.0, 4.5])
    page = client.get(f"/sensing/datastreams/{ident}")
    assert page.status_code == 200
    assert f"/api/sensing/datastreams/{ident}/aggregate" in page.text
    assert 'data-testid="latest-value">4.5' in page.text
    assert 'data-testid="alert-table"' not in page.text  # alerts are for operators


def test_a_restricted_sensor_is_hidden_from_visitors_but_shown_to_staff(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    members = seed_fleet(db, 6)
    datastream = db.get(Datastream, members[0].datastream_id)
    assert datastream is not None
    thing = db.get(Thing, datastream.thing_id)
    assert thing is not None
    thing.restricted = True
    db.commit()
    assert client.get(f"/sensing/datastreams/{datastream.id}").status_code == 404
    login(client, "staff.water@example.org")
    assert client.get(f"/sensing/datastreams/{datastream.id}").status_code == 200


def test_an_unknown_datastream_is_not_found(client: TestClient, db: Session) -> None:
    assert client.get("/sensing/datastreams/999999").status_code == 404


def test_the_operator_pages_send_visitors_to_sign_in(client: TestClient) -> None:
    for path in ("/sensing/rules", "/sensing/alerts", "/sensing/dead-letters"):
        response = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login")


def test_staff_create_edit_and_disable_a_rule_through_the_forms(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    members = seed_fleet(db, 6)
    ident = members[0].datastream_id
    login(client, "staff.water@example.org")
    page = client.get("/sensing/rules")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_from(page.text),
        "name": "Underpass flooding",
        "kind": "above",
        "severity": "critical",
        "datastream_id": str(ident),
        "threshold": "20",
        "clear_threshold": "12",
        "duration_minutes": "10",
        "notify_emails": "a@example.org; b@example.org",
        "enabled": "on",
    }
    created = client.post("/sensing/rules", data=form, follow_redirects=False)
    assert created.status_code == 303
    assert created.headers["location"] == "/sensing/rules?notice=created"
    rule = db.scalars(select(AlertRule)).one()
    assert (rule.threshold, rule.clear_threshold, rule.duration_minutes) == (20.0, 12.0, 10.0)
    assert rule.notify_emails == ["a@example.org", "b@example.org"]
    assert "The rule was created." in client.get("/sensing/rules?notice=created").text

    edit = client.get(f"/sensing/rules/{rule.id}")
    assert 'value="Underpass flooding"' in edit.text
    saved = client.post(
        f"/sensing/rules/{rule.id}",
        data={**form, "csrf_token": csrf_from(edit.text), "threshold": "25"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    db.expire_all()
    assert db.get(AlertRule, rule.id).threshold == 25.0  # type: ignore[union-attr]

    toggled = client.post(
        f"/sensing/rules/{rule.id}/toggle",
        data={"csrf_token": csrf_from(edit.text)},
        follow_redirects=False,
    )
    assert toggled.headers["location"] == "/sensing/rules?notice=disabled"
    db.expire_all()
    assert db.get(AlertRule, rule.id).enabled is False  # type: ignore[union-attr]


def test_a_rule_form_with_a_bad_number_is_shown_again_with_the_problem(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    seed_fleet(db, 6)
    login(client, "staff.water@example.org")
    page = client.get("/sensing/rules")
    response = client.post(
        "/sensing/rules",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Bad",
            "kind": "above",
            "datastream_id": "1",
            "threshold": "twenty",
        },
    )
    assert response.status_code == 400
    assert "threshold: &#39;twenty&#39; is not a number." in response.text
    assert 'value="Bad"' in response.text
    assert db.scalars(select(AlertRule)).first() is None


def test_a_rule_the_service_refuses_is_shown_again_with_its_message(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    seed_fleet(db, 6)
    login(client, "staff.water@example.org")
    page = client.get("/sensing/rules")
    response = client.post(
        "/sensing/rules",
        data={"csrf_token": csrf_from(page.text), "name": "No target", "kind": "above"},
    )
    assert response.status_code == 400
    assert 'data-testid="error"' in response.text


def test_a_rule_form_without_the_csrf_token_is_refused(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "staff.water@example.org")
    response = client.post("/sensing/rules", data={"name": "x", "kind": "above"})
    assert response.status_code == 403


def test_staff_see_and_acknowledge_alerts(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    members = seed_fleet(db, 6)
    ident = members[0].datastream_id
    rules.create_rule(
        db,
        data=rules.RuleInput(name="High", kind="above", datastream_id=ident, threshold=10.0),
        actor=ACTOR,
    )
    db.commit()
    readings(db, ident, [15.0, 16.0])
    alert = db.scalars(select(Alert)).one()
    login(client, "staff.water@example.org")
    page = client.get("/sensing/alerts")
    assert page.status_code == 200
    assert page.text.count('data-testid="alert-row"') == 1
    stream = client.get(f"/sensing/datastreams/{ident}")
    assert 'data-testid="alert-row"' in stream.text
    done = client.post(
        f"/sensing/alerts/{alert.id}/acknowledge",
        data={"csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/sensing/alerts?notice=acknowledged"
    db.expire_all()
    assert db.get(Alert, alert.id).acknowledged_at is not None  # type: ignore[union-attr]
    chinese = client.get("/sensing/alerts", headers={"Accept-Language": "zh-CN"})
    assert "告警" in chinese.text


def test_staff_see_the_dead_letters(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    db.add(
        DeadLetter(
            source="mqtt",
            topic="cityos/v1/observations",
            payload="{not json",
            reason="malformed JSON",
        )
    )
    db.commit()
    login(client, "staff.water@example.org")
    page = client.get("/sensing/dead-letters")
    assert page.status_code == 200
    assert page.text.count('data-testid="dead-letter"') == 1
    assert "malformed JSON" in page.text
    assert "{not json" in page.text


def test_the_navigation_leads_to_the_sensors_map(client: TestClient) -> None:
    assert 'href="/sensing"' in client.get("/", headers={"Accept-Language": "en"}).text
