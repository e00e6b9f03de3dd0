"""The official Python client (``frost_sta_client``) against a live CityOS server: it
authenticates with HTTP Basic, updates with PUT and patches with JSON Patch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import frost_sta_client as fsc
import pytest
import requests
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from tests.conftest import PASSWORD
from tests.live_server import live_server
from tests.sensing.sta_write_support import MEASUREMENT, UNIT_C

T0 = datetime(2024, 6, 1, tzinfo=UTC)
# the client's query builder calls a deprecated furl API (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:furl.pathstr is deprecated:DeprecationWarning")


@pytest.fixture
def service(
    database_url: str, engine: Engine, people: dict[str, User]
) -> Iterator[fsc.SensorThingsService]:
    with live_server(database_url, engine) as base:
        handler = fsc.AuthHandler(username="staff.cmb@example.org", password=PASSWORD)
        yield fsc.SensorThingsService(f"{base}/sta/v1.1", auth_handler=handler)


def make_thing(service: fsc.SensorThingsService) -> fsc.Thing:
    location = fsc.Location(
        name="Harbour gauge",
        description="at the pier",
        encoding_type="application/geo+json",
        location={"type": "Point", "coordinates": [8.4, 49.0]},
    )
    thing = fsc.Thing(name="Tide gauge", description="water level", locations=[location])
    service.create(thing)
    return thing


def make_datastream(service: fsc.SensorThingsService, thing: fsc.Thing) -> fsc.Datastream:
    sensor = fsc.Sensor(
        name="Radar", description="a radar", encoding_type="text/html", metadata="https://x.org"
    )
    prop = fsc.ObservedProperty(
        name="Water level", definition="https://example.org/level", description="level"
    )
    service.create(sensor)
    service.create(prop)
    unit = fsc.UnitOfMeasurement(name=UNIT_C["name"], symbol="cm", definition="ucum:cm")
    stream = fsc.Datastream(
        name="Level",
        description="water level",
        observation_type=MEASUREMENT,
        unit_of_measurement=unit,
        thing=thing,
        sensor=sensor,
        observed_property=prop,
    )
    service.create(stream)
    return stream


def test_client_creates_a_thing_with_a_location(service: fsc.SensorThingsService) -> None:
    thing = make_thing(service)
    assert isinstance(thing.id, int)
    found = service.things().find(thing.id)
    assert found.name == "Tide gauge"
    locations = service.things().query().expand("Locations").list()
    assert [loc.name for loc in locations.entities[0].locations.entities] == ["Harbour gauge"]


def test_client_full_crud_of_datastream_and_observation(
    service: fsc.SensorThingsService,
) -> None:
    thing = make_thing(service)
    stream = make_datastream(service, thing)
    assert isinstance(stream.id, int)

    stream = service.datastreams().find(stream.id)
    stream.description = "water level at the pier"
    service.update(stream)  # PUT of what find() gave back (read-only parts included)
    assert service.datastreams().find(stream.id).description == "water level at the pier"

    service.patch(stream, [{"op": "replace", "path": "/name", "value": "Pier level"}])
    assert service.datastreams().find(stream.id).name == "Pier level"

    observation = fsc.Observation(result=41.5, phenomenon_time=T0.isoformat(), datastream=stream)
    service.create(observation)
    found = service.observations().find(observation.id)
    assert found.result == 41.5
    found.result = 42.0
    found.datastream = stream
    service.update(found)
    assert service.observations().find(observation.id).result == 42.0

    service.delete(found)
    with pytest.raises(requests.exceptions.HTTPError):
        service.observations().find(observation.id)
    service.delete(stream)
    with pytest.raises(requests.exceptions.HTTPError):
        service.datastreams().find(stream.id)


def test_client_create_observations_and_queries(service: fsc.SensorThingsService) -> None:
    thing = make_thing(service)
    stream = make_datastream(service, thing)
    value = fsc.DataArrayValue()
    value.datastream = stream
    value.components = {
        fsc.DataArrayValue.Property.PHENOMENON_TIME,
        fsc.DataArrayValue.Property.RESULT,
    }
    for minute in range(30):
        moment = (T0 + timedelta(minutes=minute)).isoformat()
        value.add_observation(fsc.Observation(phenomenon_time=moment, result=float(minute)))
    document = fsc.DataArrayDocument()
    document.add_data_array_value(value)
    created = service.observations().create(document)
    assert len(created) == 30

    query = (
        service.observations()
        .query()
        .filter("result ge 10")
        .orderby("phenomenonTime", "ASC")
        .expand("Datastream")
        .top(8)
    )
    entities = query.list()
    results = [o.result for o in entities]  # iterating follows @iot.nextLink
    assert results == [float(minute) for minute in range(10, 30)]
    assert entities.entities[0].datastream.name == "Level"


def test_client_with_api_key_as_basic_password(
    database_url: str, engine: Engine, db: Session, people: dict[str, User]
) -> None:
    _key, raw = auth_service.create_api_key(
        db, user=people["admin"], name="client", actor=Actor.system("test")
    )
    db.commit()
    with live_server(database_url, engine) as base:
        handler = fsc.AuthHandler(username="key", password=raw)
        service = fsc.SensorThingsService(f"{base}/sta/v1.1", auth_handler=handler)
        thing = make_thing(service)
        assert service.things().find(thing.id).name == "Tide gauge"
