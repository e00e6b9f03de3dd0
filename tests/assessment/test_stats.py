"""Column-wise statistics: Excel's SKEW and KURT, NaN-aware helpers, ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment import stats
from cityos.assessment.result import FloatArray
from tests.assessment.strategies import columns, matrices

NAN = np.nan


def test_skewness_matches_excel_skew_on_a_closed_form_example() -> None:
    # mean 4, deviations −3 −2 −1 0 6: Σd² = 50, s² = 12.5, Σd³ = 180;
    # SKEW = 5 / (4·3) · 180 / 12.5^1.5 = 6 / √12.5 = 1.2·√2 (Excel: 1.697056275)
    assert float(stats.skewness([1, 2, 3, 4, 10])) == pytest.approx(1.2 * math.sqrt(2))


def test_kurtosis_is_excess_kurtosis_as_excel_kurt() -> None:
    # Σd⁴ = 1394, s⁴ = 156.25: KURT = 5·6 / (4·3·2) · 1394 / 156.25 − 3·4² / (3·2) = 3.152
    assert float(stats.kurtosis([1, 2, 3, 4, 10])) == pytest.approx(3.152)
    # a uniform run 1..5: Excel KURT = −1.2, SKEW = 0
    assert float(stats.kurtosis([1, 2, 3, 4, 5])) == pytest.approx(-1.2)
    assert float(stats.skewness([1, 2, 3, 4, 5])) == pytest.approx(0.0)


def test_skewness_and_kurtosis_skip_missing_values_column_by_column() -> None:
    matrix = np.array([[1, 5], [2, NAN], [NAN, 1], [3, 2], [4, 3], [10, 4]], dtype=float)
    assert stats.skewness(matrix) == pytest.approx([1.2 * math.sqrt(2), 0.0])
    assert stats.kurtosis(matrix) == pytest.approx([3.152, -1.2])


def test_undefined_moments_are_nan_without_warnings() -> None:
    matrix = np.array([[1, 7, NAN], [2, 7, NAN], [3, 7, 1.0]])
    assert np.isnan(stats.kurtosis(matrix)).all()  # 3 values: kurtosis needs 4
    skew = stats.skewness(matrix)
    assert skew[0] == pytest.approx(0.0)
    assert np.isnan(skew[1])  # constant
    assert np.isnan(skew[2])  # one value
    assert np.isnan(stats.skewness([0.1, 0.1, 0.1, 0.1]))  # equal values, however rounded


def test_mean_std_min_max_are_nan_for_empty_columns() -> None:
    matrix = np.array([[1.0, NAN], [3.0, NAN]])
    assert stats.nanmean(matrix)[0] == 2.0
    assert stats.nanstd(matrix)[0] == pytest.approx(math.sqrt(2))
    assert stats.nanmin(matrix)[0] == 1.0
    assert stats.nanmax(matrix)[0] == 3.0
    for column in (stats.nanmean, stats.nanstd, stats.nanmin, stats.nanmax):
        assert np.isnan(column(matrix)[1])
    assert stats.count(matrix).tolist() == [2, 0]
    assert stats.is_constant(matrix).tolist() == [False, False]
    assert bool(stats.is_constant([4.0, NAN, 4.0]))


def test_rank_min_gives_one_to_the_highest_and_ties_share_the_best_rank() -> None:
    assert stats.rank_min([10, 20, 20, 5, NAN]).tolist()[:4] == [3, 1, 1, 4]
    assert np.isnan(stats.rank_min([10, 20, 20, 5, NAN])[4])


def test_rank_min_works_down_each_column_of_a_matrix() -> None:
    matrix = np.array([[1, 9], [3, NAN], [2, 9], [NAN, 1]], dtype=float)
    ranks = stats.rank_min(matrix)
    np.testing.assert_array_equal(ranks, [[3, 1], [1, NAN], [2, 1], [NAN, 3]])


def test_rank_average_averages_the_ranks_of_ties() -> None:
    assert stats.rank_average([10, 20, 20, 5]).tolist() == [3, 1.5, 1.5, 4]
    assert stats.rank_average([7, 7, 7]).tolist() == [2, 2, 2]


def test_ranks_of_an_empty_column_are_empty() -> None:
    assert stats.rank_min(np.array([])).shape == (0,)
    assert np.isnan(stats.rank_min([NAN, NAN])).all()


@settings(max_examples=60, deadline=None)
@given(matrices(rows=(1, 10), cols=(1, 4)))
def test_rank_min_is_one_plus_the_number_of_higher_values(matrix: FloatArray) -> None:
    ranks = stats.rank_min(matrix)
    for j in range(matrix.shape[1]):
        column = matrix[:, j]
        for i, value in enumerate(column):
            if np.isnan(value):
                assert np.isnan(ranks[i, j])
            else:
                assert ranks[i, j] == 1 + np.sum(column[~np.isnan(column)] > value)


@settings(max_examples=60, deadline=None)
@given(matrices(rows=(1, 10), cols=(1, 4)))
def test_average_ranks_sum_like_distinct_ranks(matrix: FloatArray) -> None:
    ranks = stats.rank_average(matrix)
    n = (~np.isnan(matrix)).sum(axis=0)
    assert np.nansum(ranks, axis=0) == pytest.approx(n * (n + 1) / 2)


@settings(max_examples=60, deadline=None)
@given(columns(size=(4, 15)), st.floats(0.5, 20), st.floats(-100, 100))
def test_skewness_ignores_scale_and_shift_and_flips_with_the_sign(
    column: FloatArray, scale: float, shift: float
) -> None:
    skew, kurt = float(stats.skewness(column)), float(stats.kurtosis(column))
    if np.isnan(skew) or np.ptp(column) < 1e-3 * max(1.0, float(np.abs(column).max())):
        return  # constant or nearly: rounding dominates
    moved = column * scale + shift
    assert float(stats.skewness(moved)) == pytest.approx(skew, rel=1e-6, abs=1e-6)
    assert float(stats.kurtosis(moved)) == pytest.approx(kurt, rel=1e-6, abs=1e-6)
    assert float(stats.skewness(-column)) == pytest.approx(-skew, rel=1e-9, abs=1e-9)
