"""GET /api/sensing/latest: each datastream's latest reading with its Thing and place."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.sensing import service
from tests.conftest import login
from tests.geo.conftest import CityFixture, city
from tests.sensing.alerts_support import (
    EAST_NORTH,
    MIN,
    T0,
    WEST_NORTH,
    WEST_SOUTH,
    Gauge,
    feed,
    make_gauge,
)

__all__ = ["city"]


@pytest.fixture
def gauges(db: Session, city: CityFixture) -> dict[str, Gauge]:
    made = {
        "south": make_gauge(db, WEST_SOUTH, name="South"),
        "north": make_gauge(db, WEST_NORTH, name="North"),
        "east": make_gauge(db, EAST_NORTH, name="East", prop="noise"),
        "secret": make_gauge(db, EAST_NORTH, name="Secret", restricted=True),
    }
    feed(db, made["south"].datastream_id, [10, 12, 14])
    feed(db, made["north"].datastream_id, [7], start=T0 + 5 * MIN)
    feed(db, made["east"].datastream_id, ["loud"])
    feed(db, made["secret"].datastream_id, [99])
    make_gauge(db, WEST_SOUTH, name="Mute")  # never reported: not listed
    db.commit()
    return made


def names(body: dict[str, Any]) -> list[str]:
    return [item["thing"]["name"] for item in body["items"]]


def test_latest_lists_each_reporting_datastream_with_thing_and_place(
    client: TestClient, gauges: dict[str, Gauge]
) -> None:
    body = client.get("/api/sensing/latest").json()
    assert names(body) == ["South", "North", "East"]
    south = body["items"][0]
    assert south["result"] == 14
    assert south["phenomenon_time"] == (T0 + 2 * MIN).isoformat()
    assert south["location"]["lon"] == WEST_SOUTH[0]
    assert south["location"]["district"] == "TC-W"
    assert south["observed_property"]["name"] == "water level"
    assert south["datastream"]["unit"]["symbol"] == "cm"
    assert body["items"][2]["result"] == "loud"


def test_latest_filters_by_observed_property_name_or_id(
    client: TestClient, gauges: dict[str, Gauge]
) -> None:
    by_name = client.get("/api/sensing/latest", params={"observedProperty": "noise"}).json()
    assert names(by_name) == ["East"]
    prop = gauges["south"].property_id
    by_id = client.get("/api/sensing/latest", params={"observedProperty": str(prop)}).json()
    assert names(by_id) == ["South", "North"]


@pytest.mark.parametrize(
    ("area", "expected"),
    [("TC-W", ["South", "North"]), ("TC-W-N", ["North"]), ("TC-E", ["East"]), ("TC", None)],
)
def test_latest_filters_by_area_of_any_level(
    client: TestClient, gauges: dict[str, Gauge], area: str, expected: list[str] | None
) -> None:
    body = client.get("/api/sensing/latest", params={"area": area}).json()
    assert names(body) == (expected or ["South", "North", "East"])


def test_latest_filters_by_bounding_box(client: TestClient, gauges: dict[str, Gauge]) -> None:
    body = client.get("/api/sensing/latest", params={"bbox": "120.05,30.15,120.10,30.195"}).json()
    assert names(body) == ["South"]


def test_latest_as_geojson_points(client: TestClient, gauges: dict[str, Gauge]) -> None:
    body = client.get("/api/sensing/latest", params={"format": "geojson"}).json()
    assert body["type"] == "FeatureCollection"
    first = body["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": list(WEST_SOUTH)}
    assert first["properties"]["result"] == 14
    assert first["properties"]["district"] == "TC-W"


def test_restricted_things_are_shown_to_signed_in_users_only(
    db: Session,
    client: TestClient,
    gauges: dict[str, Gauge],
    people: dict[str, User],
) -> None:
    assert "Secret" not in names(client.get("/api/sensing/latest").json())
    login(client, "staff.cmb@example.org")
    assert "Secret" in names(client.get("/api/sensing/latest").json())
    assert len(service.latest_values(db, include_restricted=True)) == 4


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"bbox": "1,2,3"}, "must be four numbers west,south,east,north"),
        ({"bbox": "a,b,c,d"}, "must be four numbers"),
        ({"bbox": "120.2,30.1,120.0,30.3"}, "west ≤ east"),
        ({"bbox": "30.1,120.0,30.3,120.2"}, "south ≤ north ≤ 90"),
        ({"area": "NOWHERE"}, "area: there is no area with the code 'NOWHERE'"),
    ],
)
def test_bad_latest_queries_say_what_to_fix(
    client: TestClient, gauges: dict[str, Gauge], params: dict[str, str], words: str
) -> None:
    response = client.get("/api/sensing/latest", params=params)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]


def test_unknown_format_is_refused(client: TestClient, gauges: dict[str, Gauge]) -> None:
    response = client.get("/api/sensing/latest", params={"format": "kml"})
    assert response.status_code in (400, 422)
    assert "format" in response.text


@pytest.mark.parametrize("geojson", [False, True])
def test_the_written_out_document_says_exactly_what_the_values_say(
    db: Session, gauges: dict[str, Gauge], geojson: bool
) -> None:
    values = service.latest_values(db, include_restricted=True)
    expected = service.as_geojson(values) if geojson else {"count": len(values), "items": values}
    document = service.latest_document(db, include_restricted=True, geojson=geojson)
    assert json.loads(document) == expected
