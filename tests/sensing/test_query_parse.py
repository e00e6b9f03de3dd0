"""Parsing SensorThings query options: the ``$filter`` grammar, ``$orderby``, ``$select``,
``$expand`` with nested options, limits, and a clear error for every kind of bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from cityos.errors import InvalidInput, NotImplementedFeature
from cityos.sensing.sta.entities import entity
from cityos.sensing.sta.query_ast import (
    BinOp,
    Call,
    Expand,
    Literal,
    Neg,
    Not,
    OrderItem,
    Path,
    QueryLimits,
    QueryOptions,
    walk,
)
from cityos.sensing.sta.query_parse import parse_filter, parse_options

THING = entity("Thing")
OBSERVATION = entity("Observation")
DATASTREAM = entity("Datastream")
LIMITS = QueryLimits(max_top=1000, default_top=100, max_expand_depth=3, max_filter_nodes=40)


def options(entity_name: str = "Thing", **params: str) -> QueryOptions:
    return parse_options(
        {f"${key}": value for key, value in params.items()},
        entity=entity(entity_name),
        limits=LIMITS,
    )


# --- $filter grammar -------------------------------------------------------------------------


def test_comparison_of_a_path_and_a_string() -> None:
    assert parse_filter("name eq 'x'") == BinOp("eq", Path(("name",)), Literal("x", "string"))


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    a, b, c = (BinOp("eq", Path((n,)), Literal(1, "number")) for n in ("a", "b", "c"))
    assert parse_filter("a eq 1 or b eq 1 and c eq 1") == BinOp("or", a, BinOp("and", b, c))
    assert parse_filter("(a eq 1 or b eq 1) and c eq 1") == BinOp("and", BinOp("or", a, b), c)


def test_arithmetic_precedence_and_left_associativity() -> None:
    one, two, three = (Literal(n, "number") for n in (1, 2, 3))
    assert parse_filter("1 add 2 mul 3 eq 7").left == BinOp("add", one, BinOp("mul", two, three))
    assert parse_filter("1 sub 2 sub 3 eq 0").left == BinOp("sub", BinOp("sub", one, two), three)


def test_not_and_negation() -> None:
    assert parse_filter("not (a eq 1)") == Not(BinOp("eq", Path(("a",)), Literal(1, "number")))
    assert parse_filter("a eq -1.5").right == Literal(-1.5, "number")
    assert parse_filter("-a eq 1").left == Neg(Path(("a",)))


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("'it''s'", Literal("it's", "string")),
        ("''", Literal("", "string")),
        ("'中文'", Literal("中文", "string")),
        ("42", Literal(42, "number")),
        ("4.2e1", Literal(42.0, "number")),
        ("true", Literal(True, "boolean")),
        ("false", Literal(False, "boolean")),
        ("null", Literal(None, "null")),
        ("2024-01-02T03:04:05Z", Literal(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "datetime")),
        (
            "2024-01-02T03:04:05.5+08:00",
            Literal(datetime(2024, 1, 1, 19, 4, 5, 500000, tzinfo=UTC), "datetime"),
        ),
        ("2024-01-02", Literal(date(2024, 1, 2), "date")),
        ("12:30:00", Literal(time(12, 30), "time")),
        ("duration'P1DT2H'", Literal(timedelta(days=1, hours=2), "duration")),
        ("geography'POINT(1 2)'", Literal("POINT(1 2)", "geography")),
        ("geography'SRID=4326;POINT(1 2)'", Literal("POINT(1 2)", "geography")),
        ("geometry'LINESTRING(0 0, 1 1)'", Literal("LINESTRING(0 0, 1 1)", "geography")),
    ],
)
def test_literals(text: str, literal: Literal) -> None:
    assert parse_filter(f"x eq {text}").right == literal


def test_paths_functions_and_json_keys() -> None:
    expr = parse_filter("startswith(Datastream/Thing/properties/owner, 'a')")
    assert expr == Call(
        "startswith", (Path(("Datastream", "Thing", "properties", "owner")), Literal("a", "string"))
    )
    assert parse_filter("properties/list/0 eq 1").left == Path(("properties", "list", "0"))
    assert parse_filter("now() gt mindatetime()").left == Call("now", ())
    assert isinstance(parse_filter("GEO.INTERSECTS(location, geography'POINT(1 2)')"), Call)


def test_every_function_of_the_standard_parses() -> None:
    texts = [
        "substringof('a', name)", "endswith(name, 'a')", "startswith(name, 'a')",
        "length(name) eq 1", "indexof(name, 'a') eq 1", "substring(name, 1) eq 'a'",
        "substring(name, 1, 2) eq 'a'", "tolower(name) eq 'a'", "toupper(name) eq 'a'",
        "trim(name) eq 'a'", "concat(name, 'a') eq 'a'", "year(time) eq 1", "month(time) eq 1",
        "day(time) eq 1", "hour(time) eq 1", "minute(time) eq 1", "second(time) eq 1",
        "fractionalseconds(time) eq 0", "date(time) eq 2020-01-01", "time(time) eq 10:00:00",
        "totaloffsetminutes(time) eq 0", "now() gt time", "mindatetime() lt time",
        "maxdatetime() gt time", "round(x) eq 1", "floor(x) eq 1", "ceiling(x) eq 1",
        "geo.distance(location, geography'POINT(1 2)') lt 1", "geo.length(location) gt 1",
        "geo.intersects(location, geography'POINT(1 2)')",
        "st_equals(location, geography'POINT(1 2)')",
        "st_disjoint(location, geography'POINT(1 2)')",
        "st_touches(location, geography'POINT(1 2)')",
        "st_within(location, geography'POINT(1 2)')",
        "st_overlaps(location, geography'POINT(1 2)')",
        "st_crosses(location, geography'POINT(1 2)')",
        "st_intersects(location, geography'POINT(1 2)')",
        "st_contains(location, geography'POINT(1 2)')",
        "st_relate(location, geography'POINT(1 2)', 'T********')",
    ]  # fmt: skip
    for text in texts:
        assert parse_filter(text) is not None, text


# --- $filter errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name eq", "expected a property, a literal, a function or '\\(' at position 8"),
        ("name eq 'x", "not closed"),
        ("(name eq 'x'", "expected '\\)' at position 13"),
        ("name eq 'x')", "expected the end of the expression .* at position 12"),
        ("name eq 'x' eq 'y'", "comparisons do not chain"),
        ("name # 'x'", "unexpected character '#' at position 6"),
        ("name eq 'x' and", "position 16"),
        ("eq 'x'", "found the operator 'eq'"),
        ("frobnicate(name)", "unknown function 'frobnicate' at position 1"),
        ("length(name, 'x') eq 1", "length\\(\\) at position 1 takes 1 argument"),
        ("substring(name) eq 'x'", "takes 2 to 3 argument"),
        ("time eq 2024-01-01T00:00:00", "has no timezone"),
        ("time eq 2024-13-01T00:00:00Z", "not a valid literal"),
        ("x eq duration'1 day'", "not a valid literal"),
        ("", "\\$filter is empty"),
        ("name/", "a property name after '/'"),
    ],
)
def test_filter_syntax_errors_give_the_position(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_filter(text)


def test_filter_unknown_properties_are_named() -> None:
    with pytest.raises(InvalidInput, match="unknown property 'colour' of Thing"):
        parse_filter("colour eq 'red'", entity=THING)
    with pytest.raises(
        InvalidInput, match="unknown property 'nme' of Thing in 'Datastream/Thing/nme'"
    ):
        parse_filter("Datastream/Thing/nme eq 'x'", entity=OBSERVATION)
    with pytest.raises(InvalidInput, match="ends at the navigation property 'Thing'"):
        parse_filter("Thing eq 1", entity=DATASTREAM)
    with pytest.raises(InvalidInput, match="'name' of Thing has no sub-properties"):
        parse_filter("name/first eq 'x'", entity=THING)


def test_filter_larger_than_the_limit_is_refused() -> None:
    small = " or ".join(f"id eq {n}" for n in range(5))
    assert parse_filter(small, max_nodes=40)
    big = " or ".join(f"id eq {n}" for n in range(20))
    with pytest.raises(InvalidInput, match="too large: more than 40"):
        parse_filter(big, max_nodes=40)
    with pytest.raises(InvalidInput, match="too large"):
        options(filter=big)


def test_deep_nesting_is_refused_without_recursion_errors() -> None:
    with pytest.raises(InvalidInput, match="nests deeper than"):
        parse_filter("(" * 5000 + "id eq 1" + ")" * 5000, max_nodes=300)
    with pytest.raises(InvalidInput, match="nests deeper than"):
        parse_filter("not " * 200 + "id eq 1", max_nodes=300)
    with pytest.raises(InvalidInput, match="nests deeper than"):
        parse_filter("id eq " + "-" * 200 + "1", max_nodes=300)
    assert parse_filter("(" * 30 + "id eq 1" + ")" * 30)


def test_node_count_covers_every_operand() -> None:
    expr = parse_filter("a eq 1 and not startswith(b, 'x')")
    assert len(walk(expr)) == 8  # and, eq, a, 1, not, startswith, b, 'x'


# --- $orderby ---------------------------------------------------------------------------------


def test_orderby_keys_with_directions() -> None:
    got = options(orderby="name desc, id").orderby
    assert got == (
        OrderItem(("name",), True, Path(("name",))),
        OrderItem(("id",), False, Path(("id",))),
    )
    expression = options("Observation", orderby="year(phenomenonTime) desc").orderby[0]
    assert expression.path == ()
    assert expression.descending
    assert isinstance(expression.expr, Call)


def test_orderby_errors() -> None:
    with pytest.raises(InvalidInput, match="unknown property 'colour' of Thing"):
        options(orderby="colour")
    with pytest.raises(InvalidInput, match="to-many navigation property"):
        options(orderby="Datastreams/name")
    with pytest.raises(InvalidInput, match="\\$orderby: expected the end"):
        options(orderby="name sideways")
    with pytest.raises(InvalidInput, match="\\$orderby is empty"):
        options(orderby=" ")


# --- $select ----------------------------------------------------------------------------------


def test_select_properties_and_navigation_properties() -> None:
    assert options(select="name, @iot.id,Datastreams").select == ("name", "id", "Datastreams")
    assert options(select="*").select is None
    assert options().select is None


def test_select_unknown_properties_are_named() -> None:
    with pytest.raises(InvalidInput, match="unknown properties 'colour', 'size' of Thing"):
        options(select="name,colour,size")
    with pytest.raises(InvalidInput, match="empty item"):
        options(select="name,,id")


# --- $expand ----------------------------------------------------------------------------------


def test_expand_paths_become_nested_expands() -> None:
    got = options(expand="Datastreams/Observations,Locations").expand
    assert got == (
        Expand("Datastreams", QueryOptions(expand=(Expand("Observations", QueryOptions()),))),
        Expand("Locations", QueryOptions()),
    )


def test_expand_nested_options() -> None:
    text = (
        "Datastreams($select=name,id;$filter=name eq 'a;b(c)';$orderby=name desc;$top=2;"
        "$skip=1;$count=true;$expand=Observations($top=3;$orderby=phenomenonTime desc))"
    )
    (datastreams,) = options(expand=text).expand
    inner = datastreams.options
    assert inner.select == ("name", "id")
    assert inner.filter == BinOp("eq", Path(("name",)), Literal("a;b(c)", "string"))
    assert (inner.top, inner.skip, inner.count) == (2, 1, True)
    (observations,) = inner.expand
    assert observations.nav == "Observations"
    assert observations.options.top == 3
    assert observations.options.orderby[0].descending


def test_expand_items_of_the_same_navigation_are_merged() -> None:
    text = "Datastreams/Sensor,Datastreams/ObservedProperty,Datastreams($top=5)"
    (datastreams,) = options(expand=text).expand
    assert [e.nav for e in datastreams.options.expand] == ["Sensor", "ObservedProperty"]
    assert datastreams.options.top == 5


def test_expand_errors() -> None:
    with pytest.raises(InvalidInput, match="'Sensors' is not a navigation property of Thing"):
        options(expand="Sensors")
    with pytest.raises(InvalidInput, match="nests 4 levels deep; at most 3"):
        options(expand="Datastreams/Thing/Datastreams/Thing")
    with pytest.raises(InvalidInput, match="nests 4 levels deep"):
        options(expand="Datastreams($expand=Thing($expand=Datastreams($expand=Thing)))")
    with pytest.raises(InvalidInput, match="unknown property 'colour' of Datastream"):
        options(expand="Datastreams($filter=colour eq 1)")
    with pytest.raises(InvalidInput, match="must look like \\$name=value"):
        options(expand="Datastreams(top=1)")
    with pytest.raises(InvalidInput, match="unclosed"):
        options(expand="Datastreams($top=1")
    with pytest.raises(InvalidInput, match="unknown query option \\$levels2"):
        options(expand="Datastreams($levels2=1)")
    with pytest.raises(InvalidInput, match="empty item"):
        options(expand="Datastreams,")
    assert options(expand="Datastreams/Thing/Datastreams").expand  # exactly at the limit


# --- other options ----------------------------------------------------------------------------


def test_top_skip_count_and_result_format() -> None:
    got = options("Observation", top="5", skip="10", count="true", resultFormat="dataArray")
    assert (got.top, got.skip, got.count, got.result_format) == (5, 10, True, "dataArray")
    plain = options()
    assert (plain.top, plain.skip, plain.count, plain.result_format) == (None, 0, False, None)


def test_top_over_the_maximum_is_capped_not_refused() -> None:
    got = options(top="50000")
    assert got.top == 50000
    assert got.page_size(LIMITS) == 1000
    assert options().page_size(LIMITS) == 100


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$top": "-1"}, "\\$top must be a whole number"),
        ({"$top": "ten"}, "\\$top must be a whole number"),
        ({"$skip": "1.5"}, "\\$skip must be a whole number"),
        ({"$count": "yes"}, "\\$count must be true or false"),
        ({"$resultFormat": "csv"}, "use dataArray"),
        ({"$fitler": "name eq 'x'"}, "unknown query option \\$fitler"),
        ({"$Top": "1"}, "unknown query option \\$Top"),
    ],
)
def test_bad_option_values(params: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_options(params, entity=THING, limits=LIMITS)


@pytest.mark.parametrize("option", ["$search", "$apply", "$format", "$levels", "$compute"])
def test_unsupported_options_are_not_implemented(option: str) -> None:
    with pytest.raises(NotImplementedFeature, match=f"\\{option} is not supported"):
        parse_options({option: "x"}, entity=THING, limits=LIMITS)


def test_parameters_without_dollar_are_ignored() -> None:
    assert parse_options({"page": "2"}, entity=THING, limits=LIMITS) == QueryOptions()


def test_limits_from_settings() -> None:
    class FakeSettings:
        sta_max_top = 7
        sta_default_top = 3
        sta_max_expand_depth = 2
        sta_max_filter_nodes = 50

    assert QueryLimits.from_settings(FakeSettings()) == QueryLimits(7, 3, 2, 50)
