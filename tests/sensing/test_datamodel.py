"""SensorThings conformance class *datamodel*: every entity type's JSON has its id, an
absolute self link, a navigation link per relation and its properties in wire form."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.config import Settings
from cityos.sensing.sta.api import CONFORMANCE, MQTT_CREATE, MQTT_RECEIVE, service_root
from cityos.sensing.sta.entities import BY_SET, DATASTREAM, ENTITY_TYPES, THING, Link
from cityos.sensing.sta.serialize import entity_json, format_period, format_time
from tests.sensing.sta_seed import T0, UNIT_C, World, seed_world

ROOT = "http://testserver/sta/v1.1"


@pytest.fixture
def world(db: Session) -> World:
    return seed_world(db)


def get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/sta/v1.1/{path}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def first_of(client: TestClient, set_name: str, entity_id: int) -> dict[str, Any]:
    return get(client, f"{set_name}({entity_id})")


@pytest.mark.parametrize("entity_type", ENTITY_TYPES, ids=lambda e: e.name)
def test_every_entity_type_has_id_self_link_and_navigation_links(
    client: TestClient, world: World, entity_type: Any
) -> None:
    listing = get(client, entity_type.set_name)
    assert listing["value"], f"the seed has no {entity_type.set_name}"
    for item in listing["value"]:
        assert isinstance(item["@iot.id"], int)
        assert item["@iot.selfLink"] == f"{ROOT}/{entity_type.set_name}({item['@iot.id']})"
        for nav, link in entity_type.navs.items():
            if link.link is Link.HERE and not link.required:
                continue  # optional: only when set (see the Observation test below)
            assert item[f"{nav}@iot.navigationLink"] == f"{item['@iot.selfLink']}/{nav}"
        for name, prop in entity_type.props.items():
            if prop.required and name != "id":
                assert name in item, f"{entity_type.name} lacks {name}"


def test_observations_link_only_the_stream_and_feature_they_have(
    client: TestClient, world: World
) -> None:
    single = first_of(client, "Observations", world.observations[0])
    assert single["Datastream@iot.navigationLink"].endswith("/Datastream")
    assert "MultiDatastream@iot.navigationLink" not in single
    assert single["FeatureOfInterest@iot.navigationLink"].endswith("/FeatureOfInterest")
    multi = first_of(client, "Observations", world.multi_observations[0])
    assert multi["MultiDatastream@iot.navigationLink"].endswith("/MultiDatastream")
    assert "Datastream@iot.navigationLink" not in multi
    assert "FeatureOfInterest@iot.navigationLink" not in multi  # the seed gives it none
    for body in (single, multi):
        for key, link in body.items():
            if key.endswith("@iot.navigationLink"):
                assert client.get(link).status_code == 200, link


def test_thing_has_name_description_and_properties(client: TestClient, world: World) -> None:
    thing = first_of(client, "Things", world.thing)
    assert thing["name"] == "Weather station"
    assert thing["description"] == "On the corner"
    assert thing["properties"] == {"owner": "city"}


def test_location_and_feature_carry_their_geojson(client: TestClient, world: World) -> None:
    location = first_of(client, "Locations", world.location)
    assert location["encodingType"] == "application/geo+json"
    assert location["location"] == {"type": "Point", "coordinates": [116.39, 39.91]}
    feature = first_of(client, "FeaturesOfInterest", world.feature)
    assert feature["feature"] == {"type": "Point", "coordinates": [116.39, 39.91]}


def test_datastream_has_unit_type_and_phenomenon_time_interval(
    client: TestClient, world: World
) -> None:
    stream = first_of(client, "Datastreams", world.datastream)
    assert stream["unitOfMeasurement"] == UNIT_C
    assert stream["observationType"].endswith("OM_Measurement")
    assert stream["phenomenonTime"] == "2024-01-01T00:00:00Z/2024-01-01T04:00:00Z"
    assert "resultTime" not in stream  # never set: left out rather than null


def test_sensor_metadata_is_its_wire_name(client: TestClient, world: World) -> None:
    sensor = first_of(client, "Sensors", world.sensor)
    assert sensor["metadata"] == "https://example.org/tmp36.pdf"
    assert sensor["encodingType"] == "application/pdf"


def test_historical_location_time_is_utc_with_z(client: TestClient, world: World) -> None:
    history = first_of(client, "HistoricalLocations", world.historical_location)
    assert history["time"] == "2024-01-01T00:00:00Z"


def test_measurement_results_stay_floats_and_counts_are_integers(
    client: TestClient, world: World
) -> None:
    measured = first_of(client, "Observations", world.observations[1])
    assert measured["result"] == 21.0
    assert isinstance(measured["result"], float)
    assert measured["phenomenonTime"] == "2024-01-01T01:00:00Z"
    assert measured["resultTime"] == "2024-01-01T01:00:00Z"
    counted = first_of(client, "Observations", world.count_observations[2])
    assert counted["result"] == 8
    assert isinstance(counted["result"], int)


def test_multi_datastream_results_are_arrays(client: TestClient, world: World) -> None:
    observation = first_of(client, "Observations", world.multi_observations[0])
    assert observation["result"] == [40, 20.5]
    assert "MultiDatastream@iot.navigationLink" in observation


def test_multi_datastream_has_its_units_and_data_types(client: TestClient, world: World) -> None:
    multi = first_of(client, "MultiDatastreams", world.multi)
    assert [unit["symbol"] for unit in multi["unitOfMeasurements"]] == ["%", "°C"]
    assert len(multi["multiObservationDataTypes"]) == 2


def test_time_formats_instants_and_intervals() -> None:
    later = T0.replace(hour=3, microsecond=250_000)
    assert format_time(T0) == "2024-01-01T00:00:00Z"
    assert format_time(later) == "2024-01-01T03:00:00.250Z"
    assert format_time(T0.replace(microsecond=7)) == "2024-01-01T00:00:00.000007Z"
    assert format_period(T0, None) == "2024-01-01T00:00:00Z"
    assert format_period(T0, T0) == "2024-01-01T00:00:00Z"
    assert format_period(T0, later) == "2024-01-01T00:00:00Z/2024-01-01T03:00:00.250Z"
    assert format_period(None, None) is None


def test_entity_json_accepts_ids_keeps_their_order_and_skips_missing(
    db: Session, world: World
) -> None:
    body = entity_json(db, THING, [world.restricted_thing, 999_999, world.thing], base=ROOT)
    assert [item["@iot.id"] for item in body] == [world.restricted_thing, world.thing]
    assert body[1]["Datastreams@iot.navigationLink"] == f"{ROOT}/Things({world.thing})/Datastreams"


def test_entity_json_links_use_the_base_given(db: Session, world: World) -> None:
    body = entity_json(db, DATASTREAM, [world.datastream], base="https://city.example/sta/v1.1/")
    assert (
        body[0]["@iot.selfLink"] == f"https://city.example/sta/v1.1/Datastreams({world.datastream})"
    )


def test_service_root_lists_every_entity_set_and_conformance(client: TestClient) -> None:
    root = get(client, "")
    assert {item["name"] for item in root["value"]} == set(BY_SET)
    for item in root["value"]:
        assert item["url"] == f"{ROOT}/{item['name']}"
    conformance = root["serverSettings"]["conformance"]
    assert set(CONFORMANCE) <= set(conformance)
    assert client.get("/sta/v1.1").json() == root


def test_service_root_reports_mqtt_unavailable_without_a_broker(client: TestClient) -> None:
    server = get(client, "")["serverSettings"]
    assert MQTT_CREATE not in server["conformance"]
    assert server[MQTT_CREATE]["available"] is False
    assert server[MQTT_CREATE]["endpoints"] == []


def test_service_root_offers_mqtt_endpoint_without_credentials(settings: Settings) -> None:
    with_broker = settings.model_copy(update={"mqtt_url": "mqtt://ingest:s3cret@broker:1883"})
    server = service_root(with_broker, ROOT)["serverSettings"]
    assert MQTT_CREATE in server["conformance"]
    assert MQTT_RECEIVE in server["conformance"]
    assert server[MQTT_CREATE]["endpoints"] == ["mqtt://broker:1883"]
    assert "s3cret" not in str(server)
