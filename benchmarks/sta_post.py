"""SensorThings writes under load: single ``POST /sta/v1.1/Observations`` against a trivial
endpoint.

A database with 1,000 datastreams (``sensing_support.seed_sensors``; not timed). CityOS is
served by uvicorn (one worker, no access log, pinned to CPU 0); so is the baseline, a trivial
FastAPI app whose one endpoint ignores the body and returns a constant JSON list. The load
client (asyncio, raw HTTP/1.1 keep-alive, pinned to CPU 1) keeps 32 connections busy, each
POSTing one Observation (``{"Datastream": {"@iot.id": …}, "phenomenonTime": …, "result": …}``,
``Authorization: Bearer`` with an admin's API key; every request a new datastream and time,
so every one is stored) as soon as the previous answer arrives; the baseline gets the same
bytes. Throughput and p50/p99 latency, ours and baseline, in alternating pairs (A, B, A, B …)
after a warm-up; the figure is the median of the per-pair ratios ours/baseline (target
>= 0.3).

``--database sqlite|postgresql|both`` (default: both when PostgreSQL answers at
``CITYOS_TEST_POSTGRES_URL``; a scratch schema, dropped afterwards).

Run: ``python benchmarks/sta_post.py`` (5 pairs of 15 s per database; about 3 minutes per
database) or ``--quick`` (2 pairs of 2.5 s; under a minute per database). Results are
appended to ``benchmarks/RESULTS.md`` after a full run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cases_support import (
    Run,
    append_results,
    cityos_server,
    closed_loop,
    database_label,
    machine,
    pin_client,
    trivial_server,
    versions,
)
from cityos.db import make_engine
from data_query import database, postgres_reachable
from sensing_support import counts, iso, json_request, seed_sensors

PATH = "/sta/v1.1/Observations"
STREAMS = 1_000
CLIENTS = 32
TARGET = 0.3
START = datetime(2026, 1, 1, tzinfo=UTC)


class Bodies:
    """A new Observation for every request, across all runs (a new datastream and time)."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.counter = itertools.count()
        self.values = np.round(np.random.default_rng(20_261_210).uniform(0, 100, 4096), 2)

    def next(self, path: str = PATH) -> bytes:
        i = next(self.counter)
        payload = {
            "Datastream": {"@iot.id": i % STREAMS + 1},
            "phenomenonTime": iso(START + timedelta(seconds=i // STREAMS)),
            "result": float(self.values[i % len(self.values)]),
        }
        return json_request(path, json.dumps(payload).encode(), self.api_key)


def describe(run: Run) -> str:
    p50, p99 = run.percentile(50), run.percentile(99)
    return f"{run.throughput:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {run.errors} errors"


def run(kind: str, folder: Path, *, seconds: float, pairs: int) -> dict[str, Any]:
    with database(kind, folder) as url:
        seeded = seed_sensors(url, datastreams=STREAMS)
        print(f"{kind}: {STREAMS:,} datastreams made in {seeded.seconds:.1f} s", file=sys.stderr)
        engine = make_engine(url)
        label = database_label(url, engine)
        bodies = Bodies(seeded.api_key)
        trivial = [bodies.next("/trivial") for _ in range(100)]
        pin_client()
        measured: list[tuple[Run, Run]] = []
        with cityos_server(url, cwd=folder) as ours, trivial_server(folder) as baseline:

            def make_ours(_: int) -> bytes:
                return bodies.next()

            def make_base(i: int) -> bytes:
                return trivial[i % len(trivial)]

            warm = closed_loop(ours.port, make_ours, clients=CLIENTS, seconds=min(seconds, 3.0))
            if warm.errors:
                print(f"  warm-up: {warm.statuses}, first: {warm.sample[:300]!r}", file=sys.stderr)
            closed_loop(baseline.port, make_base, clients=CLIENTS, seconds=min(seconds, 3.0))
            for _ in range(pairs):
                a = closed_loop(ours.port, make_ours, clients=CLIENTS, seconds=seconds)
                b = closed_loop(baseline.port, make_base, clients=CLIENTS, seconds=seconds)
                print(f"  ours {describe(a)} | baseline {describe(b)}", file=sys.stderr)
                measured.append((a, b))
        sent = sum(a.statuses.get(201, 0) for a, _ in measured) + warm.statuses.get(201, 0)
        have, _ = counts(engine)
        engine.dispose()
    return {
        "kind": kind,
        "label": label,
        "seconds": seeded.seconds,
        "pairs": measured,
        "created": sent,
        "stored": have,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 short pairs (< 1 min).")
    parser.add_argument("--seconds", type=float, help="Length of each run (default 15).")
    parser.add_argument("--pairs", type=int, help="Alternating pairs (default 5).")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), help="Default: both if reachable."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    seconds = args.seconds or (2.5 if args.quick else 15.0)
    pairs = args.pairs or (2 if args.quick else 5)
    kinds = ["sqlite", "postgresql"] if postgres_reachable() else ["sqlite"]
    if args.database in ("sqlite", "postgresql"):
        kinds = [args.database]
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as folder_name:
        for kind in kinds:
            results.append(run(kind, Path(folder_name), seconds=seconds, pairs=pairs))
    rows: list[tuple[str, ...]] = []
    ok = True
    total_errors = 0
    for result in results:
        measured: list[tuple[Run, Run]] = result["pairs"]
        ratio = statistics.median(a.throughput / b.throughput for a, b in measured)
        ours_rate = statistics.median(a.throughput for a, _ in measured)
        base_rate = statistics.median(b.throughput for _, b in measured)
        o50 = statistics.median(a.percentile(50) for a, _ in measured)
        o99 = statistics.median(a.percentile(99) for a, _ in measured)
        b50 = statistics.median(b.percentile(50) for _, b in measured)
        b99 = statistics.median(b.percentile(99) for _, b in measured)
        errors = sum(a.errors for a, _ in measured) + abs(result["created"] - result["stored"])
        total_errors += errors
        sample = next((a.sample for a, _ in measured if a.sample), b"")
        print(
            f"sta_post ({result['kind']}): {ours_rate:,.0f} req/s (p50 {o50:.1f} ms, p99 "
            f"{o99:.1f} ms); baseline trivial FastAPI {base_rate:,.0f} req/s (p50 {b50:.1f} ms, "
            f"p99 {b99:.1f} ms); ratio {ratio:.2f} (target >= {TARGET:.2f})"
            + (f"; {errors} ERRORS, first: {sample[:300]!r}" if errors else "")
        )
        ok = ok and ratio >= TARGET and not errors
        name = "SQLite" if result["kind"] == "sqlite" else "PostgreSQL"
        rows.append(
            (
                f"{name}: POST Observations, {CLIENTS} clients (req/s)",
                f"**{ours_rate:,.0f}**",
                f"{base_rate:,.0f} (trivial FastAPI endpoint)",
                f"{ratio:.2f}",
                f">= {TARGET:.2f}",
            )
        )
        rows.append(
            (
                f"{name}: p50 / p99 at {CLIENTS} clients (ms)",
                f"{o50:.1f} / {o99:.1f}",
                f"{b50:.1f} / {b99:.1f}",
                "—",
                "—",
            )
        )
    labels = "; ".join(
        f"{r['label']} ({STREAMS:,} datastreams made in {r['seconds']:.0f} s, not timed)"
        for r in results
    )
    extra = (
        f"Machine: {machine()}; {versions()}; databases: {labels}. Both apps served by uvicorn, "
        f"one worker, no access log, pinned to CPU 0; the asyncio load client pinned to CPU 1; "
        f"{CLIENTS} keep-alive connections; {pairs} alternating pairs of {seconds:g} s after a "
        f"warm-up. Non-2xx answers, or Observations answered 201 but not stored: "
        f"{total_errors}. Load average at the start: {load:.1f}."
    )
    if not args.quick and not args.no_write:
        append_results(
            "sta_post",
            rows,
            mode="full",
            extra=extra,
            header=("figure", "ours", "baseline", "ratio", "target"),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
