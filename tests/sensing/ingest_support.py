"""Helpers of the store and ingestion tests: a Thing with a Location and its Datastreams."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityos.sensing.models import (
    Datastream,
    Location,
    MultiDatastream,
    MultiDatastreamProperty,
    ObservationType,
    ObservedProperty,
    Sensor,
    Thing,
)


def make_thing(db: Session, *, with_location: bool = True, name: str = "Gauge") -> Thing:
    thing = Thing(name=name, description="a water level gauge")
    db.add(thing)
    if with_location:
        place = Location(
            name=f"{name} site",
            description="by the canal",
            location={"type": "Point", "coordinates": [121.47, 31.23]},
            lon=121.47,
            lat=31.23,
        )
        db.add(place)
        db.flush()
        db.execute(
            Thing.__table__.metadata.tables["sensing_thing_locations"]
            .insert()
            .values(thing_id=thing.id, location_id=place.id)
        )
    db.flush()
    return thing


def make_datastreams(
    db: Session,
    thing: Thing,
    count: int = 1,
    *,
    observation_type: str = ObservationType.MEASUREMENT,
) -> list[Datastream]:
    sensor = Sensor(name="level sensor", encoding_type="text/html", sensor_metadata="http://x")
    prop = ObservedProperty(name="water level", definition="http://example.org/level")
    db.add_all([sensor, prop])
    db.flush()
    streams = [
        Datastream(
            name=f"level {i}",
            unit_of_measurement={"name": "centimetre", "symbol": "cm", "definition": "cm"},
            observation_type=observation_type,
            thing_id=thing.id,
            sensor_id=sensor.id,
            observed_property_id=prop.id,
        )
        for i in range(count)
    ]
    db.add_all(streams)
    db.flush()
    return streams


def make_multi_datastream(db: Session, thing: Thing) -> MultiDatastream:
    sensor = Sensor(name="weather", encoding_type="text/html", sensor_metadata="http://x")
    temp = ObservedProperty(name="temperature", definition="http://example.org/t")
    wind = ObservedProperty(name="wind", definition="http://example.org/w")
    db.add_all([sensor, temp, wind])
    db.flush()
    multi = MultiDatastream(
        name="weather",
        unit_of_measurements=[{"name": "degC"}, {"name": "m/s"}],
        observation_type=ObservationType.COMPLEX,
        multi_observation_data_types=[ObservationType.MEASUREMENT, ObservationType.MEASUREMENT],
        thing_id=thing.id,
        sensor_id=sensor.id,
    )
    db.add(multi)
    db.flush()
    db.add_all(
        [
            MultiDatastreamProperty(
                multi_datastream_id=multi.id, position=0, observed_property_id=temp.id
            ),
            MultiDatastreamProperty(
                multi_datastream_id=multi.id, position=1, observed_property_id=wind.id
            ),
        ]
    )
    db.flush()
    return multi
