"""A small assessment result for the report, chart, workbook and benchmarking tests.

Six cities on a two-dimension framework of five indicators; Singapore has one value only and
is screened out. The numbers are made by hand (min-max normalisation, arithmetic means, the
framework's weights), so tests can state closed-form expectations; ``pipeline_result`` runs
the same framework and panel through the real engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cityos.assessment.framework import Direction, Framework, Group, Indicator
from cityos.assessment.panel import FloatArray, Panel, Unit
from cityos.assessment.result import (
    Coherence,
    Flag,
    PipelineResult,
    StepRecord,
    Treatment,
    Uncertainty,
)
from cityos.assessment.runconfig import RunConfig

NAN = float("nan")
YEAR = 2024

UNITS = (
    Unit("LON", "London", "伦敦", group="Europe"),
    Unit("PAR", "Paris", "巴黎", group="Europe"),
    Unit("MIN", "Minghu", "明湖", group="Asia"),
    Unit("NYC", "New York", "纽约", group="America"),
    Unit("TYO", "Tokyo", "东京", group="Asia"),
    Unit("SGP", "Singapore", "新加坡", group="Asia"),
)
INDICATORS = ("a1", "a2", "a3", "b1", "b2")
RAW = np.array(
    [
        [80.0, 60.0, 0.90, 20.0, 70.0],
        [70.0, 80.0, 0.80, 30.0, 60.0],
        [50.0, 40.0, 0.70, 10.0, 90.0],
        [90.0, 70.0, 0.60, 40.0, 50.0],
        [60.0, 90.0, 0.95, 15.0, 80.0],
        [85.0, NAN, NAN, NAN, NAN],
    ]
)
KEPT_UNITS = np.array([True, True, True, True, True, False])
WEIGHTS = {"IDX": 1.0, "A": 0.6, "B": 0.4, "a1": 1 / 3, "a2": 1 / 3, "a3": 1 / 3}
WEIGHTS |= {"b1": 0.5, "b2": 0.5}


def framework() -> Framework:
    services = Group(
        "A",
        "Services",
        "惠民服务",
        (
            Indicator("a1", "Online services", "网上办事", unit="%", weight=20),
            Indicator("a2", "Transit <reach>", "公交覆盖", unit="%", weight=20),
            Indicator("a3", "Resolved in time", "按时办结", unit="share", weight=20),
        ),
        weight=60,
    )
    environment = Group(
        "B",
        "Environment",
        "生态宜居",
        (
            Indicator("b1", "PM2.5", "细颗粒物", direction=Direction.LOWER, unit="µg/m³"),
            Indicator("b2", "Green space", "绿地", unit="%"),
        ),
        weight=40,
    )
    root = Group("IDX", "Smart city index", "智慧城市指数", (services, environment))
    return Framework("demo-index", "Demo smart city index", "示例智慧城市指数", root, "1.0")


def rank_desc(scores: FloatArray) -> FloatArray:
    """Ranks with 1 best, ties sharing the lowest rank, NaN for NaN scores."""
    ranks = np.full(scores.shape, np.nan)
    valid = ~np.isnan(scores)
    for i in np.flatnonzero(valid):
        ranks[i] = 1 + np.sum(scores[valid] > scores[i])
    return ranks


def _normalise(raw: FloatArray) -> FloatArray:
    kept = raw[KEPT_UNITS]
    low, high = kept.min(axis=0), kept.max(axis=0)
    scaled = (raw - low) / (high - low) * 100
    scaled[:, 3] = 100 - scaled[:, 3]  # b1: lower is better
    scaled[~KEPT_UNITS] = np.nan
    return scaled


def hand_made_result(*, uncertainty: bool = True) -> PipelineResult:
    fw = framework()
    normalised = _normalise(RAW)
    scores: dict[str, FloatArray] = {code: normalised[:, j] for j, code in enumerate(INDICATORS)}
    scores["A"] = normalised[:, :3].mean(axis=1)
    scores["B"] = normalised[:, 3:].mean(axis=1)
    scores["IDX"] = 0.6 * scores["A"] + 0.4 * scores["B"]
    ranks = {code: rank_desc(values) for code, values in scores.items()}
    kept_normalised = normalised[KEPT_UNITS]
    correlation = np.corrcoef(kept_normalised, rowvar=False)
    kept_count = int(KEPT_UNITS.sum())
    steps = (
        StepRecord("denominate", "none", {}, ("no indicator has a denominator",)),
        StepRecord("impute", "none", {"group_by": None}, ("4 values stay missing",)),
        StepRecord(
            "screen",
            "coverage",
            {"min_unit_coverage": 0.65, "min_indicator_coverage": 0.65},
            ("SGP Singapore has data for 1 of 5 indicators (20 %) and is screened out",),
        ),
        StepRecord("outliers", "winsorise_or_log", {"skew": 2.0, "kurtosis": 3.5}, ()),
        StepRecord("normalise", "minmax", {"reference_unit": None}, ("b1 flipped",)),
        StepRecord("weights", "framework", {"renormalise": False}, ()),
        StepRecord("aggregate", "arithmetic", {"p": 1.0}, ()),
    )
    unc = None
    if uncertainty:
        index_ranks = ranks["IDX"][KEPT_UNITS]
        unc = Uncertainty(
            runs=200,
            median_rank=index_ranks,
            rank_p05=np.maximum(index_ranks - 1, 1),
            rank_p95=np.minimum(index_ranks + 1, kept_count),
            score_p05=scores["IDX"][KEPT_UNITS] - 5,
            score_median=scores["IDX"][KEPT_UNITS],
            score_p95=scores["IDX"][KEPT_UNITS] + 5,
            choices={"normalise": ("minmax", "zscore"), "aggregate": ("arithmetic",)},
            sensitivity={"weights": 0.4, "normalise": 0.35, "aggregate": 0.05},
        )
    return PipelineResult(
        framework=fw,
        config=RunConfig(),
        year=YEAR,
        units=UNITS,
        indicators=INDICATORS,
        raw=RAW.copy(),
        denominated=RAW.copy(),
        imputed=RAW.copy(),
        kept_units=KEPT_UNITS.copy(),
        kept_indicators=np.ones(len(INDICATORS), dtype=bool),
        treated=RAW.copy(),
        normalised=normalised,
        treatments=(
            Treatment("a1", "none", 0, 0.1, -1.2, 0.1, -1.2),
            Treatment("a2", "winsorised", 1, 2.4, 4.1, 1.1, 0.5),
            Treatment("a3", "none", 0, -0.5, -1.0, -0.5, -1.0),
            Treatment("b1", "log", 0, 2.9, 6.0, 0.7, 0.2),
            Treatment("b2", "none", 0, 0.0, -1.3, 0.0, -1.3),
        ),
        weights=dict(WEIGHTS),
        scores=scores,
        ranks=ranks,
        coverage={
            unit.code: (int((~np.isnan(row)).sum()), len(INDICATORS))
            for unit, row in zip(UNITS, RAW, strict=True)
        },
        coherence=Coherence(
            indicators=INDICATORS,
            correlation=correlation,
            flags=(Flag("A", "a1", "a3", -0.2, "negative"),),
            alpha={"IDX": 0.41, "A": 0.12, "B": None},
        ),
        uncertainty=unc,
        steps=steps,
        warnings=("SGP Singapore is screened out: data for 1 of 5 indicators",),
    )


def panel() -> Panel:
    """The raw values as a one-year panel (for ``pipeline.run``)."""
    return Panel(UNITS, INDICATORS, (YEAR,), RAW[np.newaxis].copy())


def pipeline_result(**overrides: Any) -> PipelineResult:
    """The same framework and panel run through the real engine."""
    from cityos.assessment import pipeline

    config = RunConfig().merged({"uncertainty": {"runs": 50}, **overrides})
    return pipeline.run(framework(), panel(), config)


def flat_result(
    units: Sequence[str], dimensions: Sequence[str], scores: Sequence[Sequence[float]]
) -> PipelineResult:
    """A result whose root's children are indicators with the given scores (units × dims):
    for stating comparisons on made-up numbers. The index is the plain mean."""
    values = np.array(scores, dtype=float)
    unit_list = tuple(Unit(code, f"City {code}", f"城市{code}") for code in units)
    root = Group(
        "IDX",
        "Index",
        "指数",
        tuple(Indicator(code, f"Dim {code}", f"维度{code}") for code in dimensions),
    )
    fw = Framework("flat", "Flat", "扁平", root)
    table = {code: values[:, j] for j, code in enumerate(dimensions)}
    table["IDX"] = np.nanmean(values, axis=1)
    n = len(dimensions)
    return PipelineResult(
        framework=fw,
        config=RunConfig(),
        year=YEAR,
        units=unit_list,
        indicators=tuple(dimensions),
        raw=values,
        denominated=values,
        imputed=values,
        kept_units=np.ones(len(units), dtype=bool),
        kept_indicators=np.ones(n, dtype=bool),
        treated=values,
        normalised=values,
        treatments=(),
        weights={"IDX": 1.0} | dict.fromkeys(dimensions, 1 / n),
        scores=table,
        ranks={code: rank_desc(column) for code, column in table.items()},
        coverage={
            u.code: (int((~np.isnan(row)).sum()), n)
            for u, row in zip(unit_list, values, strict=True)
        },
        coherence=Coherence(tuple(dimensions), np.eye(n), (), {}),
        uncertainty=None,
        steps=(),
    )
