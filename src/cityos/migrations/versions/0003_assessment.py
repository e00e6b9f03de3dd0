"""assessment: frameworks, units, peer groups, indicator values, runs and plans

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:44:59.197975
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityos.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assess_frameworks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("name_zh", sa.String(length=300), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_frameworks")),
        sa.UniqueConstraint("code", name=op.f("uq_assess_frameworks_code")),
    )
    op.create_table(
        "assess_peer_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_peer_groups")),
        sa.UniqueConstraint("code", name=op.f("uq_assess_peer_groups_code")),
    )
    op.create_table(
        "assess_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("framework_code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("units", sa.String(length=300), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_runs")),
    )
    with op.batch_alter_table("assess_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assess_runs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_assess_runs_framework_code"), ["framework_code"], unique=False
        )

    op.create_table(
        "assess_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("is_home", sa.Boolean(), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_units")),
        sa.UniqueConstraint("code", name=op.f("uq_assess_units_code")),
    )
    op.create_table(
        "assess_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("framework_code", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["assess_units.code"],
            name=op.f("fk_assess_plans_unit_code_assess_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_plans")),
    )
    with op.batch_alter_table("assess_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assess_plans_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "assess_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["assess_units.code"],
            name=op.f("fk_assess_values_unit_code_assess_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_values")),
        sa.UniqueConstraint(
            "unit_code", "indicator_code", "year", name=op.f("uq_assess_values_unit_code")
        ),
    )
    with op.batch_alter_table("assess_values", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assess_values_indicator_code"), ["indicator_code"], unique=False
        )

    op.create_table(
        "assess_plan_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("baseline_year", sa.Integer(), nullable=False),
        sa.Column("baseline_value", sa.Float(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["assess_plans.id"],
            name=op.f("fk_assess_plan_targets_plan_id_assess_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_plan_targets")),
    )
    with op.batch_alter_table("assess_plan_targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assess_plan_targets_plan_id"), ["plan_id"], unique=False
        )

    op.create_table(
        "assess_countermeasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["assess_plans.id"],
            name=op.f("fk_assess_countermeasures_plan_id_assess_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["assess_plan_targets.id"],
            name=op.f("fk_assess_countermeasures_target_id_assess_plan_targets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_countermeasures")),
    )
    with op.batch_alter_table("assess_countermeasures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assess_countermeasures_plan_id"), ["plan_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_assess_countermeasures_target_id"), ["target_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("assess_countermeasures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assess_countermeasures_target_id"))
        batch_op.drop_index(batch_op.f("ix_assess_countermeasures_plan_id"))

    op.drop_table("assess_countermeasures")
    with op.batch_alter_table("assess_plan_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assess_plan_targets_plan_id"))

    op.drop_table("assess_plan_targets")
    with op.batch_alter_table("assess_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assess_values_indicator_code"))

    op.drop_table("assess_values")
    with op.batch_alter_table("assess_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assess_plans_unit_code"))

    op.drop_table("assess_plans")
    op.drop_table("assess_units")
    with op.batch_alter_table("assess_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assess_runs_framework_code"))
        batch_op.drop_index(batch_op.f("ix_assess_runs_created_at"))

    op.drop_table("assess_runs")
    op.drop_table("assess_peer_groups")
    op.drop_table("assess_frameworks")
