"""The data client's steward pages: uploads and their validation reports, the steward's
area with sharing decisions, and the new-dataset flow (form posts, both databases)."""

from __future__ import annotations

import html
import json
import re

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import service
from cityos.datahub.models import Load, SharingRequest
from tests.conftest import csrf_from, login
from tests.datahub.conftest import TEST_ACTOR, MakeDataset
from tests.datahub.portal_support import (
    BAD_PEOPLE,
    HTML,
    PEOPLE_ROWS,
    ZH,
    ask,
    form_post,
    people_dataset,
    upload,
)

# --- loads and reports -----------------------------------------------------------------


def test_an_upload_ends_on_its_report_that_explains_the_errors_in_words(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    response = upload(client, "residents", BAD_PEOPLE, mode="append", on_error="quarantine")
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.match(r"^/data/residents/loads/\d+\?notice=loaded$", location)
    report = client.get(location, headers=HTML)
    assert report.status_code == 200
    text = report.text
    assert "2 cells in column &#39;mobile&#39; are not valid mobile phone number" in text
    assert "row 3: &#39;1380013&#39;" in text
    assert "1 cell in column &#39;id&#39; cannot be read as whole number" in text
    assert "partly loaded" in text
    load = db.scalars(select(Load).order_by(Load.id.desc())).first()
    assert load is not None
    assert load.status == "partial"
    assert load.rows_loaded == 1
    chinese = client.get(location, headers=ZH).text
    assert "列“mobile”中有 2 个单元格不是有效的手机号码" in chinese
    assert "第 3 行" in chinese


def test_a_rejected_upload_stores_nothing_and_says_so(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    dataset = people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    response = upload(client, "residents", BAD_PEOPLE)
    report = client.get(response.headers["location"], headers=HTML).text
    assert "Nothing was stored" in report
    db.refresh(dataset)
    assert dataset.row_count == len(PEOPLE_ROWS)


def test_an_upload_without_a_file_or_with_an_unknown_mode_says_what_to_fix(
    client: TestClient, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    wrong_mode = upload(client, "residents", BAD_PEOPLE, mode="merge")
    assert wrong_mode.status_code == 400
    assert "mode=&#39;merge&#39;: use one of append, replace, upsert" in wrong_mode.text
    empty = upload(client, "residents", "")
    assert empty.status_code == 400
    assert "empty" in empty.text


def post_file(client: TestClient, name: str, content: bytes, **fields: str) -> Response:
    page = client.get("/data/steward", headers=HTML)
    return client.post(
        f"/data/{name}/loads",
        data={"csrf_token": csrf_from(page.text), **fields},
        files={"file": ("people.csv", content, "text/csv")},
        headers=HTML,
        follow_redirects=False,
    )


def test_the_upload_form_reads_the_encoding_delimiter_and_header_it_is_told(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    dataset = people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    form = client.get("/data/steward", headers=HTML).text
    for choice in ("encoding", "delimiter", "header", "sheet"):
        assert f'data-testid="upload-{choice}-residents"' in form
    gbk = "id;name;mobile\n5;王五;13700000000\n".encode("gbk")
    response = post_file(
        client, "residents", gbk, encoding="gbk", delimiter=";", header="yes", sheet=""
    )
    assert response.status_code == 303
    load = db.scalars(select(Load).order_by(Load.id.desc())).first()
    assert load is not None
    assert (load.status, load.encoding, load.rows_loaded) == ("committed", "gbk", 1)
    tabs = b"id\tname\tmobile\n6\tZhao\t13600000000\n"
    assert post_file(client, "residents", tabs, delimiter="tab").status_code == 303
    db.refresh(dataset)
    assert dataset.row_count == len(PEOPLE_ROWS) + 2


def test_bad_reading_choices_say_what_to_fix_and_keep_what_was_chosen(
    client: TestClient, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    content = b"id,name,mobile\n7,Sun,13500000000\n"
    header = post_file(client, "residents", content, header="maybe")
    assert header.status_code == 400
    assert "header=&#39;maybe&#39;: use one of auto, yes, no" in header.text
    encoding = post_file(client, "residents", content, encoding="klingon", delimiter=";")
    assert encoding.status_code == 400
    assert "Unknown encoding &#39;klingon&#39;" in encoding.text
    assert '<option value=";" selected>' in encoding.text  # the form keeps the choice
    delimiter = post_file(client, "residents", content, delimiter="ab")
    assert delimiter.status_code == 400
    assert "The delimiter must be one ASCII character" in delimiter.text


def test_other_departments_may_not_upload_or_read_reports(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    dataset = people_dataset(make_dataset, access="open")
    load = db.scalars(select(Load).where(Load.dataset_id == dataset.id)).one()
    login(client, "steward.water@example.org")
    assert upload(client, "residents", BAD_PEOPLE).status_code == 403
    report = client.get(f"/data/residents/loads/{load.id}", headers=HTML)
    assert report.status_code == 403
    assert "Only stewards and staff of City Management" in report.text
    assert client.get("/data/residents/loads/999999", headers=HTML).status_code == 403


def test_the_report_of_an_unknown_load_is_404(
    client: TestClient, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    response = client.get("/data/residents/loads/999999", headers=HTML)
    assert response.status_code == 404
    assert "has no load 999999" in response.text


# --- the steward's area ----------------------------------------------------------------


def test_the_steward_area_lists_datasets_and_incoming_and_outgoing_requests(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    dataset = people_dataset(make_dataset)
    request_id = ask(db, dataset, stewards["water"])
    login(client, "steward.cmb@example.org")
    page = client.get("/data/steward", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="steward-row-residents"' in page.text
    assert 'data-testid="upload-form-residents"' in page.text
    assert f'data-testid="incoming-{request_id}" data-state="pending"' in page.text
    assert "Water supply planning per household" in page.text
    assert f'data-testid="approve-{request_id}"' in page.text
    assert "数据管理员工作台" in client.get("/data/steward", headers=ZH).text
    login(client, "steward.water@example.org")
    theirs = client.get("/data/steward", headers=HTML).text
    assert f'data-testid="outgoing-{request_id}"' in theirs
    assert f'data-testid="approve-{request_id}"' not in theirs


def test_a_steward_approves_some_fields_until_a_day(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    dataset = people_dataset(make_dataset)
    request_id = ask(db, dataset, stewards["water"])
    login(client, "steward.cmb@example.org")
    response = form_post(
        client,
        "/data/steward",
        f"/data/steward/requests/{request_id}/decision",
        {
            "decision": "approve",
            "offered": ["id", "name", "mobile"],
            "fields": ["id", "mobile"],
            "expires": "2999-12-31",
            "note": "for 2025 planning",
        },
    )
    assert response.status_code == 303
    request = db.get(SharingRequest, request_id)
    assert request is not None
    db.refresh(request)
    assert request.status == "approved"
    assert request.granted_fields == ["id", "mobile"]
    assert request.expires_at is not None
    assert request.expires_at.year == 2999
    page = client.get("/data/steward?notice=decided", headers=HTML).text
    assert f'data-testid="incoming-{request_id}" data-state="approved"' in page
    assert f'data-testid="revoke-{request_id}"' in page


def test_a_steward_refuses_and_bad_decisions_say_what_to_fix(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    dataset = people_dataset(make_dataset)
    request_id = ask(db, dataset, stewards["water"])
    login(client, "steward.cmb@example.org")
    url = f"/data/steward/requests/{request_id}/decision"
    bad_day = form_post(
        client,
        "/data/steward",
        url,
        {"decision": "approve", "offered": ["id"], "fields": ["id"], "expires": "31/12/2999"},
    )
    assert bad_day.status_code == 400
    assert "use YYYY-MM-DD" in bad_day.text
    nothing = form_post(client, "/data/steward", url, {"decision": "approve", "offered": ["id"]})
    assert nothing.status_code == 400
    assert "Tick at least one field" in nothing.text
    refused = form_post(client, "/data/steward", url, {"decision": "refuse"})
    assert refused.status_code == 303
    request = db.get(SharingRequest, request_id)
    assert request is not None
    db.refresh(request)
    assert request.status == "refused"
    twice = form_post(client, "/data/steward", url, {"decision": "refuse"})
    assert twice.status_code == 409
    assert "already decided" in twice.text


def test_the_steward_area_needs_a_steward_or_staff_role(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    from cityos.auth import service as auth_service

    auth_service.create_user(
        db,
        email="analyst@example.org",
        password="correct horse battery",
        roles=["analyst"],
        actor=TEST_ACTOR,
    )
    db.commit()
    assert client.get("/data/steward", headers=HTML, follow_redirects=False).status_code == 303
    login(client, "analyst@example.org")
    response = client.get("/data/steward", headers=HTML)
    assert response.status_code == 403
    assert "steward or staff" in response.text


# --- a new dataset ----------------------------------------------------------------------------

SAMPLE = "station,zone,pm25\nA1,East,12.5\nA2,West,30\nA3,North,8\n"


def new_post(client: TestClient, data: dict[str, object], content: str | None) -> Response:
    page = client.get("/data/new", headers=HTML)
    files = {"file": ("air.csv", content.encode("utf-8"), "text/csv")} if content else None
    return client.post(
        "/data/new",
        data={"csrf_token": csrf_from(page.text), **data},
        files=files,
        headers=HTML,
        follow_redirects=False,
    )


META = {
    "name": "air-new",
    "title_en": "Air (new)",
    "title_zh": "空气（新）",
    "licence": "CC-BY-4.0",
    "frequency": "monthly",
    "access": "open",
    "themes": ["ENVI", "HEAL"],
    "keywords": "air, pm25",
}


def test_a_new_dataset_from_a_sample_file_is_inferred_confirmed_and_created(
    client: TestClient, db: Session, make_dataset: MakeDataset, stewards: dict[str, User]
) -> None:
    login(client, "steward.cmb@example.org")
    assert client.get("/data/new", headers=HTML).status_code == 200
    inferred = new_post(client, {**META, "action": "infer"}, SAMPLE)
    assert inferred.status_code == 200
    text = inferred.text
    assert 'data-testid="schema-table"' in text
    assert "pm25" in text
    textarea = re.search(r'data-testid="new-schema">([^<]*)</textarea>', text)
    assert textarea is not None

    schema = json.loads(html.unescape(textarea.group(1)))
    assert [f["name"] for f in schema["fields"]] == ["station", "zone", "pm25"]
    assert 'value="air-new"' in text  # the metadata is kept
    created = new_post(client, {**META, "schema": json.dumps(schema), "action": "create"}, SAMPLE)
    assert created.status_code == 303
    assert created.headers["location"].startswith("/data/air-new/loads/")
    dataset = service.get_dataset(db, name="air-new")
    assert dataset.department.code == "CMB"
    assert dataset.row_count == 3
    assert dataset.themes == ["ENVI", "HEAL"]
    assert dataset.keywords == ["air", "pm25"]


def test_a_new_dataset_without_a_file_needs_only_the_schema(
    client: TestClient, db: Session, stewards: dict[str, User]
) -> None:
    login(client, "steward.cmb@example.org")
    schema = {"fields": [{"name": "a", "type": "integer"}]}
    english_only = {**META, "title_zh": "", "schema": json.dumps(schema), "action": "create"}
    created = new_post(client, english_only, None)
    assert created.status_code == 303
    assert created.headers["location"] == "/data/air-new?notice=created"
    assert "The dataset was created." in client.get(created.headers["location"], headers=HTML).text


def test_a_new_dataset_with_bad_input_says_what_to_fix(
    client: TestClient, db: Session, stewards: dict[str, User]
) -> None:
    login(client, "steward.cmb@example.org")
    not_json = new_post(client, {**META, "schema": "{fields: [", "action": "create"}, None)
    assert not_json.status_code == 400
    assert "not valid JSON: line 1, column 2" in not_json.text
    no_file = new_post(client, {**META, "action": "infer"}, None)
    assert no_file.status_code == 400
    assert "Choose a sample file" in no_file.text
    bad_name = new_post(
        client,
        {
            **META,
            "name": "Air Quality!",
            "schema": '{"fields": [{"name": "a"}]}',
            "action": "create",
        },
        None,
    )
    assert bad_name.status_code == 422
    assert "lower-case letters" in bad_name.text
    assert 'value="Air Quality!"' in bad_name.text
    bad_type = new_post(
        client,
        {**META, "schema": '{"fields": [{"name": "a", "type": "number-ish"}]}', "action": "create"},
        None,
    )
    assert bad_type.status_code == 422
    assert "fields[0]" in bad_type.text
    assert service.find_dataset(db, name="air-new") is None


def test_uploaded_file_name_is_kept_safe(
    client: TestClient,
    db: Session,
    make_dataset: MakeDataset,
    stewards: dict[str, User],
) -> None:
    people_dataset(make_dataset)
    login(client, "steward.cmb@example.org")
    page = client.get("/data/steward", headers=HTML)
    response = client.post(
        "/data/residents/loads",
        data={"csrf_token": csrf_from(page.text), "mode": "append"},
        files={
            "file": ("../../etc/people.csv", b"id,name,mobile\n9,Zhou,13700000000\n", "text/csv")
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    load = db.scalars(select(Load).order_by(Load.id.desc())).first()
    assert load is not None
    assert "/" not in load.filename
    assert ".." not in load.filename
