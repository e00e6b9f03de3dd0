"""Sensors placed in the test city (tests/geo/conftest.py), fed through the real store.

Things, Locations (located on the map like the STA writer does), Sensors, ObservedProperties
and Datastreams are made with the ORM models; readings go through
:func:`cityos.sensing.store.store_readings`, so latest values, rollups and rule evaluation
follow exactly as on ingest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.geo import service as geo_service
from cityos.sensing import rules
from cityos.sensing.models import (
    AlertRule,
    Datastream,
    Location,
    ObservationType,
    ObservedProperty,
    Sensor,
    Thing,
    thing_locations,
)
from cityos.sensing.readings import Reading
from cityos.sensing.store import store_readings

ACTOR = Actor.system("test")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
WEST_SOUTH = (120.07, 30.17)  # TC-W, sub-district TC-W-S
WEST_NORTH = (120.07, 30.22)  # TC-W, sub-district TC-W-N
EAST_NORTH = (120.12, 30.22)  # TC-E, sub-district TC-E-N
OUTSIDE = (121.5, 31.2)
CM = {"name": "centimetre", "symbol": "cm", "definition": "ucum:cm"}


@dataclass(frozen=True)
class Gauge:
    thing_id: int
    location_id: int
    datastream_id: int
    property_id: int


def observed_property(db: Session, name: str = "water level") -> ObservedProperty:
    found = db.query(ObservedProperty).filter_by(name=name).one_or_none()
    if found is not None:
        return found
    prop = ObservedProperty(
        name=name, definition=f"https://example.org/def/{name.replace(' ', '_')}"
    )
    db.add(prop)
    db.flush()
    return prop


def make_gauge(
    db: Session,
    point: tuple[float, float] = WEST_SOUTH,
    *,
    name: str = "Gauge",
    prop: str = "water level",
    restricted: bool = False,
) -> Gauge:
    """A Thing at ``point`` with one numeric Datastream of ``prop``."""
    lon, lat = point
    found = geo_service.locate(db, lon=lon, lat=lat)
    grid = found.by_level(geo_service.AreaLevel.GRID)
    district = found.by_level(geo_service.AreaLevel.DISTRICT)
    thing = Thing(name=name, description="", restricted=restricted)
    location = Location(
        name=f"{name} site",
        location={"type": "Point", "coordinates": [lon, lat]},
        lon=lon,
        lat=lat,
        grid_code=grid.code if grid else None,
        district_code=district.code if district else None,
    )
    sensor = Sensor(name="ultrasonic", encoding_type="text/html", sensor_metadata="https://x.org")
    db.add_all([thing, location, sensor])
    db.flush()
    db.execute(thing_locations.insert().values(thing_id=thing.id, location_id=location.id))
    op = observed_property(db, prop)
    stream = Datastream(
        name=f"{name} {prop}",
        unit_of_measurement=CM,
        observation_type=ObservationType.MEASUREMENT.value,
        thing_id=thing.id,
        sensor_id=sensor.id,
        observed_property_id=op.id,
    )
    db.add(stream)
    db.flush()
    return Gauge(thing.id, location.id, stream.id, op.id)


def feed(
    db: Session,
    datastream_id: int,
    values: Sequence[float | str],
    *,
    start: datetime = T0,
    step: timedelta = MIN,
    now: datetime | None = None,
) -> list[int | None]:
    """Store ``values`` one ``step`` apart from ``start``, as one batch."""
    readings = [
        Reading(
            datastream_id=datastream_id,
            multi_datastream_id=None,
            phenomenon_start=start + i * step,
            phenomenon_end=None,
            result=value,
        )
        for i, value in enumerate(values)
    ]
    return store_readings(db, readings, now=now or start + len(values) * step).ids


def one_by_one(
    db: Session, datastream_id: int, values: Sequence[float], *, start: datetime = T0
) -> None:
    """Store ``values`` a minute apart, each in a batch of its own."""
    for i, value in enumerate(values):
        feed(db, datastream_id, [value], start=start + i * MIN)


def make_rule(db: Session, **fields: object) -> AlertRule:
    data = {"name": "High water", "kind": "above", "threshold": 20.0} | fields
    return rules.create_rule(db, data=rules.RuleInput(**data), actor=ACTOR)  # type: ignore[arg-type]
