"""Dataset queries: a filtered, sorted page of 100 rows and a full CSV download, over HTTP.

A dataset of 1,000,000 rows (fixed seed; 9 fields: id, district — 100 values, filterable —,
category, name, amount, opened, updated, active, location) is made through the service (its
schema, its table) and filled by a bulk insert straight into its table (setup, not timed).
The app is served by uvicorn (one worker, pinned to CPU 0); the client (pinned to CPU 1)
times whole HTTP exchanges:

* page: ``GET /api/data/bench/rows?district=D…&amount__ge=…&sort=-opened&limit=100`` with
  a district and an amount drawn per request (about 5,000 matching rows to sort), then the
  page behind its ``next`` cursor — half the requests are first pages, half second pages.
  Baseline, alternating request by request: the same question as one plain SQL statement
  (``SELECT … WHERE district = ? AND amount >= ? ORDER BY opened DESC, _row LIMIT 100``, and
  the keyset condition for second pages) on a raw connection in the client process.
  Target: p95 < 50 ms.
* download: ``GET /api/data/bench/download.csv`` — every row, read to the end. Baseline,
  alternating: a raw DBAPI cursor fetching every row of the table (``fetchmany``; a
  server-side cursor on PostgreSQL) in the client process — reading without writing
  anything. Target: ≥ 300,000 rows/s.

``--database sqlite|postgresql|both`` (default: both when PostgreSQL answers at
``CITYOS_TEST_POSTGRES_URL``; a scratch schema, dropped afterwards).

Run: ``python benchmarks/data_query.py`` (1,000,000 rows; 1,000 page pairs; 5 download
pairs) or ``--quick`` (100,000 rows; 200 page pairs; 2 download pairs; under a minute per
database). Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import polars as pl
from sqlalchemy import Connection, Engine, create_engine, text

from cases_support import (
    append_results,
    cityos_server,
    database_label,
    get_bytes,
    machine,
    pin_client,
    versions,
)
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.datahub import physical, service, storage
from cityos.db import make_engine, make_session_factory, upgrade

SEED = 20_261_122
ACTOR = Actor.system("benchmark")
NAME = "bench"
TARGET_P95_MS = 50.0
TARGET_ROWS_PER_S = 300_000
POSTGRES_URL = os.environ.get(
    "CITYOS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DESCRIPTOR: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "district", "type": "string", "filterable": True},
        {"name": "category", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "opened", "type": "date"},
        {"name": "updated", "type": "datetime"},
        {"name": "active", "type": "boolean"},
        {"name": "location", "type": "geopoint"},
    ],
    "primaryKey": ["id"],
    # the steward declares the index the portal's usual question needs (district, newest)
    "indexes": [["district", "opened"]],
}
DISTRICTS = [f"D{i:03d}" for i in range(100)]
CATEGORIES = ["school", "clinic", "park", "library", "depot", "market", "office", "=formula"]


# --- the database --------------------------------------------------------------------------


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, migrated database (SQLite file or PostgreSQL scratch schema)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'query.db'}"
        return
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"cityos_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgres_reachable() -> bool:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def make_frame(first: int, count: int, rng: np.random.Generator) -> pl.DataFrame:
    """Rows ``first`` … of the dataset, by physical column (f0 … f8_lat)."""
    ids = np.arange(first + 1, first + count + 1, dtype=np.int64)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    days = rng.integers(0, 5 * 365, count)
    seconds = rng.integers(0, 86_400, count)
    opened = pl.Series("f5", [date(2020, 1, 1) + timedelta(days=int(d)) for d in days])
    return pl.DataFrame(
        {
            "f0": ids,
            "f1": np.array(DISTRICTS, dtype=object)[rng.integers(0, len(DISTRICTS), count)],
            "f2": np.array(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), count)],
            "f3": [f"Facility {i:07d}" for i in ids],
            "f4": np.round(rng.uniform(0, 1000, count), 2),
            "f5": opened,
            "f6": pl.Series(
                [
                    base + timedelta(days=int(d), seconds=int(s))
                    for d, s in zip(days, seconds, strict=True)
                ],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "f7": rng.random(count) < 0.8,
            "f8_lon": np.round(rng.uniform(116.0, 116.8, count), 6),
            "f8_lat": np.round(rng.uniform(39.6, 40.2, count), 6),
        },
        strict=False,
    )


def build(url: str, rows: int) -> float:
    """Migrate ``url``, make the dataset and fill its table; seconds taken."""
    start = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as db_session:
        auth_service.create_department(
            db_session, code="BENCH", name_zh="基准", name_en="Benchmark", actor=ACTOR
        )
        dataset = service.create_dataset(
            db_session,
            data={
                "name": NAME,
                "title_en": "Benchmark facilities",
                "title_zh": "基准设施",
                "access": "open",
                "schema": DESCRIPTOR,
            },
            department_code="BENCH",
            actor=ACTOR,
        )
        schema = service.current_schema(db_session, dataset=dataset)
        assert schema is not None
        assert dataset.schema_version is not None
        table = physical.table_for(schema, dataset_id=dataset.id, version=dataset.schema_version)
        rng = np.random.default_rng(SEED)
        batch = 100_000
        connection = db_session.connection()
        for first in range(0, rows, batch):
            frame = make_frame(first, min(batch, rows - first), rng)
            storage.insert_frames(connection, table, [frame])
        dataset.row_count = rows
        dataset.data_updated_at = datetime.now(UTC)
        db_session.commit()
    if url.startswith("sqlite"):
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return time.perf_counter() - start


def table_name(url: str) -> str:
    engine = make_engine(url)
    with make_session_factory(engine)() as db_session:
        dataset = service.get_dataset(db_session, name=NAME)
        name = physical.table_name(dataset.id, dataset.schema_version or 1)
    engine.dispose()
    return name


# --- the client ----------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection, one request at a time (Content-Length answers)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(get_bytes(path))
        status = int(self.file.readline()[9:12])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, self.file.read(length)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@dataclass(frozen=True)
class Ask:
    district: str
    amount: float


def page_path(ask: Ask, cursor: str | None = None) -> str:
    params = {
        "district": ask.district,
        "amount__ge": f"{ask.amount:.0f}",
        "sort": "-opened",
        "limit": "100",
    }
    if cursor:
        params["cursor"] = cursor
    return f"/api/data/{NAME}/rows?{urlencode(params)}"


def baseline_page(
    connection: Connection, table: str, ask: Ask, after: tuple[Any, int] | None
) -> list[Any]:
    """The same page as plain SQL on a raw connection (keyset condition for page two)."""
    where = "f1 = :district AND f4 >= :amount"
    values: dict[str, Any] = {"district": ask.district, "amount": round(ask.amount)}
    if after is not None:
        where += " AND (f5 < :opened OR (f5 = :opened AND _row > :row))"
        values |= {"opened": after[0], "row": after[1]}
    statement = text(
        f"SELECT _row, f0, f1, f2, f3, f4, f5, f6, f7, f8_lon, f8_lat FROM {table} "  # noqa: S608
        f"WHERE {where} ORDER BY f5 DESC, _row LIMIT 100"
    )
    return list(connection.execute(statement, values))


def download(port: int) -> tuple[int, int]:
    """Read the whole CSV download; (bytes, lines)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", f"/api/data/{NAME}/download.csv")
    response = conn.getresponse()
    assert response.status == 200, response.status
    size = lines = 0
    while chunk := response.read(1 << 20):
        size += len(chunk)
        lines += chunk.count(b"\n")
    conn.close()
    return size, lines


def raw_fetch(engine: Engine, table: str) -> int:
    """Every row of the table through a raw DBAPI cursor (server-side on PostgreSQL)."""
    with engine.connect() as connection:
        raw: Any = connection.connection.driver_connection
        sql = f"SELECT * FROM {table} ORDER BY _row"  # noqa: S608 - our own table name
        if engine.dialect.name == "postgresql":
            cursor = raw.cursor(name="bench_fetch")
        else:
            cursor = raw.cursor()
        cursor.execute(sql)
        count = 0
        while batch := cursor.fetchmany(50_000):
            count += len(batch)
        cursor.close()
        connection.rollback()
    return count


def ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


# --- one database ---------------------------------------------------------------------------


def run(kind: str, folder: Path, *, rows: int, pages: int, pairs: int) -> dict[str, Any]:
    with database(kind, folder) as url:
        seconds = build(url, rows)
        print(f"{kind}: {rows:,} rows made in {seconds:.0f} s", file=sys.stderr)
        table = table_name(url)
        engine = make_engine(url)
        label = database_label(url, engine)
        rng = np.random.default_rng(SEED + 1)
        asks = [
            Ask(DISTRICTS[int(rng.integers(0, 100))], float(rng.uniform(0, 900)))
            for _ in range(pages + 20)
        ]
        ours: list[float] = []
        base: list[float] = []
        errors = 0
        downloads: list[float] = []
        fetches: list[float] = []
        csv_bytes = 0
        pin_client()
        with cityos_server(url, cwd=folder) as server, engine.connect() as connection:
            client = Client(server.port)
            for i, ask in enumerate(asks):
                warm = i < 20
                start = time.perf_counter()
                status, body = client.get(page_path(ask))
                first_ms = ms(start)
                answer = json.loads(body) if status == 200 else {}
                start = time.perf_counter()
                plain = baseline_page(connection, table, ask, None)
                first_base = ms(start)
                if status != 200 or len(answer["rows"]) != len(plain):
                    errors += 1
                    print(f"  page: {status} {body[:200]!r}", file=sys.stderr)
                    continue
                next_url = answer["next"]
                second_ms = second_base = None
                if next_url:
                    start = time.perf_counter()
                    status, body = client.get(next_url)
                    second_ms = ms(start)
                    last = plain[-1]
                    start = time.perf_counter()
                    plain2 = baseline_page(connection, table, ask, (last.f5, last._row))
                    second_base = ms(start)
                    if status != 200 or len(json.loads(body)["rows"]) != len(plain2):
                        errors += 1
                if not warm:
                    ours.append(first_ms)
                    base.append(first_base)
                    if second_ms is not None and second_base is not None:
                        ours.append(second_ms)
                        base.append(second_base)
            client.close()
            connection.rollback()
            download(server.port)  # warm-up
            raw_fetch(engine, table)
            for _ in range(pairs):
                start = time.perf_counter()
                csv_bytes, lines = download(server.port)
                downloads.append(time.perf_counter() - start)
                if lines != rows + 1:
                    errors += 1
                    print(f"  download: {lines:,} lines for {rows:,} rows", file=sys.stderr)
                start = time.perf_counter()
                fetched = raw_fetch(engine, table)
                fetches.append(time.perf_counter() - start)
                if fetched != rows:
                    errors += 1
        engine.dispose()
    return {
        "kind": kind,
        "label": label,
        "seconds": seconds,
        "ours": ours,
        "base": base,
        "downloads": downloads,
        "fetches": fetches,
        "csv_bytes": csv_bytes,
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100k rows, fewer repeats.")
    parser.add_argument("--rows", type=int, help="Rows in the dataset (default 1,000,000).")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), help="Default: both if reachable."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    pages = 200 if args.quick else 1_000
    pairs = 2 if args.quick else 5
    mode = "quick" if args.quick else "full"
    kinds = ["sqlite", "postgresql"] if postgres_reachable() else ["sqlite"]
    if args.database in ("sqlite", "postgresql"):
        kinds = [args.database]
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as folder_name:
        for kind in kinds:
            results.append(run(kind, Path(folder_name), rows=rows, pages=pages, pairs=pairs))
    table: list[tuple[str, ...]] = []
    ok = True
    for result in results:
        o50, o95 = pct(result["ours"], 50), pct(result["ours"], 95)
        b50, b95 = pct(result["base"], 50), pct(result["base"], 95)
        down = statistics.median(result["downloads"])
        fetch = statistics.median(result["fetches"])
        ratios = [f / d for d, f in zip(result["downloads"], result["fetches"], strict=True)]
        speed = rows / down
        print(
            f"data_query ({result['kind']}): page of 100 p50 {o50:.1f} ms, p95 {o95:.1f} ms "
            f"(target p95 < {TARGET_P95_MS:.0f} ms; plain SQL p50 {b50:.1f} ms, p95 "
            f"{b95:.1f} ms); CSV download {speed:,.0f} rows/s (target >= {TARGET_ROWS_PER_S:,}); "
            f"baseline raw cursor fetch {rows / fetch:,.0f} rows/s; ratio "
            f"{statistics.median(ratios):.2f}"
            + (f"; {result['errors']} ERRORS" if result["errors"] else "")
        )
        ok = ok and o95 < TARGET_P95_MS and speed >= TARGET_ROWS_PER_S and not result["errors"]
        name = "SQLite" if result["kind"] == "sqlite" else "PostgreSQL"
        table.append(
            (
                f"{name}: filtered, sorted page of 100, p50 / p95 (ms)",
                f"**{o50:.1f} / {o95:.1f}**",
                f"{b50:.1f} / {b95:.1f} (plain SQL)",
                f"{b50 / o50:.2f}",
                f"p95 < {TARGET_P95_MS:.0f}",
            )
        )
        table.append(
            (
                f"{name}: full CSV download (rows/s)",
                f"**{speed:,.0f}**",
                f"{rows / fetch:,.0f} (raw cursor fetch)",
                f"{statistics.median(ratios):.2f}",
                f">= {TARGET_ROWS_PER_S:,}",
            )
        )
    labels = "; ".join(
        f"{r['label']} (made in {r['seconds']:.0f} s, not timed), CSV {r['csv_bytes'] / 1e6:.0f} MB"
        for r in results
    )
    extra = (
        f"Machine: {machine()}; {versions()}, polars {pl.__version__}; databases: {labels}. "
        f"Dataset: {rows:,} rows × 9 fields (fixed seed). uvicorn, one worker pinned to CPU 0; "
        f"the client on CPU 1, one request at a time, whole HTTP exchanges timed; the baselines "
        f"run in the client process, alternating with ours. Pages: {pages:,} first pages and "
        f"their second pages (next cursor) after 20 warm-up pairs, about 5,000 matching rows "
        f"sorted per question. Downloads: {pairs} alternating pairs after a warm-up. Errors or "
        f"mismatched counts: {sum(r['errors'] for r in results)}. Load average at the start: "
        f"{load:.1f}."
    )
    if not args.no_write:
        append_results(
            "data_query",
            table,
            mode=mode,
            extra=extra,
            header=("figure", "ours", "baseline", "ratio", "target"),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
