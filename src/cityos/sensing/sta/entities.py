"""The SensorThings data model as a registry: each entity type's wire properties, the
columns behind them and its navigation properties with how they join.

Every other module of :mod:`cityos.sensing.sta` (paths, query compilation, serialisation,
writes) reads the model from here instead of spelling it out again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Table

from cityos.db import Base
from cityos.sensing import models as m


class Kind(StrEnum):
    """How a wire property is stored and compared."""

    ID = "id"  # @iot.id: the integer primary key
    TEXT = "text"
    URL = "url"  # text that is a URI (definition, observationType)
    JSON = "json"  # an object or value kept as JSON (properties, unitOfMeasurement, …)
    TIME = "time"  # an instant: one UTC column
    PERIOD = "period"  # an instant or an interval: a start column and an end column
    GEOMETRY = "geometry"  # GeoJSON kept as JSON (location, feature, observedArea)
    RESULT = "result"  # Observation.result: result_number or result_json


class Link(StrEnum):
    """How a navigation property joins its source to its target."""

    HERE = "here"  # the source row holds the target's id in ``column``
    THERE = "there"  # the target rows hold the source's id in ``column``
    TABLE = "table"  # an association table: ``table.c[source_col]`` / ``table.c[target_col]``


@dataclass(frozen=True, slots=True)
class Prop:
    name: str  # the wire name, e.g. "unitOfMeasurement"
    kind: Kind
    column: str  # the model attribute; for PERIOD the start (the end is ``end_column``)
    end_column: str | None = None
    required: bool = False  # must be given on create
    read_only: bool = False  # computed by the server; ignored or refused on writes


@dataclass(frozen=True, slots=True)
class Nav:
    name: str  # the wire name, e.g. "Datastreams"
    target: str  # the target entity type, e.g. "Datastream"
    many: bool
    link: Link
    column: str = ""  # HERE: attribute on the source; THERE: attribute on the target
    table: Table | None = None  # TABLE
    source_col: str = ""
    target_col: str = ""
    required: bool = False  # a create must link or deep-insert it (e.g. Datastream → Thing)
    order_col: str | None = None  # TABLE: keep this order (MultiDatastream ObservedProperties)


@dataclass(frozen=True, slots=True)
class EntityType:
    name: str  # "Thing"
    set_name: str  # "Things"
    model: type[Base]
    props: dict[str, Prop] = field(default_factory=dict)
    navs: dict[str, Nav] = field(default_factory=dict)

    def prop(self, name: str) -> Prop | None:
        return self.props.get(name)

    def nav(self, name: str) -> Nav | None:
        return self.navs.get(name)


_MD_PROPERTIES: Table = m.MultiDatastreamProperty.__table__  # type: ignore[assignment]


def _props(*props: Prop) -> dict[str, Prop]:
    return {p.name: p for p in (Prop("id", Kind.ID, "id", read_only=True), *props)}


def _navs(*navs: Nav) -> dict[str, Nav]:
    return {n.name: n for n in navs}


_NAME = Prop("name", Kind.TEXT, "name", required=True)
_DESCRIPTION = Prop("description", Kind.TEXT, "description", required=True)
_PROPERTIES = Prop("properties", Kind.JSON, "properties")

THING = EntityType(
    "Thing",
    "Things",
    m.Thing,
    _props(_NAME, _DESCRIPTION, _PROPERTIES),
    _navs(
        Nav("Locations", "Location", True, Link.TABLE, table=m.thing_locations,
            source_col="thing_id", target_col="location_id"),
        Nav("HistoricalLocations", "HistoricalLocation", True, Link.THERE, column="thing_id"),
        Nav("Datastreams", "Datastream", True, Link.THERE, column="thing_id"),
        Nav("MultiDatastreams", "MultiDatastream", True, Link.THERE, column="thing_id"),
    ),
)  # fmt: skip

LOCATION = EntityType(
    "Location",
    "Locations",
    m.Location,
    _props(
        _NAME,
        _DESCRIPTION,
        Prop("encodingType", Kind.TEXT, "encoding_type", required=True),
        Prop("location", Kind.GEOMETRY, "location", required=True),
        _PROPERTIES,
    ),
    _navs(
        Nav("Things", "Thing", True, Link.TABLE, table=m.thing_locations,
            source_col="location_id", target_col="thing_id"),
        Nav("HistoricalLocations", "HistoricalLocation", True, Link.TABLE,
            table=m.historical_location_locations, source_col="location_id",
            target_col="historical_location_id"),
    ),
)  # fmt: skip

HISTORICAL_LOCATION = EntityType(
    "HistoricalLocation",
    "HistoricalLocations",
    m.HistoricalLocation,
    _props(Prop("time", Kind.TIME, "time", required=True)),
    _navs(
        Nav("Thing", "Thing", False, Link.HERE, column="thing_id", required=True),
        Nav("Locations", "Location", True, Link.TABLE, table=m.historical_location_locations,
            source_col="historical_location_id", target_col="location_id"),
    ),
)  # fmt: skip

SENSOR = EntityType(
    "Sensor",
    "Sensors",
    m.Sensor,
    _props(
        _NAME,
        _DESCRIPTION,
        Prop("encodingType", Kind.TEXT, "encoding_type", required=True),
        Prop("metadata", Kind.JSON, "sensor_metadata", required=True),
        _PROPERTIES,
    ),
    _navs(
        Nav("Datastreams", "Datastream", True, Link.THERE, column="sensor_id"),
        Nav("MultiDatastreams", "MultiDatastream", True, Link.THERE, column="sensor_id"),
    ),
)

OBSERVED_PROPERTY = EntityType(
    "ObservedProperty",
    "ObservedProperties",
    m.ObservedProperty,
    _props(
        _NAME,
        Prop("definition", Kind.URL, "definition", required=True),
        _DESCRIPTION,
        _PROPERTIES,
    ),
    _navs(
        Nav("Datastreams", "Datastream", True, Link.THERE, column="observed_property_id"),
        Nav("MultiDatastreams", "MultiDatastream", True, Link.TABLE,
            table=_MD_PROPERTIES, source_col="observed_property_id",
            target_col="multi_datastream_id"),
    ),
)  # fmt: skip

_STREAM_TIMES = (
    Prop("observedArea", Kind.GEOMETRY, "observed_area", read_only=True),
    Prop(
        "phenomenonTime",
        Kind.PERIOD,
        "phenomenon_time_start",
        end_column="phenomenon_time_end",
        read_only=True,
    ),
    Prop(
        "resultTime", Kind.PERIOD, "result_time_start", end_column="result_time_end", read_only=True
    ),
)

DATASTREAM = EntityType(
    "Datastream",
    "Datastreams",
    m.Datastream,
    _props(
        _NAME,
        _DESCRIPTION,
        Prop("unitOfMeasurement", Kind.JSON, "unit_of_measurement", required=True),
        Prop("observationType", Kind.URL, "observation_type", required=True),
        *_STREAM_TIMES,
        _PROPERTIES,
    ),
    _navs(
        Nav("Thing", "Thing", False, Link.HERE, column="thing_id", required=True),
        Nav("Sensor", "Sensor", False, Link.HERE, column="sensor_id", required=True),
        Nav("ObservedProperty", "ObservedProperty", False, Link.HERE,
            column="observed_property_id", required=True),
        Nav("Observations", "Observation", True, Link.THERE, column="datastream_id"),
    ),
)  # fmt: skip

MULTI_DATASTREAM = EntityType(
    "MultiDatastream",
    "MultiDatastreams",
    m.MultiDatastream,
    _props(
        _NAME,
        _DESCRIPTION,
        Prop("unitOfMeasurements", Kind.JSON, "unit_of_measurements", required=True),
        Prop("observationType", Kind.URL, "observation_type", required=True),
        Prop(
            "multiObservationDataTypes", Kind.JSON, "multi_observation_data_types", required=True
        ),
        *_STREAM_TIMES,
        _PROPERTIES,
    ),
    _navs(
        Nav("Thing", "Thing", False, Link.HERE, column="thing_id", required=True),
        Nav("Sensor", "Sensor", False, Link.HERE, column="sensor_id", required=True),
        Nav("ObservedProperties", "ObservedProperty", True, Link.TABLE,
            table=_MD_PROPERTIES, source_col="multi_datastream_id",
            target_col="observed_property_id", required=True, order_col="position"),
        Nav("Observations", "Observation", True, Link.THERE, column="multi_datastream_id"),
    ),
)  # fmt: skip

FEATURE_OF_INTEREST = EntityType(
    "FeatureOfInterest",
    "FeaturesOfInterest",
    m.FeatureOfInterest,
    _props(
        _NAME,
        _DESCRIPTION,
        Prop("encodingType", Kind.TEXT, "encoding_type", required=True),
        Prop("feature", Kind.GEOMETRY, "feature", required=True),
        _PROPERTIES,
    ),
    _navs(Nav("Observations", "Observation", True, Link.THERE, column="feature_id")),
)

OBSERVATION = EntityType(
    "Observation",
    "Observations",
    m.Observation,
    _props(
        Prop(
            "phenomenonTime", Kind.PERIOD, "phenomenon_time_start", end_column="phenomenon_time_end"
        ),
        Prop("result", Kind.RESULT, "result_number", required=True),
        Prop("resultTime", Kind.TIME, "result_time"),
        Prop("resultQuality", Kind.JSON, "result_quality"),
        Prop("validTime", Kind.PERIOD, "valid_time_start", end_column="valid_time_end"),
        Prop("parameters", Kind.JSON, "parameters"),
    ),
    _navs(
        Nav("Datastream", "Datastream", False, Link.HERE, column="datastream_id"),
        Nav("MultiDatastream", "MultiDatastream", False, Link.HERE, column="multi_datastream_id"),
        Nav("FeatureOfInterest", "FeatureOfInterest", False, Link.HERE, column="feature_id"),
    ),
)

ENTITY_TYPES: tuple[EntityType, ...] = (
    THING,
    LOCATION,
    HISTORICAL_LOCATION,
    DATASTREAM,
    MULTI_DATASTREAM,
    SENSOR,
    OBSERVED_PROPERTY,
    OBSERVATION,
    FEATURE_OF_INTEREST,
)
BY_NAME: dict[str, EntityType] = {e.name: e for e in ENTITY_TYPES}
BY_SET: dict[str, EntityType] = {e.set_name: e for e in ENTITY_TYPES}


def entity(name: str) -> EntityType:
    """The entity type called ``name`` (``"Thing"``), as navigation targets name them."""
    return BY_NAME[name]
