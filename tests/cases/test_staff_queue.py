"""The staff work queue: scoping, filters, SLA sort, htmx list, map points, bulk actions."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.cases.models import CaseUpdate
from cityos.db import utcnow
from tests.cases.conftest import EAST_NORTH_POINT, WEST_POINT, CatalogFixture
from tests.cases.staff_support import HTML, fresh, make_user, open_case, page_token
from tests.conftest import login


def queue_ids(client: TestClient, query: str = "") -> list[int]:
    response = client.get(f"/staff/cases{query}", headers=HTML)
    assert response.status_code == 200, response.text
    return [int(n) for n in re.findall(r'data-testid="queue-row" data-case="(\d+)"', response.text)]


def test_staff_see_only_their_departments_open_cases(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    pothole = open_case(db, "POTHOLE")  # CMB
    flooding = open_case(db, "FLOODING", WEST_POINT)  # WATER
    open_case(db, "NOISE")  # triage
    login(client, "staff.cmb@example.org")
    assert queue_ids(client) == [pothole.id]
    page = client.get("/staff/cases", headers=HTML).text
    assert 'href="/staff/cases"' in page  # the navigation entry
    assert "Work queue" in page
    assert 'name="department"' not in page  # no department filter for staff
    refused = client.get("/staff/cases?department=WATER", headers=HTML)
    assert refused.status_code == 403
    client.cookies.clear()
    login(client, "staff.water@example.org")
    assert queue_ids(client) == [flooding.id]


def test_operators_and_admins_see_every_department_and_the_triage_queue(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    pothole = open_case(db, "POTHOLE")
    flooding = open_case(db, "FLOODING", WEST_POINT)
    noise = open_case(db, "NOISE")
    make_user(db, "operator@example.org", ["operator"])
    login(client, "operator@example.org")
    assert sorted(queue_ids(client)) == sorted([pothole.id, flooding.id, noise.id])
    assert queue_ids(client, "?department=triage") == [noise.id]
    assert queue_ids(client, "?department=WATER") == [flooding.id]
    client.cookies.clear()
    login(client, "admin@example.org")
    assert len(queue_ids(client)) == 3


def test_people_without_a_queue_are_refused(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    make_user(db, "steward@example.org", ["steward"], "CMB")
    make_user(db, "loose@example.org", ["supervisor"])
    login(client, "steward@example.org")
    page = client.get("/staff/cases", headers=HTML)
    assert page.status_code == 403
    assert "Work queue" not in page.text
    client.cookies.clear()
    login(client, "loose@example.org")
    refused = client.get("/staff/cases", headers=HTML)
    assert refused.status_code == 403
    assert "no department" in refused.text
    client.cookies.clear()
    anonymous = client.get("/staff/cases", headers=HTML, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")


def test_filters_narrow_the_queue(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    now = utcnow()
    west = open_case(db, "FLOODING", WEST_POINT)  # WATER, TC-W-S
    east = open_case(db, "FLOODING", EAST_NORTH_POINT)  # CMB, TC-E-N
    late = open_case(db, "POTHOLE", now=now - timedelta(hours=5))  # ack due after 4 h
    risky = open_case(db, "POTHOLE", now=now - timedelta(hours=3, minutes=30))  # warn at 3.2 h
    old = open_case(db, "POTHOLE", now=now - timedelta(days=40))
    make_user(db, "operator@example.org", ["operator"])
    login(client, "operator@example.org")
    assert sorted(queue_ids(client, "?category=FLOODING")) == sorted([west.id, east.id])
    assert queue_ids(client, "?category=FLOODING&area=TC-E-N") == [east.id]
    assert queue_ids(client, "?category=FLOODING&area=TC-W") == [west.id]
    assert queue_ids(client, "?sla=breached") == [old.id, late.id]
    assert queue_ids(client, "?sla=at_risk") == [risky.id]
    assert sorted(queue_ids(client, "?sla=ok")) == sorted([west.id, east.id])
    start = (now - timedelta(days=41)).date().isoformat()
    end = (now - timedelta(days=39)).date().isoformat()
    assert queue_ids(client, f"?from={start}&to={end}") == [old.id]
    assert queue_ids(client, "?status=ended") == []
    assert queue_ids(client, "?mine=1") == []
    bad = client.get("/staff/cases?sla=soon", headers=HTML)
    assert bad.status_code == 400
    assert "use ok, at_risk, breached" in bad.text
    unknown_area = client.get("/staff/cases?area=NOWHERE", headers=HTML)
    assert unknown_area.status_code == 404
    assert "NOWHERE" in unknown_area.text


def test_the_queue_is_sorted_by_sla_time_left_and_can_be_sorted_otherwise(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    now = utcnow()
    newer = open_case(db, "POTHOLE", now=now - timedelta(hours=1))
    older = open_case(db, "POTHOLE", now=now - timedelta(hours=2))
    resolved_soon = open_case(db, "POTHOLE", now=now - timedelta(minutes=5))
    login(client, "staff.cmb@example.org")
    assert queue_ids(client) == [older.id, newer.id, resolved_soon.id]
    assert queue_ids(client, "?sort=newest") == [resolved_soon.id, newer.id, older.id]
    page = client.get("/staff/cases", headers=HTML).text
    assert re.search(r'data-state="ok">\d+ h \d+ min left to acknowledge<', page)
    chinese = client.get("/staff/cases", headers={**HTML, "accept-language": "zh-CN"})
    assert "受理剩余" in chinese.text


def test_overdue_cases_say_so_in_red(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    open_case(db, "POTHOLE", now=utcnow() - timedelta(days=1, hours=6))
    login(client, "staff.cmb@example.org")
    page = client.get("/staff/cases", headers=HTML).text
    assert re.search(r'class="sla sla-breached"[^>]*>Acknowledgement overdue by 1 d 2 h<', page)


def test_htmx_filter_requests_get_only_the_list(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    response = client.get("/staff/cases?category=POTHOLE", headers={**HTML, "HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'data-case="{case.id}"' in response.text
    assert 'data-map-url="/staff/cases/map.json?status=open&amp;category=POTHOLE"' in response.text


def test_the_map_gets_the_filtered_cases_coloured_by_sla(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    late = open_case(db, "POTHOLE", now=utcnow() - timedelta(hours=5))
    fine = open_case(db, "POTHOLE")
    open_case(db, "FLOODING", WEST_POINT)  # another department's
    login(client, "staff.cmb@example.org")
    data = client.get("/staff/cases/map.json").json()
    assert data["type"] == "FeatureCollection"
    assert (data["total"], data["truncated"]) == (2, False)
    points = {f["properties"]["id"]: f for f in data["features"]}
    assert set(points) == {late.id, fine.id}
    assert points[late.id]["properties"]["sla"] == "breached"
    assert points[fine.id]["properties"]["sla"] == "ok"
    assert points[fine.id]["geometry"]["coordinates"] == [WEST_POINT[0], WEST_POINT[1]]
    assert client.get("/staff/cases/map.json?sla=breached").json()["total"] == 1


def test_bulk_acknowledge_goes_case_by_case_and_reports_failures(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    first = open_case(db, "POTHOLE")
    second = open_case(db, "POTHOLE")
    foreign = open_case(db, "FLOODING", WEST_POINT)  # WATER's
    login(client, "staff.cmb@example.org")
    token = page_token(client)
    response = client.post(
        "/staff/cases/bulk",
        data={
            "csrf_token": token,
            "action": "acknowledge",
            "ids": [str(first.id), str(second.id), str(foreign.id), "999999"],
            "query": "status=all",
        },
        headers=HTML,
    )
    assert response.status_code == 200
    assert "2 acknowledged, 2 failed." in response.text
    failures = response.text.split('data-testid="bulk-failures"')[1].split("</ul>")[0]
    assert f"#{foreign.id}</a>: Case {foreign.id} belongs to another department" in failures
    assert "There is no case 999999" in failures
    assert fresh(db, first).status == "acknowledged"
    assert fresh(db, second).acknowledged_at is not None
    assert fresh(db, foreign).status == "submitted"
    kinds = db.scalars(select(CaseUpdate.kind).where(CaseUpdate.case_id == first.id)).all()
    assert list(kinds) == ["submitted", "status"]
    audited = db.scalars(
        select(AuditEntry.entity_id).where(AuditEntry.action == "cases.case.status")
    ).all()
    assert sorted(audited) == sorted([str(first.id), str(second.id)])
    again = client.post(
        "/staff/cases/bulk",
        data={"csrf_token": token, "action": "acknowledge", "ids": [str(first.id)]},
        headers={**HTML, "HX-Request": "true"},
    )
    assert "<html" not in again.text
    assert "0 acknowledged, 1 failed." in again.text
    assert "it cannot move to acknowledged" in again.text


def test_bulk_assign_gives_cases_to_a_colleague(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    colleague = make_user(db, "second.cmb@example.org", ["staff"], "CMB")
    cases = [open_case(db, "POTHOLE") for _ in range(2)]
    login(client, "staff.cmb@example.org")
    token = page_token(client)
    page = client.get("/staff/cases", headers=HTML).text
    assert '<option value="second.cmb@example.org">' in page
    response = client.post(
        "/staff/cases/bulk",
        data={
            "csrf_token": token,
            "action": "assign",
            "assignee": "second.cmb@example.org",
            "ids": [str(c.id) for c in cases],
        },
        headers=HTML,
    )
    assert "2 assigned, 0 failed." in response.text
    assert all(fresh(db, c).assignee_id == colleague.id for c in cases)
    client.cookies.clear()
    login(client, "second.cmb@example.org")
    assert sorted(queue_ids(client, "?mine=1")) == sorted(c.id for c in cases)
    refused = client.post(
        "/staff/cases/bulk",
        data={"csrf_token": page_token(client), "action": "assign", "ids": [str(cases[0].id)]},
        headers=HTML,
    )
    assert refused.status_code == 400
    assert "Choose the person to assign" in refused.text


def test_bulk_actions_need_the_csrf_token(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    case = open_case(db, "POTHOLE")
    login(client, "staff.cmb@example.org")
    response = client.post(
        "/staff/cases/bulk", data={"action": "acknowledge", "ids": [str(case.id)]}, headers=HTML
    )
    assert response.status_code == 403
    assert fresh(db, case).status == "submitted"
