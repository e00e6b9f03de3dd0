"""Open311 intake under load: ``POST /open311/v2/requests.json`` against a trivial endpoint.

A database is seeded with the demo city, its catalog and 1,000,000 synthetic cases (see
``cases_support.build_database``; not timed). CityOS is served by uvicorn (one worker, no
access log, pinned to CPU 0); so is the baseline, a trivial FastAPI app whose one endpoint
ignores the body and returns a constant JSON list. The load client (asyncio, raw HTTP/1.1
keep-alive, pinned to CPU 1 — the machine has 2 cores: one serves, one loads) keeps 32
connections busy, each POSTing a form-encoded Open311 request (api_key, service_code, a
random point inside the city, description, the category's required attributes, e-mail and
name) as soon as the previous answer arrives; the baseline gets the same bytes.

* throughput and p50/p99 latency, ours and baseline, in alternating pairs (A, B, A, B …) after
  a warm-up; the figure is the median of the per-pair ratios ours/baseline (target ≥ 0.3);
* then a fixed 200 requests/s (open loop; latency counted from each request's scheduled
  time) against ours: p50/p99 (target p99 < 100 ms); the baseline at the same rate for context.

Run: ``python benchmarks/cases_post.py`` (1M cases, 5 pairs of 60 s) or ``--quick`` (50k
cases, short runs; under a minute). ``--database-url postgresql+psycopg://…`` seeds and
serves a PostgreSQL database instead of a temporary SQLite file (its tables must be empty).
Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from cases_support import (
    SEED,
    Run,
    append_results,
    build_database,
    cityos_server,
    closed_loop,
    database_label,
    inside_points,
    machine,
    open_loop,
    pin_client,
    post_bytes,
    trivial_server,
    versions,
)
from cityos.cases.catalog import list_categories
from cityos.cases.models import Category
from cityos.db import make_engine, make_session_factory
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

PATH = "/open311/v2/requests.json"
CLIENTS = 32
RATE = 200.0


def required_answers(category: Category) -> list[tuple[str, str]]:
    """A valid value for each required attribute of the category."""
    pairs: list[tuple[str, str]] = []
    for attribute in category.attributes:
        if not attribute.required:
            continue
        if attribute.datatype == "singlevaluelist":
            pairs.append((f"attribute[{attribute.code}]", attribute.values[0]["key"]))
        elif attribute.datatype == "multivaluelist":
            pairs.append((f"attribute[{attribute.code}][]", attribute.values[0]["key"]))
        elif attribute.datatype == "number":
            pairs.append((f"attribute[{attribute.code}]", "1"))
        elif attribute.datatype == "datetime":
            pairs.append((f"attribute[{attribute.code}]", datetime.now(UTC).isoformat()))
        else:
            pairs.append((f"attribute[{attribute.code}]", "n/a"))
    return pairs


def request_bodies(url: str, api_key: str, count: int = 5_000) -> list[bytes]:
    """``count`` different, valid Open311 POST requests (fixed seed)."""
    engine = make_engine(url)
    rng = np.random.default_rng(SEED + 1)
    with make_session_factory(engine)() as db_session:
        categories = list(list_categories(db_session))
        city = geo_service.list_areas(db_session, level=AreaLevel.CITY)[0]
        bounds = (city.min_lon, city.min_lat, city.max_lon, city.max_lat)
        lons, lats, _ = inside_points(db_session, rng, bounds, count)
        answers = {category.service_code: required_answers(category) for category in categories}
    engine.dispose()
    bodies = []
    for i in range(count):
        category = categories[int(rng.integers(len(categories)))]
        pairs = [
            ("api_key", api_key),
            ("service_code", category.service_code),
            ("lat", f"{lats[i]:.6f}"),
            ("long", f"{lons[i]:.6f}"),
            ("description", f"Report {i}: something needs fixing here, please have a look."),
            *answers[category.service_code],
            ("email", f"citizen{i}@example.org"),
            ("first_name", "Wei"),
            ("last_name", "Zhang"),
        ]
        bodies.append(post_bytes(PATH, urlencode(pairs)))
    return bodies


def describe(run: Run) -> str:
    p50, p99 = run.percentile(50), run.percentile(99)
    return f"{run.throughput:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {run.errors} errors"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="50k cases, short runs (< 1 min).")
    parser.add_argument("--cases", type=int, help="Cases to seed (default 1,000,000).")
    parser.add_argument("--seconds", type=float, help="Length of each closed-loop run.")
    parser.add_argument("--pairs", type=int, default=5, help="Alternating pairs (default 5).")
    parser.add_argument("--database-url", help="Use this (empty, migrated or new) database.")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    cases = args.cases or (50_000 if args.quick else 1_000_000)
    seconds = args.seconds or (2.5 if args.quick else 60.0)
    fixed_seconds = 4.0 if args.quick else 60.0
    mode = "quick" if args.quick else "full"

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        url = args.database_url or f"sqlite:///{folder / 'cases.db'}"
        seeded = build_database(url, cases=cases)
        print(f"seeded {cases:,} cases in {seeded.seconds:.0f} s", file=sys.stderr)
        bodies = request_bodies(url, seeded.api_key)
        trivial_bodies = [body.replace(PATH.encode(), b"/trivial") for body in bodies[:100]]
        pin_client()
        with cityos_server(url, cwd=folder) as ours, trivial_server(folder) as baseline:

            def make_ours(i: int) -> bytes:
                return bodies[i % len(bodies)]

            def make_base(i: int) -> bytes:
                return trivial_bodies[i % len(trivial_bodies)]

            closed_loop(ours.port, make_ours, clients=CLIENTS, seconds=min(seconds, 3.0))
            closed_loop(baseline.port, make_base, clients=CLIENTS, seconds=min(seconds, 3.0))
            pairs: list[tuple[Run, Run]] = []
            for _ in range(args.pairs):
                a = closed_loop(ours.port, make_ours, clients=CLIENTS, seconds=seconds)
                b = closed_loop(baseline.port, make_base, clients=CLIENTS, seconds=seconds)
                print(f"  ours {describe(a)} | baseline {describe(b)}", file=sys.stderr)
                pairs.append((a, b))
            fixed = open_loop(ours.port, make_ours, rate=RATE, seconds=fixed_seconds)
            fixed_base = open_loop(baseline.port, make_base, rate=RATE, seconds=fixed_seconds)
        errors = sum(a.errors for a, _ in pairs) + fixed.errors
        sample = next((a.sample for a, _ in pairs if a.sample), b"")
        database = database_label(url)

    ratio = statistics.median(a.throughput / b.throughput for a, b in pairs)
    ours_rate = statistics.median(a.throughput for a, _ in pairs)
    base_rate = statistics.median(b.throughput for _, b in pairs)
    o50 = statistics.median(a.percentile(50) for a, _ in pairs)
    o99 = statistics.median(a.percentile(99) for a, _ in pairs)
    b50 = statistics.median(b.percentile(50) for _, b in pairs)
    b99 = statistics.median(b.percentile(99) for _, b in pairs)
    f50, f99 = fixed.percentile(50), fixed.percentile(99)
    print(
        f"cases_post: {ours_rate:,.0f} req/s (p50 {o50:.1f} ms, p99 {o99:.1f} ms); baseline "
        f"trivial FastAPI {base_rate:,.0f} req/s (p50 {b50:.1f} ms, p99 {b99:.1f} ms); ratio "
        f"{ratio:.2f} (target >= 0.30); at {RATE:.0f} req/s p99 {f99:.1f} ms (target < 100 ms)"
        + (f"; {errors} ERRORS, first: {sample[:300]!r}" if errors else "")
    )
    extra = (
        f"Machine: {machine()}; {versions()}; database: {database}, seeded with {cases:,} "
        f"cases (demo city and catalog) in {seeded.seconds:.0f} s (not timed). Both apps served "
        f"by uvicorn, one worker, no access log, pinned to CPU 0; the asyncio load client pinned "
        f"to CPU 1; {CLIENTS} keep-alive connections; {args.pairs} alternating pairs of "
        f"{seconds:g} s after a warm-up; fixed-rate runs of {fixed_seconds:g} s. Non-2xx answers: "
        f"{errors}."
    )
    rows = [
        (
            f"POST requests.json, {CLIENTS} clients (req/s)",
            f"{ours_rate:,.0f}",
            f"{base_rate:,.0f} (trivial FastAPI endpoint)",
            f"{ratio:.2f}",
            ">= 0.30",
        ),
        (
            f"p50 / p99 at {CLIENTS} clients (ms)",
            f"{o50:.1f} / {o99:.1f}",
            f"{b50:.1f} / {b99:.1f}",
            "—",
            "—",
        ),
        (
            f"p50 / p99 at a fixed {RATE:.0f} req/s (ms)",
            f"{f50:.1f} / {f99:.1f}",
            f"{fixed_base.percentile(50):.1f} / {fixed_base.percentile(99):.1f}",
            "—",
            "p99 < 100 ms",
        ),
    ]
    if not args.no_write:
        append_results(
            "cases_post",
            rows,
            mode=mode,
            extra=extra,
            header=("figure", "ours", "baseline", "ratio", "target"),
        )
    return 0 if ratio >= 0.3 and f99 < 100 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
