"""sensing: SensorThings entities, observations, latest values, rollups, dead letters,
alert rules, rule states and alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 14:33:34.877812
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityos.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sensing_dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_dead_letters")),
    )
    with op.batch_alter_table("sensing_dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_dead_letters_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "sensing_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=100), nullable=False),
        sa.Column("location", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("grid_code", sa.String(length=64), nullable=True),
        sa.Column("district_code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_locations")),
    )
    with op.batch_alter_table("sensing_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_locations_district_code"), ["district_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sensing_locations_grid_code"), ["grid_code"], unique=False
        )

    op.create_table(
        "sensing_observed_properties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("definition", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_observed_properties")),
    )
    op.create_table(
        "sensing_sensors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=100), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_sensors")),
    )
    op.create_table(
        "sensing_things",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_things")),
    )
    op.create_table(
        "sensing_datastreams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit_of_measurement", sa.JSON(), nullable=False),
        sa.Column("observation_type", sa.String(length=200), nullable=False),
        sa.Column("observed_area", sa.JSON(), nullable=True),
        sa.Column("phenomenon_time_start", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("phenomenon_time_end", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_time_start", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_time_end", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("observed_property_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["observed_property_id"],
            ["sensing_observed_properties.id"],
            name=op.f("fk_sensing_datastreams_observed_property_id_sensing_observed_properties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensing_sensors.id"],
            name=op.f("fk_sensing_datastreams_sensor_id_sensing_sensors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["sensing_things.id"],
            name=op.f("fk_sensing_datastreams_thing_id_sensing_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_datastreams")),
    )
    with op.batch_alter_table("sensing_datastreams", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_datastreams_observed_property_id"),
            ["observed_property_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_sensing_datastreams_sensor_id"), ["sensor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sensing_datastreams_thing_id"), ["thing_id"], unique=False
        )

    op.create_table(
        "sensing_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=100), nullable=False),
        sa.Column("feature", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["sensing_locations.id"],
            name=op.f("fk_sensing_features_location_id_sensing_locations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_features")),
    )
    with op.batch_alter_table("sensing_features", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_features_location_id"), ["location_id"], unique=False
        )

    op.create_table(
        "sensing_historical_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("time", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["sensing_things.id"],
            name=op.f("fk_sensing_historical_locations_thing_id_sensing_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_historical_locations")),
    )
    with op.batch_alter_table("sensing_historical_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_historical_locations_thing_id"), ["thing_id"], unique=False
        )

    op.create_table(
        "sensing_multi_datastreams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit_of_measurements", sa.JSON(), nullable=False),
        sa.Column("observation_type", sa.String(length=200), nullable=False),
        sa.Column("multi_observation_data_types", sa.JSON(), nullable=False),
        sa.Column("observed_area", sa.JSON(), nullable=True),
        sa.Column("phenomenon_time_start", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("phenomenon_time_end", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_time_start", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_time_end", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensing_sensors.id"],
            name=op.f("fk_sensing_multi_datastreams_sensor_id_sensing_sensors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["sensing_things.id"],
            name=op.f("fk_sensing_multi_datastreams_thing_id_sensing_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_multi_datastreams")),
    )
    with op.batch_alter_table("sensing_multi_datastreams", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_multi_datastreams_sensor_id"), ["sensor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sensing_multi_datastreams_thing_id"), ["thing_id"], unique=False
        )

    op.create_table(
        "sensing_thing_locations",
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["sensing_locations.id"],
            name=op.f("fk_sensing_thing_locations_location_id_sensing_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["sensing_things.id"],
            name=op.f("fk_sensing_thing_locations_thing_id_sensing_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("thing_id", "location_id", name=op.f("pk_sensing_thing_locations")),
    )
    with op.batch_alter_table("sensing_thing_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_thing_locations_location_id"), ["location_id"], unique=False
        )

    op.create_table(
        "sensing_alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("datastream_id", sa.Integer(), nullable=True),
        sa.Column("observed_property_id", sa.Integer(), nullable=True),
        sa.Column("area_code", sa.String(length=64), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("clear_threshold", sa.Double(), nullable=True),
        sa.Column("duration_minutes", sa.Double(), nullable=False),
        sa.Column("open_case", sa.Boolean(), nullable=False),
        sa.Column("case_category", sa.String(length=64), nullable=True),
        sa.Column("notify_emails", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["auth_users.id"],
            name=op.f("fk_sensing_alert_rules_created_by_auth_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["sensing_datastreams.id"],
            name=op.f("fk_sensing_alert_rules_datastream_id_sensing_datastreams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["observed_property_id"],
            ["sensing_observed_properties.id"],
            name=op.f("fk_sensing_alert_rules_observed_property_id_sensing_observed_properties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_alert_rules")),
    )
    with op.batch_alter_table("sensing_alert_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_alert_rules_datastream_id"), ["datastream_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sensing_alert_rules_observed_property_id"),
            ["observed_property_id"],
            unique=False,
        )

    op.create_table(
        "sensing_historical_location_locations",
        sa.Column("historical_location_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["historical_location_id"],
            ["sensing_historical_locations.id"],
            name=op.f(
                "fk_sensing_historical_location_locations_historical_location_id_sensing_historical_locations"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["sensing_locations.id"],
            name=op.f("fk_sensing_historical_location_locations_location_id_sensing_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "historical_location_id",
            "location_id",
            name=op.f("pk_sensing_historical_location_locations"),
        ),
    )
    with op.batch_alter_table("sensing_historical_location_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_historical_location_locations_location_id"),
            ["location_id"],
            unique=False,
        )

    op.create_table(
        "sensing_latest",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column(
            "observation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("phenomenon_time", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("result_number", sa.Double(), nullable=True),
        sa.Column("result_json", sa.JSON(), nullable=True),
        sa.Column("received_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["sensing_datastreams.id"],
            name=op.f("fk_sensing_latest_datastream_id_sensing_datastreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("datastream_id", name=op.f("pk_sensing_latest")),
    )
    op.create_table(
        "sensing_multi_datastream_properties",
        sa.Column("multi_datastream_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("observed_property_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["multi_datastream_id"],
            ["sensing_multi_datastreams.id"],
            name=op.f(
                "fk_sensing_multi_datastream_properties_multi_datastream_id_sensing_multi_datastreams"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["observed_property_id"],
            ["sensing_observed_properties.id"],
            name=op.f(
                "fk_sensing_multi_datastream_properties_observed_property_id_sensing_observed_properties"
            ),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "multi_datastream_id", "position", name=op.f("pk_sensing_multi_datastream_properties")
        ),
    )
    with op.batch_alter_table("sensing_multi_datastream_properties", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_multi_datastream_properties_observed_property_id"),
            ["observed_property_id"],
            unique=False,
        )

    op.create_table(
        "sensing_observations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("datastream_id", sa.Integer(), nullable=True),
        sa.Column("multi_datastream_id", sa.Integer(), nullable=True),
        sa.Column("feature_id", sa.Integer(), nullable=True),
        sa.Column("phenomenon_time_start", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("phenomenon_time_end", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_time", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_number", sa.Double(), nullable=True),
        sa.Column("result_json", sa.JSON(), nullable=True),
        sa.Column("result_quality", sa.JSON(), nullable=True),
        sa.Column("valid_time_start", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_time_end", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["sensing_datastreams.id"],
            name=op.f("fk_sensing_observations_datastream_id_sensing_datastreams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["sensing_features.id"],
            name=op.f("fk_sensing_observations_feature_id_sensing_features"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["multi_datastream_id"],
            ["sensing_multi_datastreams.id"],
            name=op.f("fk_sensing_observations_multi_datastream_id_sensing_multi_datastreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_observations")),
        sa.UniqueConstraint(
            "datastream_id",
            "phenomenon_time_start",
            name=op.f("uq_sensing_observations_datastream_id"),
        ),
        sa.UniqueConstraint(
            "multi_datastream_id",
            "phenomenon_time_start",
            name=op.f("uq_sensing_observations_multi_datastream_id"),
        ),
    )
    with op.batch_alter_table("sensing_observations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_observations_feature_id"), ["feature_id"], unique=False
        )
        batch_op.create_index(
            "ix_sensing_observations_phenomenon_time_start",
            ["phenomenon_time_start"],
            unique=False,
        )

    op.create_table(
        "sensing_rollups",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("bucket", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("last", sa.Double(), nullable=False),
        sa.Column("last_time", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["sensing_datastreams.id"],
            name=op.f("fk_sensing_rollups_datastream_id_sensing_datastreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "datastream_id", "interval_s", "bucket", name=op.f("pk_sensing_rollups")
        ),
    )
    op.create_table(
        "sensing_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", cityos.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("readings", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("grid_code", sa.String(length=64), nullable=True),
        sa.Column("district_code", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["auth_users.id"],
            name=op.f("fk_sensing_alerts_acknowledged_by_auth_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["sensing_datastreams.id"],
            name=op.f("fk_sensing_alerts_datastream_id_sensing_datastreams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["sensing_alert_rules.id"],
            name=op.f("fk_sensing_alerts_rule_id_sensing_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_alerts")),
    )
    with op.batch_alter_table("sensing_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensing_alerts_datastream_id"), ["datastream_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sensing_alerts_district_code"), ["district_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sensing_alerts_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index(
            "ix_sensing_alerts_state_started", ["state", "started_at"], unique=False
        )

    op.create_table(
        "sensing_rule_states",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("condition_since", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_time", cityos.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Double(), nullable=True),
        sa.Column("active_alert_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["active_alert_id"],
            ["sensing_alerts.id"],
            name=op.f("fk_sensing_rule_states_active_alert_id_sensing_alerts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["sensing_datastreams.id"],
            name=op.f("fk_sensing_rule_states_datastream_id_sensing_datastreams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["sensing_alert_rules.id"],
            name=op.f("fk_sensing_rule_states_rule_id_sensing_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "datastream_id", name=op.f("pk_sensing_rule_states")),
    )


def downgrade() -> None:
    op.drop_table("sensing_rule_states")
    with op.batch_alter_table("sensing_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_sensing_alerts_state_started")
        batch_op.drop_index(batch_op.f("ix_sensing_alerts_rule_id"))
        batch_op.drop_index(batch_op.f("ix_sensing_alerts_district_code"))
        batch_op.drop_index(batch_op.f("ix_sensing_alerts_datastream_id"))

    op.drop_table("sensing_alerts")
    op.drop_table("sensing_rollups")
    with op.batch_alter_table("sensing_observations", schema=None) as batch_op:
        batch_op.drop_index("ix_sensing_observations_phenomenon_time_start")
        batch_op.drop_index(batch_op.f("ix_sensing_observations_feature_id"))

    op.drop_table("sensing_observations")
    with op.batch_alter_table("sensing_multi_datastream_properties", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_sensing_multi_datastream_properties_observed_property_id")
        )

    op.drop_table("sensing_multi_datastream_properties")
    op.drop_table("sensing_latest")
    with op.batch_alter_table("sensing_historical_location_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_historical_location_locations_location_id"))

    op.drop_table("sensing_historical_location_locations")
    with op.batch_alter_table("sensing_alert_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_alert_rules_observed_property_id"))
        batch_op.drop_index(batch_op.f("ix_sensing_alert_rules_datastream_id"))

    op.drop_table("sensing_alert_rules")
    with op.batch_alter_table("sensing_thing_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_thing_locations_location_id"))

    op.drop_table("sensing_thing_locations")
    with op.batch_alter_table("sensing_multi_datastreams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_multi_datastreams_thing_id"))
        batch_op.drop_index(batch_op.f("ix_sensing_multi_datastreams_sensor_id"))

    op.drop_table("sensing_multi_datastreams")
    with op.batch_alter_table("sensing_historical_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_historical_locations_thing_id"))

    op.drop_table("sensing_historical_locations")
    with op.batch_alter_table("sensing_features", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_features_location_id"))

    op.drop_table("sensing_features")
    with op.batch_alter_table("sensing_datastreams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_datastreams_thing_id"))
        batch_op.drop_index(batch_op.f("ix_sensing_datastreams_sensor_id"))
        batch_op.drop_index(batch_op.f("ix_sensing_datastreams_observed_property_id"))

    op.drop_table("sensing_datastreams")
    op.drop_table("sensing_things")
    op.drop_table("sensing_sensors")
    op.drop_table("sensing_observed_properties")
    with op.batch_alter_table("sensing_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_locations_grid_code"))
        batch_op.drop_index(batch_op.f("ix_sensing_locations_district_code"))

    op.drop_table("sensing_locations")
    with op.batch_alter_table("sensing_dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensing_dead_letters_received_at"))

    op.drop_table("sensing_dead_letters")
