"""foundation: accounts, audit log, areas

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityos.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["auth_departments.id"],
            name=op.f("fk_auth_departments_parent_id_auth_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_auth_departments_code")),
    )
    with op.batch_alter_table("auth_departments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_departments_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "auth_login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_login_failures")),
    )
    with op.batch_alter_table("auth_login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_login_failures_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_auth_login_failures_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_auth_login_failures_ip"), ["ip"], unique=False)

    op.create_table(
        "geo_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("geometry_wkb", sa.LargeBinary(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("label_lon", sa.Float(), nullable=False),
        sa.Column("label_lat", sa.Float(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["geo_areas.id"],
            name=op.f("fk_geo_areas_parent_id_geo_areas"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geo_areas")),
        sa.UniqueConstraint("code", name=op.f("uq_geo_areas_code")),
    )
    with op.batch_alter_table("geo_areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_geo_areas_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_geo_areas_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "geo_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geo_revision")),
    )
    op.create_table(
        "instance_values",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=4000), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_instance_values")),
    )
    op.create_table(
        "auth_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["auth_departments.id"],
            name=op.f("fk_auth_users_department_id_auth_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_users")),
        sa.UniqueConstraint("email", name=op.f("uq_auth_users_email")),
    )
    with op.batch_alter_table("auth_users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_users_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["auth_users.id"],
            name=op.f("fk_audit_log_actor_user_id_auth_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_actor_user_id"), ["actor_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "auth_api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_api_keys_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_auth_api_keys_prefix")),
    )
    with op.batch_alter_table("auth_api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "auth_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_sessions_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_auth_sessions")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "auth_user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_user_roles_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_auth_user_roles")),
    )

    _make_audit_log_append_only()


def _make_audit_log_append_only() -> None:
    """Refuse UPDATE and DELETE on the audit log at the database itself."""
    message = "audit_log is append-only"
    if op.get_context().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse()")
    op.drop_table("auth_user_roles")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_user_id"))

    op.drop_table("auth_sessions")
    with op.batch_alter_table("auth_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_api_keys_user_id"))

    op.drop_table("auth_api_keys")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_user_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
    with op.batch_alter_table("auth_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_users_department_id"))

    op.drop_table("auth_users")
    op.drop_table("instance_values")
    op.drop_table("geo_revision")
    with op.batch_alter_table("geo_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_geo_areas_parent_id"))
        batch_op.drop_index(batch_op.f("ix_geo_areas_level"))

    op.drop_table("geo_areas")
    with op.batch_alter_table("auth_login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_login_failures_ip"))
        batch_op.drop_index(batch_op.f("ix_auth_login_failures_email"))
        batch_op.drop_index(batch_op.f("ix_auth_login_failures_at"))

    op.drop_table("auth_login_failures")
    with op.batch_alter_table("auth_departments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_departments_parent_id"))

    op.drop_table("auth_departments")
