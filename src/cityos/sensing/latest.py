"""Latest values: each datastream's newest reading with its Thing and place (the map layer).

Read from ``sensing_latest`` (kept up to date on ingest), joined to the datastream, its
observed property, its Thing and the Thing's first Location. Datastreams of restricted
Things are left out unless the caller may see them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput
from cityos.sensing.areas import clause_for
from cityos.sensing.models import (
    Datastream,
    LatestValue,
    Location,
    ObservedProperty,
    Thing,
    thing_locations,
)

MAX_ITEMS = 50_000


@dataclass(frozen=True, slots=True)
class BBox:
    west: float
    south: float
    east: float
    north: float


def parse_bbox(text: str | None) -> BBox | None:
    """``west,south,east,north`` in WGS84 degrees (longitude first)."""
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise InvalidInput(
            f"bbox {text[:100]!r} must be four numbers west,south,east,north "
            "(longitude, latitude, longitude, latitude), e.g. 120.0,30.1,120.2,30.3."
        )
    west, south, east, north = numbers
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput(
            f"bbox {text[:100]!r}: need -180 ≤ west ≤ east ≤ 180 and -90 ≤ south ≤ north ≤ 90 "
            "(the order is west,south,east,north)."
        )
    return BBox(west, south, east, north)


def property_clause(value: str | None) -> ColumnElement[bool] | None:
    """An observed property named by id, by name or by definition URI."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    conditions: list[ColumnElement[bool]] = [
        ObservedProperty.name == text,
        ObservedProperty.definition == text,
    ]
    if text.isdigit() and int(text) < 2**31:
        conditions.append(ObservedProperty.id == int(text))
    return or_(*conditions)


def first_location() -> Any:
    """A subquery: each Thing's first Location id."""
    return (
        select(
            thing_locations.c.thing_id,
            func.min(thing_locations.c.location_id).label("location_id"),
        )
        .group_by(thing_locations.c.thing_id)
        .subquery()
    )


def scoped_datastreams(
    db_session: Session,
    query: Select[Any],
    *,
    area: str | None,
    observed_property: str | None,
    bbox: BBox | None,
    include_restricted: bool,
    joined_location: bool = False,
) -> Select[Any]:
    """``query`` (over Datastream) narrowed to datastreams matching the filters."""
    query = query.join(Thing, Thing.id == Datastream.thing_id)
    if not include_restricted:
        query = query.where(Thing.restricted.is_(False))
    prop = property_clause(observed_property)
    if prop is not None:
        query = query.where(
            Datastream.observed_property_id.in_(select(ObservedProperty.id).where(prop))
        )
    if area is not None or bbox is not None:
        located = select(thing_locations.c.thing_id).join(
            Location, Location.id == thing_locations.c.location_id
        )
        if area is not None:
            located = located.where(clause_for(db_session, area))
        if bbox is not None:
            located = located.where(
                Location.lon.between(bbox.west, bbox.east),
                Location.lat.between(bbox.south, bbox.north),
            )
        query = query.where(Datastream.thing_id.in_(located))
    return query


def _latest_query(
    db_session: Session,
    *,
    area: str | None,
    observed_property: str | None,
    bbox: BBox | None,
    include_restricted: bool,
    raw_json: bool,
) -> Select[Any]:
    """The latest rows with their datastream, property, Thing and first Location.

    ``raw_json``: the JSON columns come back as their text, to be copied into a document."""
    first = first_location()
    unit: Any = Datastream.unit_of_measurement
    result_json: Any = LatestValue.result_json
    if raw_json:
        unit, result_json = cast(unit, Text), cast(result_json, Text)
    query = select(
        Datastream.id,
        Datastream.name,
        unit.label("unit"),
        ObservedProperty.id.label("property_id"),
        ObservedProperty.name.label("property_name"),
        Thing.id.label("thing_id"),
        Thing.name.label("thing_name"),
        Location.id.label("location_id"),
        Location.lon,
        Location.lat,
        Location.grid_code,
        Location.district_code,
        LatestValue.observation_id,
        LatestValue.phenomenon_time,
        LatestValue.result_number,
        result_json.label("result_json"),
    ).join(LatestValue, LatestValue.datastream_id == Datastream.id)
    query = scoped_datastreams(
        db_session,
        query,
        area=area,
        observed_property=observed_property,
        bbox=bbox,
        include_restricted=include_restricted,
    )
    return (
        query.join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .outerjoin(first, first.c.thing_id == Thing.id)
        .outerjoin(Location, Location.id == first.c.location_id)
        .order_by(Datastream.id)
        .limit(MAX_ITEMS)
    )


def latest_values(
    db_session: Session,
    *,
    area: str | None = None,
    observed_property: str | None = None,
    bbox: BBox | None = None,
    include_restricted: bool = False,
) -> list[dict[str, Any]]:
    """Every matching datastream's latest reading, by datastream id."""
    query = _latest_query(
        db_session,
        area=area,
        observed_property=observed_property,
        bbox=bbox,
        include_restricted=include_restricted,
        raw_json=False,
    )
    return [
        {
            "datastream": {"id": row.id, "name": row.name, "unit": row.unit},
            "observed_property": {"id": row.property_id, "name": row.property_name},
            "thing": {"id": row.thing_id, "name": row.thing_name},
            "location": {
                "id": row.location_id,
                "lon": row.lon,
                "lat": row.lat,
                "grid": row.grid_code,
                "district": row.district_code,
            }
            if row.location_id is not None
            else None,
            "observation": row.observation_id,
            "phenomenon_time": row.phenomenon_time.isoformat(),
            "result": row.result_number if row.result_number is not None else row.result_json,
        }
        for row in db_session.execute(query)
    ]


def latest_document(
    db_session: Session,
    *,
    area: str | None = None,
    observed_property: str | None = None,
    bbox: BBox | None = None,
    include_restricted: bool = False,
    geojson: bool = False,
) -> str:
    """What :func:`latest_values` (or :func:`as_geojson` of it) gives, as JSON text.

    The map asks for every datastream at once: the stored JSON (units, non-numeric results)
    is copied in as text and each item is written straight out, instead of decoding it
    into dictionaries and encoding them again — several times faster for 10,000 items.
    """
    query = _latest_query(
        db_session,
        area=area,
        observed_property=observed_property,
        bbox=bbox,
        include_restricted=include_restricted,
        raw_json=True,
    )
    text = json.dumps
    parts: list[str] = []
    for row in db_session.execute(query):
        result = text(row.result_number) if row.result_number is not None else row.result_json
        common = (
            f'"datastream":{{"id":{row.id},"name":{text(row.name)},"unit":{row.unit or "null"}}},'
            f'"observed_property":{{"id":{row.property_id},"name":{text(row.property_name)}}},'
            f'"thing":{{"id":{row.thing_id},"name":{text(row.thing_name)}}},'
        )
        tail = (
            f'"observation":{row.observation_id},'
            f'"phenomenon_time":"{row.phenomenon_time.isoformat()}",'
            f'"result":{result or "null"}'
        )
        place = (
            f'"id":{row.location_id},"lon":{text(row.lon)},"lat":{text(row.lat)},'
            f'"grid":{text(row.grid_code)},"district":{text(row.district_code)}'
        )
        if not geojson:
            location = f"{{{place}}}" if row.location_id is not None else "null"
            parts.append(f'{{{common}"location":{location},{tail}}}')
        elif row.location_id is not None and row.lon is not None and row.lat is not None:
            parts.append(
                f'{{"type":"Feature","id":{row.id},'
                f'"geometry":{{"type":"Point","coordinates":[{text(row.lon)},{text(row.lat)}]}},'
                f'"properties":{{{common}{tail},'
                f'"grid":{text(row.grid_code)},"district":{text(row.district_code)}}}}}'
            )
    body = ",".join(parts)
    if geojson:
        return f'{{"type":"FeatureCollection","features":[{body}]}}'
    return f'{{"count":{len(parts)},"items":[{body}]}}'


def as_geojson(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The items with a place as a GeoJSON FeatureCollection of points."""
    features = []
    for item in items:
        place = item["location"]
        if place is None or place["lon"] is None or place["lat"] is None:
            continue
        properties = {key: value for key, value in item.items() if key != "location"}
        properties["grid"] = place["grid"]
        properties["district"] = place["district"]
        features.append(
            {
                "type": "Feature",
                "id": item["datastream"]["id"],
                "geometry": {"type": "Point", "coordinates": [place["lon"], place["lat"]]},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features}
