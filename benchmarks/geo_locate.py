"""Point-in-area routing: ``geo.service.locate_many`` / ``locate`` against a bare STRtree.

The city is the demo city's map (8 districts, 40 sub-districts, ~1,100 square grid cells of
500 m near lon 120.16, lat 30.27), written with ``upsert_areas`` + ``generate_grid`` into a
temporary SQLite database. Then:

* bulk: 1,000,000 random points (fixed seed) in the city's bounding box, located with
  ``locate_many`` (coordinates in; ids, per-level codes and lineages out) against the
  baseline ``STRtree(grid cells).query(points, predicate="within")`` on the same polygons
  and the *already built* Point geometries (so the baseline does strictly less work: no
  validation, no revision check, no Point creation, no coarser levels, no id mapping).
  Pairwise alternating A, B, A, B … after a warm-up; median of each; ratio = baseline time
  / our time (so ≥ 1 means faster than the baseline). Target ≥ 0.80.
* single: ``locate`` latency over 10,000 calls (each reads the revision token from the
  database, as in production), p50 and p99. Target p99 < 1 ms. A bare single-point STRtree
  query is timed alongside for context.

Run: ``python benchmarks/geo_locate.py`` (full) or ``--quick`` (under a minute).
Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from cityos.audit.service import Actor
from cityos.db import make_engine, make_session_factory, upgrade
from cityos.demo.city import CITY_CODE, GRID_CELL_M, build_areas
from cityos.geo import service
from cityos.geo.grid import generate_grid
from cityos.geo.index import current_index
from cityos.geo.models import AreaLevel

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SEED = 20_260_521
ACTOR = Actor.system("benchmark")


def build_city(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as db_session:
        service.upsert_areas(db_session, areas=build_areas(), actor=ACTOR)
        generate_grid(db_session, within_code=CITY_CODE, cell_size_m=GRID_CELL_M, actor=ACTOR)
        db_session.commit()
    engine.dispose()


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{os.cpu_count()} cores, {memory:.0f} GB RAM, {platform.machine()}"


def versions() -> str:
    geos = ".".join(str(part) for part in shapely.geos_version)
    return (
        f"Python {platform.python_version()}, Shapely {shapely.__version__} (GEOS {geos}), "
        f"numpy {np.__version__}"
    )


def append_results(rows: list[tuple[str, str, str, str, str]], *, mode: str, extra: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\n"
            "Appended by the scripts in `benchmarks/`. Every figure is a ratio against a "
            "baseline measured in the same run (each script's docstring says which), with "
            "the absolute numbers for context. Machines are shared and noisy: compare "
            "ratios, not absolute numbers.\n",
            encoding="utf-8",
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"## geo_locate — {stamp} ({mode})",
        "",
        f"Machine: {machine()}; {versions()}; database: SQLite (temporary file).",
        f"{extra}",
        "",
        "| figure | ours | baseline | ratio | target |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100k points, 3 repeats.")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    points_count = 100_000 if args.quick else 1_000_000
    repeats = 3 if args.quick else 7
    single_calls = 2_000 if args.quick else 10_000

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        start = time.perf_counter()
        build_city(url)
        setup_s = time.perf_counter() - start
        engine = make_engine(url)
        db_session = make_session_factory(engine)()
        try:
            return run(
                db_session,
                points_count=points_count,
                repeats=repeats,
                single_calls=single_calls,
                setup_s=setup_s,
                mode="quick" if args.quick else "full",
                write=not args.no_write,
            )
        finally:
            db_session.close()
            engine.dispose()


def run(
    db_session: Any,
    *,
    points_count: int,
    repeats: int,
    single_calls: int,
    setup_s: float,
    mode: str,
    write: bool,
) -> int:
    areas = service.list_areas(db_session)
    cells = [area for area in areas if area.level == AreaLevel.GRID.value]
    city = next(area for area in areas if area.level == AreaLevel.CITY.value)
    rng = np.random.default_rng(SEED)
    lons = rng.uniform(city.min_lon, city.max_lon, points_count)
    lats = rng.uniform(city.min_lat, city.max_lat, points_count)

    # The baseline: a bare tree over the same grid-cell polygons, and prebuilt points.
    polygons = shapely.from_wkb(np.array([cell.geometry_wkb for cell in cells], dtype=object))
    tree = shapely.STRtree(polygons)
    points = shapely.points(lons, lats)

    def ours() -> Any:
        return service.locate_many(db_session, lons=lons, lats=lats)

    def baseline() -> Any:
        return tree.query(points, predicate="within")

    index = current_index(db_session)

    def trees_only() -> Any:  # context: our path without the lookup raster
        return index.locate_points(shapely.points(lons, lats))

    first_call_s = timed(ours)  # builds the index and the lookup raster for this revision
    result = ours()
    pairs = baseline()
    # Same answers on the grid level: every point the baseline puts in a cell, we put there.
    cell_ids = np.array([cell.id for cell in cells], dtype=np.int64)
    grid_ids = result.ids_at(AreaLevel.GRID)
    assert np.array_equal(grid_ids[pairs[0]], cell_ids[pairs[1]]), "answers differ"
    inside = float(result.inside.mean())
    timed(baseline)

    ours_s: list[float] = []
    base_s: list[float] = []
    trees_s: list[float] = []
    ratios: list[float] = []
    for _ in range(repeats):
        a = timed(ours)
        b = timed(baseline)
        trees_s.append(timed(trees_only))
        ours_s.append(a)
        base_s.append(b)
        ratios.append(b / a)
    trees_rate = points_count / statistics.median(trees_s)
    ours_rate = points_count / statistics.median(ours_s)
    base_rate = points_count / statistics.median(base_s)
    ratio = statistics.median(ratios)
    print(
        f"geo_locate bulk: {ours_rate:,.0f} pts/s; baseline bare STRtree within "
        f"{base_rate:,.0f} pts/s; ratio {ratio:.2f} (target >= 0.80)"
    )

    # Single points: latency of locate(), token check included.
    sample = rng.integers(0, points_count, single_calls)
    for i in sample[:200]:  # warm-up
        service.locate(db_session, lon=float(lons[i]), lat=float(lats[i]))
    latencies = np.empty(single_calls)
    bare = np.empty(single_calls)
    for n, i in enumerate(sample):
        lon, lat = float(lons[i]), float(lats[i])
        start = time.perf_counter()
        service.locate(db_session, lon=lon, lat=lat)
        latencies[n] = time.perf_counter() - start
        start = time.perf_counter()
        tree.query(shapely.Point(lon, lat), predicate="within")
        bare[n] = time.perf_counter() - start
    p50, p99 = (float(v) * 1e6 for v in np.percentile(latencies, [50, 99]))
    b50, b99 = (float(v) * 1e6 for v in np.percentile(bare, [50, 99]))
    print(
        f"geo_locate single: p50 {p50:,.0f} µs, p99 {p99:,.0f} µs over {single_calls:,} calls "
        f"(target p99 < 1,000 µs); baseline bare STRtree point query p50 {b50:,.0f} µs, "
        f"p99 {b99:,.0f} µs"
    )

    extra = (
        f"City: {len(areas):,} areas ({len(cells):,} grid cells of {GRID_CELL_M:g} m); "
        f"{points_count:,} points, {inside:.0%} inside the city; {repeats} pairs after a "
        f"warm-up; build {setup_s:.2f} s; first locate_many (index + raster) {first_call_s:.2f} s. "
        f"For context, the trees alone (no lookup raster, Points created from the coordinates) "
        f"locate {trees_rate:,.0f} pts/s."
    )
    rows = [
        (
            "bulk locate_many (pts/s)",
            f"{ours_rate:,.0f}",
            f"{base_rate:,.0f} (bare STRtree within)",
            f"{ratio:.2f}",
            ">= 0.80",
        ),
        (
            "single locate p50 / p99 (µs)",
            f"{p50:,.0f} / {p99:,.0f}",
            f"{b50:,.0f} / {b99:,.0f} (bare point query)",
            "—",
            "p99 < 1,000 µs",
        ),
    ]
    if write:
        append_results(rows, mode=mode, extra=extra)
    ok = ratio >= 0.8 and p99 < 1000
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
