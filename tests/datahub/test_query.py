"""The query API's core: parsing parameters, filters, sorting, keyset paging, frames."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.datahub import frames as frames_module
from cityos.datahub.access import ReadAccess
from cityos.datahub.query import RowPage, fetch_rows, iter_frames, parse_row_query
from cityos.datahub.tableschema import TableSchema
from cityos.errors import Forbidden, InvalidInput
from tests.datahub.query_support import (
    NAMES,
    OWNER,
    READER,
    ROWS,
    SCHEMA,
    Loaded,
    load,
    loaded_table,
)


@pytest.fixture
def trees(db: Session) -> Iterator[Loaded]:
    yield from loaded_table(db)


def ask(
    trees: Loaded, params: list[tuple[str, str]] | dict[str, str], access: ReadAccess = OWNER
) -> RowPage:
    pairs = list(params.items()) if isinstance(params, dict) else params
    parsed = parse_row_query(trees.schema, pairs)
    return fetch_rows(
        trees.db,
        dataset=trees.dataset,
        schema=trees.schema,
        version=trees.version,
        query=parsed,
        access=access,
    )


def names(page: RowPage) -> list[str]:
    return [row["name"] for row in page.rows]


def every(trees: Loaded, params: dict[str, str], access: ReadAccess = OWNER) -> list[str]:
    """Follow the cursors through every page."""
    found: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        wanted = dict(params)
        if cursor:
            wanted["cursor"] = cursor
        page = ask(trees, wanted, access)
        found += names(page)
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("paging did not end")


# --- filters -------------------------------------------------------------------------------


def test_a_bare_field_filters_by_equality(trees: Loaded) -> None:
    assert names(ask(trees, {"district": "east"})) == ["Oak", "Elm", "oak grove"]


def test_operators_compare_values_of_the_fields_type(trees: Loaded) -> None:
    assert names(ask(trees, {"count__gt": "5"})) == ["Maple", "50% off", "Cedar"]
    assert names(ask(trees, {"count__le": "2"})) == ["Birch", "Ash"]
    assert names(ask(trees, {"score__lt": "0"})) == ["Cedar"]
    assert names(ask(trees, {"opened__ge": "2024-04-01"})) == ["Birch", "Ash"]
    assert names(ask(trees, {"opened": "2024-01-05"})) == ["Oak", "Cedar", "Yew"]
    assert names(ask(trees, {"open": "false"})) == ["Pine", "50% off", "Birch"]


def test_datetime_filters_take_offsets_and_compare_in_utc(trees: Loaded) -> None:
    assert names(ask(trees, {"updated": "2024-01-05T08:00:00Z"})) == ["Oak", "Cedar"]
    # 16:00 in UTC+8 is 08:00 UTC
    assert names(ask(trees, {"updated": "2024-01-05T16:00:00+08:00"})) == ["Oak", "Cedar"]
    assert names(ask(trees, {"updated__lt": "2024-01-01T00:00:00"})) == ["Maple"]


def test_ne_counts_rows_without_a_value_as_not_equal(trees: Loaded) -> None:
    assert names(ask(trees, {"district__ne": "east"})) == [
        "Pine",
        "Maple",
        "50% off",
        "Birch",
        "Cedar",
        "Ash",
        "Yew",
    ]


def test_in_takes_a_comma_list(trees: Loaded) -> None:
    assert names(ask(trees, {"count__in": "1,2,3"})) == ["Pine", "Birch", "Ash"]
    assert names(ask(trees, {"district__in": "north,south"})) == ["Maple", "50% off", "Ash", "Yew"]


def test_contains_ignores_case_and_takes_wildcards_literally(trees: Loaded) -> None:
    assert names(ask(trees, {"name__contains": "OAK"})) == ["Oak", "oak grove"]
    assert names(ask(trees, {"name__contains": "50%"})) == ["50% off"]
    assert names(ask(trees, {"name__contains": "%"})) == ["50% off"]
    assert names(ask(trees, {"note__contains": "_"})) == ["50% off"]  # note under_score
    assert names(ask(trees, {"note__contains": "东城"})) == ["Yew"]


def test_isnull_finds_missing_values(trees: Loaded) -> None:
    assert names(ask(trees, {"count__isnull": "true"})) == ["Elm"]
    assert names(ask(trees, {"location__isnull": "true"})) == ["Elm", "Yew"]
    assert len(ask(trees, {"location__isnull": "false"}).rows) == 8


def test_repeated_filters_must_all_hold(trees: Loaded) -> None:
    params = [("count__ge", "3"), ("count__le", "5"), ("district", "east")]
    assert names(ask(trees, params)) == ["Oak", "oak grove"]


def test_bbox_keeps_points_inside(trees: Loaded) -> None:
    assert names(ask(trees, {"bbox": "116.4,39.9,116.45,39.93"})) == [
        "Oak",
        "50% off",
        "oak grove",
        "Ash",
    ]
    assert names(ask(trees, {"bbox": "116.4,39.9,116.45,39.93", "bbox_field": "location"}))[0] == (
        "Oak"
    )


def test_q_searches_every_text_field_the_reader_sees_in_full(trees: Loaded) -> None:
    assert names(ask(trees, {"q": "WEST"})) == ["Pine", "Cedar"]
    assert names(ask(trees, {"q": "home"})) == ["oak grove"]
    # the phone is masked for this reader: searching it would reveal it
    assert names(ask(trees, {"q": "1381234"}, READER)) == []
    assert names(ask(trees, {"q": "1381234"}, OWNER)) == ["Oak"]


def test_sql_in_a_value_is_only_a_value(trees: Loaded) -> None:
    assert ask(trees, {"name": "x' OR 1=1 --"}).rows == []
    assert ask(trees, {"name__contains": "'; DROP TABLE dh_9001_v1; --"}).rows == []
    assert ask(trees, {"q": "%' OR '1'='1"}).rows == []
    count = trees.db.execute(select(func.count()).select_from(trees.table)).scalar_one()
    assert count == len(ROWS)


# --- values --------------------------------------------------------------------------------


def test_rows_carry_json_friendly_values(trees: Loaded) -> None:
    page = ask(trees, {"name": "Oak"})
    assert page.fields == NAMES
    assert page.rows == [
        {
            "name": "Oak",
            "district": "east",
            "count": 5,
            "score": 1.5,
            "open": True,
            "opened": "2024-01-05",
            "updated": "2024-01-05T08:00:00Z",
            "location": [116.40, 39.90],
            "phone": "13812345678",
            "id_card": "110101199003071234",
            "tags": ["a", "b"],
            "note": "=1+2",
        }
    ]
    maple = ask(trees, {"name": "Maple"}).rows[0]
    assert maple["updated"] == "2023-12-31T23:59:59.500000Z"
    elm = ask(trees, {"name": "Elm"}).rows[0]
    assert elm["location"] is None
    assert elm["opened"] is None


def test_fields_chooses_and_orders_the_fields(trees: Loaded) -> None:
    page = ask(trees, {"fields": "count,name", "name": "Oak"})
    assert page.fields == ["count", "name"]
    assert page.rows == [{"count": 5, "name": "Oak"}]


def test_sensitive_fields_are_masked_or_left_out_for_other_readers(trees: Loaded) -> None:
    page = ask(trees, {"name": "Oak"}, READER)
    assert "id_card" not in page.fields
    assert page.rows[0]["phone"] == "138****5678"
    assert "id_card" not in page.rows[0]


def test_total_counts_every_matching_row_only_when_asked(trees: Loaded) -> None:
    assert ask(trees, {"district": "east", "limit": "1"}).total is None
    page = ask(trees, {"district": "east", "limit": "1", "total": "true"})
    assert page.total == 3
    assert len(page.rows) == 1


# --- sorting and paging --------------------------------------------------------------------


def test_without_sort_rows_come_in_load_order(trees: Loaded) -> None:
    assert names(ask(trees, {})) == [row[0] for row in ROWS]


def test_sort_puts_missing_values_last_ascending_and_first_descending(trees: Loaded) -> None:
    assert names(ask(trees, {"sort": "score"})) == [
        "Cedar",
        "Maple",
        "Oak",
        "oak grove",
        "Elm",
        "Birch",
        "Ash",
        "50% off",
        "Pine",
        "Yew",
    ]
    assert names(ask(trees, {"sort": "-score"})) == [
        "Pine",
        "Yew",
        "50% off",
        "Ash",
        "Birch",
        "Elm",
        "Oak",
        "oak grove",
        "Maple",
        "Cedar",
    ]


@pytest.mark.parametrize(
    "sort",
    ["", "score", "-score", "district,-opened", "-district,count", "open,-updated", "-name"],
)
@pytest.mark.parametrize("limit", ["1", "3"])
def test_cursor_paging_walks_every_row_once_in_order(trees: Loaded, sort: str, limit: str) -> None:
    params = {"sort": sort} if sort else {}
    expected = names(ask(trees, {**params, "limit": "100"}))
    assert sorted(expected) == sorted(row[0] for row in ROWS)
    assert every(trees, {**params, "limit": limit}) == expected


def test_cursor_paging_keeps_the_filters(trees: Loaded) -> None:
    assert every(trees, {"district__ne": "east", "sort": "-count", "limit": "2"}) == [
        "Maple",
        "Cedar",
        "50% off",
        "Yew",
        "Pine",
        "Ash",
        "Birch",
    ]


def test_the_last_page_has_no_next_cursor(trees: Loaded) -> None:
    assert ask(trees, {"limit": "10"}).next_cursor is None
    assert ask(trees, {"limit": "9"}).next_cursor is not None


def test_offset_skips_rows(trees: Loaded) -> None:
    assert names(ask(trees, {"offset": "8"})) == ["Ash", "Yew"]
    assert names(ask(trees, {"sort": "name", "offset": "1", "limit": "2"})) == ["Ash", "Birch"]


# --- frames for downloads -----------------------------------------------------------------


def frames(trees: Loaded, params: dict[str, str], **kwargs: Any) -> list[pl.DataFrame]:
    parsed = parse_row_query(trees.schema, list(params.items()), max_limit=None, default_limit=None)
    return list(
        iter_frames(
            trees.db,
            dataset=trees.dataset,
            schema=trees.schema,
            version=trees.version,
            query=parsed,
            **kwargs,
        )
    )


def test_frames_are_named_by_field_and_typed(trees: Loaded) -> None:
    (frame,) = frames(trees, {}, access=OWNER)
    assert frame.columns == NAMES
    assert frame.height == len(ROWS)
    assert frame.schema["count"] == pl.Int64
    assert frame.schema["opened"] == pl.Date
    assert frame.schema["updated"] == pl.Datetime("us", "UTC")
    assert frame.schema["location"] == frames_module.GEO_DTYPE
    assert frame["location"][0] == {"lon": 116.40, "lat": 39.90}
    assert frame["location"][2] is None
    assert frame["opened"][0] == date(2024, 1, 5)


def test_frames_come_in_batches_in_the_query_order(trees: Loaded) -> None:
    got = frames(trees, {"sort": "-count", "fields": "name,count"}, access=OWNER, batch_size=3)
    assert [f.height for f in got] == [3, 3, 3, 1]
    joined = pl.concat(got)
    assert joined["name"].to_list() == names(ask(trees, {"sort": "-count"}))


def test_frames_mask_and_drop_sensitive_fields(trees: Loaded) -> None:
    (frame,) = frames(trees, {"name": "Oak"}, access=READER)
    assert "id_card" not in frame.columns
    assert frame["phone"].to_list() == ["138****5678"]


def test_an_empty_selection_gives_one_empty_frame_with_the_columns(trees: Loaded) -> None:
    (frame,) = frames(trees, {"name": "nobody", "fields": "name,location"}, access=OWNER)
    assert frame.height == 0
    assert frame.columns == ["name", "location"]


# --- bad input -----------------------------------------------------------------------------


def refused(trees: Loaded, params: dict[str, str], access: ReadAccess = OWNER) -> str:
    with pytest.raises(InvalidInput) as caught:
        ask(trees, params, access)
    return caught.value.message


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"colour": "red"}, "in the filters"),
        ({"colour__gt": "1"}, "in the filters"),
        ({"sort": "-colour"}, "in sort"),
        ({"fields": "name,colour"}, "in fields"),
        ({"bbox": "1,1,2,2", "bbox_field": "colour"}, "in bbox_field"),
    ],
)
def test_an_unknown_field_is_named_with_the_fields_there_are(
    trees: Loaded, params: dict[str, str], where: str
) -> None:
    message = refused(trees, params)
    assert "Unknown field 'colour'" in message
    assert where in message
    assert "name, district, count" in message


def test_an_unknown_operator_lists_the_operators(trees: Loaded) -> None:
    message = refused(trees, {"count__between": "1"})
    assert "unknown operator 'between'" in message
    assert "eq, ne, lt" in message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"count": "abc"}, "give a whole number"),
        ({"count__in": "1,x"}, "give a whole number"),
        ({"score__gt": "high"}, "give a number"),
        ({"score": "nan"}, "give a number"),
        ({"opened": "2024-13-01"}, "give an ISO date"),
        ({"updated__ge": "yesterday"}, "give an ISO date-time"),
        ({"open": "maybe"}, "give true or false"),
        ({"count__isnull": "perhaps"}, "use true or false"),
        ({"total": "lots"}, "use true or false"),
    ],
)
def test_a_value_of_the_wrong_type_says_what_to_give(
    trees: Loaded, params: dict[str, str], expected: str
) -> None:
    assert expected in refused(trees, params)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"location": "116,39"}, "it takes isnull (and bbox="),
        ({"count__contains": "1"}, "cannot be filtered with 'contains'"),
        ({"tags__eq": "a"}, "it takes contains, isnull"),
        ({"open__gt": "true"}, "cannot be filtered with 'gt'"),
        ({"name__contains": ""}, "give the text to look for"),
        ({"sort": "location"}, "geopoint field and cannot be sorted"),
        ({"sort": "name,-name"}, "'name' is given twice"),
    ],
)
def test_an_operator_the_field_does_not_take_is_refused(
    trees: Loaded, params: dict[str, str], expected: str
) -> None:
    assert expected in refused(trees, params)


@pytest.mark.parametrize("limit", ["0", "1001", "-5", "ten", "1.5"])
def test_limit_must_be_within_range(trees: Loaded, limit: str) -> None:
    assert "limit must be a whole number 1..1000" in refused(trees, {"limit": limit})


def test_a_parameter_given_twice_is_refused(trees: Loaded) -> None:
    with pytest.raises(InvalidInput, match="sort is given more than once"):
        ask(trees, [("sort", "name"), ("sort", "count")])


def test_offset_and_cursor_do_not_mix(trees: Loaded) -> None:
    cursor = ask(trees, {"limit": "2"}).next_cursor
    assert cursor is not None
    assert "either cursor or offset" in refused(trees, {"cursor": cursor, "offset": "2"})


@pytest.mark.parametrize(
    "bbox",
    ["1,2,3", "a,b,c,d", "116,39,115,40", "0,-91,1,0", "1,2,3,4,5", "inf,0,1,1"],
)
def test_a_malformed_bbox_says_how_to_write_it(trees: Loaded, bbox: str) -> None:
    assert "bbox=minlon,minlat,maxlon,maxlat" in refused(trees, {"bbox": bbox})


def test_bbox_needs_a_geopoint_field(db: Session) -> None:
    schema = TableSchema(fields=(SCHEMA.field("name"),))
    plain = load(db, schema=schema, rows=[{"name": "a"}], dataset_id=9002, name="plain")
    with pytest.raises(InvalidInput, match="bbox needs a geopoint field"):
        ask(plain, {"bbox": "1,1,2,2"})


def test_bbox_field_must_be_a_geopoint(trees: Loaded) -> None:
    assert "is not a geopoint field; geopoint fields: location" in refused(
        trees, {"bbox": "1,1,2,2", "bbox_field": "name"}
    )


def _tamper(cursor: str, change: Any) -> str:
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    change(raw)
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c[:-3] + "!!!",
        lambda c: "bm90IGpzb24",  # "not json"
        lambda c: _tamper(c, lambda r: r.update(r=-1)),
        lambda c: _tamper(c, lambda r: r.update(r="1; DROP TABLE x")),
        lambda c: _tamper(c, lambda r: r.update(v=["x' OR 1=1", 2])),
        lambda c: _tamper(c, lambda r: r.update(v=[1, 2])),
        lambda c: _tamper(c, lambda r: r.pop("v")),
    ],
)
def test_a_tampered_cursor_says_to_start_again(trees: Loaded, damage: Any) -> None:
    cursor = ask(trees, {"sort": "count", "limit": "2"}).next_cursor
    assert cursor is not None
    message = refused(trees, {"sort": "count", "limit": "2", "cursor": damage(cursor)})
    assert message == "The cursor is not valid; start again without it."


def test_a_cursor_of_another_sort_is_refused(trees: Loaded) -> None:
    cursor = ask(trees, {"sort": "count", "limit": "2"}).next_cursor
    assert cursor is not None
    message = refused(trees, {"sort": "-count", "cursor": cursor})
    assert "another sort order" in message


@pytest.mark.parametrize(
    "params",
    [
        {"id_card": "110101199003071234"},
        {"sort": "id_card"},
        {"fields": "name,id_card"},
        {"phone__contains": "138"},  # masked: a filter would reveal it
        {"sort": "-phone"},
    ],
)
def test_sensitive_fields_cannot_be_asked_for_filtered_or_sorted(
    trees: Loaded, params: dict[str, str]
) -> None:
    with pytest.raises(Forbidden) as caught:
        ask(trees, params, READER)
    assert "POST /api/data/trees/requests" in caught.value.message


def test_the_owner_may_filter_on_sensitive_fields(trees: Loaded) -> None:
    assert names(ask(trees, {"id_card": "110101199003071234"}, OWNER)) == ["Oak"]


def test_frames_keep_quotes_newlines_and_empty_text_across_blocks(db: Session) -> None:
    schema = TableSchema(fields=(SCHEMA.field("name"), SCHEMA.field("count")))
    notes = ['say "hi"\nthen, "bye"', "", None, "plain", '"', "\n\n", "东城区, 第一"]
    given = [{"name": notes[i % len(notes)], "count": i} for i in range(3000)]
    made = load(db, schema=schema, rows=given, dataset_id=9005, name="texts")
    got = frames(made, {}, access=OWNER, batch_size=100)
    assert [f.height for f in got] == [100] * 30
    joined = pl.concat(got)
    assert joined["name"].to_list() == [row["name"] for row in given]
    assert joined["count"].to_list() == list(range(3000))


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"a,1\nb,2\nc,", 8),
        (b'"x\ny",1\n"z\n', 8),
        (b'"x\ny', 0),
        (b'"a ""q""\n b",1\n', 15),
        (b"", 0),
    ],
)
def test_csv_blocks_are_cut_only_at_row_ends(data: bytes, end: int) -> None:
    assert frames_module._row_end(bytearray(data)) == end
