"""The sensing domain's tables: the SensorThings entities, the stores derived on ingest
(latest value, rollups), dead letters, alert rules and alerts.

Table and column names are ours; the SensorThings wire names live in :mod:`cityos.sensing.sta`.
Observations and rollups are keyed by datastream first so they can be sharded by it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cityos.db import Base, UTCDateTime, utcnow

# SQLite's INTEGER PRIMARY KEY is the rowid only when it is spelled INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ObservationType(StrEnum):
    """The O&M observation types of SensorThings (the Datastream's observationType)."""

    MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
    COUNT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation"
    CATEGORY = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CategoryObservation"
    TRUTH = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_TruthObservation"
    OBSERVATION = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Observation"
    COMPLEX = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"


# --- SensorThings entities ---------------------------------------------------------------

thing_locations = Table(
    "sensing_thing_locations",
    Base.metadata,
    Column("thing_id", ForeignKey("sensing_things.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "location_id",
        ForeignKey("sensing_locations.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

historical_location_locations = Table(
    "sensing_historical_location_locations",
    Base.metadata,
    Column(
        "historical_location_id",
        ForeignKey("sensing_historical_locations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "location_id",
        ForeignKey("sensing_locations.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Thing(Base):
    __tablename__ = "sensing_things"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A restricted Thing, its Datastreams and their Observations are read by signed-in staff only.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Location(Base):
    """A place. ``lon``/``lat`` are a representative point of ``location`` (GeoJSON), and the
    area codes say where that point is on the city map (``geo.service.locate``)."""

    __tablename__ = "sensing_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="application/geo+json")
    location: Mapped[dict[str, Any]] = mapped_column(JSON)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    lon: Mapped[float | None] = mapped_column(Double, nullable=True)
    lat: Mapped[float | None] = mapped_column(Double, nullable=True)
    grid_code: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    district_code: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class HistoricalLocation(Base):
    __tablename__ = "sensing_historical_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    thing_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_things.id", ondelete="CASCADE"), index=True
    )
    time: Mapped[datetime] = mapped_column(UTCDateTime)


class Sensor(Base):
    __tablename__ = "sensing_sensors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100))
    # SensorThings' `metadata` (a URL or a document); the name is taken by SQLAlchemy.
    sensor_metadata: Mapped[Any] = mapped_column("metadata", JSON)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ObservedProperty(Base):
    __tablename__ = "sensing_observed_properties"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Datastream(Base):
    __tablename__ = "sensing_datastreams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    unit_of_measurement: Mapped[dict[str, Any]] = mapped_column(JSON)
    observation_type: Mapped[str] = mapped_column(String(200))
    observed_area: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    phenomenon_time_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    phenomenon_time_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result_time_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result_time_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    thing_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_things.id", ondelete="CASCADE"), index=True
    )
    sensor_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_sensors.id", ondelete="CASCADE"), index=True
    )
    observed_property_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_observed_properties.id", ondelete="CASCADE"), index=True
    )


class MultiDatastream(Base):
    __tablename__ = "sensing_multi_datastreams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    unit_of_measurements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    observation_type: Mapped[str] = mapped_column(String(200))
    multi_observation_data_types: Mapped[list[str]] = mapped_column(JSON)
    observed_area: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    phenomenon_time_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    phenomenon_time_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result_time_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result_time_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    thing_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_things.id", ondelete="CASCADE"), index=True
    )
    sensor_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_sensors.id", ondelete="CASCADE"), index=True
    )


class MultiDatastreamProperty(Base):
    """The ordered ObservedProperties of a MultiDatastream (one per result component)."""

    __tablename__ = "sensing_multi_datastream_properties"

    multi_datastream_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_multi_datastreams.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    observed_property_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_observed_properties.id", ondelete="CASCADE"), index=True
    )


class FeatureOfInterest(Base):
    __tablename__ = "sensing_features"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="application/geo+json")
    feature: Mapped[dict[str, Any]] = mapped_column(JSON)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The Location this feature was made from automatically, if any (reused per Location).
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_locations.id", ondelete="SET NULL"), nullable=True, index=True
    )


class Observation(Base):
    """One reading. A numeric result is kept in ``result_number`` (what aggregates and
    filters use); any other result (text, boolean, object, array) in ``result_json``.

    Exactly one of ``datastream_id`` and ``multi_datastream_id`` is set. Storing is
    idempotent on (datastream, phenomenon start): a redelivered reading is stored once.
    """

    __tablename__ = "sensing_observations"
    __table_args__ = (
        UniqueConstraint("datastream_id", "phenomenon_time_start"),
        UniqueConstraint("multi_datastream_id", "phenomenon_time_start"),
        # Time filters and sorts across datastreams (and retention) use it.
        Index("ix_sensing_observations_phenomenon_time_start", "phenomenon_time_start"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    datastream_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_datastreams.id", ondelete="CASCADE"), nullable=True
    )
    multi_datastream_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_multi_datastreams.id", ondelete="CASCADE"), nullable=True
    )
    feature_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_features.id", ondelete="CASCADE"), nullable=True, index=True
    )
    phenomenon_time_start: Mapped[datetime] = mapped_column(UTCDateTime)
    phenomenon_time_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result_number: Mapped[float | None] = mapped_column(Double, nullable=True)
    result_json: Mapped[Any] = mapped_column(JSON, nullable=True)
    result_quality: Mapped[Any] = mapped_column(JSON, nullable=True)
    valid_time_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_time_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


# --- derived on ingest -------------------------------------------------------------------


class LatestValue(Base):
    """Each datastream's latest observation (by phenomenon time), kept up to date on ingest."""

    __tablename__ = "sensing_latest"

    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_datastreams.id", ondelete="CASCADE"), primary_key=True
    )
    observation_id: Mapped[int] = mapped_column(BigId)
    phenomenon_time: Mapped[datetime] = mapped_column(UTCDateTime)
    result_number: Mapped[float | None] = mapped_column(Double, nullable=True)
    result_json: Mapped[Any] = mapped_column(JSON, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Rollup(Base):
    """Count, min, max, sum and last of a datastream's numeric results per time bucket.

    ``interval_s`` is 60, 3600 or 86400; ``bucket`` is the bucket's start (UTC). Rollups are
    kept when raw observations are pruned.
    """

    __tablename__ = "sensing_rollups"

    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_datastreams.id", ondelete="CASCADE"), primary_key=True
    )
    interval_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)
    sum: Mapped[float] = mapped_column(Double)
    last: Mapped[float] = mapped_column(Double)
    last_time: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadLetter(Base):
    """A reading that could not be stored, with why; ingestion goes on."""

    __tablename__ = "sensing_dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(16))  # mqtt | http | simulator
    topic: Mapped[str] = mapped_column(String(255), default="")
    payload: Mapped[str] = mapped_column(Text)  # as received (decoded leniently), cut at 64 KiB
    reason: Mapped[str] = mapped_column(Text)


# --- alert rules and alerts ----------------------------------------------------------------


class RuleKind(StrEnum):
    ABOVE = "above"  # result above threshold for at least duration_minutes
    BELOW = "below"  # result below threshold for at least duration_minutes
    RATE = "rate"  # |change per minute| above threshold between consecutive readings
    SILENT = "silent"  # no reading for duration_minutes


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertRule(Base):
    """A rule on one datastream, or on every datastream of an observed property in an area.

    ``clear_threshold`` gives hysteresis: an ABOVE alert clears only when the result falls
    to it or below (BELOW: rises to it or above); unset, the threshold itself clears.
    """

    __tablename__ = "sensing_alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[RuleKind] = mapped_column(String(16))
    severity: Mapped[Severity] = mapped_column(String(16), default=Severity.WARNING)
    datastream_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_datastreams.id", ondelete="CASCADE"), nullable=True, index=True
    )
    observed_property_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_observed_properties.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    )
    area_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    threshold: Mapped[float | None] = mapped_column(Double, nullable=True)
    clear_threshold: Mapped[float | None] = mapped_column(Double, nullable=True)
    duration_minutes: Mapped[float] = mapped_column(Double, default=0.0)
    open_case: Mapped[bool] = mapped_column(Boolean, default=False)
    case_category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notify_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleState(Base):
    """Where one rule stands for one datastream: since when its condition has held, and the
    alert it has raised that is not yet cleared (one incident, one alert)."""

    __tablename__ = "sensing_rule_states"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_datastreams.id", ondelete="CASCADE"), primary_key=True
    )
    condition_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    active_alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_alerts.id", ondelete="SET NULL"), nullable=True
    )


class AlertState(StrEnum):
    ACTIVE = "active"
    CLEARED = "cleared"


class Alert(Base):
    __tablename__ = "sensing_alerts"
    __table_args__ = (Index("ix_sensing_alerts_state_started", "state", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_alert_rules.id", ondelete="CASCADE"), index=True
    )
    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_datastreams.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[AlertState] = mapped_column(String(16), default=AlertState.ACTIVE)
    severity: Mapped[Severity] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The readings that raised it: [{"t": iso, "v": value, "observation": id}, …]
    readings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    lon: Mapped[float | None] = mapped_column(Double, nullable=True)
    lat: Mapped[float | None] = mapped_column(Double, nullable=True)
    grid_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    district_code: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="SET NULL"), nullable=True
    )
    # The citizen-services case the alert opened (the cases domain's id), if any.
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
