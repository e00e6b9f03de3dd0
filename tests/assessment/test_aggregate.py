"""Weighted means per group, bottom-up, with missing children skipped per unit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment import aggregate, structure
from cityos.assessment.runconfig import AggregateConfig, AggregateMethod
from cityos.errors import InvalidInput
from tests.assessment.engine_support import framework, grp, ind

A, G, H, P = (
    AggregateMethod.ARITHMETIC,
    AggregateMethod.GEOMETRIC,
    AggregateMethod.HARMONIC,
    AggregateMethod.GENERALISED,
)
NAN = np.nan


def mean(
    values: list[float], weights: list[float], method: AggregateMethod, p: float = 1.0
) -> float:
    row = np.array([values], dtype=float)
    return float(aggregate.weighted_mean(row, np.array(weights, dtype=float), method, p)[0])


def test_geometric_mean_of_1_and_4_is_2() -> None:
    assert mean([1, 4], [0.5, 0.5], G) == pytest.approx(2.0)


def test_harmonic_mean_of_1_and_a_third_is_a_half() -> None:
    assert mean([1, 1 / 3], [0.5, 0.5], H) == pytest.approx(0.5)


def test_weighted_arithmetic_mean() -> None:
    assert mean([10, 20, 40], [0.5, 0.25, 0.25], A) == pytest.approx(20.0)


def test_generalised_mean_with_p_2_is_the_quadratic_mean() -> None:
    assert mean([3, 4], [0.5, 0.5], P, 2.0) == pytest.approx(np.sqrt(12.5))


def test_generalised_mean_with_p_0_and_minus_1_are_geometric_and_harmonic() -> None:
    values, weights = [2.0, 8.0, 5.0], [0.2, 0.3, 0.5]
    assert mean(values, weights, P, 0.0) == pytest.approx(mean(values, weights, G))
    assert mean(values, weights, P, -1.0) == pytest.approx(mean(values, weights, H))


def test_a_zero_makes_the_geometric_and_harmonic_means_zero() -> None:
    assert mean([0, 50], [0.5, 0.5], G) == 0.0
    assert mean([0, 50], [0.5, 0.5], H) == 0.0
    assert mean([0, 50], [0.5, 0.5], P, -2.0) == 0.0
    assert mean([0, 50], [0.5, 0.5], P, 0.5) == pytest.approx(12.5)


def test_missing_children_are_skipped_and_weights_renormalised() -> None:
    assert mean([NAN, 4, 6], [0.5, 0.25, 0.25], A) == pytest.approx(5.0)
    assert mean([NAN, 4, 16], [0.5, 0.25, 0.25], G) == pytest.approx(8.0)


def test_a_unit_with_no_values_in_a_group_gets_nan() -> None:
    assert np.isnan(mean([NAN, NAN], [0.5, 0.5], A))
    assert np.isnan(mean([NAN, NAN], [0.5, 0.5], G))


def test_weights_can_vary_by_unit() -> None:
    values = np.array([[10.0, 20.0], [10.0, 20.0]])
    weights = np.array([[1.0, 0.0], [0.25, 0.75]])
    out = aggregate.weighted_mean(values, weights, A)
    assert out.tolist() == pytest.approx([10.0, 17.5])


def test_negative_values_into_the_geometric_mean_name_the_group_child_and_fix() -> None:
    tree = structure.build(framework(grp("D1", ind("a"), ind("b"), name_zh="经济")))
    values = np.array([[1.0, -0.5], [2.0, 0.5]])
    weights = structure.equal_weights(tree)
    methods = aggregate.methods_by_group(tree, AggregateConfig(method=G))
    with pytest.raises(InvalidInput) as caught:
        aggregate.aggregate_tree(values, tree, weights, methods)
    message = caught.value.message
    assert "group D1 经济 (Group D1)" in message
    assert "b 指标b (Indicator b) has negative values (lowest -0.5)" in message
    assert "minmax" in message
    assert "aggregate.method: arithmetic" in message


def test_negative_values_are_fine_for_the_arithmetic_mean() -> None:
    tree = structure.build(framework(ind("a"), ind("b")))
    values = np.array([[-1.0, -3.0]])
    scores, _ = aggregate.aggregate_tree(
        values,
        tree,
        structure.equal_weights(tree),
        aggregate.methods_by_group(tree, AggregateConfig()),
    )
    assert scores[0, tree.position()["IDX"]] == pytest.approx(-2.0)


def test_levels_give_a_depth_its_own_method() -> None:
    # Index (depth 0) geometric over D1, D2; the dimensions (depth 1) arithmetic.
    tree = structure.build(framework(grp("D1", ind("a"), ind("b")), grp("D2", ind("c"))))
    values = np.array([[2.0, 6.0, 16.0]])
    config = AggregateConfig(method=A, levels={0: G})
    scores, _ = aggregate.aggregate_tree(
        values, tree, structure.equal_weights(tree), aggregate.methods_by_group(tree, config)
    )
    at = tree.position()
    assert scores[0, at["D1"]] == pytest.approx(4.0)
    assert scores[0, at["IDX"]] == pytest.approx(8.0)  # sqrt(4 × 16)


def test_the_tree_is_aggregated_bottom_up_with_the_group_weights() -> None:
    tree = structure.build(
        framework(grp("D1", ind("a", 1), ind("b", 3), weight=60), grp("D2", ind("c"), weight=40))
    )
    weights, _ = structure.declared_weights(tree, renormalise=True)
    values = np.array([[100.0, 0.0, 50.0], [NAN, 40.0, NAN]])
    scores, used = aggregate.aggregate_tree(
        values, tree, weights, aggregate.methods_by_group(tree, AggregateConfig())
    )
    at = tree.position()
    assert scores[0, at["D1"]] == pytest.approx(25.0)
    assert scores[0, at["IDX"]] == pytest.approx(0.6 * 25 + 0.4 * 50)
    assert scores[1, at["D2"]] != scores[1, at["D2"]]  # NaN: no value in D2
    assert scores[1, at["IDX"]] == pytest.approx(40.0)  # D1 alone, renormalised
    assert np.array_equal(used, weights)


def test_counted_says_n_of_m() -> None:
    assert aggregate.counted(np.array([1.0, NAN, 3.0]), np.array([0.2, 0.3, 0.5])) == (2, 3)


methods = st.sampled_from([(A, 1.0), (G, 1.0), (H, 1.0), (P, 2.0), (P, 0.5), (P, -2.0)])
positive = st.floats(min_value=0.01, max_value=1000, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    value=positive,
    k=st.integers(min_value=1, max_value=6),
    method=methods,
    raw_weights=st.lists(st.floats(min_value=0.01, max_value=10), min_size=6, max_size=6),
)
def test_aggregating_identical_children_returns_that_value(
    value: float, k: int, method: tuple[AggregateMethod, float], raw_weights: list[float]
) -> None:
    got = mean([value] * k, raw_weights[:k], *method)
    assert got == pytest.approx(value, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(positive, min_size=1, max_size=6),
    method=methods,
)
def test_a_mean_lies_between_the_smallest_and_largest_child(
    values: list[float], method: tuple[AggregateMethod, float]
) -> None:
    got = mean(values, [1.0] * len(values), *method)
    assert min(values) * (1 - 1e-9) <= got <= max(values) * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=methods, noise=st.sampled_from([0.0, 0.3, 1.0]))
def test_batched_runs_match_one_run_at_a_time(
    seed: int, method: tuple[AggregateMethod, float], noise: float
) -> None:
    rng = np.random.default_rng(seed)
    tree = structure.build(
        framework(grp("D1", grp("S1", ind("a"), ind("b")), ind("c")), grp("D2", ind("d"), ind("e")))
    )
    values = rng.uniform(0, 100, size=(7, 5))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[rng.random(values.shape) < 0.05] = 0.0
    base = structure.equal_weights(tree)
    factors = rng.uniform(1 - noise, 1 + noise, size=(tree.n_nodes, 4))
    config = AggregateConfig(method=method[0], p=method[1])
    methods_ = aggregate.methods_by_group(tree, config)
    batch = aggregate.aggregate_runs(values, tree, base, factors, methods_)
    for r in range(4):
        one, _ = aggregate.aggregate_tree(values, tree, base * factors[:, r], methods_)
        np.testing.assert_allclose(batch[:, r], one[:, tree.position()["IDX"]], rtol=1e-9)


def test_complete_means_leave_a_row_missing_a_weighted_child_without_a_score() -> None:
    values = np.array([[1.0, np.nan, 3.0], [2.0, 4.0, np.nan]])
    weights = np.array([0.5, 0.5, 0.0])  # the third child weighs nothing: its gap is fine
    renormalised = aggregate.weighted_mean(values, weights, AggregateMethod.ARITHMETIC)
    assert renormalised.tolist() == [1.0, 3.0]
    complete = aggregate.weighted_mean(values, weights, AggregateMethod.ARITHMETIC, complete=True)
    assert np.isnan(complete[0])
    assert complete[1] == 3.0
