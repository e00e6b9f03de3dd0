"""MQTT receive (SensorThings MQTT extension): subscribers to collection, navigation,
entity, property and ``?$select=`` topics hear of creations and updates."""

# ruff: noqa: F811 - the MQTT fixtures are imported from mqtt_support by name

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.config import Settings
from cityos.db import make_session_factory
from cityos.sensing import notices
from cityos.sensing.mqtt_bridge import MqttBridge
from cityos.sensing.readings import Reading
from cityos.sensing.store import store_readings
from tests.sensing.ingest_support import make_datastreams, make_thing
from tests.sensing.mqtt_support import broker, prefix, wait_for  # noqa: F401 - fixtures


class Listener:
    """A plain paho subscriber collecting (topic, JSON payload) pairs."""

    def __init__(self, host: str, port: int, topics: list[str]) -> None:
        self.heard: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"cityos-test-sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        self.client.subscribe([(topic, 0) for topic in topics])
        assert self._subscribed.wait(10)

    def _message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.heard.append((message.topic, json.loads(message.payload)))

    def on(self, topic: str) -> list[Any]:
        with self._lock:
            return [payload for t, payload in self.heard if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def bridge(
    settings: Settings, engine: Engine, broker: tuple[str, int], prefix: str
) -> Iterator[MqttBridge]:
    configured = settings.model_copy(update={"mqtt_url": f"mqtt://{broker[0]}:{broker[1]}"})
    running = MqttBridge(configured, make_session_factory(engine), prefix=prefix)
    running.start()
    yield running
    running.stop()


def test_subscribers_hear_of_created_observations_on_set_navigation_and_select_topics(
    db: Session, bridge: MqttBridge, broker: tuple[str, int], prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    db.commit()
    nav = f"{prefix}v1.1/Datastreams({ds.id})/Observations"
    selected = f"{nav}?$select=result,phenomenonTime"
    listener = Listener(*broker, [f"{prefix}v1.1/Observations", nav, selected])
    try:
        start = datetime(2024, 5, 1, 8, tzinfo=UTC)
        stored = store_readings(db, [Reading(ds.id, None, start, None, 12.5)])
        db.commit()
        wait_for(lambda: len(listener.heard) >= 3)
        (created,) = listener.on(f"{prefix}v1.1/Observations")
        assert created["@iot.id"] == stored.ids[0]
        assert created["result"] == 12.5
        assert created["phenomenonTime"].startswith("2024-05-01T08:00:00")
        assert listener.on(nav) == [created]
        (picked,) = listener.on(selected)
        assert set(picked) == {"result", "phenomenonTime"}
    finally:
        listener.close()


def test_nothing_is_published_for_a_rolled_back_write(
    db: Session, bridge: MqttBridge, broker: tuple[str, int], prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    db.commit()
    listener = Listener(*broker, [f"{prefix}v1.1/#"])
    try:
        store_readings(db, [Reading(ds.id, None, datetime(2024, 5, 1, tzinfo=UTC), None, 1.0)])
        db.rollback()
        store_readings(db, [Reading(ds.id, None, datetime(2024, 5, 2, tzinfo=UTC), None, 2.0)])
        db.commit()
        wait_for(lambda: len(listener.on(f"{prefix}v1.1/Observations")) == 1)
        assert [p["result"] for p in listener.on(f"{prefix}v1.1/Observations")] == [2.0]
    finally:
        listener.close()


def test_subscribers_hear_of_updates_on_entity_and_property_topics(
    db: Session, bridge: MqttBridge, broker: tuple[str, int], prefix: str
) -> None:
    thing = make_thing(db)
    db.commit()
    entity = f"{prefix}v1.1/Things({thing.id})"
    listener = Listener(*broker, [entity, f"{entity}/name", f"{entity}/description"])
    try:
        thing.name = "Gauge 2"
        notices.queue(db, "Thing", thing.id, "update", fields=["name"])
        db.commit()
        wait_for(lambda: len(listener.heard) >= 2)
        (whole,) = listener.on(entity)
        assert whole["name"] == "Gauge 2"
        assert listener.on(f"{entity}/name") == [{"name": "Gauge 2"}]
        assert listener.on(f"{entity}/description") == []
    finally:
        listener.close()


def test_restricted_things_and_their_observations_are_never_published(
    db: Session, bridge: MqttBridge, broker: tuple[str, int], prefix: str
) -> None:
    hidden_thing = make_thing(db, name="Private gauge")
    hidden_thing.restricted = True
    (hidden,) = make_datastreams(db, hidden_thing)
    (shown,) = make_datastreams(db, make_thing(db))
    db.commit()
    listener = Listener(*broker, [f"{prefix}v1.1/#"])
    try:
        start = datetime(2024, 5, 1, 8, tzinfo=UTC)
        # the restricted changes are committed (and handed to the bridge) first: the bridge
        # publishes in order, so once the open reading is heard they would have been too
        store_readings(db, [Reading(hidden.id, None, start, None, 1.0)])
        hidden_thing.name = "Private gauge 2"
        notices.queue(db, "Thing", hidden_thing.id, "update", fields=["name"])
        notices.queue(db, "Datastream", hidden.id, "update", fields=["name"])
        db.commit()
        store_readings(db, [Reading(shown.id, None, start, None, 2.0)])
        db.commit()
        wait_for(lambda: len(listener.on(f"{prefix}v1.1/Observations")) == 1)
        assert [p["result"] for p in listener.on(f"{prefix}v1.1/Observations")] == [2.0]
        topics = {topic for topic, _ in listener.heard}
        assert not any(f"Things({hidden_thing.id})" in topic for topic in topics)
        assert not any(f"Datastreams({hidden.id})" in topic for topic in topics)
        assert f"{prefix}v1.1/Things" not in topics
        assert f"{prefix}v1.1/Datastreams" not in topics
    finally:
        listener.close()
