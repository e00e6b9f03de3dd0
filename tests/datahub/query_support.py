"""Shared by the query, export and masking tests: a small dataset table written directly.

The physical table is made with :func:`cityos.datahub.physical.table_for` and filled with
SQLAlchemy Core (no ingest), so these tests check the query side alone. The dataset is a
transient ``Dataset`` (only its id, name and stamps are read).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.orm import Session

from cityos.datahub import physical
from cityos.datahub.access import ReadAccess
from cityos.datahub.models import Dataset
from cityos.datahub.tableschema import FieldType, TableSchema, from_resolved

DESCRIPTOR: dict[str, Any] = {
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "district", "type": "string", "filterable": True},
        {"name": "count", "type": "integer"},
        {"name": "score", "type": "number"},
        {"name": "open", "type": "boolean"},
        {"name": "opened", "type": "date"},
        {"name": "updated", "type": "datetime"},
        {"name": "location", "type": "geopoint"},
        {"name": "phone", "type": "string", "sensitive": True, "mask": "partial"},
        {"name": "id_card", "type": "string", "sensitive": True},
        {"name": "tags", "type": "array"},
        {"name": "note", "type": "string"},
    ]
}
SCHEMA = from_resolved(DESCRIPTOR)
NAMES = SCHEMA.names


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# name, district, count, score, open, opened, updated, location, phone, id_card, tags, note
ROWS: list[tuple[Any, ...]] = [
    ("Oak", "east", 5, 1.5, True, date(2024, 1, 5), _t("2024-01-05T08:00:00"),
     (116.40, 39.90), "13812345678", "110101199003071234", '["a", "b"]', "=1+2"),
    ("Pine", "west", 3, None, False, date(2024, 2, 1), _t("2024-02-01T00:30:00"),
     (116.50, 39.95), "13900001111", "110101198001011235", "[]", "plain"),
    ("Elm", "east", None, 2.5, True, None, None,
     None, None, None, None, "+cmd"),
    ("Maple", "north", 10, 0.5, None, date(2023, 12, 31), _t("2023-12-31T23:59:59.500000"),
     (117.00, 40.50), "13700002222", None, '["c"]', "-5"),
    ("50% off", "south", 7, 9.0, False, date(2024, 3, 3), _t("2024-03-03T12:00:00"),
     (116.45, 39.92), None, None, None, "under_score"),
    ("oak grove", "east", 5, 1.5, True, date(2024, 1, 6), _t("2024-01-06T09:00:00"),
     (116.41, 39.91), None, None, None, "@home"),
    ("Birch", None, 1, 3.0, False, date(2024, 4, 1), _t("2024-04-01T00:00:00"),
     (115.00, 38.00), None, None, None, "tab\tinside"),
    ("Cedar", "west", 8, -2.0, True, date(2024, 1, 5), _t("2024-01-05T08:00:00"),
     (116.60, 39.80), None, None, None, "line\nbreak"),
    ("Ash", "north", 2, 4.0, None, date(2024, 5, 5), _t("2024-05-05T05:05:05"),
     (116.42, 39.93), None, None, None, 'say "hi", ok'),
    ("Yew", "south", 5, None, True, date(2024, 1, 5), _t("2024-06-01T00:00:00"),
     None, None, None, None, "东城区"),
]  # fmt: skip

OWNER = ReadAccess(True, "owner", True, frozenset(NAMES), frozenset(), frozenset())
READER = ReadAccess(
    True,
    "open data",
    False,
    frozenset(NAMES) - {"phone", "id_card"},
    frozenset({"phone"}),
    frozenset({"id_card"}),
)


def record(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(NAMES, values, strict=True))


def physical_row(schema: TableSchema, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for data_field in schema.fields:
        value = values.get(data_field.name)
        if data_field.type is FieldType.GEOPOINT:
            lon, lat = value if value is not None else (None, None)
            out[data_field.columns[0]] = lon
            out[data_field.columns[1]] = lat
        else:
            out[data_field.column] = value
    return out


@dataclass
class Loaded:
    db: Session
    dataset: Dataset
    schema: TableSchema
    version: int
    table: Table

    def connect(self) -> AbstractContextManager[Connection]:
        """The session's own connection (it sees the uncommitted test rows)."""
        return nullcontext(self.db.connection())


def load(
    db: Session,
    *,
    schema: TableSchema = SCHEMA,
    rows: list[dict[str, Any]] | None = None,
    dataset_id: int = 9001,
    name: str = "trees",
) -> Loaded:
    version = 1
    table = physical.table_for(schema, dataset_id=dataset_id, version=version)
    connection = db.connection()
    table.create(connection)
    given = [record(values) for values in ROWS] if rows is None else rows
    if given:
        connection.execute(insert(table), [physical_row(schema, row) for row in given])
    stamp = datetime(2024, 6, 2, 10, 0, tzinfo=UTC)
    dataset = Dataset(
        id=dataset_id,
        name=name,
        title_en=name.title(),
        title_zh="",
        access="open",
        schema_version=version,
        row_count=len(given),
        data_updated_at=stamp,
        updated_at=stamp,
    )
    return Loaded(db, dataset, schema, version, table)


def loaded_table(db: Session, **kwargs: Any) -> Iterator[Loaded]:
    """:func:`load` for a fixture; rolls back and drops the table afterwards."""
    made = load(db, **kwargs)
    yield made
    db.rollback()
    made.table.drop(db.connection(), checkfirst=True)
    db.commit()
