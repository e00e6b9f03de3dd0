"""The staff case page: what it shows, and each action through its form (with CSRF)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.cases import service
from cityos.cases.models import Case, CaseFollower, CasePhoto, CaseUpdate
from tests.cases.conftest import WEST_POINT, CatalogFixture
from tests.cases.staff_support import (
    HTML,
    POLICY,
    SYSTEM,
    fresh,
    make_user,
    open_case,
    page_token,
    png,
)
from tests.conftest import login


def act(
    client: TestClient,
    case: Case,
    action: str,
    data: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
) -> tuple[int, str]:
    """Submit one of the case page's forms as a browser would; (status, final page)."""
    token = page_token(client, f"/staff/cases/{case.id}")
    response = client.post(
        f"/staff/cases/{case.id}/{action}",
        data={"csrf_token": token, **data},
        files=files,
        headers=HTML,
    )
    return response.status_code, response.text


def test_the_case_page_shows_everything_staff_need(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = service.open_case(
        db,
        service.CaseInput(
            service_code="POTHOLE",
            lon=WEST_POINT[0],
            lat=WEST_POINT[1],
            description="Deep hole by the <b>school</b>",
            attributes={"size": "large", "hazards": ["traffic", "cyclists"], "depth_cm": "12"},
            contact_name="Li Lei",
            contact_email="reporter@example.org",
            contact_phone="+86 571 1234 5678",
            photos=[service.PhotoUpload("hole.png", png())],
        ),
        actor=SYSTEM,
        policy=POLICY,
    )
    staff_user = services.people["cmb"]
    service.add_note(
        db,
        case,
        note="Crew B is nearby",
        public=False,
        user=staff_user,
        actor=SYSTEM,
        policy=POLICY,
    )
    db.commit()
    login(client, "staff.cmb@example.org")
    page = client.get(f"/staff/cases/{case.id}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "Deep hole by the &lt;b&gt;school&lt;/b&gt;" in text
    assert "<dt>How big is it?</dt><dd>Large</dd>" in text
    assert "<dt>Who is in danger?</dt><dd>Traffic, Cyclists</dd>" in text
    assert "<dt>Depth in cm</dt><dd>12</dd>" in text
    assert "reporter@example.org" in text
    assert "+86 571 1234 5678" in text
    assert "Li Lei" in text
    assert case.routing_reason in text
    assert 'data-testid="followers">1<' in text
    assert 'data-state="ok">' in text
    assert "left to acknowledge" in text
    assert "Crew B is nearby" in text
    assert '<span class="badge internal">Internal</span>' in text
    assert '<span class="badge public">Public</span>' in text
    photo = db.scalars(select(CasePhoto).where(CasePhoto.case_id == case.id)).one()
    assert f'src="/staff/cases/{case.id}/photos/{photo.id}"' in text
    assert f'data-lon="{case.lon}" data-lat="{case.lat}"' in text
    image = client.get(f"/staff/cases/{case.id}/photos/{photo.id}")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content == photo.data
    assert client.get(f"/staff/cases/{case.id}/photos/999999").status_code == 404
    assert "<script>" not in text
    chinese = client.get(f"/staff/cases/{case.id}", headers={**HTML, "accept-language": "zh"})
    assert "<dt>大小</dt><dd>大</dd>" in chinese.text


def test_staff_of_another_department_read_without_contact_and_cannot_act(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.water@example.org")
    page = client.get(f"/staff/cases/{case.id}", headers=HTML)
    assert page.status_code == 200
    assert "reporter@example.org" not in page.text
    assert 'data-testid="read-only"' in page.text
    assert 'data-testid="actions"' not in page.text
    status, text = act(client, case, "status", {"status": "acknowledged"})
    assert status == 403
    assert "belongs to another department" in text
    assert fresh(db, case).status == "submitted"
    status, _ = act(client, case, "notes", {"note": "Not ours"})
    assert status == 403


def test_a_status_change_comes_back_to_the_page_with_a_notice(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    token = page_token(client, f"/staff/cases/{case.id}")
    response = client.post(
        f"/staff/cases/{case.id}/status",
        data={"csrf_token": token, "status": "in_progress", "note": "Crew sent", "public": "1"},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/cases/{case.id}?done=status"
    page = client.get(response.headers["location"], headers=HTML).text
    assert "The status was changed." in page
    assert 'data-testid="case-status">In progress<' in page
    assert fresh(db, case).status_notes == "Crew sent"
    assert fresh(db, case).acknowledged_at is not None


def test_an_illegal_transition_names_the_legal_moves_and_stays_on_the_page(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "NOISE")
    login(client, "admin@example.org")
    status, text = act(
        client,
        case,
        "status",
        {"status": "closed", "close_reason": "no_further_action", "note": "Quiet now"},
    )
    assert status == 200
    assert 'data-testid="reopen-form"' in text
    status, text = act(client, case, "status", {"status": "in_progress"})
    assert status == 409
    assert "From closed it can move to: reopened." in text
    assert 'data-testid="case-title"' in text  # still the case page
    status, text = act(client, case, "status", {"status": "flying"})
    assert status == 400
    assert "is not a status" in text


def test_resolving_needs_a_note_and_the_photo_the_category_demands(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    status, text = act(client, case, "status", {"status": "resolved", "note": ""})
    assert status == 400
    assert "Resolving a case needs a resolution note" in text
    status, text = act(client, case, "status", {"status": "resolved", "note": "Filled"})
    assert status == 400
    assert "need a photo of the fix" in text
    assert ">Filled</textarea>" in text  # the note is kept for the next try
    status, text = act(
        client,
        case,
        "status",
        {"status": "resolved", "note": "Filled with asphalt"},
        files=[("photos", ("fix.png", png(), "image/png"))],
    )
    assert status == 200
    assert "The status was changed." in text
    assert fresh(db, case).status == "resolved"
    kinds = db.scalars(select(CasePhoto.kind).where(CasePhoto.case_id == case.id)).all()
    assert list(kinds) == ["resolution"]
    status, text = act(
        client,
        case,
        "status",
        {"status": "reopened", "note": ""},
    )
    assert status == 400
    assert "Reopening a case needs a reason" in text
    status, _ = act(client, case, "status", {"status": "reopened", "note": "Hole is back"})
    assert status == 200
    assert fresh(db, case).reopen_count == 1


def test_a_photo_that_is_not_an_image_is_refused(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    status, text = act(
        client,
        case,
        "status",
        {"status": "resolved", "note": "Filled"},
        files=[("photos", ("fix.png", b"<script>alert(1)</script>", "image/png"))],
    )
    assert status == 400
    assert "not a picture we can read" in text
    assert fresh(db, case).status == "submitted"


def test_closing_needs_a_reason(client: TestClient, db: Session, services: CatalogFixture) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    status, text = act(client, case, "status", {"status": "closed", "note": "Private road"})
    assert status == 400
    assert "Closing a case needs a reason" in text
    status, _ = act(
        client,
        case,
        "status",
        {"status": "closed", "note": "Private road", "close_reason": "not_our_responsibility"},
    )
    assert status == 200
    assert fresh(db, case).close_reason == "not_our_responsibility"


def test_notes_are_internal_unless_made_public(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    status, text = act(client, case, "notes", {"note": "Call the contractor"})
    assert status == 200
    assert "The note was added." in text
    status, _ = act(client, case, "notes", {"note": "We are on it", "public": "1"})
    assert status == 200
    notes = db.scalars(
        select(CaseUpdate).where(CaseUpdate.case_id == case.id, CaseUpdate.kind == "note")
    ).all()
    assert [(n.note, n.public) for n in notes] == [
        ("Call the contractor", False),
        ("We are on it", True),
    ]
    assert fresh(db, case).status_notes == "We are on it"
    status, text = act(client, case, "notes", {"note": "   "})
    assert status == 400
    assert "The note is empty" in text


def test_a_transfer_shows_at_once_in_the_receiving_departments_queue(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    status, text = act(client, case, "transfer", {"department": "WATER", "reason": ""})
    assert status == 400
    assert "A transfer needs a reason" in text
    status, text = act(
        client, case, "transfer", {"department": "WATER", "reason": "A burst water main"}
    )
    assert status == 200
    assert "The case was transferred." in text
    assert 'data-testid="read-only"' in text  # CMB may still read it, no longer act
    assert "A burst water main" in text
    client.cookies.clear()
    login(client, "staff.water@example.org")
    queue = client.get("/staff/cases", headers=HTML).text
    assert f'data-case="{case.id}"' in queue
    page = client.get(f"/staff/cases/{case.id}", headers=HTML).text
    assert "transferred by staff.cmb@example.org: A burst water main" in page


def test_assigning_to_a_member_of_the_department(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    colleague = make_user(db, "second.cmb@example.org", ["staff"], "CMB")
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    page = client.get(f"/staff/cases/{case.id}", headers=HTML).text
    assert f'<option value="{colleague.id}">' in page
    status, text = act(client, case, "assign", {"assignee": str(colleague.id)})
    assert status == 200
    assert "The assignment was saved." in text
    assert fresh(db, case).assignee_id == colleague.id
    water = services.people["water"]
    status, text = act(client, case, "assign", {"assignee": str(water.id)})
    assert status == 400
    assert "assign someone of its department" in text
    status, _ = act(client, case, "assign", {"assignee": ""})
    assert status == 200
    assert fresh(db, case).assignee_id is None


def test_marking_a_duplicate_offers_nearby_cases_and_moves_followers(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    original = open_case(db, "POTHOLE", email="first@example.org")
    copy = open_case(db, "POTHOLE", email="second@example.org")
    login(client, "staff.cmb@example.org")
    page = client.get(f"/staff/cases/{copy.id}", headers=HTML).text
    candidates = page.split('data-testid="duplicate-candidates"')[1].split("</ul>")[0]
    assert f'data-id="{original.id}"' in candidates
    assert f'data-id="{copy.id}"' not in candidates
    status, text = act(client, copy, "duplicate", {"original_id": str(copy.id)})
    assert status == 400
    assert "cannot be a duplicate of itself" in text
    status, text = act(client, copy, "duplicate", {"original_id": str(original.id)})
    assert status == 200
    assert "The case was closed as a duplicate." in text
    closed = fresh(db, copy)
    assert (closed.status, closed.duplicate_of_id) == ("closed", original.id)
    emails = db.scalars(select(CaseFollower.email).where(CaseFollower.case_id == original.id))
    assert sorted(emails) == ["first@example.org", "second@example.org"]


def test_an_unknown_case_is_404(client: TestClient, db: Session, services: CatalogFixture) -> None:
    login(client, "staff.cmb@example.org")
    assert client.get("/staff/cases/424242", headers=HTML).status_code == 404
    assert "There is no case 424242" in client.get("/staff/cases/424242", headers=HTML).text
    token = page_token(client)
    response = client.post(
        "/staff/cases/424242/status",
        data={"csrf_token": token, "status": "acknowledged"},
        headers=HTML,
    )
    assert response.status_code == 404
    assert client.get("/staff/cases/not-a-number", headers=HTML).status_code == 404


def test_operators_act_on_triage_cases(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "NOISE")
    make_user(db, "operator@example.org", ["operator"])
    login(client, "operator@example.org")
    status, _ = act(client, case, "transfer", {"department": "CMB", "reason": "Street noise"})
    assert status == 200
    assert fresh(db, case).department_id == services.people["cmb"].department_id
    make_user(db, "analyst@example.org", ["analyst"])
    client.cookies.clear()
    login(client, "analyst@example.org")
    page = client.get(f"/staff/cases/{case.id}", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="read-only"' in page.text
