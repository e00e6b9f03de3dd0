"""datahub: data elements, datasets, schema versions, resources, loads, quarantine,
sharing requests and daily usage (dataset rows live in per-version ``dh_…`` tables)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 11:08:51.396185
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityos.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datahub_elements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("definition_zh", sa.Text(), nullable=False),
        sa.Column("definition_en", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=True),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("sensitivity", sa.String(length=16), nullable=False),
        sa.Column("mask", sa.String(length=16), nullable=True),
        sa.Column("example", sa.String(length=200), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datahub_elements")),
        sa.UniqueConstraint("code", name=op.f("uq_datahub_elements_code")),
    )
    op.create_table(
        "datahub_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title_zh", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("licence", sa.String(length=64), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("spatial", sa.String(length=200), nullable=False),
        sa.Column("temporal_start", sa.Date(), nullable=True),
        sa.Column("temporal_end", sa.Date(), nullable=True),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("access", sa.String(length=16), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("data_updated_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["auth_departments.id"],
            name=op.f("fk_datahub_datasets_department_id_auth_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datahub_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datahub_datasets_name")),
    )
    with op.batch_alter_table("datahub_datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_datahub_datasets_access"), ["access"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_datahub_datasets_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "datahub_loads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("on_error", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("encoding", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_loaded", sa.BigInteger(), nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("started_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datahub_datasets.id"],
            name=op.f("fk_datahub_loads_dataset_id_datahub_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datahub_loads")),
    )
    with op.batch_alter_table("datahub_loads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_datahub_loads_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "datahub_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("granted_fields", sa.JSON(), nullable=True),
        sa.Column("expires_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datahub_datasets.id"],
            name=op.f("fk_datahub_requests_dataset_id_datahub_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["auth_users.id"],
            name=op.f("fk_datahub_requests_decided_by_id_auth_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["auth_departments.id"],
            name=op.f("fk_datahub_requests_department_id_auth_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["auth_users.id"],
            name=op.f("fk_datahub_requests_requested_by_id_auth_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datahub_requests")),
    )
    with op.batch_alter_table("datahub_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_datahub_requests_dataset_id"), ["dataset_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_datahub_requests_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "datahub_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datahub_datasets.id"],
            name=op.f("fk_datahub_resources_dataset_id_datahub_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datahub_resources")),
        sa.UniqueConstraint("uuid", name=op.f("uq_datahub_resources_uuid")),
    )
    with op.batch_alter_table("datahub_resources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_datahub_resources_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "datahub_schemas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("descriptor", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datahub_datasets.id"],
            name=op.f("fk_datahub_schemas_dataset_id_datahub_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datahub_schemas")),
        sa.UniqueConstraint("dataset_id", "version", name=op.f("uq_datahub_schemas_dataset_id")),
    )
    with op.batch_alter_table("datahub_schemas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_datahub_schemas_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "datahub_usage",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("api_calls", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datahub_datasets.id"],
            name=op.f("fk_datahub_usage_dataset_id_datahub_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "day", name=op.f("pk_datahub_usage")),
    )
    op.create_table(
        "datahub_quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["load_id"],
            ["datahub_loads.id"],
            name=op.f("fk_datahub_quarantine_load_id_datahub_loads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datahub_quarantine")),
    )
    with op.batch_alter_table("datahub_quarantine", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_datahub_quarantine_load_id"), ["load_id"], unique=False
        )


def downgrade() -> None:
    bind = op.get_bind()
    for name in sa.inspect(bind).get_table_names():
        if name.startswith("dh_"):  # the datasets' row tables, made at run time
            op.drop_table(name)
    with op.batch_alter_table("datahub_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datahub_quarantine_load_id"))

    op.drop_table("datahub_quarantine")
    op.drop_table("datahub_usage")
    with op.batch_alter_table("datahub_schemas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datahub_schemas_dataset_id"))

    op.drop_table("datahub_schemas")
    with op.batch_alter_table("datahub_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datahub_resources_dataset_id"))

    op.drop_table("datahub_resources")
    with op.batch_alter_table("datahub_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datahub_requests_department_id"))
        batch_op.drop_index(batch_op.f("ix_datahub_requests_dataset_id"))

    op.drop_table("datahub_requests")
    with op.batch_alter_table("datahub_loads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datahub_loads_dataset_id"))

    op.drop_table("datahub_loads")
    with op.batch_alter_table("datahub_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datahub_datasets_department_id"))
        batch_op.drop_index(batch_op.f("ix_datahub_datasets_access"))

    op.drop_table("datahub_datasets")
    op.drop_table("datahub_elements")
