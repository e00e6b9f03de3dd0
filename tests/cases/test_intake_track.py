"""The public tracking pages (/track): status and history without personal data, photos,
following and unfollowing, and reopening by the citizen within the window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.cases import service
from cityos.cases.models import Case, CaseFollower
from cityos.db import utcnow
from tests.cases.conftest import ACTOR, EAST_NORTH_POINT, WEST_POINT, CatalogFixture
from tests.cases.intake_support import (
    HTML,
    REPORTER,
    case_id_from,
    png,
    post_report,
    report_fields,
)
from tests.conftest import csrf_from

POLICY = service.CasePolicy(base_url="http://testserver")


def _noise_case(db: Session, *, now: datetime | None = None, **changes: Any) -> Case:
    """A NOISE case (triage, no photo needed to resolve) with the reporter's details."""
    data = service.CaseInput(
        service_code="NOISE",
        lon=EAST_NORTH_POINT[0],
        lat=EAST_NORTH_POINT[1],
        description="Drilling at night",
        contact_name=REPORTER["name"],
        contact_email=REPORTER["email"],
        contact_phone=REPORTER["phone"],
        device_id="device-51c0ffee",
    )
    for name, value in changes.items():
        setattr(data, name, value)
    citizen = Actor(None, "citizen", "198.51.100.7")
    case = service.open_case(db, data, actor=citizen, policy=POLICY, now=now)
    db.commit()
    return case


def _resolve(db: Session, case: Case, *, days_ago: float) -> None:
    service.change_status(
        db,
        case,
        to="resolved",
        note="The works ended; it is quiet now.",
        user=None,
        actor=ACTOR,
        policy=POLICY,
        now=utcnow() - timedelta(days=days_ago),
    )
    db.commit()


def test_the_tracking_page_shows_the_public_history_and_no_personal_data(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    response = post_report(client, report_fields(**REPORTER), [("p.png", png(), "image/png")])
    case_id = case_id_from(response)
    case = service.get_case(db, case_id=case_id)
    staff = services.people["cmb"]
    actor = Actor(user_id=staff.id, label=staff.email, ip="10.0.0.5")
    service.add_note(
        db,
        case,
        note="Crew booked for Tuesday.",
        public=True,
        user=staff,
        actor=actor,
        policy=POLICY,
    )
    service.add_note(
        db,
        case,
        note="Internal: the contractor is late again.",
        public=False,
        user=staff,
        actor=actor,
        policy=POLICY,
    )
    service.change_status(
        db, case, to="in_progress", note="", user=staff, actor=actor, policy=POLICY
    )
    db.commit()

    page = client.get(f"/track/{case_id}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Pothole" in text
    assert 'data-testid="status-word">Being worked on<' in text
    assert 'data-testid="department">City Management<' in text
    assert 'data-testid="expected"' in text
    assert "Crew booked for Tuesday." in text
    assert "Internal: the contractor" not in text
    assert "Reporter" in text  # the first entry: who, as a role
    assert text.count("City Management") >= 3  # department column and two public entries
    for personal in (*REPORTER.values(), "staff.cmb@example.org", "testclient", "10.0.0.5"):
        assert personal not in text, personal
    assert 'data-testid="track-map" data-lat="30.17" data-lon="120.07"' in text
    assert "Your tracking number" not in text  # only right after filing

    chinese = client.get(f"/track/{case_id}", headers={**HTML, "accept-language": "zh-CN"})
    assert "处理中" in chinese.text
    assert "城市管理局" in chinese.text
    assert "路面坑洞" in chinese.text


def test_a_tracking_number_leads_to_its_page_and_an_unknown_one_to_404(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = _noise_case(db)
    form = client.get("/track", headers=HTML)
    assert form.status_code == 200
    assert 'name="number"' in form.text
    found = client.get(f"/track?number=%23{case.id}", headers=HTML, follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"/track/{case.id}"
    for unknown in (f"/track/{case.id + 1000}", "/track?number=99999", "/track/abc"):
        page = client.get(unknown, headers=HTML)
        assert page.status_code == 404, unknown
        assert "Error 404" in page.text
    assert client.get("/track/424242").json()["error"]["code"] == "not_found"


def test_photos_are_served_only_under_their_own_case(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    first = case_id_from(post_report(client, report_fields(), [("a.png", png(), "image/png")]))
    second = case_id_from(post_report(client, report_fields()))
    photo = service.list_photos(db, case=service.get_case(db, case_id=first))[0]
    served = client.get(f"/track/{first}/photos/{photo.id}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert client.get(f"/track/{second}/photos/{photo.id}").status_code == 404
    assert client.get(f"/track/{first}/photos/{photo.id + 50}").status_code == 404
    assert client.get(f"/track/{first}/photos/x.jpg", headers=HTML).status_code == 404


def test_a_citizen_follows_a_case_and_unfollows_it_from_the_emailed_link(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = _noise_case(db)
    page = client.get(f"/track/{case.id}", headers=HTML)
    token = csrf_from(page.text)
    bad = client.post(
        f"/track/{case.id}/follow",
        data={"email": "not-an-address", "csrf_token": token},
        headers=HTML,
    )
    assert bad.status_code == 400
    assert 'data-testid="follow-error"' in bad.text
    assert 'value="not-an-address"' in bad.text
    response = client.post(
        f"/track/{case.id}/follow",
        data={"email": "Neighbour@Example.org", "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/track/{case.id}?followed=1"
    assert "You now follow case" in client.get(response.headers["location"], headers=HTML).text
    db.expire_all()
    follower = db.scalars(
        select(CaseFollower).where(
            CaseFollower.case_id == case.id, CaseFollower.email == "Neighbour@example.org"
        )
    ).one()
    follower_id, unsubscribe = follower.id, follower.unsubscribe_token

    gone = client.get(f"/track/unfollow/{unsubscribe}", headers=HTML)
    assert gone.status_code == 200
    assert f"You will no longer receive e-mails about case {case.id}." in gone.text
    db.expire_all()
    assert db.get(CaseFollower, follower_id) is None
    again = client.get(f"/track/unfollow/{unsubscribe}", headers=HTML)
    assert again.status_code == 404


def test_a_citizen_reopens_a_resolved_case_within_the_window(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = _noise_case(db)
    _resolve(db, case, days_ago=2)
    key = case.token
    page = client.get(f"/track/{case.id}?key={key}", headers=HTML)
    assert 'data-testid="reopen-form"' in page.text
    assert "The works ended; it is quiet now." in page.text
    empty = client.post(
        f"/track/{case.id}/reopen",
        data={"reason": " ", "key": key, "csrf_token": csrf_from(page.text)},
        headers=HTML,
    )
    assert empty.status_code == 400
    assert "Reopening a case needs a reason." in empty.text
    response = client.post(
        f"/track/{case.id}/reopen",
        data={
            "reason": "The drilling started again at 2 am.",
            "key": key,
            "csrf_token": csrf_from(page.text),
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    reopened = client.get(response.headers["location"], headers=HTML).text
    assert 'data-testid="status-word">Reopened<' in reopened
    assert "The drilling started again at 2 am." in reopened
    assert "Citizen" in reopened
    assert 'data-testid="reopen-form"' not in reopened
    db.expire_all()
    assert service.get_case(db, case_id=case.id).reopen_count == 1


def test_reopening_is_refused_after_the_window(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = _noise_case(db, now=utcnow() - timedelta(days=30))
    _resolve(db, case, days_ago=20)
    page = client.get(f"/track/{case.id}?key={case.token}", headers=HTML)
    assert 'data-testid="status-word">Fixed<' in page.text
    assert 'data-testid="reopen-form"' not in page.text
    response = client.post(
        f"/track/{case.id}/reopen",
        data={"reason": "Still loud", "key": case.token, "csrf_token": csrf_from(page.text)},
        headers=HTML,
    )
    assert response.status_code == 409
    assert "can no longer be reopened" in response.text
    db.expire_all()
    assert service.get_case(db, case_id=case.id).status == "resolved"


def test_an_open_case_offers_no_reopening(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = _noise_case(db, lon=WEST_POINT[0], lat=WEST_POINT[1])
    page = client.get(f"/track/{case.id}", headers=HTML)
    assert 'data-testid="reopen-form"' not in page.text
    response = client.post(
        f"/track/{case.id}/reopen",
        data={"reason": "why not", "key": case.token, "csrf_token": csrf_from(page.text)},
        headers=HTML,
    )
    assert response.status_code == 409


def test_only_the_reporter_can_reopen_because_tracking_numbers_are_public(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = _noise_case(db)
    _resolve(db, case, days_ago=1)
    page = client.get(f"/track/{case.id}", headers=HTML)
    assert 'data-testid="reopen-form"' not in page.text
    assert 'data-testid="reopen-by-link"' in page.text
    response = client.post(
        f"/track/{case.id}/reopen",
        data={"reason": "Still loud", "key": "a-guess", "csrf_token": csrf_from(page.text)},
        headers=HTML,
    )
    assert response.status_code == 403
    assert "Only the person who reported" in response.text
    db.expire_all()
    assert service.get_case(db, case_id=case.id).status == "resolved"
