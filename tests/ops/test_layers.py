"""The map layers: areas coloured by open or breached cases, sensors, alerts and recent
cases, each a GeoJSON FeatureCollection; and the errors for bad layer parameters."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.db import utcnow
from cityos.geo import service as geo_service
from cityos.geo.grid import generate_grid
from cityos.ops.layers import breaks
from tests.cases.conftest import EAST_NORTH_POINT, city, services
from tests.ops.ops_support import error_of, get, operator, seed_cases
from tests.sensing.alerts_support import feed, make_gauge, make_rule

__all__ = ["city", "operator", "services"]


def values(layer: dict[str, Any]) -> dict[str, Any]:
    return {f["properties"]["code"]: f["properties"]["value"] for f in layer["features"]}


def test_areas_are_district_polygons_coloured_by_open_cases_with_a_legend(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    seed_cases(db, west=3, east=1)
    layer = get(client, operator, "/api/ops/layers/areas")
    assert layer["type"] == "FeatureCollection"
    assert layer["level"] == "district"
    assert values(layer) == {"TC-W": 3, "TC-E": 1}
    west = next(f for f in layer["features"] if f["id"] == "TC-W")
    assert west["geometry"]["type"] == "Polygon"
    assert west["properties"]["url"] == "/ops?area=TC-W"
    assert layer["legend"] == {"metric": "open", "max": 3, "breaks": [1, 2, 3]}
    breached = get(client, operator, "/api/ops/layers/areas?metric=breached")
    assert values(breached) == {"TC-W": 0, "TC-E": 0}
    assert breached["legend"]["breaks"] == [0]


def test_inside_a_district_the_next_finer_level_is_coloured(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    seed_cases(db, west=2, east=1)
    layer = get(client, operator, "/api/ops/layers/areas?area=TC-W")
    assert layer["level"] == "subdistrict"
    assert values(layer) == {"TC-W-N": 0, "TC-W-S": 2}
    assert breaks(12) == [3, 5, 8, 10, 12]


def test_bad_metric_level_and_layer_name_say_what_to_use(
    client: TestClient, operator: dict[str, str]
) -> None:
    metric = client.get("/api/ops/layers/areas?metric=late", headers=operator)
    assert "use one of open, breached" in error_of(metric, 400)
    level = client.get("/api/ops/layers/areas?level=street", headers=operator)
    assert "use one of district, subdistrict, grid" in error_of(level, 400)
    coarse = client.get("/api/ops/layers/areas?area=TC-W-S&level=district", headers=operator)
    assert "not finer than TC-W-S" in error_of(coarse, 400)
    unknown = client.get("/api/ops/layers/roads", headers=operator)
    assert "the layers are areas, sensors, alerts, cases" in error_of(unknown, 404)


def test_sensors_alerts_and_cases_are_points_with_links(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    seeded = seed_cases(db, west=1, east=1)
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [31.5], start=utcnow())
    db.commit()

    sensors = get(client, operator, "/api/ops/layers/sensors")
    assert (sensors["properties"], sensors["observed_property"]) == (["water level"], "water level")
    [sensor] = sensors["features"]
    assert sensor["geometry"]["coordinates"] == [120.07, 30.17]
    assert sensor["properties"] | {"time": None} == {
        "datastream_id": gauge.datastream_id,
        "name": "Gauge water level",
        "thing": "Gauge",
        "value": 31.5,
        "unit": "cm",
        "time": None,
        "url": f"/sensing/datastreams/{gauge.datastream_id}",
    }
    unknown = client.get("/api/ops/layers/sensors?observed_property=smell", headers=operator)
    assert "no observed property named 'smell'" in error_of(unknown, 400)

    [alert] = get(client, operator, "/api/ops/layers/alerts")["features"]
    assert alert["properties"]["severity"] == "warning"
    assert alert["properties"]["acknowledged"] is False

    cases = get(client, operator, "/api/ops/layers/cases?area=TC-W")
    assert (cases["total"], cases["truncated"]) == (1, False)
    [case] = cases["features"]
    assert case["properties"]["id"] == seeded.west[0]
    assert case["properties"]["category"] == "NOISE"
    assert case["properties"]["url"] == f"/staff/cases/{seeded.west[0]}"


def test_drilled_down_to_a_grid_cell_the_areas_are_its_neighbours_with_it_selected(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    generate_grid(db, within_code="TC-E", cell_size_m=2500, actor=Actor.system("test"))
    db.commit()
    seed_cases(db, west=1, east=2)  # the east ones in EAST_NORTH_POINT's cell
    located = geo_service.locate(db, lon=EAST_NORTH_POINT[0], lat=EAST_NORTH_POINT[1])
    ref = located.by_level(geo_service.AreaLevel.GRID)
    assert ref is not None
    found = geo_service.get_area(db, code=ref.code)
    cells = geo_service.list_areas(db, level=geo_service.AreaLevel.GRID)
    siblings = {a.code for a in cells if a.parent_id == found.parent_id}
    assert len(siblings) > 1

    layer = get(client, operator, f"/api/ops/layers/areas?area={found.code}")
    assert layer["level"] == "grid"
    assert set(values(layer)) == siblings
    assert values(layer)[found.code] == 2
    assert sum(values(layer).values()) == 2
    selected = [f["id"] for f in layer["features"] if f["properties"]["selected"]]
    assert selected == [found.code]
    assert layer["legend"]["max"] == 2

    finer = client.get(f"/api/ops/layers/areas?area={found.code}&level=grid", headers=operator)
    assert "it is a grid cell, the finest level" in error_of(finer, 400)

    west = get(client, operator, "/api/ops/layers/areas?area=TC-W-S")  # no grid cells there
    assert (west["level"], values(west)) == ("subdistrict", {"TC-W-N": 0, "TC-W-S": 1})
    assert [f["id"] for f in west["features"] if f["properties"]["selected"]] == ["TC-W-S"]
