"""Effective weights: framework, equal, tier (named or each unit's own) and PCA."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment import structure, weighting
from cityos.assessment.panel import Unit
from cityos.assessment.runconfig import WeightConfig, WeightMethod
from cityos.errors import InvalidInput
from tests.assessment.engine_support import framework, grp, ind, units
from tests.assessment.strategies import matrices

TIERED = framework(
    grp(
        "D1",
        ind("a", 30, tier_weights={"t1": 10}),
        ind("b", 30, tier_weights={"t1": 50}),
        weight=60,
        tier_weights={"t1": 60},
    ),
    grp("D2", ind("c", 40), weight=40),
    tiers=("t1", "t2"),
)


def plan_for(
    fw: object, config: WeightConfig, people: tuple[Unit, ...] | None = None
) -> tuple[structure.Structure, weighting.WeightPlan]:
    tree = structure.build(fw)  # type: ignore[arg-type]
    active = np.ones(tree.n_nodes, dtype=bool)
    return tree, weighting.plan(tree, config, people or units(2), active)


def test_framework_weights_are_the_declared_shares() -> None:
    tree, plan = plan_for(TIERED, WeightConfig())
    at = tree.position()
    assert plan.nodes[at["a"]] == pytest.approx(0.5)
    assert plan.nodes[at["D1"]] == pytest.approx(0.6)
    assert plan.per_unit is None


def test_equal_weights_ignore_the_declared_ones() -> None:
    tree, plan = plan_for(TIERED, WeightConfig(method=WeightMethod.EQUAL))
    at = tree.position()
    assert plan.nodes[at["D1"]] == plan.nodes[at["D2"]] == 0.5


def test_equal_weights_skip_the_check_of_declared_sums() -> None:
    bad = framework(ind("a", 10), ind("b", 10))  # sums to 20, not 100
    with pytest.raises(InvalidInput):
        plan_for(bad, WeightConfig())
    _, plan = plan_for(bad, WeightConfig(method=WeightMethod.EQUAL))
    assert plan.nodes[:2].tolist() == [0.5, 0.5]


def test_a_named_tier_uses_its_weights() -> None:
    tree, plan = plan_for(TIERED, WeightConfig(method=WeightMethod.TIER, tier="t1"))
    at = tree.position()
    assert plan.nodes[at["a"]] == pytest.approx(1 / 6)
    assert plan.nodes[at["b"]] == pytest.approx(5 / 6)


def test_without_a_tier_name_each_unit_uses_its_own_tier() -> None:
    people = (
        Unit("big", "Big city", tier="t1"),
        Unit("small", "Small city", tier="t2"),
        Unit("none", "No tier"),
    )
    tree, plan = plan_for(TIERED, WeightConfig(method=WeightMethod.TIER), people)
    at = tree.position()
    assert plan.per_unit is not None
    assert plan.per_unit[:, at["a"]].tolist() == pytest.approx([1 / 6, 0.5, 0.5])
    assert set(plan.tiers) == {"t1", "t2"}
    assert any(
        "units without tier weights use the framework weights: none" in n for n in plan.notes
    )
    assert any("t1 (1 units)" in n for n in plan.notes)


def test_a_unit_tier_without_weights_uses_the_framework_weights() -> None:
    people = (Unit("big", "Big city", tier="t1"), Unit("odd", "Odd city", tier="t9"))
    tree, plan = plan_for(TIERED, WeightConfig(method=WeightMethod.TIER), people)
    assert plan.per_unit is not None
    assert plan.per_unit[1, tree.position()["a"]] == pytest.approx(0.5)
    assert any("tier 't9' has no weights in FW" in n for n in plan.notes)


def test_screened_out_indicators_weigh_nothing_and_siblings_share_it() -> None:
    tree = structure.build(TIERED)
    active = structure.active_nodes(tree, np.array([True, False, True]))
    plan = weighting.plan(tree, WeightConfig(), units(2), active)
    at = tree.position()
    assert plan.nodes[at["a"]] == 1.0
    assert plan.nodes[at["b"]] == 0.0
    assert any("b 指标b (Indicator b) (screened out)" in n for n in plan.notes)


def test_pca_weights_follow_the_first_component() -> None:
    # x and 2x + 1 are perfectly correlated; y is uncorrelated with both.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, -1.0, -1.0, 1.0])
    weights, why = weighting.pca_weights(np.column_stack([x, 2 * x + 1, y]))
    assert why is None
    assert weights.tolist() == pytest.approx([0.5, 0.5, 0.0], abs=1e-12)


def test_pca_of_one_child_is_one() -> None:
    weights, why = weighting.pca_weights(np.array([[1.0], [2.0]]))
    assert weights.tolist() == [1.0]
    assert why is None


def test_pca_falls_back_to_equal_weights_when_undefined() -> None:
    constant = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    weights, why = weighting.pca_weights(constant)
    assert weights.tolist() == [0.5, 0.5]
    assert why == "a child has the same value for every unit"
    few = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 1.0]])
    weights, why = weighting.pca_weights(few)
    assert weights.tolist() == [0.5, 0.5]
    assert why == "only 2 units have all 2 children"


def test_pca_gives_an_empty_child_no_weight() -> None:
    data = np.array([[1.0, np.nan, 2.0], [2.0, np.nan, 1.0], [3.0, np.nan, 5.0]])
    weights, _ = weighting.pca_weights(data)
    assert weights[1] == 0.0
    assert weights.sum() == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(matrices(rows=(1, 12), cols=(1, 5)))
def test_pca_weights_are_non_negative_and_sum_to_one(data: np.ndarray) -> None:
    weights, _ = weighting.pca_weights(data)
    usable = ~np.isnan(data).all(axis=0)
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(1.0 if usable.any() else 0.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=6))
def test_equal_plan_weights_sum_to_one_in_every_group(n1: int, n2: int) -> None:
    fw = framework(
        grp("D1", *(ind(f"a{k}") for k in range(n1))),
        grp("D2", *(ind(f"b{k}") for k in range(n2))),
    )
    tree, plan = plan_for(fw, WeightConfig(method=WeightMethod.EQUAL))
    for kids in tree.children:
        assert plan.nodes[kids].sum() == pytest.approx(1.0)
