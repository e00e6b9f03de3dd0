"""Checking batches against a Table Schema (no database): types, constraints, header, keys."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from cityos.datahub.checks import id_card_check_char, uscc_check_char
from cityos.datahub.keys import check_keys
from cityos.datahub.models import LoadMode
from cityos.datahub.report import ErrorCollector, ErrorGroup, Report
from cityos.datahub.tableschema import ForeignKey, TableSchema, from_resolved
from cityos.datahub.validate import (
    VALID,
    BatchResult,
    ValidationContext,
    check_header,
    validate_frame,
)
from cityos.errors import Unprocessable

USCC = "91350100M000100Y4" + uscc_check_char("91350100M000100Y4")
ID_CARD = "11010519491231002" + id_card_check_char("11010519491231002")


def schema_of(*fields: Mapping[str, Any], **rest: Any) -> TableSchema:
    return from_resolved({"fields": [dict(f) for f in fields], **rest})


def batch(columns: Mapping[str, Sequence[str | None]]) -> pl.DataFrame:
    height = len(next(iter(columns.values())))
    data = {
        name: pl.Series(name, list(values), dtype=pl.String) for name, values in columns.items()
    }
    return pl.DataFrame(data).with_columns(pl.Series("__row", range(2, height + 2), dtype=pl.Int64))


def run(
    schema: TableSchema, columns: Mapping[str, Sequence[str | None]], **context: Any
) -> tuple[BatchResult, dict[tuple[str, str | None], ErrorGroup]]:
    collector = ErrorCollector()
    result = validate_frame(
        batch(columns), schema=schema, context=ValidationContext(**context), collector=collector
    )
    return result, {(g.type, g.field): g for g in collector.groups}


def bad_rows(group: ErrorGroup) -> list[int]:
    return [example["row"] for example in group.examples]


# --- types ---------------------------------------------------------------------------------

TYPE_CASES = [
    ("integer", "default", ["42", "-7", " 3 ", "+5"], ["4.5", "x", "1,000", "1e3"]),
    ("number", "default", ["12.5", "1e3", "-0.5", "NaN", "7"], ["12,5", "abc", "1.2.3"]),
    ("boolean", "default", ["true", "FALSE", "yes", "No", "1", "0"], ["2", "maybe", "tru"]),
    ("date", "default", ["2024-05-01", "2024-02-29"], ["2024-02-30", "01/05/2024", "2024-13-01"]),
    ("date", "%d/%m/%Y", ["01/05/2024", "31/12/2023"], ["2024-05-01", "32/01/2024"]),
    ("date", "any", ["2024-05-01", "2024/05/01", "20240501"], ["May 1st", "2024-5-"]),
    (
        "datetime",
        "default",
        ["2024-05-01T08:30:00+08:00", "2024-05-01 08:30", "2024-05-01T08:30:00.250Z"],
        ["2024-05-01", "08:30", "2024-05-01T25:00:00Z"],
    ),
    ("time", "default", ["08:30", "23:59:59"], ["24:00", "8h30", "08:60"]),
    ("year", "default", ["2024", "1999"], ["20x4", "2024.5"]),
    ("yearmonth", "default", ["2024-05", "1999-12"], ["2024-13", "2024-5", "202405"]),
    ("duration", "default", ["P1D", "PT2H30M", "P1Y2M3DT4H"], ["1 day", "P", "P1DT"]),
    (
        "geopoint",
        "default",
        ["114.05,22.54", "114.05, 22.54", "[114.05, 22.54]", "-180,-90"],
        ["114.05", "200,10", "10,95", "a,b"],
    ),
    ("object", "default", ['{"a": 1}', "{}"], ["[1]", "{bad", "1"]),
    ("array", "default", ["[1, 2]", "[]"], ['{"a": 1}', "[1,"]),
    ("geojson", "default", ['{"type": "Point", "coordinates": [1, 2]}'], ['{"a": 1}', "x"]),
    ("string", "email", ["a@example.org"], ["a@", "no at sign"]),
    ("string", "uri", ["https://example.org/x"], ["example org"]),
    ("string", "uuid", ["123e4567-e89b-12d3-a456-426614174000"], ["123e4567"]),
]


@pytest.mark.parametrize(
    ("kind", "fmt", "good", "bad"), TYPE_CASES, ids=[f"{c[0]}-{c[1]}" for c in TYPE_CASES]
)
def test_a_value_that_does_not_parse_as_the_field_type_is_a_type_error(
    kind: str, fmt: str, good: list[str], bad: list[str]
) -> None:
    schema = schema_of({"name": "v", "type": kind, "format": fmt})
    result, groups = run(schema, {"v": [*good, *bad]})

    group = groups[("type-error", "v")]
    assert group.count == len(bad)
    assert [e["value"] for e in group.examples] == bad[:5]
    assert bad_rows(group) == list(range(2 + len(good), 2 + len(good) + len(bad)))[:5]
    assert result.valid.to_list() == [True] * len(good) + [False] * len(bad)
    assert list(groups) == [("type-error", "v")]
    assert "must be" in group.message


def test_typed_columns_are_the_physical_columns_with_the_fields_types() -> None:
    schema = schema_of(
        {"name": "n", "type": "integer"},
        {"name": "amount", "type": "number"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "datetime"},
        {"name": "ok", "type": "boolean"},
        {"name": "where", "type": "geopoint"},
        {"name": "label", "type": "string"},
    )
    result, groups = run(
        schema,
        {
            "label": ["  keep spaces ", ""],  # columns in another order than the schema
            "n": [" 7 ", ""],
            "amount": ["1e3", None],
            "day": ["2024-05-01", ""],
            "at": ["2024-05-01T08:30:00+08:00", ""],
            "ok": ["Yes", ""],
            "where": ["114.05, 22.54", ""],
        },
    )
    assert groups == {}
    assert result.typed.columns == ["__row", "f0", "f1", "f2", "f3", "f4", "f5_lon", "f5_lat", "f6"]
    first, empty = result.typed.rows()
    assert first == (
        2,
        7,
        1000.0,
        date(2024, 5, 1),
        datetime(2024, 5, 1, 0, 30, tzinfo=UTC),
        True,
        114.05,
        22.54,
        "  keep spaces ",
    )
    assert empty == (3, None, None, None, None, None, None, None, None)


def test_a_datetime_without_offset_is_read_as_utc() -> None:
    schema = schema_of({"name": "at", "type": "datetime"})
    result, _ = run(schema, {"at": ["2024-05-01 08:30:15", "2024-05-01T08:30Z"]})
    assert result.typed["f0"].to_list() == [
        datetime(2024, 5, 1, 8, 30, 15, tzinfo=UTC),
        datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
    ]


def test_every_iso_form_of_a_datetime_reads_as_the_same_moment_in_utc() -> None:
    # the usual exact forms take a fast path, the others the normalising one: same answer
    forms = [
        "2024-05-01T16:30:00+08:00",
        "2024-05-01T16:30:00+0800",
        "2024-05-01T08:30:00Z",
        "2024-05-01T08:30:00",
        "2024-05-01 08:30:00",
        "2024-05-01T16:30+08:00",
        "2024-05-01 08:30Z",
        "2024-05-01T08:30:00.000z",
        "2024-05-01 03:30:00-05:00",
    ]
    bad = ["2024-05-01T08:30:00+8:00", "2024-5-1 08:30:00", "2024-05-01 08:30:00 CST"]
    schema = schema_of({"name": "at", "type": "datetime"})
    result, groups = run(schema, {"at": [*forms, *bad]})

    moment = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert result.typed["f0"].to_list() == [moment] * len(forms) + [None] * len(bad)
    assert [e["value"] for e in groups[("type-error", "at")].examples] == bad


def test_a_date_in_any_format_reads_the_iso_form_first_and_the_others_after() -> None:
    schema = schema_of({"name": "day", "type": "date", "format": "any"})
    result, _ = run(schema, {"day": ["2024-05-01", "2024/05/01", "2024.05.01", "2024年05月01日"]})
    assert result.typed["f0"].to_list() == [date(2024, 5, 1)] * 4


def test_missing_values_of_the_schema_count_as_empty() -> None:
    schema = schema_of(
        {"name": "n", "type": "integer", "constraints": {"required": True}},
        missingValues=["", "NA", "-"],
    )
    result, groups = run(schema, {"n": ["1", "NA", "-", ""]})
    assert result.typed["f0"].to_list() == [1, None, None, None]
    assert groups[("required", "n")].count == 3
    assert "type-error" not in {kind for kind, _ in groups}


# --- constraints ---------------------------------------------------------------------------

CONSTRAINT_CASES = [
    ("string", {"required": True}, ["a"], ["", None], "required"),
    ("string", {"minLength": 3}, ["abc", "统一社会"], ["ab", "统一"], "min-length"),
    ("string", {"maxLength": 3}, ["abc", "统一社"], ["abcd", "统一社会"], "max-length"),
    ("integer", {"minimum": 0}, ["0", "5"], ["-1"], "minimum"),
    ("integer", {"maximum": 10}, ["10"], ["11", "100"], "maximum"),
    ("number", {"exclusiveMinimum": 0}, ["0.01"], ["0", "-3"], "minimum"),
    ("number", {"exclusiveMaximum": 1}, ["0.99"], ["1", "1.5"], "maximum"),
    ("date", {"minimum": "2024-01-01"}, ["2024-01-01"], ["2023-12-31"], "minimum"),
    (
        "datetime",
        {"maximum": "2024-01-01T00:00:00Z"},
        ["2023-12-31T23:00:00Z"],
        ["2024-01-01T09:00:00+08:00", "2024-01-02T00:00:00Z"],
        "maximum",
    ),
    ("time", {"maximum": "18:00"}, ["17:59", "18:00:00"], ["18:01"], "maximum"),
    ("year", {"minimum": 2000}, ["2000"], ["1999"], "minimum"),
    ("yearmonth", {"minimum": "2024-01"}, ["2024-01"], ["2023-12"], "minimum"),
    (
        "string",
        {"pattern": "1[3-9]\\d{9}"},
        ["13800138000"],
        ["138001380001", "x13800138000"],
        "pattern",
    ),
    ("string", {"enum": ["a", "b"]}, ["a", "b"], ["c", "A"], "enum"),
    ("integer", {"enum": [1, 2]}, ["1", "02"], ["3"], "enum"),
    (
        "string",
        {"check": "uscc"},
        [USCC],
        [USCC[:-1] + ("0" if USCC[-1] != "0" else "1"), "x"],
        "check",
    ),
    (
        "string",
        {"check": "id_card_cn"},
        [ID_CARD],
        [ID_CARD[:-1] + ("0" if ID_CARD[-1] != "0" else "1"), "110105194913310021"],
        "check",
    ),
    ("string", {"check": "area_code"}, ["440304"], ["999999"], "check"),
]


@pytest.mark.parametrize(
    ("kind", "constraints", "good", "bad", "error"),
    CONSTRAINT_CASES,
    ids=[f"{c[4]}-{c[0]}-{next(iter(c[1]))}" for c in CONSTRAINT_CASES],
)
def test_each_constraint_reports_the_rows_that_break_it(
    kind: str, constraints: dict[str, Any], good: list[str], bad: list[str | None], error: str
) -> None:
    schema = schema_of({"name": "v", "type": kind, "constraints": constraints})
    result, groups = run(schema, {"v": [*good, *bad]}, area_codes=frozenset({"440304"}))

    assert list(groups) == [(error, "v")], groups
    group = groups[(error, "v")]
    assert group.count == len(bad)
    assert bad_rows(group) == list(range(2 + len(good), 2 + len(good) + len(bad)))
    assert [e["value"] for e in group.examples] == [b or "" for b in bad]
    assert result.valid.to_list() == [True] * len(good) + [False] * len(bad)


def test_constraints_skip_empty_cells_of_optional_fields() -> None:
    schema = schema_of(
        {"name": "v", "type": "integer", "constraints": {"minimum": 5, "enum": [5, 6]}},
        {"name": "s", "type": "string", "constraints": {"pattern": "[a-z]+", "minLength": 2}},
    )
    result, groups = run(schema, {"v": ["", "5"], "s": ["", "ab"]})
    assert groups == {}
    assert result.valid.all()


def test_primary_key_fields_are_required() -> None:
    schema = schema_of({"name": "id", "type": "integer"}, primaryKey=["id"])
    _, groups = run(schema, {"id": ["1", ""]})
    assert groups[("required", "id")].examples == [{"row": 3, "value": ""}]


def test_a_pattern_the_hub_cannot_run_is_refused_with_the_field_named() -> None:
    schema = schema_of({"name": "code", "type": "string", "constraints": {"pattern": "(a)\\1"}})
    with pytest.raises(Unprocessable, match="'code'") as caught:
        run(schema, {"code": ["aa"]})
    assert "regular expression" in caught.value.message


def test_the_report_counts_every_error_and_keeps_five_examples() -> None:
    schema = schema_of({"name": "n", "type": "integer"})
    values = [str(i) if i % 3 else f"x{i}" for i in range(100)]
    result, groups = run(schema, {"n": values})
    group = groups[("type-error", "n")]
    assert group.count == 34
    assert group.examples == [
        {"row": 2, "value": "x0"},
        {"row": 5, "value": "x3"},
        {"row": 8, "value": "x6"},
        {"row": 11, "value": "x9"},
        {"row": 14, "value": "x12"},
    ]
    assert int((~result.valid).sum()) == 34


def test_invalid_rows_come_with_their_cells_and_problems_for_quarantine() -> None:
    schema = schema_of(
        {"name": "n", "type": "integer", "constraints": {"required": True}},
        {"name": "s", "type": "string", "constraints": {"maxLength": 2}},
    )
    result = validate_frame(
        batch({"n": ["1", "x", ""], "s": ["ok", "toolong", "ok"]}),
        schema=schema,
        context=ValidationContext(),
        with_problems=True,
    )
    assert result.problems is not None
    assert result.problems.to_dicts() == [
        {"__row": 3, "n": "x", "s": "toolong", "__problems": ["n: type-error", "s: max-length"]},
        {"__row": 4, "n": "", "s": "ok", "__problems": ["n: required"]},
    ]


def test_a_report_summarises_in_one_line_and_is_json_friendly() -> None:
    collector = ErrorCollector()
    collector.add(
        "type-error",
        "n",
        message="must be a whole number",
        count=3,
        examples=[{"row": 2, "value": "x"}],
    )
    report = Report(rows=10, valid_rows=7, invalid_rows=3, errors=collector.groups)
    assert not report.ok
    assert report.summary == "10 rows read, 7 valid, 3 invalid: 3 type-error in 'n'."
    data = report.to_dict()
    assert data["errors"][0] == {
        "type": "type-error",
        "field": "n",
        "message": "must be a whole number",
        "count": 3,
        "examples": [{"row": 2, "value": "x"}],
    }
    assert Report(rows=1, valid_rows=1).to_dict()["summary"] == "1 row read, all valid."


def test_a_report_of_a_refused_file_is_summarised_by_the_reason() -> None:
    reason = "The file is empty: upload a file with a header row and data."
    report = Report(errors=[ErrorGroup(type="file", field=None, message=reason, count=1)])
    assert report.summary == f"The file was refused: {reason}"
    assert "completeness" not in report.to_dict()
    report.completeness = {"n": 50.0}
    assert report.to_dict()["completeness"] == {"n": 50.0}


@pytest.mark.parametrize(
    ("data_field", "area_codes"),
    [
        ({"name": "v", "type": "string", "constraints": {"check": "area_code"}}, {"440304"}),
        ({"name": "v", "type": "string", "constraints": {"check": "area_code"}}, set()),
        ({"name": "v", "type": "string", "constraints": {"enum": ["a", "b"]}}, set()),
        ({"name": "v", "type": "integer", "constraints": {"enum": [1, 2]}}, set()),
    ],
)
def test_membership_checks_raise_no_polars_deprecation_warning(
    data_field: dict[str, Any], area_codes: set[str]
) -> None:
    # polars warns from Rust: ``-W error`` prints the warning without failing, so record it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, groups = run(
            schema_of(data_field), {"v": ["440304", "a", "1", None]}, area_codes=area_codes
        )
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []
    assert result.valid.len() == 4
    assert groups


# --- header --------------------------------------------------------------------------------


def test_header_missing_required_column_and_extra_column_are_errors() -> None:
    schema = schema_of(
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string", "constraints": {"required": True}},
        {"name": "note", "type": "string"},
        primaryKey=["id"],
    )
    collector = ErrorCollector()
    warnings = check_header(schema, ["name", "id", "colour"], collector)
    groups = {(g.type, g.field): g for g in collector.groups}
    assert set(groups) == {("extra-column", "colour")}
    assert warnings == ["The file has no column 'note'; it is left empty."]
    assert "id, name, note" in groups[("extra-column", "colour")].message

    collector = ErrorCollector()
    check_header(schema, ["note"], collector)
    missing = {g.field for g in collector.groups if g.type == "missing-column"}
    assert missing == {"id", "name"}


# --- whole-file checks ---------------------------------------------------------------------


def keyed(schema: TableSchema, columns: Mapping[str, Sequence[str | None]]) -> pl.LazyFrame:
    result = validate_frame(batch(columns), schema=schema, context=ValidationContext())
    return result.typed.with_columns(result.valid.alias(VALID)).lazy()


def test_duplicates_report_the_repeating_row_and_the_row_it_repeats() -> None:
    schema = schema_of(
        {"name": "a", "type": "integer"},
        {"name": "b", "type": "string"},
        {"name": "c", "type": "string", "constraints": {"unique": True}},
        primaryKey=["a", "b"],
    )
    collector = ErrorCollector()
    flagged = check_keys(
        keyed(
            schema,
            {
                "a": ["1", "1", "2", "1", "x"],
                "b": ["p", "q", "p", "p", "p"],
                "c": ["u", "v", "u", "w", "u"],
            },
        ),
        schema=schema,
        collector=collector,
    )
    groups = {(g.type, g.field): g for g in collector.groups}
    assert groups[("primary-key", "a, b")].examples == [{"row": 5, "value": "1, p", "first_row": 2}]
    # row 6 has a type error, so only rows valid so far take part
    assert groups[("unique", "c")].examples == [{"row": 4, "value": "u", "first_row": 2}]
    assert sorted(flagged["__row"].to_list()) == [4, 5]


def test_unique_keys_are_checked_together() -> None:
    schema = schema_of(
        {"name": "a", "type": "string"}, {"name": "b", "type": "date"}, uniqueKeys=[["a", "b"]]
    )
    collector = ErrorCollector()
    check_keys(
        keyed(schema, {"a": ["x", "x", "x"], "b": ["2024-01-01", "2024-01-02", "2024-01-01"]}),
        schema=schema,
        collector=collector,
    )
    (group,) = collector.groups
    assert (group.type, group.field, group.count) == ("unique", "a, b", 1)
    assert group.examples == [{"row": 4, "value": "x, 2024-01-01", "first_row": 2}]


def test_appending_a_key_already_stored_is_an_error_but_upsert_updates_it() -> None:
    schema = schema_of({"name": "id", "type": "integer"}, primaryKey=["id"])
    stored = pl.DataFrame({"f0": [1, 2]})
    for mode, expected in ((LoadMode.APPEND, [3]), (LoadMode.UPSERT, []), (LoadMode.REPLACE, [])):
        collector = ErrorCollector()
        flagged = check_keys(
            keyed(schema, {"id": ["5", "2"]}),
            schema=schema,
            collector=collector,
            mode=mode,
            stored=lambda columns: stored.select(columns),
        )
        assert flagged["__row"].to_list() == expected, mode
        if mode is LoadMode.APPEND:
            (group,) = collector.groups
            assert (group.type, group.field) == ("primary-key", "id")
            assert "upsert" in group.message


def test_upsert_refuses_a_unique_value_stored_on_another_row() -> None:
    schema = schema_of(
        {"name": "id", "type": "integer"},
        {"name": "code", "type": "string", "constraints": {"unique": True}},
        primaryKey=["id"],
    )
    stored = pl.DataFrame({"f1": ["A", "B"], "f0": [1, 2]})
    collector = ErrorCollector()
    flagged = check_keys(
        keyed(schema, {"id": ["1", "3"], "code": ["A", "B"]}),
        schema=schema,
        collector=collector,
        mode=LoadMode.UPSERT,
        stored=lambda columns: stored.select(columns),
    )
    assert flagged["__row"].to_list() == [3]
    assert collector.groups[0].type == "unique"


def test_a_foreign_key_to_nothing_in_this_file_or_the_stored_rows_is_an_error() -> None:
    schema = schema_of(
        {"name": "id", "type": "integer"},
        {"name": "parent", "type": "integer"},
        primaryKey=["id"],
        foreignKeys=[{"fields": ["parent"], "reference": {"resource": "", "fields": ["id"]}}],
    )
    rows = {"id": ["1", "2", "3", "4"], "parent": ["", "1", "9", "7"]}
    collector = ErrorCollector()
    flagged = check_keys(keyed(schema, rows), schema=schema, collector=collector)
    (group,) = collector.groups
    assert (group.type, group.field) == ("foreign-key", "parent")
    assert group.examples == [{"row": 4, "value": "9"}, {"row": 5, "value": "7"}]
    assert "this dataset" in group.message
    assert flagged["__row"].to_list() == [4, 5]

    collector = ErrorCollector()
    flagged = check_keys(
        keyed(schema, rows),
        schema=schema,
        collector=collector,
        mode=LoadMode.APPEND,
        stored=lambda columns: pl.DataFrame({"f0": [9]}).select(columns),
    )
    assert flagged["__row"].to_list() == [5]


def test_a_foreign_key_to_another_dataset_looks_in_its_stored_rows() -> None:
    schema = schema_of(
        {"name": "district", "type": "string"},
        foreignKeys=[
            {"fields": ["district"], "reference": {"resource": "districts", "fields": ["code"]}}
        ],
    )
    asked: list[ForeignKey] = []

    def foreign(key: ForeignKey) -> pl.DataFrame | None:
        asked.append(key)
        return pl.DataFrame({"f0": ["A", "B"]})

    collector = ErrorCollector()
    flagged = check_keys(
        keyed(schema, {"district": ["A", "C", "B", ""]}),
        schema=schema,
        collector=collector,
        foreign=foreign,
    )
    assert [key.resource for key in asked] == ["districts"]
    assert flagged["__row"].to_list() == [3]
    assert "'districts'" in collector.groups[0].message

    collector = ErrorCollector()
    flagged = check_keys(
        keyed(schema, {"district": ["A"]}),
        schema=schema,
        collector=collector,
        foreign=lambda key: None,
    )
    assert flagged["__row"].to_list() == [2]
