"""Keyset paging for the query API: the sort order, the opaque cursor and "rows after it".

Rows are ordered by the sort keys and then by ``_row`` (the load order), so the order is
total and a page boundary is one row. A cursor is base64url JSON of the sort it was made
for, that row's sort values and its ``_row``; the next page asks for rows *after* it with
the tuple comparison written out as ``OR``/``AND`` terms, which both SQLite and PostgreSQL
run (and which handles descending keys and NULLs).

NULL ordering, the same on both databases: a missing value sorts as larger than every
value — last in ascending order, first in descending order (``NULLS LAST`` / ``NULLS
FIRST``, PostgreSQL's default, so its indexes serve both directions).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, UnaryExpression, and_, false, literal, or_

from cityos.datahub.filters import parse_value
from cityos.datahub.physical import ROW
from cityos.datahub.tableschema import FieldType, TableSchema
from cityos.errors import InvalidInput

BAD_CURSOR = "The cursor is not valid; start again without it."


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False

    @property
    def text(self) -> str:
        return f"-{self.field}" if self.descending else self.field


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row of a page: its sort values (in sort order) and its ``_row``."""

    values: tuple[Any, ...]
    row: int


def order_by(table: Table, schema: TableSchema, sort: tuple[SortKey, ...]) -> list[Any]:
    clauses: list[UnaryExpression[Any]] = []
    for key in sort:
        column = table.c[schema.field(key.field).column]
        clauses.append(column.desc().nulls_first() if key.descending else column.asc().nulls_last())
    clauses.append(table.c[ROW].asc())
    return clauses


def after(
    table: Table, schema: TableSchema, sort: tuple[SortKey, ...], cursor: Cursor
) -> ColumnElement[bool]:
    """Rows after ``cursor`` in the order of :func:`order_by` (values bound)."""
    terms: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for key, value in zip(sort, cursor.values, strict=True):
        column = table.c[schema.field(key.field).column]
        if value is None:
            # NULL is the largest value: nothing is after it ascending; any value is, descending.
            beyond: ColumnElement[bool] | None = column.is_not(None) if key.descending else None
            same: ColumnElement[bool] = column.is_(None)
        else:
            bound = literal(value, column.type)  # a bound parameter, also for booleans
            beyond = column < bound if key.descending else or_(column > bound, column.is_(None))
            same = column == bound
        if beyond is not None:
            terms.append(and_(*equal, beyond) if equal else beyond)
        equal.append(same)
    last = table.c[ROW] > cursor.row
    terms.append(and_(*equal, last) if equal else last)
    return or_(*terms) if terms else false()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def encode(sort: tuple[SortKey, ...], values: tuple[Any, ...], row: int) -> str:
    payload = {"s": [key.text for key in sort], "v": [_plain(v) for v in values], "r": row}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(schema: TableSchema, sort: tuple[SortKey, ...], text: str) -> Cursor:
    """The cursor ``text`` made for ``sort`` (InvalidInput when it is damaged or foreign)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise InvalidInput(BAD_CURSOR) from None
    if not isinstance(payload, dict) or set(payload) != {"s", "v", "r"}:
        raise InvalidInput(BAD_CURSOR)
    keys, values, row = payload["s"], payload["v"], payload["r"]
    if keys != [key.text for key in sort]:
        raise InvalidInput(
            "The cursor belongs to another sort order; start again without it (keep sort "
            "the same while paging)."
        )
    if not isinstance(values, list) or len(values) != len(sort):
        raise InvalidInput(BAD_CURSOR)
    if not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < 2**63:
        raise InvalidInput(BAD_CURSOR)
    parsed: list[Any] = []
    for key, value in zip(sort, values, strict=True):
        parsed.append(_value(schema, key.field, value))
    return Cursor(tuple(parsed), row)


def _value(schema: TableSchema, name: str, value: Any) -> Any:
    if value is None:
        return None
    data_field = schema.field(name)
    kind = data_field.type
    expected: type | tuple[type, ...]
    if kind in (FieldType.INTEGER, FieldType.YEAR):
        expected = int
    elif kind is FieldType.NUMBER:
        expected = (int, float)
    elif kind is FieldType.BOOLEAN:
        expected = bool
    else:
        expected = str
    if not isinstance(value, expected) or (
        isinstance(value, bool) and kind is not FieldType.BOOLEAN
    ):
        raise InvalidInput(BAD_CURSOR)
    if isinstance(value, str):
        try:
            return parse_value(data_field, value, param="cursor")
        except InvalidInput:
            raise InvalidInput(BAD_CURSOR) from None
    return float(value) if kind is FieldType.NUMBER else value
