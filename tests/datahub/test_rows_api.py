"""``GET /api/data/{name}/rows`` and ``/download.{fmt}`` over HTTP, on datasets loaded through
the real ingest path."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import api_rows, service
from cityos.datahub.models import Dataset
from tests.datahub.conftest import MakeDataset

ACTOR = Actor.system("test")
STOPS_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "stop_id", "type": "integer"},
        {"name": "name", "type": "string"},
        {"name": "district", "type": "string", "filterable": True},
        {"name": "opened", "type": "date"},
        {"name": "location", "type": "geopoint"},
        {"name": "mobile", "type": "string", "sensitive": True, "mask": "partial"},
        {"name": "keeper", "type": "string", "sensitive": True},
    ],
    "primaryKey": ["stop_id"],
}
DISTRICTS = ("East", "West", "North")


def stop(i: int) -> dict[str, Any]:
    return {
        "stop_id": i,
        "name": "=1+2" if i == 7 else f"Stop {i:02d}",
        "district": DISTRICTS[i % 3],
        "opened": date(2024, 1, i).isoformat(),
        "location": "" if i == 25 else f"{116.30 + i * 0.01:.2f},{39.900 + i * 0.005:.3f}",
        "mobile": f"138000000{i:02d}",
        "keeper": f"Keeper {i}",
    }


STOPS = [stop(i) for i in range(1, 26)]
BUDGET_SCHEMA: dict[str, Any] = {
    "fields": [{"name": "item", "type": "string"}, {"name": "amount", "type": "number"}]
}


@dataclass
class Data:
    stops: Dataset
    budget: Dataset
    people: dict[str, User]


@pytest.fixture
def data(db: Session, make_dataset: MakeDataset, people: dict[str, User]) -> Data:
    return Data(
        stops=make_dataset(name="stops", descriptor=STOPS_SCHEMA, rows=STOPS),
        budget=make_dataset(
            name="budget",
            descriptor=BUDGET_SCHEMA,
            rows=[{"item": "roads", "amount": 1.5}],
            access="restricted",
        ),
        people=people,
    )


def bearer(db: Session, user: User) -> dict[str, str]:
    _, raw = auth_service.create_api_key(db, user=user, name="rows tests", actor=ACTOR)
    db.commit()
    return {"Authorization": f"Bearer {raw}"}


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


# --- pages ---------------------------------------------------------------------------------


def test_a_page_of_an_open_dataset_for_anyone(client: TestClient, data: Data) -> None:
    answer = client.get("/api/data/stops/rows", params={"limit": "10"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["dataset"] == "stops"
    assert body["fields"] == ["stop_id", "name", "district", "opened", "location", "mobile"]
    assert len(body["rows"]) == 10
    assert body["rows"][0] == {
        "stop_id": 1,
        "name": "Stop 01",
        "district": "West",
        "opened": "2024-01-01",
        "location": [116.31, 39.905],
        "mobile": "138****0001",
    }
    assert body["next"].startswith("/api/data/stops/rows?limit=10&cursor=")
    assert "total" not in body


def test_next_links_walk_every_row_once(client: TestClient, data: Data) -> None:
    url: str | None = "/api/data/stops/rows?sort=-district,opened&limit=4&district__ne=North"
    seen: list[int] = []
    while url is not None:
        body = client.get(url).json()
        seen += [row["stop_id"] for row in body["rows"]]
        url = body["next"]
    expected = sorted(
        (s for s in STOPS if s["district"] != "North"),
        key=lambda s: (s["district"] == "East", s["opened"]),
    )
    assert seen == [s["stop_id"] for s in expected]


def test_filters_sort_fields_and_total(client: TestClient, data: Data) -> None:
    body = client.get(
        "/api/data/stops/rows",
        params={
            "district": "East",
            "stop_id__ge": "10",
            "sort": "-stop_id",
            "fields": "stop_id,name",
            "total": "true",
            "limit": "2",
        },
    ).json()
    assert body["rows"] == [{"stop_id": 24, "name": "Stop 24"}, {"stop_id": 21, "name": "Stop 21"}]
    assert body["total"] == 5
    assert body["fields"] == ["stop_id", "name"]


def test_q_and_bbox(client: TestClient, data: Data) -> None:
    found = client.get("/api/data/stops/rows", params={"q": "stop 1"}).json()["rows"]
    assert [row["stop_id"] for row in found] == list(range(10, 20))
    inside = client.get("/api/data/stops/rows", params={"bbox": "116.30,39.90,116.33,39.92"})
    assert [row["stop_id"] for row in inside.json()["rows"]] == [1, 2, 3]


def test_the_owning_department_sees_every_field(
    client: TestClient, db: Session, data: Data
) -> None:
    headers = bearer(db, data.people["cmb"])
    row = client.get("/api/data/stops/rows?stop_id=3", headers=headers).json()["rows"][0]
    assert row["mobile"] == "13800000003"
    assert row["keeper"] == "Keeper 3"


def test_sql_in_a_filter_value_finds_nothing_and_harms_nothing(
    client: TestClient, data: Data
) -> None:
    answer = client.get("/api/data/stops/rows", params={"name": "x' OR 1=1 --"})
    assert answer.status_code == 200
    assert answer.json()["rows"] == []
    answer = client.get("/api/data/stops/rows", params={"district": "East'; DROP TABLE x; --"})
    assert answer.json()["rows"] == []
    assert client.get("/api/data/stops/rows?total=true").json()["total"] == 25


def test_an_unchanged_page_answers_304(client: TestClient, data: Data) -> None:
    first = client.get("/api/data/stops/rows?limit=2")
    etag = first.headers["etag"]
    assert first.headers["last-modified"].endswith(" GMT")
    again = client.get("/api/data/stops/rows?limit=2", headers={"If-None-Match": etag})
    assert again.status_code == 304
    other = client.get("/api/data/stops/rows?limit=3", headers={"If-None-Match": etag})
    assert other.status_code == 200


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"colour": "red"}, "Unknown field 'colour' in the filters; the fields of this dataset"),
        ({"sort": "colour"}, "Unknown field 'colour' in sort"),
        ({"fields": "name,colour"}, "Unknown field 'colour' in fields"),
        ({"stop_id": "seven"}, "give a whole number"),
        ({"opened__gt": "last week"}, "give an ISO date"),
        ({"limit": "5000"}, "limit must be a whole number 1..1000"),
        ({"bbox": "1,2,3"}, "give bbox=minlon,minlat,maxlon,maxlat"),
        ({"cursor": "not-a-cursor"}, "The cursor is not valid; start again without it."),
        ({"location__eq": "1,2"}, "cannot be filtered with 'eq'"),
    ],
)
def test_bad_parameters_get_400_saying_what_to_fix(
    client: TestClient, data: Data, params: dict[str, str], expected: str
) -> None:
    answer = client.get("/api/data/stops/rows", params=params)
    assert expected in error(answer, 400)
    assert answer.json()["error"]["code"] == "invalid_input"


def test_an_unknown_field_error_lists_the_fields(client: TestClient, data: Data) -> None:
    answer = client.get("/api/data/stops/rows?colour=red")
    assert answer.json()["error"]["details"]["fields"] == [
        f["name"] for f in STOPS_SCHEMA["fields"]
    ]


def test_a_tampered_cursor_gets_400(client: TestClient, data: Data) -> None:
    next_url = client.get("/api/data/stops/rows?limit=2").json()["next"]
    answer = client.get(next_url[:-4] + "AAAA")
    assert error(answer, 400) == "The cursor is not valid; start again without it."


@pytest.mark.parametrize(
    "params",
    [{"fields": "keeper"}, {"keeper": "Keeper 1"}, {"sort": "keeper"}, {"mobile": "13800000001"}],
)
def test_a_sensitive_field_asked_for_by_a_non_owner_gets_403(
    client: TestClient, db: Session, data: Data, params: dict[str, str]
) -> None:
    headers = bearer(db, data.people["water"])
    answer = client.get("/api/data/stops/rows", params=params, headers=headers)
    message = error(answer, 403)
    assert "POST /api/data/stops/requests" in message


def test_a_restricted_dataset_needs_a_grant(client: TestClient, db: Session, data: Data) -> None:
    assert "sign in" in error(client.get("/api/data/budget/rows"), 401)
    headers = bearer(db, data.people["water"])
    message = error(client.get("/api/data/budget/rows", headers=headers), 403)
    assert "Ask for access: POST /api/data/budget/requests" in message
    owner = bearer(db, data.people["cmb"])
    assert client.get("/api/data/budget/rows", headers=owner).json()["rows"] == [
        {"item": "roads", "amount": 1.5}
    ]


def test_an_unknown_dataset_gets_404(client: TestClient, data: Data) -> None:
    assert "no dataset called 'nowhere'" in error(client.get("/api/data/nowhere/rows"), 404)


def test_a_dataset_without_a_schema_gets_409(client: TestClient, db: Session, data: Data) -> None:
    service.create_dataset(
        db,
        data={"name": "draft", "title_en": "Draft", "title_zh": ""},
        department_code="CMB",
        actor=ACTOR,
    )
    db.commit()
    message = error(client.get("/api/data/draft/rows"), 409)
    assert "has no schema yet" in message
    assert "PUT /api/data/draft/schema" in message
    assert "has no schema yet" in error(client.get("/api/data/draft/download.csv"), 409)


# --- downloads -----------------------------------------------------------------------------


def test_a_csv_download_is_streamed_with_its_file_name(client: TestClient, data: Data) -> None:
    answer = client.get("/api/data/stops/download.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="stops.csv"'
    assert answer.headers["etag"]
    assert answer.headers["last-modified"].endswith(" GMT")
    found = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(found) == 25
    assert "keeper" not in found[0]
    assert found[0]["mobile"] == "138****0001"
    assert found[0]["location"] == "116.31,39.905"
    assert found[6]["name"] == "'=1+2"


def test_a_download_takes_the_same_filters(client: TestClient, data: Data) -> None:
    answer = client.get(
        "/api/data/stops/download.csv",
        params={"district": "East", "sort": "-stop_id", "fields": "stop_id", "bom": "1"},
    )
    assert answer.content.startswith(b"\xef\xbb\xbfstop_id\n")
    ids = answer.content.decode("utf-8-sig").split()
    assert ids == ["stop_id", "24", "21", "18", "15", "12", "9", "6", "3"]


def test_an_unchanged_download_answers_304(client: TestClient, data: Data) -> None:
    etag = client.get("/api/data/stops/download.csv").headers["etag"]
    again = client.get("/api/data/stops/download.csv", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    json_answer = client.get("/api/data/stops/download.json", headers={"If-None-Match": etag})
    assert json_answer.status_code == 200


def test_every_format_downloads(client: TestClient, data: Data) -> None:
    rows = client.get("/api/data/stops/download.json").json()
    assert len(rows) == 25
    assert rows[0]["location"] == [116.31, 39.905]
    lines = client.get("/api/data/stops/download.ndjson").text.splitlines()
    assert json.loads(lines[24])["location"] is None
    features = client.get("/api/data/stops/download.geojson").json()["features"]
    assert features[0]["geometry"]["coordinates"] == [116.31, 39.905]
    parquet = pq.read_table(io.BytesIO(client.get("/api/data/stops/download.parquet").content))
    assert parquet.num_rows == 25
    book = load_workbook(io.BytesIO(client.get("/api/data/stops/download.xlsx").content))
    sheet = book["stops"]
    assert sheet.max_row == 26
    assert sheet.cell(row=8, column=2).value == "=1+2"
    assert sheet.cell(row=8, column=2).data_type == "s"


def test_geojson_of_a_dataset_without_points_names_the_formats(
    client: TestClient, db: Session, data: Data
) -> None:
    headers = bearer(db, data.people["cmb"])
    answer = client.get("/api/data/budget/download.geojson", headers=headers)
    assert error(answer, 400) == (
        "GeoJSON needs a geopoint field, and this dataset has none. "
        "Formats: csv, json, ndjson, parquet, xlsx."
    )


def test_an_unknown_format_gets_404(client: TestClient, data: Data) -> None:
    assert "use one of csv, json" in error(client.get("/api/data/stops/download.exe"), 404)


def test_xlsx_refuses_more_rows_than_a_sheet_holds(client: TestClient, data: Data) -> None:
    setattr(client.app.state, api_rows.XLSX_CAP_STATE, 5)
    message = error(client.get("/api/data/stops/download.xlsx"), 400)
    assert "XLSX holds at most 5 rows and this selection has 25" in message
    small = client.get("/api/data/stops/download.xlsx?stop_id__le=5")
    assert small.status_code == 200
    assert load_workbook(io.BytesIO(small.content))["stops"].max_row == 6


def test_downloads_of_restricted_data_need_a_grant(
    client: TestClient, db: Session, data: Data
) -> None:
    assert error(client.get("/api/data/budget/download.csv"), 401)
    headers = bearer(db, data.people["water"])
    assert "POST /api/data/budget/requests" in error(
        client.get("/api/data/budget/download.csv", headers=headers), 403
    )


def test_pages_and_downloads_are_counted(client: TestClient, db: Session, data: Data) -> None:
    client.get("/api/data/stops/rows")
    client.get("/api/data/stops/rows?limit=1")
    client.get("/api/data/stops/download.csv")
    client.get("/api/data/stops/rows?colour=red")  # refused: not counted
    db.expire_all()
    assert service.usage_totals(db, dataset=data.stops) == (1, 2)
