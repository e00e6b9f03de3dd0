"""The physical table of a dataset's schema version: its name, columns and indexes.

``dh_<dataset id>_v<version>`` with ``_row`` (the load order, the keyset tie-breaker) and
one column per field (two for a geopoint). The tables live in their own ``MetaData`` so
Alembic never sees them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from cityos.datahub.tableschema import Field, FieldType, TableSchema

TABLE_PREFIX = "dh_"
ROW = "_row"


def table_name(dataset_id: int, version: int) -> str:
    return f"{TABLE_PREFIX}{dataset_id}_v{version}"


def sql_type(data_field: Field) -> TypeEngine[Any]:
    """The column type of a (non-geopoint) field."""
    kind = data_field.type
    if kind is FieldType.INTEGER:
        return BigInteger()
    if kind is FieldType.YEAR:
        return Integer()
    if kind is FieldType.NUMBER:
        return Double()
    if kind is FieldType.BOOLEAN:
        return Boolean()
    if kind is FieldType.DATE:
        return Date()
    if kind is FieldType.DATETIME:
        return DateTime(timezone=True)
    # string, time, yearmonth, duration: text; object, array, list, geojson, any: JSON text
    return Text()


def _key_columns(schema: TableSchema, names: tuple[str, ...]) -> list[str]:
    columns: list[str] = []
    for name in names:
        columns.extend(schema.field(name).columns)
    return columns


def table_for(schema: TableSchema, *, dataset_id: int, version: int) -> Table:
    """A fresh ``Table`` (in a private MetaData) for this schema version.

    Indexes: a unique one on the primary key and on each unique key, and a plain one on
    every foreign-key field, each declared ``indexes`` entry (e.g. a filter field and the
    sort field together), every ``filterable`` field and every geopoint (an index that
    another index already starts with is left out).
    """
    name = table_name(dataset_id, version)
    metadata = MetaData()
    columns: list[Column[Any]] = [
        Column(ROW, BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    ]
    for data_field in schema.fields:
        if data_field.type is FieldType.GEOPOINT:
            lon, lat = data_field.columns
            columns.append(Column(lon, Double()))
            columns.append(Column(lat, Double()))
        else:
            columns.append(Column(data_field.column, sql_type(data_field)))
    table = Table(name, metadata, *columns)
    made: set[tuple[str, ...]] = set()

    def index(cols: list[str], *, unique: bool) -> None:
        key = tuple(cols)
        if not cols or key in made or (not unique and _covered(cols, made)):
            return
        made.add(key)
        Index(f"ix_{name}_{len(made)}", *(table.c[c] for c in cols), unique=unique)

    if schema.primary_key:
        index(_key_columns(schema, schema.primary_key), unique=True)
    for unique_key in schema.unique_keys:
        index(_key_columns(schema, unique_key), unique=True)
    for data_field in schema.fields:
        if data_field.constraints.unique:
            index(list(data_field.columns), unique=True)
    for names in schema.indexes:  # before the single-field ones, which they may cover
        index(_key_columns(schema, names), unique=False)
    for foreign_key in schema.foreign_keys:
        index(_key_columns(schema, foreign_key.fields), unique=False)
    for data_field in schema.fields:
        if data_field.filterable or data_field.type is FieldType.GEOPOINT:
            index(list(data_field.columns), unique=False)
    return table


def _covered(cols: list[str], made: set[tuple[str, ...]]) -> bool:
    """Whether an index already starts with these columns (so it serves them too)."""
    return any(key[: len(cols)] == tuple(cols) for key in made)
