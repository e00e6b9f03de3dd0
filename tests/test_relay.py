"""The bus relay between CityOS processes over the real Mosquitto (two relays, two buses)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from cityos import events
from cityos import relay as relay_module
from cityos.config import Settings
from cityos.relay import MAX_RELAYED_IDS, Relay, RelayConfig, relayed, start_relay
from tests.sensing.mqtt_support import broker, prefix, publish, publisher, wait_for

__all__ = ["broker", "prefix", "publisher"]


class Bus:
    """A process's in-process bus, so two relays in one test each have their own."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, dict[str, Any]]] = []
        self._handlers: dict[str, list[events.Handler]] = {}

    def subscribe(self, topic: str, handler: events.Handler) -> Callable[[], None]:
        self._handlers.setdefault(topic, []).append(handler)
        return lambda: self._handlers[topic].remove(handler)

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.heard.append((topic, payload))
        for handler in list(self._handlers.get(topic, [])):
            handler(topic, payload)


def settle() -> None:
    """Long enough for a stray duplicate or echo to arrive from the local broker."""
    time.sleep(0.3)


@pytest.fixture
def pair(broker: tuple[str, int], prefix: str) -> Iterator[tuple[Bus, Relay, Bus, Relay]]:
    made = []
    for origin in ("server-a", "ingest-b"):
        bus = Bus()
        config = RelayConfig(broker[0], broker[1], prefix=prefix, origin=origin)
        relay = Relay(config, subscribe=bus.subscribe, publish=bus.publish)
        relay.start()
        made.append((bus, relay))
    for _bus, relay in made:
        assert relay.wait_ready(10), "the relay did not subscribe"
    (bus_a, relay_a), (bus_b, relay_b) = made
    yield bus_a, relay_a, bus_b, relay_b
    relay_a.stop()
    relay_b.stop()


def test_an_event_reaches_the_other_process_once_and_is_never_echoed_back(
    pair: tuple[Bus, Relay, Bus, Relay],
) -> None:
    bus_a, relay_a, bus_b, relay_b = pair
    marks: list[tuple[str, bool]] = []
    bus_a.subscribe("ops.note", lambda _topic, payload: marks.append(("a", relayed(payload))))
    bus_b.subscribe("ops.note", lambda _topic, payload: marks.append(("b", relayed(payload))))
    note = {"id": 5, "text": "Crew on site 现场", "target": {"type": "area", "ref": "TC-W"}}
    bus_a.publish("ops.note", note)
    wait_for(lambda: bool(bus_b.heard), seconds=5)
    settle()
    assert bus_b.heard == [("ops.note", note)]
    assert bus_a.heard == [("ops.note", note)]  # no echo, no loop
    assert (relay_a.sent, relay_b.sent) == (1, 0)  # B did not relay what it heard from A
    assert relay_a.received == 0
    assert marks == [("a", False), ("b", True)]  # subscribers can tell a relayed event


def test_each_relayed_topic_goes_across_and_other_topics_stay_home(
    pair: tuple[Bus, Relay, Bus, Relay],
) -> None:
    bus_a, _relay_a, bus_b, _relay_b = pair
    bus_b.publish("audit.recorded", {"id": 1})
    sent: list[tuple[str, dict[str, Any]]] = [
        ("cases.changed", {"id": 1, "kind": "submitted"}),
        ("sensing.alert", {"id": 2, "state": "active"}),
        ("sta.changed", {"entity": "Observation", "op": "create", "ids": [3, 4]}),
    ]
    for topic, payload in sent:
        bus_b.publish(topic, payload)
    wait_for(lambda: len(bus_a.heard) >= 3, seconds=5)
    settle()
    assert bus_a.heard == sent


def test_malformed_or_foreign_messages_on_the_bus_topic_are_ignored(
    pair: tuple[Bus, Relay, Bus, Relay],
    publisher: mqtt.Client,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus_a, relay_a, _bus_b, _relay_b = pair
    base = f"{prefix}cityos/bus"
    publish(publisher, f"{base}/ops.note", b"not json")
    publish(publisher, f"{base}/ops.note", json.dumps([1, 2]))
    body = {"origin": "other", "topic": "audit.recorded", "payload": {}}
    publish(publisher, f"{base}/audit.recorded", json.dumps(body))
    body = {"origin": "other", "topic": "ops.note", "payload": "text"}
    publish(publisher, f"{base}/ops.note", json.dumps(body))
    body = {"origin": "other", "topic": "ops.note", "payload": {"id": 1}}
    publish(publisher, f"{base}/cases.changed", json.dumps(body))  # topic and body disagree
    wait_for(lambda: relay_a.rejected == 5, seconds=5)
    assert bus_a.heard == []
    warnings = [r for r in caplog.records if r.name == "cityos.relay" and r.levelname == "WARNING"]
    # both relays heard them: each reports the first and counts the rest quietly
    assert len(warnings) == 2, warnings
    assert {w.getMessage() for w in warnings} == {warnings[0].getMessage()}
    assert "dropped 1 message(s)" in warnings[0].getMessage()
    assert "Only CityOS processes should publish" in warnings[0].getMessage()
    body = {"origin": "server-a", "topic": "ops.note", "payload": {"id": 1}}
    publish(publisher, f"{base}/ops.note", json.dumps(body))  # "our own", echoed by someone
    settle()
    assert bus_a.heard == []


def test_start_relay_relays_the_process_bus_until_stopped(
    broker: tuple[str, int], prefix: str, publisher: mqtt.Client
) -> None:
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    publisher.on_message = lambda _c, _u, message: got.append(json.loads(message.payload))
    publisher.on_subscribe = lambda *_args: ready.set()
    publisher.subscribe(f"{prefix}cityos/bus/#", qos=0)
    assert ready.wait(5)
    settings = Settings(
        mqtt_url=f"mqtt://{broker[0]}:{broker[1]}", mqtt_topic_prefix=prefix, ops_relay=True
    )
    stop = start_relay(settings)
    try:
        # QoS 0 is dropped until the relay has connected: announce until one arrives
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            events.publish("cases.changed", {"id": 42})
            time.sleep(0.05)
    finally:
        stop()
    assert got, "nothing was relayed"
    assert got[0]["topic"] == "cases.changed"
    assert got[0]["payload"] == {"id": 42}
    assert isinstance(got[0]["origin"], str)
    count = len(got)
    events.publish("cases.changed", {"id": 43})
    settle()
    assert len(got) == count  # stopped: no longer relaying


@pytest.mark.parametrize(
    "settings",
    [Settings(mqtt_url=None), Settings(mqtt_url="mqtt://127.0.0.1:1", ops_relay=False)],
    ids=["no broker", "relay off"],
)
def test_start_relay_does_nothing_without_a_broker_or_when_turned_off(
    settings: Settings,
) -> None:
    threads = threading.active_count()
    stop = start_relay(settings)
    assert threading.active_count() == threads
    stop()


def test_each_process_gets_its_own_origin() -> None:
    first = RelayConfig("127.0.0.1", 1883)
    second = RelayConfig("127.0.0.1", 1883)
    assert first.origin != second.origin


def test_dropped_messages_are_warned_about_with_a_count_at_most_once_per_interval(
    pair: tuple[Bus, Relay, Bus, Relay],
    publisher: mqtt.Client,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bus_a, relay_a, _bus_b, relay_b = pair
    monkeypatch.setattr(relay_module, "MAX_MESSAGE", 64)
    big = {"origin": "other", "topic": "ops.note", "payload": {"text": "x" * 100}}
    for _ in range(3):
        publish(publisher, f"{prefix}cityos/bus/ops.note", json.dumps(big))
    wait_for(lambda: relay_a.rejected == relay_b.rejected == 3, seconds=5)
    monkeypatch.setattr(relay_module, "WARN_SECONDS", 0.0)  # the interval has passed
    publish(publisher, f"{prefix}cityos/bus/ops.note", b"{")
    wait_for(lambda: relay_a.rejected == 4, seconds=5)
    wait_for(lambda: relay_b.rejected == 4, seconds=5)
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name == "cityos.relay" and r.levelname == "WARNING"
    ]
    messages = sorted(set(said), key=said.index)
    assert len(said) == 4, said  # both relays heard them and said the same
    assert len(messages) == 2, messages
    assert "dropped 1 message(s)" in messages[0]
    assert "over 64" in messages[0]
    assert "dropped 3 message(s)" in messages[1]  # the two held back and this one
    assert "4 rejected in all" in messages[1]
    assert "not a JSON object" in messages[1]
    assert bus_a.heard == []


def test_a_large_batch_of_readings_travels_as_a_count_without_its_ids(
    pair: tuple[Bus, Relay, Bus, Relay],
) -> None:
    bus_a, _relay_a, bus_b, _relay_b = pair
    ids = list(range(1000, 1000 + MAX_RELAYED_IDS + 1))
    big = {"entity": "Observation", "op": "create", "ids": ids, "fields": None}
    bus_b.publish("sta.changed", big | {"datastreams": [4, 7]})
    small = {"entity": "Observation", "op": "create", "ids": [1, 2], "fields": None}
    bus_b.publish("sta.changed", small)
    updated = {"entity": "Thing", "op": "update", "ids": ids, "fields": ["name"]}
    bus_b.publish("sta.changed", updated)  # not readings: relayed whole
    wait_for(lambda: len(bus_a.heard) >= 3, seconds=5)
    settle()
    assert bus_a.heard == [
        (
            "sta.changed",
            {
                "entity": "Observation",
                "op": "create",
                "fields": None,
                "datastreams": [4, 7],
                "count": MAX_RELAYED_IDS + 1,
            },
        ),
        ("sta.changed", small),
        ("sta.changed", updated),
    ]
    assert len(big["ids"]) == MAX_RELAYED_IDS + 1  # the local bus's payload is untouched
