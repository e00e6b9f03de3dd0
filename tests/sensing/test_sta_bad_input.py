"""Bad input to the SensorThings write side: each gets a clear error with the right status
and nothing is half-written."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.sensing import models as m
from cityos.sensing.sta.api_write import MAX_BODY
from tests.sensing.sta_write_support import (
    STA,
    auth,
    datastream_body,
    make_datastream,
    new_id,
    post,
    sta_error,
    thing_body,
    writer_key,
)

__all__ = ["auth", "writer_key"]  # fixtures


def things(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(m.Thing)) or 0


def test_malformed_json_is_refused_with_its_position(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(
        f"{STA}/Things",
        content=b'{"name": "x",',
        headers={**auth, "Content-Type": "application/json"},
    )
    sta_error(response, 400, "not valid JSON", "line 1")


def test_wrong_content_type_is_415(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        f"{STA}/Things", content=b"name=x", headers={**auth, "Content-Type": "text/plain"}
    )
    sta_error(response, 415, "application/json", "text/plain")


def test_json_patch_content_type_only_on_patch(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        f"{STA}/Things",
        content=b"[]",
        headers={**auth, "Content-Type": "application/json-patch+json"},
    )
    sta_error(response, 415)


def test_huge_body_is_413(client: TestClient, auth: dict[str, str], db: Session) -> None:
    padding = "x" * (MAX_BODY + 10)
    response = client.post(
        f"{STA}/Things", json={**thing_body(), "description": padding}, headers=auth
    )
    sta_error(response, 413, "MiB")
    assert things(db) == 0


def test_unknown_entity_set_is_404(client: TestClient, auth: dict[str, str]) -> None:
    sta_error(client.post(f"{STA}/Gadgets", json={}, headers=auth), 404, "Gadgets")


def test_unknown_property_is_named(client: TestClient, auth: dict[str, str], db: Session) -> None:
    response = client.post(f"{STA}/Things", json={**thing_body(), "colour": "red"}, headers=auth)
    sta_error(response, 400, "'colour'", "Thing")
    assert things(db) == 0


def test_missing_required_property_is_named(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(f"{STA}/Things", json={"description": "no name"}, headers=auth)
    sta_error(response, 400, "missing name")


def test_link_to_unknown_id_is_refused(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    response = client.post(
        f"{STA}/Datastreams", json=datastream_body({"@iot.id": 999}), headers=auth
    )
    sta_error(response, 400, "Datastream.Thing", "999")
    assert db.scalar(select(func.count()).select_from(m.Sensor)) == 0


def test_update_of_unknown_entity_is_404(client: TestClient, auth: dict[str, str]) -> None:
    sta_error(client.patch(f"{STA}/Things(999)", json={"name": "x"}, headers=auth), 404)
    sta_error(client.delete(f"{STA}/Things(999)", headers=auth), 404)


def test_result_of_wrong_type_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    _thing, stream = make_datastream(client, auth)
    response = client.post(
        f"{STA}/Datastreams({stream})/Observations",
        json={"phenomenonTime": "2024-01-01T00:00:00Z", "result": "warm"},
        headers=auth,
    )
    sta_error(response, 400, "OM_Measurement", "result")


def test_time_without_timezone_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    _thing, stream = make_datastream(client, auth)
    response = client.post(
        f"{STA}/Datastreams({stream})/Observations",
        json={"phenomenonTime": "2024-01-01T00:00:00", "result": 1.0},
        headers=auth,
    )
    sta_error(response, 400, "phenomenonTime", "time zone")


def test_unparseable_time_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    _thing, stream = make_datastream(client, auth)
    response = client.post(
        f"{STA}/Datastreams({stream})/Observations",
        json={"phenomenonTime": "yesterday", "result": 1.0},
        headers=auth,
    )
    sta_error(response, 400, "phenomenonTime", "ISO 8601")


def test_second_observation_at_the_same_time_is_a_conflict(
    client: TestClient, auth: dict[str, str]
) -> None:
    _thing, stream = make_datastream(client, auth)
    body = {"phenomenonTime": "2024-01-01T00:00:00Z", "result": 1.0}
    first = new_id(post(client, f"Datastreams({stream})/Observations", body, auth))
    response = client.post(f"{STA}/Datastreams({stream})/Observations", json=body, headers=auth)
    sta_error(response, 409, f"Observations({first})")


def test_observation_without_a_datastream_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.post(f"{STA}/Observations", json={"result": 1}, headers=auth)
    sta_error(response, 400, "Datastream")


def test_unknown_observation_type_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    body = datastream_body({"@iot.id": thing}, observation_type="http://example.org/mine")
    sta_error(client.post(f"{STA}/Datastreams", json=body, headers=auth), 400, "observationType")


def test_bad_geometry_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    body = thing_body()
    body["Locations"][0]["location"] = {"type": "Point", "coordinates": "here"}
    sta_error(client.post(f"{STA}/Things", json=body, headers=auth), 400, "location")


def test_body_id_differing_from_url_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    response = client.put(
        f"{STA}/Things({thing})",
        json={"@iot.id": thing + 1, "name": "x", "description": "y"},
        headers=auth,
    )
    sta_error(response, 400, "@iot.id")


def test_put_missing_required_property_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    response = client.put(f"{STA}/Things({thing})", json={"description": "y"}, headers=auth)
    sta_error(response, 400, "missing name")


def test_malformed_json_patch_is_400_and_failed_test_is_409(
    client: TestClient, auth: dict[str, str]
) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    headers = {**auth, "Content-Type": "application/json-patch+json"}
    bad = [{"op": "frobnicate", "path": "/name"}]
    response = client.patch(f"{STA}/Things({thing})", content=json.dumps(bad), headers=headers)
    sta_error(response, 400, "frobnicate")
    failing = [
        {"op": "replace", "path": "/name", "value": "changed"},
        {"op": "test", "path": "/name", "value": "something else"},
    ]
    response = client.patch(f"{STA}/Things({thing})", content=json.dumps(failing), headers=headers)
    sta_error(response, 409, "test failed")
    assert client.get(f"{STA}/Things({thing})").json()["name"] == "Weather station"


def test_post_to_a_single_entity_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    sta_error(client.post(f"{STA}/Things({thing})", json={}, headers=auth), 400, "PATCH")


def test_writing_to_ref_is_not_offered(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    response = client.post(f"{STA}/Things({thing})/Locations/$ref", json={}, headers=auth)
    sta_error(response, 501, "$ref")


def test_body_not_an_object_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    sta_error(client.post(f"{STA}/Things", json=[1, 2], headers=auth), 400, "JSON object")


def test_nan_and_infinity_in_a_body_are_refused_and_nothing_is_stored(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    headers = {**auth, "Content-Type": "application/json"}
    for constant in ("NaN", "Infinity", "-Infinity"):
        raw = f'{{"name": "x", "description": "", "properties": {{"x": {constant}}}}}'
        response = client.post(f"{STA}/Things", content=raw.encode(), headers=headers)
        sta_error(response, 400, constant, "finite number")
    raw = '{"name": "x", "description": "", "properties": {"x": 1e999}}'
    sta_error(client.post(f"{STA}/Things", content=raw.encode(), headers=headers), 400, "1e999")
    raw = '{"name": "x", "description": "", "properties": {"x": ' + "1" * 5000 + "}}"
    sta_error(client.post(f"{STA}/Things", content=raw.encode(), headers=headers), 400)
    assert things(db) == 0
    assert client.get(f"{STA}/Things").status_code == 200


def test_deeply_nested_body_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Content-Type": "application/json"}
    for depth in (100, 200_000):  # past the limit; past Python's recursion limit
        raw = '{"name": "x", "description": "", "properties": {"x": ' + "[" * depth
        raw += "]" * depth + "}}"
        response = client.post(f"{STA}/Things", content=raw.encode(), headers=headers)
        sta_error(response, 400, "levels deep")


def test_nan_in_create_observations_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    _thing, stream = make_datastream(client, auth)
    raw = (
        f'[{{"Datastream": {{"@iot.id": {stream}}}, "components": ["phenomenonTime", '
        '"result"], "dataArray": [["2024-01-01T00:00:00Z", NaN]]}]'
    )
    response = client.post(
        f"{STA}/CreateObservations",
        content=raw.encode(),
        headers={**auth, "Content-Type": "application/json"},
    )
    sta_error(response, 400, "NaN")


def test_out_of_range_link_id_is_refused_naming_it(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    for ident in (3_000_000_000, 2**70, 0, -5):
        response = client.post(
            f"{STA}/Datastreams", json=datastream_body({"@iot.id": ident}), headers=auth
        )
        sta_error(response, 400, str(ident))
    response = client.post(
        f"{STA}/Things",
        json={**thing_body(), "Locations": [{"@iot.id": 3_000_000_000}]},
        headers=auth,
    )
    sta_error(response, 400, "3000000000", "Location")
    assert things(db) == 0


def test_out_of_range_feature_id_in_create_observations_is_an_error_row(
    client: TestClient, auth: dict[str, str]
) -> None:
    _thing, stream = make_datastream(client, auth)
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
            "dataArray": [
                ["2024-01-01T00:00:00Z", 1.0, 3_000_000_000],
                ["2024-01-01T00:01:00Z", 2.0, 2**70],
            ],
        }
    ]
    response = client.post(f"{STA}/CreateObservations", json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert response.json() == ["error", "error"]


def test_text_too_long_for_its_column_or_with_nul_is_refused(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    response = client.post(f"{STA}/Things", json=thing_body(name="x" * 300), headers=auth)
    sta_error(response, 400, "Thing.name", "255")
    response = client.post(f"{STA}/Things", json=thing_body(name="a\x00b"), headers=auth)
    sta_error(response, 400, "Thing.name", "NUL")
    assert things(db) == 0
