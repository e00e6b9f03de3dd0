"""Monte Carlo over weights, normalisation and aggregation: rank bands and first-order
sensitivity indices."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cityos.assessment import pipeline, uncertainty
from cityos.assessment.framework import Framework
from cityos.assessment.panel import Panel
from cityos.assessment.result import PipelineResult
from cityos.errors import InvalidInput
from tests.assessment.engine_support import PLAIN, framework, grp, ind, panel


def tree() -> Framework:
    return framework(
        grp("D1", ind("a"), ind("b"), ind("c", lower=True)),
        grp("D2", ind("d"), ind("e")),
        grp("D3", ind("f")),
    )


def data(n: int = 30, seed: int = 7) -> Panel:
    rng = np.random.default_rng(seed)
    return panel(rng.uniform(1, 100, size=(n, 6)), list("abcdef"))


def run(fw: Framework, p: Panel, **uncertainty_: Any) -> PipelineResult:
    overrides = {**PLAIN, "uncertainty": {"runs": 200, **uncertainty_}}
    return pipeline.run(fw, p, pipeline.config_for(fw, overrides))


def test_first_order_is_one_when_the_classes_explain_everything() -> None:
    y = np.array([1.0, 1.0, 1.0, 5.0, 5.0, 5.0])
    assert uncertainty.first_order(y, [0, 0, 0, 1, 1, 1]) == pytest.approx(1.0)


def test_first_order_is_zero_when_the_classes_explain_nothing() -> None:
    y = np.array([1.0, 5.0, 1.0, 5.0])
    assert uncertainty.first_order(y, [0, 0, 1, 1]) == 0.0
    assert uncertainty.first_order(np.ones(4), [0, 0, 1, 1]) == 0.0  # no variance at all


def test_first_order_adjusts_for_the_chance_spread_of_class_means() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=4000)
    classes = rng.integers(0, 10, size=4000)
    assert uncertainty.first_order(y, classes) < 0.01


def test_runs_give_rank_bands_and_indices_for_the_three_factors() -> None:
    found = run(tree(), data()).uncertainty
    assert found is not None
    assert found.runs == 200
    assert set(found.sensitivity) == {"weights", "normalisation", "aggregation"}
    assert all(0.0 <= v <= 1.0 for v in found.sensitivity.values())
    assert found.choices["normalisation"] == ("minmax", "zscore", "percentile_rank")
    assert found.choices["aggregation"] == ("arithmetic", "geometric")
    assert (found.rank_p05 <= found.median_rank).all()
    assert (found.median_rank <= found.rank_p95).all()
    assert (found.rank_p95 - found.rank_p05 > 0).any()


def test_zscore_with_the_geometric_mean_is_left_out_and_recorded() -> None:
    result = run(tree(), data())
    step = next(s for s in result.steps if s.step == "uncertainty")
    assert any(n.startswith("zscore × geometric left out") for n in step.notes)


def test_no_valid_pair_is_an_error_saying_what_to_add() -> None:
    with pytest.raises(InvalidInput, match="add minmax or percentile_rank"):
        run(tree(), data(), normalisations=["zscore"], aggregations=["geometric"])


def test_the_seed_makes_runs_repeatable() -> None:
    first = run(tree(), data()).uncertainty
    again = run(tree(), data()).uncertainty
    other = run(tree(), data(), seed=1).uncertainty
    assert first == again
    assert first != other


def test_progress_is_reported_up_to_the_number_of_runs() -> None:
    calls: list[tuple[int, int]] = []
    fw = tree()
    config = pipeline.config_for(fw, {**PLAIN, "uncertainty": {"runs": 300}})
    pipeline.run(fw, data(), config, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (300, 300)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert {t for _, t in calls} == {300}


def test_only_weights_varying_leaves_the_choice_indices_at_zero() -> None:
    found = run(tree(), data(), normalisations=["minmax"], aggregations=["arithmetic"]).uncertainty
    assert found is not None
    assert found.sensitivity["normalisation"] == 0.0
    assert found.sensitivity["aggregation"] == 0.0


def test_the_arrays_cover_the_kept_units_only() -> None:
    values = np.random.default_rng(3).uniform(1, 100, size=(6, 6))
    values[2] = np.nan  # screened out
    result = run(tree(), panel(values, list("abcdef")))
    assert result.uncertainty is not None
    assert result.uncertainty.median_rank.shape == (5,)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 12),
    normalisation=st.sampled_from(["minmax", "zscore", "percentile_rank", "rank"]),
    aggregation=st.sampled_from(["arithmetic", "geometric", "harmonic"]),
    ties=st.booleans(),
)
def test_no_noise_and_one_method_reproduce_the_nominal_ranks(
    seed: int, n: int, normalisation: str, aggregation: str, ties: bool
) -> None:
    assume(normalisation != "zscore" or aggregation == "arithmetic")  # else refused
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 4, size=(n, 6)).astype(float) if ties else rng.uniform(0, 9, (n, 6))
    fw = tree()
    config = pipeline.config_for(
        fw,
        {
            **PLAIN,
            "normalise": {"method": normalisation},
            "aggregate": {"method": aggregation},
            "uncertainty": {
                "runs": 20,
                "weight_noise": 0.0,
                "normalisations": [normalisation],
                "aggregations": [aggregation],
            },
        },
    )
    result = pipeline.run(fw, panel(values, list("abcdef")), config)
    found = result.uncertainty
    assert found is not None
    nominal = result.ranks["IDX"]
    np.testing.assert_array_equal(found.median_rank, nominal)
    np.testing.assert_array_equal(found.rank_p05, nominal)
    np.testing.assert_array_equal(found.rank_p95, nominal)
    np.testing.assert_allclose(found.score_p05, found.score_p95, rtol=1e-12, atol=1e-12)
    assert found.sensitivity == {"weights": 0.0, "normalisation": 0.0, "aggregation": 0.0}
