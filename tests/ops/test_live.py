"""Live events of the operations center (``GET /api/ops/events``) through a real server."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.ops import live
from cityos.relay import Relay, RelayConfig
from tests.cases.conftest import services
from tests.cases.open311_support import BASE, Open311City, open311_city, pothole
from tests.geo.conftest import city
from tests.live_server import live_server
from tests.sensing.alerts_support import make_gauge, make_rule
from tests.sensing.mqtt_support import BROKER, broker, prefix, publisher
from tests.test_relay import Bus

__all__ = ["broker", "city", "open311_city", "prefix", "publisher", "services"]

EVENTS = "/api/ops/events"
ACTOR = Actor.system("test")


class Sse:
    """Reads Server-Sent Events frames from a streaming response."""

    def __init__(self, response: httpx2.Response) -> None:
        self.lines = response.iter_lines()

    def frame(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for line in self.lines:
            if line == "":
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")
        raise AssertionError(f"the stream ended ({fields or 'nothing pending'})")

    def event(self) -> dict[str, Any]:
        """The next event (pings skipped)."""
        while True:
            fields = self.frame()
            if "event" in fields:
                return fields


@pytest.fixture
def keys(db: Session, people: dict[str, User]) -> dict[str, str]:
    """Bearer headers of an admin, an operator and a member of staff (CMB)."""
    people["operator"] = auth_service.create_user(
        db,
        email="operator@example.org",
        password="operator pass 1",
        roles=["operator"],
        actor=ACTOR,
    )
    headers = {}
    for who in ("admin", "operator", "cmb"):
        _key, raw = auth_service.create_api_key(db, user=people[who], name=who, actor=ACTOR)
        headers[who] = f"Bearer {raw}"
    db.commit()
    return headers


@pytest.fixture
def server(database_url: str, engine: Engine, keys: dict[str, str]) -> Iterator[str]:
    with live_server(database_url, engine) as url:
        yield url
        live.close_streams()  # as `cityos serve` does before uvicorn waits for responses


@pytest.fixture
def http(server: str, keys: dict[str, str]) -> Iterator[httpx2.Client]:
    with httpx2.Client(
        base_url=server, headers={"Authorization": keys["operator"]}, timeout=5
    ) as client:
        yield client


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def test_a_case_posted_through_the_api_reaches_an_open_screen_within_a_second(
    http: httpx2.Client, open311_city: Open311City
) -> None:
    with http.stream("GET", EVENTS) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        sse = Sse(response)
        assert sse.frame() == {"retry": "2000"}
        posted = http.post(f"{BASE}/requests.json", data=dict(pothole(open311_city)))
        assert posted.status_code == 200, posted.text
        sent = time.monotonic()
        event = sse.event()
        assert time.monotonic() - sent < 1.0
        assert event["event"] == "cases.changed"
        data = httpx2.Response(200, content=event["data"]).json()
        assert data["id"] == int(posted.json()[0]["service_request_id"])
        assert data["kind"] == "submitted"
        assert data["category"] == "POTHOLE"

        events.publish("ops.note", {"id": 7, "text": "Crew on site"})
        events.publish("sensing.alert", {"id": 3, "state": "active"})
        events.publish("audit.recorded", {"id": 1})  # not a live topic
        note, alert = sse.event(), sse.event()
        assert (note["event"], note["data"]) == ("ops.note", '{"id":7,"text":"Crew on site"}')
        assert (alert["event"], alert["data"]) == ("sensing.alert", '{"id":3,"state":"active"}')
        assert int(event["id"]) < int(note["id"]) < int(alert["id"])


def observations(ids: range, **extra: Any) -> None:
    events.publish(
        "sta.changed", {"entity": "Observation", "op": "create", "ids": list(ids), **extra}
    )


def test_readings_are_coalesced_to_at_most_one_event_per_half_second(
    http: httpx2.Client,
) -> None:
    with http.stream("GET", EVENTS) as response:
        sse = Sse(response)
        sse.frame()
        observations(range(10))
        first = sse.event()
        first_at = time.monotonic()
        assert (first["event"], first["data"]) == (
            "readings",
            '{"observations":10,"datastreams":null}',
        )
        for start in range(10, 50, 10):
            observations(range(start, start + 10))
        events.publish("sta.changed", {"entity": "Observation", "op": "update", "ids": [1]})
        events.publish("sta.changed", {"entity": "Thing", "op": "create", "ids": [2]})
        events.publish("cases.changed", {"id": 99})

        marker, second = sse.event(), sse.event()
        assert marker["event"] == "cases.changed"  # not held back behind the readings
        assert (second["event"], second["data"]) == (
            "readings",
            '{"observations":40,"datastreams":null}',
        )
        assert time.monotonic() - first_at >= 0.4  # held back, then sent as one


def test_readings_name_their_datastreams_once_when_the_notices_carry_them(
    http: httpx2.Client,
) -> None:
    with http.stream("GET", EVENTS) as response:
        sse = Sse(response)
        sse.frame()
        observations(range(2), datastreams=[4, 2])
        assert sse.event()["data"] == '{"observations":2,"datastreams":[2,4]}'
        observations(range(2), datastreams=[2])
        observations(range(2), datastreams=[9, 4])
        assert sse.event()["data"] == '{"observations":4,"datastreams":[2,4,9]}'


def test_an_idle_stream_sends_pings(http: httpx2.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "PING_SECONDS", 0.1)
    with http.stream("GET", EVENTS) as response:
        sse = Sse(response)
        sse.frame()
        assert sse.frame() == {"comment": "ping"}
        assert sse.frame() == {"comment": "ping"}


def test_a_reconnecting_screen_is_told_to_reload_its_figures(http: httpx2.Client) -> None:
    with http.stream("GET", EVENTS, headers={"Last-Event-ID": "41"}) as response:
        sse = Sse(response)
        sse.frame()
        event = sse.event()
        assert (event["event"], event["data"]) == ("resync", '{"reason":"reconnected"}')


def test_admins_may_listen_too(server: str, keys: dict[str, str]) -> None:
    with (
        httpx2.Client(base_url=server, timeout=5) as client,
        client.stream("GET", EVENTS, headers={"Authorization": keys["admin"]}) as response,
    ):
        assert response.status_code == 200
        assert Sse(response).frame() == {"retry": "2000"}


def test_only_operators_and_admins_may_listen(client: TestClient, keys: dict[str, str]) -> None:
    anonymous = client.get(EVENTS)
    assert anonymous.status_code == 401
    assert "Sign in first" in anonymous.json()["error"]["message"]
    staff = client.get(EVENTS, headers={"Authorization": keys["cmb"]})
    assert staff.status_code == 403
    assert staff.json()["error"]["message"] == "This needs the operator role."
    assert live.open_streams() == 0


def test_a_disconnected_screen_is_forgotten_and_unsubscribed(http: httpx2.Client) -> None:
    before = {topic: len(events._handlers[topic]) for topic in (*live.TOPICS, live.STA_TOPIC)}
    with http.stream("GET", EVENTS) as response:
        sse = Sse(response)
        sse.frame()
        assert live.open_streams() == 1
    wait_for(lambda: live.open_streams() == 0)
    after = {topic: len(events._handlers[topic]) for topic in before}
    assert after == before
    events.publish("cases.changed", {"id": 1})  # nobody listens: nothing breaks


def test_closing_the_streams_ends_them_so_the_server_can_stop(http: httpx2.Client) -> None:
    with http.stream("GET", EVENTS) as response:
        sse = Sse(response)
        sse.frame()
        assert live.close_streams() == 1
        with pytest.raises(AssertionError, match="the stream ended"):
            sse.frame()
    wait_for(lambda: live.open_streams() == 0)


def test_a_slow_screen_gets_a_resync_instead_of_blocking_the_publisher() -> None:
    async def scenario() -> list[tuple[str, dict[str, Any]]]:
        stream = live._Stream(asyncio.get_running_loop(), size=4)

        def publish_six() -> None:
            for n in range(6):
                stream.offer("ops.note", {"n": n})

        publisher = threading.Thread(target=publish_six)
        publisher.start()
        publisher.join(5)
        assert not publisher.is_alive()
        await asyncio.sleep(0.05)
        got = []
        while not stream.queue.empty():
            event = stream.queue.get_nowait()
            assert event is not None
            got.append((event.name, event.data))
        stream.close()
        return got

    got = asyncio.run(scenario())
    assert got == [("resync", {"reason": "overflow", "dropped": 5}), ("ops.note", {"n": 5})]


def test_a_batch_relayed_with_a_count_instead_of_ids_still_counts_its_readings(
    http: httpx2.Client,
) -> None:
    with http.stream("GET", EVENTS) as response:
        sse = Sse(response)
        sse.frame()
        events.publish(  # as cityos.relay re-publishes a large batch from another process
            "sta.changed",
            {
                "entity": "Observation",
                "op": "create",
                "fields": None,
                "count": 500,
                "datastreams": [3],
            },
        )
        assert sse.event()["data"] == '{"observations":500,"datastreams":[3]}'


# --- from MQTT, when the events happen in another process ---------------------------------


@contextmanager
def relaying_server(database_url: str, engine: Engine, prefix: str) -> Iterator[str]:
    """A live server whose bus is relayed over Mosquitto under ``prefix`` (no ingest of its
    own: the other process ingests)."""
    with live_server(
        database_url,
        engine,
        mqtt_url=f"mqtt://{BROKER[0]}:{BROKER[1]}",
        mqtt_topic_prefix=prefix,
        mqtt_client_id=f"{prefix.rstrip('/')}-server",
        ingest_embedded=False,
        ops_relay=True,
    ) as url:
        yield url


class Screen:
    """An open event stream read by a thread: each event with when it arrived."""

    def __init__(self, client: httpx2.Client) -> None:
        self.arrived: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._client = client
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Screen:
        self._thread.start()
        assert self._open.wait(5), "the event stream did not open"
        return self

    def __exit__(self, *_exc: object) -> None:
        live.close_streams()
        self._thread.join(5)

    def _read(self) -> None:
        with self._client.stream("GET", EVENTS) as response:
            sse = Sse(response)
            sse.frame()
            self._open.set()
            try:
                while True:
                    event = sse.event()
                    self.arrived.put((time.monotonic(), event))
            except AssertionError:  # the stream ended
                return

    def next(self, seconds: float = 5.0) -> tuple[float, dict[str, Any]]:
        try:
            return self.arrived.get(timeout=seconds)
        except queue.Empty:
            raise AssertionError("no event arrived in time") from None

    def drain(self) -> list[dict[str, Any]]:
        got = []
        while not self.arrived.empty():
            got.append(self.arrived.get_nowait()[1])
        return got


def until_relayed(screen: Screen, announce: Callable[[int], None], name: str) -> None:
    """QoS 0 is lost until both relays are connected: announce until the screen hears one,
    then let stragglers arrive and forget them."""
    deadline = time.monotonic() + 15
    attempt = 0
    while True:
        assert time.monotonic() < deadline, "nothing came across the broker"
        announce(attempt)
        attempt += 1
        try:
            _at, event = screen.arrived.get(timeout=0.2)
        except queue.Empty:
            continue
        if event["event"] == name:
            break
    time.sleep(0.3)
    screen.drain()


@pytest.fixture
def relaying(
    database_url: str, engine: Engine, keys: dict[str, str], broker: tuple[str, int], prefix: str
) -> Iterator[httpx2.Client]:
    with (
        relaying_server(database_url, engine, prefix) as url,
        httpx2.Client(base_url=url, headers={"Authorization": keys["operator"]}, timeout=5) as http,
    ):
        yield http


def test_events_relayed_over_mqtt_from_another_process_reach_the_screen_once_within_a_second(
    relaying: httpx2.Client, broker: tuple[str, int], prefix: str
) -> None:
    elsewhere = Bus()  # the bus of another CityOS process (an ingest worker, say)
    config = RelayConfig(broker[0], broker[1], prefix=prefix, origin="ingest-elsewhere")
    relay = Relay(config, subscribe=elsewhere.subscribe, publish=elsewhere.publish)
    relay.start()
    try:
        assert relay.wait_ready(10), "the other process's relay did not subscribe"
        with Screen(relaying) as screen:
            until_relayed(screen, lambda n: elsewhere.publish("ops.note", {"probe": n}), "ops.note")
            alert = {"id": 31, "state": "active", "severity": "critical", "message": "水位高"}
            case = {"id": 77, "kind": "submitted", "category": "POTHOLE"}
            sent = time.monotonic()
            elsewhere.publish("sensing.alert", alert)
            elsewhere.publish("cases.changed", case)
            got = [screen.next(), screen.next()]
            time.sleep(0.3)  # a duplicate would have arrived by now
            assert screen.drain() == []
    finally:
        relay.stop()
    for arrived, _event in got:
        assert arrived - sent < 1.0
    assert [(event["event"], json.loads(event["data"])) for _at, event in got] == [
        ("sensing.alert", alert),
        ("cases.changed", case),
    ]
    assert relay.received == 0  # the server did not relay them back


@pytest.fixture
def ingest_process(
    database_url: str, broker: tuple[str, int], prefix: str, tmp_path: Path
) -> Iterator[Callable[[], None]]:
    """A real ``cityos ingest`` worker (another process) on the test database and broker,
    started at once; call the fixture's value to wait until it has subscribed (so its start-up
    overlaps the server's)."""
    tag = f"{prefix.rstrip('/')}-ingest"
    env = {
        **os.environ,
        "CITYOS_DATABASE_URL": database_url,
        "CITYOS_MQTT_URL": f"mqtt://{broker[0]}:{broker[1]}",
        "CITYOS_MQTT_TOPIC_PREFIX": prefix,
        "CITYOS_INGEST_BATCH_MS": "10",
    }
    command = [sys.executable, "-m", "cityos", "ingest", "--client-id", tag, "--group", tag]
    log = tmp_path / "ingest.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [*command, "--no-notify"], env=env, stdout=out, stderr=subprocess.STDOUT
        )

    def subscribed() -> None:
        deadline = time.monotonic() + 30
        while b"ingest subscribed to" not in log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the ingest worker did not subscribe:\n" + log.read_text()[-3000:])
            time.sleep(0.05)

    try:
        yield subscribed
    finally:
        worker.terminate()
        worker.wait(10)


def test_an_alert_raised_by_an_ingest_worker_in_another_process_reaches_the_screen(
    db: Session,
    city: object,
    ingest_process: Callable[[], None],
    relaying: httpx2.Client,
    publisher: mqtt.Client,
    prefix: str,
) -> None:
    ingest_process()
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, severity="critical")
    db.commit()
    topic = f"{prefix}v1.1/Datastreams({gauge.datastream_id})/Observations"
    start = datetime.now(UTC) - timedelta(minutes=10)

    def reading(value: float, n: int) -> None:
        at = (start + timedelta(seconds=n)).isoformat()
        publisher.publish(topic, json.dumps({"result": value, "phenomenonTime": at}), qos=1)

    with Screen(relaying) as screen:
        # normal readings until the worker's relay is connected: they reach the screen too
        until_relayed(screen, lambda n: reading(5.0, n), "readings")
        sent = time.monotonic()
        reading(30.0, 1000)  # above the rule's threshold of 20
        while True:
            arrived, event = screen.next()
            if event["event"] == "sensing.alert":
                break
            assert event["event"] == "readings", event
    assert arrived - sent < 1.0
    alert = json.loads(event["data"])
    assert (alert["datastream"], alert["state"], alert["severity"], alert["district"]) == (
        gauge.datastream_id,
        "active",
        "critical",
        "TC-W",
    )
