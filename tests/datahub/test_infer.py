"""Suggesting a schema from a sample: types, data elements, missing values, primary key."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from cityos.datahub.checks import id_card_check_char, uscc_check_char
from cityos.datahub.infer import InferResult, infer_schema
from cityos.datahub.schema_parse import parse_schema
from tests.datahub.elements_support import builtin_elements

ELEMENTS = builtin_elements()
AREAS = frozenset({"110101", "110102", "110105", "110105001001"})


def infer(columns: dict[str, list[str | None]], **kwargs: Any) -> InferResult:
    frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))
    result = infer_schema(frame, elements=ELEMENTS, **kwargs)
    parse_schema(result.descriptor, elements=ELEMENTS)  # always a schema parse_schema accepts
    return result


def field_of(result: InferResult, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in result.descriptor["fields"] if f["name"] == name)
    return found


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-20", "+300"], {"type": "integer"}),
        (["1.5", "2", "-3e3", ".5"], {"type": "number"}),
        (["true", "False", "YES", "no"], {"type": "boolean"}),
        (["2024-01-31", "2023-12-01"], {"type": "date"}),
        (["2024/01/31", "2023/12/01"], {"type": "date", "format": "%Y/%m/%d"}),
        (["2024年01月31日"], {"type": "date", "format": "%Y年%m月%d日"}),
        (
            ["2024-01-31T08:00:00Z", "2024-01-31 08:00", "2024-01-31T08:00:00+08:00"],
            {"type": "datetime"},
        ),
        (["2024/01/31 08:00:00"], {"type": "datetime", "format": "%Y/%m/%d %H:%M:%S"}),
        (["116.40,39.90", "-73.98, 40.75"], {"type": "geopoint"}),
        (["1.5", "abc"], {"type": "string"}),
        (["007", "012"], {"type": "string"}),  # leading zeros: a code, not a number
        (["123456789012345670"], {"type": "string"}),  # long digits: an identifier
        (["200,95"], {"type": "string"}),  # not a position: latitude out of range
    ],
)
def test_the_type_of_a_column_is_detected(
    values: list[str | None], expected: dict[str, Any]
) -> None:
    field = field_of(infer({"value": values}), "value")
    assert {k: v for k, v in field.items() if k != "name"} == expected


def test_digits_in_a_column_named_like_a_code_stay_text() -> None:
    assert field_of(infer({"station code": ["101", "102"]}), "station code")["type"] == "string"


def test_four_digit_integers_named_like_a_year_are_years() -> None:
    result = infer({"年度": ["2021", "2022"], "count": ["2021", "2022"]})
    assert field_of(result, "年度")["type"] == "year"
    assert field_of(result, "count")["type"] == "integer"


def test_eight_digit_dates_are_dates_when_the_column_is_named_like_a_date() -> None:
    result = infer({"report_date": ["20240131", "20240201"]})
    assert field_of(result, "report_date") == {
        "name": "report_date",
        "type": "date",
        "element": "date",
        "format": "%Y%m%d",
    }


def test_valid_credit_codes_identity_numbers_and_mobiles_suggest_their_elements() -> None:
    first = "91110105MA01ABCD1"
    uscc = first + uscc_check_char(first)
    person = "11010519800101123"
    id_card = person + id_card_check_char(person)
    result = infer(
        {
            "a": [uscc, "91350100M000100Y43"],
            "b": [id_card, id_card],
            "c": ["13800138000", "19912345678"],
        }
    )
    assert field_of(result, "a") == {"name": "a", "type": "string", "element": "uscc"}
    assert field_of(result, "b")["element"] == "id_card_cn"
    assert field_of(result, "c")["element"] == "mobile_cn"
    assert any(
        "a: every value (2) is a valid unified social credit code" in n for n in result.notes
    )


def test_one_bad_credit_code_means_no_uscc_element() -> None:
    result = infer({"code": ["91350100M000100Y43", "91350100M000100Y44"]})
    assert "element" not in field_of(result, "code")


def test_area_codes_suggest_district_code_or_grid_code_by_name() -> None:
    result = infer(
        {
            "区": ["110101", "110105"],
            "网格编码": ["110105001001", None],
            "other": ["999999", "110101"],
        },
        area_codes=AREAS,
    )
    assert field_of(result, "区")["element"] == "district_code"
    assert field_of(result, "网格编码")["element"] == "grid_code"
    assert "element" not in field_of(result, "other")


@pytest.mark.parametrize(
    ("header", "values", "element"),
    [
        ("区县代码", ["110101"], "district_code"),
        ("District", ["110101"], "district_code"),
        ("邮编", ["100020", "200000"], "postal_code"),
        ("企业统一社会信用代码", ["91350100M000100Y43"], "uscc"),
        ("联系电话", ["010-12345678"], "phone"),
        ("详细地址", ["北京市朝阳区建国路 1 号"], "address"),
        ("金额（元）", ["12.5", "100"], "amount_cny"),
        ("人口数", ["1200"], "population_count"),
        ("经纬度", ["116.4,39.9"], "geopoint"),
        ("姓名", ["张三"], "person_name"),
        ("Plate number", ["京A12345"], "plate_number_cn"),
        ("更新时间", ["2024-01-31T08:00:00"], "datetime"),
    ],
)
def test_a_header_suggests_an_element_when_the_values_fit(
    header: str, values: list[str | None], element: str
) -> None:
    assert field_of(infer({header: values}), header).get("element") == element


def test_a_header_alone_does_not_suggest_an_element_the_values_contradict() -> None:
    result = infer({"手机号码": ["12345", "67890"], "百分比": ["50", "250"]})
    assert "element" not in field_of(result, "手机号码")
    assert "element" not in field_of(result, "百分比")
    assert any("named like the element mobile_cn, but" in note for note in result.notes)
    assert any("above the element's maximum 100" in note for note in result.notes)


def test_area_codes_named_columns_are_checked_against_the_map_when_given() -> None:
    result = infer({"district": ["110101", "120000"]}, area_codes=AREAS)
    assert "element" not in field_of(result, "district")


def test_only_elements_that_exist_are_suggested() -> None:
    frame = pl.DataFrame({"手机号码": ["13800138000"]})
    elements = {code: e for code, e in ELEMENTS.items() if code != "mobile_cn"}
    result = infer_schema(frame, elements=elements)
    assert "element" not in field_of(result, "手机号码")


def test_missing_value_markers_are_detected_and_ignored_for_types() -> None:
    result = infer({"n": ["1", "NA", "2", "-", None], "s": ["x", "N/A", "null", "y", "z"]})
    assert result.descriptor["missingValues"] == ["", "NA", "N/A", "-", "null"]
    assert field_of(result, "n")["type"] == "integer"
    assert any("treated as missing values" in note for note in result.notes)


def test_no_missing_values_key_without_markers() -> None:
    assert "missingValues" not in infer({"n": ["1", ""]}).descriptor


def test_a_unique_complete_id_column_is_suggested_as_primary_key() -> None:
    result = infer({"name": ["a", "b", "c"], "编号": ["1", "2", "3"], "id": ["1", "2", "3"]})
    assert result.descriptor["primaryKey"] == ["编号"]
    assert any("primary key" in note for note in result.notes)


@pytest.mark.parametrize(
    "columns",
    [
        {"id": ["1", "1", "2"]},  # repeats
        {"id": ["1", "", "2"]},  # an empty value
        {"name": ["a", "b", "c"]},  # not named like a key
    ],
)
def test_no_primary_key_is_suggested_without_a_unique_complete_key_column(
    columns: dict[str, list[str | None]],
) -> None:
    assert "primaryKey" not in infer(columns).descriptor


def test_an_empty_column_is_text_and_the_row_number_column_is_ignored() -> None:
    result = infer({"__row": ["2", "3"], "blank": [None, ""]})
    assert result.descriptor["fields"] == [{"name": "blank", "type": "string"}]
    assert "blank: no values in the sample → string" in result.notes


def test_an_empty_sample_gives_text_fields() -> None:
    frame = pl.DataFrame(schema={"a": pl.String, "b": pl.String})
    result = infer_schema(frame, elements=ELEMENTS)
    assert result.descriptor == {
        "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}]
    }
