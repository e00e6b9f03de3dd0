"""The routing admin page and the JSON API of the catalog and routing rules."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases import catalog, routing
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel
from tests.cases.conftest import (
    ACTOR,
    CATALOG,
    EAST_NORTH_POINT,
    WEST_POINT,
    CatalogFixture,
)
from tests.conftest import PASSWORD, csrf_from, login

HTML = {"accept": "text/html"}


def api_headers(client: TestClient) -> dict[str, str]:
    """The CSRF header a browser page's script would send with its cookies."""
    return {"x-csrf-token": csrf_from(client.get("/", headers=HTML).text)}


# --- the page ------------------------------------------------------------------------------


def test_routing_page_lists_rules_filters_by_service_and_has_the_map(
    client: TestClient, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/routing", headers=HTML)
    assert page.status_code == 200
    assert page.text.count('data-rule="') == 2
    assert 'id="routing-map"' in page.text
    assert "/static/js/routing-map.js" in page.text
    assert '<option value="TC-E-N">' in page.text  # the area list of the add form
    assert 'href="/admin/routing"' in page.text  # the navigation
    noise = client.get("/admin/routing?service=NOISE", headers=HTML)
    assert 'data-rule="' not in noise.text
    assert "No routing rules." in noise.text


def test_admin_adds_and_deletes_a_rule_with_the_forms(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    csrf = csrf_from(client.get("/admin/routing", headers=HTML).text)
    added = client.post(
        "/admin/routing/rules",
        data={
            "service_code": "NOISE",
            "area": "TC-W",
            "department": "CMB",
            "note": "west side",
            "csrf_token": csrf,
        },
        headers=HTML,
    )
    assert added.status_code == 200
    assert "The rule is saved." in added.text
    db.expire_all()
    [rule] = routing.list_rules(db, service_code="NOISE")
    assert (rule.area_code, rule.department_code, rule.note) == ("TC-W", "CMB", "west side")

    deleted = client.post(
        f"/admin/routing/rules/{rule.id}/delete",
        data={"service": "NOISE", "csrf_token": csrf},
        headers=HTML,
    )
    assert deleted.status_code == 200
    assert "The rule is deleted." in deleted.text
    db.expire_all()
    assert routing.list_rules(db, service_code="NOISE") == []


def test_a_rule_for_an_unknown_area_is_refused_on_the_page(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    csrf = csrf_from(client.get("/admin/routing", headers=HTML).text)
    response = client.post(
        "/admin/routing/rules",
        data={"service_code": "NOISE", "area": "TC-Q", "department": "CMB", "csrf_token": csrf},
        headers=HTML,
    )
    assert response.status_code == 404
    assert "There is no area with the code &#39;TC-Q&#39;" in response.text
    assert 'value="TC-Q"' in response.text
    db.expire_all()
    assert routing.list_rules(db, service_code="NOISE") == []


# --- the JSON API ----------------------------------------------------------------------------


def test_the_catalog_is_public_json(client: TestClient, services: CatalogFixture) -> None:
    response = client.get("/api/cases/catalog")
    assert response.status_code == 200
    document = response.json()
    assert [g["code"] for g in document["groups"]] == ["roads", "water", "noise"]
    assert document["categories"][2]["attributes"][0]["values"][0]["key"] == "small"
    assert len(document["routing"]) == 2


def test_admin_puts_a_catalog_and_gets_every_problem_of_a_bad_one(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    headers = api_headers(client)
    data = copy.deepcopy(CATALOG)
    data["categories"][2]["name_zh"] = "噪音扰民"
    data["routing"] = [{"service_code": "NOISE", "area": "TC-E", "department": "WATER"}]
    response = client.put("/api/cases/catalog", json=data, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["categories_updated"] == 1
    assert response.json()["rules_set"] == 1

    data["routing"][0]["department"] = "NOPE"
    data["categories"][0]["sla"] = {"normal": {"acknowledge_hours": 0, "resolve_hours": 1}}
    bad = client.put("/api/cases/catalog", json=data, headers=headers)
    assert bad.status_code == 422
    where = {problem["where"] for problem in bad.json()["error"]["details"]}
    assert where == {
        "categories[0] (POTHOLE).sla.normal.acknowledge_hours",
        "routing[0] (NOISE).department",
    }
    db.expire_all()
    assert routing.list_rules(db, service_code="NOISE")[0].department_code == "WATER"


def test_changing_the_catalog_or_rules_needs_the_admin_role(
    client: TestClient, services: CatalogFixture
) -> None:
    anonymous = client.put("/api/cases/catalog", json={})
    assert anonymous.status_code in (401, 403)
    login(client, "staff.water@example.org")
    headers = api_headers(client)
    assert client.put("/api/cases/catalog", json={}, headers=headers).status_code == 403
    assert client.get("/api/cases/routing/rules").status_code == 403
    rule = {"service_code": "NOISE", "area": "TC", "department": "WATER"}
    assert client.post("/api/cases/routing/rules", json=rule, headers=headers).status_code == 403
    assert client.delete("/api/cases/routing/rules/1", headers=headers).status_code == 403


def test_rules_api_lists_creates_replaces_and_deletes(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    headers = api_headers(client)
    listed = client.get("/api/cases/routing/rules", params={"service_code": "FLOODING"})
    assert [(r["area_code"], r["department_code"]) for r in listed.json()] == [
        ("TC", "WATER"),
        ("TC-E-N", "CMB"),
    ]
    rule = {"service_code": "NOISE", "area": "TC-W", "department": "WATER", "note": "n"}
    created = client.post("/api/cases/routing/rules", json=rule, headers=headers)
    assert created.status_code == 201
    assert created.json()["area_level"] == "district"
    replaced = client.post(
        "/api/cases/routing/rules", json={**rule, "department": "CMB"}, headers=headers
    )
    assert replaced.json()["id"] == created.json()["id"]
    assert replaced.json()["department_code"] == "CMB"
    unknown = client.post(
        "/api/cases/routing/rules", json={**rule, "service_code": "GHOST"}, headers=headers
    )
    assert unknown.status_code == 404
    assert "GHOST" in unknown.json()["error"]["message"]
    gone = client.delete(f"/api/cases/routing/rules/{created.json()['id']}", headers=headers)
    assert gone.status_code == 204
    again = client.delete(f"/api/cases/routing/rules/{created.json()['id']}", headers=headers)
    assert again.status_code == 404
    assert client.get("/api/cases/routing/rules?service_code=GHOST").status_code == 404


@pytest.mark.parametrize(
    ("service_code", "point"),
    [
        ("FLOODING", EAST_NORTH_POINT),
        ("FLOODING", WEST_POINT),
        ("POTHOLE", WEST_POINT),
        ("NOISE", EAST_NORTH_POINT),
    ],
)
def test_the_ownership_map_agrees_with_routing_a_case_at_a_point(
    client: TestClient,
    db: Session,
    services: CatalogFixture,
    service_code: str,
    point: tuple[float, float],
) -> None:
    login(client, "admin@example.org")
    location = geo_service.locate(db, lon=point[0], lat=point[1])
    area = location.by_level(AreaLevel.SUBDISTRICT)
    assert area is not None
    decision = routing.route(
        db, category=catalog.get_category(db, service_code=service_code), location=location
    )
    response = client.get(
        "/api/cases/routing/ownership",
        params={"service_code": service_code, "level": "subdistrict"},
    )
    assert response.status_code == 200
    body = response.json()
    owners = {owner["area_code"]: owner for owner in body["areas"]}
    assert set(owners) == {"TC-W-N", "TC-W-S", "TC-E-N", "TC-E-S"}
    owner = owners[area.code]
    expected = (
        auth_service.get_department_by_id(db, department_id=decision.department_id).code
        if decision.department_id is not None
        else None
    )
    assert owner["department_code"] == expected
    assert owner["rule_id"] == decision.rule_id
    assert owner["source"] == ("rule" if decision.rule_id else "default" if expected else "triage")
    assert set(body["departments"]) == {o["department_code"] for o in body["areas"]} - {None}


def test_ownership_needs_a_known_service_and_level(
    client: TestClient, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    unknown = client.get("/api/cases/routing/ownership?service_code=GHOST&level=district")
    assert unknown.status_code == 404
    level = client.get("/api/cases/routing/ownership?service_code=NOISE&level=street")
    assert level.status_code == 400
    assert "Unknown level 'street'" in level.json()["error"]["message"]


def test_an_operator_may_read_rules_and_ownership(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    auth_service.create_user(
        db, email="ops@example.org", password=PASSWORD, roles=["operator"], actor=ACTOR
    )
    db.commit()
    login(client, "ops@example.org")
    assert client.get("/api/cases/routing/rules").status_code == 200
    ownership = client.get("/api/cases/routing/ownership?service_code=NOISE&level=district")
    assert {o["source"] for o in ownership.json()["areas"]} == {"triage"}
    page = client.get("/admin/routing", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="rule-form"' not in page.text
