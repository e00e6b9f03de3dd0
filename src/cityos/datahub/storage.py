"""Writing typed rows into a dataset version's table, in bulk, in the caller's transaction.

PostgreSQL: ``COPY … FROM STDIN (FORMAT csv)`` through psycopg, fed by polars' CSV writer
(strings always quoted, so ``""`` is an empty string and an unquoted empty field is NULL).
SQLite: one DBAPI ``executemany`` per frame, dates and date-times as the ISO text
SQLAlchemy's ``Date``/``DateTime`` read back, booleans as 0/1.

Frames carry the table's physical columns (``f0``, ``f1_lon`` …; extra columns such as
``__row`` are ignored); ``_row`` is given by the database in insertion order. Table and
column names come from :mod:`cityos.datahub.physical` (never from a file), and values are
always sent as data, never as SQL text.

:func:`store` is a load's whole write: into an empty table (a new one, or a replace) the
rows go in without the secondary indexes, which are built afterwards (far cheaper than
keeping them up to date row by row); into a table with rows (append, upsert) they go in
normally. Everything — the ``CREATE TABLE`` too, also on SQLite — happens in the caller's
transaction, so a rollback leaves no trace.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table, delete, func, inspect, select
from sqlalchemy.schema import CreateTable

from cityos.datahub.models import LoadMode
from cityos.datahub.physical import ROW
from cityos.datahub.tableschema import TableSchema

_COPY_CHUNK_ROWS = 50_000
_SQLITE_CHUNK_ROWS = 20_000
# SQLite's page cache while a load writes (KiB, as PRAGMA cache_size takes negative
# numbers); the default 2 MiB makes big inserts and index builds spill constantly.
_SQLITE_LOAD_CACHE_KIB = 64 * 1024
# PostgreSQL's memory for building the indexes after a load (this transaction only).
_POSTGRES_INDEX_MEMORY = "256MB"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _data_columns(table: Table, frame: pl.DataFrame) -> list[str]:
    """The table's columns that the frame carries, in the table's order."""
    present = set(frame.columns)
    return [c.name for c in table.columns if c.name != ROW and c.name in present]


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def begin(connection: Connection) -> None:
    """Make sure a database transaction is open, so DDL belongs to it.

    Python's sqlite3 module only opens one before INSERT/UPDATE/DELETE: a ``CREATE TABLE``
    outside one would commit at once and survive the caller's rollback.
    """
    if _is_postgres(connection):
        return  # psycopg opens the transaction with the first statement, DDL included
    raw: Any = connection.connection.driver_connection
    if not raw.in_transaction:
        raw.execute("BEGIN")


def has_table(connection: Connection, table: Table) -> bool:
    return bool(inspect(connection).has_table(table.name))


def create_table(connection: Connection, table: Table, *, indexes: bool = True) -> bool:
    """Create the table (and, unless ``indexes=False``, its indexes) unless it exists;
    whether it was created."""
    begin(connection)
    if has_table(connection, table):
        return False
    connection.execute(CreateTable(table))
    if indexes:
        create_indexes(connection, table)
    return True


def drop_table(connection: Connection, table: Table) -> None:
    begin(connection)
    table.drop(connection, checkfirst=True)


def create_indexes(connection: Connection, table: Table) -> None:
    """Build the table's indexes that are missing (unique ones refuse repeated keys)."""
    begin(connection)
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        index.create(connection, checkfirst=True)


def drop_indexes(connection: Connection, table: Table) -> None:
    begin(connection)
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        index.drop(connection, checkfirst=True)


def is_empty(connection: Connection, table: Table) -> bool:
    return connection.execute(select(table.c[ROW]).limit(1)).first() is None


def delete_all(connection: Connection, table: Table) -> int:
    result = connection.execute(delete(table))
    return int(result.rowcount or 0)


def _empty(connection: Connection, table: Table) -> None:
    """Remove every row (PostgreSQL: ``TRUNCATE``, which is transactional there)."""
    if _is_postgres(connection):
        connection.exec_driver_sql(f"TRUNCATE {_quote(table.name)}")
    else:
        delete_all(connection, table)


@contextmanager
def _load_settings(connection: Connection) -> Iterator[None]:
    """Database settings for one bulk write: SQLite gets a bigger page cache for the
    connection (restored afterwards); PostgreSQL more memory to build indexes (``SET
    LOCAL``: this transaction only). Durability settings are left alone."""
    if _is_postgres(connection):
        connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_POSTGRES_INDEX_MEMORY}'")
        yield
        return
    raw: Any = connection.connection.driver_connection
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{_SQLITE_LOAD_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


def store(
    connection: Connection,
    table: Table,
    schema: TableSchema,
    frames: Iterable[pl.DataFrame],
    *,
    mode: LoadMode,
) -> int:
    """A load's write, in the caller's transaction: create the table if needed, empty it
    for ``replace``, then insert (``upsert``: insert or update on the primary key); the
    number of rows written.

    When the table starts empty (new, replace, or simply no rows yet) its indexes are
    dropped and built again after the rows are in. The rows must already be free of
    repeated keys (the load's key checks); if one slips through, building the unique
    index fails and the caller's rollback restores the table as it was.
    """
    with _load_settings(connection):
        bare = create_table(connection, table, indexes=False)
        if not bare and (mode is LoadMode.REPLACE or is_empty(connection, table)):
            drop_indexes(connection, table)
            if mode is LoadMode.REPLACE:
                _empty(connection, table)
            bare = True
        if bare or mode is not LoadMode.UPSERT:  # into an empty table, upsert = insert
            written = insert_frames(connection, table, frames)
        else:
            written = upsert_frames(connection, table, schema, frames)
        if bare:
            create_indexes(connection, table)
    return written


def count_rows(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def value_counts(connection: Connection, table: Table, columns: Sequence[str]) -> list[int]:
    """How many stored rows have a value (not NULL) in each of ``columns``: one SELECT."""
    if not columns:
        return []
    counts = [func.count(table.c[name]) for name in columns]
    return [int(count) for count in connection.execute(select(*counts)).one()]


def distinct_values(connection: Connection, table: Table, columns: Sequence[str]) -> pl.DataFrame:
    """The distinct non-null combinations of ``columns`` stored in ``table``.

    Dates come back as dates and date-times as UTC (SQLite stores them naive).
    """
    chosen = [table.c[name] for name in columns]
    query = select(*chosen).where(*(column.is_not(None) for column in chosen)).distinct()
    rows = connection.execute(query).all()
    frame = pl.DataFrame(
        [tuple(row) for row in rows], schema=list(columns), orient="row", infer_schema_length=None
    )
    fixes = [
        pl.col(name).dt.replace_time_zone("UTC")
        if dtype.time_zone is None
        else pl.col(name).dt.convert_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone != "UTC"
    ]
    return frame.with_columns(fixes) if fixes else frame


existing_keys = distinct_values


# --- inserting -----------------------------------------------------------------------------


def _sqlite_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Values the sqlite3 module stores without adapters, as SQLAlchemy reads them back."""
    fixes: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            column = pl.col(name)
            if dtype.time_zone is not None:
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            fixes.append(column.dt.strftime("%Y-%m-%d %H:%M:%S%.6f").alias(name))
        elif isinstance(dtype, pl.Date):
            fixes.append(pl.col(name).dt.strftime("%Y-%m-%d").alias(name))
        elif isinstance(dtype, pl.Boolean):
            fixes.append(pl.col(name).cast(pl.Int8).alias(name))
    return frame.with_columns(fixes) if fixes else frame


def _insert_sql(
    table: str, columns: Sequence[str], *, values: str, upsert_on: Sequence[str] = ()
) -> str:
    """``INSERT INTO table (columns) <values> [ON CONFLICT (key) DO UPDATE …]``.

    Every identifier comes from :mod:`cityos.datahub.physical`; values are bound or copied.
    """
    names = ", ".join(map(_quote, columns))
    sql = f"INSERT INTO {_quote(table)} ({names}) {values}"
    if upsert_on:
        updates = [c for c in columns if c not in upsert_on]
        target = ", ".join(map(_quote, upsert_on))
        if updates:
            sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in updates)
            sql += f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        else:
            sql += f" ON CONFLICT ({target}) DO NOTHING"
    return sql


def _sqlite_insert(
    connection: Connection,
    table: Table,
    frames: Iterable[pl.DataFrame],
    *,
    upsert_on: Sequence[str] = (),
) -> int:
    raw: Any = connection.connection.driver_connection
    cursor = raw.cursor()
    done = 0
    try:
        for frame in frames:
            if frame.height == 0:
                continue
            columns = _data_columns(table, frame)
            marks = ", ".join("?" for _ in columns)
            sql = _insert_sql(table.name, columns, values=f"VALUES ({marks})", upsert_on=upsert_on)
            ready = _sqlite_ready(frame.select(columns))
            for chunk in ready.iter_slices(_SQLITE_CHUNK_ROWS):
                # rows zipped from whole columns (C loops), a little cheaper than .rows()
                values = [column.to_list() for column in chunk.iter_columns()]
                cursor.executemany(sql, zip(*values, strict=True))
            done += frame.height
    finally:
        cursor.close()
    return done


def _csv_chunks(frame: pl.DataFrame) -> Iterable[bytes]:
    for offset in range(0, frame.height, _COPY_CHUNK_ROWS):
        chunk = frame.slice(offset, _COPY_CHUNK_ROWS)
        buffer = io.BytesIO()
        # strings are always quoted: "" is an empty string, an unquoted empty field is NULL
        chunk.write_csv(
            buffer,
            include_header=False,
            quote_style="non_numeric",
            null_value="",
            datetime_format="%Y-%m-%dT%H:%M:%S%.6f%:z",
            float_precision=None,
        )
        yield buffer.getvalue()


def _postgres_copy(
    connection: Connection, table_name: str, frame: pl.DataFrame, columns: Sequence[str]
) -> None:
    raw: Any = connection.connection.driver_connection
    names = ", ".join(map(_quote, columns))
    sql = f"COPY {_quote(table_name)} ({names}) FROM STDIN (FORMAT csv)"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for data in _csv_chunks(frame.select(columns)):
            copy.write(data)


def insert_frames(connection: Connection, table: Table, frames: Iterable[pl.DataFrame]) -> int:
    """Append the rows of ``frames``; the number of rows written."""
    if not _is_postgres(connection):
        return _sqlite_insert(connection, table, frames)
    done = 0
    for frame in frames:
        if frame.height == 0:
            continue
        _postgres_copy(connection, table.name, frame, _data_columns(table, frame))
        done += frame.height
    return done


def upsert_frames(
    connection: Connection, table: Table, schema: TableSchema, frames: Iterable[pl.DataFrame]
) -> int:
    """Insert rows, or update the stored row with the same primary key; rows written.

    An updated row keeps its ``_row`` (its place in the load order).
    """
    key: list[str] = []
    for name in schema.primary_key:
        key.extend(schema.field(name).columns)
    if not key:
        raise ValueError("upsert needs a primary key")
    if not _is_postgres(connection):
        return _sqlite_insert(connection, table, frames, upsert_on=key)
    staging = f"{table.name}_upsert"
    done = 0
    created = False
    for frame in frames:
        if frame.height == 0:
            continue
        columns = _data_columns(table, frame)
        names = ", ".join(map(_quote, columns))
        if not created:
            like = f"SELECT {names} FROM {_quote(table.name)} WITH NO DATA"  # noqa: S608
            connection.exec_driver_sql(
                f"CREATE TEMP TABLE {_quote(staging)} ON COMMIT DROP AS {like}"
            )
            created = True
        else:
            connection.exec_driver_sql(f"TRUNCATE {_quote(staging)}")
        _postgres_copy(connection, staging, frame, columns)
        values = f"SELECT {names} FROM {_quote(staging)}"  # noqa: S608 - generated names
        connection.exec_driver_sql(_insert_sql(table.name, columns, values=values, upsert_on=key))
        done += frame.height
    if created:
        connection.exec_driver_sql(f"DROP TABLE {_quote(staging)}")
    return done
