"""The sensor simulator: a fleet of simulated devices and the readings they send.

:func:`ensure_fleet` finds the simulated Things (marked with the property ``cityos:kind``, as
the demo's are) and creates more when there are too few: a Thing located in a random grid
cell of the city map, its Location (located with :func:`cityos.geo.service.locate_many`),
HistoricalLocation and FeatureOfInterest, and one Datastream with the kind's shared Sensor and
ObservedProperty. :class:`Simulator` produces :class:`~cityos.sensing.readings.Reading`\\ s
with the day patterns of :mod:`cityos.sensing.simulate_patterns` and live faults; a sink
sends them: straight into the store, over MQTT, or over HTTP (``CreateObservations``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np
import shapely
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cityos.db import transaction, utcnow
from cityos.errors import InvalidInput, Unprocessable
from cityos.geo import service as geo_service
from cityos.sensing.models import (
    Datastream,
    FeatureOfInterest,
    HistoricalLocation,
    Location,
    ObservedProperty,
    Sensor,
    Thing,
    historical_location_locations,
    thing_locations,
)
from cityos.sensing.readings import Reading
from cityos.sensing.simulate_patterns import KIND_KEY, KINDS, Kind, split, values

BULK_TOPIC = "cityos/v1/observations"


@dataclass(frozen=True, slots=True)
class Member:
    """One simulated device: its datastream and kind."""

    datastream_id: int
    kind: str


# --- the fleet -----------------------------------------------------------------------------


def fleet(db_session: Session) -> list[Member]:
    """Every simulated datastream, oldest first."""
    rows = db_session.execute(select(Datastream.id, Datastream.properties).order_by(Datastream.id))
    members = []
    for datastream_id, properties in rows:
        kind = (properties or {}).get(KIND_KEY)
        if kind in KINDS:
            members.append(Member(datastream_id, kind))
    return members


def _property(db_session: Session, kind: Kind) -> ObservedProperty:
    found = db_session.scalars(
        select(ObservedProperty).where(ObservedProperty.definition == kind.property_definition)
    ).first()
    if found is None:
        found = ObservedProperty(
            name=kind.property_name,
            definition=kind.property_definition,
            description=f"{kind.name_en} / {kind.name_zh}",
            properties={KIND_KEY: kind.code},
        )
        db_session.add(found)
    return found


def _sensor(db_session: Session, kind: Kind) -> Sensor:
    found = db_session.scalars(select(Sensor).where(Sensor.name == kind.sensor_name)).first()
    if found is None:
        found = Sensor(
            name=kind.sensor_name,
            description=kind.sensor_description,
            encoding_type="text/html",
            sensor_metadata=f"https://cityos.example.org/sensors/{kind.code}",
            properties={KIND_KEY: kind.code},
        )
        db_session.add(found)
    return found


@dataclass(frozen=True, slots=True)
class Places:
    """Points in the city's grid cells: coordinates with their grid and district codes."""

    lon: np.ndarray
    lat: np.ndarray
    grid: list[str | None]
    district: list[str | None]


def random_places(db_session: Session, rng: np.random.Generator, n: int) -> Places:
    """``n`` points spread over the city's grid cells (each inside its cell)."""
    cells = geo_service.list_areas(db_session, level=geo_service.AreaLevel.GRID)
    if not cells:
        cells = geo_service.list_areas(db_session)
    if not cells:
        raise Unprocessable(
            "The simulator places sensors on the city map, and there is none: import the "
            "areas (`cityos areas import`) or seed the demo city first."
        )
    pick = rng.integers(0, len(cells), size=n)
    box = np.array([[c.min_lon, c.min_lat, c.max_lon, c.max_lat] for c in cells])[pick]
    lon = box[:, 0] + rng.random(n) * (box[:, 2] - box[:, 0])
    lat = box[:, 1] + rng.random(n) * (box[:, 3] - box[:, 1])
    shapes = shapely.from_wkb([cells[i].geometry_wkb for i in pick]) if n else []
    inside = shapely.contains_xy(shapes, lon, lat) if n else np.zeros(0, dtype=bool)
    labels = np.array([[cells[i].label_lon, cells[i].label_lat] for i in pick]).reshape(-1, 2)
    lon = np.round(np.where(inside, lon, labels[:, 0]), 6)
    lat = np.round(np.where(inside, lat, labels[:, 1]), 6)
    located = geo_service.locate_many(db_session, lons=lon, lats=lat)
    return Places(
        lon=lon,
        lat=lat,
        grid=list(located.codes_at(geo_service.AreaLevel.GRID)),
        district=list(located.codes_at(geo_service.AreaLevel.DISTRICT)),
    )


def create_members(
    db_session: Session,
    counts: dict[str, int],
    *,
    rng: np.random.Generator,
    places: Places | None = None,
    now: datetime | None = None,
    numbering: int = 1,
) -> list[Member]:
    """Create ``counts[kind]`` simulated devices of each kind (Things numbered from
    ``numbering``); ``places`` default to random points of the city map."""
    moment = now or utcnow()
    total = sum(counts.values())
    places = places or random_places(db_session, rng, total)
    things: list[Thing] = []
    locations: list[Location] = []
    datastreams: list[tuple[Datastream, str]] = []
    i = 0
    for code, count in counts.items():
        kind = KINDS[code]
        observed, sensor = _property(db_session, kind), _sensor(db_session, kind)
        db_session.flush()
        for _ in range(count):
            label = f"{kind.prefix}-{numbering + i:04d}"
            point = {"type": "Point", "coordinates": [float(places.lon[i]), float(places.lat[i])]}
            where = places.grid[i] or places.district[i] or "-"
            thing = Thing(
                name=f"{kind.name_zh} {label}",
                description=f"{kind.name_en} {label} ({where})",
                properties={KIND_KEY: code, "simulated": True},
            )
            location = Location(
                name=f"{label} @ {where}",
                description=f"{kind.name_en} {label}",
                location=point,
                lon=float(places.lon[i]),
                lat=float(places.lat[i]),
                grid_code=places.grid[i],
                district_code=places.district[i],
            )
            datastream = Datastream(
                name=f"{kind.name_en} {label}",
                description=f"{kind.name_zh} {label}",
                unit_of_measurement=kind.unit,
                observation_type=kind.observation_type,
                observed_area=point,
                properties={KIND_KEY: code},
                sensor_id=sensor.id,
                observed_property_id=observed.id,
            )
            things.append(thing)
            locations.append(location)
            datastreams.append((datastream, code))
            i += 1
    db_session.add_all(things)
    db_session.add_all(locations)
    db_session.flush()
    histories = [HistoricalLocation(thing_id=thing.id, time=moment) for thing in things]
    features = [
        FeatureOfInterest(
            name=location.name,
            description=location.description,
            feature=location.location,
            location_id=location.id,
        )
        for location in locations
    ]
    for (datastream, _code), thing in zip(datastreams, things, strict=True):
        datastream.thing_id = thing.id
    db_session.add_all(histories)
    db_session.add_all(features)
    db_session.add_all([datastream for datastream, _code in datastreams])
    db_session.flush()
    pairs = [
        {"thing_id": t.id, "location_id": loc.id} for t, loc in zip(things, locations, strict=True)
    ]
    if pairs:
        db_session.execute(thing_locations.insert(), pairs)
        db_session.execute(
            historical_location_locations.insert(),
            [
                {"historical_location_id": h.id, "location_id": loc.id}
                for h, loc in zip(histories, locations, strict=True)
            ],
        )
    return [Member(datastream.id, code) for datastream, code in datastreams]


def ensure_fleet(
    db_session: Session, size: int, *, rng: np.random.Generator | None = None
) -> list[Member]:
    """``size`` simulated devices: the existing ones first, new ones (a mix of every kind)
    created when there are too few."""
    if size < 1:
        raise InvalidInput(f"--things must be at least 1 (got {size}).")
    members = fleet(db_session)
    missing = size - len(members)
    if missing > 0:
        members += create_members(
            db_session,
            split(missing),
            rng=rng or np.random.default_rng(),
            numbering=len(members) + 1,
        )
    return members[:size]


# --- readings ------------------------------------------------------------------------------


@dataclass
class Simulator:
    """Readings of a fleet, a few at a time, round robin. Live faults: now and then a device
    sends one wild value (spike), repeats its last value for a while (stuck) or goes quiet
    (silent)."""

    members: Sequence[Member]
    seed: int | None = None
    fault_chance: float = 0.002  # per reading, of starting a fault
    _rng: np.random.Generator = field(init=False)
    _next: int = field(init=False, default=0)
    _stuck: dict[int, tuple[int, float]] = field(init=False, default_factory=dict)
    _silent: dict[int, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.members:
            raise InvalidInput("The simulator needs at least one device.")
        self._rng = np.random.default_rng(self.seed)

    def tick(self, now: datetime, count: int | None = None, spread_s: float = 1.0) -> list[Reading]:
        """The next ``count`` readings (default: one per device), timed across ``spread_s``
        seconds from ``now``. Silent devices send nothing."""
        count = len(self.members) if count is None else count
        if count <= 0:
            return []
        chosen = [self.members[(self._next + j) % len(self.members)] for j in range(count)]
        self._next = (self._next + count) % len(self.members)
        offsets = np.arange(count) * (spread_s / count)
        base = now.timestamp()
        by_kind: dict[str, list[int]] = {}
        for j, member in enumerate(chosen):
            by_kind.setdefault(member.kind, []).append(j)
        results = np.zeros(count)
        for kind, positions in by_kind.items():
            ids = np.array([chosen[j].datastream_id for j in positions], dtype=np.int64)
            times = np.asarray(base + offsets[positions], dtype=np.float64)
            grid = values(kind, ids, times, self._rng)  # (ids, times): the diagonal is ours
            results[positions] = grid[np.arange(len(positions)), np.arange(len(positions))]
        readings = []
        for j, member in enumerate(chosen):
            value = self._fault(member, float(results[j]))
            if value is None:
                continue
            moment = now + timedelta(seconds=float(offsets[j]))
            readings.append(Reading(member.datastream_id, None, moment, None, value))
        return readings

    def _fault(self, member: Member, value: float) -> float | None:
        key = member.datastream_id
        if key in self._silent:
            left = self._silent.pop(key) - 1
            if left > 0:
                self._silent[key] = left
            return None
        if key in self._stuck:
            left, stuck_value = self._stuck.pop(key)
            if left > 1:
                self._stuck[key] = (left - 1, stuck_value)
            return stuck_value
        if self._rng.random() >= self.fault_chance:
            return value
        fault = self._rng.integers(0, 3)
        if fault == 0:
            return round(value * float(self._rng.uniform(3, 6)) + 5.0, 3)
        if fault == 1:
            self._stuck[key] = (int(self._rng.integers(10, 60)), value)
            return value
        self._silent[key] = int(self._rng.integers(10, 60))
        return None


# --- where readings go ---------------------------------------------------------------------


class Sink(Protocol):
    def send(self, readings: Sequence[Reading]) -> int:
        """Send ``readings``; how many were accepted."""
        ...

    def close(self) -> None: ...


class StoreSink:
    """Straight into the store, one transaction per batch (as ingestion does)."""

    def __init__(self, factory: sessionmaker[Session], engine: Engine) -> None:
        self.factory, self.engine = factory, engine

    def send(self, readings: Sequence[Reading]) -> int:
        from cityos.sensing.store import store_readings

        if not readings:
            return 0
        with transaction(self.factory) as db_session:  # the store serialises SQLite writes
            result = store_readings(db_session, readings)
        return sum(1 for i in result.ids if i is not None)

    def close(self) -> None:
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def bulk_payload(readings: Sequence[Reading]) -> bytes:
    """The bulk topic's JSON array: ``[{"datastream": id, "t": iso, "v": value}, …]``."""
    return json.dumps(
        [
            {"datastream": r.datastream_id, "t": _iso(r.phenomenon_start), "v": r.result}
            for r in readings
        ]
    ).encode()


class MqttSink:
    """Over MQTT (QoS 1): the bulk topic in batches, or one message per reading on
    ``v1.1/Datastreams(id)/Observations``."""

    def __init__(self, url: str, *, bulk: bool = True, batch: int = 500) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp", "") or not parts.hostname:
            raise InvalidInput(f"The MQTT URL {url!r} should look like mqtt://host:1883.")
        self.bulk, self.batch = bulk, batch
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if parts.username:
            self.client.username_pw_set(parts.username, parts.password)
        self.client.max_queued_messages_set(0)
        self.client.connect(parts.hostname, parts.port or 1883)
        self.client.loop_start()

    def send(self, readings: Sequence[Reading]) -> int:
        infos = []
        if self.bulk:
            for start in range(0, len(readings), self.batch):
                chunk = readings[start : start + self.batch]
                infos.append(self.client.publish(BULK_TOPIC, bulk_payload(chunk), qos=1))
        else:
            for r in readings:
                body = json.dumps({"phenomenonTime": _iso(r.phenomenon_start), "result": r.result})
                topic = f"v1.1/Datastreams({r.datastream_id})/Observations"
                infos.append(self.client.publish(topic, body, qos=1))
        for info in infos:
            info.wait_for_publish(timeout=30)
        return len(readings)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def create_observations_body(readings: Sequence[Reading]) -> list[dict[str, object]]:
    """A ``CreateObservations`` request body (dataArray), one entry per datastream."""
    grouped: dict[int, list[list[object]]] = {}
    for r in readings:
        assert r.datastream_id is not None
        grouped.setdefault(r.datastream_id, []).append([_iso(r.phenomenon_start), r.result])
    return [
        {
            "Datastream": {"@iot.id": datastream_id},
            "components": ["phenomenonTime", "result"],
            "dataArray": rows,
        }
        for datastream_id, rows in grouped.items()
    ]


class HttpSink:
    """Over HTTP: ``POST /sta/v1.1/CreateObservations`` with an API key (Bearer)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"The server URL {base_url!r} should start with http:// or https://."
            )
        if not api_key:
            raise InvalidInput("HTTP sending needs an API key (--api-key or CITYOS_API_KEY).")
        self.url = base_url.rstrip("/") + "/sta/v1.1/CreateObservations"
        self.api_key, self.timeout = api_key, timeout

    def send(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked above
            self.url,
            data=json.dumps(create_observations_body(readings)).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            created = json.loads(response.read() or b"[]")
        return sum(1 for link in created if not str(link).startswith("error"))

    def close(self) -> None:
        return None


# --- running -------------------------------------------------------------------------------


@dataclass
class RunReport:
    sent: int = 0
    accepted: int = 0
    seconds: float = 0.0


def run(
    simulator: Simulator,
    sink: Sink,
    *,
    rate: float,
    duration: float | None = None,
    stop: threading.Event | None = None,
    on_tick: Callable[[RunReport], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RunReport:
    """Send ``rate`` readings per second until ``duration`` seconds have passed (or
    ``stop`` is set); readings are timed now, spread across each second."""
    if rate <= 0:
        raise InvalidInput(f"--rate must be above 0 readings per second (got {rate:g}).")
    stop = stop or threading.Event()
    report = RunReport()
    started = clock()
    owed = 0.0
    for tick_start in _seconds(started, clock, stop, duration):
        owed += rate
        count = int(owed)
        owed -= count
        readings = simulator.tick(utcnow(), count)
        report.sent += len(readings)
        report.accepted += sink.send(readings)
        report.seconds = clock() - started
        if on_tick:
            on_tick(report)
        stop.wait(max(0.0, 1.0 - (clock() - tick_start)))
    report.seconds = clock() - started
    return report


def _seconds(
    started: float, clock: Callable[[], float], stop: threading.Event, duration: float | None
) -> Iterator[float]:
    while not stop.is_set():
        now = clock()
        if duration is not None and now - started >= duration:
            return
        yield now
