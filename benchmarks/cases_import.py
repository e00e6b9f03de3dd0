"""Bulk case import: ``cases.importer.import_file`` against a raw executemany of the same rows.

The city is the demo city's map (8 districts, 40 sub-districts, ~1,100 grid cells) with the
demo catalog (33 services, 13 routing rules), in a temporary SQLite file. A CSV of
1,000,000 synthetic cases (fixed seed; points inside the city, a third of them past
opening; category names, statuses and departments in the source's own words, translated by
a mapping) is then imported:

* ours: ``import_file`` — read the CSV (polars), check every row (required values, date-times,
  closed ≥ opened, known categories and statuses, coordinates inside the city), skip
  already imported ids, route in bulk (``locate_many`` + ``route_many``), compute the SLA
  clocks, and write with executemany in batches; committed.
* baseline: the same final rows (taken from our import beforehand, already tuples) written
  with one DBAPI ``executemany`` into the same table of an identical fresh database, with the
  same connection settings (WAL, foreign keys, the importer's page-cache size); committed.

Each run starts from a fresh copy of the same database file. Pairwise alternating A, B, A, B
… after a warm-up; median of each; ratio = baseline time / our time (target ≥ 0.30); the
absolute target is ≥ 50,000 cases/s.

Run: ``python benchmarks/cases_import.py`` (full: 1,000,000 rows, 5 pairs) or ``--quick``
(100,000 rows, 3 pairs, under a minute). Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy

from cityos.audit.service import Actor
from cityos.cases import bulk, importer
from cityos.cases.catalog import list_categories
from cityos.cases.import_mapping import ImportMapping, parse_mapping
from cityos.db import make_engine, make_session_factory, upgrade
from cityos.demo.catalog import seed_catalog
from cityos.demo.city import CITY_CODE, seed_areas
from cityos.demo.people import seed_departments
from cityos.geo import service as geo_service

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SEED = 20_261_121
ACTOR = Actor.system("benchmark")
STATUSES = {"Open": "submitted", "Assigned": "acknowledged", "Working": "in_progress"}
ENDED = {"Fixed": "resolved", "Closed": "closed"}
DEPARTMENTS = {"Public Works": "CMB", "Water Dept": "WATER", "Parks Dept": "PARKS"}
CLOSE_TEXTS = ("Duplicate of an existing case", "No action needed", "Referred to the utility")


def build_city(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as db_session:
        seed_departments(db_session)
        seed_areas(db_session)
        seed_catalog(db_session)
        db_session.commit()
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def mapping_for(names: dict[str, str]) -> ImportMapping:
    return parse_mapping(
        {
            "source": "bench",
            "datetimes": {"formats": ["%Y-%m-%d %H:%M:%S"], "timezone": "Asia/Shanghai"},
            "columns": {
                "external_id": "case_id",
                "opened": "opened",
                "closed": "closed",
                "category": "type",
                "status": "status",
                "close_reason": "closure",
                "resolution_note": "closure",
                "lat": "latitude",
                "lon": "longitude",
                "description": "title",
                "address": "address",
                "department": "department",
            },
            "categories": {"map": names, "unmapped": "reject"},
            "statuses": {"map": STATUSES | ENDED},
            "close_reasons": {
                "rules": [
                    {"pattern": "duplicate", "reason": "duplicate"},
                    {"pattern": "no action", "reason": "no_further_action"},
                    {"pattern": "referred", "reason": "referred_outside"},
                ]
            },
            "departments": {"map": DEPARTMENTS},
        },
        name="benchmark mapping",
    )


def make_csv(url: str, path: Path, count: int) -> ImportMapping:
    """``count`` synthetic cases as CSV (fixed seed), and the mapping that reads them."""
    engine = make_engine(url)
    with make_session_factory(engine)() as db_session:
        categories = list(list_categories(db_session))
        city = geo_service.get_area(db_session, code=CITY_CODE)
        rng = np.random.default_rng(SEED)
        lons = np.empty(0)
        lats = np.empty(0)
        while len(lons) < count:
            x = np.round(rng.uniform(city.min_lon, city.max_lon, count), 6)
            y = np.round(rng.uniform(city.min_lat, city.max_lat, count), 6)
            inside = geo_service.locate_many(db_session, lons=x, lats=y).inside
            lons = np.concatenate([lons, x[inside]])
            lats = np.concatenate([lats, y[inside]])
    engine.dispose()
    names = {f"{c.name_en} ({c.service_code.lower()})": c.service_code for c in categories}
    labels = np.array(list(names), dtype=object)
    now = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    opened = now - rng.integers(0, 365 * 86400, count)
    duration = rng.lognormal(np.log(30 * 3600), 1.0, count).astype(np.int64)
    draw = rng.random(count)
    ended = draw < 0.65
    status = np.where(
        ended,
        np.where(draw < 0.58, "Fixed", "Closed"),
        np.array(list(STATUSES), dtype=object)[rng.integers(0, 3, count)],
    )
    closure = np.where(
        status == "Closed",
        np.array(CLOSE_TEXTS, dtype=object)[rng.integers(0, 3, count)],
        np.where(status == "Fixed", "Case resolved: crew attended", ""),
    )
    department = np.array(["", *DEPARTMENTS], dtype=object)[
        np.where(rng.random(count) < 0.6, 0, rng.integers(1, 4, count))
    ]
    frame = pl.DataFrame(
        {
            "case_id": np.arange(1, count + 1),
            "opened": pl.Series(opened * 1_000_000).cast(pl.Datetime("us")),
            "closed": pl.Series(np.where(ended, opened + duration, 0) * 1_000_000).cast(
                pl.Datetime("us")
            ),
            "type": labels[rng.integers(0, len(labels), count)],
            "status": status,
            "closure": closure,
            "latitude": lats[:count],
            "longitude": lons[:count],
            "title": np.array(["Reported by phone", "Reported in the app", "坑洼 / 积水"])[
                rng.integers(0, 3, count)
            ],
            "address": [f"{n} Lakeside Road" for n in rng.integers(1, 999, count)],
            "department": department,
        }
    ).with_columns(
        pl.col("opened").dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.when(pl.Series(ended))
        .then(pl.col("closed").dt.strftime("%Y-%m-%d %H:%M:%S"))
        .otherwise(None)
        .alias("closed"),
    )
    frame.write_csv(path)
    return mapping_for(names)


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def fresh(template: Path, folder: Path, name: str) -> str:
    target = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def import_once(url: str, csv_path: Path, mapping: ImportMapping) -> dict[str, float]:
    """Our import; returns the time of each stage (and the total)."""
    engine = make_engine(url)
    stages: dict[str, float] = {}
    last = [time.perf_counter(), "reading"]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage != last[1]:
            stages[str(last[1])] = stages.get(str(last[1]), 0.0) + now - float(last[0])
            last[0], last[1] = now, stage

    try:
        with make_session_factory(engine)() as db_session:
            start = time.perf_counter()
            last[0] = start
            report = importer.import_file(
                db_session, csv_path, mapping, actor=ACTOR, progress=progress
            )
            db_session.commit()
            end = time.perf_counter()
            stages[str(last[1])] = stages.get(str(last[1]), 0.0) + end - float(last[0])
            stages["total"] = end - start
            assert report.imported == report.rows, report.describe()
    finally:
        engine.dispose()
    return stages


def final_rows(url: str, csv_path: Path, mapping: ImportMapping) -> tuple[str, list[Any]]:
    """The rows our import writes, as the tuples it hands to executemany."""
    engine = make_engine(url)
    captured: list[Any] = []
    original = bulk.write

    def capture(db_session: Any, rows: pl.DataFrame, **kwargs: Any) -> int:
        captured.append(rows)
        return rows.height

    bulk.write = capture  # type: ignore[assignment]
    try:
        with make_session_factory(engine)() as db_session:
            importer.import_file(db_session, csv_path, mapping, actor=ACTOR)
            sql = bulk.insert_sql(db_session)
            db_session.rollback()
    finally:
        bulk.write = original  # type: ignore[assignment]
        engine.dispose()
    return sql, captured[0].rows()


def raw_once(url: str, sql: str, rows: list[Any]) -> float:
    """The baseline: one DBAPI executemany of the final rows, committed."""
    path = url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=10000",
            "synchronous=NORMAL",
            f"cache_size={-bulk.IMPORT_CACHE_KIB}",
        ):
            connection.execute(f"PRAGMA {pragma}")
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(sql, rows)
        connection.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        connection.close()


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{os.cpu_count()} cores, {memory:.0f} GB RAM, {platform.machine()}"


def versions() -> str:
    return (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"SQLAlchemy {sqlalchemy.__version__}, polars {pl.__version__}, numpy {np.__version__}"
    )


def append_results(rows: list[tuple[str, ...]], *, mode: str, extra: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"## cases_import — {stamp} ({mode})",
        "",
        f"Machine: {machine()}; {versions()}; database: SQLite (temporary file).",
        extra,
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
    parser.add_argument("--quick", action="store_true", help="100k rows, 3 pairs.")
    parser.add_argument("--rows", type=int, help="Rows in the file (default 1,000,000).")
    parser.add_argument("--repeats", type=int, help="Pairs after the warm-up (default 5).")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    count = args.rows or (100_000 if args.quick else 1_000_000)
    repeats = args.repeats or (3 if args.quick else 5)
    mode = "quick" if args.quick else "full"

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        template = folder / "template.db"
        start = time.perf_counter()
        build_city(f"sqlite:///{template}")
        csv_path = folder / "cases.csv"
        mapping = make_csv(f"sqlite:///{template}", csv_path, count)
        setup_s = time.perf_counter() - start
        size_mb = csv_path.stat().st_size / 1e6
        sql, rows = final_rows(fresh(template, folder, "probe.db"), csv_path, mapping)

        warm_csv = folder / "warm.csv"
        pl.read_csv(csv_path, infer_schema=False, n_rows=min(count, 20_000)).write_csv(warm_csv)
        import_once(fresh(template, folder, "a.db"), warm_csv, mapping)
        raw_once(fresh(template, folder, "b.db"), sql, rows[:20_000])

        ours_s: list[float] = []
        base_s: list[float] = []
        ratios: list[float] = []
        stage_runs: list[dict[str, float]] = []
        for _ in range(repeats):
            stages = import_once(fresh(template, folder, "a.db"), csv_path, mapping)
            base = raw_once(fresh(template, folder, "b.db"), sql, rows)
            stage_runs.append(stages)
            ours_s.append(stages["total"])
            base_s.append(base)
            ratios.append(base / stages["total"])
            parts = ", ".join(f"{k} {v:.2f}" for k, v in stages.items() if k != "total")
            print(
                f"  pair: ours {stages['total']:.2f} s ({parts}), raw {base:.2f} s, ratio "
                f"{base / stages['total']:.2f}",
                flush=True,
            )

    ours_rate = count / statistics.median(ours_s)
    base_rate = count / statistics.median(base_s)
    ratio = statistics.median(ratios)
    print(
        f"cases_import: {ours_rate:,.0f} cases/s imported with validation and routing; "
        f"baseline raw executemany {base_rate:,.0f} rows/s; ratio {ratio:.2f} "
        f"(target >= 0.30; absolute >= 50,000 cases/s)"
    )
    names = ("reading", "checking", "routing", "writing")
    medians = {n: statistics.median(run.get(n, 0.0) for run in stage_runs) for n in names}
    breakdown = ", ".join(f"{n} {medians[n]:.2f} s" for n in names)
    extra = (
        f"File: {count:,} cases, {size_mb:,.0f} MB CSV, 11 columns, mapped categories, statuses, "
        f"close reasons and departments (40% of rows name their department); demo city map "
        f"and catalog; {repeats} pairs after a warm-up; setup {setup_s:.1f} s. Our median "
        f"stages: {breakdown}."
    )
    table = [
        (
            "import with validation and routing (cases/s)",
            f"{ours_rate:,.0f}",
            f"{base_rate:,.0f} (raw executemany of the same rows)",
            f"{ratio:.2f}",
            ">= 0.30; >= 50,000 cases/s",
        )
    ]
    if not args.no_write:
        append_results(table, mode=mode, extra=extra)
    return 0 if ratio >= 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
