"""SensorThings conformance class *resource-path*: collections, ``Entity(id)``,
navigation, ``/property``, ``/property/$value``, ``/$ref``, ``/$count``; plus paging through
``@iot.nextLink``, nested expansion, ``dataArray``, restricted Things and the error format."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.sensing import models as m
from cityos.sensing.sta.paths import parse_path
from tests.conftest import PASSWORD
from tests.sensing.sta_seed import World, add_observations, seed_world

ROOT = "http://testserver/sta/v1.1"


@pytest.fixture
def world(db: Session) -> World:
    return seed_world(db)


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(f"/sta/v1.1/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict[str, Any]) -> list[int]:
    return [item["@iot.id"] for item in body["value"]]


def assert_sta_error(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["type"] == "error"
    for word in words:
        assert word in body["message"], body["message"]


# --- paths --------------------------------------------------------------------------------


def test_collection_lists_entities_in_id_order(client: TestClient, world: World) -> None:
    assert ids(get(client, "Datastreams")) == [world.datastream, world.count_stream]


def test_entity_by_id(client: TestClient, world: World) -> None:
    body = get(client, f"Things({world.thing})")
    assert body["@iot.id"] == world.thing
    assert body["name"] == "Weather station"


def test_missing_entity_is_404_naming_the_path(client: TestClient, world: World) -> None:
    response = client.get("/sta/v1.1/Things(999999)")
    assert_sta_error(response, 404, "Things(999999)", "no such Thing")


def test_unknown_entity_set_is_404_listing_the_sets(client: TestClient) -> None:
    assert_sta_error(client.get("/sta/v1.1/Thingz"), 404, "'Thingz'", "Datastreams")


def test_non_numeric_id_is_404_saying_ids_are_numbers(client: TestClient) -> None:
    assert_sta_error(client.get("/sta/v1.1/Things('abc')"), 404, "whole numbers")


def test_unknown_navigation_or_property_is_404(client: TestClient, world: World) -> None:
    response = client.get(f"/sta/v1.1/Things({world.thing})/Sensors")
    assert_sta_error(response, 404, "'Sensors'", "Thing")


def test_navigating_from_a_collection_needs_an_id(client: TestClient, world: World) -> None:
    assert_sta_error(client.get("/sta/v1.1/Things/Datastreams"), 400, "Things(1)/Datastreams")


def test_id_on_a_single_navigation_is_refused(client: TestClient, world: World) -> None:
    response = client.get(f"/sta/v1.1/Datastreams({world.datastream})/Thing(1)")
    assert_sta_error(response, 400, "drop the id")


def test_navigation_to_a_collection(client: TestClient, world: World) -> None:
    body = get(client, f"Things({world.thing})/Datastreams")
    assert ids(body) == [world.datastream, world.count_stream]
    locations = get(client, f"Things({world.thing})/Locations")
    assert ids(locations) == [world.location]


def test_navigation_to_a_single_entity_and_on(client: TestClient, world: World) -> None:
    thing = get(client, f"Datastreams({world.datastream})/Thing")
    assert thing["@iot.id"] == world.thing
    locations = get(client, f"Observations({world.observations[0]})/Datastream/Thing/Locations")
    assert ids(locations) == [world.location]


def test_navigation_to_a_member_of_a_collection(client: TestClient, world: World) -> None:
    body = get(client, f"Things({world.thing})/Datastreams({world.count_stream})")
    assert body["name"] == "Visitors"
    response = client.get(f"/sta/v1.1/Things({world.thing})/Datastreams({world.restricted_stream})")
    assert_sta_error(response, 404, "no such Datastream")


def test_navigation_through_an_unset_link_is_404(client: TestClient, world: World) -> None:
    response = client.get(f"/sta/v1.1/Observations({world.multi_observations[0]})/Datastream")
    assert_sta_error(response, 404, "no such Datastream")


def test_multi_datastream_observed_properties_keep_their_order(
    client: TestClient, world: World
) -> None:
    body = get(client, f"MultiDatastreams({world.multi})/ObservedProperties")
    assert ids(body) == [world.humidity, world.temperature]


def test_many_to_many_navigation_both_ways(client: TestClient, world: World) -> None:
    assert ids(get(client, f"Locations({world.location})/Things")) == [world.thing]
    body = get(client, f"HistoricalLocations({world.historical_location})/Locations")
    assert ids(body) == [world.location]
    assert ids(get(client, f"Locations({world.location})/HistoricalLocations")) == [
        world.historical_location
    ]


def test_property_and_its_raw_value(client: TestClient, world: World) -> None:
    assert get(client, f"Things({world.thing})/name") == {"name": "Weather station"}
    raw = client.get(f"/sta/v1.1/Things({world.thing})/name/$value")
    assert raw.status_code == 200
    assert raw.text == "Weather station"
    assert raw.headers["content-type"].startswith("text/plain")
    result = client.get(f"/sta/v1.1/Observations({world.observations[0]})/result/$value")
    assert result.text == "20.5"
    props = get(client, f"Datastreams({world.datastream})/Thing/properties")
    assert props == {"properties": {"owner": "city"}}


def test_null_property_is_204(client: TestClient, world: World) -> None:
    response = client.get(f"/sta/v1.1/Datastreams({world.datastream})/resultTime")
    assert response.status_code == 204
    assert response.content == b""


def test_only_value_may_follow_a_property(client: TestClient, world: World) -> None:
    response = client.get(f"/sta/v1.1/Things({world.thing})/name/foo")
    assert_sta_error(response, 404, "only '$value'")


def test_ref_of_a_collection_and_of_an_entity(client: TestClient, world: World) -> None:
    body = get(client, f"Things({world.thing})/Datastreams/$ref")
    assert body["value"] == [
        {"@iot.selfLink": f"{ROOT}/Datastreams({world.datastream})"},
        {"@iot.selfLink": f"{ROOT}/Datastreams({world.count_stream})"},
    ]
    single = get(client, f"Datastreams({world.datastream})/Thing/$ref")
    assert single == {"@iot.selfLink": f"{ROOT}/Things({world.thing})"}


def test_count_path_answers_a_plain_number(client: TestClient, world: World) -> None:
    response = client.get(f"/sta/v1.1/Datastreams({world.datastream})/Observations/$count")
    assert response.status_code == 200
    assert response.text == "5"


def test_count_option_counts_every_match(client: TestClient, world: World) -> None:
    body = get(
        client, f"Datastreams({world.datastream})/Observations", **{"$count": "true", "$top": "2"}
    )
    assert body["@iot.count"] == 5
    assert len(body["value"]) == 2


def test_parse_path_reads_every_form() -> None:
    path = parse_path("Datastreams(3)/Thing/Locations")
    assert [step.segment for step in path.steps] == ["Datastreams(3)", "Thing", "Locations"]
    assert path.target.name == "Location"
    assert not path.single
    assert parse_path("Things(1)/name/$value").value
    assert parse_path("Things(1)/Datastreams/$ref").ref
    assert parse_path("Things/$count").count


# --- paging -------------------------------------------------------------------------------


def test_top_over_the_maximum_is_capped_to_pages_of_the_maximum(
    client: TestClient, world: World, db: Session, settings: Any
) -> None:
    client.app.state.settings = settings.model_copy(update={"sta_max_top": 3})  # type: ignore[attr-defined]
    body = get(client, "Observations", **{"$top": "7", "$count": "true"})
    assert len(body["value"]) == 3
    assert body["@iot.count"] == 10
    seen = ids(body)
    link = body["@iot.nextLink"]
    assert link.startswith(f"{ROOT}/Observations?")
    while link:
        page = client.get(link)
        assert page.status_code == 200, page.text
        seen += ids(page.json())
        link = page.json().get("@iot.nextLink")
    assert len(seen) == 10  # pages of 3 until every match was seen, once each
    assert seen == sorted(seen)
    assert len(set(seen)) == 10


def test_default_page_size_with_next_link_to_the_rest(
    client: TestClient, world: World, settings: Any
) -> None:
    client.app.state.settings = settings.model_copy(update={"sta_default_top": 4})  # type: ignore[attr-defined]
    body = get(client, "Observations")
    assert len(body["value"]) == 4
    seen = ids(body)
    link = body.get("@iot.nextLink")
    while link:
        page = client.get(link).json()
        seen += ids(page)
        link = page.get("@iot.nextLink")
    assert len(seen) == 10  # every open observation, once


def test_next_link_uses_the_host_the_client_called(
    client: TestClient, world: World, settings: Any
) -> None:
    client.app.state.settings = settings.model_copy(update={"sta_default_top": 1})  # type: ignore[attr-defined]
    response = client.get("/sta/v1.1/Observations", headers={"host": "sensors.city.example"})
    assert response.json()["@iot.nextLink"].startswith("http://sensors.city.example/sta/v1.1/")


def test_last_page_has_no_next_link(client: TestClient, world: World) -> None:
    body = get(client, f"Datastreams({world.datastream})/Observations", **{"$skip": "3"})
    assert len(body["value"]) == 2
    assert "@iot.nextLink" not in body


def test_top_is_the_page_size_and_the_next_link_moves_skip_on(
    client: TestClient, world: World
) -> None:
    body = get(client, "Observations", **{"$top": "2", "$skip": "1"})
    assert ids(body) == [world.observations[1], world.observations[2]]
    assert unquote(body["@iot.nextLink"]) == f"{ROOT}/Observations?$top=2&$skip=3"


# --- options on paths ---------------------------------------------------------------------


def test_select_keeps_only_the_named_properties(client: TestClient, world: World) -> None:
    body = get(client, f"Things({world.thing})", **{"$select": "id,name"})
    assert body == {"@iot.id": world.thing, "name": "Weather station"}


def test_nested_expand_with_top_count_and_select(client: TestClient, world: World) -> None:
    body = get(
        client,
        f"Things({world.thing})",
        **{"$expand": "Datastreams($select=name;$expand=Observations($top=2;$count=true))"},
    )
    streams = body["Datastreams"]
    assert [stream["name"] for stream in streams] == ["Air temperature", "Visitors"]
    assert "Datastreams@iot.navigationLink" not in body
    air = streams[0]
    assert air["Observations@iot.count"] == 5
    assert [obs["result"] for obs in air["Observations"]] == [20.5, 21.0]
    assert "Observations@iot.nextLink" not in air  # the client's $top, honoured in full


def test_expansion_cut_by_the_default_page_size_links_to_the_rest(
    client: TestClient, world: World, settings: Any
) -> None:
    client.app.state.settings = settings.model_copy(update={"sta_default_top": 2})  # type: ignore[attr-defined]
    body = get(client, f"Datastreams({world.datastream})", **{"$expand": "Observations"})
    assert len(body["Observations"]) == 2
    link = body["Observations@iot.nextLink"]
    assert link == f"{ROOT}/Datastreams({world.datastream})/Observations?$skip=2"
    rest = client.get(link).json()
    assert [obs["result"] for obs in rest["value"]] == [21.5, 22.0]


def test_expand_to_one_and_path_form(client: TestClient, world: World) -> None:
    body = get(
        client,
        f"Observations({world.observations[0]})",
        **{"$expand": "Datastream/Thing,FeatureOfInterest"},
    )
    assert body["Datastream"]["Thing"]["@iot.id"] == world.thing
    assert body["FeatureOfInterest"]["@iot.id"] == world.feature


def test_expansion_loads_each_level_in_one_query(
    client: TestClient, world: World, db: Session, engine: Engine
) -> None:
    for index in range(6):
        thing = m.Thing(name=f"extra {index}", description="")
        db.add(thing)
        db.flush()
        stream = m.Datastream(
            name=f"s{index}", description="", unit_of_measurement={}, observation_type="x",
            thing_id=thing.id, sensor_id=world.sensor, observed_property_id=world.temperature,
        )  # fmt: skip
        db.add(stream)
        db.flush()
        add_observations(db, datastream_id=stream.id, results=[1.0, 2.0])
    db.commit()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        body = get(client, "Things", **{"$expand": "Datastreams($expand=Observations)"})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(body["value"]) == 7
    assert sum(len(t["Datastreams"]) for t in body["value"]) == 8
    selects = [s for s in statements if "sensing_" in s]
    # things, datastreams, observations (+ observation types) — not one per entity
    assert len(selects) <= 5, selects


def test_data_array_groups_observations_per_datastream(client: TestClient, world: World) -> None:
    body = get(
        client,
        f"Datastreams({world.datastream})/Observations",
        **{"$resultFormat": "dataArray", "$select": "id,phenomenonTime,result", "$top": "2"},
    )
    [block] = body["value"]
    assert block["Datastream@iot.navigationLink"] == f"{ROOT}/Datastreams({world.datastream})"
    assert block["components"] == ["id", "phenomenonTime", "result"]
    assert block["dataArray@iot.count"] == 2
    assert block["dataArray"][0] == [world.observations[0], "2024-01-01T00:00:00Z", 20.5]


def test_data_array_is_refused_outside_observations(client: TestClient, world: World) -> None:
    response = client.get("/sta/v1.1/Things", params={"$resultFormat": "dataArray"})
    assert_sta_error(response, 400, "Observations")


# --- restricted Things --------------------------------------------------------------------


@pytest.fixture
def api_key(db: Session, people: dict[str, User]) -> str:
    _, raw = auth_service.create_api_key(
        db, user=people["cmb"], name="reader", actor=Actor.system("test")
    )
    db.commit()
    return raw


def test_restricted_thing_is_hidden_from_anonymous_readers(
    client: TestClient, world: World
) -> None:
    assert ids(get(client, "Things")) == [world.thing]
    assert_sta_error(client.get(f"/sta/v1.1/Things({world.restricted_thing})"), 404)
    assert world.restricted_stream not in ids(get(client, "Datastreams"))
    observations = set(ids(get(client, "Observations", **{"$top": "100"})))
    assert not observations & set(world.restricted_observations)
    assert world.restricted_location not in ids(get(client, "Locations"))
    sensor = get(client, f"Sensors({world.sensor})", **{"$expand": "Datastreams"})
    assert world.restricted_stream not in [s["@iot.id"] for s in sensor["Datastreams"]]
    response = client.get(f"/sta/v1.1/Datastreams({world.restricted_stream})/Observations")
    assert_sta_error(response, 404, "no such Datastream")


def test_signed_in_readers_see_restricted_things(
    client: TestClient, world: World, api_key: str, people: dict[str, User]
) -> None:
    bearer = {"authorization": f"Bearer {api_key}"}
    body = client.get("/sta/v1.1/Things", headers=bearer).json()
    assert ids(body) == [world.thing, world.restricted_thing]
    basic_key = client.get(f"/sta/v1.1/Things({world.restricted_thing})", auth=("anyone", api_key))
    assert basic_key.status_code == 200
    basic = client.get(
        f"/sta/v1.1/Datastreams({world.restricted_stream})/Observations",
        auth=(people["cmb"].email, PASSWORD),
    )
    assert ids(basic.json()) == list(world.restricted_observations)


def test_wrong_credentials_are_401_not_anonymous(client: TestClient, world: World) -> None:
    response = client.get("/sta/v1.1/Things", headers={"authorization": "Bearer cos_nope_nope"})
    assert_sta_error(response, 401, "API key")


# --- error format -------------------------------------------------------------------------


def test_errors_are_sta_json_even_for_browsers(client: TestClient) -> None:
    response = client.get("/sta/v1.1/Nothing", headers={"accept": "text/html"})
    assert response.headers["content-type"].startswith("application/json")
    assert_sta_error(response, 404, "Nothing")


def test_bad_query_option_is_400_in_sta_format(client: TestClient, world: World) -> None:
    assert_sta_error(client.get("/sta/v1.1/Things", params={"$top": "-1"}), 400, "$top")
    assert_sta_error(client.get("/sta/v1.1/Things", params={"$select": "nope"}), 400, "nope")


def test_unsupported_option_is_501(client: TestClient, world: World) -> None:
    assert_sta_error(client.get("/sta/v1.1/Things", params={"$search": "x"}), 501, "$search")


# --- $filter and $orderby through paths and expansions ------------------------------------


def test_filter_and_orderby_on_a_navigation_collection(client: TestClient, world: World) -> None:
    body = get(
        client,
        f"Datastreams({world.datastream})/Observations",
        **{"$filter": "result ge 21.5", "$orderby": "phenomenonTime desc", "$count": "true"},
    )
    assert [obs["result"] for obs in body["value"]] == [22.5, 22.0, 21.5]
    assert body["@iot.count"] == 3


def test_filter_inside_an_expansion_applies_per_parent(client: TestClient, world: World) -> None:
    body = get(
        client,
        "Datastreams",
        **{"$expand": "Observations($filter=result gt 5;$orderby=result desc;$count=true)"},
    )
    by_name = {stream["name"]: stream for stream in body["value"]}
    air = by_name["Air temperature"]["Observations"]
    assert [obs["result"] for obs in air] == [22.5, 22.0, 21.5, 21.0, 20.5]
    assert by_name["Visitors"]["Observations@iot.count"] == 1
    assert [obs["result"] for obs in by_name["Visitors"]["Observations"]] == [8]


def test_filter_on_count_path(client: TestClient, world: World) -> None:
    response = client.get(
        f"/sta/v1.1/Things({world.thing})/Datastreams/$count",
        params={"$filter": "name eq 'Visitors'"},
    )
    assert response.text == "1"
