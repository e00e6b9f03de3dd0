"""Schema versions of a dataset: reading them, and moving to a new one.

Each change makes a new version with its own row table; stored rows follow when they stay
valid. A foreign key to another department's dataset needs that the owning department may
read the referenced fields (else it would reveal them, one probe at a time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cityos.audit import service as audit
from cityos.audit.service import Actor
from cityos.datahub import access, compat, elements, physical, schema_parse, storage
from cityos.datahub.models import Dataset, SchemaVersion
from cityos.datahub.tableschema import TableSchema, from_resolved
from cityos.db import utcnow
from cityos.errors import Conflict, Forbidden, NotFound, Unprocessable


def _find_dataset(db_session: Session, name: str) -> Dataset | None:
    return db_session.scalar(select(Dataset).where(Dataset.name == name))


def _get_dataset(db_session: Session, name: str) -> Dataset:
    dataset = _find_dataset(db_session, name)
    if dataset is None:
        raise NotFound(f"There is no dataset called {name!r}. See GET /api/data for the list.")
    return dataset


def _version_row(db_session: Session, dataset_id: int, version: int) -> SchemaVersion:
    row = db_session.scalar(
        select(SchemaVersion).where(
            SchemaVersion.dataset_id == dataset_id, SchemaVersion.version == version
        )
    )
    if row is None:
        raise NotFound(f"The dataset has no schema version {version}.")
    return row


def schema_at(db_session: Session, *, dataset: Dataset, version: int) -> TableSchema:
    return from_resolved(_version_row(db_session, dataset.id, version).descriptor)


def current_schema(db_session: Session, *, dataset: Dataset) -> TableSchema | None:
    if dataset.schema_version is None:
        return None
    return schema_at(db_session, dataset=dataset, version=dataset.schema_version)


def schema_versions(db_session: Session, *, dataset: Dataset) -> list[SchemaVersion]:
    return list(
        db_session.scalars(
            select(SchemaVersion)
            .where(SchemaVersion.dataset_id == dataset.id)
            .order_by(SchemaVersion.version)
        )
    )


class Migration:
    """What to do with stored rows when a new schema version would break them."""

    EMPTY = "empty"  # start the new version empty; load the data again


def set_schema(
    db_session: Session,
    *,
    name: str,
    descriptor: Mapping[str, Any],
    actor: Actor,
    note: str = "",
    migration: str | None = None,
) -> SchemaVersion:
    """Give a dataset a new schema version (a no-op when nothing changed).

    Stored rows move to the new version's table when the change keeps them valid (added
    optional fields, looser constraints). A breaking change is refused while rows are stored
    unless ``migration="empty"``: the new version starts empty.
    """
    dataset = _get_dataset(db_session, name)

    def other(other_name: str) -> TableSchema | None:
        found = _find_dataset(db_session, other_name)
        return current_schema(db_session, dataset=found) if found else None

    schema = schema_parse.parse_schema(
        descriptor, elements=elements.elements_by_code(db_session), other_datasets=other
    )
    _check_references(db_session, owner=dataset, schema=schema)
    resolved = schema.to_descriptor()
    old = current_schema(db_session, dataset=dataset)
    if old is not None and old.to_descriptor() == resolved:
        return _version_row(db_session, dataset.id, dataset.schema_version or 0)
    if migration not in (None, Migration.EMPTY):
        raise Unprocessable(f"migration={migration!r}: the only choice is 'empty'.")
    copy_rows = False
    if old is not None and dataset.row_count:
        breaking = compat.breaking_changes(old, schema)
        if breaking and migration != Migration.EMPTY:
            raise Conflict(
                f"This schema change would break the {dataset.row_count:,} stored rows: "
                + "; ".join(breaking)
                + ". Keep the old schema, or pass migration=empty to start a new version "
                "empty and load the data again.",
                details=breaking,
            )
        copy_rows = not breaking
    version = (dataset.schema_version or 0) + 1
    row = SchemaVersion(
        dataset_id=dataset.id,
        version=version,
        descriptor=resolved,
        note=note,
        created_by=actor.label,
    )
    db_session.add(row)
    connection = db_session.connection()
    new_table = physical.table_for(schema, dataset_id=dataset.id, version=version)
    storage.drop_table(connection, new_table)  # a table left behind by a failed attempt
    storage.create_table(connection, new_table, indexes=False)  # built after the copy
    count = 0
    if copy_rows and old is not None and dataset.schema_version is not None:
        old_table = physical.table_for(old, dataset_id=dataset.id, version=dataset.schema_version)
        pairs: list[tuple[str, str]] = []
        for new_field in schema.fields:
            if old.has_field(new_field.name):
                pairs.extend(zip(old.field(new_field.name).columns, new_field.columns, strict=True))
        source = select(old_table.c[physical.ROW], *(old_table.c[a] for a, _ in pairs))
        connection.execute(
            insert(new_table).from_select([physical.ROW, *(b for _, b in pairs)], source)
        )
        count = dataset.row_count
    storage.create_indexes(connection, new_table)
    dataset.schema_version = version
    dataset.row_count = count
    if not copy_rows:
        dataset.data_updated_at = dataset.data_updated_at if count else None
    dataset.updated_at = utcnow()
    db_session.flush()
    audit.record(
        db_session,
        actor=actor,
        action="datahub.schema.set",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"schema version {version}" + (f" ({count:,} rows kept)" if copy_rows else ""),
        after={"version": version, "fields": schema.names, "note": note},
    )
    return row


def _check_references(db_session: Session, *, owner: Dataset, schema: TableSchema) -> None:
    """Refuse foreign keys to fields of other datasets the owning department may not read."""
    for key in schema.foreign_keys:
        if not key.resource or key.resource == owner.name:
            continue
        target = _get_dataset(db_session, key.resource)
        target_schema = current_schema(db_session, dataset=target)
        if target_schema is None:
            continue  # parse_schema has said so already
        seen = access.department_access(
            db_session, dataset=target, schema=target_schema, department_id=owner.department_id
        )
        unseen = [
            name for name in key.reference_fields if not seen.allowed or name not in seen.visible
        ]
        if unseen:
            raise Forbidden(
                f"The foreign key to {target.name} ({', '.join(unseen)}) needs that "
                f"{owner.department.code} may read those fields, and it may not. "
                + access.how_to_ask(target, fields=unseen)
            )
