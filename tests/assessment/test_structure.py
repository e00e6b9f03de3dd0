"""The framework tree as arrays, and the declared weights checked and resolved."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cityos.assessment import structure
from cityos.assessment.framework import Group, Indicator
from cityos.errors import InvalidInput
from tests.assessment.engine_support import framework, grp, ind

# GB/T 33356-2016: 惠民服务 (citizen services) weighs 37 points, its second-level areas
# 8 + 3 + 3 + 3 + 3 + 3 + 7 + 5 (+ 2 for a ninth area in this test) = 37.
CITIZEN = (8, 3, 3, 3, 3, 3, 7, 5, 2)


def gbt(citizen: tuple[float, ...] = CITIZEN) -> structure.Structure:
    a = grp(
        "A",
        *(ind(f"A{k + 1}", w) for k, w in enumerate(citizen)),
        weight=37,
        name_zh="惠民服务",
        name_en="Citizen services",
    )
    b = grp("B", ind("B1", 40), ind("B2", 23), weight=63, name_zh="精准治理")
    return structure.build(framework(a, b))


def test_nodes_are_numbered_indicators_first_then_groups_depth_first() -> None:
    tree = structure.build(
        framework(grp("D1", grp("S1", ind("a"), ind("b")), ind("c")), grp("D2", ind("d")))
    )
    assert tree.codes == ("a", "b", "c", "d", "IDX", "D1", "S1", "D2")
    assert tree.parent.tolist() == [6, 6, 5, 7, -1, 4, 5, 4]
    assert tree.depth.tolist() == [3, 3, 2, 2, 0, 1, 2, 1]
    assert [kids.tolist() for kids in tree.children] == [[5, 7], [6, 2], [0, 1], [3]]
    # deepest first: S1 (depth 2), then D1 and D2, then the index
    assert [level.tolist() for level in tree.levels] == [[2], [1, 3], [0]]
    assert tree.indicators_under(1).tolist() == [0, 1, 2]


def test_duplicate_codes_are_refused_with_the_code() -> None:
    with pytest.raises(InvalidInput, match="code\\(s\\) a more than once"):
        structure.build(framework(grp("D1", ind("a")), grp("D2", ind("a"))))


def test_a_group_without_children_is_refused() -> None:
    with pytest.raises(InvalidInput, match="D2 Group D2 of framework FW have no children"):
        structure.build(framework(grp("D1", ind("a")), grp("D2")))


def test_gbt_weights_become_shares_of_their_group() -> None:
    tree = gbt()
    weights, notes = structure.declared_weights(tree)
    at = tree.position()
    assert weights[at["A"]] == pytest.approx(0.37)
    assert weights[at["A1"]] == pytest.approx(8 / 37)
    assert weights[at["A7"]] == pytest.approx(7 / 37)
    assert weights[at["B2"]] == pytest.approx(23 / 63)
    assert weights[at["IDX"]] == 1.0
    assert notes == ()


def test_children_that_miss_their_group_weight_are_an_error_naming_the_group_and_the_fix() -> None:
    tree = gbt((8, 3, 3, 3, 3, 3, 7, 5, 1))  # 36, not 37
    with pytest.raises(InvalidInput) as caught:
        structure.declared_weights(tree)
    message = caught.value.message
    assert "A 惠民服务 (Citizen services)" in message
    assert "sum to 36, but A's weight is 37" in message
    assert "weights.renormalise: true" in message


def test_renormalise_scales_the_children_and_says_so() -> None:
    tree = gbt((8, 3, 3, 3, 3, 3, 7, 5, 1))
    weights, notes = structure.declared_weights(tree, renormalise=True)
    at = tree.position()
    assert weights[at["A1"]] == pytest.approx(8 / 36)
    assert sum(weights[at[f"A{k}"]] for k in range(1, 10)) == pytest.approx(1.0)
    assert len(notes) == 1
    assert "summed to 36, not A's weight 37: scaled to fit" in notes[0]


def test_the_roots_children_must_sum_to_the_frameworks_total() -> None:
    tree = structure.build(framework(ind("a", 30), ind("b", 60)))
    with pytest.raises(InvalidInput, match="sum to 90, but the framework's total is 100"):
        structure.declared_weights(tree)


def test_a_tolerance_of_one_in_a_million_absorbs_rounding() -> None:
    tree = structure.build(framework(ind("a", 100 / 3), ind("b", 100 / 3), ind("c", 33.33334)))
    weights, _ = structure.declared_weights(tree)
    assert weights[:3].sum() == pytest.approx(1.0)


def test_omitted_weights_are_equal_shares() -> None:
    tree = structure.build(framework(grp("D1", ind("a"), ind("b"), ind("c")), grp("D2", ind("d"))))
    weights, _ = structure.declared_weights(tree)
    at = tree.position()
    assert weights[at["a"]] == pytest.approx(1 / 3)
    assert weights[at["D1"]] == weights[at["D2"]] == 0.5


def test_mixing_given_and_omitted_weights_is_an_error_naming_the_children() -> None:
    tree = structure.build(framework(grp("D1", ind("a", 2), ind("b"), ind("c")), weight_free()))
    with pytest.raises(InvalidInput, match=r"mix given and omitted weights \(b, c have none\)"):
        structure.declared_weights(tree)


def weight_free() -> Group:
    return grp("D2", ind("d"))


def test_a_group_without_a_weight_weighs_the_sum_of_its_children() -> None:
    tree = structure.build(
        framework(grp("D1", ind("a", 20), ind("b", 20)), grp("D2", ind("c", 60)))
    )
    weights, _ = structure.declared_weights(tree)
    at = tree.position()
    assert weights[at["D1"]] == pytest.approx(0.4)
    assert weights[at["D2"]] == pytest.approx(0.6)


def test_negative_weights_are_refused() -> None:
    tree = structure.build(framework(ind("a", -10), ind("b", 110)))
    with pytest.raises(InvalidInput, match=r"weights of a in IDX .* are negative"):
        structure.declared_weights(tree)


def test_every_bad_group_is_listed_in_the_details() -> None:
    a = grp("A", ind("a1", 1), ind("a2", 1), weight=50)
    b = grp("B", ind("b1", 1), ind("b2", 1), weight=50)
    with pytest.raises(InvalidInput) as caught:
        structure.declared_weights(structure.build(framework(a, b)))
    assert len(caught.value.details) == 2


def test_tier_weights_replace_the_framework_weights_where_given() -> None:
    a = ind("a", 50, tier_weights={"big": 70})
    b = ind("b", 50, tier_weights={"big": 30})
    tree = structure.build(framework(a, b, tiers=("big", "small")))
    weights, _ = structure.declared_weights(tree, tier="big")
    assert weights[:2].tolist() == pytest.approx([0.7, 0.3])
    weights, _ = structure.declared_weights(tree, tier="small")  # none given: framework
    assert weights[:2].tolist() == pytest.approx([0.5, 0.5])


def test_an_unknown_tier_is_refused_with_the_known_ones() -> None:
    tree = structure.build(framework(ind("a", 100, tier_weights={"big": 100}), tiers=("big",)))
    with pytest.raises(InvalidInput, match="'huge' is not a tier of FW; use one of big"):
        structure.declared_weights(tree, tier="huge")


def test_inactive_nodes_drop_and_their_siblings_share_the_weight() -> None:
    tree = structure.build(framework(grp("D1", ind("a"), ind("b")), grp("D2", ind("c"))))
    active = structure.active_nodes(tree, np.array([True, True, False]))
    assert active.tolist() == [True, True, False, True, True, False]
    weights = structure.renormalise_active(tree, structure.equal_weights(tree), active)
    at = tree.position()
    assert weights[at["D1"]] == 1.0
    assert weights[at["D2"]] == 0.0
    assert weights[at["c"]] == 0.0


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Group:
    size = draw(st.integers(min_value=1, max_value=4))
    children: list[Group | Indicator] = []
    for k in range(size):
        if depth < 2 and draw(st.booleans()):
            children.append(draw(trees(depth + 1)))
        else:
            children.append(ind(f"i{depth}_{k}_{draw(st.integers(0, 10**9))}"))
    return grp(f"g{depth}_{draw(st.integers(0, 10**9))}", *children)


@settings(max_examples=60, deadline=None)
@given(trees())
def test_equal_weights_of_every_group_sum_to_one(root: Group) -> None:
    codes = [node.code for _, node in root.walk()]
    assume(len(set(codes)) == len(codes))
    tree = structure.build(framework(root))
    weights, _ = structure.declared_weights(tree)
    for kids in tree.children:
        assert weights[kids].sum() == pytest.approx(1.0)
    assert np.array_equal(weights, structure.equal_weights(tree))
