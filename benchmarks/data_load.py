"""Dataset load: ``ingest.load_file`` (validate + store) against a raw bulk insert of the same rows.

The file is ``data_validate``'s 1,000,000 rows × 8 typed, constrained columns (fixed seed),
without injected errors, loaded into a real dataset (schema with a unique id, an enum, a
USCC check, minimum/maximum, a pattern and a maximum length) of a migrated database:

* ours: :func:`cityos.datahub.ingest.load_file` into a fresh table (the dataset's table is
  dropped before each run) — read the CSV, check every row, the whole-file key checks, then
  store (SQLite: executemany; PostgreSQL: COPY; into the empty table without its index,
  which is built after the rows), the Load record and the audit entry; committed.
* baseline: the same final rows, already typed and converted beforehand (tuples for SQLite,
  CSV text for PostgreSQL), written into a fresh table of the same shape (same columns and
  indexes) with one ``executemany`` (SQLite) or one ``COPY`` (PostgreSQL) through the same
  engine's connection; committed.

Pairwise alternating A, B, A, B … after a warm-up; median of each; ratio = baseline time /
our time (target ≥ 0.3). ``--database sqlite|postgresql|both`` (default: both when PostgreSQL
answers at ``CITYOS_TEST_POSTGRES_URL``, in a scratch schema dropped afterwards).

Run: ``python benchmarks/data_load.py`` (1,000,000 rows, 5 pairs) or ``--quick`` (100,000
rows, 3 pairs, under a minute). Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.datahub import ingest, physical, service, storage
from cityos.datahub.models import Dataset, LoadMode, LoadStatus
from cityos.datahub.tableschema import TableSchema
from cityos.datahub.validate import ValidationContext, validate_frame
from cityos.db import make_engine, make_session_factory, upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_support import append_results, machine
from data_validate import DESCRIPTOR, HEADER, make_frame

ACTOR = Actor.system("benchmark")
POSTGRES_URL = os.environ.get(
    "CITYOS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def database(kind: str, folder: Path) -> Iterator[Engine]:
    """A migrated database with one department and the benchmark dataset."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{folder / 'load.db'}")
        cleanup = None
    else:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        schema = f"cityos_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in POSTGRES_URL else "?"
        engine = make_engine(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")

        def cleanup() -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    try:
        upgrade(engine)
        with make_session_factory(engine)() as session:
            auth_service.create_department(
                session, code="BENCH", name_zh="基准", name_en="Benchmark", actor=ACTOR
            )
            service.create_dataset(
                session,
                data={
                    "name": "bench",
                    "title_en": "Bench",
                    "title_zh": "基准",
                    "schema": DESCRIPTOR,
                },
                department_code="BENCH",
                actor=ACTOR,
            )
            session.commit()
        yield engine
    finally:
        engine.dispose()
        if cleanup is not None:
            cleanup()


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


def dataset_and_schema(session: Session) -> tuple[Dataset, TableSchema]:
    dataset = service.get_dataset(session, name="bench")
    schema = service.current_schema(session, dataset=dataset)
    assert schema is not None
    return dataset, schema


def ours_once(engine: Engine, path: Path) -> float:
    with make_session_factory(engine)() as session:
        dataset, schema = dataset_and_schema(session)
        table = physical.table_for(schema, dataset_id=dataset.id, version=1)
        storage.drop_table(session.connection(), table)
        session.commit()
        start = time.perf_counter()
        load = ingest.load_file(
            session,
            dataset=dataset,
            schema=schema,
            version=1,
            path=path,
            filename=path.name,
            options=ingest.LoadOptions(mode=LoadMode.REPLACE),
            actor=ACTOR,
            area_codes=frozenset(),
        )
        session.commit()
        elapsed = time.perf_counter() - start
        assert load.status == LoadStatus.COMMITTED.value, load.report["summary"]
    return elapsed


def typed_rows(engine: Engine, frame: pl.DataFrame) -> tuple[pl.DataFrame, TableSchema]:
    with make_session_factory(engine)() as session:
        _, schema = dataset_and_schema(session)
    batch = frame.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("__row"))
    result = validate_frame(batch, schema=schema, context=ValidationContext())
    assert bool(result.valid.all())
    return result.typed.drop("__row"), schema


def baseline_once(engine: Engine, schema: TableSchema, prepared: Any, columns: list[str]) -> float:
    table = physical.table_for(schema, dataset_id=999_999, version=1)
    names = ", ".join(f'"{c}"' for c in columns)
    with engine.connect() as connection:
        storage.drop_table(connection, table)
        storage.create_table(connection, table)
        connection.commit()
        raw: Any = connection.connection.driver_connection
        start = time.perf_counter()
        if engine.dialect.name == "sqlite":
            marks = ", ".join("?" for _ in columns)
            cursor = raw.cursor()
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'  # noqa: S608
            cursor.executemany(sql, prepared)
            cursor.close()
        else:
            with (
                raw.cursor() as cursor,
                cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT csv)') as copy,
            ):
                copy.write(prepared)
        connection.commit()
        elapsed = time.perf_counter() - start
        storage.drop_table(connection, table)
        connection.commit()
    return elapsed


def prepare(engine: Engine, typed: pl.DataFrame) -> Any:
    """The rows as the raw insert wants them, converted before timing."""
    if engine.dialect.name == "sqlite":
        return list(storage._sqlite_ready(typed).iter_rows())
    buffer = io.BytesIO()
    typed.write_csv(buffer, include_header=False, quote_style="necessary", null_value="")
    return buffer.getvalue()


def run(kind: str, folder: Path, path: Path, frame: pl.DataFrame, repeats: int) -> dict[str, Any]:
    with database(kind, folder) as engine:
        typed, schema = typed_rows(engine, frame)
        columns = list(typed.columns)
        prepared = prepare(engine, typed)
        warm = folder / "warm.csv"
        frame.head(10_000).write_csv(warm)
        ours_once(engine, warm)
        baseline_once(engine, schema, prepare(engine, typed.head(10_000)), columns)
        ours_s: list[float] = []
        base_s: list[float] = []
        for _ in range(repeats):
            ours_s.append(ours_once(engine, path))
            base_s.append(baseline_once(engine, schema, prepared, columns))
            print(
                f"  {kind} pair: ours {ours_s[-1]:.2f} s, raw {base_s[-1]:.2f} s, ratio "
                f"{base_s[-1] / ours_s[-1]:.2f}",
                flush=True,
            )
        version = engine.dialect.server_version_info
    ratios = [b / a for a, b in zip(ours_s, base_s, strict=True)]
    return {
        "ours": statistics.median(ours_s),
        "base": statistics.median(base_s),
        "ratio": statistics.median(ratios),
        "version": ".".join(str(v) for v in version or ()),
    }


def write_results(rows: list[tuple[str, ...]], *, mode: str, extra: str) -> None:
    versions = (
        f"Python {platform.python_version()}, polars {pl.__version__}, "
        f"SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}"
    )
    append_results(
        "data_load",
        rows,
        mode=mode,
        extra=f"Machine: {machine()}; {versions}.\n{extra}",
        header=HEADER,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100k rows, 3 pairs.")
    parser.add_argument("--rows", type=int, help="Rows in the file (default 1,000,000).")
    parser.add_argument("--repeats", type=int, help="Pairs after the warm-up (default 5).")
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql", "both"], help="Default: both if reachable."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    count = args.rows or (100_000 if args.quick else 1_000_000)
    repeats = args.repeats or (3 if args.quick else 5)
    mode = "quick" if args.quick else "full"
    if args.database in (None, "both"):
        kinds = ["sqlite"]
        if postgres_reachable():
            kinds.append("postgresql")
        elif args.database == "both":
            print(f"PostgreSQL is not reachable at {POSTGRES_URL}", file=sys.stderr)
            return 2
    else:
        kinds = [args.database]
    load_average = os.getloadavg()[0]

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        frame, _ = make_frame(count, errors=False)
        path = folder / "data.csv"
        frame.write_csv(path)
        size_mb = path.stat().st_size / 1e6
        for kind in kinds:
            results[kind] = run(kind, folder, path, frame, repeats)

    table: list[tuple[str, ...]] = []
    ok = True
    for kind, result in results.items():
        ours_rate = count / result["ours"]
        base_rate = count / result["base"]
        how = "executemany" if kind == "sqlite" else "COPY"
        print(
            f"data_load ({kind}): {ours_rate:,.0f} rows/s validated and stored; baseline raw "
            f"{how} {base_rate:,.0f} rows/s; ratio {result['ratio']:.2f} (target >= 0.30)"
        )
        ok = ok and result["ratio"] >= 0.3
        label = (
            f"SQLite {sqlite3.sqlite_version}"
            if kind == "sqlite"
            else (f"PostgreSQL {result['version']}")
        )
        table.append(
            (
                f"load {count:,} rows, {label} (rows/s)",
                f"{ours_rate:,.0f}",
                f"{base_rate:,.0f} (raw {how} of the same rows)",
                f"{result['ratio']:.2f}",
                ">= 0.30",
            )
        )
    extra = (
        f"File: {count:,} rows × 8 typed, constrained columns ({size_mb:,.0f} MB CSV, no "
        f"errors), mode replace into a fresh table with a unique index on id (ours builds it "
        f"after the rows, the baseline inserts into the indexed table); {repeats} pairs after "
        f"a warm-up. Load average at the start: {load_average:.1f}."
    )
    if not args.no_write:
        write_results(table, mode=mode, extra=extra)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
