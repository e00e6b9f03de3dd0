"""Datasets, files and helpers of the ingest tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, inspect, select
from sqlalchemy.orm import Session

from cityos.datahub import ingest, physical, service
from cityos.datahub.ingest import LoadOptions
from cityos.datahub.models import Dataset, Load, LoadMode, OnError
from cityos.datahub.tableschema import TableSchema
from tests.datahub.conftest import TEST_ACTOR

STATIONS = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string", "constraints": {"required": True, "maxLength": 40}},
        {"name": "pm25", "type": "number", "constraints": {"minimum": 0}},
        {"name": "measured", "type": "date"},
        {"name": "parent", "type": "integer"},
    ],
    "primaryKey": ["id"],
    "foreignKeys": [{"fields": ["parent"], "reference": {"resource": "", "fields": ["id"]}}],
}
HEADER = ["id", "name", "pm25", "measured", "parent"]


def csv_file(folder: Path, lines: Sequence[str], name: str = "upload.csv") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good_lines(ids: Iterable[int], *, name: str = "Station") -> list[str]:
    return [",".join(HEADER), *(f"{i},{name} {i},{i * 1.5},2024-05-01," for i in ids)]


def schema_of(db: Session, dataset: Dataset) -> TableSchema:
    schema = service.current_schema(db, dataset=dataset)
    assert schema is not None
    return schema


def table_of(db: Session, dataset: Dataset) -> Table:
    return physical.table_for(
        schema_of(db, dataset), dataset_id=dataset.id, version=dataset.schema_version or 1
    )


def stored(db: Session, dataset: Dataset, column: str = "f0") -> list[Any]:
    table = table_of(db, dataset)
    if not inspect(db.connection()).has_table(table.name):
        return []
    query = select(table.c[column]).order_by(table.c["_row"])
    return list(db.scalars(query))


def load(
    db: Session,
    dataset: Dataset,
    path: Path,
    *,
    mode: LoadMode = LoadMode.APPEND,
    on_error: OnError = OnError.REJECT,
    **options: Any,
) -> Load:
    return ingest.load_file(
        db,
        dataset=dataset,
        schema=schema_of(db, dataset),
        version=dataset.schema_version or 1,
        path=path,
        filename=path.name,
        options=LoadOptions(mode=mode, on_error=on_error, **options),
        actor=TEST_ACTOR,
        area_codes=frozenset(),
    )


def errors_of(done: Load) -> dict[tuple[str, str | None], Mapping[str, Any]]:
    return {(e["type"], e["field"]): e for e in done.report["errors"]}
