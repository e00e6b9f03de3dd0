"""Operations center: p50/p95 of every ``/api/ops`` data endpoint on the demo-size city, and
the time from an event to its Server-Sent Event on ``/api/ops/events``.

PostgreSQL only (``--database-url`` or ``CITYOS_TEST_POSTGRES_URL``; a scratch schema,
dropped afterwards). Seeded by ``ops_support.seed_ops`` (not timed): the demo city and
catalog with 1,000,000 cases over 365 days (``cases_support.build_database``), 10,000
datastreams with 10,000,000 observations over 30 days and their rollups and latest values
(``sensing_query.build``), the sensors placed inside the city, 40 active alerts and 400 past
ones, the demo data hub's datasets (not with ``--quick``), an API key of the demo operator.

Endpoints: two uvicorn servers (one worker each, pinned to CPU 0) on the same database, one
with the figure cache off (``CITYOS_OPS_CACHE_SECONDS=0``: "cold", every answer computed)
and one with the default cache ("warm"). The client (pinned to CPU 1) is signed in as the
operator (``Authorization: Bearer``), sends one request at a time over a keep-alive
connection and times the whole HTTP exchange. For each endpoint in turn, round after round:
cold, warm, then the baseline — the same question as one plain SQL aggregate on the raw
tables, run on a raw connection in the client process (open cases per district by
``GROUP BY``; counts of cases requested in the period; latest values joined to their
datastreams; ``date_trunc`` hourly means of raw observations, …). Target: p95 < 100 ms each.

Live: on the warm server, ``GET /api/ops/events`` read by a streaming client in the client
process. (1) A case posted through Open311 (``POST /open311/v2/requests.json``, the
operator's API key): time from just before the POST to the arrival of its
``cases.changed`` event; baseline, the POST's own round trip. (2) When the broker answers
(``--mqtt-url``, default ``mqtt://127.0.0.1:1883``; the server ingests with a private topic
prefix): a water-level reading above the probe rule's threshold published with paho (QoS 1)
until its ``sensing.alert`` event arrives; baseline, the same message's receipt by a bare
paho subscriber in the client process. Target: p95 < 1 s.

Run: ``python benchmarks/ops_endpoints.py`` (the sizes above, 100 rounds, 100 events of each
kind; the seeding takes several minutes) or ``--quick`` (10,000 cases, 1,000 datastreams,
100,000 observations, 10 rounds, 10 events; under a minute). Results are appended to
``benchmarks/RESULTS.md`` after a full run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, text

import data_query
from cases_post import request_bodies
from cases_support import append_results, database_label, machine, pin_client, versions
from cityos.cases.models import OPEN_STATUSES
from cityos.config import get_settings
from cityos.db import make_engine
from ops_support import (
    PROBE_THRESHOLD,
    EventStream,
    MqttProbe,
    OperatorClient,
    OpsSeeded,
    ops_server,
    seed_ops,
)

TARGET_MS = 100.0
TARGET_EVENT_MS = 1000.0
PROPERTY = "PM2.5"
OPEN = [status.value for status in OPEN_STATUSES]
POST_PATH = "/open311/v2/requests.json"
EVENT_TIMEOUT = 10.0

# --- the baselines: plain SQL on the raw tables ------------------------------------------

CASE_AREA = "AND district_id = :district"
SUMMARY_SQL = """
SELECT
 (SELECT count(*) FROM cases_cases
   WHERE requested_at >= :start AND requested_at < :end {case_area}) AS new,
 (SELECT count(*) FROM cases_cases
   WHERE requested_at >= :prev_start AND requested_at < :prev_end {case_area}) AS new_before,
 (SELECT count(*) FROM cases_cases WHERE status = ANY(:open) {case_area}) AS open_now,
 (SELECT count(*) FROM cases_cases
   WHERE status = 'resolved' AND resolved_at >= :start AND resolved_at < :end {case_area})
   AS resolved,
 (SELECT ARRAY[count(*) FILTER (WHERE resolved_at <= resolve_due_at),
               count(*) FILTER (WHERE resolve_due_at IS NOT NULL),
               percentile_cont(0.5) WITHIN GROUP
                 (ORDER BY extract(epoch FROM resolved_at - requested_at))]
   FROM cases_cases WHERE status IN ('resolved', 'closed')
   AND resolved_at >= :sla_start AND resolved_at < :end {case_area}) AS sla,
 (SELECT count(*) FROM sensing_alerts WHERE state = 'active' {alert_area}) AS alerts,
 (SELECT count(*) FROM sensing_latest v
   JOIN sensing_datastreams d ON d.id = v.datastream_id
   JOIN sensing_thing_locations tl ON tl.thing_id = d.thing_id
   JOIN sensing_locations l ON l.id = tl.location_id
   WHERE v.phenomenon_time >= :hour_ago {location_area}) AS reporting
"""
AREAS_SQL = """
SELECT district_id, count(*), count(*) FILTER (WHERE next_due_at < :now)
FROM cases_cases WHERE status = ANY(:open) GROUP BY district_id
"""
SENSORS_SQL = """
SELECT d.id, d.name, t.name, d.unit_of_measurement, v.result_number, v.phenomenon_time,
       l.lon, l.lat
FROM sensing_datastreams d
JOIN sensing_observed_properties p ON p.id = d.observed_property_id
JOIN sensing_things t ON t.id = d.thing_id
JOIN sensing_thing_locations tl ON tl.thing_id = t.id
JOIN sensing_locations l ON l.id = tl.location_id
LEFT JOIN sensing_latest v ON v.datastream_id = d.id
WHERE p.name = :property AND NOT t.restricted
"""
ALERTS_SQL = """
SELECT a.id, a.severity, a.message, a.started_at, a.acknowledged_at, a.case_id, a.lon, a.lat,
       d.name
FROM sensing_alerts a JOIN sensing_datastreams d ON d.id = a.datastream_id
WHERE a.state = 'active' ORDER BY a.started_at DESC LIMIT 500
"""
CASES_SQL = """
SELECT c.id, k.service_code, k.name_en, k.name_zh, c.status, c.priority, c.lon, c.lat,
       c.requested_at, count(*) OVER () AS total
FROM cases_cases c JOIN cases_categories k ON k.id = c.category_id
WHERE c.requested_at >= :start AND c.requested_at < :end
ORDER BY c.requested_at DESC LIMIT 2000
"""
PER_HOUR_SQL = """
SELECT date_trunc('hour', requested_at) AS hour, count(*) FROM cases_cases
WHERE (requested_at >= :h0 AND requested_at < :h1) OR (requested_at >= :w0 AND requested_at < :w1)
GROUP BY hour
"""
TOP_SQL = """
SELECT k.service_code, k.name_en, k.name_zh, x.n
FROM (SELECT category_id, count(*) AS n FROM cases_cases
      WHERE requested_at >= :start AND requested_at < :end
      GROUP BY category_id ORDER BY n DESC LIMIT 10) x
JOIN cases_categories k ON k.id = x.category_id ORDER BY x.n DESC
"""
SLA_SQL = """
SELECT p.code, p.name_en, p.name_zh, x.met, x.total
FROM (SELECT department_id, count(*) FILTER (WHERE resolved_at <= resolve_due_at) AS met,
             count(*) AS total
      FROM cases_cases WHERE status IN ('resolved', 'closed') AND resolve_due_at IS NOT NULL
      AND resolved_at >= :sla_start AND resolved_at < :end GROUP BY department_id) x
JOIN auth_departments p ON p.id = x.department_id
"""
TREND_SQL = """
SELECT date_trunc('hour', o.phenomenon_time_start) AS hour, avg(o.result_number)
FROM sensing_observations o
JOIN sensing_datastreams d ON d.id = o.datastream_id
JOIN sensing_observed_properties p ON p.id = d.observed_property_id
WHERE p.name = :property AND o.phenomenon_time_start >= :start AND o.phenomenon_time_start < :end
GROUP BY hour ORDER BY hour
"""


@dataclass(frozen=True)
class Window:
    """The periods of one range, as the filters define them, at ``now``."""

    now: datetime
    start: datetime
    prev_start: datetime
    prev_end: datetime
    sla_start: datetime

    @classmethod
    def of(cls, name: str, zone: ZoneInfo) -> Window:
        now = datetime.now(UTC)
        if name == "today":
            local = now.astimezone(zone)
            start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
            return cls(
                now,
                start,
                start - timedelta(days=1),
                now - timedelta(days=1),
                now - timedelta(days=7),
            )
        span = timedelta(days=7)
        return cls(now, now - span, now - 2 * span, now - span, now - span)


@dataclass
class Endpoint:
    label: str
    path: str
    family: str
    sql: str
    params: Callable[[Window], dict[str, Any]]
    range: str = "today"
    check: Callable[[Any, list[Any]], str | None] | None = None
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _tile(answer: Any, key: str) -> Any:
    for tile in answer.get("tiles", []):
        if tile.get("key") == key:
            return tile.get("value")
    return None


def _check_summary(answer: Any, rows: list[Any]) -> str | None:
    row = rows[0]
    got = (_tile(answer, "cases_open"), _tile(answer, "alerts_active"))
    want = (row.open_now, row.alerts)
    return None if got == want else f"open cases, active alerts {got}; plain SQL {want}"


def _check_areas(answer: Any, rows: list[Any]) -> str | None:
    got = sum(f["properties"].get("value") or 0 for f in answer.get("features", []))
    want = sum(row[1] for row in rows)
    return None if got == want else f"open cases over the districts {got}; plain SQL {want}"


def _check_cases(answer: Any, rows: list[Any]) -> str | None:
    want = rows[0].total if rows else 0
    got = answer.get("total")
    return None if got == want else f"cases in the period {got}; plain SQL {want}"


def _check_sensors(answer: Any, rows: list[Any]) -> str | None:
    got = len(answer.get("features", []))
    return None if got == len(rows) else f"{got} sensors; plain SQL {len(rows)}"


def _check_top(answer: Any, rows: list[Any]) -> str | None:
    got = [item.get("count") for item in answer.get("items", [])]
    want = [row.n for row in rows]
    return None if got == want else f"category counts {got}; plain SQL {want}"


def endpoints(seeded: OpsSeeded) -> list[Endpoint]:
    district = seeded.district_code
    city_summary = SUMMARY_SQL.format(case_area="", alert_area="", location_area="")
    district_summary = SUMMARY_SQL.format(
        case_area=CASE_AREA,
        alert_area="AND district_code = :code",
        location_area="AND l.district_code = :code",
    )

    def summary(w: Window) -> dict[str, Any]:
        return {
            "start": w.start,
            "end": w.now,
            "prev_start": w.prev_start,
            "prev_end": w.prev_end,
            "sla_start": w.sla_start,
            "open": OPEN,
            "hour_ago": w.now - timedelta(hours=1),
            "district": seeded.district_id,
            "code": district,
        }

    def period(w: Window) -> dict[str, Any]:
        return {"start": w.start, "end": w.now, "sla_start": w.sla_start, "property": PROPERTY}

    def hours(w: Window) -> dict[str, Any]:
        h1 = w.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        week = timedelta(days=7)
        return {
            "h0": h1 - timedelta(hours=24),
            "h1": h1,
            "w0": h1 - timedelta(hours=24) - week,
            "w1": h1 - week,
        }

    prop = urlencode({"observed_property": PROPERTY})
    made = []
    for rng in ("today", "7d"):
        made.append(
            Endpoint(
                f"summary, {rng}, city",
                f"/api/ops/summary?range={rng}",
                "summary",
                city_summary,
                summary,
                rng,
                _check_summary,
            )
        )
        made.append(
            Endpoint(
                f"summary, {rng}, district {district}",
                f"/api/ops/summary?range={rng}&area={district}",
                "summary",
                district_summary,
                summary,
                rng,
                _check_summary,
            )
        )
    made += [
        Endpoint(
            "layers/areas (open, districts)",
            "/api/ops/layers/areas?metric=open",
            "layers",
            AREAS_SQL,
            lambda w: {"now": w.now, "open": OPEN},
            check=_check_areas,
        ),
        Endpoint(
            f"layers/sensors ({PROPERTY})",
            f"/api/ops/layers/sensors?{prop}",
            "layers",
            SENSORS_SQL,
            period,
            check=_check_sensors,
        ),
        Endpoint("layers/alerts", "/api/ops/layers/alerts", "layers", ALERTS_SQL, period),
        Endpoint(
            "layers/cases (today)",
            "/api/ops/layers/cases?range=today",
            "layers",
            CASES_SQL,
            period,
            check=_check_cases,
        ),
        Endpoint(
            "series/cases_per_hour", "/api/ops/series/cases_per_hour", "series", PER_HOUR_SQL, hours
        ),
        Endpoint(
            "series/top_categories (today)",
            "/api/ops/series/top_categories?range=today",
            "series",
            TOP_SQL,
            period,
            check=_check_top,
        ),
        Endpoint(
            "series/sla_by_department (7 days)",
            "/api/ops/series/sla_by_department?range=today",
            "series",
            SLA_SQL,
            period,
        ),
        Endpoint(
            f"series/sensor_trend ({PROPERTY}, today)",
            f"/api/ops/series/sensor_trend?range=today&{prop}",
            "series",
            TREND_SQL,
            period,
        ),
    ]
    return made


# --- measuring ---------------------------------------------------------------------------


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = call()
    return (time.perf_counter() - start) * 1000, out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def measure_endpoints(
    plan: list[Endpoint],
    cold: OperatorClient,
    warm: OperatorClient,
    connection: Connection,
    *,
    rounds: int,
    warmup: int,
    zone: ZoneInfo,
) -> int:
    """Cold, warm, plain SQL for each endpoint in turn, ``warmup + rounds`` times; errors."""
    errors = 0
    statements = {endpoint.label: text(endpoint.sql) for endpoint in plan}
    for round_number in range(warmup + rounds):
        keep = round_number >= warmup
        for endpoint in plan:
            window = Window.of(endpoint.range, zone)
            c_ms, (c_status, c_body) = timed(lambda e=endpoint: cold.get(e.path))
            w_ms, (w_status, w_body) = timed(lambda e=endpoint: warm.get(e.path))
            statement, values = statements[endpoint.label], endpoint.params(window)
            b_ms, rows = timed(lambda s=statement, v=values: list(connection.execute(s, v)))
            connection.rollback()
            for status, body, which in ((c_status, c_body, "cold"), (w_status, w_body, "warm")):
                if status != 200:
                    errors += 1
                    if len(endpoint.problems) < 3:
                        endpoint.problems.append(f"{which} {status}: {body[:200]!r}")
                        print(
                            f"  {endpoint.label} {which}: {status} {body[:300]!r}", file=sys.stderr
                        )
            if round_number == warmup and endpoint.check and c_status == 200:
                problem = endpoint.check(json.loads(c_body), rows)
                if problem:
                    endpoint.problems.append(problem)
                    print(f"  {endpoint.label}: {problem}", file=sys.stderr)
            if keep:
                endpoint.cold.append(c_ms)
                endpoint.warm.append(w_ms)
                endpoint.base.append(b_ms)
    return errors


@dataclass
class Delivery:
    """Publish → SSE (ms) and its baseline (ms), pair by pair; events that never came."""

    name: str
    baseline_name: str
    ours: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    missing: int = 0
    note: str = ""


def _case_id(body: bytes) -> int | None:
    try:
        return int(json.loads(body)[0]["service_request_id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def case_events(
    client: OperatorClient, stream: EventStream, bodies: list[bytes], *, count: int
) -> Delivery:
    """POST a case, wait for its ``cases.changed``; one warm-up case first."""
    result = Delivery("POST case → cases.changed", "the POST's round trip")
    rng = np.random.default_rng(7)
    for i in range(count + 1):
        form = bodies[i].split(b"\r\n\r\n", 1)[1]
        sent = time.perf_counter()
        status, body = client.post_form(POST_PATH, form)
        answered = time.perf_counter()
        case_id = _case_id(body) if status == 200 else None
        if case_id is None:
            result.missing += 1
            print(f"  POST case: {status} {body[:300]!r}", file=sys.stderr)
            continue
        event = stream.wait_for(
            lambda e, c=case_id: (
                e.name == "cases.changed" and isinstance(e.data, dict) and e.data.get("id") == c
            ),
            timeout=EVENT_TIMEOUT,
        )
        if event is None:
            result.missing += 1
            print(
                f"  case {case_id}: no cases.changed event in {EVENT_TIMEOUT:.0f} s",
                file=sys.stderr,
            )
        elif i > 0:
            result.ours.append((event.at - sent) * 1000)
            result.base.append((answered - sent) * 1000)
        time.sleep(float(rng.uniform(0.05, 0.15)))
    return result


def alert_events(probe: MqttProbe, stream: EventStream, datastreams: list[int]) -> Delivery:
    """Publish a reading above the probe rule's threshold; wait for its ``sensing.alert``."""
    result = Delivery("MQTT reading → sensing.alert", "a bare paho subscriber's receipt")
    rng = np.random.default_rng(8)
    for i, datastream in enumerate(datastreams):
        sent = probe.publish(datastream, PROBE_THRESHOLD * 2)
        event = stream.wait_for(
            lambda e, d=datastream: (
                e.name == "sensing.alert"
                and isinstance(e.data, dict)
                and e.data.get("datastream") == d
                and e.data.get("state") == "active"
            ),
            timeout=EVENT_TIMEOUT,
        )
        received = probe.received(probe.topic(datastream), timeout=1.0)
        if event is None or received is None:
            result.missing += 1
            print(
                f"  datastream {datastream}: sensing.alert {'missing' if event is None else 'ok'}"
                f", bare subscriber {'missing' if received is None else 'ok'}",
                file=sys.stderr,
            )
        elif i > 0:
            result.ours.append((event.at - sent) * 1000)
            result.base.append((received - sent) * 1000)
        time.sleep(float(rng.uniform(0.05, 0.15)))
    return result


def broker_answers(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return host, port
    except OSError:
        return None


# --- reporting ---------------------------------------------------------------------------


def verdict(p95: float) -> str:
    return "meets" if p95 < TARGET_MS else "MISSES"


def endpoint_line(endpoint: Endpoint) -> str:
    c50, c95 = pct(endpoint.cold, 50), pct(endpoint.cold, 95)
    w50, w95 = pct(endpoint.warm, 50), pct(endpoint.warm, 95)
    b50, b95 = pct(endpoint.base, 50), pct(endpoint.base, 95)
    return (
        f"ops_endpoints: {endpoint.label}: cold (cache off) p50 {c50:.1f} ms, p95 {c95:.1f} ms "
        f"[{verdict(c95)} p95 < {TARGET_MS:.0f}]; warm (cache) p50 {w50:.1f} ms, p95 {w95:.1f} "
        f"ms [{verdict(w95)}]; baseline plain SQL p50 {b50:.1f} ms, p95 {b95:.1f} ms; ratio "
        f"SQL/cold {b50 / c50:.2f}"
        + (f"; PROBLEMS: {'; '.join(endpoint.problems)}" if endpoint.problems else "")
    )


def delivery_line(delivery: Delivery) -> str:
    if not delivery.ours:
        return f"ops_events: {delivery.name}: not measured ({delivery.note or 'no events'})"
    o50, o95 = pct(delivery.ours, 50), pct(delivery.ours, 95)
    b50, b95 = pct(delivery.base, 50), pct(delivery.base, 95)
    met = "meets" if o95 < TARGET_EVENT_MS else "MISSES"
    return (
        f"ops_events: {delivery.name} p50 {o50:.1f} ms, p95 {o95:.1f} ms over "
        f"{len(delivery.ours)} events [{met} p95 < {TARGET_EVENT_MS:.0f} ms]; baseline "
        f"{delivery.baseline_name} p50 {b50:.1f} ms, p95 {b95:.1f} ms; ratio {b50 / o50:.2f}"
        + (f"; {delivery.missing} MISSING" if delivery.missing else "")
    )


def table_rows(plan: list[Endpoint], deliveries: list[Delivery]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for e in plan:
        c50, c95, w50, w95 = pct(e.cold, 50), pct(e.cold, 95), pct(e.warm, 50), pct(e.warm, 95)
        b50, b95 = pct(e.base, 50), pct(e.base, 95)
        rows.append(
            (
                f"`{e.path}` ({e.label})",
                f"**{c50:.1f} / {c95:.1f}**",
                f"{w50:.1f} / {w95:.1f}",
                f"{b50:.1f} / {b95:.1f}",
                f"{b50 / c50:.2f}",
                f"p95 < {TARGET_MS:.0f}: cold {verdict(c95)}, warm {verdict(w95)}",
            )
        )
    for d in deliveries:
        if not d.ours:
            rows.append((d.name, "not measured", "—", "—", "—", d.note or "—"))
            continue
        o50, o95, b50, b95 = pct(d.ours, 50), pct(d.ours, 95), pct(d.base, 50), pct(d.base, 95)
        rows.append(
            (
                f"{d.name} ({len(d.ours)} events)",
                f"**{o50:.1f} / {o95:.1f}**",
                "—",
                f"{b50:.1f} / {b95:.1f} ({d.baseline_name})",
                f"{b50 / o50:.2f}",
                f"p95 < {TARGET_EVENT_MS:.0f}: {'meets' if o95 < TARGET_EVENT_MS else 'MISSES'}",
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="Small sizes (under a minute).")
    parser.add_argument("--database-url", help="PostgreSQL server (a scratch schema is made).")
    parser.add_argument(
        "--mqtt-url",
        default=os.environ.get("CITYOS_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"),
        help="Broker for the reading → alert probe (skipped when it does not answer).",
    )
    parser.add_argument("--cases", type=int, help="Cases (default 1,000,000).")
    parser.add_argument("--datastreams", type=int, help="Datastreams (default 10,000).")
    parser.add_argument("--rows", type=int, help="Observations (default 10,000,000).")
    parser.add_argument("--rounds", type=int, help="Rounds over the endpoints (default 100).")
    parser.add_argument("--events", type=int, help="Events of each kind (default 100).")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    if args.database_url:
        data_query.POSTGRES_URL = args.database_url
    if not data_query.postgres_reachable():
        print(
            f"ops_endpoints: PostgreSQL does not answer at {data_query.POSTGRES_URL}",
            file=sys.stderr,
        )
        return 2
    quick = args.quick
    cases = args.cases or (10_000 if quick else 1_000_000)
    datastreams = args.datastreams or (1_000 if quick else 10_000)
    rows = args.rows or (100_000 if quick else 10_000_000)
    rounds = args.rounds or (10 if quick else 100)
    events = args.events or (10 if quick else 100)
    warmup = 2
    zone = ZoneInfo(get_settings().timezone)
    load = os.getloadavg()[0]
    broker = broker_answers(args.mqtt_url)
    tag = f"bench-ops-{os.getpid()}"
    deliveries: list[Delivery] = []
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        with data_query.database("postgresql", folder) as url:
            seeded = seed_ops(
                url,
                cases=cases,
                datastreams=datastreams,
                observations=rows,
                active_alerts=10 if quick else 40,
                datasets=not quick,
            )
            print(f"seeded in {seeded.seconds:.0f} s; {seeded.datasets}", file=sys.stderr)
            bodies = request_bodies(url, seeded.operator_key, count=events + 1)
            plan = endpoints(seeded)
            engine = make_engine(url)
            live_env = {"CITYOS_OPS_CACHE_SECONDS": "10", "CITYOS_MQTT_URL": ""}
            if broker:
                live_env |= {
                    "CITYOS_MQTT_URL": args.mqtt_url,
                    "CITYOS_MQTT_TOPIC_PREFIX": f"{tag}/",
                    "CITYOS_MQTT_CLIENT_ID": tag,
                    "CITYOS_MQTT_SHARE_GROUP": tag.replace("-", ""),
                }
            cold_env = {"CITYOS_OPS_CACHE_SECONDS": "0", "CITYOS_MQTT_URL": ""}
            pin_client()
            with (
                ops_server(url, cwd=folder, env=cold_env) as cold_server,
                ops_server(url, cwd=folder, env=live_env) as warm_server,
                engine.connect() as connection,
            ):
                cold = OperatorClient(cold_server.port, seeded.operator_key)
                warm = OperatorClient(warm_server.port, seeded.operator_key)
                errors = measure_endpoints(
                    plan, cold, warm, connection, rounds=rounds, warmup=warmup, zone=zone
                )
                stream = EventStream(warm_server.port, seeded.operator_key)
                time.sleep(0.5)
                deliveries.append(case_events(warm, stream, bodies, count=events))
                if broker:
                    probe = MqttProbe(*broker, prefix=f"{tag}/")
                    probes = seeded.probe_datastreams[: events + 1]
                    deliveries.append(alert_events(probe, stream, probes))
                    probe.close()
                else:
                    deliveries.append(
                        Delivery(
                            "MQTT reading → sensing.alert",
                            "",
                            note=f"no broker answers at {args.mqtt_url}",
                        )
                    )
                stream.close()
                cold.close()
                warm.close()
            label = database_label(url, engine)
            engine.dispose()

    for endpoint in plan:
        print(endpoint_line(endpoint))
    for delivery in deliveries:
        print(delivery_line(delivery))
    missing = sum(d.missing for d in deliveries)
    problems = sum(len(e.problems) for e in plan)
    ok = (
        not errors
        and not missing
        and not problems
        and all(pct(e.cold, 95) < TARGET_MS and pct(e.warm, 95) < TARGET_MS for e in plan)
        and all(pct(d.ours, 95) < TARGET_EVENT_MS for d in deliveries if d.ours)
    )
    extra = (
        f"Machine: {machine()}; {versions()}; database: {label}. Seeded in {seeded.seconds:.0f} s "
        f"(not timed) by `ops_support.seed_ops`: demo city and catalog, {cases:,} cases over 365 "
        f"days; {datastreams:,} datastreams, {rows:,} observations over 30 days with rollups and "
        f"latest values, the sensors inside the city; {seeded.alerts_active} active alerts and "
        f"{seeded.alerts_active * 10} past ones; {seeded.datasets}. Two uvicorn servers (one "
        f'worker each, pinned to CPU 0): cache off (`CITYOS_OPS_CACHE_SECONDS=0`, "cold") and '
        f'the default 10 s cache ("warm"); the client on CPU 1 signed in as the operator (API '
        f"key), one request at a time, whole HTTP exchanges timed; per endpoint cold, warm and "
        f"the plain SQL (on a raw connection in the client process) in turn, {rounds} rounds "
        f"after {warmup} warm-up rounds; ratio = plain SQL median / cold median. Live: "
        f"`/api/ops/events` read by a streaming client in the client process; Open311 POSTs "
        f"timed from just before the POST to the arrival of their `cases.changed` event, "
        f"readings published with paho (QoS 1) to the server's embedded MQTT ingest (private "
        f"topic prefix) timed to their `sensing.alert` event, one at a time. Non-200 answers: "
        f"{errors}; answers differing from the plain SQL: {problems}; events missing: {missing}. "
        f"Load average at the start: {load:.1f}."
    )
    if not quick and not args.no_write:
        append_results(
            "ops_endpoints",
            table_rows(plan, deliveries),
            mode="full",
            extra=extra,
            header=(
                "figure",
                "cold p50 / p95 (ms)",
                "warm p50 / p95 (ms)",
                "baseline p50 / p95 (ms)",
                "ratio",
                "target",
            ),
        )
    else:
        print(extra, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
