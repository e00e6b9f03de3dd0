"""SensorThings reads stay safe and bounded: restricted Things cannot be probed through
``$filter`` paths, out-of-range numbers and times answer 400/404 (never 500), ``$top=0``
ends paging, ``$expand`` has an entity budget, and only navigation links that lead
somewhere are emitted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from cityos.app import create_app
from cityos.config import Settings
from cityos.sensing import models as m
from cityos.sensing.sta import serialize
from cityos.sensing.sta.entities import OBSERVATION, SENSOR
from cityos.sensing.sta.query_parse import parse_filter, parse_orderby
from cityos.sensing.sta.query_sql import filter_clause, order_clauses
from tests.sensing.sta_seed import T0, World, add_observations, point, seed_world


@pytest.fixture
def world(db: Session) -> World:
    """The seed world, with the restricted "Pump 7" also sharing the open Location "Corner"
    (and a HistoricalLocation there), and its Observations on the open FeatureOfInterest."""
    made = seed_world(db)
    db.execute(
        insert(m.thing_locations),
        [{"thing_id": made.restricted_thing, "location_id": made.location}],
    )
    history = m.HistoricalLocation(thing_id=made.restricted_thing, time=T0)
    db.add(history)
    db.flush()
    db.execute(
        insert(m.historical_location_locations),
        [{"historical_location_id": history.id, "location_id": made.location}],
    )
    db.execute(
        update(m.Observation)
        .where(m.Observation.id.in_(made.restricted_observations))
        .values(feature_id=made.feature)
    )
    db.commit()
    return made


def values(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/sta/v1.1/{path}", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["value"]
    return found


def error(client: TestClient, path: str, status: int, **params: Any) -> str:
    response = client.get(f"/sta/v1.1/{path}", params=params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["type"] == "error"
    message: str = body["message"]
    return message


# --- 1. restricted Things through $filter paths --------------------------------------------

PROBES = [
    ("Sensors", "Datastreams/Thing/name eq '{name}'"),
    ("ObservedProperties", "Datastreams/Thing/name eq '{name}'"),
    ("Locations", "Things/name eq '{name}'"),
    ("Locations", "HistoricalLocations/Thing/name eq '{name}'"),
    ("FeaturesOfInterest", "Observations/Datastream/Thing/name eq '{name}'"),
    ("Sensors", "geo.intersects(Datastreams/Thing/Locations/location, geography'{where}')"),
]


@pytest.mark.parametrize(("set_name", "condition"), PROBES)
def test_filter_paths_do_not_reveal_restricted_things_to_anonymous_readers(
    client: TestClient, world: World, set_name: str, condition: str
) -> None:
    secret = condition.format(name="Pump 7", where="POINT(116.4 39.9)")
    open_one = condition.format(name="Weather station", where="POINT(116.39 39.91)")
    assert values(client, set_name, **{"$filter": secret}) == []
    assert values(client, set_name, **{"$filter": open_one}) != []
    count = client.get(f"/sta/v1.1/{set_name}/$count", params={"$filter": secret})
    assert count.text == "0"


def test_filter_on_restricted_results_through_features_finds_nothing(
    client: TestClient, world: World
) -> None:
    assert values(client, "FeaturesOfInterest", **{"$filter": "Observations/result eq 1.5"}) == []
    count = client.get(
        "/sta/v1.1/FeaturesOfInterest/$count", params={"$filter": "Observations/result eq 1.5"}
    )
    assert count.text == "0"


def test_filter_paths_reach_restricted_things_for_signed_in_readers(
    db: Session, world: World
) -> None:
    expr = parse_filter("Datastreams/Thing/name eq 'Pump 7'")
    for public, expected in ((False, [world.sensor]), (True, [])):
        clause = filter_clause(db, expr, SENSOR, public=public)
        assert list(db.scalars(select(m.Sensor.id).where(clause))) == expected


def test_orderby_through_navigation_hides_restricted_entities(world: World) -> None:
    terms = order_clauses(OBSERVATION, parse_orderby("Datastream/Thing/name"), public=True)
    sql = str(select(m.Observation.id).order_by(*terms).compile())
    assert "restricted" in sql
    open_terms = order_clauses(OBSERVATION, parse_orderby("Datastream/Thing/name"))
    assert "restricted" not in str(select(m.Observation.id).order_by(*open_terms).compile())


# --- 8. FeaturesOfInterest used only by restricted streams ---------------------------------


def test_features_used_only_by_restricted_streams_are_hidden(
    client: TestClient, db: Session, world: World
) -> None:
    own = m.FeatureOfInterest(name="Sump", description="posted", feature=point(1, 2))
    unused = m.FeatureOfInterest(name="Spare", description="posted", feature=point(3, 4))
    db.add_all([own, unused])
    db.flush()
    add_observations(
        db,
        datastream_id=world.restricted_stream,
        results=[9.0],
        start=T0 + timedelta(days=1),
        feature_id=own.id,
    )
    db.commit()
    names = {item["name"] for item in values(client, "FeaturesOfInterest")}
    assert "Sump" not in names
    assert {"Spare", "Corner"} <= names  # no observations / also used by open streams
    assert error(client, f"FeaturesOfInterest({own.id})", 404)
    add_observations(
        db,
        datastream_id=world.datastream,
        results=[1.0],
        start=T0 + timedelta(days=2),
        feature_id=own.id,
    )
    db.commit()
    assert "Sump" in {item["name"] for item in values(client, "FeaturesOfInterest")}


# --- 2. $top=0 ----------------------------------------------------------------------------


def test_top_zero_answers_no_entities_and_no_next_link(client: TestClient, world: World) -> None:
    response = client.get("/sta/v1.1/Observations", params={"$top": "0", "$count": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["value"] == []
    assert body["@iot.count"] > 0
    assert "@iot.nextLink" not in body


def test_expanded_top_zero_has_no_next_link(client: TestClient, world: World) -> None:
    things = values(client, "Things", **{"$expand": "Datastreams($top=0)"})
    assert things
    assert all(t["Datastreams"] == [] for t in things)
    assert not any("Datastreams@iot.nextLink" in t for t in things)


# --- 3. ordering by NOT NULL columns ---------------------------------------------------------


def test_order_by_not_null_columns_has_no_nulls_modifier(world: World) -> None:
    for key in ("phenomenonTime desc", "id", "phenomenonTime"):
        terms = order_clauses(OBSERVATION, parse_orderby(key))
        sql = str(select(m.Observation.id).order_by(*terms).compile(dialect=postgresql.dialect()))
        assert "NULLS" not in sql, sql
    nullable = order_clauses(OBSERVATION, parse_orderby("resultTime desc"))
    sql = str(select(m.Observation.id).order_by(*nullable).compile(dialect=postgresql.dialect()))
    assert "NULLS LAST" in sql


def test_latest_observation_of_a_stream_is_read_through_an_index(
    db: Session, engine: Engine, world: World
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the plan is checked on PostgreSQL")
    rows = [
        {
            "datastream_id": world.count_stream,
            "phenomenon_time_start": T0 + timedelta(days=1, minutes=minute),
            "result_number": float(minute),
        }
        for minute in range(20_000)
    ]
    db.execute(insert(m.Observation), rows)
    db.commit()
    db.execute(text("ANALYZE sensing_observations"))
    terms = order_clauses(OBSERVATION, parse_orderby("phenomenonTime desc"))
    statement = (
        select(m.Observation)
        .where(m.Observation.datastream_id == world.count_stream)
        .order_by(*terms, m.Observation.id)
        .limit(2)
    )
    sql = statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in db.execute(text(f"EXPLAIN {sql}")))
    db.rollback()
    assert "Index Scan Backward" in plan, plan
    assert "Presorted Key: phenomenon_time_start" in plan, plan  # no full sort
    assert "->  Sort" not in plan, plan


# --- 4. out-of-range numbers and times -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["Things(3000000000)", "Things(99999999999999999999)", "Observations(99999999999999999999)",
     "Things(1)/Datastreams(3000000000)"],
)  # fmt: skip
def test_ids_beyond_the_column_range_are_not_found(
    client: TestClient, world: World, path: str
) -> None:
    assert "no such" in error(client, path, 404)


@pytest.mark.parametrize("option", ["$top", "$skip"])
def test_huge_top_and_skip_are_refused(client: TestClient, world: World, option: str) -> None:
    message = error(client, "Observations", 400, **{option: "99999999999999999999"})
    assert option in message
    assert "at most" in message


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("id eq 99999999999999999999", "out of range"),
        ("result gt 1e400", "out of range"),
        ("result gt 9223372036854775807 mul 4", "out of range"),
        ("phenomenonTime gt 0001-01-01T00:00:00+01:00", "years 1 to 9999"),
        ("phenomenonTime lt 9999-12-31T23:30:00-01:00", "years 1 to 9999"),
        ("phenomenonTime gt now() sub duration'P9999999D'", "years 1 to 9999"),
        ("phenomenonTime gt now() sub duration'P99999999999D'", "not a valid literal"),
    ],
)
def test_out_of_range_literals_are_refused(
    client: TestClient, world: World, condition: str, words: str
) -> None:
    assert words in error(client, "Observations", 400, **{"$filter": condition})


def test_large_id_literals_within_range_find_nothing(client: TestClient, world: World) -> None:
    assert values(client, "Things", **{"$filter": "id eq 3000000000"}) == []
    assert values(client, "Observations", **{"$filter": "id eq 9223372036854775807"}) == []


def test_overflow_while_the_query_runs_is_a_bad_request(
    client: TestClient, engine: Engine, world: World
) -> None:
    condition = "result mul 1e308 mul 1e308 gt 1"
    if engine.dialect.name == "postgresql":
        assert "cannot hold" in error(client, "Observations", 400, **{"$filter": condition})
        assert values(client, "Things")  # the connection is usable again
    else:  # SQLite computes infinity
        assert values(client, "Observations", **{"$filter": condition})


# --- 5. the expansion budget ---------------------------------------------------------------


@pytest.fixture
def small_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    tight = settings.model_copy(update={"sta_max_top": 4, "sta_default_top": 4})
    with TestClient(create_app(tight, engine=engine)) as test_client:
        yield test_client


def test_expansion_beyond_the_entity_budget_is_refused(
    small_client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serialize, "BUDGET_FACTOR", 1)  # 4 entities per response
    expand = "Datastreams($expand=Observations)"
    message = error(small_client, "Things", 400, **{"$expand": expand})
    assert "more than 4 entities" in message
    assert "lower $top" in message
    small = "Datastreams($top=1;$expand=Observations($top=1))"
    things = values(small_client, "Things", **{"$expand": small})
    assert len(things[0]["Datastreams"]) == 1
    assert len(things[0]["Datastreams"][0]["Observations"]) == 1


def test_expansion_pages_per_parent_keep_order_skip_and_next_link(
    client: TestClient, world: World
) -> None:
    things = values(
        client,
        "Things",
        **{"$expand": "Datastreams($orderby=name desc;$expand=Observations($top=2;$skip=1))"},
    )
    station = next(t for t in things if t["@iot.id"] == world.thing)
    names = [d["name"] for d in station["Datastreams"]]
    assert names == sorted(names, reverse=True)
    air = next(d for d in station["Datastreams"] if d["name"] == "Air temperature")
    assert [o["@iot.id"] for o in air["Observations"]] == list(world.observations[1:3])


# --- 7. geo filters with no hits -----------------------------------------------------------


def test_geo_filter_without_hits_finds_nothing_without_warnings(
    client: TestClient, world: World
) -> None:
    condition = "geo.distance(Locations/location, geography'POINT(1 2)') lt 1"
    assert values(client, "Things", **{"$filter": condition}) == []
    near = "geo.distance(Locations/location, geography'POINT(116.39 39.91)') lt 1"
    assert values(client, "Things", **{"$filter": near}) != []
