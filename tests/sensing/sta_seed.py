"""A small SensorThings world inserted with the ORM models (no API involved), for tests.

``seed_world(db)`` adds, and commits:
- Thing "Weather station" (open) at Location "Corner" with a HistoricalLocation; its
  Datastreams "Air temperature" (OM_Measurement, 5 observations: 20.5, 21.0, … hourly from
  2024-01-01T00:00Z, FeatureOfInterest made from "Corner") and "Visitors" (OM_Count, 3
  observations); a MultiDatastream "Weather" with ObservedProperties humidity then
  temperature (positions 0, 1, so not in id order) and 2 observations;
- Thing "Pump 7" (restricted) at Location "Pump house" with Datastream "Pressure" (2 obs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from cityos.sensing import models as m

T0 = datetime(2024, 1, 1, tzinfo=UTC)
UNIT_C = {"name": "degree Celsius", "symbol": "°C", "definition": "ucum:Cel"}
UNIT_COUNT = {"name": "count", "symbol": "{count}", "definition": "ucum:{count}"}
UNIT_BAR = {"name": "bar", "symbol": "bar", "definition": "ucum:bar"}


@dataclass(frozen=True)
class World:
    thing: int
    restricted_thing: int
    location: int
    restricted_location: int
    historical_location: int
    sensor: int
    temperature: int  # ObservedProperty
    humidity: int  # ObservedProperty
    datastream: int  # Air temperature
    count_stream: int  # Visitors
    restricted_stream: int  # Pressure
    multi: int  # MultiDatastream
    feature: int
    observations: tuple[int, ...]  # of "Air temperature", in time order
    count_observations: tuple[int, ...]
    restricted_observations: tuple[int, ...]
    multi_observations: tuple[int, ...]


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def add_observations(
    db: Session,
    *,
    results: list[Any],
    datastream_id: int | None = None,
    multi_datastream_id: int | None = None,
    start: datetime = T0,
    step: timedelta = timedelta(hours=1),
    feature_id: int | None = None,
) -> tuple[int, ...]:
    """Observations with ``results`` at ``start``, ``start + step``, …; their ids."""
    ids = []
    for index, result in enumerate(results):
        number = (
            float(result)
            if isinstance(result, int | float) and not isinstance(result, bool)
            else None
        )
        row = m.Observation(
            datastream_id=datastream_id,
            multi_datastream_id=multi_datastream_id,
            feature_id=feature_id,
            phenomenon_time_start=start + index * step,
            result_time=start + index * step,
            result_number=number,
            result_json=None if number is not None else result,
        )
        db.add(row)
        db.flush()
        ids.append(row.id)
    return tuple(ids)


def seed_world(db: Session) -> World:
    thing = m.Thing(
        name="Weather station", description="On the corner", properties={"owner": "city"}
    )
    secret = m.Thing(name="Pump 7", description="Sewage pump", restricted=True)
    corner = m.Location(
        name="Corner", description="Main St corner", location=point(116.39, 39.91), lon=116.39,
        lat=39.91,
    )  # fmt: skip
    pump_house = m.Location(name="Pump house", description="", location=point(116.4, 39.9))
    sensor = m.Sensor(
        name="TMP36", description="Thermometer", encoding_type="application/pdf",
        sensor_metadata="https://example.org/tmp36.pdf",
    )  # fmt: skip
    temperature = m.ObservedProperty(
        name="Temperature", definition="https://example.org/temperature", description="Air"
    )
    humidity = m.ObservedProperty(
        name="Humidity", definition="https://example.org/humidity", description="Relative"
    )
    db.add_all([thing, secret, corner, pump_house, sensor, temperature, humidity])
    db.flush()
    db.execute(
        insert(m.thing_locations),
        [
            {"thing_id": thing.id, "location_id": corner.id},
            {"thing_id": secret.id, "location_id": pump_house.id},
        ],
    )
    history = m.HistoricalLocation(thing_id=thing.id, time=T0)
    db.add(history)
    db.flush()
    db.execute(
        insert(m.historical_location_locations),
        [{"historical_location_id": history.id, "location_id": corner.id}],
    )
    feature = m.FeatureOfInterest(
        name="Corner", description="Made from Location Corner", feature=point(116.39, 39.91),
        location_id=corner.id,
    )  # fmt: skip
    streams = {
        "Air temperature": (thing.id, UNIT_C, m.ObservationType.MEASUREMENT),
        "Visitors": (thing.id, UNIT_COUNT, m.ObservationType.COUNT),
        "Pressure": (secret.id, UNIT_BAR, m.ObservationType.MEASUREMENT),
    }
    made = {}
    for name, (thing_id, unit, kind) in streams.items():
        made[name] = m.Datastream(
            name=name, description=f"{name} stream", unit_of_measurement=unit,
            observation_type=str(kind), thing_id=thing_id, sensor_id=sensor.id,
            observed_property_id=temperature.id,
        )  # fmt: skip
    multi = m.MultiDatastream(
        name="Weather", description="Humidity and temperature",
        unit_of_measurements=[{"name": "percent", "symbol": "%", "definition": "ucum:%"}, UNIT_C],
        observation_type=str(m.ObservationType.COMPLEX),
        multi_observation_data_types=[str(m.ObservationType.MEASUREMENT)] * 2,
        thing_id=thing.id, sensor_id=sensor.id,
    )  # fmt: skip
    db.add_all([feature, *made.values(), multi])
    db.flush()
    db.add_all(
        [
            m.MultiDatastreamProperty(
                multi_datastream_id=multi.id, position=0, observed_property_id=humidity.id
            ),
            m.MultiDatastreamProperty(
                multi_datastream_id=multi.id, position=1, observed_property_id=temperature.id
            ),
        ]
    )
    air = made["Air temperature"]
    air.phenomenon_time_start = T0
    air.phenomenon_time_end = T0 + timedelta(hours=4)
    observations = add_observations(
        db, datastream_id=air.id, results=[20.5, 21.0, 21.5, 22.0, 22.5], feature_id=feature.id
    )
    counts = add_observations(db, datastream_id=made["Visitors"].id, results=[3, 5, 8])
    hidden = add_observations(db, datastream_id=made["Pressure"].id, results=[1.5, 1.6])
    multi_obs = add_observations(db, multi_datastream_id=multi.id, results=[[40, 20.5], [41, 21]])
    db.commit()
    return World(
        thing=thing.id,
        restricted_thing=secret.id,
        location=corner.id,
        restricted_location=pump_house.id,
        historical_location=history.id,
        sensor=sensor.id,
        temperature=temperature.id,
        humidity=humidity.id,
        datastream=air.id,
        count_stream=made["Visitors"].id,
        restricted_stream=made["Pressure"].id,
        multi=multi.id,
        feature=feature.id,
        observations=observations,
        count_observations=counts,
        restricted_observations=hidden,
        multi_observations=multi_obs,
    )
