"""The observation insert of the store: many rows in one statement that skips rows already
stored and returns the new ids.

A batch is first turned into columns (:func:`columns`, one pass over the readings) that the
rest of the store reuses. Per dialect, the insert takes them in the shape the driver takes
fastest: PostgreSQL gets one array literal per column (``INSERT … SELECT FROM unnest(…)``, a
short statement psycopg prepares once; times travel as microseconds since the epoch);
SQLite gets multi-row ``VALUES`` with times in SQLAlchemy's SQLite text form, which keeps
them comparable with rows written through the ORM. Table and column names come from the
model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Connection, Table

from cityos.sensing.models import Observation
from cityos.sensing.readings import Reading

_table: Table = Observation.__table__  # type: ignore[assignment]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# optional columns: (column, Reading attribute)
_OPTIONAL: tuple[tuple[str, str], ...] = (
    ("phenomenon_time_end", "phenomenon_end"),
    ("result_time", "result_time"),
    ("result_quality", "result_quality"),
    ("valid_time_start", "valid_start"),
    ("valid_time_end", "valid_end"),
    ("parameters", "parameters"),
)
_PG_TYPES = {
    "phenomenon_time_end": "timestamptz",
    "result_time": "timestamptz",
    "valid_time_start": "timestamptz",
    "valid_time_end": "timestamptz",
    "result_quality": "json",
    "parameters": "json",
}
_TIMES = {"phenomenon_time_end", "result_time", "valid_time_start", "valid_time_end"}
_RETURNING = "RETURNING id, datastream_id, multi_datastream_id, phenomenon_time_start"


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - EPOCH) // _US


def pg_time(expression: str) -> str:
    """SQL turning an ``int8`` of microseconds since the epoch into a ``timestamptz``, exactly
    (whole seconds and the rest apart, so no step passes through an inexact double)."""
    return (
        f"(timestamptz 'epoch' + ({expression} / 1000000) * interval '1 second'"
        f" + mod({expression}, 1000000) * interval '1 microsecond')"
    )


def pg_array(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of numbers (None → NULL); cast it to the element type."""
    if None in values:
        return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"
    return "{" + ",".join(map(repr, values)) + "}"


def sqlite_time(moment: datetime) -> str:
    """An aware datetime in the text form SQLAlchemy stores on SQLite (UTC, microseconds)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_times(micros: Any) -> list[str]:
    """:func:`sqlite_time` of many instants given as microseconds since the epoch."""
    text = np.datetime_as_string(np.asarray(micros, dtype=np.int64).astype("datetime64[us]"))
    return [t.replace("T", " ", 1) for t in text.tolist()]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


@dataclass(slots=True)
class Columns:
    """A batch of readings as columns (one entry per reading)."""

    readings: Sequence[Reading]
    features: Sequence[int | None]
    datastreams: list[int | None]
    multis: list[int | None]
    micros: list[int]  # phenomenon start
    numbers: list[float | None]  # the result when it is a number
    any_multi: bool
    any_other: bool  # some result is not a number
    optional: list[tuple[str, str]]  # the optional columns some reading has a value for


def columns(readings: Sequence[Reading], features: Sequence[int | None]) -> Columns:
    """The columns of ``readings`` (``features``: each one's feature of interest)."""
    datastreams: list[int | None] = []
    multis: list[int | None] = []
    micros: list[int] = []
    numbers: list[float | None] = []
    any_other = False
    extra = False
    for r in readings:
        datastreams.append(r.datastream_id)
        multis.append(r.multi_datastream_id)
        micros.append((r.phenomenon_start - EPOCH) // _US)
        result = r.result
        kind = type(result)
        if kind is float or kind is int or _is_number(result):
            numbers.append(float(result))
        else:
            numbers.append(None)
            any_other = True
        if not extra and (
            r.phenomenon_end is not None
            or r.result_time is not None
            or r.result_quality is not None
            or r.valid_start is not None
            or r.valid_end is not None
            or r.parameters is not None
        ):
            extra = True
    optional = (
        [
            (column, attr)
            for column, attr in _OPTIONAL
            if any(getattr(r, attr) is not None for r in readings)
        ]
        if extra
        else []
    )
    return Columns(
        readings=readings,
        features=features,
        datastreams=datastreams,
        multis=multis,
        micros=micros,
        numbers=numbers,
        any_multi=any(m is not None for m in multis),
        any_other=any_other,
        optional=optional,
    )


def _insert_sql(names: Sequence[str], source: str) -> str:
    """The insert; only the model's table and column names and placeholders are spelled in."""
    return (
        f"INSERT INTO {_table.name} ({', '.join(names)}) {source} "
        f"ON CONFLICT DO NOTHING {_RETURNING}"
    )


def _align(found: dict[Hashable, int], cols: Columns, keys: Sequence[Hashable]) -> list[int | None]:
    """Per reading, in order, its new id (the first of duplicates within the batch gets it)."""
    pop = found.pop
    return [
        pop((ds, md, key), None)
        for ds, md, key in zip(cols.datastreams, cols.multis, keys, strict=True)
    ]


def _fetch_all(connection: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Run ``sql`` on the connection's driver cursor (same transaction) and fetch every row:
    thousands of returned rows skip SQLAlchemy's per-row result processing."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


class Writer(Protocol):
    def insert(self, connection: Connection, cols: Columns) -> list[int | None]:
        """Insert the batch; per reading its new id, or None when it was already stored."""
        ...


class _Postgres:
    def __init__(self) -> None:
        self._sql: dict[tuple[str, ...], str] = {}

    def _statement(self, names: tuple[str, ...], types: tuple[str, ...]) -> str:
        key = names + types
        sql = self._sql.get(key)
        if sql is None:
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            picks = []
            for name in names:
                if name == "phenomenon_time_start":
                    picks.append(pg_time(f"u.{name}"))
                elif _PG_TYPES.get(name) == "json" or name == "result_json":
                    picks.append(f"u.{name}::json")
                else:
                    picks.append(f"u.{name}")
            sql = _insert_sql(
                names,
                f"SELECT {', '.join(picks)} FROM unnest({arrays}) AS u({', '.join(names)})",  # noqa: S608
            )
            self._sql[key] = sql
        return sql

    def insert(self, connection: Connection, cols: Columns) -> list[int | None]:
        readings = cols.readings
        names = ["phenomenon_time_start", "feature_id"]
        types = ["int8", "int4"]
        arrays: list[Any] = [pg_array(cols.micros), pg_array(cols.features)]
        if cols.any_multi:
            names.append("multi_datastream_id")
            types.append("int4")
            arrays.append(pg_array(cols.multis))
        if any(ds is not None for ds in cols.datastreams):
            names.append("datastream_id")
            types.append("int4")
            arrays.append(pg_array(cols.datastreams))
        if any(n is not None for n in cols.numbers):
            names.append("result_number")
            types.append("float8")
            arrays.append(pg_array(cols.numbers))
        if cols.any_other:
            names.append("result_json")
            types.append("text")
            arrays.append(
                [
                    None if n is not None else json.dumps(r.result)
                    for r, n in zip(readings, cols.numbers, strict=True)
                ]
            )
        for column, attr in cols.optional:
            values = [getattr(r, attr) for r in readings]
            kind = _PG_TYPES[column]
            names.append(column)
            types.append("text" if kind == "json" else kind)
            arrays.append([_dump(v) for v in values] if kind == "json" else values)
        sql = self._statement(tuple(names), tuple(types))
        rows = _fetch_all(connection, sql, tuple(arrays))
        found: dict[Hashable, int] = {
            (ds, md, (start - EPOCH) // _US): obs_id for obs_id, ds, md, start in rows
        }
        return _align(found, cols, cols.micros)


class _Sqlite:
    MAX_VARIABLES = 32_000

    def insert(self, connection: Connection, cols: Columns) -> list[int | None]:
        readings = cols.readings
        starts = sqlite_times(cols.micros)
        names = ["datastream_id", "multi_datastream_id", "phenomenon_time_start", "feature_id"]
        values: list[Sequence[Any]] = [cols.datastreams, cols.multis, starts, cols.features]
        names.append("result_number")
        values.append(cols.numbers)
        if cols.any_other:
            names.append("result_json")
            values.append(
                [
                    None if n is not None else json.dumps(r.result)
                    for r, n in zip(readings, cols.numbers, strict=True)
                ]
            )
        for column, attr in cols.optional:
            convert: Callable[[Any], Any] = (
                (lambda v: None if v is None else sqlite_time(v)) if column in _TIMES else _dump
            )
            names.append(column)
            values.append([convert(getattr(r, attr)) for r in readings])
        params = [v for row in zip(*values, strict=True) for v in row]
        width = len(names)
        per_statement = self.MAX_VARIABLES // width
        row = "(" + ", ".join("?" * width) + ")"
        found: dict[Hashable, int] = {}
        for first in range(0, len(readings), per_statement):
            count = min(per_statement, len(readings) - first)
            sql = _insert_sql(names, "VALUES " + ", ".join([row] * count))
            chunk = tuple(params[first * width : (first + count) * width])
            for obs_id, ds, md, start in _fetch_all(connection, sql, chunk):
                found[(ds, md, start)] = obs_id
        return _align(found, cols, starts)


_WRITERS: dict[str, Writer] = {"postgresql": _Postgres(), "sqlite": _Sqlite()}


def writer(dialect: str) -> Writer:
    """The insert of observations for ``dialect`` (``postgresql`` or ``sqlite``)."""
    return _WRITERS[dialect]
