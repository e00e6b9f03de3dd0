"""The whole run: year, denomination, screening, normalisation, weights, aggregation, ranks,
coverage and the record of every step — and the bad inputs, each with its clear error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment import pipeline
from cityos.assessment.framework import Denominator, Framework
from cityos.assessment.panel import Unit
from cityos.assessment.result import PipelineResult
from cityos.assessment.runconfig import AggregateMethod, NormaliseMethod, RunConfig
from cityos.errors import InvalidInput
from tests.assessment.engine_support import PLAIN, framework, grp, ind, panel, simple, units

NAN = np.nan


def run(fw: Framework, p: Any, **overrides: Any) -> PipelineResult:
    merged = {**PLAIN, **overrides}
    return pipeline.run(fw, p, pipeline.config_for(fw, merged))


def test_min_max_and_equal_weights_by_hand() -> None:
    fw = simple(50, 50, lower=[False, True])
    # a: 0, 5, 10 → 0, 50, 100; b (lower is better): 1, 3, 2 → 100, 0, 50
    result = run(fw, panel([[0, 1], [5, 3], [10, 2]], ["a", "b"]))
    assert result.scores["a"].tolist() == [0, 50, 100]
    assert result.scores["b"].tolist() == [100, 0, 50]
    assert result.index.tolist() == [50, 25, 75]
    assert result.ranks["IDX"].tolist() == [2, 3, 1]
    assert result.weights == {"a": 0.5, "b": 0.5, "IDX": 1.0}


def test_ties_share_the_lowest_rank() -> None:
    result = run(simple(100), panel([[3], [5], [5], [1]], ["a"]))
    assert result.ranks["a"].tolist() == [3, 1, 1, 4]
    assert result.ranks["IDX"].tolist() == [3, 1, 1, 4]


def test_every_node_has_scores_and_ranks() -> None:
    fw = framework(grp("D1", ind("a"), ind("b")), grp("D2", ind("c")))
    result = run(fw, panel([[1, 2, 3], [3, 2, 1], [2, 2, 2]], list("abc")))
    assert set(result.scores) == set(result.ranks) == {"a", "b", "c", "D1", "D2", "IDX"}


def test_the_steps_are_recorded_in_order_with_their_methods() -> None:
    result = run(simple(100), panel([[1], [2], [3]], ["a"]))
    assert [s.step for s in result.steps] == [
        "data",
        "denominate",
        "impute",
        "screen",
        "outliers",
        "normalise",
        "weights",
        "aggregate",
        "coherence",
        "uncertainty",
    ]
    normalise = next(s for s in result.steps if s.step == "normalise")
    assert normalise.method == "minmax"
    assert normalise.params == {"method": "minmax", "reference_unit": None}


def test_the_latest_year_with_data_is_the_default() -> None:
    values = np.array([[[1.0], [2.0]], [[2.0], [1.0]], [[NAN], [NAN]]])
    p = panel(values, ["a"], years=(2022, 2023, 2024))
    result = run(simple(100), p)
    assert result.year == 2023
    assert result.ranks["a"].tolist() == [1, 2]
    assert run(simple(100), p, year=2022).ranks["a"].tolist() == [2, 1]


def test_a_year_not_in_the_data_is_refused_with_the_years_it_has() -> None:
    p = panel(np.ones((2, 2, 1)), ["a"], years=(2022, 2023))
    with pytest.raises(InvalidInput, match="year 2030 is not in the data; it has 2022, 2023"):
        run(simple(100), p, year=2030)


def test_denominators_divide_by_a_unit_attribute_or_another_indicator() -> None:
    fw = framework(
        ind("cases", denominator=Denominator(by="population", per=10_000)),
        ind("green", denominator=Denominator(by="area")),
    )
    people = (
        Unit("u1", "One", attributes={"population": 20_000}),
        Unit("u2", "Two", attributes={"population": 50_000}),
    )
    p = panel([[10, 4, 2], [40, 9, 3]], ["cases", "green", "area"], unit_list=people)
    result = run(fw, p)
    assert result.denominated[:, 0].tolist() == [5.0, 8.0]
    assert result.denominated[:, 1].tolist() == [2.0, 3.0]
    assert result.raw[:, 0].tolist() == [10, 40]
    step = next(s for s in result.steps if s.step == "denominate")
    assert "cases divided by unit attribute population × 10000" in step.notes


def test_a_missing_denominator_empties_the_cell_and_warns_naming_unit_and_attribute() -> None:
    fw = framework(ind("cases", denominator=Denominator(by="population")), ind("x"))
    people = (Unit("u1", "One", attributes={"population": 10}), Unit("u2", "Two"))
    result = run(fw, panel([[10, 1], [40, 2]], ["cases", "x"], unit_list=people))
    assert np.isnan(result.denominated[1, 0])
    assert any("population is missing or 0 for unit(s) u2" in w for w in result.warnings)


def test_an_indicator_without_data_is_warned_about_and_screened_out() -> None:
    fw = simple(50, 50)
    result = pipeline.run(fw, panel([[1], [2], [3]], ["a"]))
    assert "indicator b has no data" in result.warnings
    assert result.kept_indicators.tolist() == [True, False]
    screen = next(s for s in result.steps if s.step == "screen")
    assert "dropped indicator b: no unit has a value" in screen.notes
    assert result.weights["a"] == 1.0
    assert result.weights["b"] == 0.0
    assert result.index.tolist() == [0, 50, 100]


def test_a_unit_with_all_values_missing_is_screened_out_with_a_note() -> None:
    result = pipeline.run(simple(50, 50), panel([[1, 2], [NAN, NAN], [3, 1]], ["a", "b"]))
    assert result.kept_units.tolist() == [True, False, True]
    assert np.isnan(result.index[1])
    assert np.isnan(result.ranks["IDX"][1])
    assert result.ranks["IDX"][[0, 2]].tolist() == [1, 1]
    screen = next(s for s in result.steps if s.step == "screen")
    assert any(n.startswith("dropped unit u2") for n in screen.notes)
    assert result.coverage["u2"] == (0, 2)


def test_coverage_counts_raw_values_n_of_m() -> None:
    result = run(simple(50, 50), panel([[1, 2], [NAN, 4], [3, 1]], ["a", "b"]))
    assert result.coverage == {"u1": (2, 2), "u2": (1, 2), "u3": (2, 2)}
    assert result.index[1] == result.scores["b"][1]  # computed from 1 of 2


def test_weights_that_do_not_sum_are_an_error_unless_renormalised() -> None:
    fw = framework(grp("A", ind("a", 20), ind("b", 16), weight=37, name_zh="惠民服务"), total=37)
    p = panel([[1, 2], [2, 1], [3, 3]], ["a", "b"])
    with pytest.raises(InvalidInput, match="sum to 36, but A's weight is 37"):
        run(fw, p)
    result = run(fw, p, weights={"renormalise": True})
    assert result.weights["a"] == pytest.approx(20 / 36)
    step = next(s for s in result.steps if s.step == "weights")
    assert any("scaled to fit" in n for n in step.notes)


def test_negative_values_into_the_geometric_mean_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"needs values >= 0, but a .* has negative values"):
        run(
            simple(50, 50),
            panel([[1, 2], [2, 1], [3, 3]], ["a", "b"]),
            normalise={"method": "zscore"},
            aggregate={"method": "geometric"},
        )


def test_an_unknown_reference_unit_is_refused_with_the_units() -> None:
    with pytest.raises(InvalidInput, match="'nowhere' is not one of the units; use one of u1, u2"):
        run(
            simple(100),
            panel([[1], [2]], ["a"]),
            normalise={"method": "distance_to_reference", "reference_unit": "nowhere"},
        )


def test_distance_to_the_reference_unit() -> None:
    result = run(
        simple(100),
        panel([[2], [4], [8]], ["a"]),
        normalise={"method": "distance_to_reference", "reference_unit": "u2"},
    )
    assert result.scores["a"].tolist() == [0.5, 1.0, 2.0]


def test_an_unknown_method_name_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        pipeline.config_for(simple(100), {"normalise": {"method": "minmaxx"}})
    assert "normalise.method: 'minmaxx' is not a method; use one of minmax, zscore, rank" in (
        caught.value.message
    )


def test_unknown_keys_and_bad_values_are_each_listed() -> None:
    with pytest.raises(InvalidInput) as caught:
        pipeline.config_for(
            simple(100),
            {"normalise": {"metod": "minmax"}, "colour": 1, "uncertainty": {"runs": -1}},
        )
    problems = caught.value.details
    assert (
        "normalise.metod: unknown setting; the settings of normalise are method, reference_unit"
        in problems
    )
    assert any(
        p.startswith("colour: unknown setting; use one of year, carry_forward, denominate")
        for p in problems
    )
    assert any(
        p.startswith("uncertainty.runs: input should be greater than or equal to 0")
        for p in problems
    )


def test_config_is_defaults_then_framework_method_then_overrides() -> None:
    fw = framework(ind("a"), method={"normalise": {"method": "zscore"}, "aggregate": {"p": 2}})
    config = pipeline.config_for(fw, {"aggregate": {"method": "generalised"}})
    assert config.normalise.method is NormaliseMethod.ZSCORE
    assert config.aggregate.method is AggregateMethod.GENERALISED
    assert config.aggregate.p == 2
    assert config.screen == RunConfig().screen


def test_a_bad_framework_method_says_where_it_comes_from() -> None:
    fw = framework(ind("a"), method={"weights": {"method": "expert"}})
    with pytest.raises(
        InvalidInput, match=r"the method of framework FW: weights\.method: 'expert'"
    ):
        pipeline.config_for(fw, None)


def test_goalposts_normalise_untransformed_values() -> None:
    values = [[1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [2.0], [3.0], [1000.0]]
    fw = framework(ind("a", goalposts=(0.0, 10.0)))
    result = pipeline.run(
        fw,
        panel(values, ["a"]),
        pipeline.config_for(fw, {"normalise": {"method": "goalposts"}, "outliers": {"winmax": 0}}),
    )
    assert result.scores["a"].tolist() == [10.0] * 7 + [20.0, 30.0, 100.0]
    assert result.treatments[0].action == "none"
    step = next(s for s in result.steps if s.step == "outliers")
    assert any(
        "not log-transformed, as goalposts normalisation works in raw units" in n
        for n in step.notes
    )


def test_pca_weights_are_used_and_reported() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 10, 20)
    values = np.column_stack([x, x * 2 + rng.normal(0, 0.1, 20), rng.uniform(0, 10, 20)])
    fw = framework(ind("a"), ind("b"), ind("c"))
    result = run(fw, panel(values, list("abc")), weights={"method": "pca"})
    assert sum(result.weights[c] for c in "abc") == pytest.approx(1.0)
    assert result.weights["c"] < result.weights["a"]


def test_each_unit_can_be_weighed_with_its_own_tier() -> None:
    fw = framework(
        ind("a", 50, tier_weights={"big": 90}),
        ind("b", 50, tier_weights={"big": 10}),
        tiers=("big",),
    )
    people = (Unit("u1", "One", tier="big"), Unit("u2", "Two"), Unit("u3", "Three", tier="big"))
    result = run(
        fw,
        panel([[100, 0], [100, 0], [0, 100]], ["a", "b"], unit_list=people),
        weights={"method": "tier"},
    )
    assert result.index.tolist() == pytest.approx([90, 50, 10])
    assert result.tier_weights["big"]["a"] == pytest.approx(0.9)
    assert result.weights["a"] == pytest.approx(0.5)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(-20, 20), min_size=2, max_size=12, unique=True),
    st.sampled_from(["minmax", "zscore", "rank", "percentile_rank", "borda"]),
)
def test_flipping_the_direction_reverses_the_ranks(values: list[int], method: str) -> None:
    p = panel([[float(v)] for v in values], ["a"])
    higher = run(simple(100), p, normalise={"method": method})
    lower = run(simple(100, lower=[True]), p, normalise={"method": method})
    n = len(values)
    assert (higher.ranks["IDX"] + lower.ranks["IDX"]).tolist() == [n + 1] * n


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
def test_ranks_are_min_ranks_and_follow_the_units_when_permuted(
    values: list[int], random: Any
) -> None:
    p = panel([[float(v)] for v in values], ["a"])
    ranks = run(simple(100), p).ranks["IDX"]
    expected = [1 + sum(other > v for other in values) for v in values]
    assert ranks.tolist() == expected
    order = list(range(len(values)))
    random.shuffle(order)
    shuffled = panel([[float(values[i])] for i in order], ["a"], unit_list=units(len(values)))
    again = run(simple(100), shuffled).ranks["IDX"]
    assert again.tolist() == [expected[i] for i in order]


def test_screening_counts_the_data_as_given_not_imputed_cells() -> None:
    four = units(4)
    data = panel([[1, 2], [NAN, NAN], [3, 1], [2, 2]], ["a", "b"], unit_list=four)
    result = pipeline.run(
        simple(50, 50),
        data,
        pipeline.config_for(
            simple(50, 50),
            {
                "impute": {"method": "mean"},
            },
        ),
    )
    assert result.kept_units.tolist() == [True, False, True, True]
    assert not np.isnan(result.imputed[1]).any()  # imputed, but still no data of its own


def test_carry_forward_takes_each_units_latest_earlier_value_within_the_limit() -> None:
    years = (2012, 2014, 2016)
    values = [
        [[1.0], [NAN], [NAN]],  # 2012
        [[NAN], [5.0], [NAN]],  # 2014
        [[3.0], [NAN], [NAN]],  # 2016
    ]
    data = panel(values, ["a"], years=years)
    near = run(simple(100), data, carry_forward=2)
    assert near.year == 2016
    assert near.raw[:, 0].tolist()[:2] == [3.0, 5.0]
    assert np.isnan(near.raw[2, 0])
    step = next(s for s in near.steps if s.step == "data")
    assert "carried forward 1 values from up to 2 years before 2016" in step.notes
    none = run(simple(100), data)
    assert np.isnan(none.raw[1, 0])


def test_the_default_year_is_the_latest_with_enough_data_for_a_unit() -> None:
    values = [
        [[1.0, 2.0], [3.0, 4.0]],  # 2024: full
        [[5.0, NAN], [NAN, NAN]],  # 2025: one early figure, half of one unit
    ]
    data = panel(values, ["a", "b"], years=(2024, 2025))
    assert pipeline.run(simple(50, 50), data).year == 2024
    lenient = pipeline.config_for(
        simple(50, 50), {"screen": {"min_unit_coverage": 0.5, "min_indicator_coverage": 0.5}}
    )
    assert pipeline.run(simple(50, 50), data, lenient).year == 2025


def test_min_max_is_rescaled_to_1_100_for_the_geometric_mean_so_no_unit_scores_0() -> None:
    # a: 0, 5, 10 → 1, 50.5, 100; b (lower is better): 1, 3, 2 → 100, 1, 50.5
    fw = simple(50, 50, lower=[False, True])
    p = panel([[0, 1], [5, 3], [10, 2]], ["a", "b"])
    result = run(fw, p, aggregate={"method": "geometric"})
    assert result.scores["a"].tolist() == pytest.approx([1, 50.5, 100])
    np.testing.assert_allclose(result.index, [10.0, np.sqrt(50.5), np.sqrt(5050)])
    step = next(s for s in result.steps if s.step == "normalise")
    assert "min-max rescaled to 1–100 for the geometric mean" in step.notes
    arithmetic = run(fw, p)
    assert arithmetic.scores["a"].tolist() == [0, 50, 100]


def test_monte_carlo_geometric_runs_never_zero_a_unit_for_its_worst_indicator() -> None:
    values = [[0, 5, 9], [5, 0, 4], [9, 4, 0], [3, 3, 3], [6, 7, 2]]
    result = run(
        simple(None, None, None),
        panel(values, list("abc")),
        uncertainty={"runs": 40, "normalisations": ["minmax"], "aggregations": ["geometric"]},
    )
    assert result.uncertainty is not None
    assert (result.uncertainty.score_p05 > 0).all()
    step = next(s for s in result.steps if s.step == "uncertainty")
    assert any("minmax × geometric: min-max rescaled to 1–100" in n for n in step.notes)


def test_monte_carlo_goalposts_runs_normalise_the_values_before_the_log() -> None:
    values = [[1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [2.0], [3.0], [1000.0]]
    fw = framework(ind("a", goalposts=(0.0, 10.0)))
    config = {
        "outliers": {"winmax": 0},
        "uncertainty": {
            "runs": 10,
            "normalisations": ["goalposts"],
            "aggregations": ["arithmetic"],
        },
    }
    result = pipeline.run(fw, panel(values, ["a"]), pipeline.config_for(fw, config))
    assert result.treatments[0].action == "log"  # the nominal min-max run uses the log
    assert result.uncertainty is not None
    np.testing.assert_allclose(result.uncertainty.score_median, [10.0] * 7 + [20.0, 30.0, 100.0])


def test_impute_none_leaves_a_group_without_a_score_where_drop_renormalise_renormalises() -> None:
    fw = framework(grp("D1", ind("a"), ind("b")), grp("D2", ind("c")))
    p = panel([[1, 2, 3], [NAN, 4, 1], [3, 1, 2], [2, 2, 2]], list("abc"))
    mc = {"runs": 10, "normalisations": ["minmax"], "aggregations": ["arithmetic"]}
    none = run(fw, p, impute={"method": "none"}, uncertainty=mc)
    assert np.isnan(none.scores["D1"][1])
    assert np.isnan(none.index[1])
    assert not np.isnan(none.scores["D2"][1])
    assert not np.isnan(np.delete(none.index, 1)).any()
    assert none.uncertainty is not None
    assert np.isnan(none.uncertainty.score_median[1])
    step = next(s for s in none.steps if s.step == "aggregate")
    assert any("a group in which a unit misses a value has no score" in n for n in step.notes)
    dropped = run(fw, p, impute={"method": "drop_renormalise"}, uncertainty=mc)
    assert dropped.scores["D1"][1] == dropped.scores["b"][1]
    assert not np.isnan(dropped.index).any()
    assert dropped.uncertainty is not None
    assert not np.isnan(dropped.uncertainty.score_median).any()


def test_pca_weights_of_a_two_indicator_group_are_noted_as_always_equal() -> None:
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 10, (12, 2))
    fw = framework(ind("a"), ind("b"))
    result = run(fw, panel(values, ["a", "b"]), weights={"method": "pca"})
    assert result.weights["a"] == pytest.approx(0.5)
    step = next(s for s in result.steps if s.step == "weights")
    assert "IDX 指数 (Index): PCA weights of a two-indicator group are always equal" in step.notes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aggregate": {"p": float("inf")}}, "aggregate.p"),
        ({"aggregate": {"p": float("nan")}}, "aggregate.p"),
        ({"aggregate": {"p": 51}}, "aggregate.p"),
        ({"aggregate": {"p": -51}}, "aggregate.p"),
        ({"uncertainty": {"seed": -1}}, "uncertainty.seed"),
        ({"uncertainty": {"runs": 10_001}}, "uncertainty.runs"),
    ],
)
def test_out_of_range_settings_are_refused_naming_the_key(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        pipeline.config_for(simple(100), overrides)


def test_too_many_units_times_runs_is_refused_before_any_work() -> None:
    fw = simple(100)
    big = panel(np.arange(2001.0)[:, None], ["a"])
    config = pipeline.config_for(fw, {"uncertainty": {"runs": 10_000}})
    with pytest.raises(InvalidInput, match=r"too much work for one run: lower uncertainty\.runs"):
        pipeline.run(fw, big, config)
