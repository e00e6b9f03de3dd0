"""Masking sensitive values: the same rules one value at a time and over polars frames."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from cityos.datahub import masking
from cityos.datahub.access import ReadAccess
from cityos.datahub.tableschema import Field, FieldType, TableSchema

TEXT = Field(name="value", type=FieldType.STRING, index=0, sensitive=True, mask="partial")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("110101199003071234", "1101**********1234"),
        ("11010119900307123X", "1101**********123X"),
        ("110101900307123", "1101*******7123"),
        ("张三丰", "张*丰"),
        ("张三", "张*"),
        ("王", "王"),
        ("", ""),
        ("alice@example.org", "a***************g"),
        ("+8613812345678", "+************8"),
    ],
)
def test_a_value_keeps_only_a_few_characters(value: str, masked: str) -> None:
    assert masking.mask_value(TEXT, value) == masked


def test_missing_values_stay_missing() -> None:
    assert masking.mask_value(TEXT, None) is None


def test_other_types_are_masked_as_their_text() -> None:
    number = Field(name="n", type=FieldType.INTEGER, index=0, sensitive=True, mask="partial")
    assert masking.mask_value(number, 13812345678) == "138****5678"
    assert masking.mask_value(number, 42) == "4*"


def test_a_geopoint_is_never_half_shown() -> None:
    point = Field(name="p", type=FieldType.GEOPOINT, index=0, sensitive=True, mask="partial")
    assert masking.mask_value(point, [116.4, 39.9]) is None


def test_the_frame_rules_match_the_value_rules() -> None:
    values = [
        "13812345678",
        "110101199003071234",
        "110101900307123",
        "张三丰",
        "张三",
        "王",
        "",
        None,
        "alice@example.org",
        "1381234567",  # ten digits: not a mobile number
    ]
    schema = TableSchema(fields=(TEXT,))
    access = ReadAccess(True, "", False, frozenset(), frozenset({"value"}), frozenset())
    frame = masking.apply(pl.DataFrame({"value": values}), schema, access)
    assert frame["value"].to_list() == [masking.mask_value(TEXT, v) for v in values]


def test_apply_drops_hidden_fields_and_masks_masked_ones() -> None:
    schema = TableSchema(
        fields=(
            Field(name="name", type=FieldType.STRING, index=0),
            Field(name="phone", type=FieldType.STRING, index=1, sensitive=True, mask="partial"),
            Field(name="id_card", type=FieldType.STRING, index=2, sensitive=True),
            Field(name="born", type=FieldType.DATETIME, index=3, sensitive=True, mask="partial"),
        )
    )
    access = ReadAccess(
        True, "", False, frozenset({"name"}), frozenset({"phone", "born"}), frozenset({"id_card"})
    )
    frame = pl.DataFrame(
        {
            "name": ["Li"],
            "phone": ["13812345678"],
            "id_card": ["110101199003071234"],
            "born": pl.Series([datetime(1990, 3, 7, tzinfo=UTC)], dtype=pl.Datetime("us", "UTC")),
        }
    )
    out = masking.apply(frame, schema, access)
    assert out.columns == ["name", "phone", "born"]
    assert out.row(0) == ("Li", "138****5678", "1******************Z")
    assert masking.mask_value(schema.field("born"), "1990-03-07T00:00:00Z") == out["born"][0]


def test_nothing_changes_for_a_reader_who_sees_everything() -> None:
    schema = TableSchema(fields=(TEXT,))
    access = ReadAccess(True, "", True, frozenset({"value"}), frozenset(), frozenset())
    frame = pl.DataFrame({"value": ["13812345678"]})
    assert masking.apply(frame, schema, access).equals(frame)
