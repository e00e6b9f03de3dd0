from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.geo.grid import generate_grid
from tests.geo.conftest import ACTOR, CityFixture


def test_locate_gives_the_areas_finest_first(client: TestClient, city: CityFixture) -> None:
    response = client.get("/api/geo/locate", params={"lon": 120.07, "lat": 30.22})
    assert response.status_code == 200
    body = response.json()
    assert body["inside"] is True
    assert body["lon"] == 120.07
    assert body["lat"] == 30.22
    assert body["message"] is None
    assert [area["code"] for area in body["areas"]] == ["TC-W-N", "TC-W", "TC"]
    assert body["areas"][0] == {
        "id": body["areas"][0]["id"],
        "code": "TC-W-N",
        "name_zh": "西北街道",
        "name_en": "西北街道",
        "level": "subdistrict",
    }


def test_locate_outside_the_city_is_a_200_with_a_message(
    client: TestClient, city: CityFixture
) -> None:
    response = client.get("/api/geo/locate", params={"lon": 121.5, "lat": 31.2})
    assert response.status_code == 200
    body = response.json()
    assert body["inside"] is False
    assert body["areas"] == []
    assert body["message"].startswith("This point is outside the city")


def test_locate_with_bad_coordinates_is_a_400_that_says_what_to_fix(
    client: TestClient, city: CityFixture
) -> None:
    response = client.get("/api/geo/locate", params={"lon": 30.22, "lat": 120.07})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "GeoJSON/our API order is longitude, latitude" in message
    assert client.get("/api/geo/locate", params={"lon": "nan", "lat": 30}).status_code == 400


def test_areas_are_a_geojson_feature_collection(client: TestClient, city: CityFixture) -> None:
    response = client.get("/api/geo/areas")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert [feature["id"] for feature in body["features"]] == [
        "TC",
        "TC-E",
        "TC-W",
        "TC-E-N",
        "TC-E-S",
        "TC-W-N",
        "TC-W-S",
    ]
    west = body["features"][2]
    assert west["type"] == "Feature"
    assert west["geometry"]["type"] == "Polygon"
    assert len(west["geometry"]["coordinates"][0]) == 5
    assert set(west["properties"]) == {
        "code",
        "name_zh",
        "name_en",
        "level",
        "parent_code",
        "area_m2",
    }
    assert west["properties"]["parent_code"] == "TC"
    assert west["properties"]["level"] == "district"
    assert 45e6 < west["properties"]["area_m2"] < 50e6


def test_areas_filter_by_level_and_parent(
    client: TestClient, db: Session, city: CityFixture
) -> None:
    generate_grid(db, within_code="TC", cell_size_m=1000, actor=ACTOR)
    db.commit()
    districts = client.get("/api/geo/areas", params={"level": "district"}).json()
    assert [f["id"] for f in districts["features"]] == ["TC-E", "TC-W"]
    children = client.get("/api/geo/areas", params={"parent": "TC-W"}).json()
    assert [f["id"] for f in children["features"]] == ["TC-W-N", "TC-W-S"]
    grid = client.get("/api/geo/areas", params={"level": "grid", "geometry": "false"}).json()
    assert len(grid["features"]) > 90
    assert all(f["geometry"] is None for f in grid["features"])
    assert {f["properties"]["parent_code"] for f in grid["features"]} == {
        "TC-W-N",
        "TC-W-S",
        "TC-E-N",
        "TC-E-S",
    }


def test_unknown_level_is_a_400_listing_the_valid_ones(
    client: TestClient, city: CityFixture
) -> None:
    response = client.get("/api/geo/areas", params={"level": "province"})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message == "Unknown level 'province'; use one of city, district, subdistrict, grid."


def test_unknown_parent_is_a_404(client: TestClient, city: CityFixture) -> None:
    response = client.get("/api/geo/areas", params={"parent": "NOPE"})
    assert response.status_code == 404
    assert "'NOPE'" in response.json()["error"]["message"]


def test_area_detail_is_a_feature_with_ancestors_and_children_counts(
    client: TestClient, db: Session, city: CityFixture
) -> None:
    generate_grid(db, within_code="TC-W", cell_size_m=1000, actor=ACTOR)
    db.commit()
    response = client.get("/api/geo/areas/TC-W")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "Feature"
    assert body["id"] == "TC-W"
    assert body["bbox"] == [120.05, 30.15, 120.1, 30.24]
    assert body["geometry"]["type"] == "Polygon"
    properties = body["properties"]
    assert properties["parent_code"] == "TC"
    assert [a["code"] for a in properties["ancestors"]] == ["TC"]
    assert properties["children"] == {"subdistrict": 2}
    assert properties["descendants"]["subdistrict"] == 2
    assert properties["descendants"]["grid"] > 40
    cell = client.get("/api/geo/areas", params={"level": "grid"}).json()["features"][0]["id"]
    detail = client.get(f"/api/geo/areas/{cell}").json()
    assert [a["level"] for a in detail["properties"]["ancestors"]] == [
        "subdistrict",
        "district",
        "city",
    ]
    assert detail["properties"]["properties"]["kind"] == "square"


def test_unknown_area_code_is_a_404(client: TestClient, city: CityFixture) -> None:
    response = client.get("/api/geo/areas/NOPE")
    assert response.status_code == 404
    assert "There is no area with the code 'NOPE'" in response.json()["error"]["message"]


def test_geo_endpoints_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/geo/locate", "/api/geo/areas", "/api/geo/areas/{code}"} <= set(paths)
