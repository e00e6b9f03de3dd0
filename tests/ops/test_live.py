"""Live events of the operations center (``GET /api/ops/events``) through a real server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.ops import live
from tests.cases.conftest import services
from tests.cases.open311_support import BASE, Open311City, open311_city, pothole
from tests.geo.conftest import city
from tests.live_server import live_server

__all__ = ["city", "open311_city", "services"]

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
