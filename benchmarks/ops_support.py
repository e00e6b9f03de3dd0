"""Shared by ``ops_endpoints.py``: the demo-size city for the operations center, an operator's
HTTP client, a Server-Sent Events listener and an MQTT probe. Not a benchmark itself.

* :func:`seed_ops` — one database with everything the screen reads: the cases of
  ``cases_support.build_database`` (demo city, catalog, N synthetic cases over 365 days), the
  sensors and observations of ``sensing_query.build`` (``sensing_support.seed_sensors``, then
  observations, rollups and latest values made in SQL), the sensors' Locations moved inside
  the city (random points, located with ``locate_many``: grid and district codes), a few
  alerts (active and past, on disabled rules), an alert rule the live probe trips, the demo
  data hub's datasets (optional; its big dataset kept small) and an API key of the demo
  operator. Setup, not timed.
* :class:`OperatorClient` — one keep-alive connection sending ``Authorization: Bearer``.
* :class:`EventStream` — ``GET /api/ops/events`` read in a thread; every event's arrival
  time (``time.perf_counter``), waited for by a predicate.
* :class:`MqttProbe` — a paho publisher and a bare paho subscriber on the same topics (the
  subscriber's receipt is the baseline of publish → SSE).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from sqlalchemy import bindparam, insert, select, update

from cases_support import ACTOR, Server, build_database, cityos_server, inside_points
from cityos.auth import service as auth_service
from cityos.db import make_engine, make_session_factory, transaction
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel
from cityos.sensing import rules
from cityos.sensing.models import Alert, FeatureOfInterest, Location
from sensing_query import build as build_sensing
from sensing_support import PROPERTIES, analyze

SEED = 20_261_221
OPERATOR = "operator@example.org"
# The live probe's rule: any water level above this raises a critical alert at once.
PROBE_PROPERTY = PROPERTIES[0][0]  # "Water level": datastreams 1, 6, 11, …
PROBE_THRESHOLD = 10_000.0
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class OpsSeeded:
    url: str
    cases: int
    datastreams: int
    observations: int
    alerts_active: int
    datasets: str
    operator_key: str
    district_code: str
    district_id: int
    probe_datastreams: list[int]  # Water level datastreams, none with an alert yet
    seconds: float


def _relocate_sensors(url: str, rng: np.random.Generator) -> dict[int, dict[str, Any]]:
    """Move every sensor Location to a random point inside the city, with its grid and
    district codes; {location id: place}."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as db_session:
        ids = list(db_session.scalars(select(Location.id)))
        city = geo_service.list_areas(db_session, level=AreaLevel.CITY)[0]
        bounds = (city.min_lon, city.min_lat, city.max_lon, city.max_lat)
        lons, lats, located = inside_points(db_session, rng, bounds, len(ids))
        grids = located.codes_at(AreaLevel.GRID)
        districts = located.codes_at(AreaLevel.DISTRICT)
    places: dict[int, dict[str, Any]] = {}
    rows = []
    for i, location_id in enumerate(sorted(ids)):
        lon, lat = round(float(lons[i]), 6), round(float(lats[i]), 6)
        point = {"type": "Point", "coordinates": [lon, lat]}
        place = {
            "b_id": location_id,
            "lon": lon,
            "lat": lat,
            "location": point,
            "grid_code": grids[i] or None,
            "district_code": districts[i] or None,
        }
        places[location_id] = place
        rows.append(place)
    table = Location.__table__
    features = FeatureOfInterest.__table__
    with engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                lon=bindparam("lon"),
                lat=bindparam("lat"),
                location=bindparam("location"),
                grid_code=bindparam("grid_code"),
                district_code=bindparam("district_code"),
            ),
            rows,
        )
        connection.execute(
            update(features)
            .where(features.c.location_id == bindparam("b_id"))
            .values(feature=bindparam("location")),
            rows,
        )
    engine.dispose()
    return places


def _seed_alerts(
    url: str, rng: np.random.Generator, places: dict[int, dict[str, Any]], *, active: int
) -> tuple[int, list[int]]:
    """``active`` active alerts and ten times as many past ones over 30 days, on disabled
    rules (one per severity), on datastreams that do not observe the probe's property; the
    probe's enabled rule. (Datastream and Location ids are equal: seed_sensors.)"""
    now = datetime.now(UTC)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as db_session:
        admin = auth_service.get_user_by_email(db_session, email="admin@example.org")
        rule_ids = {}
        for index, severity in enumerate(SEVERITIES):
            rule = rules.create_rule(
                db_session,
                data=rules.RuleInput(
                    name=f"Benchmark {severity} alerts",
                    kind="above",
                    severity=severity,
                    observed_property_id=2 + index,
                    threshold=1e9,
                    enabled=False,
                ),
                actor=ACTOR,
                user_id=admin.id,
            )
            rule_ids[severity] = rule.id
        rules.create_rule(
            db_session,
            data=rules.RuleInput(
                name="Benchmark probe: water level",
                kind="above",
                severity="critical",
                observed_property_id=1,
                threshold=PROBE_THRESHOLD,
            ),
            actor=ACTOR,
            user_id=admin.id,
        )
    total = len(places)
    candidates = np.array([i for i in places if (i - 1) % len(PROPERTIES) != 0])
    rows = []
    for n in range(active * 11):
        datastream = int(rng.choice(candidates))
        place = places[datastream]
        severity = str(rng.choice(SEVERITIES, p=[0.3, 0.5, 0.2]))
        is_active = n < active
        started = now - timedelta(days=float(rng.uniform(0, 7 if is_active else 30)))
        ended = None if is_active else started + timedelta(hours=float(rng.uniform(0.2, 12)))
        rows.append(
            {
                "rule_id": rule_ids[severity],
                "datastream_id": datastream,
                "state": "active" if is_active else "cleared",
                "severity": severity,
                "message": f"{PROPERTIES[(datastream - 1) % len(PROPERTIES)][0]} above limit",
                "started_at": started,
                "ended_at": ended,
                "readings": [],
                "lon": place["lon"],
                "lat": place["lat"],
                "grid_code": place["grid_code"],
                "district_code": place["district_code"],
                "acknowledged_at": started + timedelta(minutes=5) if n % 3 == 0 else None,
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(Alert.__table__), rows)
    engine.dispose()
    probes = list(range(1, total + 1, len(PROPERTIES)))
    return active, probes


def _seed_datasets(url: str) -> str:
    """The demo data hub with a small big dataset; its summary line."""
    from cityos.demo.datahub import seed_datahub

    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as db_session:
        line = seed_datahub(db_session, big_rows=2_000)
    engine.dispose()
    return line


def seed_ops(
    url: str,
    *,
    cases: int,
    datastreams: int,
    observations: int,
    active_alerts: int,
    datasets: bool = True,
) -> OpsSeeded:
    """Seed ``url`` (an empty, new database or schema) for the operations center; the demo
    data hub too when ``datasets`` (about 15 s)."""
    began = time.perf_counter()
    seeded = build_database(url, cases=cases)
    print(f"  {cases:,} cases ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    build_sensing(url, datastreams=datastreams, rows=observations)
    rng = np.random.default_rng(SEED)
    places = _relocate_sensors(url, rng)
    active, probes = _seed_alerts(url, rng, places, active=active_alerts)
    print(f"  sensors and alerts ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    hub = _seed_datasets(url) if datasets else "data hub not seeded"
    print(f"  {hub} ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as db_session:
        operator = auth_service.get_user_by_email(db_session, email=OPERATOR)
        _, key = auth_service.create_api_key(
            db_session, user=operator, name="ops benchmark", actor=ACTOR
        )
        district = sorted(
            geo_service.list_areas(db_session, level=AreaLevel.DISTRICT), key=lambda a: a.code
        )[0]
    analyze(engine)
    engine.dispose()
    return OpsSeeded(
        url=url,
        cases=seeded.cases,
        datastreams=datastreams,
        observations=observations,
        alerts_active=active,
        datasets=hub,
        operator_key=key,
        district_code=district.code,
        district_id=district.id,
        probe_datastreams=probes,
        seconds=time.perf_counter() - began,
    )


@contextmanager
def ops_server(url: str, *, cwd: Path, env: dict[str, str]) -> Iterator[Server]:
    """``cases_support.cityos_server`` with these extra ``CITYOS_*`` settings."""
    with mock.patch.dict(os.environ, env):
        server = cityos_server(url, cwd=cwd)
    try:
        yield server
    finally:
        server.stop()


class OperatorClient:
    """One keep-alive HTTP/1.1 connection signed in as the operator (chunked answers too)."""

    def __init__(self, port: int, api_key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def get(self, path: str) -> tuple[int, bytes]:
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def post_form(self, path: str, body: bytes) -> tuple[int, bytes]:
        headers = {**self.headers, "Content-Type": "application/x-www-form-urlencoded"}
        self.connection.request("POST", path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class Event:
    at: float  # time.perf_counter() when its blank line arrived
    name: str
    data: Any


class EventStream:
    """``GET /api/ops/events`` read line by line in a daemon thread."""

    def __init__(self, port: int, api_key: str, path: str = "/api/ops/events") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connection.request(
            "GET",
            path,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"},
        )
        self.response = self.connection.getresponse()
        if self.response.status != 200:
            body = self.response.read(300)
            raise RuntimeError(f"GET {path}: {self.response.status} {body!r}")
        self.events: list[Event] = []
        self.changed = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, name="sse", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            while not self.closed:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if line:
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        name = value
                    elif field == "data":
                        data.append(value)
                    continue
                if data:
                    arrived = time.perf_counter()
                    try:
                        parsed = json.loads("\n".join(data))
                    except ValueError:
                        parsed = "\n".join(data)
                    with self.changed:
                        self.events.append(Event(arrived, name, parsed))
                        self.changed.notify_all()
                name, data = "message", []
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed by close(): http.client drops its socket file under the reader
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def wait_for(self, match: Callable[[Event], bool], *, timeout: float) -> Event | None:
        """The first event that ``match``es, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.changed:
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.changed.wait(left)

    def close(self) -> None:
        self.closed = True
        self.connection.close()


class MqttProbe:
    """A publisher (MQTT 3.1.1, QoS 1) and a bare subscriber (the baseline) on ``prefix``."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.prefix = prefix
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Condition()
        tag = f"{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
        self.subscriber = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-ops-bare-{tag}", protocol=mqtt.MQTTv311
        )
        subscribed = threading.Event()
        self.subscriber.on_message = self._arrived
        self.subscriber.on_subscribe = lambda *_: subscribed.set()
        self.subscriber.connect(host, port)
        self.subscriber.loop_start()
        self.subscriber.subscribe(f"{prefix}v1.1/#", qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("the bare MQTT subscriber could not subscribe")
        self.publisher = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-ops-pub-{tag}", protocol=mqtt.MQTTv311
        )
        self.publisher.connect(host, port)
        self.publisher.loop_start()

    def _arrived(self, _client: Any, _userdata: Any, message: Any) -> None:
        at = time.perf_counter()
        with self.lock:
            self.arrivals.setdefault(message.topic, at)
            self.lock.notify_all()

    def topic(self, datastream_id: int) -> str:
        return f"{self.prefix}v1.1/Datastreams({datastream_id})/Observations"

    def publish(self, datastream_id: int, value: float) -> float:
        """Publish one reading now; the time just before."""
        body = json.dumps(
            {"result": value, "phenomenonTime": datetime.now(UTC).isoformat()}
        ).encode()
        sent = time.perf_counter()
        self.publisher.publish(self.topic(datastream_id), body, qos=1)
        return sent

    def received(self, topic: str, *, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while topic not in self.arrivals:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.lock.wait(left)
            return self.arrivals[topic]

    def close(self) -> None:
        for client in (self.publisher, self.subscriber):
            client.disconnect()
            client.loop_stop()
