"""Shared by ``cases_post.py`` and ``cases_query.py``: the seeded database, the servers and
the load client. Not a benchmark itself.

* :func:`build_database` — the demo city's departments, users, map (8 districts, 40
  sub-districts, ~1,100 grid cells) and catalog (the packaged demo catalog), then N synthetic
  cases (fixed seed) spread over the last 365 days, written with SQLAlchemy Core
  ``executemany`` in batches: points inside the city located and routed with the vectorised
  ``locate_many`` / ``route_many``, statuses by age, SLA due times from the category, one
  "submitted" history entry per case. Seeding is not measured.
* :class:`Server` — a uvicorn process (one worker, no access log) pinned to CPU 0.
* :func:`closed_loop` / :func:`open_loop` — an asyncio HTTP/1.1 keep-alive client (no HTTP
  library: a few microseconds of client CPU per request), meant to run pinned to CPU 1.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy
from sqlalchemy import Engine, insert, select

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.cases import routing
from cityos.cases.catalog import list_categories
from cityos.cases.models import Case, CaseUpdate, Category
from cityos.db import make_engine, make_session_factory, transaction, upgrade
from cityos.demo.catalog import seed_catalog
from cityos.demo.city import seed_areas
from cityos.demo.people import seed_departments, seed_users
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SEED = 20_261_121
ACTOR = Actor.system("benchmark")
SERVER_CPU = 0
CLIENT_CPU = 1
DESCRIPTIONS = (
    "Deep hole in the road surface near the bus stop, cars swerve around it.",
    "路灯不亮已经三天了，晚上很黑，行人不安全。",
    "Rubbish bags piled up next to the market entrance since the weekend.",
    "施工噪音到深夜十一点还没停，影响休息。",
    "Water pouring out of a broken pipe at the corner, the pavement is flooded.",
)
DAY = 86_400.0


# --- the database ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    url: str
    cases: int
    api_key: str
    seconds: float
    city_bounds: tuple[float, float, float, float]


def _statuses(rng: np.random.Generator, age_days: np.ndarray) -> np.ndarray:
    """Older cases are mostly resolved; recent ones mostly open."""
    names = np.array(
        [
            "submitted",
            "acknowledged",
            "in_progress",
            "action_scheduled",
            "resolved",
            "closed",
            "reopened",
        ],
        dtype=object,
    )
    weights = {
        "old": [0.01, 0.01, 0.02, 0.01, 0.84, 0.10, 0.01],
        "month": [0.05, 0.10, 0.12, 0.05, 0.58, 0.08, 0.02],
        "week": [0.40, 0.25, 0.18, 0.02, 0.12, 0.03, 0.00],
    }
    out = np.empty(len(age_days), dtype=object)
    for name, mask in (
        ("old", age_days > 30),
        ("month", (age_days > 7) & (age_days <= 30)),
        ("week", age_days <= 7),
    ):
        out[mask] = rng.choice(names, size=int(mask.sum()), p=weights[name])
    return out


def build_database(url: str, *, cases: int, batch: int = 50_000) -> Seeded:
    """Migrate ``url`` and seed the demo city, its catalog and ``cases`` synthetic cases."""
    start = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as db_session:
        for step in (seed_departments, seed_users, seed_areas, seed_catalog):
            step(db_session)
        admin = auth_service.get_user_by_email(db_session, email="admin@example.org")
        _, raw_key = auth_service.create_api_key(
            db_session, user=admin, name="benchmark client", actor=ACTOR
        )
    rng = np.random.default_rng(SEED)
    with factory() as db_session:
        categories = list(list_categories(db_session))
        city = geo_service.list_areas(db_session, level=AreaLevel.CITY)[0]
        bounds = (city.min_lon, city.min_lat, city.max_lon, city.max_lat)
        now = datetime.now(UTC)
        done = 0
        while done < cases:
            count = min(batch, cases - done)
            rows, updates = _batch(db_session, rng, categories, bounds, now, first=done, n=count)
            with engine.begin() as connection:
                connection.execute(insert(Case.__table__), rows)
                token = Case.__table__.c.token
                ids = connection.execute(
                    select(Case.__table__.c.id)
                    .where(token.between(rows[0]["token"], rows[-1]["token"]))
                    .order_by(token)
                ).scalars()
                for update, case_id in zip(updates, ids, strict=True):
                    update["case_id"] = case_id
                connection.execute(insert(CaseUpdate.__table__), updates)
            done += count
    if url.startswith("sqlite"):
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return Seeded(url, cases, raw_key, time.perf_counter() - start, bounds)


def inside_points(
    db_session: Any,
    rng: np.random.Generator,
    bounds: tuple[float, float, float, float],
    n: int,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """``n`` random points inside the city (and where they are)."""
    lons_all: list[np.ndarray] = []
    lats_all: list[np.ndarray] = []
    have = 0
    while have < n:
        lons = rng.uniform(bounds[0], bounds[2], n)
        lats = rng.uniform(bounds[1], bounds[3], n)
        inside = geo_service.locate_many(db_session, lons=lons, lats=lats).inside
        lons_all.append(lons[inside])
        lats_all.append(lats[inside])
        have += int(inside.sum())
    lons = np.concatenate(lons_all)[:n]
    lats = np.concatenate(lats_all)[:n]
    return lons, lats, geo_service.locate_many(db_session, lons=lons, lats=lats)


def _batch(
    db_session: Any,
    rng: np.random.Generator,
    categories: Sequence[Category],
    bounds: tuple[float, float, float, float],
    now: datetime,
    *,
    first: int,
    n: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lons, lats, located = inside_points(db_session, rng, bounds, n)
    weights = rng.gamma(1.0, 1.0, len(categories))
    picks = rng.choice(len(categories), size=n, p=weights / weights.sum())
    category_ids = np.array([categories[i].id for i in picks], dtype=np.int64)
    routed = routing.route_many(db_session, category_ids=category_ids, locations=located)
    age_days = rng.uniform(0, 365, n)
    statuses = _statuses(rng, age_days)
    sources = rng.choice(np.array(["web", "open311", "staff"], dtype=object), n, p=[0.7, 0.2, 0.1])
    levels = {level: located.ids_at(level) for level in AreaLevel}
    resolve_hours = [
        float((c.sla.get("normal") or {}).get("resolve_hours", 120.0)) for c in categories
    ]
    ack_hours = [
        float((c.sla.get("normal") or {}).get("acknowledge_hours", 24.0)) for c in categories
    ]
    rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for i in range(n):
        pick = int(picks[i])
        requested = now - timedelta(days=float(age_days[i]))
        status = str(statuses[i])
        is_open = status not in ("resolved", "closed")
        resolve_due = requested + timedelta(hours=resolve_hours[pick])
        ack_due = requested + timedelta(hours=ack_hours[pick])
        ended = None if is_open else requested + timedelta(hours=resolve_hours[pick] * 0.6)
        department = int(routed.department_ids[i])
        grid = int(levels[AreaLevel.GRID][i])
        sub = int(levels[AreaLevel.SUBDISTRICT][i])
        rows.append(
            {
                "category_id": int(category_ids[i]),
                "status": status,
                "close_reason": "no_further_action" if status == "closed" else None,
                "priority": "normal",
                "description": DESCRIPTIONS[(first + i) % len(DESCRIPTIONS)],
                "status_notes": "" if is_open else "Done.",
                "resolution_note": "Done." if status == "resolved" else None,
                "attributes": {},
                "lon": float(lons[i]),
                "lat": float(lats[i]),
                "address": "",
                "area_id": int(located.area_ids[i]),
                "district_id": int(levels[AreaLevel.DISTRICT][i]),
                "subdistrict_id": sub if sub >= 0 else None,
                "grid_id": grid if grid >= 0 else None,
                "department_id": department if department >= 0 else None,
                "routing_rule_id": int(routed.rule_ids[i]) if routed.rule_ids[i] >= 0 else None,
                "routing_reason": str(routed.reasons[i]),
                "source": str(sources[i]),
                "token": f"bench-{first + i:09d}",
                "requested_at": requested,
                "updated_at": ended or requested,
                "acknowledged_at": None if status in ("submitted",) else ack_due,
                "resolved_at": ended,
                "acknowledge_due_at": ack_due,
                "resolve_due_at": resolve_due,
                "next_due_at": resolve_due if is_open else None,
                "sla_warn_at": None,
                "reopen_count": 1 if status == "reopened" else 0,
            }
        )
        updates.append(
            {
                "case_id": 0,
                "at": requested,
                "actor_label": "system:benchmark",
                "kind": "submitted",
                "status_to": "submitted",
                "note": "",
                "public": True,
                "details": {"source": str(sources[i])},
            }
        )
    return rows, updates


# --- servers -----------------------------------------------------------------------------

TRIVIAL_APP = """
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
ANSWER = [{"service_request_id": "1", "token": "t", "service_notice": None, "account_id": None}]


@app.api_route("/{path:path}", methods=["GET", "POST"])
def trivial(path: str) -> JSONResponse:
    return JSONResponse(ANSWER)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """One uvicorn process (one worker, no access log) pinned to CPU 0."""

    def __init__(self, target: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            *target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env={**os.environ, **env}, cwd=cwd
        )
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(self.process.pid, {SERVER_CPU})
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server {target} did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def cityos_server(url: str, *, cwd: Path) -> Server:
    env = {
        "CITYOS_DATABASE_URL": url,
        "CITYOS_SECRET_KEY": "benchmark-secret",
        "CITYOS_WORKER_INTERVAL_SECONDS": "0",
        "CITYOS_BASE_URL": "http://127.0.0.1:8000",
    }
    return Server(["--factory", "cityos.app:create_app"], env=env, cwd=cwd)


def trivial_server(folder: Path) -> Server:
    (folder / "trivial_app.py").write_text(TRIVIAL_APP, encoding="utf-8")
    return Server(["trivial_app:app", "--app-dir", str(folder)], env={}, cwd=folder)


def pin_client() -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})


# --- the load client ---------------------------------------------------------------------


def post_bytes(path: str, body: str) -> bytes:
    data = body.encode("utf-8")
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode("ascii") + data


def get_bytes(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii")


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


@dataclass
class Run:
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    sample: bytes = b""

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.array(self.latencies), q)) * 1000 if self.latencies else 0.0

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 400)


async def _closed(port: int, make: Callable[[int], bytes], clients: int, seconds: float) -> Run:
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sample: list[bytes] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                request = make(next(counter))
                sent = time.perf_counter()
                status, body = await _exchange(reader, writer, request)
                latencies.append(time.perf_counter() - sent)
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 400 and not sample:
                    sample.append(body)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return Run(time.perf_counter() - start, latencies, statuses, sample[0] if sample else b"")


def closed_loop(port: int, make: Callable[[int], bytes], *, clients: int, seconds: float) -> Run:
    """``clients`` connections each sending the next request as soon as it has an answer."""
    return asyncio.run(_closed(port, make, clients, seconds))


async def _open(
    port: int, make: Callable[[int], bytes], rate: float, seconds: float, connections: int
) -> Run:
    total = int(rate * seconds)
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter() + 0.05

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (i := next(counter)) < total:
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                status, _ = await _exchange(reader, writer, make(i))
                latencies.append(time.perf_counter() - due)  # from the scheduled time
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return Run(time.perf_counter() - start, latencies, statuses)


def open_loop(
    port: int, make: Callable[[int], bytes], *, rate: float, seconds: float, connections: int = 32
) -> Run:
    """Requests at a fixed ``rate``; latency counts from each request's scheduled time (so a
    slow answer that delays the next ones is charged to them too)."""
    return asyncio.run(_open(port, make, rate, seconds, connections))


# --- reporting ---------------------------------------------------------------------------


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{os.cpu_count()} cores, {memory:.0f} GB RAM, {platform.machine()}"


def versions() -> str:
    import fastapi
    import starlette
    import uvicorn

    return (
        f"Python {platform.python_version()}, FastAPI {fastapi.__version__}, Starlette "
        f"{starlette.__version__}, uvicorn {uvicorn.__version__} (h11), SQLAlchemy "
        f"{sqlalchemy.__version__}"
    )


def database_label(url: str, engine: Engine | None = None) -> str:
    if url.startswith("sqlite"):
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} (temporary file, WAL)"
    engine = engine or make_engine(url)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SHOW server_version").scalar()
    return f"PostgreSQL {version}"


def append_results(
    name: str, rows: list[tuple[str, ...]], *, mode: str, extra: str, header: Sequence[str]
) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"## {name} — {stamp} ({mode})",
        "",
        extra,
        "",
        f"| {' | '.join(header)} |",
        f"|{'---|' * len(header)}",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
