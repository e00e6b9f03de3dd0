"""PipelineResult ⇄ plain dict: JSON-safe, and a round trip rebuilds an equal result."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from cityos.assessment import pipeline
from cityos.assessment.framework import Denominator, Source, SourceKind
from cityos.assessment.panel import Unit
from cityos.assessment.result import (
    PipelineResult,
    framework_from_dict,
    framework_to_dict,
)
from tests.assessment.engine_support import framework, grp, ind, panel

FW = framework(
    grp(
        "D1",
        ind("a", 30, unit="%", goalposts=(0.0, 100.0), tier_weights={"big": 20}),
        ind("b", 30, lower=True, denominator=Denominator(by="population", per=1000)),
        weight=60,
        name_zh="经济",
    ),
    grp(
        "D2",
        ind(
            "c",
            40,
            source=Source(kind=SourceKind.LIVE, metric="cases.resolved_within_sla_pct"),
        ),
        weight=40,
    ),
    tiers=("big",),
    method={"aggregate": {"levels": {"0": "geometric"}}},
)


def result(runs: int = 50) -> PipelineResult:
    rng = np.random.default_rng(11)
    people = tuple(
        Unit(
            f"u{i}",
            f"Unit {i}",
            f"单元{i}",
            tier="big" if i % 2 else None,
            attributes={"population": float(1000 + i)},
        )
        for i in range(12)
    )
    values = rng.uniform(1, 100, size=(12, 3))
    values[3, 1] = np.nan
    values[7] = np.nan  # a screened-out unit
    p = panel(values, ["a", "b", "c"], unit_list=people)
    config = pipeline.config_for(
        FW, {"uncertainty": {"runs": runs}, "weights": {"method": "tier", "renormalise": True}}
    )
    return pipeline.run(FW, p, config)


def test_a_round_trip_through_json_rebuilds_an_equal_result() -> None:
    original = result()
    text = json.dumps(original.to_dict(), allow_nan=False, ensure_ascii=False)
    back = PipelineResult.from_dict(json.loads(text))
    assert back == original
    assert back.framework == FW
    assert np.isnan(back.index[7])
    assert back.config.aggregate.levels == {0: "geometric"}


def test_a_result_without_uncertainty_round_trips_too() -> None:
    original = result(runs=0)
    assert original.uncertainty is None
    assert PipelineResult.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_equality_sees_a_changed_cell() -> None:
    original = result(runs=0)
    changed = original.normalised.copy()
    changed[0, 0] += 1
    assert replace(original, normalised=changed) != original


def test_the_dict_has_what_reports_need() -> None:
    data = result().to_dict()
    assert data["format"] == "cityos.assessment.result/1"
    assert data["root"] == "IDX"
    assert data["units"][1] == {
        "code": "u1",
        "name_en": "Unit 1",
        "name_zh": "单元1",
        "group": None,
        "tier": "big",
        "attributes": {"population": 1001.0},
    }
    assert data["indicators"][1] == {
        "code": "b",
        "name_en": "Indicator b",
        "name_zh": "指标b",
        "unit": "",
        "direction": "lower",
        "group": "D1",
    }
    assert data["groups"][1] == {
        "code": "D1",
        "name_en": "Group D1",
        "name_zh": "经济",
        "parent": "IDX",
        "depth": 1,
        "children": ["a", "b"],
    }
    assert data["raw"][7] == [None, None, None]
    assert data["kept_units"][7] is False
    assert data["coverage"]["u3"] == [2, 3]
    assert set(data["uncertainty"]) == {
        "runs",
        "median_rank",
        "rank_p05",
        "rank_p95",
        "score_p05",
        "score_median",
        "score_p95",
        "choices",
        "sensitivity",
    }
    assert len(data["uncertainty"]["median_rank"]) == 11
    assert data["tier_weights"]["big"]["a"] == 0.4
    assert data["steps"][0]["step"] == "data"


def test_frameworks_round_trip_field_by_field() -> None:
    data = json.loads(json.dumps(framework_to_dict(FW)))
    assert framework_from_dict(data) == FW
    assert data["root"]["children"][0]["children"][1]["denominator"] == {
        "by": "population",
        "per": 1000,
    }
