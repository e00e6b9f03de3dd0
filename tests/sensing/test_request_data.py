"""SensorThings request-data conformance: ``$filter`` operators and functions, ``$orderby``,
paths through navigation properties, JSON sub-properties and ``result``, run against a
seeded database on SQLite and PostgreSQL through the query compiler
(:func:`~cityos.sensing.sta.query_sql.filter_clause` / ``order_clauses``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput, NotImplementedFeature
from cityos.sensing import models as m
from cityos.sensing.sta.entities import entity
from cityos.sensing.sta.query_parse import parse_filter, parse_orderby
from cityos.sensing.sta.query_sql import filter_clause, order_clauses

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T_DOOR = datetime(2024, 3, 15, 12, 30, 45, 250000, tzinfo=UTC)


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass(frozen=True)
class Seeded:
    ids: dict[str, int]


def _observe(db: Session, stream: int, at: datetime, result: Any, **extra: Any) -> int:
    number = (
        float(result) if isinstance(result, int | float) and not isinstance(result, bool) else None
    )
    row = m.Observation(
        datastream_id=stream,
        phenomenon_time_start=at,
        result_time=at,
        result_number=number,
        result_json=None if number is not None else result,
        **extra,
    )
    db.add(row)
    db.flush()
    return row.id


@pytest.fixture
def seeded(db: Session) -> Seeded:
    ids: dict[str, int] = {}
    things = {
        "Weather station": {
            "owner": "city",
            "floors": 3,
            "active": True,
            "tags": {"zone": "north"},
        },
        "Pump 7": {"owner": "water", "floors": 1, "active": False},
        "Bare": None,
        "It's quoted": {"owner": "O'Brien", "floors": "3"},
    }
    for name, properties in things.items():
        row = m.Thing(name=name, description=f"about {name}", properties=properties)
        db.add(row)
        db.flush()
        ids[name] = row.id
    locations = {
        "Corner": point(116.39, 39.91),
        "Pump house": point(116.5, 39.8),
        "Park": box(116.30, 39.95, 116.32, 39.97),
    }
    for name, geometry in locations.items():
        row = m.Location(name=name, description="", location=geometry)
        db.add(row)
        db.flush()
        ids[name] = row.id
    db.execute(
        insert(m.thing_locations),
        [
            {"thing_id": ids["Weather station"], "location_id": ids["Corner"]},
            {"thing_id": ids["Pump 7"], "location_id": ids["Pump house"]},
            {"thing_id": ids["Bare"], "location_id": ids["Park"]},
        ],
    )
    sensor = m.Sensor(name="TMP36", description="", encoding_type="text/html", sensor_metadata="x")
    temperature = m.ObservedProperty(name="Temperature", definition="https://t", description="")
    status = m.ObservedProperty(name="Status", definition="https://s", description="")
    corner = m.FeatureOfInterest(name="Corner FoI", description="", feature=point(116.39, 39.91))
    db.add_all([sensor, temperature, status, corner])
    db.flush()
    ids["Corner FoI"] = corner.id
    streams = {
        "Air temperature": ("Weather station", temperature.id, T0, T0 + timedelta(hours=4)),
        "Door": ("Pump 7", status.id, None, None),
        "Alarm": ("Bare", status.id, None, None),
    }
    for name, (thing, prop, start, end) in streams.items():
        row = m.Datastream(
            name=name,
            description="",
            unit_of_measurement={"name": "unit", "symbol": "u", "definition": "d"},
            observation_type=str(m.ObservationType.OBSERVATION),
            thing_id=ids[thing],
            sensor_id=sensor.id,
            observed_property_id=prop,
            phenomenon_time_start=start,
            phenomenon_time_end=end,
        )
        db.add(row)
        db.flush()
        ids[name] = row.id
    for index, value in enumerate([20.5, 21.0, 21.5, 22.0, 22.5]):
        extra: dict[str, Any] = {"feature_id": corner.id}
        if index == 0:
            extra["parameters"] = {"quality": "good"}
        ids[f"air{index}"] = _observe(
            db, ids["Air temperature"], T0 + timedelta(hours=index), value, **extra
        )
    ids["open"] = _observe(db, ids["Door"], T_DOOR, "open")
    ids["closed"] = _observe(db, ids["Door"], T_DOOR + timedelta(days=1), "closed")
    ids["true"] = _observe(db, ids["Alarm"], T0, True)
    ids["false"] = _observe(db, ids["Alarm"], T0 + timedelta(hours=1), False)
    ids["complex"] = _observe(db, ids["Alarm"], T0 + timedelta(hours=2), {"a": 1, "b": "x"})
    db.commit()
    return Seeded(ids)


def _label(row: Any) -> Any:
    if isinstance(row, m.Observation):
        return row.result_number if row.result_number is not None else row.result_json
    return row.name


def query(db: Session, entity_name: str, text: str) -> list[Any]:
    """What ``$filter=text`` on the entity set selects, in id order (names or results)."""
    entity_type = entity(entity_name)
    model: Any = entity_type.model
    expr = parse_filter(text, entity=entity_type)
    rows = db.scalars(select(model).where(filter_clause(db, expr, entity_type)).order_by(model.id))
    return [_label(row) for row in rows]


def ordered(db: Session, entity_name: str, text: str) -> list[Any]:
    entity_type = entity(entity_name)
    model: Any = entity_type.model
    terms = order_clauses(entity_type, parse_orderby(text, entity=entity_type))
    return [_label(row) for row in db.scalars(select(model).order_by(*terms, model.id))]


# --- comparison and logical operators ------------------------------------------------------


COMPARISONS: list[tuple[str, list[Any]]] = [
    ("result eq 21.5", [21.5]),
    ("result ne 21.5", [20.5, 21.0, 22.0, 22.5]),
    ("result gt 22", [22.5]),
    ("result ge 22", [22.0, 22.5]),
    ("result lt 21", [20.5]),
    ("result le 21", [20.5, 21.0]),
    ("result gt 20.5 and result lt 22", [21.0, 21.5]),
    ("result lt 21 or result gt 22", [20.5, 22.5]),
    ("not (result lt 22)", [22.0, 22.5]),
    ("not result lt 22", [22.0, 22.5]),
    ("(result eq 20.5 or result eq 21) and result gt 20.7", [21.0]),
    ("result eq 20.5 or result eq 21 and result gt 20.7", [20.5, 21.0]),
    ("21 lt result", [21.5, 22.0, 22.5]),
]


def test_comparison_and_logical_operators_select_numeric_results(
    db: Session, seeded: Seeded
) -> None:
    wrong: dict[str, Any] = {}
    for text, expected in COMPARISONS:
        got = query(db, "Observation", f"Datastream/name eq 'Air temperature' and ({text})")
        if got != expected:
            wrong[text] = (got, expected)
    assert not wrong


def test_text_comparisons_and_ne_keep_rows_whose_value_is_missing(
    db: Session, seeded: Seeded
) -> None:
    assert query(db, "Thing", "name eq 'Pump 7'") == ["Pump 7"]
    assert query(db, "Thing", "name ne 'Pump 7'") == ["Weather station", "Bare", "It's quoted"]
    assert query(db, "Thing", "name gt 'P'") == ["Weather station", "Pump 7"]
    assert query(db, "Thing", "properties/owner ne 'city'") == ["Pump 7", "Bare", "It's quoted"]


def test_null_comparisons(db: Session, seeded: Seeded) -> None:
    assert query(db, "Thing", "properties eq null") == ["Bare"]
    assert query(db, "Thing", "properties/owner eq null") == ["Bare"]
    assert query(db, "Thing", "properties/owner ne null") == [
        "Weather station",
        "Pump 7",
        "It's quoted",
    ]
    assert query(db, "Datastream", "phenomenonTime eq null") == ["Door", "Alarm"]
    assert query(db, "Observation", "parameters/quality ne null") == [20.5]


def test_constant_conditions(db: Session, seeded: Seeded) -> None:
    assert query(db, "Thing", "true") == ["Weather station", "Pump 7", "Bare", "It's quoted"]
    assert query(db, "Thing", "1 eq 2") == []
    assert query(db, "Thing", "'a' lt 'b' and name eq 'Bare'") == ["Bare"]


# --- arithmetic ------------------------------------------------------------------------------


ARITHMETIC: list[tuple[str, list[Any]]] = [
    ("result add 1 eq 22.5", [21.5]),
    ("result sub 0.5 eq 21", [21.5]),
    ("result mul 2 eq 43", [21.5]),
    ("result div 2 eq 10.25", [20.5]),
    ("result mod 2 eq 1.5", [21.5]),
    ("result div 0 eq 1", []),
    ("-result lt -22", [22.5]),
    ("result gt 12 add 2 mul 5", [22.5]),
]


def test_arithmetic_operators(db: Session, seeded: Seeded) -> None:
    wrong: dict[str, Any] = {}
    for text, expected in ARITHMETIC:
        got = query(db, "Observation", f"Datastream/name eq 'Air temperature' and {text}")
        if got != expected:
            wrong[text] = (got, expected)
    assert not wrong


# --- string functions ---------------------------------------------------------------------


STRING_FUNCTIONS: list[tuple[str, list[Any]]] = [
    ("substringof('ump', name)", ["Pump 7"]),
    ("contains(name, 'station')", ["Weather station"]),
    ("contains(name, '%')", []),
    ("contains(name, '_')", []),
    ("startswith(name, 'Pu')", ["Pump 7"]),
    ("startswith(name, 'pu')", []),
    ("endswith(name, 'station')", ["Weather station"]),
    ("endswith(name, 'a very long suffix that does not fit')", []),
    ("length(name) eq 4", ["Bare"]),
    ("indexof(name, 'mp') eq 2", ["Pump 7"]),
    ("indexof(name, 'zzz') eq -1", ["Weather station", "Pump 7", "Bare", "It's quoted"]),
    ("substring(name, 1) eq 'ump 7'", ["Pump 7"]),
    ("substring(name, 0, 2) eq 'Ba'", ["Bare"]),
    ("tolower(name) eq 'pump 7'", ["Pump 7"]),
    ("toupper(name) eq 'BARE'", ["Bare"]),
    ("trim(concat(' x ', name)) eq 'x Bare'", ["Bare"]),
    ("concat(concat(name, '/'), properties/owner) eq 'Pump 7/water'", ["Pump 7"]),
    ("name eq 'It''s quoted'", ["It's quoted"]),
    ("startswith(properties/owner, 'O''B')", ["It's quoted"]),
]


def test_string_functions(db: Session, seeded: Seeded) -> None:
    wrong: dict[str, Any] = {}
    for text, expected in STRING_FUNCTIONS:
        got = query(db, "Thing", text)
        if got != expected:
            wrong[text] = (got, expected)
    assert not wrong


# --- date and time functions ----------------------------------------------------------------


TIME_FUNCTIONS: list[tuple[str, list[Any]]] = [
    ("year(phenomenonTime) eq 2024", ["open", "closed"]),
    ("month(phenomenonTime) eq 3", ["open", "closed"]),
    ("day(phenomenonTime) eq 16", ["closed"]),
    ("hour(phenomenonTime) eq 12", ["open", "closed"]),
    ("minute(phenomenonTime) eq 30", ["open", "closed"]),
    ("second(phenomenonTime) eq 45", ["open", "closed"]),
    ("fractionalseconds(phenomenonTime) eq 0.25", ["open", "closed"]),
    ("date(phenomenonTime) eq 2024-03-15", ["open"]),
    ("date(phenomenonTime) gt 2024-03-15", ["closed"]),
    ("time(phenomenonTime) eq 12:30:45.250", ["open", "closed"]),
    ("time(phenomenonTime) lt 12:00:00", []),
    ("totaloffsetminutes(phenomenonTime) eq 0", ["open", "closed"]),
    ("phenomenonTime gt 2024-03-15T12:30:45Z", ["open", "closed"]),
    ("phenomenonTime lt 2024-03-16T00:00:00+08:00", ["open"]),
    ("phenomenonTime lt now()", ["open", "closed"]),
    ("phenomenonTime gt now() sub duration'P36500D'", ["open", "closed"]),
    ("phenomenonTime gt mindatetime() and phenomenonTime lt maxdatetime()", ["open", "closed"]),
    ("resultTime eq 2024-03-15T12:30:45.250Z", ["open"]),
]


def test_date_and_time_functions(db: Session, seeded: Seeded) -> None:
    wrong: dict[str, Any] = {}
    for text, expected in TIME_FUNCTIONS:
        got = query(db, "Observation", f"Datastream/name eq 'Door' and {text}")
        if got != expected:
            wrong[text] = (got, expected)
    assert not wrong


def test_time_functions_on_a_literal_are_computed(db: Session, seeded: Seeded) -> None:
    text = "year(2024-05-06T07:08:09Z) eq 2024 and hour(2024-05-06T07:08:09+02:00) eq 5"
    assert query(db, "Thing", text) == ["Weather station", "Pump 7", "Bare", "It's quoted"]
    assert query(db, "Thing", "day(2024-05-06T07:08:09Z) eq 7") == []


def test_period_properties_compare_on_their_start(db: Session, seeded: Seeded) -> None:
    assert query(db, "Datastream", "phenomenonTime eq 2024-01-01T00:00:00Z") == ["Air temperature"]
    assert query(db, "Datastream", "phenomenonTime lt 2024-01-01T01:00:00Z") == ["Air temperature"]
    assert query(db, "Datastream", "maxdatetime(phenomenonTime) eq 2024-01-01T04:00:00Z") == [
        "Air temperature"
    ]
    assert query(db, "Datastream", "mindatetime(phenomenonTime) eq 2024-01-01T00:00:00Z") == [
        "Air temperature"
    ]


# --- math functions ---------------------------------------------------------------------------


MATH_FUNCTIONS: list[tuple[str, list[Any]]] = [
    ("round(result) eq 22", [21.5, 22.0]),
    ("floor(result) eq 21", [21.0, 21.5]),
    ("ceiling(result) eq 21", [20.5, 21.0]),
]


def test_math_functions(db: Session, seeded: Seeded) -> None:
    wrong: dict[str, Any] = {}
    for text, expected in MATH_FUNCTIONS:
        got = query(db, "Observation", f"Datastream/name eq 'Air temperature' and {text}")
        # SQLite and PostgreSQL both round half away from zero for these values
        if sorted(got) != sorted(expected):
            wrong[text] = (got, expected)
    assert not wrong


# --- JSON sub-properties and result ---------------------------------------------------------


def test_json_sub_properties_compare_by_the_literal_type(db: Session, seeded: Seeded) -> None:
    assert query(db, "Thing", "properties/owner eq 'city'") == ["Weather station"]
    assert query(db, "Thing", "properties/floors gt 2") == ["Weather station"]  # "3" is text
    assert query(db, "Thing", "properties/floors eq '3'") == ["It's quoted"]
    assert query(db, "Thing", "properties/floors add 1 eq 2") == ["Pump 7"]
    assert query(db, "Thing", "properties/tags/zone eq 'north'") == ["Weather station"]
    assert query(db, "Thing", "properties/active eq true") == ["Weather station"]
    assert query(db, "Thing", "properties/active eq false") == ["Pump 7"]
    assert query(db, "Thing", "properties/active") == ["Weather station"]
    assert query(db, "Thing", "properties/owner eq 3") == []
    assert query(db, "Observation", "parameters/quality eq 'good'") == [20.5]


def test_result_compares_numbers_text_booleans_and_objects(db: Session, seeded: Seeded) -> None:
    assert query(db, "Observation", "result eq 'open'") == ["open"]
    assert query(db, "Observation", "result ne 'open' and Datastream/name eq 'Door'") == ["closed"]
    assert query(db, "Observation", "result eq true") == [True]
    assert query(db, "Observation", "result eq false") == [False]
    assert query(db, "Observation", "result/a eq 1") == [{"a": 1, "b": "x"}]
    assert query(db, "Observation", "result/b eq 'x'") == [{"a": 1, "b": "x"}]
    assert query(db, "Observation", "startswith(result, 'clo')") == ["closed"]
    assert query(db, "Observation", "result gt 22.2") == [22.5]


# --- navigation paths ------------------------------------------------------------------------


def test_paths_through_single_navigation_properties(db: Session, seeded: Seeded) -> None:
    assert query(db, "Observation", "Datastream/Thing/name eq 'Pump 7'") == ["open", "closed"]
    assert query(
        db, "Observation", "Datastream/Thing/properties/owner eq 'city' and result gt 22"
    ) == [22.5]
    assert query(db, "Observation", "FeatureOfInterest/name eq 'Corner FoI' and result lt 21") == [
        20.5
    ]
    assert query(
        db, "Observation", "Datastream/ObservedProperty/name eq 'Status' and result eq true"
    ) == [True]
    # two navigation paths in one comparison; the first Thing and the only Sensor share id 1
    assert query(db, "Datastream", "Thing/id eq Sensor/id") == ["Air temperature"]


def test_paths_through_collections_mean_any_related_entity(db: Session, seeded: Seeded) -> None:
    assert query(db, "Datastream", "Thing/Locations/name eq 'Corner'") == ["Air temperature"]
    assert query(db, "Thing", "Datastreams/Observations/result gt 22") == ["Weather station"]
    assert query(db, "Thing", "Datastreams/Observations/result eq 'closed'") == ["Pump 7"]
    assert query(db, "Location", "Things/Datastreams/name eq 'Alarm'") == ["Park"]
    assert query(db, "Thing", "not (Datastreams/name eq 'Door')") == [
        "Weather station",
        "Bare",
        "It's quoted",
    ]
    # one related entity must satisfy the whole comparison
    text = "Datastreams/Observations/result gt 22 and Datastreams/name eq 'Door'"
    assert query(db, "Thing", text) == []


def test_paths_on_both_sides_of_a_comparison(db: Session, seeded: Seeded) -> None:
    assert query(
        db, "Datastream", "Thing/name eq 'Pump 7' and ObservedProperty/name eq 'Status'"
    ) == ["Door"]
    assert query(db, "Observation", "Datastream/phenomenonTime eq phenomenonTime") == [20.5]


# --- geospatial -------------------------------------------------------------------------------

PARK_AREA = (
    "geography'POLYGON((116.29 39.94, 116.4 39.94, 116.4 39.99, 116.29 39.99, 116.29 39.94))'"
)
CITY = "geography'POLYGON((116 39, 117 39, 117 40, 116 40, 116 39))'"


GEO_FUNCTIONS: list[tuple[str, list[Any]]] = [
    (f"geo.intersects(location, {PARK_AREA})", ["Park"]),
    (f"st_intersects(location, {CITY})", ["Corner", "Pump house", "Park"]),
    (f"st_within(location, {CITY})", ["Corner", "Pump house", "Park"]),
    (f"st_contains({CITY}, location)", ["Corner", "Pump house", "Park"]),
    ("st_contains(location, geography'POINT(116.31 39.96)')", ["Park"]),
    (f"st_disjoint(location, {PARK_AREA})", ["Corner", "Pump house"]),
    ("st_equals(location, geography'POINT(116.39 39.91)')", ["Corner"]),
    ("st_touches(location, geography'POINT(116.30 39.96)')", ["Park"]),
    (
        "st_overlaps(location, geography'POLYGON((116.31 39.96, 116.5 39.96, 116.5 40, "
        "116.31 40, 116.31 39.96))')",
        ["Park"],
    ),
    ("st_crosses(geography'LINESTRING(116.25 39.96, 116.31 39.96)', location)", ["Park"]),
    ("st_relate(location, geography'POINT(116.39 39.91)', 'T********')", ["Corner"]),
    ("geo.distance(location, geography'POINT(116.39 39.91)') lt 0.1", ["Corner", "Park"]),
    ("geo.distance(location, geography'POINT(116.39 39.91)') eq 0", ["Corner"]),
    ("0.05 gt geo.distance(location, geography'POINT(116.39 39.91)')", ["Corner"]),
    ("geo.length(location) gt 0", ["Park"]),
    ("geo.length(geography'LINESTRING(0 0, 3 4)') eq 5 and name eq 'Park'", ["Park"]),
    ("geo.intersects(location, geography'SRID=4326;POINT(116.5 39.8)')", ["Pump house"]),
]


def test_geospatial_functions(db: Session, seeded: Seeded) -> None:
    wrong: dict[str, Any] = {}
    for text, expected in GEO_FUNCTIONS:
        got = query(db, "Location", text)
        if got != expected:
            wrong[text] = (got, expected)
    assert not wrong


def test_geospatial_functions_through_navigation(db: Session, seeded: Seeded) -> None:
    assert query(db, "Datastream", f"st_within(Thing/Locations/location, {PARK_AREA})") == ["Alarm"]
    near = "geo.distance(FeatureOfInterest/feature, geography'POINT(116.39 39.91)') lt 1"
    text = f"{near} and result gt 22"
    assert query(db, "Observation", text) == [22.5]


def test_geospatial_errors(db: Session, seeded: Seeded) -> None:
    with pytest.raises(InvalidInput, match="not valid WKT"):
        query(db, "Location", "st_within(location, geography'POLYGON((1 2')")
    with pytest.raises(InvalidInput, match="not a geometry property"):
        query(db, "Location", f"st_within(name, {CITY})")
    with pytest.raises(NotImplementedFeature, match="compared with a number"):
        query(
            db,
            "Location",
            "geo.distance(location, geography'POINT(1 2)') lt "
            "geo.distance(location, geography'POINT(1 3)')",
        )
    with pytest.raises(InvalidInput, match="geometry cannot be compared"):
        query(db, "Location", "location eq 'x'")


# --- $orderby ---------------------------------------------------------------------------------


def test_orderby_with_several_keys_and_nulls_first(db: Session, seeded: Seeded) -> None:
    assert ordered(db, "Datastream", "phenomenonTime") == ["Door", "Alarm", "Air temperature"]
    assert ordered(db, "Datastream", "phenomenonTime desc,name") == [
        "Air temperature",
        "Alarm",
        "Door",
    ]
    by_owner = ordered(db, "Thing", "properties/owner asc")
    assert (by_owner[0], by_owner[-1]) == ("Bare", "Pump 7")  # text order of the rest: collation
    assert ordered(db, "Thing", "properties/floors desc, name desc") == [
        "Weather station",
        "Pump 7",
        "It's quoted",
        "Bare",
    ]


def test_orderby_through_navigation_and_expressions(db: Session, seeded: Seeded) -> None:
    got = ordered(db, "Observation", "Datastream/name desc,result desc")
    assert got[:2] == ["open", "closed"]
    assert got[-5:] == [22.5, 22.0, 21.5, 21.0, 20.5]
    assert ordered(db, "Thing", "length(name) desc")[0] == "Weather station"
    assert ordered(db, "Datastream", "Thing/name") == ["Alarm", "Door", "Air temperature"]


# --- injection attempts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "name eq 'x'' or 1 eq 1 --'",
        "name eq 'x''; DROP TABLE sensing_things; --'",
        'name eq \'" OR ""="\'',
        "properties/owner eq ''' OR 1=1 --'",
        "contains(name, '%'' OR ''1''=''1')",
    ],
)
def test_injection_attempts_are_plain_text(db: Session, seeded: Seeded, text: str) -> None:
    assert query(db, "Thing", text) == []
    assert db.scalar(select(func.count()).select_from(m.Thing)) == 4
    assert inspect(db.get_bind()).has_table("sensing_things")


@pytest.mark.parametrize(
    "text",
    [
        "name eq 'x' or 1 eq 1; DROP TABLE sensing_things",
        "name eq 'x' -- comment",
        "properties/owner\" eq 'x'",
        "properties/a') or 1=1 -- eq 'x'",
        "properties/a.b eq 'x'",
        "name eq 'x' union select 1",
    ],
)
def test_injection_attempts_outside_strings_are_syntax_errors(
    db: Session, seeded: Seeded, text: str
) -> None:
    with pytest.raises(InvalidInput):
        query(db, "Thing", text)


def test_literals_are_bound_parameters_not_sql_text(db: Session, seeded: Seeded) -> None:
    entity_type = entity("Thing")
    expr = parse_filter(
        "name eq 'secret-literal' and properties/owner eq 'other-literal'", entity=entity_type
    )
    clause = filter_clause(db, expr, entity_type)
    compiled = select(m.Thing.id).where(clause).compile(db.get_bind())
    assert "secret-literal" not in str(compiled)
    assert "other-literal" not in str(compiled)
    assert "secret-literal" in compiled.params.values()


# --- through the HTTP API -----------------------------------------------------------------------


def _get(client: TestClient, path: str, **params: str) -> Any:
    return client.get(f"/sta/v1.1/{path}", params=params)


def test_http_filter_orderby_and_select(client: TestClient, seeded: Seeded) -> None:
    reply = _get(client, "Things", **{"$filter": "properties/owner eq 'city'", "$select": "name"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["value"] == [{"name": "Weather station"}]
    reply = _get(
        client,
        "Observations",
        **{"$filter": "Datastream/Thing/name eq 'Pump 7'", "$orderby": "phenomenonTime desc"},
    )
    assert [row["result"] for row in reply.json()["value"]] == ["closed", "open"]
    reply = _get(
        client,
        "Locations",
        **{"$filter": f"st_within(location, {PARK_AREA})", "$select": "name"},
    )
    assert reply.json()["value"] == [{"name": "Park"}]


def test_http_bad_queries_answer_with_sta_errors(client: TestClient, seeded: Seeded) -> None:
    reply = _get(client, "Things", **{"$filter": "name eq 'x' and"})
    assert reply.status_code == 400
    assert reply.json()["type"] == "error"
    assert "position 16" in reply.json()["message"]
    reply = _get(client, "Things", **{"$select": "name,colour"})
    assert reply.status_code == 400
    assert "colour" in reply.json()["message"]
    reply = _get(client, "Things", **{"$orderby": "colour desc"})
    assert reply.status_code == 400
    assert "colour" in reply.json()["message"]
    too_deep = "Datastreams/Thing/Datastreams/Thing/Datastreams/Thing"
    reply = _get(client, "Things", **{"$expand": too_deep})
    assert reply.status_code == 400
    assert "at most 5" in reply.json()["message"]
    reply = _get(client, "Things", **{"$search": "pump"})
    assert reply.status_code == 501
    assert "$search" in reply.json()["message"]


def test_http_injection_attempt_finds_nothing_and_changes_nothing(
    client: TestClient, db: Session, seeded: Seeded
) -> None:
    reply = _get(client, "Things", **{"$filter": "name eq 'x''; DROP TABLE sensing_things; --'"})
    assert reply.status_code == 200
    assert reply.json()["value"] == []
    assert db.scalar(select(func.count()).select_from(m.Thing)) == 4
