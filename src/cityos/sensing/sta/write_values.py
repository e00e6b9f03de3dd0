"""Wire values of SensorThings properties → column values, checked, for the writers.

Each checker names the offending part (``Thing.name``) and says what to send instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shapely.geometry import shape

from cityos.errors import InvalidInput
from cityos.sensing.models import ObservationType
from cityos.sensing.readings import parse_period, parse_time
from cityos.sensing.sta.entities import EntityType, Kind, Prop

GEOJSON_TYPES = ("application/geo+json", "application/vnd.geo+json")
OBSERVATION_TYPES = tuple(t.value for t in ObservationType)


def geometry(value: Any, *, what: str) -> dict[str, Any]:
    """A GeoJSON geometry or Feature, checked by parsing it with Shapely."""
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidInput(
            f'{what} must be a GeoJSON object, e.g. {{"type": "Point", "coordinates": [lon, lat]}}.'
        )
    try:
        geom = shape(value["geometry"] if value.get("type") == "Feature" else value)
    except Exception as error:
        raise InvalidInput(f"{what} is not valid GeoJSON: {error}.") from None
    if geom.is_empty:
        raise InvalidInput(f"{what} is an empty geometry; give coordinates.")
    return value


def representative_point(value: dict[str, Any]) -> tuple[float, float]:
    """A point inside a GeoJSON geometry or Feature (the point itself for a Point)."""
    geom = shape(value["geometry"] if value.get("type") == "Feature" else value)
    point = geom if geom.geom_type == "Point" else geom.representative_point()
    return float(point.x), float(point.y)


def _text(value: Any, *, what: str, required: bool, limit: int | None = None) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string (got {type(value).__name__}).")
    if "\x00" in value:
        raise InvalidInput(f"{what} contains a NUL character (\\u0000); leave it out.")
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"{what} is {len(value):,} characters long; at most {limit} fit.")
    return value


def _length(entity: EntityType, prop: Prop) -> int | None:
    """The most characters ``prop``'s column holds (None: unbounded)."""
    column = entity.model.__table__.c[prop.column]
    length = getattr(column.type, "length", None)
    return length if isinstance(length, int) else None


def _json(entity: EntityType, prop: Prop, value: Any, *, what: str) -> Any:
    name = prop.name
    if name in ("properties", "parameters") and value is not None and not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object or null.")
    if name == "unitOfMeasurement" and not isinstance(value, dict):
        raise InvalidInput(f"{what} must be an object like {{'name': …, 'symbol': …}}.")
    if name == "unitOfMeasurements" and not (
        isinstance(value, list) and all(isinstance(u, dict) for u in value)
    ):
        raise InvalidInput(f"{what} must be an array of unitOfMeasurement objects.")
    if name == "multiObservationDataTypes" and not (
        isinstance(value, list) and all(isinstance(t, str) for t in value)
    ):
        raise InvalidInput(f"{what} must be an array of observation type URIs.")
    if name == "metadata" and value is None:
        raise InvalidInput(f"{what} must not be null (a URL or a document describing the sensor).")
    return value


RESTRICTED_KEY = "cityos:restricted"


def restricted_marker(properties: Any, *, what: str) -> bool:
    """Whether a Thing's properties mark it restricted (seen by signed-in users only)."""
    if not isinstance(properties, dict) or RESTRICTED_KEY not in properties:
        return False
    flag = properties[RESTRICTED_KEY]
    if not isinstance(flag, bool):
        raise InvalidInput(f'{what}["{RESTRICTED_KEY}"] must be true or false (got {flag!r}).')
    return flag


def column_values(entity: EntityType, prop: Prop, value: Any) -> dict[str, Any]:
    """The column(s) to set for ``prop`` = ``value`` (two for a PERIOD)."""
    what = f"{entity.name}.{prop.name}"
    if prop.kind in (Kind.TEXT, Kind.URL):
        text = _text(value, what=what, required=prop.required, limit=_length(entity, prop))
        datastream_type = prop.name == "observationType" and entity.name == "Datastream"
        if datastream_type and text not in OBSERVATION_TYPES:
            raise InvalidInput(
                f"{what} {text!r} is not a SensorThings observation type; use one of "
                + ", ".join(OBSERVATION_TYPES)
                + "."
            )
        geojson = prop.name == "encodingType" and entity.name in ("Location", "FeatureOfInterest")
        if geojson and text not in GEOJSON_TYPES:
            raise InvalidInput(f"{what} must be 'application/geo+json' (got {text!r}).")
        return {prop.column: text}
    if prop.kind is Kind.JSON:
        stored = _json(entity, prop, value, what=what)
        if entity.name == "Thing" and prop.name == "properties":
            # A Thing is restricted by its properties: {"cityos:restricted": true}.
            return {prop.column: stored, "restricted": restricted_marker(stored, what=what)}
        return {prop.column: stored}
    if prop.kind is Kind.GEOMETRY:
        if value is None and not prop.required:
            return {prop.column: None}
        return {prop.column: geometry(value, what=what)}
    if prop.kind is Kind.TIME:
        if value is None and not prop.required:
            return {prop.column: None}
        return {prop.column: parse_time(value, what=what)}
    if prop.kind is Kind.PERIOD:
        assert prop.end_column is not None
        if value is None and not prop.required:
            return {prop.column: None, prop.end_column: None}
        start, end = parse_period(value, what=what)
        return {prop.column: start, prop.end_column: end}
    raise InvalidInput(f"{what} cannot be written directly.")  # ID and RESULT


def period_text(start: datetime | None, end: datetime | None) -> str | None:
    if start is None:
        return None
    return f"{iso(start)}/{iso(end)}" if end is not None else iso(start)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def wire_value(entity: EntityType, prop: Prop, row: Any) -> Any:
    """The wire value of ``prop`` on ``row`` (for JSON Patch documents)."""
    if prop.kind is Kind.PERIOD:
        assert prop.end_column is not None
        return period_text(getattr(row, prop.column), getattr(row, prop.end_column))
    if prop.kind is Kind.TIME:
        moment = getattr(row, prop.column)
        return iso(moment) if moment is not None else None
    if prop.kind is Kind.RESULT:
        return row.result_json if row.result_number is None else row.result_number
    return getattr(row, prop.column)
