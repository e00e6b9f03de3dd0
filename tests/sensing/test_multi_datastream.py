"""SensorThings conformance class *multi-datastream* (writing): a MultiDatastream with its
ordered ObservedProperties, and Observations whose result is one value per component."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.sensing.sta_write_support import (
    COMPLEX,
    COUNT,
    MEASUREMENT,
    STA,
    UNIT_C,
    auth,
    new_id,
    post,
    property_body,
    sensor_body,
    sta_error,
    thing_body,
    writer_key,
)

__all__ = ["auth", "writer_key"]  # fixtures


def multi_body(thing: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Weather",
        "description": "temperature and wind gusts",
        "observationType": COMPLEX,
        "unitOfMeasurements": [UNIT_C, {"name": "count", "symbol": "", "definition": ""}],
        "multiObservationDataTypes": [MEASUREMENT, COUNT],
        "Thing": {"@iot.id": thing},
        "Sensor": sensor_body("Station"),
        "ObservedProperties": [property_body("Temperature"), property_body("Gusts")],
    }
    body.update(changes)
    return body


def make_multi(client: TestClient, auth: dict[str, str]) -> int:
    thing = new_id(post(client, "Things", thing_body(), auth))
    return new_id(post(client, "MultiDatastreams", multi_body(thing), auth))


def test_multi_datastream_keeps_its_observed_properties_in_order(
    client: TestClient, auth: dict[str, str]
) -> None:
    multi = make_multi(client, auth)
    names = [
        p["name"]
        for p in client.get(f"{STA}/MultiDatastreams({multi})/ObservedProperties").json()["value"]
    ]
    assert names == ["Temperature", "Gusts"]


def test_observation_with_one_value_per_component_is_stored(
    client: TestClient, auth: dict[str, str]
) -> None:
    multi = make_multi(client, auth)
    body = {"phenomenonTime": "2024-03-01T10:00:00Z", "result": [12.5, 3]}
    made = post(client, f"MultiDatastreams({multi})/Observations", body, auth)
    observation = client.get(f"{STA}/Observations({new_id(made)})").json()
    assert observation["result"] == [12.5, 3]
    linked = client.get(f"{STA}/Observations({new_id(made)})/MultiDatastream").json()
    assert linked["@iot.id"] == multi


def test_result_with_wrong_number_of_components_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    multi = make_multi(client, auth)
    response = client.post(
        f"{STA}/MultiDatastreams({multi})/Observations",
        json={"phenomenonTime": "2024-03-01T10:00:00Z", "result": [12.5]},
        headers=auth,
    )
    sta_error(response, 400, "2 values")


def test_component_of_wrong_type_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    multi = make_multi(client, auth)
    response = client.post(
        f"{STA}/MultiDatastreams({multi})/Observations",
        json={"phenomenonTime": "2024-03-01T10:00:00Z", "result": [12.5, 2.5]},
        headers=auth,
    )
    sta_error(response, 400, "result[1]", "integer")


def test_lengths_that_disagree_are_refused(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    body = multi_body(thing, multiObservationDataTypes=[MEASUREMENT])
    sta_error(client.post(f"{STA}/MultiDatastreams", json=body, headers=auth), 400, "same")


def test_multi_datastream_must_be_a_complex_observation(
    client: TestClient, auth: dict[str, str]
) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    body = multi_body(thing, observationType=MEASUREMENT)
    sta_error(client.post(f"{STA}/MultiDatastreams", json=body, headers=auth), 400, "OM_Complex")


def test_deleting_an_observed_property_deletes_the_multi_datastream(
    client: TestClient, auth: dict[str, str]
) -> None:
    multi = make_multi(client, auth)
    first = client.get(f"{STA}/MultiDatastreams({multi})/ObservedProperties").json()["value"][0]
    response = client.delete(f"{STA}/ObservedProperties({first['@iot.id']})", headers=auth)
    assert response.status_code == 200, response.text
    assert client.get(f"{STA}/MultiDatastreams({multi})").status_code == 404
