"""The data hub JSON API: catalogue search, datasets, schemas, loads, files and inference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.app import create_app
from cityos.config import Settings
from cityos.datahub import service
from tests.conftest import login
from tests.datahub.access_support import (
    PLAIN_SCHEMA,
    Hub,
    audit_actions,
    bearer,
    hub,
    make_user,
)

__all__ = ["hub"]

GOOD_CSV = "id,name,beds\n10,Central,300\n11,Harbour,\n"
BAD_CSV = "id,name,beds\n10,Central,lots\n10,Harbour,5\n12,,7\n"


def _error(response: Any) -> str:
    message: str = response.json()["error"]["message"]
    return message


def _upload(
    client: TestClient,
    name: str,
    text: str,
    headers: dict[str, str],
    filename: str = "beds.csv",
    **form: str,
) -> Any:
    return client.post(
        f"/api/data/{name}/loads",
        files={"file": (filename, text.encode("utf-8"), "text/csv")},
        data=form,
        headers=headers,
    )


# --- the catalogue -------------------------------------------------------------------------


def test_search_shows_open_datasets_to_anonymous_visitors_with_facets(
    client: TestClient, db: Session, hub: Hub
) -> None:
    anonymous = client.get("/api/data").json()
    assert anonymous["count"] == 2
    assert {r["name"] for r in anonymous["results"]} == {"hospitals", "open-register"}
    first = next(r for r in anonymous["results"] if r["name"] == "hospitals")
    assert first["department"] == {
        "code": "CMB",
        "name_zh": "城市管理局",
        "name_en": "City Management",
    }
    assert first["links"]["rows"] == "/api/data/hospitals/rows"
    assert first["links"]["download"]["csv"] == "/api/data/hospitals/download.csv"
    assert first["links"]["page"] == "/data/hospitals"
    assert first["licence"]["code"] == "CC-BY-4.0"
    assert first["row_count"] == 2
    assert {v["value"] for v in anonymous["facets"]["access"]} == {"open"}

    water = bearer(db, hub.people["water"])
    signed_in = client.get("/api/data", headers=water).json()
    assert signed_in["count"] == 4
    access_facet = {v["value"]: v["count"] for v in signed_in["facets"]["access"]}
    assert access_facet == {"open": 2, "shared": 1, "restricted": 1}
    restricted = client.get(
        "/api/data?access=restricted&access=shared&sort=name", headers=water
    ).json()
    assert [r["name"] for r in restricted["results"]] == ["register", "shared-register"]
    paged = client.get("/api/data?sort=name&page=2&page_size=1", headers=water).json()
    assert [r["name"] for r in paged["results"]] == ["open-register"]
    assert paged["count"] == 4
    offset = client.get("/api/data?sort=name&offset=3&limit=1", headers=water).json()
    assert [r["name"] for r in offset["results"]] == ["shared-register"]
    words = client.get("/api/data?q=hospitals").json()
    assert [r["name"] for r in words["results"]] == ["hospitals"]
    bad = client.get("/api/data?sort=colour")
    assert bad.status_code == 400
    assert "use one of relevance" in _error(bad)


def test_one_dataset_shows_schema_resources_and_your_access(
    client: TestClient, db: Session, hub: Hub
) -> None:
    assert client.get("/api/data/register").status_code == 401
    water = bearer(db, hub.people["water"])
    body = client.get("/api/data/register", headers=water).json()
    assert body["access"] == "restricted"
    assert [f["name"] for f in body["schema"]["fields"]] == [
        "id",
        "district",
        "mobile",
        "owner_name",
    ]
    assert body["resources"][0]["kind"] == "table"
    assert body["your_access"]["read"] is False
    assert "Ask for access: POST /api/data/register/requests" in body["your_access"]["reason"]
    assert body["your_access"]["manage"] is False
    mine = client.get("/api/data/register", headers=bearer(db, hub.people["cmb"])).json()
    assert mine["your_access"] == {
        "read": True,
        "reason": "publishing department",
        "owner": True,
        "masked": [],
        "hidden": [],
        "manage": True,
    }
    opened = client.get("/api/data/open-register").json()
    assert opened["your_access"]["masked"] == ["mobile"]
    assert opened["your_access"]["hidden"] == ["owner_name"]
    missing = client.get("/api/data/nothing-here")
    assert missing.status_code == 404
    assert "GET /api/data" in _error(missing)


def test_restricted_rows_without_a_grant_say_how_to_ask(
    client: TestClient, db: Session, hub: Hub
) -> None:
    refused = client.get("/api/data/register/rows", headers=bearer(db, hub.people["water"]))
    assert refused.status_code == 403
    assert "Ask for access: POST /api/data/register/requests" in _error(refused)
    hidden = client.get("/api/data/open-register/rows?fields=id,owner_name")
    assert hidden.status_code == 403
    assert "owner_name" in _error(hidden)


# --- creating and changing datasets ---------------------------------------------------------


def test_stewards_and_staff_create_datasets_for_their_department(
    client: TestClient, db: Session, hub: Hub
) -> None:
    steward = bearer(db, hub.stewards["water"])
    body = {
        "name": "pipes",
        "title_en": "Water pipes",
        "title_zh": "供水管网",
        "themes": ["ENVI"],
        "access": "shared",
        "frequency": "monthly",
        "schema": PLAIN_SCHEMA,
    }
    created = client.post("/api/data", json=body, headers=steward)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["department"]["code"] == "WATER"
    assert made["schema_version"] == 1
    assert made["title"] == {"zh": "供水管网", "en": "Water pipes"}
    assert "datahub.dataset.create" in audit_actions(db, "pipes")

    again = client.post("/api/data", json=body, headers=steward)
    assert again.status_code == 409
    elsewhere = client.post(
        "/api/data", json={**body, "name": "pipes-2", "department": "CMB"}, headers=steward
    )
    assert elsewhere.status_code == 403
    assert "Only admins create datasets for another department" in _error(elsewhere)
    staff = client.post(
        "/api/data", json={**body, "name": "pipes-3"}, headers=bearer(db, hub.people["water"])
    )
    assert staff.status_code == 201, staff.text
    assert staff.json()["department"]["code"] == "WATER"
    analyst = make_user(db, "analyst.water@example.org", ["analyst"], "WATER")
    analyst_key = bearer(db, analyst)
    refused = client.post("/api/data", json={**body, "name": "pipes-6"}, headers=analyst_key)
    assert refused.status_code == 403
    assert _error(refused) == "This needs the steward or staff role."
    admin = bearer(db, hub.people["admin"])
    for_cmb = client.post(
        "/api/data", json={**body, "name": "pipes-4", "department": "CMB"}, headers=admin
    )
    assert for_cmb.status_code == 201
    assert for_cmb.json()["department"]["code"] == "CMB"
    no_department = client.post("/api/data", json={**body, "name": "pipes-5"}, headers=admin)
    assert no_department.status_code == 400
    assert "give department" in _error(no_department)


def test_bad_metadata_is_refused_with_every_problem(
    client: TestClient, db: Session, hub: Hub
) -> None:
    steward = bearer(db, hub.stewards["cmb"])
    bad = client.post(
        "/api/data",
        json={"name": "Bad Name", "title_en": "x", "access": "secret", "themes": ["NOPE"]},
        headers=steward,
    )
    assert bad.status_code == 422
    places = {problem["where"] for problem in bad.json()["error"]["details"]}
    assert places == {"name", "access", "themes"}
    unknown = client.post(
        "/api/data", json={"name": "ok-name", "title_en": "x", "colour": "red"}, headers=steward
    )
    assert unknown.status_code == 422
    assert "colour" in _error(unknown)


def test_only_the_owners_change_or_delete_a_dataset(
    client: TestClient, db: Session, hub: Hub
) -> None:
    other = client.patch(
        "/api/data/hospitals",
        json={"title_en": "Mine now"},
        headers=bearer(db, hub.stewards["water"]),
    )
    assert other.status_code == 403
    assert "Only stewards and staff of City Management (CMB)" in _error(other)
    steward = bearer(db, hub.stewards["cmb"])
    changed = client.patch(
        "/api/data/hospitals",
        json={"title_en": "City hospitals", "keywords": ["beds"]},
        headers=steward,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"]["en"] == "City hospitals"
    assert changed.json()["keywords"] == ["beds"]
    bad = client.patch("/api/data/hospitals", json={"access": "secret"}, headers=steward)
    assert bad.status_code == 422
    deleted = client.delete("/api/data/hospitals", headers=steward)
    assert deleted.status_code == 204
    assert client.get("/api/data/hospitals").status_code == 404


def test_browser_writes_need_the_csrf_token(client: TestClient, db: Session, hub: Hub) -> None:
    login(client, hub.stewards["cmb"].email)
    refused = client.patch("/api/data/hospitals", json={"title_en": "x"})
    assert refused.status_code == 403
    assert "CSRF" in _error(refused)


# --- schemas -------------------------------------------------------------------------------


def test_schema_versions_and_breaking_changes(client: TestClient, db: Session, hub: Hub) -> None:
    steward = bearer(db, hub.stewards["cmb"])
    current = client.get("/api/data/hospitals/schema").json()
    assert current["version"] == 1
    assert [f["name"] for f in current["fields"]] == ["id", "name", "beds"]
    wider = {
        **PLAIN_SCHEMA,
        "fields": [*PLAIN_SCHEMA["fields"], {"name": "phone", "type": "string"}],
    }
    added = client.put("/api/data/hospitals/schema?note=phones", json=wider, headers=steward)
    assert added.status_code == 200, added.text
    assert added.json()["version"] == 2
    assert added.json()["note"] == "phones"
    narrower = {**PLAIN_SCHEMA, "fields": PLAIN_SCHEMA["fields"][:2]}
    breaking = client.put("/api/data/hospitals/schema", json=narrower, headers=steward)
    assert breaking.status_code == 409
    assert "migration=empty" in _error(breaking)
    migrated = client.put(
        "/api/data/hospitals/schema?migration=empty", json=narrower, headers=steward
    )
    assert migrated.status_code == 200
    versions = client.get("/api/data/hospitals/schema/versions").json()["versions"]
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, False), (3, True)]
    assert {v["created_by"] for v in versions} == {""}  # who: for the managers only
    managed = client.get("/api/data/hospitals/schema/versions", headers=steward).json()
    assert managed["versions"][1]["created_by"] == "steward.cmb@example.org"
    reader = client.get(
        "/api/data/hospitals/schema/versions", headers=bearer(db, hub.people["water"])
    ).json()
    assert reader["versions"][1]["created_by"] == ""
    old = client.get("/api/data/hospitals/schema?version=1").json()
    assert old["current"] is False
    invalid = client.put(
        "/api/data/hospitals/schema",
        json={"fields": [{"name": "x", "type": "colour"}]},
        headers=steward,
    )
    assert invalid.status_code == 422
    other = client.put(
        "/api/data/hospitals/schema", json=wider, headers=bearer(db, hub.stewards["water"])
    )
    assert other.status_code == 403


# --- loads ---------------------------------------------------------------------------------


def test_upload_stores_a_valid_file_and_rejects_a_bad_one_with_its_report(
    client: TestClient, db: Session, hub: Hub
) -> None:
    steward = bearer(db, hub.stewards["cmb"])
    stored = _upload(client, "hospitals", GOOD_CSV, steward)
    assert stored.status_code == 201, stored.text
    load = stored.json()
    assert load["status"] == "committed"
    assert load["rows_loaded"] == 2
    assert load["report"]["ok"] is True
    rejected = _upload(client, "hospitals", BAD_CSV, steward, filename="../../bad.csv")
    assert rejected.status_code == 422
    report = rejected.json()["report"]
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["filename"] == "bad.csv"
    assert report["ok"] is False
    kinds = {(group["type"], group["field"]) for group in report["errors"]}
    assert ("type-error", "beds") in kinds
    assert any(kind == "primary-key" for kind, _ in kinds)
    type_error = next(g for g in report["errors"] if g["type"] == "type-error")
    assert type_error["examples"][0] == {"row": 2, "value": "lots"}

    history = client.get("/api/data/hospitals/loads").json()["loads"]
    assert [h["status"] for h in history][:2] == ["rejected", "committed"]
    assert "summary" in history[0]
    assert "report" not in history[0]
    one = client.get(f"/api/data/hospitals/loads/{history[0]['id']}", headers=steward).json()
    assert one["report"]["errors"][0]["examples"]
    assert one["actor"] == "steward.cmb@example.org"
    public = client.get(f"/api/data/hospitals/loads/{history[0]['id']}").json()
    assert all("examples" not in g for g in public["report"]["errors"])
    assert public["actor"] == ""
    assert history[0]["actor"] == ""
    db.expire_all()
    assert service.get_dataset(db, name="hospitals").row_count == 4
    assert client.get("/api/data/hospitals/loads/999999").status_code == 404


def test_quarantine_keeps_the_bad_rows_for_the_steward(
    client: TestClient, db: Session, hub: Hub
) -> None:
    steward = bearer(db, hub.stewards["cmb"])
    partial = _upload(client, "hospitals", BAD_CSV, steward, on_error="quarantine")
    assert partial.status_code == 201, partial.text
    body = partial.json()
    assert body["status"] == "partial"
    assert body["rows_rejected"] >= 1
    quarantined = client.get(
        f"/api/data/hospitals/loads/{body['id']}/quarantine", headers=steward
    ).json()
    assert quarantined["total"] == body["rows_rejected"]
    assert quarantined["rows"][0]["row"] == 2
    assert quarantined["rows"][0]["problems"]
    other = client.get(
        f"/api/data/hospitals/loads/{body['id']}/quarantine",
        headers=bearer(db, hub.people["water"]),
    )
    assert other.status_code == 403


def test_bad_upload_options_and_unknown_formats_are_refused(
    client: TestClient, db: Session, hub: Hub
) -> None:
    steward = bearer(db, hub.stewards["cmb"])
    mode = _upload(client, "hospitals", GOOD_CSV, steward, mode="merge")
    assert mode.status_code == 400
    assert "mode='merge': use one of append, replace, upsert" in _error(mode)
    policy = _upload(client, "hospitals", GOOD_CSV, steward, on_error="skip")
    assert policy.status_code == 400
    empty = _upload(client, "hospitals", "", steward)
    assert empty.status_code == 400
    assert "empty" in _error(empty)
    binary = client.post(
        "/api/data/hospitals/loads",
        files={"file": ("beds.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "text/csv")},
        headers=steward,
    )
    assert binary.status_code == 400
    assert "it looks like a PNG image" in _error(binary)
    other = _upload(client, "hospitals", GOOD_CSV, bearer(db, hub.stewards["water"]))
    assert other.status_code == 403


@pytest.fixture
def small_upload_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    tiny = settings.model_copy(update={"max_upload_mb": 0.0001, "datahub_max_upload_mb": 0.0001})
    with TestClient(create_app(tiny, engine=engine)) as client:
        yield client


def test_uploads_over_the_size_limit_are_refused(
    small_upload_client: TestClient, db: Session, hub: Hub
) -> None:
    steward = bearer(db, hub.stewards["cmb"])
    big = "id,name,beds\n" + "".join(f"{i},Name {i},{i}\n" for i in range(100, 400))
    refused = _upload(small_upload_client, "hospitals", big, steward)
    assert refused.status_code == 413
    assert "larger than" in _error(refused)
    attached = small_upload_client.post(
        "/api/data/hospitals/resources",
        files={"file": ("notes.txt", big.encode(), "text/plain")},
        headers=steward,
    )
    assert attached.status_code == 413


# --- inference and attached files -------------------------------------------------------------


def test_infer_suggests_a_schema_for_a_file(client: TestClient, db: Session, hub: Hub) -> None:
    water = bearer(db, hub.people["water"])
    text = "station,measured_on,pm25\nS1,2024-05-01,12.5\nS2,2024-05-01,8\n"
    suggested = client.post(
        "/api/data/infer",
        files={"file": ("air.csv", text.encode(), "text/csv")},
        headers=water,
    )
    assert suggested.status_code == 200, suggested.text
    body = suggested.json()
    types = {f["name"]: f["type"] for f in body["descriptor"]["fields"]}
    assert types["pm25"] == "number"
    assert types["measured_on"] == "date"
    assert body["source"]["format"] == "csv"
    assert body["rows_sampled"] == 2
    assert isinstance(body["notes"], list)


def test_attached_files_follow_the_dataset_access(
    client: TestClient, db: Session, hub: Hub
) -> None:
    steward = bearer(db, hub.stewards["cmb"])
    attached = client.post(
        "/api/data/register/resources",
        files={"file": ("../说明 notes.pdf", b"%PDF-1.4 test", "application/pdf")},
        data={"description": "How the register is kept"},
        headers=steward,
    )
    assert attached.status_code == 201, attached.text
    resource = attached.json()
    assert resource["name"] == "说明 notes.pdf"
    assert resource["format"] == "PDF"
    assert resource["size"] == 13
    url = resource["url"]
    assert url == f"/api/data/register/resources/{resource['id']}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(db, hub.people["water"])).status_code == 403
    owner: dict[str, str] = bearer(db, hub.people["cmb"])
    downloaded = client.get(url, headers=owner)
    assert downloaded.status_code == 200
    assert downloaded.content == b"%PDF-1.4 test"
    assert downloaded.headers["content-type"] == "application/pdf"
    assert (
        "filename*=UTF-8''%E8%AF%B4%E6%98%8E%20notes.pdf"
        in downloaded.headers["content-disposition"]
    )
    listed = client.get("/api/data/register", headers=owner).json()["resources"]
    assert [r["kind"] for r in listed] == ["table", "file"]
    wrong = client.get(f"/api/data/hospitals/resources/{resource['id']}")
    assert wrong.status_code == 404
    table = listed[0]
    redirect = client.get(
        f"/api/data/register/resources/{table['id']}", headers=owner, follow_redirects=False
    )
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/api/data/register/download.csv"
