"""A query's rows as polars frames, fast enough for whole-dataset downloads.

Columns are named by field (hidden fields left out, masked fields masked); a geopoint is a
struct of ``lon`` and ``lat``; date-times are UTC. No value goes through Python one by one
on the way out:

* PostgreSQL: the statement (values bound client-side by psycopg) runs as ``COPY (SELECT …)
  TO STDOUT (FORMAT csv)``; the CSV blocks are cut at row ends and parsed by polars.
* SQLite: the rows come from the DBAPI cursor as plain tuples (no SQLAlchemy result
  processing) and polars types whole columns — dates and date-times arrive as the ISO text
  SQLAlchemy stored.
"""

from __future__ import annotations

import io
from collections.abc import Generator, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table
from sqlalchemy.orm import Session

from cityos.datahub import masking
from cityos.datahub.access import ReadAccess
from cityos.datahub.models import Dataset
from cityos.datahub.query import (
    BATCH_SIZE,
    RowQuery,
    check_access,
    columns_for,
    output_fields,
    statement_for,
    table_of,
)
from cityos.datahub.tableschema import Field, FieldType, TableSchema

_DTYPES: dict[FieldType, pl.DataType] = {
    FieldType.INTEGER: pl.Int64(),
    FieldType.YEAR: pl.Int32(),
    FieldType.NUMBER: pl.Float64(),
    FieldType.BOOLEAN: pl.Boolean(),
    FieldType.DATE: pl.Date(),
    FieldType.DATETIME: pl.Datetime("us", "UTC"),
}
GEO_DTYPE = pl.Struct({"lon": pl.Float64(), "lat": pl.Float64()})
DATE_TEXT = "%Y-%m-%d"
SQLITE_DATETIME_TEXT = "%Y-%m-%d %H:%M:%S%.f"  # as SQLAlchemy (and storage) write it
POSTGRES_DATETIME_TEXT = "%Y-%m-%d %H:%M:%S%.f%#z"  # timestamptz text: "… 08:00:00+00"
COPY_BYTES_PER_ROW = 128  # to size the CSV blocks parsed at once


def frame_dtype(data_field: Field) -> pl.DataType:
    """The polars type of a field's column (a geopoint: a struct of lon and lat)."""
    if data_field.type is FieldType.GEOPOINT:
        return GEO_DTYPE
    return _DTYPES.get(data_field.type, pl.String())


def _from_text(series: pl.Series, target: pl.DataType, datetime_text: str) -> pl.Series:
    if target == pl.String:
        return series
    if target == pl.Date:
        return series.str.to_date(DATE_TEXT, strict=False)
    if isinstance(target, pl.Datetime):
        return series.str.to_datetime(datetime_text, time_unit="us", time_zone="UTC")
    if target == pl.Boolean:
        return series.replace_strict(
            {"t": True, "f": False, "true": True, "false": False, "1": True, "0": False},
            default=None,
            return_dtype=pl.Boolean,
        )
    return series.cast(target, strict=False)


def _typed(name: str, values: Sequence[Any], target: pl.DataType) -> pl.Series:
    """Values of the DBAPI as a series of ``target`` (conversions vectorised)."""
    series = pl.Series(name, values, strict=False)
    if series.dtype == target:
        return series
    if series.dtype == pl.String:
        return _from_text(series, target, SQLITE_DATETIME_TEXT)
    if isinstance(target, pl.Datetime) and isinstance(series.dtype, pl.Datetime):
        if series.dtype.time_zone is None:
            series = series.dt.replace_time_zone("UTC")
        return series.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    return series.cast(target, strict=False)


def _point(name: str, lon: pl.Series, lat: pl.Series) -> pl.Series:
    point = pl.DataFrame([lon.alias("lon"), lat.alias("lat")]).to_struct(name)
    missing = lon.is_null() | lat.is_null()
    return pl.select(pl.when(missing).then(None).otherwise(point)).to_series().alias(name)


def _assemble(out: list[Field], column: Any) -> pl.DataFrame:
    """The frame of ``out`` fields from ``column(physical name, target type)``."""
    series: list[pl.Series] = []
    for data_field in out:
        if data_field.type is FieldType.GEOPOINT:
            lon, lat = (column(name, pl.Float64()) for name in data_field.columns)
            series.append(_point(data_field.name, lon, lat))
        else:
            series.append(column(data_field.column, frame_dtype(data_field)).alias(data_field.name))
    return pl.DataFrame(series)


def _from_rows(out: list[Field], position: dict[str, int], part: Sequence[Any]) -> pl.DataFrame:
    columns = list(zip(*part, strict=True)) if part else [() for _ in position]
    return _assemble(out, lambda name, target: _typed(name, columns[position[name]], target))


def _from_csv(out: list[Field], names: list[str], data: bytes) -> pl.DataFrame:
    if data:
        text = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            schema=dict.fromkeys(names, pl.String()),
            quote_char='"',
        )
    else:
        text = pl.DataFrame(schema=dict.fromkeys(names, pl.String()))
    return _assemble(
        out, lambda name, target: _from_text(text[name], target, POSTGRES_DATETIME_TEXT)
    )


def iter_frames(
    db: Session | Connection,
    *,
    dataset: Dataset,
    schema: TableSchema,
    version: int,
    query: RowQuery,
    access: ReadAccess,
    batch_size: int = BATCH_SIZE,
) -> Generator[pl.DataFrame, None, None]:
    """The selection as frames of up to ``batch_size`` rows, in the query's order.

    Access is checked now; the rows are read as the frames are consumed. There is always
    at least one (maybe empty) frame.
    """
    check_access(dataset, query, access)
    table = table_of(dataset, schema, version)
    return frames(db, table=table, schema=schema, query=query, access=access, batch_size=batch_size)


def frames(
    db: Session | Connection,
    *,
    table: Table,
    schema: TableSchema,
    query: RowQuery,
    access: ReadAccess,
    batch_size: int = BATCH_SIZE,
) -> Generator[pl.DataFrame, None, None]:
    """:func:`iter_frames` on a given table, without the access check (done by the caller)."""
    connection = db.connection() if isinstance(db, Session) else db
    out = output_fields(schema, query, access)
    names = columns_for(out, schema, ())
    statement = statement_for(table, schema, query, access, names, limit=query.limit)
    if connection.dialect.name == "postgresql":
        batches = _copy_frames(connection, statement, out, names, batch_size)
    else:
        batches = _cursor_frames(connection, statement, out, names, batch_size)
    try:
        for frame in batches:
            yield masking.apply(frame, schema, access)
    finally:
        batches.close()


def _cursor_frames(
    connection: Connection, statement: Any, out: list[Field], names: list[str], batch_size: int
) -> Generator[pl.DataFrame, None, None]:
    position = {name: i for i, name in enumerate(names)}
    # Without stream_results SQLAlchemy buffers nothing: the DBAPI cursor holds every row.
    result = connection.execute(statement)
    cursor = result.cursor
    sent = False
    try:
        while part := cursor.fetchmany(batch_size):
            sent = True
            yield _from_rows(out, position, part)
    finally:
        result.close()
    if not sent:
        yield _from_rows(out, position, [])


def _row_end(buffer: bytearray) -> int:
    """The end of the last complete CSV row in ``buffer`` (0: none yet).

    A newline ends a row when an even number of quotes precede it (quotes inside a quoted
    field are doubled, so the parity holds)."""
    cut = buffer.rfind(b"\n")
    while cut >= 0:
        if buffer.count(b'"', 0, cut) % 2 == 0:
            return cut + 1
        cut = buffer.rfind(b"\n", 0, cut)
    return 0


def _copy_frames(
    connection: Connection, statement: Any, out: list[Field], names: list[str], batch_size: int
) -> Generator[pl.DataFrame, None, None]:
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    sql = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
    raw: Any = connection.connection.driver_connection
    target = max(batch_size * COPY_BYTES_PER_ROW, 1 << 16)
    buffer = bytearray()
    waiting: pl.DataFrame | None = None
    sent = False

    def ready(frame: pl.DataFrame) -> Generator[pl.DataFrame, None, None]:
        nonlocal waiting, sent
        if waiting is not None:
            frame = pl.concat([waiting, frame])
        while frame.height >= batch_size:
            sent = True
            yield frame.slice(0, batch_size)
            frame = frame.slice(batch_size)
        waiting = frame

    # psycopg binds the parameters client-side (COPY takes no server-side parameters).
    with raw.cursor() as cursor, cursor.copy(sql, compiled.params) as copy:
        for block in copy:
            buffer += block
            if len(buffer) < target:
                continue
            end = _row_end(buffer)
            if end:
                yield from ready(_from_csv(out, names, bytes(buffer[:end])))
                del buffer[:end]
    if buffer:
        yield from ready(_from_csv(out, names, bytes(buffer)))
    if waiting is not None and (waiting.height or not sent):
        yield waiting
    elif not sent:
        yield _from_csv(out, names, b"")
