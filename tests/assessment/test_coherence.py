"""Correlations, redundancy / conflict flags between siblings, Cronbach's alpha."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cityos.assessment import coherence, structure
from cityos.assessment.runconfig import CoherenceConfig
from tests.assessment.engine_support import framework, grp, ind

NAN = np.nan


def test_correlation_of_a_line_is_one_and_of_its_mirror_minus_one() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    r = coherence.correlation(np.column_stack([x, 3 * x + 2, -x]))
    np.testing.assert_allclose(r, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]], atol=1e-12)


def test_correlation_uses_the_rows_where_both_are_present() -> None:
    data = np.array(
        [[1.0, 2.0, 1.0], [2.0, 4.0, NAN], [3.0, 6.0, 2.0], [4.0, 100.0, NAN], [5.0, NAN, 3.0]]
    )
    r = coherence.correlation(data)
    assert r[0, 2] == pytest.approx(1.0)  # over rows 1, 3, 5
    expected = np.corrcoef(data[:4, 0], data[:4, 1])[0, 1]
    assert r[0, 1] == pytest.approx(expected)
    assert np.isnan(r[1, 2])  # only rows 1 and 3 have both: fewer than 3


def test_a_constant_indicator_has_no_correlation() -> None:
    data = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    r = coherence.correlation(data)
    assert np.isnan(r[0, 1])
    assert np.isnan(r[1, 1])
    assert r[0, 0] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(3, 15), st.integers(2, 5)),
        elements=st.floats(-1000, 1000, allow_nan=False),
    )
)
def test_complete_data_agrees_with_numpy_corrcoef(data: np.ndarray) -> None:
    spread = data.std(axis=0)
    assume((spread >= 1e-6 * np.maximum(np.abs(data).max(axis=0), 1.0)).all())  # else NaN
    ours = coherence.correlation(data)
    theirs = np.corrcoef(data, rowvar=False)
    np.testing.assert_allclose(ours, theirs, atol=1e-7)


def test_cronbach_alpha_by_hand() -> None:
    # var(x) = var(y) = 5/3; totals 3, 3, 7, 7 have variance 16/3: α = 2 (1 − (10/3)/(16/3))
    data = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    assert coherence.cronbach_alpha(data) == pytest.approx(0.75)


def test_identical_items_have_alpha_one() -> None:
    x = np.array([1.0, 2.0, 4.0])
    assert coherence.cronbach_alpha(np.column_stack([x, x, x])) == pytest.approx(1.0)


def test_alpha_is_none_when_undefined() -> None:
    assert coherence.cronbach_alpha(np.array([[1.0], [2.0]])) is None  # one item
    assert coherence.cronbach_alpha(np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])) is None
    assert coherence.cronbach_alpha(np.array([[1.0, 2.0], [NAN, 1.0]])) is None  # 1 row


def test_flags_pairs_of_siblings_only() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    noise = np.array([0.1, -0.1, 0.05, 0.0, -0.05])
    data = np.column_stack([x, x + noise, -x + noise * 30, x])
    tree = structure.build(framework(grp("D1", ind("a"), ind("b"), ind("c")), grp("D2", ind("d"))))
    found = coherence.coherence(
        data, tree, np.ones(5, bool), np.ones(4, bool), CoherenceConfig(redundancy=0.9)
    )
    kinds = {(f.a, f.b): f.kind for f in found.flags if f.kind == "redundant"}
    negative = {(f.a, f.b) for f in found.flags if f.kind == "negative"}
    assert ("a", "b") in kinds
    assert ("a", "c") in negative
    assert ("b", "c") in negative
    assert all(f.group == "D1" for f in found.flags)  # a and d correlate 1 but are not siblings
    assert found.indicators == ("a", "b", "c", "d")
    assert found.alpha["D2"] is None
    assert found.alpha["D1"] is not None


def test_screened_out_indicators_and_units_are_left_out() -> None:
    data = np.array([[1.0, 2.0, 9.0], [2.0, 4.0, 9.0], [3.0, 5.0, 9.0], [99.0, -99.0, 9.0]])
    tree = structure.build(framework(ind("a"), ind("b"), ind("c")))
    found = coherence.coherence(
        data,
        tree,
        np.array([True, True, True, False]),
        np.array([True, True, False]),
        CoherenceConfig(),
    )
    assert found.indicators == ("a", "b")
    assert found.correlation.shape == (2, 2)
    assert found.correlation[0, 1] > 0.9
