"""The public JSON API for the report form (/api/cases/...) and the duplicates panel."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos import errors as service_errors
from cityos.audit.service import Actor
from cityos.cases import service
from cityos.cases.models import Case, CaseFollower
from tests.cases.conftest import ACTOR, WEST_POINT, CatalogFixture
from tests.cases.intake_support import HTML, REPORTER, case_id_from, post_report, report_fields
from tests.conftest import csrf_from, login

POLICY = service.CasePolicy(base_url="http://testserver")
# about 20 m north-east of WEST_POINT, and about 200 m east of it
NEAR = (WEST_POINT[0] + 0.00015, WEST_POINT[1] + 0.0001)
FAR = (WEST_POINT[0] + 0.002, WEST_POINT[1])


def _pothole(db: Session, point: tuple[float, float] = WEST_POINT, **changes: str) -> Case:
    data = service.CaseInput(
        service_code="POTHOLE",
        lon=point[0],
        lat=point[1],
        description=changes.get("description", "Deep hole in front of the bakery " * 8),
        attributes={"size": "large"},
        contact_name=REPORTER["name"],
        contact_email=REPORTER["email"],
        contact_phone=REPORTER["phone"],
    )
    case = service.open_case(db, data, actor=Actor(None, "citizen", "192.0.2.1"), policy=POLICY)
    db.commit()
    return case


def test_services_are_searched_in_both_languages_with_their_attributes(
    client: TestClient, services: CatalogFixture
) -> None:
    english = client.get("/api/cases/services", params={"q": "pothole", "language": "en"}).json()
    assert english["language"] == "en"
    assert [s["service_code"] for s in english["results"]] == ["POTHOLE"]
    pothole = english["results"][0]
    assert pothole["name"] == "Pothole"
    assert pothole["group"] == "roads"
    assert [a["code"] for a in pothole["attributes"]] == ["size", "depth_cm", "hazards"]
    size = pothole["attributes"][0]
    assert size["required"] is True
    assert size["datatype"] == "singlevaluelist"
    assert [v["key"] for v in size["values"]] == ["small", "medium", "large"]

    chinese = client.get("/api/cases/services", params={"q": "坑", "language": "zh-CN"}).json()
    assert [s["service_code"] for s in chinese["results"]] == ["POTHOLE"]
    assert chinese["results"][0]["name"] == "路面坑洞"
    assert chinese["results"][0]["attributes"][0]["values"][0]["name"] == "小"

    browse = client.get("/api/cases/services", headers={"accept-language": "zh-CN"}).json()
    assert browse["language"] == "zh-CN"
    assert browse["results"] == []
    groups = {g["code"]: [s["service_code"] for s in g["services"]] for g in browse["groups"]}
    assert groups == {"roads": ["POTHOLE"], "water": ["FLOODING"], "noise": ["NOISE"]}


def test_nearby_lists_open_cases_of_the_service_within_the_radius_without_personal_data(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    near = _pothole(db)
    far = _pothole(db, FAR)
    closed = _pothole(db, NEAR)
    service.change_status(
        db,
        closed,
        to="closed",
        note="Private land",
        close_reason="not_our_responsibility",
        user=None,
        actor=ACTOR,
        policy=POLICY,
    )
    db.commit()
    response = client.get(
        "/api/cases/nearby", params={"service_code": "POTHOLE", "lat": NEAR[1], "lon": NEAR[0]}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["radius_m"] == 50
    assert [c["id"] for c in body["cases"]] == [near.id]
    found = body["cases"][0]
    assert 15 < found["distance_m"] < 25
    assert found["status"] == "submitted"
    assert found["url"] == f"/track/{near.id}"
    assert found["description"].endswith("…")
    assert len(found["description"]) <= 140
    assert far.id not in [c["id"] for c in body["cases"]]
    raw = json.dumps(body)
    for personal in REPORTER.values():
        assert personal not in raw
    assert "192.0.2.1" not in raw
    other = client.get(
        "/api/cases/nearby", params={"service_code": "NOISE", "lat": NEAR[1], "lon": NEAR[0]}
    )
    assert other.json()["cases"] == []


def test_nearby_with_an_unknown_service_or_bad_point_is_an_error(
    client: TestClient, services: CatalogFixture
) -> None:
    unknown = client.get("/api/cases/nearby", params={"service_code": "X", "lat": 30, "lon": 120})
    assert unknown.status_code == 404
    assert "There is no service with service_code 'X'" in unknown.json()["error"]["message"]
    swapped = client.get(
        "/api/cases/nearby", params={"service_code": "POTHOLE", "lat": 120, "lon": 30}
    )
    assert swapped.status_code == 422


def test_the_form_shows_the_nearby_case_and_following_it_instead_works(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    near = _pothole(db, description="Hole <b>here</b>")
    fragment = client.get(
        "/report/nearby",
        params={"service_code": "POTHOLE", "lat": str(NEAR[1]), "lon": str(NEAR[0])},
        headers=HTML,
    )
    assert fragment.status_code == 200
    assert 'data-testid="nearby-case"' in fragment.text
    assert f'formaction="/track/{near.id}/follow"' in fragment.text
    assert 'form="follow-instead"' in fragment.text
    assert "Hole &lt;b&gt;here&lt;/b&gt;" in fragment.text
    assert REPORTER["email"] not in fragment.text
    nothing = client.get(
        "/report/nearby",
        params={"service_code": "POTHOLE", "lat": str(FAR[1]), "lon": str(FAR[0])},
        headers=HTML,
    )
    assert "nearby-case" not in nothing.text
    assert (
        client.get(
            "/report/nearby",
            params={"service_code": "POTHOLE", "lat": "", "lon": "x"},
            headers=HTML,
        ).status_code
        == 200
    )

    page = client.get("/report?service_code=POTHOLE", headers=HTML)
    assert '<form id="follow-instead" method="post"' in page.text
    response = client.post(
        f"/track/{near.id}/follow",
        data={"email": "neighbour@example.org", "csrf_token": csrf_from(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/track/{near.id}?followed=1"
    db.expire_all()
    emails = db.scalars(select(CaseFollower.email).where(CaseFollower.case_id == near.id)).all()
    assert sorted(emails) == sorted([REPORTER["email"], "neighbour@example.org"])
    assert db.query(Case).count() == 1  # following instead of filing


def test_following_through_the_json_api(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = _pothole(db)
    page = client.get("/report", headers=HTML)
    headers = {"X-CSRF-Token": csrf_from(page.text)}
    url = f"/api/cases/{case.id}/follow"
    assert client.post(url, json={"email": "a@example.org"}).status_code == 403  # no CSRF token
    response = client.post(url, json={"email": "a@example.org"}, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"case_id": case.id, "following": True}
    again = client.post(url, json={"email": "a@example.org"}, headers=headers)
    assert again.status_code == 200  # idempotent
    bad = client.post(url, json={"email": "nope"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["field"] == "email"
    missing = client.post(
        "/api/cases/999999/follow", json={"email": "a@example.org"}, headers=headers
    )
    assert missing.status_code == 404
    db.expire_all()
    emails = db.scalars(select(CaseFollower.email).where(CaseFollower.case_id == case.id)).all()
    assert sorted(emails) == sorted([REPORTER["email"], "a@example.org"])


def test_following_a_duplicate_follows_the_original(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    original = _pothole(db)
    duplicate = _pothole(db, NEAR)
    service.mark_duplicate(
        db, duplicate, original_id=original.id, user=None, actor=ACTOR, policy=POLICY
    )
    db.commit()
    page = client.get(f"/track/{duplicate.id}", headers=HTML)
    assert f'href="/track/{original.id}">#{original.id}</a>' in page.text
    assert "It was already reported as another case." in page.text
    response = client.post(
        f"/track/{duplicate.id}/follow",
        data={"email": "late@example.org", "csrf_token": csrf_from(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/track/{original.id}?followed=1"


def test_the_report_and_track_pages_are_in_the_navigation_for_everyone(
    client: TestClient, services: CatalogFixture
) -> None:
    home = client.get("/", headers=HTML).text
    assert '<a href="/report">Report a problem</a>' in home
    assert '<a href="/track">Track a report</a>' in home
    assert 'data-testid="report-cta"' in home
    chinese = client.get("/report", headers={**HTML, "accept-language": "zh-CN"}).text
    assert 'aria-current="page">反映问题</a>' in chinese


def test_a_signed_in_user_reports_under_their_account_shown_as_their_department(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "staff.cmb@example.org")
    case_id = case_id_from(post_report(client, report_fields()))
    first = service.history(db, case=service.get_case(db, case_id=case_id), public_only=True)[0]
    assert first.actor_user_id == services.people["cmb"].id
    page = client.get(f"/track/{case_id}", headers=HTML).text
    main = page.split("<main>")[1].split("</main>")[0]
    assert "staff.cmb@example.org" not in main
    assert "City Management" in main


def test_a_sensor_alert_opens_a_case_without_the_questions_meant_for_people(
    db: Session, services: CatalogFixture
) -> None:
    reading = service.CaseInput(
        service_code="POTHOLE",
        lon=WEST_POINT[0],
        lat=WEST_POINT[1],
        description="Road-surface sensor 12: deformation 4.2 cm above its threshold",
        source=service.CaseSource.SENSOR,
        source_ref="sensing-alert:1",
    )
    case = service.open_case(db, reading, actor=ACTOR, policy=POLICY)
    assert case.source == service.CaseSource.SENSOR
    citizen = service.CaseInput(
        service_code="POTHOLE",
        lon=WEST_POINT[0],
        lat=WEST_POINT[1],
        description="Deep hole in front of the bakery " * 4,
    )
    with pytest.raises(service_errors.InvalidInput) as refused:
        service.open_case(db, citizen, actor=ACTOR, policy=POLICY)
    assert "attribute size" in str(refused.value.details)
