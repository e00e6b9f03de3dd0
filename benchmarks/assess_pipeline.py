"""The assessment engine: ``pipeline.run`` on 1,000 units × 200 indicators in 4 levels.

The framework is index → 5 dimensions → 20 sub-dimensions → 200 indicators (10 each, every
seventh lower-is-better); the data (fixed seed) has 3 % of cells missing and a fifth of the
columns strongly skewed (log-normal), so imputation, outlier treatment and every later step
do real work. Two figures, each after a warm-up, median of the repeats:

* full pipeline: the default run config (COINr outlier rule, min-max, framework weights,
  arithmetic means, coherence) with mean imputation; target < 1 s.
* with 1,000 Monte Carlo runs: the same plus ``uncertainty.runs: 1000`` over the default
  choices (weights ± 25 %, 3 normalisations, 2 aggregations); target < 10 s.

Baseline (same process, alternating with ours): the bare index in numpy — min-max of the
complete matrix, then the 3 levels of weighted means as matrix products (no imputation,
screening, outliers, coherence or ranks); for the Monte Carlo, that bare index computed
1,000 times in a loop. Ratio = baseline / ours (the share of our time a minimal index needs).

Run: ``python benchmarks/assess_pipeline.py`` (full) or ``--quick`` (under a minute).
Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cityos.assessment import pipeline
from cityos.assessment.framework import Direction, Framework, Group, Indicator
from cityos.assessment.panel import Panel, Unit

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SEED = 20_261_121
UNITS, DIMS, SUBS, PER_SUB = 1_000, 5, 4, 10  # 5 × 4 × 10 = 200 indicators


def build() -> tuple[Framework, Panel]:
    """The deterministic framework and panel."""
    rng = np.random.default_rng(SEED)
    n_ind = DIMS * SUBS * PER_SUB
    indicators = [
        Indicator(
            code=f"I{j:03d}",
            name_en=f"Indicator {j}",
            name_zh=f"指标{j}",
            direction=Direction.LOWER if j % 7 == 0 else Direction.HIGHER,
        )
        for j in range(n_ind)
    ]
    dims = []
    for d in range(DIMS):
        subs = []
        for s in range(SUBS):
            start = (d * SUBS + s) * PER_SUB
            subs.append(
                Group(
                    f"S{d}{s}",
                    f"Sub-dimension {d}.{s}",
                    "",
                    tuple(indicators[start : start + PER_SUB]),
                )
            )
        dims.append(Group(f"D{d}", f"Dimension {d}", "", tuple(subs)))
    framework = Framework(
        "BENCH", "Benchmark index", "基准指数", Group("IDX", "Index", "指数", tuple(dims))
    )
    latent = rng.normal(size=(UNITS, 1))
    values = latent * 0.6 + rng.normal(size=(UNITS, n_ind))
    skewed = rng.random(n_ind) < 0.2
    values[:, skewed] = np.exp(values[:, skewed] * 1.5)
    values[:, ~skewed] = values[:, ~skewed] * 10 + 50
    values[rng.random(values.shape) < 0.03] = np.nan
    units = tuple(Unit(f"U{i:04d}", f"Unit {i}") for i in range(UNITS))
    panel = Panel(units, tuple(i.code for i in indicators), (2025,), values[None, :, :])
    return framework, panel


def bare_index(values: np.ndarray, higher: np.ndarray) -> np.ndarray:
    """Min-max then equal-weight means level by level, as matrix products."""
    low, high = values.min(axis=0), values.max(axis=0)
    scaled = np.where(higher, values - low, high - values) / (high - low) * 100
    sub = scaled @ np.kron(np.eye(DIMS * SUBS), np.full((PER_SUB, 1), 1 / PER_SUB))
    dim = sub @ np.kron(np.eye(DIMS), np.full((SUBS, 1), 1 / SUBS))
    return np.asarray(dim @ np.full((DIMS, 1), 1 / DIMS))


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def pairs(
    ours: Callable[[], Any], baseline: Callable[[], Any], repeats: int
) -> tuple[float, float, float]:
    """Median of ours, of the baseline and of baseline / ours, alternating after a warm-up."""
    ours()
    baseline()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a.append(timed(ours))
        b.append(timed(baseline))
    ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
    return statistics.median(a), statistics.median(b), ratio


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{os.cpu_count()} cores, {memory:.0f} GB RAM, {platform.machine()}"


def append_results(rows: list[tuple[str, ...]], *, mode: str, extra: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"## assess_pipeline — {stamp} ({mode})",
        "",
        f"Machine: {machine()}; Python {platform.python_version()}, numpy {np.__version__}.",
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
    parser.add_argument("--quick", action="store_true", help="3 + 1 repeats instead of 7 + 3.")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    repeats, mc_repeats = (3, 1) if args.quick else (7, 3)

    load = os.getloadavg()[0]
    start = time.perf_counter()
    framework, panel = build()
    setup_s = time.perf_counter() - start
    plain = pipeline.config_for(framework, {"impute": {"method": "mean"}})
    with_mc = pipeline.config_for(
        framework, {"impute": {"method": "mean"}, "uncertainty": {"runs": 1000}}
    )
    complete = np.where(
        np.isnan(panel.values[0]), np.nanmean(panel.values[0], axis=0), panel.values[0]
    )
    higher = np.array([i.direction is Direction.HIGHER for i in framework.indicators()])

    result = pipeline.run(framework, panel, plain)
    kept_units, kept_indicators = int(result.kept_units.sum()), int(result.kept_indicators.sum())
    kept = f"{kept_units:,} units and {kept_indicators} indicators kept"
    treated = sum(t.action != "none" for t in result.treatments)

    ours_s, base_s, ratio = pairs(
        lambda: pipeline.run(framework, panel, plain), lambda: bare_index(complete, higher), repeats
    )
    print(
        f"assess_pipeline: full pipeline {ours_s:.2f} s (target < 1 s); baseline bare numpy "
        f"index {base_s * 1000:.1f} ms; ratio {ratio:.3f}"
    )

    def bare_runs() -> None:
        for _ in range(1000):
            bare_index(complete, higher)

    mc_s, mc_base_s, mc_ratio = pairs(
        lambda: pipeline.run(framework, panel, with_mc), bare_runs, mc_repeats
    )
    print(
        f"assess_pipeline: with 1,000 MC runs {mc_s:.2f} s (target < 10 s); baseline 1,000 "
        f"bare numpy indices {mc_base_s:.2f} s; ratio {mc_ratio:.2f}"
    )

    extra = (
        f"Data: {UNITS:,} units × {DIMS * SUBS * PER_SUB} indicators in 4 levels (index → {DIMS} → "
        f"{DIMS * SUBS} → {DIMS * SUBS * PER_SUB}), 3 % missing, a fifth of the columns log-normal "
        f"(built in {setup_s:.2f} s, not timed); {kept}; {treated} indicators treated for "
        f"outliers. Pipeline: {repeats} pairs after a warm-up; Monte Carlo: {mc_repeats} "
        f"pair{'s' if mc_repeats != 1 else ''} "
        "after a warm-up. Baseline: min-max and 3 levels of equal-weight means as matrix "
        "products on the complete matrix (no imputation, screening, outliers, coherence, ranks). "
        f"Load average at the start: {load:.1f}."
    )
    rows = [
        (
            "full pipeline (s)",
            f"{ours_s:.3f}",
            f"{base_s:.4f} (bare numpy index)",
            f"{ratio:.3f}",
            "< 1 s",
        ),
        (
            "with 1,000 Monte Carlo runs (s)",
            f"{mc_s:.2f}",
            f"{mc_base_s:.2f} (1,000 bare indices)",
            f"{mc_ratio:.2f}",
            "< 10 s",
        ),
    ]
    if not args.no_write:
        append_results(rows, mode="quick" if args.quick else "full", extra=extra)
    return 0 if ours_s < 1 and mc_s < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
