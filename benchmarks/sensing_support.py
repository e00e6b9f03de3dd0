"""Shared by the sensing benchmarks (``ingest_mqtt``, ``ingest_bulk``, ``sta_post``,
``sensing_query``): a migrated database with sensors to write to, and small helpers around
it. Not a benchmark itself.

* :func:`seed_sensors` — the demo departments and users, an API key of the admin, and N
  Things, each with one Location (a point in a fixed box) and one Datastream (numeric
  ``OM_Measurement``; one Sensor, five ObservedProperties taken in turn), written with
  SQLAlchemy Core ``executemany`` and explicit ids ``1 … N`` (setup, not timed).
* :func:`clear_observations` — empties the observations and what is derived from them
  (latest values, rollups, dead letters) between runs, so every run starts from the same state.
* :func:`stored` — how many observations are stored (``max(id)`` after a clear: one index
  probe, cheap enough to poll).
* :func:`iso` — a UTC time as SensorThings writes it.
* :func:`json_request` / :func:`send_all` — raw HTTP/1.1 requests with a JSON body and an
  API key, and a fixed list of them sent over C keep-alive connections (the asyncio client of
  ``cases_support``, counted rather than timed).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, insert, text

from cases_support import Run, _exchange
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.db import make_engine, make_session_factory, transaction, upgrade
from cityos.demo.people import seed_departments, seed_users
from cityos.sensing.models import (
    Datastream,
    Location,
    ObservationType,
    ObservedProperty,
    Sensor,
    Thing,
    thing_locations,
)

ACTOR = Actor.system("benchmark")
SEED = 20_261_207
# A box of about 35 × 22 km; the points need not be inside the demo city's map.
BOX = (116.20, 39.80, 116.60, 40.00)
PROPERTIES = (
    ("Water level", "cm", "http://vocab.nerc.ac.uk/collection/P01/current/ASLVZZ01/"),
    ("PM2.5", "ug/m3", "http://vocab.nerc.ac.uk/collection/P01/current/PM25XXXX/"),
    ("Noise level", "dB(A)", "https://dbpedia.org/page/Sound_pressure"),
    ("Traffic flow", "vehicles/h", "https://dbpedia.org/page/Traffic_flow"),
    ("Electric power", "kW", "https://dbpedia.org/page/Electric_power"),
)
OBSERVATION_TABLES = ("sensing_observations", "sensing_rollups", "sensing_latest")


@dataclass(frozen=True)
class Sensors:
    url: str
    datastream_ids: list[int]
    api_key: str
    seconds: float


def iso(moment: datetime) -> str:
    """``2026-11-21T10:00:00.000Z``: how SensorThings clients write times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _reset_sequences(connection: Connection, tables: list[str]) -> None:
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        )


def seed_sensors(url: str, *, datastreams: int, start: datetime | None = None) -> Sensors:
    """Migrate ``url`` and write ``datastreams`` Things, Locations and Datastreams."""
    began = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as db_session:
        seed_departments(db_session)
        seed_users(db_session)
        admin = auth_service.get_user_by_email(db_session, email="admin@example.org")
        _, api_key = auth_service.create_api_key(
            db_session, user=admin, name="benchmark client", actor=ACTOR
        )
    rng = np.random.default_rng(SEED)
    lons = rng.uniform(BOX[0], BOX[2], datastreams)
    lats = rng.uniform(BOX[1], BOX[3], datastreams)
    ids = list(range(1, datastreams + 1))
    with engine.begin() as connection:
        connection.execute(
            insert(Sensor.__table__),
            [
                {
                    "id": 1,
                    "name": "Benchmark sensor",
                    "description": "A sensor model the benchmarks write as.",
                    "encoding_type": "application/pdf",
                    "metadata": "https://example.org/sensor.pdf",
                }
            ],
        )
        connection.execute(
            insert(ObservedProperty.__table__),
            [
                {"id": i + 1, "name": name, "definition": definition, "description": name}
                for i, (name, _, definition) in enumerate(PROPERTIES)
            ],
        )
        chunk = 20_000
        for first in range(0, datastreams, chunk):
            part = ids[first : first + chunk]
            connection.execute(
                insert(Thing.__table__),
                [{"id": i, "name": f"Station {i:05d}", "description": "benchmark"} for i in part],
            )
            connection.execute(
                insert(Location.__table__),
                [
                    {
                        "id": i,
                        "name": f"Station {i:05d}",
                        "description": "benchmark",
                        "location": {
                            "type": "Point",
                            "coordinates": [round(lons[i - 1], 6), round(lats[i - 1], 6)],
                        },
                        "lon": float(lons[i - 1]),
                        "lat": float(lats[i - 1]),
                    }
                    for i in part
                ],
            )
            connection.execute(
                insert(thing_locations), [{"thing_id": i, "location_id": i} for i in part]
            )
            rows: list[dict[str, Any]] = []
            for i in part:
                name, unit, definition = PROPERTIES[(i - 1) % len(PROPERTIES)]
                rows.append(
                    {
                        "id": i,
                        "name": f"{name} at station {i:05d}",
                        "description": "benchmark",
                        "unit_of_measurement": {
                            "name": unit,
                            "symbol": unit,
                            "definition": definition,
                        },
                        "observation_type": ObservationType.MEASUREMENT.value,
                        "thing_id": i,
                        "sensor_id": 1,
                        "observed_property_id": (i - 1) % len(PROPERTIES) + 1,
                        "phenomenon_time_start": start,
                    }
                )
            connection.execute(insert(Datastream.__table__), rows)
        _reset_sequences(
            connection,
            [
                "sensing_sensors",
                "sensing_observed_properties",
                "sensing_things",
                "sensing_locations",
                "sensing_datastreams",
            ],
        )
    analyze(engine)
    engine.dispose()
    return Sensors(url, ids, api_key, time.perf_counter() - began)


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")


def clear_observations(engine: Engine) -> None:
    """Empty the observations, rollups, latest values and dead letters (ids restart at 1)."""
    tables = (*OBSERVATION_TABLES, "sensing_dead_letters")
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
        else:
            for table in tables:
                connection.exec_driver_sql(f"DELETE FROM {table}")  # noqa: S608
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def stored(connection: Connection) -> int:
    """Observations stored since the last :func:`clear_observations` (their largest id)."""
    value = connection.exec_driver_sql("SELECT max(id) FROM sensing_observations").scalar()
    connection.rollback()
    return int(value or 0)


def counts(engine: Engine) -> tuple[int, int]:
    """(observations, dead letters), counted exactly."""
    with engine.connect() as connection:
        observations = connection.exec_driver_sql(
            "SELECT count(*) FROM sensing_observations"
        ).scalar()
        dead = connection.exec_driver_sql("SELECT count(*) FROM sensing_dead_letters").scalar()
    return int(observations or 0), int(dead or 0)


def json_request(path: str, body: bytes, api_key: str, *, method: str = "POST") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii") + body


async def _send_all(port: int, requests: list[bytes], clients: int) -> Run:
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sample: list[bytes] = []
    start = time.perf_counter()

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (i := next(counter)) < len(requests):
                sent = time.perf_counter()
                status, body = await _exchange(reader, writer, requests[i])
                latencies.append(time.perf_counter() - sent)
                statuses[status] = statuses.get(status, 0) + 1
                if (status >= 400 or b'"error"' in body) and not sample:
                    sample.append(body)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return Run(time.perf_counter() - start, latencies, statuses, sample[0] if sample else b"")


def send_all(port: int, requests: list[bytes], *, clients: int) -> Run:
    """Every request once, over ``clients`` connections each sending its next as soon as it
    has an answer; timed from the first to the last answer."""
    return asyncio.run(_send_all(port, requests, clients))
