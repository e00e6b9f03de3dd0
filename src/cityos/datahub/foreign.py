"""Foreign keys into other datasets, at load time: may the owning department still read
the referenced fields, and which values do they hold.

A foreign key into another department's dataset was allowed when the schema was set
because the owning department could read the referenced fields then. A grant may have
expired or been revoked since: checking a load against those fields would reveal, row by
row, which values they hold. So every load (and dry run) checks again, and refuses with
:class:`~cityos.errors.Forbidden` — saying how to ask for access — before it reads the
file.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from cityos.datahub import access, keys, physical, storage
from cityos.datahub.models import Dataset, SchemaVersion
from cityos.datahub.tableschema import ForeignKey, TableSchema, from_resolved
from cityos.errors import Forbidden


def target(db_session: Session, name: str) -> tuple[Dataset, TableSchema] | None:
    """The dataset called ``name`` and its current schema (None: no such dataset, or no
    schema yet)."""
    other = db_session.scalar(select(Dataset).where(Dataset.name == name))
    if other is None or other.schema_version is None:
        return None
    version = db_session.scalar(
        select(SchemaVersion).where(
            SchemaVersion.dataset_id == other.id,
            SchemaVersion.version == other.schema_version,
        )
    )
    if version is None:
        return None
    return other, from_resolved(version.descriptor)


def require_readable(db_session: Session, *, dataset: Dataset, schema: TableSchema) -> None:
    """Refuse when ``dataset``'s department may not read (plainly) every field its foreign
    keys reference in other datasets."""
    for foreign_key in schema.foreign_keys:
        if foreign_key.resource in ("", dataset.name):
            continue
        found = target(db_session, foreign_key.resource)
        if found is None:
            continue  # the key check reports every value as referring to nothing
        other, other_schema = found
        seen = access.department_access(
            db_session, dataset=other, schema=other_schema, department_id=dataset.department_id
        )
        unseen = [
            name
            for name in foreign_key.reference_fields
            if not seen.allowed or name not in seen.visible
        ]
        if unseen:
            department = dataset.department.code
            raise Forbidden(
                f"The foreign key ({', '.join(foreign_key.fields)}) of {dataset.name} refers to "
                f"{other.name} ({', '.join(unseen)}), which {department} may no longer read "
                "(a grant expired or was revoked), so nothing was loaded. "
                + access.how_to_ask(other, fields=unseen),
                details={"dataset": other.name, "fields": unseen},
            )


def values(db_session: Session, connection: Connection, schema: TableSchema) -> keys.ForeignValues:
    """The stored values a foreign key of ``schema`` refers to, renamed to this file's
    physical columns (see :data:`cityos.datahub.keys.ForeignValues`)."""

    def referenced(foreign_key: ForeignKey) -> pl.DataFrame | None:
        found = target(db_session, foreign_key.resource)
        if found is None:
            return None
        other, their_schema = found
        version = other.schema_version or 0
        table = physical.table_for(their_schema, dataset_id=other.id, version=version)
        if not storage.has_table(connection, table):
            return None
        theirs = keys.physical_columns(their_schema, foreign_key.reference_fields)
        ours = keys.physical_columns(schema, foreign_key.fields)
        if len(ours) != len(theirs):
            return None
        frame = storage.distinct_values(connection, table, theirs)
        return frame.rename(dict(zip(theirs, ours, strict=True)))

    return referenced
