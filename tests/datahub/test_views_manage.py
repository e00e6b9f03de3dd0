"""A dataset's settings page (/data/{name}/manage): metadata and access level, schema
versions (with the breaking-change confirmation), attached files and deleting (form posts,
both databases)."""

from __future__ import annotations

import html
import json
import re

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.auth.models import User
from cityos.datahub import service
from cityos.datahub.models import Resource, ResourceKind
from tests.conftest import csrf_from, login
from tests.datahub.conftest import MakeDataset
from tests.datahub.portal_support import HTML, PEOPLE_ROWS, ZH, form_post, people_dataset, stations

MANAGE = "/data/air-stations/manage"
METADATA = {
    "title_zh": "空气质量监测站",
    "title_en": "Air quality stations",
    "description_zh": "各监测站的 PM2.5。",
    "description_en": "PM2.5 by station.",
    "keywords": "air, pm25",
    "licence": "CC-BY-4.0",
    "frequency": "daily",
    "spatial": "",
    "temporal_start": "",
    "temporal_end": "",
    "contact_name": "",
    "contact_email": "air@example.org",
    "access": "open",
    "themes": ["ENVI"],
}


def post(client: TestClient, action: str, data: dict[str, object]) -> Response:
    return form_post(client, MANAGE, f"{MANAGE}/{action}", data)


def audited(db: Session, action: str) -> list[AuditEntry]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEntry).where(
                AuditEntry.action == action, AuditEntry.entity_id == "air-stations"
            )
        )
    )


def shown_schema(page: str) -> dict[str, object]:
    found = re.search(r'data-testid="schema-text">([^<]*)</textarea>', page)
    assert found is not None
    value: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return value


# --- who may manage ---------------------------------------------------------------------------


def test_the_settings_page_is_for_those_who_manage_the_dataset(
    client: TestClient, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    anonymous = client.get(MANAGE, headers=HTML, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    login(client, "steward.water@example.org")
    other = client.get(MANAGE, headers=HTML)
    assert other.status_code == 403
    assert "Only stewards and staff of City Management" in other.text
    assert 'href="/data/air-stations/manage"' not in client.get("/data/air-stations").text
    login(client, "steward.cmb@example.org")
    page = client.get(MANAGE, headers=HTML)
    assert page.status_code == 200
    for form in ("metadata-form", "schema-form", "attach-form", "delete-form"):
        assert f'data-testid="{form}"' in page.text
    assert page.text.count('name="csrf_token"') >= 4
    assert 'value="air@example.org"' in page.text
    assert [f["name"] for f in shown_schema(page.text)["fields"]] == [  # type: ignore[attr-defined]
        "code",
        "district",
        "pm25",
        "location",
    ]
    assert 'data-testid="manage-air-stations"' in client.get("/data/steward", headers=HTML).text
    assert "数据集设置" in client.get(MANAGE, headers=ZH).text


def test_an_unknown_dataset_has_no_settings_page(
    client: TestClient, stewards: dict[str, User]
) -> None:
    login(client, "steward.cmb@example.org")
    response = client.get("/data/no-such-data/manage", headers=HTML)
    assert response.status_code == 404
    assert "no-such-data" in response.text


def test_other_departments_may_not_post_the_settings_forms(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.water@example.org")
    for action, data in (
        ("metadata", {**METADATA, "access": "restricted"}),
        ("schema", {"schema": '{"fields": [{"name": "a"}]}'}),
        ("delete", {"confirm": "air-stations"}),
    ):
        response = form_post(client, "/data/steward", f"{MANAGE}/{action}", data)
        assert response.status_code == 403, action
    assert service.get_dataset(db, name="air-stations").access == "open"


def test_the_settings_forms_need_the_security_token(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.cmb@example.org")
    response = client.post(f"{MANAGE}/delete", data={"confirm": "air-stations"}, headers=HTML)
    assert response.status_code == 403
    assert "security token" in response.text
    assert service.find_dataset(db, name="air-stations") is not None


# --- metadata and access level -----------------------------------------------------------------


def test_a_steward_changes_the_metadata_and_the_access_level(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.cmb@example.org")
    changed = {
        **METADATA,
        "title_zh": "",
        "access": "shared",
        "keywords": "air, pm25, stations",
        "temporal_start": "2024-01-01",
    }
    response = post(client, "metadata", changed)
    assert response.status_code == 303
    assert response.headers["location"] == f"{MANAGE}?notice=saved#metadata"
    db.expire_all()
    dataset = service.get_dataset(db, name="air-stations")
    assert (dataset.access, dataset.title_zh, dataset.title_en) == (
        "shared",
        "",
        METADATA["title_en"],
    )
    assert dataset.keywords == ["air", "pm25", "stations"]
    assert dataset.temporal_start is not None
    assert dataset.temporal_start.isoformat() == "2024-01-01"
    entries = audited(db, "datahub.dataset.update")
    assert len(entries) == 1
    assert "access" in entries[0].summary
    assert "The metadata was saved." in client.get(response.headers["location"]).text
    again = post(client, "metadata", changed)
    assert again.headers["location"] == f"{MANAGE}?notice=unchanged#metadata"
    assert len(audited(db, "datahub.dataset.update")) == 1


def test_bad_metadata_is_shown_again_with_what_to_fix(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.cmb@example.org")
    bad_email = post(client, "metadata", {**METADATA, "contact_email": "air at example"})
    assert bad_email.status_code == 422
    assert "is not an e-mail" in bad_email.text
    assert 'value="air at example"' in bad_email.text
    no_title = post(client, "metadata", {**METADATA, "title_zh": "", "title_en": ""})
    assert no_title.status_code == 422
    assert "give a title" in no_title.text
    backwards = post(
        client,
        "metadata",
        {**METADATA, "temporal_start": "2024-05-01", "temporal_end": "2024-01-01"},
    )
    assert backwards.status_code == 422
    assert "ends before temporal_start" in backwards.text
    unknown_access = post(client, "metadata", {**METADATA, "access": "secret"})
    assert unknown_access.status_code == 422
    assert "use one of open, shared, restricted" in unknown_access.text
    db.expire_all()
    dataset = service.get_dataset(db, name="air-stations")
    assert (dataset.contact_email, dataset.access) == ("air@example.org", "open")
    assert audited(db, "datahub.dataset.update") == []


# --- the schema ------------------------------------------------------------------------------


def with_field(extra: dict[str, object]) -> str:
    from tests.datahub.portal_support import STATIONS

    return json.dumps({**STATIONS, "fields": [*STATIONS["fields"], extra]})


def test_a_schema_change_that_keeps_the_rows_makes_a_new_version(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    dataset = stations(make_dataset)
    rows = dataset.row_count
    login(client, "steward.cmb@example.org")
    added = with_field({"name": "note", "type": "string"})
    response = post(client, "schema", {"schema": added, "note": "a note column"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{MANAGE}?notice=schema_set#schema"
    db.expire_all()
    dataset = service.get_dataset(db, name="air-stations")
    assert (dataset.schema_version, dataset.row_count) == (2, rows)
    assert service.schema_versions(db, dataset=dataset)[-1].note == "a note column"
    assert len(audited(db, "datahub.schema.set")) == 2  # the first version, and this one
    page = client.get(response.headers["location"], headers=HTML).text
    assert "The new schema version was saved." in page
    assert "note" in [f["name"] for f in shown_schema(page)["fields"]]  # type: ignore[attr-defined]
    same = post(client, "schema", {"schema": added})
    assert same.headers["location"] == f"{MANAGE}?notice=schema_same#schema"


def test_a_breaking_schema_change_lists_what_breaks_and_can_start_an_empty_version(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.cmb@example.org")
    breaking = json.dumps({"fields": [{"name": "code", "type": "integer"}]})
    refused = post(client, "schema", {"schema": breaking, "note": "codes are numbers now"})
    assert refused.status_code == 409
    assert "would break the 12 stored rows" in refused.text
    assert 'data-testid="problems"' in refused.text
    assert 'data-testid="migrate-form"' in refused.text
    assert 'value="codes are numbers now"' in refused.text
    db.expire_all()
    assert service.get_dataset(db, name="air-stations").schema_version == 1
    confirm = re.search(r'data-testid="migrate-form">(.*?)</form>', refused.text, re.S)
    assert confirm is not None
    kept = re.search(r'name="schema" value="([^"]*)"', confirm.group(1))
    assert kept is not None
    assert json.loads(html.unescape(kept.group(1))) == json.loads(breaking)
    response = post(
        client,
        "schema",
        {"schema": html.unescape(kept.group(1)), "note": "codes", "migration": "empty"},
    )
    assert response.status_code == 303
    db.expire_all()
    dataset = service.get_dataset(db, name="air-stations")
    assert (dataset.schema_version, dataset.row_count) == (2, 0)


def test_a_bad_schema_says_what_to_fix(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.cmb@example.org")
    not_json = post(client, "schema", {"schema": "{fields: ["})
    assert not_json.status_code == 400
    assert "not valid JSON: line 1, column 2" in not_json.text
    assert "{fields: [" in not_json.text  # the textarea keeps what was typed
    bad_type = post(client, "schema", {"schema": '{"fields": [{"name": "a", "type": "nope"}]}'})
    assert bad_type.status_code == 422
    assert "fields[0]" in bad_type.text
    bad_migration = post(
        client, "schema", {"schema": with_field({"name": "x"}), "migration": "drop"}
    )
    assert bad_migration.status_code == 400
    assert "migration=&#39;drop&#39;" in bad_migration.text
    long_note = post(client, "schema", {"schema": with_field({"name": "x"}), "note": "n" * 501})
    assert long_note.status_code == 400
    assert "The note is longer than 500 characters" in long_note.text
    db.expire_all()
    assert service.get_dataset(db, name="air-stations").schema_version == 1


# --- attached files ---------------------------------------------------------------------------


def attach(client: TestClient, filename: str, content: bytes, description: str = "") -> Response:
    page = client.get(MANAGE, headers=HTML)
    return client.post(
        f"{MANAGE}/files",
        data={"csrf_token": csrf_from(page.text), "description": description},
        files={"file": (filename, content, "application/pdf")},
        headers=HTML,
        follow_redirects=False,
    )


def test_a_steward_attaches_a_file_under_a_safe_name(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.cmb@example.org")
    response = attach(client, "../../methods.pdf", b"%PDF-1.4 methods", "How PM2.5 is measured")
    assert response.status_code == 303
    assert response.headers["location"] == f"{MANAGE}?notice=attached#files"
    resource = db.scalars(select(Resource).where(Resource.kind == ResourceKind.FILE.value)).one()
    assert resource.name == "methods.pdf"
    assert resource.description == "How PM2.5 is measured"
    assert len(audited(db, "datahub.resource.attach")) == 1
    page = client.get("/data/air-stations", headers=HTML).text
    assert f"/api/data/air-stations/resources/{resource.uuid}" in page
    assert "methods.pdf" in client.get(MANAGE, headers=HTML).text


def test_an_empty_missing_or_too_large_file_is_refused_with_what_to_fix(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    login(client, "steward.cmb@example.org")
    empty = attach(client, "empty.pdf", b"")
    assert empty.status_code == 400
    assert "empty.pdf is empty" in empty.text
    page = client.get(MANAGE, headers=HTML)
    missing = client.post(
        f"{MANAGE}/files",
        data={"csrf_token": csrf_from(page.text), "description": "kept"},
        headers=HTML,
    )
    assert missing.status_code == 400
    assert "Choose a file to attach." in missing.text
    assert 'value="kept"' in missing.text
    settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = settings.model_copy(update={"max_upload_mb": 0.001})  # type: ignore[attr-defined]
    try:
        big = attach(client, "big.pdf", b"x" * 5_000)
    finally:
        client.app.state.settings = settings  # type: ignore[attr-defined]
    assert big.status_code == 413
    assert "big.pdf is larger than 0.001 MB" in big.text
    assert db.scalars(select(Resource).where(Resource.kind == ResourceKind.FILE.value)).all() == []


# --- deleting -------------------------------------------------------------------------------


def test_deleting_asks_for_the_name_then_deletes_the_dataset(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    stations(make_dataset)
    people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    empty = post(client, "delete", {"confirm": ""})
    assert empty.status_code == 400
    assert "type its name (air-stations)" in empty.text
    wrong = post(client, "delete", {"confirm": "residents"})
    assert wrong.status_code == 400
    assert "&#39;residents&#39; is not its name" in wrong.text
    assert service.find_dataset(db, name="air-stations") is not None
    response = post(client, "delete", {"confirm": "air-stations"})
    assert response.status_code == 303
    assert response.headers["location"] == "/data/steward?notice=deleted"
    db.expire_all()
    assert service.find_dataset(db, name="air-stations") is None
    assert service.get_dataset(db, name="residents").row_count == len(PEOPLE_ROWS)
    assert len(audited(db, "datahub.dataset.delete")) == 1
    steward = client.get(response.headers["location"], headers=HTML).text
    assert "The dataset was deleted." in steward
    assert client.get(MANAGE, headers=HTML).status_code == 404
