"""Row filters of the query API: parsing ``field__op=value`` and turning it into SQL.

Field names never reach SQL: a field is looked up in the schema and its physical column
(``f<index>``) is used. Every value is parsed to the field's type and bound as a parameter.

Operators (Datasette style): ``eq`` (also a bare ``field=value``), ``ne`` (rows without a
value count as "not equal" too), ``lt`` ``le`` ``gt`` ``ge``, ``in`` (a comma list),
``contains`` (text fields; case-insensitive), ``isnull`` (``true`` / ``false``).
A geopoint field takes only ``isnull`` (and ``bbox``); JSON-valued fields (object, array,
list, geojson, any) take ``contains`` and ``isnull``; booleans take ``eq ne in isnull``.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, or_

from cityos.datahub.tableschema import Field, FieldType, TableSchema
from cityos.errors import InvalidInput

OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "isnull")
MAX_IN_VALUES = 1000
LIKE_ESCAPE = "!"

TEXT_TYPES = frozenset({FieldType.STRING, FieldType.TIME, FieldType.YEARMONTH, FieldType.DURATION})
JSON_TYPES = frozenset(
    {FieldType.OBJECT, FieldType.ARRAY, FieldType.LIST, FieldType.GEOJSON, FieldType.ANY}
)
_ALL_VALUE_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "isnull")

_INTEGER = re.compile(r"[+-]?\d{1,19}")
_YEARMONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})

EXPECTED: dict[FieldType, str] = {
    FieldType.INTEGER: "a whole number such as 42",
    FieldType.YEAR: "a year such as 2024",
    FieldType.NUMBER: "a number such as 3.5",
    FieldType.BOOLEAN: "true or false",
    FieldType.DATE: "an ISO date such as 2024-01-31",
    FieldType.DATETIME: "an ISO date-time such as 2024-01-31T08:00:00Z",
    FieldType.TIME: "a time such as 08:30:00",
    FieldType.YEARMONTH: "a year and month such as 2024-01",
}


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition: ``field`` ``op`` ``value`` (a tuple for ``in``, a bool for ``isnull``)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class BBox:
    field: str
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


def ops_for(data_field: Field) -> tuple[str, ...]:
    """The operators a field takes."""
    kind = data_field.type
    if kind is FieldType.GEOPOINT:
        return ("isnull",)
    if kind in JSON_TYPES:
        return ("contains", "isnull")
    if kind is FieldType.BOOLEAN:
        return ("eq", "ne", "in", "isnull")
    if kind in TEXT_TYPES:
        return OPS
    return _ALL_VALUE_OPS


def parse_flag(text: str, *, param: str) -> bool:
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise InvalidInput(f"{param}={text!r}: use true or false.")


def _bad(data_field: Field, text: str, param: str) -> InvalidInput:
    expected = EXPECTED.get(data_field.type, f"a {data_field.type} value")
    return InvalidInput(
        f"{param}={text!r}: the field {data_field.name!r} is of type {data_field.type}; "
        f"give {expected}."
    )


def parse_value(data_field: Field, text: str, *, param: str) -> Any:
    """``text`` as a value of the field's type (InvalidInput saying what is expected)."""
    kind = data_field.type
    value = text.strip()
    if kind in (FieldType.INTEGER, FieldType.YEAR):
        if not _INTEGER.fullmatch(value):
            raise _bad(data_field, text, param)
        number = int(value)
        if kind is FieldType.YEAR and not 0 <= number <= 9999:
            raise _bad(data_field, text, param)
        if not -(2**63) <= number < 2**63:
            raise _bad(data_field, text, param)
        return number
    if kind is FieldType.NUMBER:
        try:
            real = float(value)
        except ValueError:
            raise _bad(data_field, text, param) from None
        if not math.isfinite(real):
            raise _bad(data_field, text, param)
        return real
    if kind is FieldType.BOOLEAN:
        lowered = value.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise _bad(data_field, text, param)
    if kind is FieldType.DATE:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _bad(data_field, text, param) from None
    if kind is FieldType.DATETIME:
        return parse_datetime(value, bad=lambda: _bad(data_field, text, param))
    if kind is FieldType.TIME:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise _bad(data_field, text, param) from None
        return value
    if kind is FieldType.YEARMONTH:
        if not _YEARMONTH.fullmatch(value):
            raise _bad(data_field, text, param)
        return value
    return text  # string, duration and the JSON types: the text itself, unstripped


def parse_datetime(value: str, *, bad: Any) -> datetime:
    """An ISO date-time in UTC; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad() from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_filter(data_field: Field, op: str, text: str) -> Filter:
    param = data_field.name if op == "eq" else f"{data_field.name}__{op}"
    allowed = ops_for(data_field)
    if op not in allowed:
        geo = data_field.type is FieldType.GEOPOINT
        extra = " (and bbox=minlon,minlat,maxlon,maxlat)" if geo else ""
        raise InvalidInput(
            f"{param}: the {data_field.type} field {data_field.name!r} cannot be filtered with "
            f"{op!r}; it takes {', '.join(allowed)}{extra}."
        )
    if op == "isnull":
        return Filter(data_field.name, op, parse_flag(text, param=param))
    if op == "contains":
        if text == "":
            raise InvalidInput(f"{param}: give the text to look for.")
        return Filter(data_field.name, op, text)
    if op == "in":
        items = text.split(",")
        if len(items) > MAX_IN_VALUES:
            raise InvalidInput(f"{param}: at most {MAX_IN_VALUES} values, not {len(items)}.")
        values = tuple(parse_value(data_field, item, param=param) for item in items)
        return Filter(data_field.name, op, values)
    return Filter(data_field.name, op, parse_value(data_field, text, param=param))


def escape_like(text: str) -> str:
    """``text`` for a LIKE pattern: its wildcards taken literally (escape character ``!``)."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", f"{LIKE_ESCAPE}%")
        .replace("_", f"{LIKE_ESCAPE}_")
    )


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    # ILIKE on PostgreSQL; lower(x) LIKE lower(y) on SQLite. The pattern is bound.
    result: ColumnElement[bool] = column.ilike(f"%{escape_like(text)}%", escape=LIKE_ESCAPE)
    return result


_COMPARE = {"eq": operator.eq, "lt": operator.lt, "le": operator.le, "gt": operator.gt}
_COMPARE["ge"] = operator.ge


def condition(table: Table, schema: TableSchema, item: Filter) -> ColumnElement[bool]:
    """The SQL condition of one filter (values bound)."""
    data_field = schema.field(item.field)
    if data_field.type is FieldType.GEOPOINT:
        lon, lat = (table.c[name] for name in data_field.columns)
        if item.value:
            return or_(lon.is_(None), lat.is_(None))
        return and_(lon.is_not(None), lat.is_not(None))
    column = table.c[data_field.column]
    op, value = item.op, item.value
    if op == "isnull":
        return column.is_(None) if value else column.is_not(None)
    if op == "contains":
        return _contains(column, value)
    if op == "in":
        return column.in_(value)
    if op == "ne":
        return or_(column != value, column.is_(None))
    if op in _COMPARE:
        compared: ColumnElement[bool] = _COMPARE[op](column, value)
        return compared
    raise AssertionError(op)  # pragma: no cover - parse_filter checked it


def text_search(table: Table, columns: list[str], q: str) -> ColumnElement[bool]:
    """``q`` (case-insensitive) inside any of ``columns``; nothing matches without columns."""
    if not columns:
        return false()
    return or_(*(_contains(table.c[name], q) for name in columns))


def _coordinate(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_bbox(schema: TableSchema, text: str, field_name: str | None) -> BBox:
    """``minlon,minlat,maxlon,maxlat`` on ``field_name`` or the first geopoint field."""
    geopoints = schema.geopoints
    if field_name is not None:
        if not schema.has_field(field_name):
            raise unknown_field(schema, field_name, where="bbox_field")
        target = schema.field(field_name)
        if target.type is not FieldType.GEOPOINT:
            names = ", ".join(f.name for f in geopoints) or "none"
            raise InvalidInput(
                f"bbox_field={field_name!r} is not a geopoint field; geopoint fields: {names}."
            )
    elif geopoints:
        target = geopoints[0]
    else:
        raise InvalidInput("bbox needs a geopoint field, and this dataset has none.")
    parts = text.split(",")
    usage = "give bbox=minlon,minlat,maxlon,maxlat in degrees, e.g. bbox=116.2,39.8,116.5,40.0"
    if len(parts) != 4:
        raise InvalidInput(f"bbox={text!r} has {len(parts)} numbers; {usage}.")
    try:
        min_lon, min_lat, max_lon, max_lat = (_coordinate(part) for part in parts)
    except ValueError:
        raise InvalidInput(f"bbox={text!r} is not four numbers; {usage}.") from None
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidInput(
            f"bbox={text!r}: longitudes must be within -180..180 and latitudes within -90..90, "
            f"each minimum not above its maximum; {usage}."
        )
    return BBox(target.name, min_lon, min_lat, max_lon, max_lat)


def bbox_condition(table: Table, schema: TableSchema, box: BBox) -> ColumnElement[bool]:
    lon, lat = (table.c[name] for name in schema.field(box.field).columns)
    return and_(lon.between(box.min_lon, box.max_lon), lat.between(box.min_lat, box.max_lat))


def unknown_field(schema: TableSchema, name: str, *, where: str) -> InvalidInput:
    fields = ", ".join(schema.names)
    return InvalidInput(
        f"Unknown field {name!r} in {where}; the fields of this dataset are: {fields}.",
        details={"field": name, "fields": schema.names},
    )


__all__ = [
    "OPS",
    "BBox",
    "Filter",
    "bbox_condition",
    "condition",
    "escape_like",
    "ops_for",
    "parse_bbox",
    "parse_filter",
    "parse_value",
    "text_search",
    "unknown_field",
]
