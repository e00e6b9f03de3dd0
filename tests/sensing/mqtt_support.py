"""Helpers of the MQTT tests: the broker, unique topic prefixes, a publisher, waiting."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from cityos.db import make_session_factory
from cityos.sensing.ingest import IngestConfig, Ingestor
from tests.conftest import need_service

BROKER = ("127.0.0.1", 1883)


def broker_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def broker() -> tuple[str, int]:
    if not broker_up(*BROKER):
        need_service(f"Mosquitto is not reachable at {BROKER[0]}:{BROKER[1]}")
    return BROKER


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test alone, so parallel runs never hear each other."""
    return f"cityos-test-{uuid.uuid4().hex[:10]}/"


@pytest.fixture
def ingestor(engine: Engine, broker: tuple[str, int], prefix: str) -> Iterator[Ingestor]:
    tag = prefix.rstrip("/")
    config = IngestConfig(
        host=broker[0],
        port=broker[1],
        client_id=tag,
        group=tag,
        prefix=prefix,
        batch_size=200,
        batch_ms=20,
        session_expiry_s=30,
    )
    worker = Ingestor(config, make_session_factory(engine))
    worker.start()
    assert worker.wait_ready(15), "the ingest worker did not subscribe"
    yield worker
    worker.stop()


@pytest.fixture
def publisher(broker: tuple[str, int]) -> Iterator[mqtt.Client]:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"cityos-test-pub-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    client.connect(*broker)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def publish(client: mqtt.Client, topic: str, payload: bytes | str) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def wait_for(condition: Callable[[], bool], *, seconds: float = 20.0) -> None:
    """Poll ``condition`` until it holds (fails after ``seconds``: a hang, not a timing)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.05)
