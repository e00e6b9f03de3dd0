"""Helpers of the SensorThings write tests: a writer's API key and small request bodies."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.sensing.models import ObservationType

STA = "/sta/v1.1"
MEASUREMENT = ObservationType.MEASUREMENT.value
COUNT = ObservationType.COUNT.value
TRUTH = ObservationType.TRUTH.value
COMPLEX = ObservationType.COMPLEX.value
UNIT_C = {"name": "degree Celsius", "symbol": "°C", "definition": "ucum:Cel"}


@pytest.fixture
def writer_key(db: Session, people: dict[str, User]) -> str:
    """A raw API key of a staff member (who may write)."""
    _key, raw = auth_service.create_api_key(
        db, user=people["cmb"], name="sensors", actor=Actor.system("test")
    )
    db.commit()
    return raw


@pytest.fixture
def auth(writer_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {writer_key}"}


def point(lon: float = 10.0, lat: float = 50.0) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def location_body(name: str = "Corner", lon: float = 10.0, lat: float = 50.0) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} of the street",
        "encodingType": "application/geo+json",
        "location": point(lon, lat),
    }


def sensor_body(name: str = "TMP36") -> dict[str, Any]:
    return {
        "name": name,
        "description": "a thermometer",
        "encodingType": "application/pdf",
        "metadata": "https://example.org/tmp36.pdf",
    }


def property_body(name: str = "Temperature") -> dict[str, Any]:
    return {"name": name, "definition": f"https://example.org/{name}", "description": name}


def datastream_body(
    thing: Any = None, observation_type: str = MEASUREMENT, name: str = "Air temperature"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": "the air's temperature",
        "unitOfMeasurement": UNIT_C,
        "observationType": observation_type,
        "Sensor": sensor_body(),
        "ObservedProperty": property_body(),
    }
    if thing is not None:
        body["Thing"] = thing
    return body


def thing_body(name: str = "Weather station", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": "on the roof", "Locations": [location_body()], **extra}


def post(client: TestClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    response = client.post(f"{STA}/{path}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response


def new_id(response: Any) -> int:
    location = response.headers["location"]
    return int(location[location.rindex("(") + 1 : location.rindex(")")])


def make_datastream(client: TestClient, headers: dict[str, str], **kwargs: Any) -> tuple[int, int]:
    """A Thing with a Location and one Datastream; (thing id, datastream id)."""
    thing = new_id(post(client, "Things", thing_body(), headers))
    stream = new_id(
        post(client, "Datastreams", datastream_body({"@iot.id": thing}, **kwargs), headers)
    )
    return thing, stream


def sta_error(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["type"] == "error"
    for word in words:
        assert word in body["message"], body["message"]
