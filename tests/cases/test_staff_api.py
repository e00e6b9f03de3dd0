"""The staff JSON API under /api/cases: scoping, records, actions, bulk and statistics."""

from __future__ import annotations

import base64
from datetime import timedelta

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.cases import staff_api
from cityos.db import utcnow
from tests.cases.conftest import WEST_POINT, CatalogFixture
from tests.cases.staff_support import bearer, fresh, make_user, open_case, page_token, png
from tests.conftest import login


def test_the_queue_api_is_scoped_like_the_page(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    first = open_case(db, "POTHOLE", now=utcnow() - timedelta(hours=2))
    second = open_case(db, "POTHOLE")
    flooding = open_case(db, "FLOODING", WEST_POINT)
    noise = open_case(db, "NOISE")
    cmb = bearer(db, services.people["cmb"])
    mine = client.get("/api/cases", headers=cmb).json()
    assert [item["id"] for item in mine["items"]] == [first.id, second.id]  # SLA order
    assert mine["total"] == 2
    item = mine["items"][0]
    assert item["department"] == "CMB"
    assert item["sla"]["state"] == "ok"
    assert item["sla"]["clock"] == "acknowledge"
    assert 0 < item["sla"]["remaining_seconds"] <= 2 * 3600
    assert "contact" not in item
    paged = client.get("/api/cases?page_size=1&page=2&sort=newest", headers=cmb).json()
    assert [i["id"] for i in paged["items"]] == [first.id]
    assert client.get("/api/cases?department=WATER", headers=cmb).status_code == 403
    operator = bearer(db, make_user(db, "operator@example.org", ["operator"]))
    everything = client.get("/api/cases", headers=operator).json()
    assert {i["id"] for i in everything["items"]} == {first.id, second.id, flooding.id, noise.id}
    triage = client.get("/api/cases?department=triage", headers=operator).json()
    assert [i["id"] for i in triage["items"]] == [noise.id]
    assert triage["items"][0]["department"] is None
    bad = client.get("/api/cases?status=lost", headers=operator)
    assert bad.status_code == 400
    assert "Unknown status filter" in bad.json()["error"]["message"]
    assert client.get("/api/cases").status_code == 401


def test_one_case_has_its_full_record_and_contact_only_for_its_handlers(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    cmb = bearer(db, services.people["cmb"])
    client.post(f"/api/cases/{case.id}/notes", json={"note": "Crew B"}, headers=cmb)
    record = client.get(f"/api/cases/{case.id}", headers=cmb).json()
    assert record["contact"] == {
        "name": None,
        "email": "reporter@example.org",
        "phone": "+86 571 0000 0000",
    }
    assert record["can_act"] is True
    assert record["followers"] == 1
    assert record["routing"]["reason"] == case.routing_reason
    assert [(u["kind"], u["public"]) for u in record["history"]] == [
        ("submitted", True),
        ("note", False),
    ]
    assert {a["code"]: a["shown_en"] for a in record["attributes"]} == {
        "size": "Large",
        "hazards": "Traffic",
    }
    water = bearer(db, services.people["water"])
    other = client.get(f"/api/cases/{case.id}", headers=water).json()
    assert other["contact"] is None
    assert other["can_act"] is False
    missing = client.get("/api/cases/424242", headers=cmb)
    assert missing.status_code == 404
    assert "There is no case 424242" in missing.json()["error"]["message"]
    steward = bearer(db, make_user(db, "steward@example.org", ["steward"], "CMB"))
    assert client.get(f"/api/cases/{case.id}", headers=steward).status_code == 403


def test_status_changes_through_the_api(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    cmb = bearer(db, services.people["cmb"])
    url = f"/api/cases/{case.id}/status"
    done = client.post(url, json={"status": "acknowledged", "note": "Seen"}, headers=cmb)
    assert done.status_code == 200
    assert done.json()["status"] == "acknowledged"
    assert done.json()["sla"]["clock"] == "resolve"
    illegal = client.post(url, json={"status": "reopened", "note": "x"}, headers=cmb)
    assert illegal.status_code == 409
    message = illegal.json()["error"]["message"]
    assert "From acknowledged it can move to: action_scheduled, closed, in_progress, resolved." in (
        message
    )
    no_note = client.post(url, json={"status": "resolved"}, headers=cmb)
    assert no_note.status_code == 400
    assert "resolution note" in no_note.json()["error"]["message"]
    not_base64 = client.post(
        url,
        json={"status": "resolved", "note": "Filled", "photos": [{"data": "%%%"}]},
        headers=cmb,
    )
    assert not_base64.status_code == 400
    assert "base64" in not_base64.json()["error"]["message"]
    typo = client.post(url, json={"status": "resolved", "notes": "Filled"}, headers=cmb)
    assert typo.status_code == 422
    photo = base64.b64encode(png()).decode()
    resolved = client.post(
        url,
        json={
            "status": "resolved",
            "note": "Filled",
            "photos": [{"filename": "a.png", "data": photo}],
        },
        headers=cmb,
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert [p["kind"] for p in resolved.json()["photos"]] == ["resolution"]
    assert client.get(resolved.json()["photos"][0]["url"], headers=cmb).status_code == 200
    water = bearer(db, services.people["water"])
    refused = client.post(url, json={"status": "reopened", "note": "Back"}, headers=water)
    assert refused.status_code == 403
    assert client.post(
        "/api/cases/424242/status", json={"status": "x"}, headers=cmb
    ).status_code == (404)


def test_notes_transfer_assign_and_duplicate_through_the_api(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    original = open_case(db, "POTHOLE", email="first@example.org")
    case = open_case(db, "POTHOLE", email="second@example.org")
    colleague = make_user(db, "second.cmb@example.org", ["staff"], "CMB")
    cmb = bearer(db, services.people["cmb"])
    note = client.post(
        f"/api/cases/{case.id}/notes", json={"note": "Public word", "public": True}, headers=cmb
    )
    assert note.json()["status_notes"] == "Public word"
    by_email = client.post(
        f"/api/cases/{case.id}/assign", json={"email": "second.cmb@example.org"}, headers=cmb
    )
    assert by_email.json()["assignee"]["id"] == colleague.id
    by_id = client.post(
        f"/api/cases/{case.id}/assign",
        json={"user_id": services.people["water"].id},
        headers=cmb,
    )
    assert by_id.status_code == 400
    unknown = client.post(f"/api/cases/{case.id}/assign", json={"email": "x@y.org"}, headers=cmb)
    assert unknown.status_code == 404
    duplicate = client.post(
        f"/api/cases/{case.id}/duplicate", json={"original_id": original.id}, headers=cmb
    )
    assert duplicate.status_code == 200
    assert (duplicate.json()["status"], duplicate.json()["duplicate_of"]) == ("closed", original.id)
    assert client.get(f"/api/cases/{original.id}", headers=cmb).json()["followers"] == 2
    transfer = client.post(
        f"/api/cases/{original.id}/transfer",
        json={"department": "WATER", "reason": "Water main"},
        headers=cmb,
    )
    assert transfer.status_code == 200
    assert transfer.json()["department"] == "WATER"
    assert transfer.json()["can_act"] is False
    water = bearer(db, services.people["water"])
    queue = client.get("/api/cases", headers=water).json()
    assert [i["id"] for i in queue["items"]] == [original.id]
    again = client.post(
        f"/api/cases/{original.id}/transfer",
        json={"department": "NOPE", "reason": "x"},
        headers=water,
    )
    assert again.status_code == 404


def test_bulk_actions_report_each_case(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    mine = open_case(db, "POTHOLE")
    theirs = open_case(db, "FLOODING", WEST_POINT)
    cmb = bearer(db, services.people["cmb"])
    report = client.post(
        "/api/cases/bulk",
        json={"ids": [mine.id, theirs.id, 424242], "action": "acknowledge"},
        headers=cmb,
    ).json()
    assert report["succeeded"] == [mine.id]
    assert report["failed"] == 2
    errors = {r["id"]: r["error"] for r in report["results"] if not r["ok"]}
    assert errors[theirs.id]["code"] == "forbidden"
    assert errors[424242]["code"] == "not_found"
    assert fresh(db, mine).status == "acknowledged"
    assigned = client.post(
        "/api/cases/bulk",
        json={"ids": [mine.id], "action": "assign", "assignee": "staff.cmb@example.org"},
        headers=cmb,
    ).json()
    assert assigned["succeeded"] == [mine.id]
    wrong = client.post("/api/cases/bulk", json={"ids": [mine.id], "action": "delete"}, headers=cmb)
    assert wrong.status_code == 400
    assert "Unknown bulk action" in wrong.json()["error"]["message"]
    empty = client.post("/api/cases/bulk", json={"ids": [], "action": "acknowledge"}, headers=cmb)
    assert empty.status_code == 422


def test_a_signed_in_browser_needs_the_csrf_header(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    url = f"/api/cases/{case.id}/status"
    refused = client.post(url, json={"status": "acknowledged"})
    assert refused.status_code == 403
    token = page_token(client)
    done = client.post(url, json={"status": "acknowledged"}, headers={"X-CSRF-Token": token})
    assert done.status_code == 200


def test_statistics_are_scoped_by_role(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    open_case(db, "POTHOLE")
    open_case(db, "FLOODING", WEST_POINT)
    open_case(db, "NOISE")
    analyst = bearer(db, make_user(db, "analyst@example.org", ["analyst"]))
    everyone = client.get("/api/cases/stats", headers=analyst).json()
    assert everyone["by"] == "department"
    assert [g["key"] for g in everyone["groups"]] == ["CMB", "WATER", None]
    assert everyone["totals"]["volume"] == 3
    assert everyone["totals"]["backlog"] == 3
    assert len(everyone["daily"]) in (30, 31)
    assert sum(day["opened"] for day in everyone["daily"]) == 3
    by_category = client.get("/api/cases/stats?by=category", headers=analyst).json()
    assert [g["key"] for g in by_category["groups"]] == ["FLOODING", "NOISE", "POTHOLE"]
    today = utcnow().date()
    window = f"?from={(today - timedelta(days=2)).isoformat()}&to={today.isoformat()}"
    short = client.get(f"/api/cases/stats{window}&by=district", headers=analyst).json()
    assert short["groups"][0]["key"] == "TC-W"
    assert len(short["daily"]) == 3
    cmb = bearer(db, services.people["cmb"])
    own = client.get("/api/cases/stats", headers=cmb).json()
    assert [g["key"] for g in own["groups"]] == ["CMB"]
    assert own["totals"]["volume"] == 1
    steward = bearer(db, make_user(db, "steward@example.org", ["steward"], "CMB"))
    assert client.get("/api/cases/stats", headers=steward).status_code == 403
    bad = client.get("/api/cases/stats?by=weekday", headers=analyst)
    assert bad.status_code == 400
    assert "use department, category, district" in bad.json()["error"]["message"]
    wrong_date = client.get("/api/cases/stats?from=yesterday", headers=analyst)
    assert wrong_date.status_code == 400
    backwards = client.get("/api/cases/stats?from=2026-03-10&to=2026-03-01", headers=analyst)
    assert backwards.status_code == 400


def test_our_case_paths_match_only_numbers_and_leave_other_case_routes_alone(
    client: TestClient,
) -> None:
    ours = {route.path for route in staff_api.router.routes if isinstance(route, APIRoute)}
    assert "/api/cases/{case_id:int}" in ours
    assert all("{case_id}" not in path for path in ours)
    assert client.get("/api/cases/not-a-number").status_code == 404
