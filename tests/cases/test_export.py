"""Exporting cases as CSV and GeoJSON: the public download routes and the service."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.cases import exporter, importer
from cityos.cases.import_mapping import load_mapping
from cityos.cases.intake import CaseInput, CasePolicy, open_case
from cityos.cases.models import Case, CaseSource
from cityos.cases.queries import CaseFilter
from cityos.errors import InvalidInput
from tests.cases.import_support import ACTOR, MAPPING, Boston, boston

__all__ = ["boston"]

REPORTER = {
    "contact_name": "Jane Q. Reporter",
    "contact_email": "jane.reporter@example.org",
    "contact_phone": "+1 617 555 0199",
    "device_id": "device-5f2c9e",
    "account_id": "account-77a1",
}
REPORTER_IP = "198.51.100.77"


@pytest.fixture
def exported(db: Session, boston: Boston) -> Case:
    """The Boston sample, plus one case reported with every kind of personal data."""
    importer.import_file(db, boston.csv, load_mapping(MAPPING), actor=ACTOR)
    case = open_case(
        db,
        CaseInput(
            service_code="ROAD-POTHOLE",
            lon=-71.06,
            lat=42.35,
            description='=HYPERLINK("http://evil.example") deep hole',
            attributes={"size": "large"},
            source=CaseSource.OPEN311,
            **REPORTER,
        ),
        actor=Actor(user_id=None, label="citizen", ip=REPORTER_IP),
        policy=CasePolicy(base_url="http://testserver"),
    )
    db.commit()
    return case


def private_values(case: Case) -> list[str]:
    assert case.token
    return [*REPORTER.values(), REPORTER_IP, case.token, "Reporter", "555 0199"]


def test_the_csv_download_has_every_case_and_no_personal_data(
    client: TestClient, exported: Case
) -> None:
    response = client.get("/api/cases/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    for value in private_values(exported):
        assert value not in response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 101
    assert list(rows[0]) == list(exporter.FIELDS)
    assert not set(rows[0]) & {"contact_name", "contact_email", "contact_phone", "token"}
    mine = next(row for row in rows if row["id"] == str(exported.id))
    assert mine["service_code"] == "ROAD-POTHOLE"
    assert mine["district"] == "BOS-E"
    assert mine["description"].startswith("'=HYPERLINK")  # no formula in a spreadsheet
    assert mine["requested_at"].endswith("Z")


def test_the_geojson_download_is_a_valid_feature_collection_without_personal_data(
    client: TestClient, exported: Case
) -> None:
    response = client.get("/api/cases/export.geojson")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    for value in private_values(exported):
        assert value not in response.text
    document = json.loads(response.text)
    assert document["type"] == "FeatureCollection"
    assert len(document["features"]) == 101
    for feature in document["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert -71.2 < lon < -70.9
        assert 42.2 < lat < 42.45
        assert feature["properties"]["id"] == feature["id"]
        assert not set(feature["properties"]) & exporter.PRIVATE_COLUMNS
    mine = next(f for f in document["features"] if f["id"] == exported.id)
    assert mine["properties"]["description"].startswith("=HYPERLINK")  # JSON keeps it as is


def test_the_download_filters_by_service_status_dates_and_area(
    client: TestClient, exported: Case
) -> None:
    def ids(query: str) -> list[dict[str, Any]]:
        response = client.get(f"/api/cases/export.geojson?{query}")
        assert response.status_code == 200, response.text
        return [f["properties"] for f in json.loads(response.text)["features"]]

    potholes = ids("service_code=ROAD-POTHOLE")
    assert {p["service_code"] for p in potholes} == {"ROAD-POTHOLE"}
    assert len(potholes) == 3
    two = ids("service_code=ROAD-POTHOLE,ILLEGAL-PARKING")
    assert {p["service_code"] for p in two} == {"ROAD-POTHOLE", "ILLEGAL-PARKING"}
    assert {p["status"] for p in ids("status=closed")} == {"closed"}
    # Boston's 3 January 2022 in the city's time (Asia/Shanghai in the test settings)
    day = ids("from=2022-01-03&to=2022-01-03")
    assert day
    assert all("2022-01-02T16" <= p["requested_at"] <= "2022-01-03T16" for p in day)
    west = ids("area=BOS-W")
    assert west
    assert {p["district"] for p in west} == {"BOS-W"}


def test_a_bad_filter_gets_a_json_error_before_anything_is_sent(
    client: TestClient, exported: Case
) -> None:
    response = client.get("/api/cases/export.csv?service_code=NOPE")
    assert response.status_code == 400
    assert "Unknown service_code NOPE" in response.json()["error"]["message"]
    response = client.get("/api/cases/export.geojson?from=last-week")
    assert response.status_code == 400
    assert "ISO 8601" in response.json()["error"]["message"]
    response = client.get("/api/cases/export.csv?status=lost")
    assert response.status_code == 400


def test_the_export_streams_in_chunks(db: Session, exported: Case) -> None:
    chunks = list(exporter.iter_csv(db, CaseFilter()))
    assert chunks[0].startswith("id,service_code")
    assert sum(chunk.count("\r\n") for chunk in chunks) == 102  # header + 101 cases
    pieces = list(exporter.iter_geojson(db, CaseFilter(service_codes=["NOPE-NOT-CHECKED"][:0])))
    assert json.loads("".join(pieces))["type"] == "FeatureCollection"
    assert exporter.count(db, CaseFilter(statuses=["submitted"])) >= 15


def test_an_unknown_export_format_is_refused() -> None:
    assert exporter.format_for("cases.geojson") == "geojson"
    assert exporter.format_for("cases.txt") == "csv"
    with pytest.raises(InvalidInput, match="csv or geojson"):
        exporter.format_for("cases.csv", "kml")
