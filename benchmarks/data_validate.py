"""Dataset validation: ``ingest.validate_file`` against plain polars expressions (and frictionless).

A CSV of 1,000,000 rows × 8 typed, constrained columns (fixed seed) with exactly 300
injected errors, one per row:

* ``id`` integer, unique (30 repeat an earlier id);
* ``district_code`` one of 8 codes (40 unknown codes);
* ``uscc`` a unified social credit code with its check character (40 wrong check characters);
* ``amount`` number ≥ 0 (30 negative, 20 not numbers);
* ``day`` a date (40 impossible dates such as 2024-02-30);
* ``mobile`` pattern ``1[3-9]\\d{9}`` (40 too short);
* ``count`` integer 0…1000 (30 above);
* ``name`` required, at most 20 characters (15 empty, 15 too long).

* ours: :func:`cityos.datahub.ingest.validate_file` — the uploaded-file reader (encoding,
  delimiter and header detection, streaming batches), :func:`validate.validate_frame` per
  batch, the typed key columns to a temporary Parquet file, and the whole-file key checks;
  the report's error rows must be exactly the 300 injected ones.
* baseline: ``pl.read_csv`` of the same file (all text) and one ``select`` of hand-written
  expressions for the same checks (the same USCC expression), counting the same 300 rows.
* reference: frictionless-py 5 on the first 100,000 rows (same schema without the USCC
  check, which frictionless does not have), against ours on the same 100,000-row file.

Pairwise alternating A, B, A, B … after a warm-up; median of each; ratio = baseline time /
our time (target ≥ 0.7); frictionless ratio = its time / ours (target ≥ 20).

Run: ``python benchmarks/data_validate.py`` (1,000,000 rows, 5 pairs) or ``--quick``
(200,000 rows, 3 pairs, frictionless on 20,000 rows; under a minute). Results are appended
to ``benchmarks/RESULTS.md``.
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
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow
from sqlalchemy.orm import Session

from cases_support import append_results, machine
from cityos.datahub import checks, ingest
from cityos.datahub.models import Dataset
from cityos.datahub.tableschema import TableSchema, from_resolved
from cityos.db import make_engine

SEED = 20_261_121
DISTRICTS = ["440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310"]
MOBILE = r"1[3-9]\d{9}"
# error kind → how many rows get it (300 in all)
INJECTED = {
    "id-duplicate": 30,
    "district-enum": 40,
    "uscc-check": 40,
    "amount-negative": 30,
    "amount-text": 20,
    "day-impossible": 40,
    "mobile-pattern": 40,
    "count-maximum": 30,
    "name-empty": 15,
    "name-long": 15,
}
FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "integer", "constraints": {"required": True, "unique": True}},
    {"name": "district_code", "type": "string", "constraints": {"enum": DISTRICTS}},
    {"name": "uscc", "type": "string", "constraints": {"check": "uscc"}},
    {"name": "amount", "type": "number", "constraints": {"minimum": 0}},
    {"name": "day", "type": "date"},
    {"name": "mobile", "type": "string", "constraints": {"pattern": MOBILE}},
    {"name": "count", "type": "integer", "constraints": {"minimum": 0, "maximum": 1000}},
    {"name": "name", "type": "string", "constraints": {"required": True, "maxLength": 20}},
]
DESCRIPTOR: dict[str, Any] = {"fields": FIELDS}
HEADER = ("figure", "ours", "baseline", "ratio", "target")


def schema() -> TableSchema:
    return from_resolved(DESCRIPTOR)


def uscc_pool(rng: np.random.Generator, size: int) -> list[str]:
    alphabet = checks.USCC_CHARSET
    out = []
    for _ in range(size):
        body = "91" + "".join(alphabet[i] for i in rng.integers(0, 10, 6))
        body += "".join(alphabet[i] for i in rng.integers(0, len(alphabet), 9))
        out.append(body + checks.uscc_check_char(body))
    return out


def make_frame(count: int, *, errors: bool) -> tuple[pl.DataFrame, set[int]]:
    """``count`` rows as text; with ``errors``, the 300 injected errors and their rows
    (spreadsheet numbers: the header is row 1)."""
    rng = np.random.default_rng(SEED)
    pool = np.array(uscc_pool(rng, 5_000), dtype=object)
    start = np.datetime64("2020-01-01")
    names = np.array([f"站点 {i}" for i in range(500)] + [f"Station {i}" for i in range(500)])
    frame = pl.DataFrame(
        {
            "id": np.arange(1, count + 1),
            "district_code": np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), count)],
            "uscc": pool[rng.integers(0, len(pool), count)].astype(str),
            "amount": np.round(rng.gamma(2.0, 500.0, count), 2),
            "day": start + rng.integers(0, 1_800, count).astype("timedelta64[D]"),
            "mobile_prefix": rng.integers(3, 10, count),
            "mobile_rest": rng.integers(0, 1_000_000_000, count),
            "count": rng.integers(0, 1_001, count),
            "name": names[rng.integers(0, len(names), count)],
        }
    ).select(
        pl.col("id").cast(pl.String),
        "district_code",
        "uscc",
        pl.col("amount").cast(pl.String),
        pl.col("day").cast(pl.Date).dt.strftime("%Y-%m-%d"),
        pl.concat_str(
            pl.lit("1"),
            pl.col("mobile_prefix").cast(pl.String),
            pl.col("mobile_rest").cast(pl.String).str.zfill(9),
        ).alias("mobile"),
        pl.col("count").cast(pl.String),
        "name",
    )
    if not errors:
        return frame, set()
    # injected rows sit in the first half of their blocks, so "the row half a block before"
    # (the original of a repeated id) is never an injected row itself
    block = min(2_000, count // 310)
    blocks = rng.choice(count // block - 1, sum(INJECTED.values()), replace=False) + 1
    rows = blocks * block + rng.integers(0, block // 2, len(blocks))
    taken = 0
    columns = {name: frame.get_column(name).clone() for name in frame.columns}
    for kind, n in INJECTED.items():
        at = rows[taken : taken + n]
        taken += n
        field, _, what = kind.partition("-")
        column = "district_code" if field == "district" else field
        series = columns[column]
        if what == "duplicate":
            values = series.gather(at - block // 2)
        elif what == "enum":
            values = pl.Series(["999999"] * n)
        elif what == "check":
            original = series.gather(at)
            values = original.str.slice(0, 17) + original.str.slice(17, 1).replace(
                dict.fromkeys(checks.USCC_CHARSET[1:], "0") | {"0": "1"}
            )
        elif what == "negative":
            values = pl.Series([f"-{i + 1}.5" for i in range(n)])
        elif what == "text":
            values = pl.Series(["about 12"] * n)
        elif what == "impossible":
            values = pl.Series(["2024-02-30"] * n)
        elif what == "pattern":
            values = pl.Series(["13800"] * n)
        elif what == "maximum":
            values = pl.Series(["1001"] * n)
        elif what == "empty":
            values = pl.Series([""] * n)
        else:  # long
            values = pl.Series(["A name far too long for the field"] * n)
        columns[column] = series.scatter(at, values)
    assert taken == 300
    return pl.DataFrame(columns), {int(r) + 2 for r in rows}


# --- ours and the baselines ------------------------------------------------------------------


def ours(session: Session, path: Path) -> tuple[float, int]:
    """Time of validate_file, and the number of errors it reports."""
    dataset = Dataset(id=1, name="bench")
    start = time.perf_counter()
    report = ingest.validate_file(
        session, dataset=dataset, schema=schema(), version=1, path=path, filename=path.name
    )
    elapsed = time.perf_counter() - start
    return elapsed, report.error_count


def rows_found(session: Session, path: Path) -> set[int]:
    """Every row our validation flags (examples are capped, so check row by row in bulk)."""
    from cityos.datahub.keys import check_keys
    from cityos.datahub.report import ErrorCollector
    from cityos.datahub.validate import VALID, ValidationContext, validate_frame

    frame = pl.read_csv(path, infer_schema=False).with_row_index("__row", offset=2)
    frame = frame.with_columns(pl.col("__row").cast(pl.Int64))
    result = validate_frame(
        frame, schema=schema(), context=ValidationContext(), collector=ErrorCollector()
    )
    typed = result.typed.with_columns(result.valid.alias(VALID))
    bad = set(typed.filter(~pl.col(VALID)).get_column("__row").to_list())
    flagged = check_keys(typed.lazy(), schema=schema(), collector=ErrorCollector())
    return bad | set(flagged.get_column("__row").to_list())


def baseline(path: Path) -> tuple[float, set[int], int]:
    """Plain polars: read the file as text, one select of the same checks."""
    start = time.perf_counter()
    frame = pl.read_csv(path, infer_schema=False)
    ident = pl.col("id").cast(pl.Int64, strict=False)
    amount = pl.col("amount").cast(pl.Float64, strict=False)
    count = pl.col("count").cast(pl.Int64, strict=False)
    name = pl.col("name")
    flags = frame.select(
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("row"),
        (ident.is_null() | ~ident.is_first_distinct()).alias("id"),
        (~pl.col("district_code").is_in(DISTRICTS)).alias("district"),
        (~checks.uscc_valid(pl.col("uscc"))).alias("uscc"),
        (amount.is_null() | (amount < 0)).alias("amount"),
        pl.col("day").str.to_date("%Y-%m-%d", strict=False).is_null().alias("day"),
        (~pl.col("mobile").str.contains(f"^(?:{MOBILE})$")).alias("mobile"),
        (count.is_null() | (count < 0) | (count > 1_000)).alias("count"),
        (name.is_null() | (name == "") | (name.str.len_chars() > 20)).alias("name"),
    )
    kinds = [c for c in flags.columns if c != "row"]
    counts = flags.select(pl.col(kinds).fill_null(False).sum()).row(0)
    bad = flags.filter(pl.any_horizontal(pl.col(kinds).fill_null(False)))
    elapsed = time.perf_counter() - start
    return elapsed, set(bad.get_column("row").to_list()), int(sum(counts))


def frictionless_once(path: Path) -> tuple[float, int]:
    import frictionless

    fields = [
        {k: v for k, v in f.items() if k != "constraints"}
        | {"constraints": {k: v for k, v in f.get("constraints", {}).items() if k != "check"}}
        for f in FIELDS
    ]
    resource = frictionless.Resource(
        path=path.name,
        basepath=str(path.parent),  # frictionless refuses absolute paths
        schema=frictionless.Schema.from_descriptor({"fields": fields}),
    )
    start = time.perf_counter()
    report = resource.validate(limit_errors=100_000)
    elapsed = time.perf_counter() - start
    assert report.tasks, "frictionless did not validate the file"
    errors = report.tasks[0].errors
    assert errors, "frictionless found nothing: it did not read the file"
    return elapsed, len(errors)


# --- running -------------------------------------------------------------------------------


def pairs(
    first: Callable[[], float], second: Callable[[], float], repeats: int
) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a.append(first())
        b.append(second())
        print(f"  pair: ours {a[-1]:.3f} s, baseline {b[-1]:.3f} s", flush=True)
    return a, b


def versions() -> str:
    return (
        f"Python {platform.python_version()}, polars {pl.__version__}, pyarrow "
        f"{pyarrow.__version__}, frictionless {version('frictionless')}"
    )


def write_results(rows: list[tuple[str, ...]], *, mode: str, extra: str) -> None:
    append_results(
        "data_validate",
        rows,
        mode=mode,
        extra=f"Machine: {machine()}; {versions()}.\n{extra}",
        header=HEADER,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200k rows, 3 pairs.")
    parser.add_argument("--rows", type=int, help="Rows in the file (default 1,000,000).")
    parser.add_argument("--repeats", type=int, help="Pairs after the warm-up (default 5).")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    count = args.rows or (200_000 if args.quick else 1_000_000)
    repeats = args.repeats or (3 if args.quick else 5)
    small = 20_000 if args.quick else 100_000
    mode = "quick" if args.quick else "full"
    load_average = os.getloadavg()[0]

    engine = make_engine("sqlite://")
    session = Session(engine)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        start = time.perf_counter()
        frame, injected = make_frame(count, errors=True)
        path = folder / "data.csv"
        frame.write_csv(path)
        head = folder / "head.csv"
        frame.head(small).write_csv(head)
        setup_s = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6

        found = rows_found(session, path)
        _, base_rows, base_errors = baseline(path)
        _, our_errors = ours(session, path)
        assert len(injected) == 300
        assert found == injected, (len(found), len(injected), sorted(found ^ injected)[:10])
        assert base_rows == injected, sorted(base_rows ^ injected)[:10]
        assert our_errors == base_errors == 300, (our_errors, base_errors)
        print(f"all 300 injected errors found (ours and baseline); setup {setup_s:.1f} s")

        ours_s, base_s = pairs(lambda: ours(session, path)[0], lambda: baseline(path)[0], repeats)
        ratios = [b / a for a, b in zip(ours_s, base_s, strict=True)]

        fr_repeats = 1 if args.quick else 3
        ours_small = [ours(session, head)[0] for _ in range(fr_repeats + 1)][1:]
        fr_runs = [frictionless_once(head) for _ in range(fr_repeats)]
        fr_s = [t for t, _ in fr_runs]
    session.close()
    engine.dispose()

    ours_rate = count / statistics.median(ours_s)
    base_rate = count / statistics.median(base_s)
    ratio = statistics.median(ratios)
    small_rate = small / statistics.median(ours_small)
    fr_rate = small / statistics.median(fr_s)
    fr_ratio = small_rate / fr_rate
    print(
        f"data_validate: {ours_rate:,.0f} rows/s (reader + validate + key checks, 300/300 "
        f"errors found); baseline plain polars {base_rate:,.0f} rows/s; ratio {ratio:.2f} "
        f"(target >= 0.70); frictionless {fr_rate:,.0f} rows/s on {small:,} rows, ours "
        f"{small_rate:,.0f}: {fr_ratio:.0f}x (target >= 20x)"
    )
    extra = (
        f"File: {count:,} rows × 8 typed, constrained columns, {size_mb:,.0f} MB CSV, 300 "
        f"injected errors (all found by both); {repeats} pairs after a warm-up; frictionless "
        f"{len(fr_s)} run(s) on the first {small:,} rows (same schema without the USCC check); "
        f"setup {setup_s:.1f} s. Load average at the start: {load_average:.1f}."
    )
    table: list[tuple[str, ...]] = [
        (
            f"validate {count:,} rows (rows/s)",
            f"{ours_rate:,.0f}",
            f"{base_rate:,.0f} (plain polars expressions)",
            f"{ratio:.2f}",
            ">= 0.70",
        ),
        (
            f"validate {small:,} rows (rows/s)",
            f"{small_rate:,.0f}",
            f"{fr_rate:,.0f} (frictionless-py)",
            f"{fr_ratio:.0f}x",
            ">= 20x",
        ),
    ]
    if not args.no_write:
        write_results(table, mode=mode, extra=extra)
    return 0 if ratio >= 0.7 and fr_ratio >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
