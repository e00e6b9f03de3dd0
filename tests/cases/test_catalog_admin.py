"""The catalog admin pages: the list, the category form, activation, download and upload."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases import catalog, catalog_file
from tests.cases.conftest import ACTOR, CATALOG, CatalogFixture
from tests.conftest import PASSWORD, csrf_from, login

HTML = {"accept": "text/html"}


@pytest.fixture
def operator(db: Session, services: CatalogFixture) -> str:
    auth_service.create_user(
        db, email="ops@example.org", password=PASSWORD, roles=["operator"], actor=ACTOR
    )
    db.commit()
    return "ops@example.org"


def new_category_form(csrf: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "service_code": "GRAFFITI",
        "group": "roads",
        "name_zh": "乱涂乱画",
        "name_en": "Graffiti",
        "description_zh": "墙上涂鸦。",
        "description_en": "Paint on walls.",
        "keywords": "涂鸦，乱画, graffiti\nspray paint",
        "department": "CMB",
        "priority": "low",
        "duplicate_radius_m": "25",
        "photo_required": "on",
        "active": "on",
        "sla_normal_acknowledge": "24",
        "sla_normal_resolve": "96",
        "sla_urgent_acknowledge": "",
        "sla_urgent_resolve": "",
        "attr_code": ["surface", "seen_at", ""],
        "attr_datatype": ["singlevaluelist", "datetime", "string"],
        "attr_required": ["1", "0", "0"],
        "attr_variable": ["1", "1", "1"],
        "attr_description_zh": ["在什么上面？", "什么时候看到的？", ""],
        "attr_description_en": ["On what?", "When did you see it?", ""],
        "attr_datatype_description": ["", "", ""],
        "attr_values": ["wall | 墙 | Wall\nbridge | 桥 | Bridge", "", ""],
    }
    form.update(changes)
    return form


def test_admin_sees_the_catalog_with_groups_departments_and_sla(
    client: TestClient, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/catalog", headers=HTML)
    assert page.status_code == 200
    assert 'data-code="POTHOLE"' in page.text
    assert "路面坑洞" in page.text
    assert "Normal 4 / 72 h" in page.text
    assert "rules or triage" in page.text  # FLOODING and NOISE have no default department
    assert "2 routing rule(s)" in page.text
    assert 'href="/admin/catalog/new"' in page.text
    assert 'href="/admin/catalog"' in page.text  # the navigation


def test_an_operator_may_look_but_not_change_and_staff_may_not_look(
    client: TestClient, services: CatalogFixture, operator: str
) -> None:
    login(client, operator)
    page = client.get("/admin/catalog", headers=HTML)
    assert page.status_code == 200
    assert 'action="/admin/catalog/import"' not in page.text
    form = client.get("/admin/catalog/services/POTHOLE", headers=HTML)
    assert form.status_code == 200
    assert "<fieldset disabled>" in form.text
    assert 'data-testid="save-category"' not in form.text
    refused = client.post(
        "/admin/catalog/services/POTHOLE/active",
        data={"active": "0", "csrf_token": csrf_from(page.text)},
        headers=HTML,
    )
    assert refused.status_code == 403
    assert client.get("/admin/catalog/new", headers=HTML).status_code == 403

    client.cookies.clear()
    login(client, "staff.cmb@example.org")
    assert client.get("/admin/catalog", headers=HTML).status_code == 403
    assert client.get("/admin/routing", headers=HTML).status_code == 403
    client.cookies.clear()
    anonymous = client.get("/admin/catalog", headers=HTML, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")


def test_admin_creates_a_category_with_the_form(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/catalog/new", headers=HTML)
    assert page.status_code == 200
    assert 'id="attr-template"' in page.text
    response = client.post(
        "/admin/catalog/new", data=new_category_form(csrf_from(page.text)), headers=HTML
    )
    assert response.status_code == 200, response.text  # followed the redirect
    assert "Category GRAFFITI saved." in response.text
    db.expire_all()
    category = catalog.get_category(db, service_code="GRAFFITI")
    assert category.keywords == ["涂鸦", "乱画", "graffiti", "spray paint"]
    assert category.default_priority == "low"
    assert category.photo_required is True
    assert category.duplicate_radius_m == 25
    assert category.sla == {"normal": {"acknowledge_hours": 24, "resolve_hours": 96}}
    assert [a.code for a in category.attributes] == ["surface", "seen_at"]
    assert category.attributes[0].required is True
    assert category.attributes[0].values == [
        {"key": "wall", "name_zh": "墙", "name_en": "Wall"},
        {"key": "bridge", "name_zh": "桥", "name_en": "Bridge"},
    ]


def test_admin_edits_reorders_and_removes_attributes(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/catalog/services/POTHOLE", headers=HTML)
    assert page.status_code == 200
    assert "small | 小 | Small" in page.text
    form = new_category_form(
        csrf_from(page.text),
        service_code="RENAMED",  # ignored: a code never changes
        group="water",
        name_en="Road hole",
        department="",
        photo_required="",
        active="",
        attr_code=["hazards", "size"],
        attr_datatype=["multivaluelist", "singlevaluelist"],
        attr_required=["0", "1"],
        attr_variable=["1", "0"],
        attr_description_zh=["危险", "大小"],
        attr_description_en=["Who?", "How big?"],
        attr_datatype_description=["", ""],
        attr_values=["cars | 车 | Cars", "s | 小 | Small\nl | 大 | Large"],
    )
    del form["photo_required"], form["active"]  # unchecked boxes are not sent
    response = client.post("/admin/catalog/services/POTHOLE", data=form, headers=HTML)
    assert response.status_code == 200, response.text
    db.expire_all()
    category = catalog.get_category(db, service_code="POTHOLE")
    assert category.name_en == "Road hole"
    assert category.group.code == "water"
    assert category.default_department_id is None
    assert category.photo_required is False
    assert category.is_active is False
    assert [(a.code, a.position) for a in category.attributes] == [("hazards", 1), ("size", 2)]
    assert category.attributes[1].variable is False
    with pytest.raises(Exception, match="no service"):
        catalog.get_category(db, service_code="RENAMED")


def test_a_bad_form_shows_each_problem_keeps_the_input_and_saves_nothing(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/catalog/new", headers=HTML)
    form = new_category_form(
        csrf_from(page.text),
        department="NOPE",
        sla_normal_acknowledge="100",
        sla_normal_resolve="10",
        attr_values=["", "", ""],
    )
    response = client.post("/admin/catalog/new", data=form, headers=HTML)
    assert response.status_code == 422
    assert 'data-testid="form-problems"' in response.text
    assert "attributes[0] (surface)" in response.text
    assert "a singlevaluelist attribute needs a list of values" in response.text
    assert "resolve_hours must not be less than acknowledge_hours" in response.text
    assert "unknown department code &#39;NOPE&#39;" in response.text
    assert 'value="乱涂乱画"' in response.text  # what was typed is shown again
    db.expire_all()
    assert "GRAFFITI" not in {c.service_code for c in catalog.list_categories(db)}


def test_the_form_needs_the_csrf_token(client: TestClient, services: CatalogFixture) -> None:
    login(client, "admin@example.org")
    response = client.post("/admin/catalog/new", data=new_category_form(""), headers=HTML)
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_admin_deactivates_and_activates_a_category(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/catalog", headers=HTML)
    csrf = csrf_from(page.text)
    off = client.post(
        "/admin/catalog/services/NOISE/active",
        data={"active": "0", "csrf_token": csrf},
        headers=HTML,
    )
    assert off.status_code == 200
    assert "Inactive" in off.text
    db.expire_all()
    assert catalog.get_category(db, service_code="NOISE").is_active is False
    client.post("/admin/catalog/services/NOISE/active", data={"active": "1", "csrf_token": csrf})
    db.expire_all()
    assert catalog.get_category(db, service_code="NOISE").is_active is True


def test_the_catalog_downloads_as_yaml_and_json(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    as_yaml = client.get("/admin/catalog/export.yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert "attachment" in as_yaml.headers["content-disposition"]
    assert yaml.safe_load(as_yaml.text) == catalog_file.export_document(db)
    as_json = client.get("/admin/catalog/export.json")
    assert json.loads(as_json.text) == catalog_file.export_document(db)
    assert client.get("/admin/catalog/export.csv", headers=HTML).status_code == 400


def test_uploading_a_catalog_imports_it_or_lists_every_problem(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    page = client.get("/admin/catalog", headers=HTML)
    data = copy.deepcopy(CATALOG)
    data["categories"][0]["department"] = "NOPE"
    data["categories"][1]["attributes"] = [
        {
            "code": "kind",
            "datatype": "multivaluelist",
            "description_zh": "类",
            "description_en": "K",
        }
    ]
    data["routing"] = [{"service_code": "NOISE", "area": "TC-X", "department": "CMB"}]
    bad = client.post(
        "/admin/catalog/import",
        data={"csrf_token": csrf_from(page.text)},
        files={"file": ("catalog.json", json.dumps(data).encode(), "application/json")},
        headers=HTML,
    )
    assert bad.status_code == 422
    assert 'data-testid="import-problems"' in bad.text
    assert "categories[0] (POTHOLE).department" in bad.text
    assert "categories[1] (FLOODING).attributes[0] (kind)" in bad.text
    assert "routing[0] (NOISE).area" in bad.text
    db.expire_all()
    assert catalog.get_category(db, service_code="FLOODING").attributes == []

    data = copy.deepcopy(CATALOG)
    data["categories"][2]["name_en"] = "Noise nuisance"
    good = client.post(
        "/admin/catalog/import",
        data={"csrf_token": csrf_from(page.text)},
        files={"file": ("catalog.yaml", yaml.safe_dump(data, allow_unicode=True).encode())},
        headers=HTML,
    )
    assert good.status_code == 200
    assert "categories 0 new, 1 updated, 2 unchanged" in good.text
    db.expire_all()
    assert catalog.get_category(db, service_code="NOISE").name_en == "Noise nuisance"

    wrong = client.post(
        "/admin/catalog/import",
        data={"csrf_token": csrf_from(page.text)},
        files={"file": ("catalog.txt", b"hello")},
        headers=HTML,
    )
    assert wrong.status_code == 400
    assert "name the file *.yaml, *.yml or *.json" in wrong.text


def test_admin_adds_and_renames_a_group(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    login(client, "admin@example.org")
    csrf = csrf_from(client.get("/admin/catalog", headers=HTML).text)
    added = client.post(
        "/admin/catalog/groups",
        data={"code": "parks", "name_zh": "公园", "name_en": "Parks", "csrf_token": csrf},
        headers=HTML,
    )
    assert added.status_code == 200
    assert "Group parks saved." in added.text
    client.post(
        "/admin/catalog/groups",
        data={"code": "roads", "name_zh": "道路交通", "name_en": "Roads", "csrf_token": csrf},
    )
    db.expire_all()
    groups = [(g.code, g.name_zh) for g in catalog.list_groups(db)]
    assert groups == [
        ("roads", "道路交通"),
        ("water", "排水"),
        ("noise", "噪声"),
        ("parks", "公园"),
    ]
    bad = client.post(
        "/admin/catalog/groups",
        data={"code": "bad code!", "name_zh": "x", "name_en": "x", "csrf_token": csrf},
        headers=HTML,
    )
    assert bad.status_code == 422


def test_text_from_the_catalog_is_escaped_on_the_pages(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    data = copy.deepcopy(CATALOG)
    data["categories"][2]["name_en"] = "<script>alert(1)</script>"
    data["categories"][2]["keywords"] = ['"><img src=x onerror=alert(1)>']
    catalog_file.import_document(db, data, actor=ACTOR)
    db.commit()
    login(client, "admin@example.org")
    for url in ("/admin/catalog", "/admin/catalog/services/NOISE", "/admin/routing"):
        page = client.get(url, headers=HTML)
        assert "<script>alert(1)</script>" not in page.text, url
        assert "<img src=x" not in page.text, url
