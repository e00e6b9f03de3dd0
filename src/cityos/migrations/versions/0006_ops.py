"""ops: operator notes; covering indexes for the operations center's case figures

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityos.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_ref", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author_label", sa.String(length=200), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["auth_users.id"],
            name=op.f("fk_ops_notes_author_user_id_auth_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_notes")),
    )
    op.create_index("ix_ops_notes_target", "ops_notes", ["target_type", "target_ref", "created_at"])
    op.create_index(op.f("ix_ops_notes_created_at"), "ops_notes", ["created_at"])
    # Covering indexes (PostgreSQL INCLUDE; plain on SQLite): the figures are read from
    # the index alone.
    op.create_index(
        "ix_cases_cases_resolved_at",
        "cases_cases",
        ["resolved_at"],
        postgresql_include=[
            "status",
            "requested_at",
            "resolve_due_at",
            "department_id",
            "district_id",
            "subdistrict_id",
            "grid_id",
        ],
    )
    op.create_index(
        "ix_cases_cases_requested_cover",
        "cases_cases",
        ["requested_at"],
        postgresql_include=[
            "status",
            "reopen_count",
            "category_id",
            "district_id",
            "subdistrict_id",
            "grid_id",
        ],
    )
    op.create_index(
        "ix_cases_cases_status_area",
        "cases_cases",
        ["status", "district_id", "subdistrict_id", "grid_id", "next_due_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_cases_cases_status_area", table_name="cases_cases")
    op.drop_index("ix_cases_cases_requested_cover", table_name="cases_cases")
    op.drop_index("ix_cases_cases_resolved_at", table_name="cases_cases")
    op.drop_index(op.f("ix_ops_notes_created_at"), table_name="ops_notes")
    op.drop_index("ix_ops_notes_target", table_name="ops_notes")
    op.drop_table("ops_notes")
