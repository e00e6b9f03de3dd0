"""Masking sensitive fields for readers who may not see them in full.

Hidden fields are removed. A masked field keeps a few characters and stars the rest:

* a mobile number (11 digits starting with 1): the first 3 and the last 4 characters —
  ``138****5678``;
* an identity card number (18 characters, the last may be X, or the old 15 digits): the
  first 4 and the last 4 — ``1101**********1234``;
* anything else: the first and the last character (``张*丰``); values of one or two
  characters keep only the first (``张*``).

The same rules run vectorised over polars frames (:func:`apply`, for downloads) and on one
value (:func:`mask_value`, for pages of rows).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Protocol

import polars as pl

from cityos.datahub.tableschema import Field, FieldType, TableSchema

MOBILE = re.compile(r"1\d{10}")
ID_CARD = re.compile(r"\d{17}[\dXx]|\d{15}")
_MOBILE_PATTERN = r"^1\d{10}$"
_ID_CARD_PATTERN = r"^(?:\d{17}[\dXx]|\d{15})$"


class FieldAccess(Protocol):
    """What masking needs of :class:`cityos.datahub.access.ReadAccess`."""

    @property
    def masked(self) -> frozenset[str]: ...

    @property
    def hidden(self) -> frozenset[str]: ...


def _keep(text: str, head: int, tail: int) -> str:
    return text[:head] + "*" * (len(text) - head - tail) + text[len(text) - tail :]


def _keep_ends(text: str) -> str:
    if len(text) <= 2:
        return text[:1] + "*" * (len(text) - 1) if text else text
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_value(data_field: Field, value: object) -> str | None:
    """One value of a masked field, masked (None stays None)."""
    if value is None:
        return None
    if data_field.type is FieldType.GEOPOINT:
        return None  # a position cannot be half-shown
    text = value if isinstance(value, str) else str(value)
    if MOBILE.fullmatch(text):
        return _keep(text, 3, 4)
    if ID_CARD.fullmatch(text):
        return _keep(text, 4, 4)
    return _keep_ends(text)


def _stars(count: pl.Expr) -> pl.Expr:
    return pl.lit("*").repeat_by(count.clip(lower_bound=0)).list.join("")


def _keep_expr(text: pl.Expr, head: int, tail: int) -> pl.Expr:
    length = text.str.len_chars().cast(pl.Int64)  # signed: short values must not wrap around
    return pl.concat_str(
        [
            text.str.slice(0, head),
            _stars(length - head - tail),
            text.str.slice(-tail, tail) if tail else pl.lit(""),
        ]
    )


def _keep_ends_expr(text: pl.Expr) -> pl.Expr:
    length = text.str.len_chars().cast(pl.Int64)  # signed: short values must not wrap around
    return (
        pl.when(length <= 2)
        .then(pl.concat_str([text.str.slice(0, 1), _stars(length - 1)]))
        .otherwise(pl.concat_str([text.str.slice(0, 1), _stars(length - 2), text.str.slice(-1, 1)]))
    )


def mask_expr(data_field: Field, column: str) -> pl.Expr:
    """A vectorised :func:`mask_value` over the (any-typed) column ``column``."""
    if data_field.type is FieldType.GEOPOINT:
        return pl.lit(None, dtype=pl.String).alias(column)  # a position cannot be half-shown
    text = pl.col(column).cast(pl.String)
    if data_field.type is FieldType.DATETIME:  # as the JSON rows show it: ISO, UTC, Z
        text = pl.col(column).dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
    mobile = text.str.contains(_MOBILE_PATTERN)
    id_card = text.str.contains(_ID_CARD_PATTERN)
    ends = _keep_ends_expr(text)
    return (
        pl.when(text.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(mobile)
        .then(_keep_expr(text, 3, 4))
        .when(id_card)
        .then(_keep_expr(text, 4, 4))
        .otherwise(ends)
        .alias(column)
    )


def apply(frame: pl.DataFrame, schema: TableSchema, access: FieldAccess) -> pl.DataFrame:
    """``frame`` (columns named by field) without hidden fields and with masked ones masked."""
    drop = [name for name in frame.columns if name in access.hidden]
    if drop:
        frame = frame.drop(drop)
    masked = masked_fields(schema, frame.columns, access.masked)
    if not masked:
        return frame
    return frame.with_columns(mask_expr(f, f.name) for f in masked)


def masked_fields(
    schema: TableSchema, names: Collection[str], masked: frozenset[str]
) -> list[Field]:
    return [schema.field(name) for name in names if name in masked and schema.has_field(name)]
