"""The few SQL operations the SensorThings query compiler needs that SQLite and PostgreSQL
spell differently, as SQLAlchemy constructs compiled per dialect.

Statements built from them are dialect-neutral until executed, so ``$orderby`` terms can be
made without knowing the database. JSON paths travel as one bound parameter (a JSON path
text on SQLite, a ``text[]`` on PostgreSQL, where the columns are ``json``).
"""

from __future__ import annotations

from datetime import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine


class JsonPath(TypeDecorator[tuple[str, ...]]):
    """Keys into a JSON value: ``$."a"[0]`` on SQLite, ``{a,0}`` on PostgreSQL.

    Keys hold only letters, digits and ``_`` (checked by the parser); all-digit keys index
    arrays on SQLite.
    """

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.Text()))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: tuple[str, ...] | None, dialect: Dialect) -> Any:
        keys = tuple(value or ())
        if dialect.name == "postgresql":
            return list(keys)
        return "$" + "".join(f"[{key}]" if key.isdigit() else f'."{key}"' for key in keys)


class TimeValue(TypeDecorator[time]):
    """A time of day; on SQLite the text ``HH:MM:SS.SSS`` that :class:`TimeOf` yields."""

    impl = sa.Time
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String())
        return dialect.type_descriptor(sa.Time())

    def process_bind_param(self, value: time | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return f"{value:%H:%M:%S}.{value.microsecond // 1000:03d}"


DateValue = sa.Date


# --- JSON reads ------------------------------------------------------------------------------


class _JsonRead(FunctionElement[Any]):
    """The value at a JSON path when it has the wanted JSON type, else NULL."""

    inherit_cache = True

    def __init__(self, column: Any, keys: tuple[str, ...]) -> None:
        super().__init__(column, sa.bindparam(None, keys, type_=JsonPath()))


class JsonText(_JsonRead):
    type = sa.String()
    inherit_cache = True


class JsonNumber(_JsonRead):
    type = sa.Float()
    inherit_cache = True


class JsonBool(_JsonRead):
    type = sa.Boolean()
    inherit_cache = True


class JsonIsNull(_JsonRead):
    """True when the path is missing, JSON null or the column is NULL."""

    type = sa.Boolean()
    inherit_cache = True


_READS: dict[str, type[_JsonRead]] = {
    "string": JsonText,
    "number": JsonNumber,
    "boolean": JsonBool,
    "null": JsonIsNull,
}


def json_read(kind: str, column: Any, keys: tuple[str, ...]) -> Any:
    """Read ``column`` at ``keys`` as ``kind`` (string, number, boolean; null = is-null test)."""
    return _READS[kind](column, keys)


def _args(compiler: SQLCompiler, element: FunctionElement[Any], **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses.clauses]


@compiles(JsonText, "sqlite")
def _sqlite_text(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return f"CASE WHEN json_type({col}, {path}) = 'text' THEN json_extract({col}, {path}) END"


@compiles(JsonNumber, "sqlite")
def _sqlite_number(element: JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return (
        f"CASE WHEN json_type({col}, {path}) IN ('integer', 'real') "
        f"THEN json_extract({col}, {path}) END"
    )


@compiles(JsonBool, "sqlite")
def _sqlite_bool(element: JsonBool, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return f"CASE json_type({col}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"


@compiles(JsonIsNull, "sqlite")
def _sqlite_is_null(element: JsonIsNull, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return f"(coalesce(json_type({col}, {path}), 'null') = 'null')"


@compiles(JsonText, "postgresql")
def _pg_text(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return f"CASE WHEN json_typeof({col} #> {path}) = 'string' THEN {col} #>> {path} END"


@compiles(JsonNumber, "postgresql")
def _pg_number(element: JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return (
        f"CASE WHEN json_typeof({col} #> {path}) = 'number' "
        f"THEN CAST({col} #>> {path} AS DOUBLE PRECISION) END"
    )


@compiles(JsonBool, "postgresql")
def _pg_bool(element: JsonBool, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return (
        f"CASE WHEN json_typeof({col} #> {path}) = 'boolean' "
        f"THEN CAST({col} #>> {path} AS BOOLEAN) END"
    )


@compiles(JsonIsNull, "postgresql")
def _pg_is_null(element: JsonIsNull, compiler: SQLCompiler, **kw: Any) -> str:
    col, path = _args(compiler, element, **kw)
    return f"(coalesce(json_typeof({col} #> {path}), 'null') = 'null')"


# --- text and numbers ------------------------------------------------------------------------


class StrPos(FunctionElement[Any]):
    """1-based position of ``needle`` in ``hay`` (0 if absent); case-sensitive."""

    type = sa.Integer()
    inherit_cache = True


@compiles(StrPos, "sqlite")
def _sqlite_strpos(element: StrPos, compiler: SQLCompiler, **kw: Any) -> str:
    hay, needle = _args(compiler, element, **kw)
    return f"instr({hay}, {needle})"


@compiles(StrPos, "postgresql")
def _pg_strpos(element: StrPos, compiler: SQLCompiler, **kw: Any) -> str:
    hay, needle = _args(compiler, element, **kw)
    return f"strpos({hay}, {needle})"


class Mod(FunctionElement[Any]):
    """The remainder of a division (NULL when dividing by zero), also for fractions."""

    type = sa.Float()
    inherit_cache = True


@compiles(Mod, "sqlite")
def _sqlite_mod(element: Mod, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's math functions are optional (and SQLAlchemy replaces floor): a - b*trunc(a/b)
    a, b = _args(compiler, element, **kw)
    return f"({a} - ({b}) * CAST(CAST({a} AS REAL) / nullif({b}, 0) AS INTEGER))"


@compiles(Mod, "postgresql")
def _pg_mod(element: Mod, compiler: SQLCompiler, **kw: Any) -> str:
    a, b = _args(compiler, element, **kw)
    return f"CAST(mod(CAST({a} AS NUMERIC), CAST(nullif({b}, 0) AS NUMERIC)) AS DOUBLE PRECISION)"


class Round(FunctionElement[Any]):
    """To the nearest whole number, halves away from zero (as OData's round)."""

    type = sa.Float()
    inherit_cache = True


@compiles(Round, "sqlite")
def _sqlite_round(element: Round, compiler: SQLCompiler, **kw: Any) -> str:
    return f"round({_args(compiler, element, **kw)[0]})"


@compiles(Round, "postgresql")
def _pg_round(element: Round, compiler: SQLCompiler, **kw: Any) -> str:
    # round(double precision) rounds halves to even; numeric rounds them away from zero
    x = _args(compiler, element, **kw)[0]
    return f"CAST(round(CAST({x} AS NUMERIC)) AS DOUBLE PRECISION)"


class Floor(FunctionElement[Any]):
    type = sa.Float()
    inherit_cache = True


class Ceiling(FunctionElement[Any]):
    type = sa.Float()
    inherit_cache = True


@compiles(Floor, "sqlite")
def _sqlite_floor(element: Floor, compiler: SQLCompiler, **kw: Any) -> str:
    x = _args(compiler, element, **kw)[0]
    whole = f"CAST({x} AS INTEGER)"
    return f"(CASE WHEN {whole} > {x} THEN {whole} - 1 ELSE {whole} END)"


@compiles(Ceiling, "sqlite")
def _sqlite_ceiling(element: Ceiling, compiler: SQLCompiler, **kw: Any) -> str:
    x = _args(compiler, element, **kw)[0]
    whole = f"CAST({x} AS INTEGER)"
    return f"(CASE WHEN {whole} < {x} THEN {whole} + 1 ELSE {whole} END)"


@compiles(Floor, "postgresql")
def _pg_floor(element: Floor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"floor({_args(compiler, element, **kw)[0]})"


@compiles(Ceiling, "postgresql")
def _pg_ceiling(element: Ceiling, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ceil({_args(compiler, element, **kw)[0]})"


# --- dates and times (stored in UTC) ---------------------------------------------------------


class DateOf(FunctionElement[Any]):
    """The UTC calendar day of an instant."""

    type = sa.Date()
    inherit_cache = True


class TimeOf(FunctionElement[Any]):
    """The UTC time of day of an instant (to the millisecond on SQLite)."""

    type = TimeValue()
    inherit_cache = True


@compiles(DateOf, "sqlite")
def _sqlite_date(element: DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({_args(compiler, element, **kw)[0]})"


@compiles(DateOf, "postgresql")
def _pg_date(element: DateOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({_args(compiler, element, **kw)[0]}) AT TIME ZONE 'UTC' AS DATE)"


@compiles(TimeOf, "sqlite")
def _sqlite_time(element: TimeOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%H:%M:%f', {_args(compiler, element, **kw)[0]})"


@compiles(TimeOf, "postgresql")
def _pg_time(element: TimeOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({_args(compiler, element, **kw)[0]}) AT TIME ZONE 'UTC' AS TIME)"


class _TimePart(FunctionElement[Any]):
    part = ""
    type = sa.Integer()
    inherit_cache = True


_SQLITE_FORMATS = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M"}


def _sqlite_part(element: _TimePart, compiler: SQLCompiler, **kw: Any) -> str:
    moment = _args(compiler, element, **kw)[0]
    if element.part == "fractionalseconds":
        return (
            f"(CAST(strftime('%f', {moment}) AS REAL) - CAST(strftime('%S', {moment}) AS INTEGER))"
        )
    fmt = _SQLITE_FORMATS.get(element.part, "%S")
    return f"CAST(strftime('{fmt}', {moment}) AS INTEGER)"


def _pg_part(element: _TimePart, compiler: SQLCompiler, **kw: Any) -> str:
    seconds = f"EXTRACT(SECOND FROM ({_args(compiler, element, **kw)[0]}) AT TIME ZONE 'UTC')"
    if element.part == "fractionalseconds":
        return f"CAST({seconds} - floor({seconds}) AS DOUBLE PRECISION)"
    if element.part == "second":
        return f"CAST(floor({seconds}) AS INTEGER)"
    moment = _args(compiler, element, **kw)[0]
    return f"CAST(EXTRACT({element.part.upper()} FROM ({moment}) AT TIME ZONE 'UTC') AS INTEGER)"


_PARTS: dict[str, type[_TimePart]] = {}
for _part in ("year", "month", "day", "hour", "minute", "second", "fractionalseconds"):
    _cls = type(
        f"TimePart_{_part}",
        (_TimePart,),
        {
            "part": _part,
            "inherit_cache": True,
            "type": sa.Float() if _part == "fractionalseconds" else sa.Integer(),
        },
    )
    compiles(_cls, "sqlite")(_sqlite_part)
    compiles(_cls, "postgresql")(_pg_part)
    _PARTS[_part] = _cls


def time_part(part: str, moment: Any) -> Any:
    """``year`` … ``second`` (integers) or ``fractionalseconds`` of an instant, in UTC."""
    return _PARTS[part](moment)
