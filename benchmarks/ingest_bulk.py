"""Bulk HTTP ingestion: ``POST /sta/v1.1/CreateObservations`` against a raw bulk insert.

A database with 1,000 datastreams (``sensing_support.seed_sensors``; not timed). CityOS is
served by uvicorn (one worker, no access log, pinned to CPU 0); the client (pinned to CPU 1)
sends a prepared run of CreateObservations requests over 4 keep-alive connections, each with
1,000 rows (10 datastreams × 100 ``[phenomenonTime, result]`` rows, the dataArray format;
``Authorization: Bearer`` with an admin's API key). The observations are stored the way every
reading is (``store_readings``: features of interest, latest values, rollups, rules).

Baseline, alternating run by run (A, B, A, B …): the same rows (datastream, feature of
interest, phenomenon time, result) written into the same table by the client process in one
transaction — ``executemany`` on SQLite, ``COPY`` on PostgreSQL — with nothing else.
The observation tables are emptied before each run; every run's rows are then counted.
Target: ours >= 0.5 x the raw rate (the median of the per-pair ratios).

``--database sqlite|postgresql|both`` (default: both when PostgreSQL answers at
``CITYOS_TEST_POSTGRES_URL``; a scratch schema, dropped afterwards).

Run: ``python benchmarks/ingest_bulk.py`` or ``--quick``. A warm-up of 10 requests sizes the
runs to about ``--seconds`` of ours (15; quick 3), within 10 … ``--requests`` (300; quick 20)
requests; 5 pairs (quick 2): about 3 minutes per database, under a minute per database
with ``--quick``. Results are appended to ``benchmarks/RESULTS.md`` after a full run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from cases_support import (
    Run,
    append_results,
    cityos_server,
    database_label,
    machine,
    pin_client,
    versions,
)
from cityos.db import make_engine
from data_query import database, postgres_reachable
from sensing_support import clear_observations, counts, iso, json_request, seed_sensors, send_all

PATH = "/sta/v1.1/CreateObservations"
STREAMS = 1_000
PER_REQUEST_STREAMS = 10
PER_STREAM = 100
ROWS_PER_REQUEST = PER_REQUEST_STREAMS * PER_STREAM
CLIENTS = 4
WARM_REQUESTS = 10
TARGET = 0.5
START = datetime(2026, 1, 1, tzinfo=UTC)

NULL = "\\N"  # COPY's text format

Row = tuple[int, datetime, float]


def make_rows(requests: int, rng: np.random.Generator) -> list[list[Row]]:
    """The rows of each request: request ``r`` covers datastreams ``10·(r mod 100) + 1 …`` at
    100 consecutive seconds of time block ``r // 100`` (no two rows share a datastream and
    time)."""
    values = np.round(rng.uniform(0, 100, requests * ROWS_PER_REQUEST), 2)
    out: list[list[Row]] = []
    groups = STREAMS // PER_REQUEST_STREAMS
    n = 0
    for r in range(requests):
        first = (r % groups) * PER_REQUEST_STREAMS + 1
        block = START + timedelta(seconds=(r // groups) * PER_STREAM)
        rows: list[Row] = []
        for stream in range(first, first + PER_REQUEST_STREAMS):
            for k in range(PER_STREAM):
                rows.append((stream, block + timedelta(seconds=k), float(values[n])))
                n += 1
        out.append(rows)
    return out


def body(rows: list[Row]) -> bytes:
    """One CreateObservations body: one dataArray per datastream."""
    by_stream: dict[int, list[list[Any]]] = {}
    for stream, moment, value in rows:
        by_stream.setdefault(stream, []).append([iso(moment), value])
    return json.dumps(
        [
            {
                "Datastream": {"@iot.id": stream},
                "components": ["phenomenonTime", "result"],
                "dataArray@iot.count": len(array),
                "dataArray": array,
            }
            for stream, array in by_stream.items()
        ]
    ).encode()


def warm_body() -> bytes:
    """One row for every datastream (makes each Location's feature of interest)."""
    moment = START - timedelta(days=1)
    return body([(stream, moment, 1.0) for stream in range(1, STREAMS + 1)])


def features(engine: Engine) -> dict[int, int | None]:
    """The feature of interest our store gave each datastream's observations."""
    with engine.connect() as connection:
        result = connection.exec_driver_sql(
            "SELECT DISTINCT datastream_id, feature_id FROM sensing_observations"
        )
        return {int(stream): feature for stream, feature in result}


class Raw:
    """The baseline: the same rows straight into the observation table."""

    def __init__(self, engine: Engine, rows: list[Row], feature_of: dict[int, int | None]) -> None:
        self.engine = engine
        self.count = len(rows)
        if engine.dialect.name == "sqlite":
            self.params = [
                (stream, feature_of.get(stream), f"{moment:%Y-%m-%d %H:%M:%S.%f}", value)
                for stream, moment, value in rows
            ]
        else:
            out = io.StringIO()
            for stream, moment, value in rows:
                feature = feature_of.get(stream)
                out.write(
                    f"{stream}\t{NULL if feature is None else feature}\t"
                    f"{moment.isoformat()}\t{value!r}\n"
                )
            self.text = out.getvalue()

    def write(self) -> float:
        columns = "datastream_id, feature_id, phenomenon_time_start, result_number"
        raw: Any = self.engine.raw_connection()
        try:
            start = time.perf_counter()
            cursor = raw.cursor()
            if self.engine.dialect.name == "sqlite":
                cursor.executemany(
                    f"INSERT INTO sensing_observations ({columns}) VALUES (?, ?, ?, ?)",  # noqa: S608
                    self.params,
                )
            else:
                with cursor.copy(f"COPY sensing_observations ({columns}) FROM STDIN") as copy:
                    copy.write(self.text)
            raw.commit()
            seconds = time.perf_counter() - start
            cursor.close()
        finally:
            raw.close()
        return seconds


def run(kind: str, folder: Path, *, requests: int, seconds: float, pairs: int) -> dict[str, Any]:
    with database(kind, folder) as url:
        seeded = seed_sensors(url, datastreams=STREAMS)
        print(f"{kind}: {STREAMS:,} datastreams made in {seeded.seconds:.1f} s", file=sys.stderr)
        engine = make_engine(url)
        label = database_label(url, engine)
        rows = make_rows(requests, np.random.default_rng(20_261_209))
        bodies = [json_request(PATH, body(part), seeded.api_key) for part in rows]
        pin_client()
        measured: list[tuple[float, float]] = []
        errors = 0
        sample = b""
        with cityos_server(url, cwd=folder) as server:
            warm = send_all(
                server.port, [json_request(PATH, warm_body(), seeded.api_key)], clients=1
            )
            if warm.errors or warm.sample:
                raise RuntimeError(f"CreateObservations failed: {warm.sample[:500]!r}")
            feature_of = features(engine)
            # a warm-up on a few requests, which also sizes the runs to about `seconds` of ours
            clear_observations(engine)
            trial = bodies[:WARM_REQUESTS]
            rate = (
                len(trial)
                * ROWS_PER_REQUEST
                / send_all(server.port, trial, clients=CLIENTS).seconds
            )
            size = int(min(requests, max(WARM_REQUESTS, rate * seconds / ROWS_PER_REQUEST)))
            bodies = bodies[:size]
            flat = [row for part in rows[:size] for row in part]
            expected = len(flat)
            raw = Raw(engine, flat, feature_of)
            clear_observations(engine)
            raw.write()
            for _ in range(pairs):
                clear_observations(engine)
                ours: Run = send_all(server.port, bodies, clients=CLIENTS)
                have, dead = counts(engine)
                if ours.errors or have != expected or dead:
                    errors += ours.errors + abs(have - expected) + dead
                    sample = sample or ours.sample
                    print(
                        f"  ours: {have:,} stored of {expected:,}, {ours.statuses}", file=sys.stderr
                    )
                clear_observations(engine)
                raw_seconds = raw.write()
                have, _ = counts(engine)
                if have != expected:
                    errors += abs(have - expected)
                    print(f"  raw: {have:,} stored of {expected:,}", file=sys.stderr)
                print(
                    f"  ours {expected / ours.seconds:,.0f} obs/s (p50 {ours.percentile(50):.0f} "
                    f"ms per request) | raw {expected / raw_seconds:,.0f} rows/s",
                    file=sys.stderr,
                )
                measured.append((ours.seconds, raw_seconds))
            clear_observations(engine)
        engine.dispose()
    return {
        "kind": kind,
        "label": label,
        "seconds": seeded.seconds,
        "rows": expected,
        "measured": measured,
        "errors": errors,
        "sample": sample,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 pairs of 20 requests (< 1 min).")
    parser.add_argument(
        "--requests", type=int, help="At most this many requests of 1,000 rows per run (300)."
    )
    parser.add_argument(
        "--seconds", type=float, help="About how long each of our runs lasts (default 15)."
    )
    parser.add_argument("--pairs", type=int, help="Alternating pairs (default 5).")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), help="Default: both if reachable."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    requests = args.requests or (20 if args.quick else 300)
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    pairs = args.pairs or (2 if args.quick else 5)
    kinds = ["sqlite", "postgresql"] if postgres_reachable() else ["sqlite"]
    if args.database in ("sqlite", "postgresql"):
        kinds = [args.database]
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as folder_name:
        for kind in kinds:
            results.append(
                run(kind, Path(folder_name), requests=requests, seconds=seconds, pairs=pairs)
            )
    table: list[tuple[str, ...]] = []
    ok = True
    for result in results:
        n = result["rows"]
        ours = statistics.median(n / a for a, _ in result["measured"])
        raw = statistics.median(n / b for _, b in result["measured"])
        ratio = statistics.median(b / a for a, b in result["measured"])
        how = "executemany" if result["kind"] == "sqlite" else "COPY"
        print(
            f"ingest_bulk ({result['kind']}): CreateObservations {ours:,.0f} obs/s; baseline raw "
            f"{how} {raw:,.0f} rows/s; ratio {ratio:.2f} (target >= {TARGET:.2f})"
            + (
                f"; {result['errors']} ERRORS, first: {result['sample'][:300]!r}"
                if result["errors"]
                else ""
            )
        )
        ok = ok and ratio >= TARGET and not result["errors"]
        name = "SQLite" if result["kind"] == "sqlite" else "PostgreSQL"
        table.append(
            (
                f"{name}: CreateObservations, {ROWS_PER_REQUEST:,} rows per request (obs/s)",
                f"**{ours:,.0f}**",
                f"{raw:,.0f} (raw {how} of the same rows)",
                f"{ratio:.2f}",
                f">= {TARGET:.2f}",
            )
        )
    labels = "; ".join(
        f"{r['label']} ({STREAMS:,} datastreams made in {r['seconds']:.0f} s, not timed)"
        for r in results
    )
    sizes = ", ".join(f"{r['kind']} {r['rows'] // ROWS_PER_REQUEST:,}" for r in results)
    extra = (
        f"Machine: {machine()}; {versions()}; databases: {labels}. uvicorn, one worker, no "
        f"access log, pinned to CPU 0; the client on CPU 1 with {CLIENTS} keep-alive "
        f"connections, requests of {ROWS_PER_REQUEST:,} rows ({PER_REQUEST_STREAMS} datastreams "
        f"× {PER_STREAM} rows, dataArray), {sizes} per run (sized by a warm-up to about "
        f"{seconds:g} s of ours); the baseline writes the same rows (datastream, feature, time, "
        f"result) in one transaction from the client process. {pairs} alternating pairs after "
        f"a warm-up; the observation tables emptied before each run. Errors or missing rows: "
        f"{sum(r['errors'] for r in results)}. Load average at the start: {load:.1f}."
    )
    if not args.quick and not args.no_write:
        append_results(
            "ingest_bulk",
            table,
            mode="full",
            extra=extra,
            header=("figure", "ours", "baseline", "ratio", "target"),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
