"""Normalisation: every method in closed form, both directions, bad input, properties."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment.normalise import normalise
from cityos.assessment.result import FloatArray
from cityos.assessment.runconfig import NormaliseMethod as M
from cityos.errors import InvalidInput
from tests.assessment.strategies import matrices, positive

NAN = np.nan


def run(
    values: Sequence[float] | FloatArray,
    method: M,
    *,
    higher: bool = True,
    goalposts: tuple[float, float] | None = None,
    target: float | None = None,
    reference_row: int | None = None,
) -> list[float]:
    """Normalise one column and return it as a list."""
    out = normalise(
        np.array(values, dtype=float)[:, None],
        method,
        higher_is_better=[higher],
        goalposts=[goalposts],
        targets=[target],
        reference_row=reference_row,
        codes=["CPI.P.2"],
    )
    return [float(v) for v in out[:, 0]]


def same(actual: list[float], expected: list[float]) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_minmax_scales_to_0_100_and_flips_lower_is_better() -> None:
    same(run([2, 4, 10], M.MINMAX), [0, 25, 100])
    same(run([2, 4, 10], M.MINMAX, higher=False), [100, 75, 0])


def test_minmax_of_a_constant_column_is_50_for_every_unit_with_a_value() -> None:
    same(run([3, 3, NAN], M.MINMAX), [50, 50, NAN])
    same(run([7], M.MINMAX), [50])


def test_zscore_uses_the_sample_standard_deviation() -> None:
    # mean 4, sample sd √((4 + 0 + 4) / 2) = 2
    same(run([2, 4, 6], M.ZSCORE), [-1, 0, 1])
    same(run([2, 4, 6], M.ZSCORE, higher=False), [1, 0, -1])
    same(run([5, 5], M.ZSCORE), [0, 0])


def test_rank_counts_the_units_below_so_the_best_gets_the_highest_number() -> None:
    same(run([10, 30, 20, 20], M.RANK), [1, 4, 2, 2])
    same(run([10, 30, 20, 20], M.RANK, higher=False), [4, 1, 2, 2])


def test_borda_counts_the_units_strictly_beaten() -> None:
    same(run([10, 30, 20, 20, NAN], M.BORDA), [0, 3, 1, 1, NAN])
    same(run([10, 30, 20, 20], M.BORDA, higher=False), [3, 0, 1, 1])


def test_percentile_rank_averages_ties_over_0_100() -> None:
    # ascending ranks with ties averaged: 1, 4, 2.5, 2.5 → (r − 1) / 3 × 100
    same(run([10, 30, 20, 20], M.PERCENTILE_RANK), [0, 100, 50, 50])
    same(run([10, 30, 20, 20], M.PERCENTILE_RANK, higher=False), [100, 0, 50, 50])
    same(run([4, 4, 4], M.PERCENTILE_RANK), [50, 50, 50])
    same(run([4, NAN], M.PERCENTILE_RANK), [50, NAN])


def test_distance_to_max_divides_by_the_best_value() -> None:
    same(run([2, 5, 10], M.DISTANCE_TO_MAX), [0.2, 0.5, 1])
    same(run([2, 5, 10], M.DISTANCE_TO_MAX, higher=False), [1, 0.4, 0.2])


def test_distance_to_target_divides_by_the_target() -> None:
    same(run([0, 5, 11], M.DISTANCE_TO_TARGET, target=10), [0, 0.5, 1.1])
    same(run([5, 20], M.DISTANCE_TO_TARGET, higher=False, target=10), [2, 0.5])


def test_distance_to_reference_divides_by_the_reference_units_value() -> None:
    same(run([2, 4, 8], M.DISTANCE_TO_REFERENCE, reference_row=1), [0.5, 1, 2])
    same(run([2, 4, 8], M.DISTANCE_TO_REFERENCE, higher=False, reference_row=1), [2, 1, 0.5])


def test_goalposts_scale_between_low_and_high_and_clip() -> None:
    same(run([-5, 0, 25, 100, 120], M.GOALPOSTS, goalposts=(0, 100)), [0, 0, 25, 100, 100])
    same(
        run([10, 40, 90], M.GOALPOSTS, higher=False, goalposts=(20, 80)),
        [100, 66.66666666666667, 0],
    )


def test_missing_values_stay_missing_in_every_method() -> None:
    matrix = np.array([[1.0, NAN], [2.0, 3.0], [NAN, 4.0], [4.0, 5.0]])
    for method in M:
        out = normalise(
            matrix,
            method,
            higher_is_better=[True, False],
            goalposts=[(0, 10), (0, 10)],
            targets=[5, 5],
            reference_row=1,
        )
        np.testing.assert_array_equal(np.isnan(out), np.isnan(matrix), err_msg=str(method))


def test_columns_are_normalised_each_by_its_own_rule() -> None:
    matrix = np.array([[1.0, 10.0], [3.0, 30.0]])
    out = normalise(
        matrix,
        M.MINMAX,
        higher_is_better=np.array([True, False]),
        goalposts=[None, None],
        targets=[None, None],
    )
    np.testing.assert_array_equal(out, [[0, 100], [100, 0]])


def test_an_all_missing_column_stays_missing() -> None:
    for method in (M.MINMAX, M.ZSCORE, M.RANK, M.PERCENTILE_RANK, M.DISTANCE_TO_MAX):
        assert np.isnan(run([NAN, NAN], method)).all()


# --- bad input --------------------------------------------------------------------------


def test_distance_to_target_without_a_target_names_the_indicator() -> None:
    with pytest.raises(InvalidInput) as error:
        run([1, 2], M.DISTANCE_TO_TARGET)
    assert "CPI.P.2 has none" in error.value.message
    assert "add target:" in error.value.message
    assert error.value.details == ["CPI.P.2"]


def test_goalposts_without_goalposts_names_the_indicator() -> None:
    with pytest.raises(InvalidInput) as error:
        run([1, 2], M.GOALPOSTS)
    assert "CPI.P.2 has none" in error.value.message
    assert "goalposts: [low, high]" in error.value.message


def test_goalposts_the_wrong_way_round_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"goalposts of CPI.P.2 are \[100, 0\]"):
        run([1, 2], M.GOALPOSTS, goalposts=(100, 0))


def test_distance_to_reference_without_a_reference_unit_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"set normalise\.reference_unit"):
        run([1, 2], M.DISTANCE_TO_REFERENCE)
    with pytest.raises(InvalidInput, match="row 5 is outside the 2 units"):
        run([1, 2], M.DISTANCE_TO_REFERENCE, reference_row=5)


def test_a_reference_unit_without_a_value_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"reference unit has no value for CPI\.P\.2"):
        run([1, NAN, 3], M.DISTANCE_TO_REFERENCE, reference_row=1)


@pytest.mark.parametrize(
    ("values", "method", "higher", "target", "reference", "reason"),
    [
        ([0, 0, NAN], M.DISTANCE_TO_MAX, True, None, None, "its largest value is 0"),
        ([0, 3], M.DISTANCE_TO_MAX, False, None, None, "a value is 0"),
        ([1, 3], M.DISTANCE_TO_TARGET, True, 0.0, None, "its target is 0"),
        ([0, 3], M.DISTANCE_TO_TARGET, False, 2.0, None, "a value is 0"),
        ([1, 0], M.DISTANCE_TO_REFERENCE, True, None, 1, "the reference unit's value is 0"),
        ([1, 0], M.DISTANCE_TO_REFERENCE, False, None, 0, "a value is 0"),
    ],
)
def test_a_ratio_that_divides_by_zero_is_refused_naming_the_indicator(
    values: list[float],
    method: M,
    higher: bool,
    target: float | None,
    reference: int | None,
    reason: str,
) -> None:
    with pytest.raises(InvalidInput) as error:
        run(values, method, higher=higher, target=target, reference_row=reference)
    assert error.value.message.startswith("cannot normalise CPI.P.2 by a ratio")
    assert reason in error.value.message
    assert "minmax" in error.value.message


def test_per_column_arguments_must_match_the_columns() -> None:
    with pytest.raises(InvalidInput, match="1 entries of targets for 2 indicators"):
        normalise(
            np.ones((2, 2)),
            M.MINMAX,
            higher_is_better=[True, True],
            goalposts=[None, None],
            targets=[None],
        )


# --- properties -------------------------------------------------------------------------

ORDERED = [M.MINMAX, M.ZSCORE, M.RANK, M.PERCENTILE_RANK, M.BORDA]


def both_ways(matrix: FloatArray, method: M) -> tuple[FloatArray, FloatArray]:
    cols = matrix.shape[1]
    up, down = (
        normalise(
            matrix,
            method,
            higher_is_better=[way] * cols,
            goalposts=[None] * cols,
            targets=[None] * cols,
        )
        for way in (True, False)
    )
    return up, down


def pairs_in_order(x: FloatArray, y: FloatArray) -> tuple[bool, bool]:
    """(x_i < x_j ⇒ y_i <= y_j for all i, j; x_i < x_j ⇒ y_i >= y_j for all i, j),
    over the cells where x has a value."""
    ok = ~np.isnan(x)
    x, y = x[ok], y[ok]
    lower = x[:, None] < x[None, :]
    keeps = bool((y[:, None] <= y[None, :])[lower].all())
    reverses = bool((y[:, None] >= y[None, :])[lower].all())
    return keeps, reverses


@settings(max_examples=60, deadline=None)
@given(matrices(), st.booleans())
def test_minmax_stays_within_0_and_100(matrix: FloatArray, higher: bool) -> None:
    up, down = both_ways(matrix, M.MINMAX)
    out = up if higher else down
    values = out[~np.isnan(out)]
    assert ((values >= 0) & (values <= 100)).all()


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_percentile_rank_stays_within_0_and_100(matrix: FloatArray) -> None:
    for out in both_ways(matrix, M.PERCENTILE_RANK):
        values = out[~np.isnan(out)]
        assert ((values >= 0) & (values <= 100)).all()


@settings(max_examples=60, deadline=None)
@given(matrices(), st.sampled_from(ORDERED))
def test_higher_is_better_keeps_the_order_and_lower_is_better_reverses_it(
    matrix: FloatArray, method: M
) -> None:
    up, down = both_ways(matrix, method)
    for j in range(matrix.shape[1]):
        assert pairs_in_order(matrix[:, j], up[:, j])[0]
        assert pairs_in_order(matrix[:, j], down[:, j])[1]


@settings(max_examples=60, deadline=None)
@given(
    matrices(missing=False, elements=positive), st.sampled_from([M.DISTANCE_TO_MAX, M.GOALPOSTS])
)
def test_ratio_and_goalpost_methods_keep_the_order(matrix: FloatArray, method: M) -> None:
    cols = matrix.shape[1]
    out = normalise(
        matrix,
        method,
        higher_is_better=[True] * cols,
        goalposts=[(0.0, 1e5)] * cols,
        targets=[None] * cols,
    )
    for j in range(cols):
        assert pairs_in_order(matrix[:, j], out[:, j])[0]


@settings(max_examples=60, deadline=None)
@given(
    matrices(rows=(2, 12), missing=False).filter(lambda m: all(len(set(c)) == len(c) for c in m.T))
)
def test_flipping_the_direction_mirrors_minmax_zscore_and_rank(matrix: FloatArray) -> None:
    n = matrix.shape[0]
    up, down = both_ways(matrix, M.MINMAX)
    np.testing.assert_allclose(down, 100 - up, atol=1e-9)
    up, down = both_ways(matrix, M.ZSCORE)
    np.testing.assert_array_equal(down, -up)
    up, down = both_ways(matrix, M.RANK)
    np.testing.assert_array_equal(down, n + 1 - up)
