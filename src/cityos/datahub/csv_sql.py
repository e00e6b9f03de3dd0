"""CSV downloads written by PostgreSQL: the fast path of :mod:`cityos.datahub.export`.

``COPY (SELECT <one text expression per field> …) TO STDOUT (FORMAT csv)`` (values bound
client-side by psycopg); the COPY blocks are forwarded as they come, with the header line
(and byte-order mark) put in front — no parsing and no rewriting in Python.

SQLite keeps the polars path: building each line in SQLite's SQL (CASE, replace, float
text) costs more per row than fetching the values and letting polars write them.

The cells are those of the polars path (:func:`cityos.datahub.export.csv_frame`): text with
a leading ``'`` when a spreadsheet would run it, a geopoint ``"lon,lat"``, date-times ISO in
UTC with ``Z`` (fraction: none, milliseconds or microseconds, as polars' ``%.f``), booleans
``true``/``false``, missing values empty. Numbers are the database's shortest exact text
(``9`` on PostgreSQL where polars writes ``9.0``). Only used when no field is masked
(masking lives in polars); hidden fields are simply not selected.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from typing import Any

import polars as pl
from sqlalchemy import ColumnClause, Connection, Table, literal_column

from cityos.datahub import physical
from cityos.datahub.access import ReadAccess
from cityos.datahub.query import RowQuery, statement_for
from cityos.datahub.tableschema import Field, FieldType, TableSchema

FORMULA = r"^([=+\-@\t\r])"
CHUNK = 1 << 20


def usable(out: Sequence[Field], access: ReadAccess, dialect: str) -> bool:
    """Whether the database writes this download's cells (PostgreSQL, no masked field)."""
    if not out or any(f.name in access.masked for f in out):
        return False
    return dialect == "postgresql"


def header(out: Sequence[Field], *, bom: bool) -> bytes:
    """The header line as the polars path writes it (formula-like names neutralised)."""
    names = [re.sub(FORMULA, r"'\1", f.name) for f in out]
    text = pl.DataFrame(schema=dict.fromkeys(names, pl.String())).write_csv()
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_cell(data_field: Field, q: Any) -> str:
    """A text expression (NULL for a missing value) for one field."""
    kind = data_field.type
    if kind is FieldType.GEOPOINT:
        lon, lat = (q(name) for name in data_field.columns)
        return f"({lon}::text || ',' || {lat}::text)"
    col = q(data_field.column)
    if kind in (FieldType.INTEGER, FieldType.YEAR, FieldType.NUMBER):
        return f"{col}::text"
    if kind is FieldType.BOOLEAN:
        return f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
    if kind is FieldType.DATE:
        return f"{col}::text"  # ISO DateStyle (set for the COPY): YYYY-MM-DD
    if kind is FieldType.DATETIME:
        # whole seconds (the common case) through the cheap ISO text output of a timestamp
        # ("YYYY-MM-DD HH:MI:SS"); fractions as polars' %.f: milliseconds or microseconds.
        utc = f"({col} AT TIME ZONE 'UTC')"
        return (
            f"CASE WHEN date_trunc('second', {col}) = {col} "
            f"THEN replace(({utc})::text, ' ', 'T') "
            f"WHEN date_trunc('milliseconds', {col}) = {col} "
            f"THEN to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') "
            f"ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') END || 'Z'"
        )
    return (
        f"CASE WHEN left({col}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        f"THEN '''' || {col} ELSE {col} END"
    )


def _pg_chunks(connection: Connection, statement: Any) -> Generator[bytes, None, None]:
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    sql = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
    raw: Any = connection.connection.driver_connection
    buffer = bytearray()
    # psycopg binds the parameters client-side (COPY takes no server-side parameters).
    with raw.cursor() as cursor:
        # dates as YYYY-MM-DD whatever the server's default (for this transaction only)
        cursor.execute("SET LOCAL datestyle = 'ISO, YMD'")
        with cursor.copy(sql, compiled.params) as copy:
            for block in copy:
                buffer += block
                if len(buffer) >= CHUNK:
                    yield bytes(buffer)
                    buffer.clear()
    if buffer:
        yield bytes(buffer)


# --- the file ------------------------------------------------------------------------------


def chunks(
    connection: Connection,
    *,
    table: Table,
    schema: TableSchema,
    query: RowQuery,
    access: ReadAccess,
    out: Sequence[Field],
    bom: bool,
) -> Generator[bytes, None, None]:
    """The CSV file's bytes (header first); check :func:`usable` before."""
    preparer = connection.dialect.identifier_preparer

    def q(name: str) -> str:
        return f"{preparer.quote(table.name)}.{preparer.quote(name)}"

    statement = statement_for(table, schema, query, access, [physical.ROW], limit=query.limit)
    cells: list[ColumnClause[Any]] = [literal_column(_pg_cell(f, q)) for f in out]
    body = _pg_chunks(connection, statement.with_only_columns(*cells).select_from(table))
    yield header(out, bom=bom)
    try:
        yield from body
    finally:
        body.close()
