"""The observation insert of the store: many rows in one statement that skips rows already
stored and returns the new ids.

Per dialect, in the shape the driver takes fastest: PostgreSQL gets one array per column
(``INSERT … SELECT FROM unnest(…)``, a short statement psycopg prepares once); SQLite gets
multi-row ``VALUES`` with times already in SQLAlchemy's SQLite text form, which keeps them
comparable with rows written through the ORM. Table and column names come from the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Table

from cityos.sensing.models import Observation
from cityos.sensing.readings import Reading

_table: Table = Observation.__table__  # type: ignore[assignment]
_c = _table.c

# (column, PostgreSQL array type, how to take the value from a reading)
_ALWAYS = ("datastream_id", "multi_datastream_id", "phenomenon_time_start", "feature_id")
_RESULT = ("result_number", "result_json")
_OPTIONAL: tuple[tuple[str, str], ...] = (
    ("phenomenon_time_end", "phenomenon_end"),
    ("result_time", "result_time"),
    ("result_quality", "result_quality"),
    ("valid_time_start", "valid_start"),
    ("valid_time_end", "valid_end"),
    ("parameters", "parameters"),
)
_PG_TYPES = {
    "datastream_id": "int4",
    "multi_datastream_id": "int4",
    "feature_id": "int4",
    "phenomenon_time_start": "timestamptz",
    "phenomenon_time_end": "timestamptz",
    "result_time": "timestamptz",
    "valid_time_start": "timestamptz",
    "valid_time_end": "timestamptz",
    "result_number": "float8",
    "result_json": "json",
    "result_quality": "json",
    "parameters": "json",
}
_TIMES = {"phenomenon_time_end", "result_time", "valid_time_start", "valid_time_end"}
_JSONS = {"result_quality", "parameters"}
_RETURNING = "RETURNING id, datastream_id, multi_datastream_id, phenomenon_time_start"


def _insert_sql(names: tuple[str, ...], source: str) -> str:
    """The insert; only the model's table and column names and placeholders are spelled in."""
    columns = ", ".join(names)
    return f"INSERT INTO {_table.name} ({columns}) {source} ON CONFLICT DO NOTHING {_RETURNING}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def sqlite_time(moment: datetime) -> str:
    """An aware datetime in the text form SQLAlchemy stores on SQLite (UTC, microseconds)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


class Writer(Protocol):
    def key(self, reading: Reading) -> Hashable: ...

    def insert(
        self, connection: Connection, readings: Sequence[Reading], features: Sequence[int | None]
    ) -> dict[Hashable, int]: ...


def _columns(readings: Sequence[Reading]) -> list[tuple[str, str]]:
    """The optional columns some reading of the batch has a value for."""
    return [
        (column, attr)
        for column, attr in _OPTIONAL
        if any(getattr(r, attr) is not None for r in readings)
    ]


class _Postgres:
    def __init__(self) -> None:
        self._sql: dict[tuple[str, ...], str] = {}

    @staticmethod
    def key(reading: Reading) -> Hashable:
        return (reading.datastream_id, reading.multi_datastream_id, reading.phenomenon_start)

    def _statement(self, names: tuple[str, ...]) -> str:
        sql = self._sql.get(names)
        if sql is None:
            arrays = ", ".join(
                f"%s::{'text' if _PG_TYPES[n] == 'json' else _PG_TYPES[n]}[]" for n in names
            )
            picks = ", ".join(f"u.{n}::json" if _PG_TYPES[n] == "json" else f"u.{n}" for n in names)
            sql = _insert_sql(
                names,
                f"SELECT {picks} FROM unnest({arrays}) AS u({', '.join(names)})",  # noqa: S608
            )
            self._sql[names] = sql
        return sql

    def insert(
        self, connection: Connection, readings: Sequence[Reading], features: Sequence[int | None]
    ) -> dict[Hashable, int]:
        optional = _columns(readings)
        numbers: list[float | None] = []
        others: list[str | None] = []
        for r in readings:
            if _is_number(r.result):
                numbers.append(float(r.result))
                others.append(None)
            else:
                numbers.append(None)
                others.append(json.dumps(r.result))
        arrays: list[list[Any]] = [
            [r.datastream_id for r in readings],
            [r.multi_datastream_id for r in readings],
            [r.phenomenon_start for r in readings],
            list(features),
            numbers,
            others,
        ]
        for column, attr in optional:
            values = [getattr(r, attr) for r in readings]
            arrays.append([_dump(v) for v in values] if column in _JSONS else values)
        names = _ALWAYS + _RESULT + tuple(column for column, _ in optional)
        result = connection.exec_driver_sql(self._statement(names), tuple(arrays))
        return {(ds, md, start): obs_id for obs_id, ds, md, start in result}


class _Sqlite:
    MAX_VARIABLES = 32_000

    @staticmethod
    def key(reading: Reading) -> Hashable:
        return (
            reading.datastream_id,
            reading.multi_datastream_id,
            sqlite_time(reading.phenomenon_start),
        )

    def insert(
        self, connection: Connection, readings: Sequence[Reading], features: Sequence[int | None]
    ) -> dict[Hashable, int]:
        optional = _columns(readings)
        names = _ALWAYS + _RESULT + tuple(column for column, _ in optional)
        convert: list[tuple[str, Callable[[Any], Any]]] = []
        for column, attr in optional:
            if column in _TIMES:
                convert.append((attr, lambda v: None if v is None else sqlite_time(v)))
            else:
                convert.append((attr, _dump))
        params: list[Any] = []
        extend = params.extend
        for r, feature in zip(readings, features, strict=True):
            result = r.result
            number = _is_number(result)
            extend(
                (
                    r.datastream_id,
                    r.multi_datastream_id,
                    sqlite_time(r.phenomenon_start),
                    feature,
                    float(result) if number else None,
                    None if number else json.dumps(result),
                )
            )
            for attr, conv in convert:
                params.append(conv(getattr(r, attr)))
        width = len(names)
        per_statement = self.MAX_VARIABLES // width
        row = "(" + ", ".join("?" * width) + ")"
        found: dict[Hashable, int] = {}
        for first in range(0, len(readings), per_statement):
            count = min(per_statement, len(readings) - first)
            sql = _insert_sql(names, "VALUES " + ", ".join([row] * count))
            chunk = tuple(params[first * width : (first + count) * width])
            for obs_id, ds, md, start in connection.exec_driver_sql(sql, chunk):
                found[(ds, md, start)] = obs_id
        return found


_WRITERS: dict[str, Writer] = {"postgresql": _Postgres(), "sqlite": _Sqlite()}


def writer(dialect: str) -> Writer:
    """The insert of observations for ``dialect`` (``postgresql`` or ``sqlite``)."""
    return _WRITERS[dialect]
