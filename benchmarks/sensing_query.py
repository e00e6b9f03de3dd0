"""Sensing reads on a big store: latest values of every datastream and a 30-day hourly mean.

PostgreSQL only (``CITYOS_TEST_POSTGRES_URL``; a scratch schema, dropped afterwards). The
database gets 10,000 datastreams (``sensing_support.seed_sensors``: each with its Thing,
Location and a feature of interest) and 10,000,000 observations — 1,000 per datastream,
evenly spaced over the last 30 days — made in SQL with ``generate_series`` (fixed seed);
then, in SQL the way the store keeps them on ingest, the minute, hour and day rollups
(count, min, max, sum, last; buckets on the epoch), each datastream's latest value and its
phenomenon time; then ``VACUUM ANALYZE`` (setup, not timed; foreign-key triggers are off
while loading and two indexes are built after the rows, all restored before measuring).
The app is served by uvicorn (one worker, pinned to CPU 0); the client (pinned to CPU 1)
times whole HTTP exchanges, one at a time, anonymous:

* latest: ``GET /api/sensing/latest`` — every datastream's latest value with its Thing and
  place. Target: p95 < 100 ms. For context, alternating: the same rows by one plain SQL join
  (latest → datastream → observed property → thing → first location) on a raw connection.
* aggregate: ``GET /api/sensing/datastreams/{id}/aggregate?interval=1h&fn=mean&from=&to=``
  over the 30 days, a random datastream per request. Target: p95 < 20 ms. For comparison,
  alternating request by request: the same answer by a plain SQL ``GROUP BY`` hour on the raw
  observation table (``avg(result_number)`` per ``date_trunc('hour', …)``) for that datastream.

Run: ``python benchmarks/sensing_query.py`` (10,000 datastreams, 10,000,000 observations —
27 million rows written with the rollups, about 4 minutes on a quiet 2-core machine, longer
under load —; 40 latest and 1,000 aggregate pairs) or ``--quick`` (2,000 datastreams, 200,000
observations, 10 and 200 pairs; under a minute). ``--rows`` and ``--datastreams`` choose
other sizes. Results are appended to ``benchmarks/RESULTS.md`` after a full run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from sqlalchemy import Connection, Engine, text

from cases_support import (
    append_results,
    cityos_server,
    database_label,
    machine,
    pin_client,
    versions,
)
from cityos.db import make_engine
from data_query import database, postgres_reachable
from sensing_support import analyze, seed_sensors

DAYS = 30
TARGET_LATEST_MS = 100.0
TARGET_AGGREGATE_MS = 20.0
CHUNK_ROWS = 1_000_000

OBSERVATIONS = """
INSERT INTO sensing_observations
    (id, datastream_id, feature_id, phenomenon_time_start, result_number)
SELECT (d - 1) * CAST(:n AS bigint) + k + 1, d, d,
       CAST(:first AS timestamptz) + make_interval(secs => k * CAST(:step AS float8)),
       round(CAST(50 + 30 * sin(k / 24.0 + d) + 5 * random() AS numeric), 2)
FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS d
CROSS JOIN LATERAL generate_series(0, CAST(:n AS int) - 1) AS k
"""
# As the store's rollups: per datastream, interval and bucket of the epoch (count, min, max,
# sum, last = the result of the latest reading, the largest [epoch, result] pair). All three
# intervals in one pass.
ROLLUPS = """
INSERT INTO sensing_rollups
    (datastream_id, interval_s, bucket, count, min, max, sum, last, last_time)
SELECT datastream_id, iv, bucket, count(*), min(result_number), max(result_number),
       sum(result_number), (max(ARRAY[epoch, result_number]))[2], max(phenomenon_time_start)
FROM (
    SELECT o.datastream_id, i.iv, o.phenomenon_time_start, o.result_number,
           extract(epoch FROM o.phenomenon_time_start)::float8 AS epoch,
           date_bin(make_interval(secs => i.iv), o.phenomenon_time_start,
                    TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket
    FROM sensing_observations AS o
    CROSS JOIN (VALUES (60), (3600), (86400)) AS i (iv)
    WHERE o.datastream_id BETWEEN :lo AND :hi
) AS x
GROUP BY datastream_id, iv, bucket
"""
# Setup only: the rows are consistent by construction, so no foreign-key triggers while
# loading, and the indexes are built once the rows are in (the same indexes as before).
SETUP_SETTINGS = (
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL maintenance_work_mem = '512MB'",
    "SET LOCAL session_replication_role = replica",
)
DROP_INDEXES = (
    "ALTER TABLE sensing_observations DROP CONSTRAINT pk_sensing_observations",
    "ALTER TABLE sensing_observations DROP CONSTRAINT uq_sensing_observations_datastream_id",
    "ALTER TABLE sensing_observations DROP CONSTRAINT uq_sensing_observations_multi_datastream_id",
    "DROP INDEX ix_sensing_observations_feature_id",
    "ALTER TABLE sensing_rollups DROP CONSTRAINT pk_sensing_rollups",
)
ADD_INDEXES = (
    "ALTER TABLE sensing_observations ADD CONSTRAINT pk_sensing_observations PRIMARY KEY (id)",
    "ALTER TABLE sensing_observations ADD CONSTRAINT uq_sensing_observations_datastream_id "
    "UNIQUE (datastream_id, phenomenon_time_start)",
    "ALTER TABLE sensing_observations ADD CONSTRAINT "
    "uq_sensing_observations_multi_datastream_id "
    "UNIQUE (multi_datastream_id, phenomenon_time_start)",
    "CREATE INDEX ix_sensing_observations_feature_id ON sensing_observations (feature_id)",
    "ALTER TABLE sensing_rollups ADD CONSTRAINT pk_sensing_rollups "
    "PRIMARY KEY (datastream_id, interval_s, bucket)",
)
LATEST = """
INSERT INTO sensing_latest
    (datastream_id, observation_id, phenomenon_time, result_number, result_json, received_at)
SELECT d.id, o.id, o.phenomenon_time_start, o.result_number, NULL, o.phenomenon_time_start
FROM sensing_datastreams AS d
CROSS JOIN LATERAL (
    SELECT id, phenomenon_time_start, result_number FROM sensing_observations
    WHERE datastream_id = d.id ORDER BY phenomenon_time_start DESC LIMIT 1
) AS o
"""
EXTENTS = """
UPDATE sensing_datastreams AS d
SET phenomenon_time_start = e.first, phenomenon_time_end = e.last
FROM (SELECT datastream_id, min(bucket) AS first, max(last_time) AS last
      FROM sensing_rollups WHERE interval_s = 86400 GROUP BY datastream_id) AS e
WHERE e.datastream_id = d.id
"""
FEATURES = """
INSERT INTO sensing_features (id, name, description, encoding_type, feature, location_id)
SELECT id, name, '', 'application/geo+json', location, id FROM sensing_locations
"""
PLAIN_LATEST = """
SELECT d.id, d.name, d.unit_of_measurement, p.id, p.name, t.id, t.name, l.id, l.lon, l.lat,
       l.grid_code, l.district_code, v.observation_id, v.phenomenon_time, v.result_number,
       v.result_json
FROM sensing_latest AS v
JOIN sensing_datastreams AS d ON d.id = v.datastream_id
JOIN sensing_observed_properties AS p ON p.id = d.observed_property_id
JOIN sensing_things AS t ON t.id = d.thing_id
LEFT JOIN (SELECT thing_id, min(location_id) AS location_id FROM sensing_thing_locations
           GROUP BY thing_id) AS f ON f.thing_id = t.id
LEFT JOIN sensing_locations AS l ON l.id = f.location_id
WHERE NOT t.restricted
ORDER BY d.id
"""
PLAIN_AGGREGATE = """
SELECT date_trunc('hour', phenomenon_time_start) AS hour, avg(result_number), count(*)
FROM sensing_observations
WHERE datastream_id = :d AND phenomenon_time_start >= :start AND phenomenon_time_start < :end
GROUP BY hour ORDER BY hour
"""


def build(url: str, *, datastreams: int, rows: int) -> tuple[float, datetime, datetime]:
    """Seed ``url``; (seconds, window start, window end)."""
    began = time.perf_counter()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    seeded = seed_sensors(url, datastreams=datastreams)
    per = max(1, rows // datastreams)
    step = DAYS * 86_400 / per
    chunk = max(1, CHUNK_ROWS // per)
    engine = make_engine(url)
    with engine.begin() as connection:
        for setting in SETUP_SETTINGS:
            connection.exec_driver_sql(setting)
        connection.exec_driver_sql(FEATURES)
        for statement in DROP_INDEXES:
            connection.exec_driver_sql(statement)
        connection.execute(text("SELECT setseed(0.42)"))
        for lo in range(1, datastreams + 1, chunk):
            hi = min(datastreams, lo + chunk - 1)
            connection.execute(
                text(OBSERVATIONS), {"first": start, "step": step, "lo": lo, "hi": hi, "n": per}
            )
            print(
                f"  observations of datastreams {lo:,}–{hi:,} "
                f"({time.perf_counter() - began:.0f} s)",
                file=sys.stderr,
            )
        for lo in range(1, datastreams + 1, chunk):
            hi = min(datastreams, lo + chunk - 1)
            connection.execute(text(ROLLUPS), {"lo": lo, "hi": hi})
        print(f"  rollups ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
        for statement in ADD_INDEXES:
            connection.exec_driver_sql(statement)
        for table in ("sensing_features", "sensing_observations"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
            )
        print(f"  indexes ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
        connection.exec_driver_sql("ANALYZE sensing_observations, sensing_rollups")
    with engine.begin() as connection:
        connection.exec_driver_sql(LATEST)
        connection.exec_driver_sql(EXTENTS)
    print(f"  latest values ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    analyze(engine)
    engine.dispose()
    print(f"  (datastreams made in {seeded.seconds:.1f} s)", file=sys.stderr)
    return time.perf_counter() - began, start, end


class Client:
    """One keep-alive HTTP/1.1 connection (http.client: chunked answers too)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> tuple[int, bytes]:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


def timed(call: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = call()
    return (time.perf_counter() - start) * 1000, out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else 0.0


def measure(
    url: str,
    folder: Path,
    *,
    datastreams: int,
    start: datetime,
    end: datetime,
    latest_pairs: int,
    aggregate_pairs: int,
) -> dict[str, Any]:
    engine: Engine = make_engine(url)
    rng = np.random.default_rng(20_261_211)
    out: dict[str, Any] = {
        "latest": [],
        "latest_sql": [],
        "aggregate": [],
        "aggregate_sql": [],
        "errors": 0,
        "latest_bytes": 0,
    }
    window = {"from": start.isoformat(), "to": end.isoformat()}
    pin_client()
    with cityos_server(url, cwd=folder) as server, engine.connect() as connection:
        client = Client(server.port)

        def latest() -> tuple[int, bytes]:
            return client.get("/api/sensing/latest")

        def plain_latest(conn: Connection = connection) -> list[Any]:
            found = list(conn.exec_driver_sql(PLAIN_LATEST))
            conn.rollback()
            return found

        for i in range(latest_pairs + 3):
            ms, (status, body) = timed(latest)
            sql_ms, found = timed(plain_latest)
            count = json.loads(body).get("count") if status == 200 else None
            if count != datastreams or len(found) != datastreams:
                out["errors"] += 1
                print(f"  latest: {status} count {count} {body[:200]!r}", file=sys.stderr)
            if i >= 3:
                out["latest"].append(ms)
                out["latest_sql"].append(sql_ms)
                out["latest_bytes"] = len(body)
        aggregate = text(PLAIN_AGGREGATE)
        picks = rng.integers(1, datastreams + 1, aggregate_pairs + 20)
        for i, pick in enumerate(picks.tolist()):
            path = f"/api/sensing/datastreams/{pick}/aggregate?" + urlencode(
                {"interval": "1h", "fn": "mean", **window}
            )
            ms, (status, body) = timed(lambda path=path: client.get(path))
            params = {"d": pick, "start": start, "end": end}
            sql_ms, found = timed(lambda params=params: list(connection.execute(aggregate, params)))
            connection.rollback()
            buckets = json.loads(body).get("buckets") if status == 200 else None
            if buckets is None or len(buckets) != len(found):
                out["errors"] += 1
                print(
                    f"  aggregate {pick}: {status}, {len(buckets or [])} buckets, plain SQL "
                    f"{len(found)}: {body[:200]!r}",
                    file=sys.stderr,
                )
            if i >= 20:
                out["aggregate"].append(ms)
                out["aggregate_sql"].append(sql_ms)
        client.close()
    out["label"] = database_label(url, engine)
    engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2,000 datastreams, 200k rows.")
    parser.add_argument("--datastreams", type=int, help="Datastreams (default 10,000).")
    parser.add_argument("--rows", type=int, help="Observations (default 10,000,000).")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    if not postgres_reachable():
        print(
            "sensing_query: PostgreSQL does not answer at CITYOS_TEST_POSTGRES_URL", file=sys.stderr
        )
        return 2
    datastreams = args.datastreams or (2_000 if args.quick else 10_000)
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    latest_pairs = 10 if args.quick else 40
    aggregate_pairs = 200 if args.quick else 1_000
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        with database("postgresql", folder) as url:
            seconds, start, end = build(url, datastreams=datastreams, rows=rows)
            print(f"postgresql: {rows:,} observations made in {seconds:.0f} s", file=sys.stderr)
            result = measure(
                url,
                folder,
                datastreams=datastreams,
                start=start,
                end=end,
                latest_pairs=latest_pairs,
                aggregate_pairs=aggregate_pairs,
            )
    l50, l95 = pct(result["latest"], 50), pct(result["latest"], 95)
    s50, s95 = pct(result["latest_sql"], 50), pct(result["latest_sql"], 95)
    a50, a95 = pct(result["aggregate"], 50), pct(result["aggregate"], 95)
    g50, g95 = pct(result["aggregate_sql"], 50), pct(result["aggregate_sql"], 95)
    errors = result["errors"]
    per = rows // datastreams
    print(
        f"sensing_query: latest of {datastreams:,} datastreams p50 {l50:.1f} ms, p95 {l95:.1f} ms "
        f"(target p95 < {TARGET_LATEST_MS:.0f} ms; plain SQL join p50 {s50:.1f} ms, p95 "
        f"{s95:.1f} ms); {DAYS}-day hourly mean p50 {a50:.1f} ms, p95 {a95:.1f} ms (target p95 "
        f"< {TARGET_AGGREGATE_MS:.0f} ms); plain SQL GROUP BY on raw observations p50 {g50:.1f} "
        f"ms, p95 {g95:.1f} ms; ratio {g50 / a50 if a50 else 0:.2f}"
        + (f"; {errors} ERRORS" if errors else "")
    )
    ok = l95 < TARGET_LATEST_MS and a95 < TARGET_AGGREGATE_MS and not errors
    table: list[tuple[str, ...]] = [
        (
            f"latest values of all {datastreams:,} datastreams, p50 / p95 (ms)",
            f"**{l50:.1f} / {l95:.1f}**",
            f"{s50:.1f} / {s95:.1f} (plain SQL join)",
            f"{s50 / l50 if l50 else 0:.2f}",
            f"p95 < {TARGET_LATEST_MS:.0f}",
        ),
        (
            f"{DAYS}-day hourly mean of one datastream, p50 / p95 (ms)",
            f"**{a50:.1f} / {a95:.1f}**",
            f"{g50:.1f} / {g95:.1f} (plain SQL GROUP BY on the raw table)",
            f"{g50 / a50 if a50 else 0:.2f}",
            f"p95 < {TARGET_AGGREGATE_MS:.0f}",
        ),
    ]
    extra = (
        f"Machine: {machine()}; {versions()}; database: {result['label']}. {datastreams:,} "
        f"datastreams, {rows:,} observations ({per:,} per datastream over {DAYS} days) with "
        f"minute, hour and day rollups and latest values made in SQL (fixed seed) in "
        f"{seconds:.0f} s, not timed. uvicorn, one worker pinned to CPU 0; the client on CPU "
        f"1, one request at a time, anonymous, whole HTTP exchanges timed (the latest answer is "
        f"{result['latest_bytes'] / 1e6:.1f} MB); the plain SQL runs on a raw connection in "
        f"the client process, alternating with ours. {latest_pairs} latest pairs after 3 "
        f"warm-up pairs, {aggregate_pairs:,} aggregate pairs (a random datastream each) after "
        f"20. Errors or mismatched answers: {errors}. Load average at the start: {load:.1f}."
    )
    if not args.quick and not args.no_write:
        append_results(
            "sensing_query",
            table,
            mode="full",
            extra=extra,
            header=("figure", "ours", "baseline", "ratio", "target"),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
