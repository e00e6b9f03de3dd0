"""Imputation of one year's missing values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment.impute import impute
from cityos.assessment.result import FloatArray
from cityos.assessment.runconfig import ImputeConfig, ImputeMethod
from cityos.errors import InvalidInput
from tests.assessment.strategies import matrices

NAN = np.nan


def one_year(matrix: list[list[float]]) -> FloatArray:
    return np.array([matrix], dtype=float)


def test_none_leaves_missing_cells_and_says_how_many() -> None:
    values = one_year([[1, NAN], [2, 3]])
    out, notes = impute(values, 0, ImputeConfig(method=ImputeMethod.NONE), [None, None])
    np.testing.assert_array_equal(out, values[0])
    assert notes == (
        "no imputation: 1 of 4 cells left missing; a unit missing a value has no score for "
        "that group",
    )


def test_drop_renormalise_leaves_missing_cells_for_the_aggregation() -> None:
    values = one_year([[1, NAN], [2, 3]])
    config = ImputeConfig(method=ImputeMethod.DROP_RENORMALISE)
    out, notes = impute(values, 0, config, [None, None])
    np.testing.assert_array_equal(out, values[0])
    assert "left 1 of 4 cells missing" in notes[0]
    assert "renormalises" in notes[0]


def test_mean_fills_each_indicator_with_its_mean_over_units() -> None:
    values = one_year([[1, 10], [NAN, 20], [5, NAN], [6, 60]])
    out, notes = impute(values, 0, ImputeConfig(method=ImputeMethod.MEAN), [None] * 4)
    np.testing.assert_array_equal(out, [[1, 10], [4, 20], [5, 30], [6, 60]])
    assert notes == ("imputed 2 of 8 cells by mean",)


def test_median_fills_each_indicator_with_its_median_over_units() -> None:
    values = one_year([[1, 10], [NAN, 20], [5, NAN], [6, 60]])
    out, _ = impute(values, 0, ImputeConfig(method=ImputeMethod.MEDIAN), [None] * 4)
    np.testing.assert_array_equal(out, [[1, 10], [5, 20], [5, 20], [6, 60]])


def test_an_indicator_without_values_stays_missing_and_is_named() -> None:
    values = one_year([[1, NAN], [NAN, NAN], [3, NAN]])
    config = ImputeConfig(method=ImputeMethod.MEDIAN)
    out, notes = impute(values, 0, config, [None] * 3, codes=["A", "B"])
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3])
    assert np.isnan(out[:, 1]).all()
    assert notes[0] == "imputed 1 of 6 cells by median"
    assert notes[-1] == "3 cells stay missing; no unit has a value for B"


def test_group_median_uses_the_units_group_and_falls_back_to_the_overall_median() -> None:
    values = one_year([[1, 100], [3, NAN], [NAN, 7], [10, 8], [NAN, 9], [NAN, NAN]])
    groups = ["north", "north", "north", "south", "south", None]
    config = ImputeConfig(method=ImputeMethod.GROUP_MEDIAN, group_by="region")
    out, notes = impute(values, 0, config, groups)
    # north: A median 2, B median 53.5; south: A 10, B median 8.5;
    # the unit without a group takes the overall medians (A 3, B 8.5)
    np.testing.assert_array_equal(out, [[1, 100], [3, 53.5], [2, 7], [10, 8], [10, 9], [3, 8.5]])
    assert notes[0] == "imputed 5 of 12 cells by group median (group: region)"
    assert notes[1].startswith("2 of them used the overall median")


def test_group_mean_falls_back_when_the_group_has_no_value() -> None:
    values = one_year([[NAN, 1], [NAN, 3], [4, 5], [8, NAN]])
    config = ImputeConfig(method=ImputeMethod.GROUP_MEAN)
    out, notes = impute(values, 0, config, ["a", "a", "b", "b"])
    np.testing.assert_array_equal(out, [[6, 1], [6, 3], [4, 5], [8, 5]])
    assert notes == (
        "imputed 3 of 8 cells by group mean (group: group)",
        "2 of them used the overall mean (their unit has no group, or its group has no "
        "value for the indicator)",
    )


@pytest.mark.parametrize("method", [ImputeMethod.GROUP_MEAN, ImputeMethod.GROUP_MEDIAN])
def test_group_imputation_without_groups_is_refused_with_the_fix(method: ImputeMethod) -> None:
    values = one_year([[1, NAN], [2, 3]])
    config = ImputeConfig(method=method, group_by="region")
    for groups in ([], [None, None]):
        with pytest.raises(InvalidInput) as error:
            impute(values, 0, config, groups)
        assert f"impute.method {method.value} needs a group" in error.value.message
        assert "'region'" in error.value.message
        assert "impute.method: m" in error.value.message  # the mean/median alternative


def test_group_imputation_with_groups_for_other_units_is_refused() -> None:
    config = ImputeConfig(method=ImputeMethod.GROUP_MEAN)
    with pytest.raises(InvalidInput, match="groups for 1 units but the data has 2"):
        impute(one_year([[1.0], [NAN]]), 0, config, ["a"])


def test_interpolate_is_linear_over_uneven_years() -> None:
    # years 2010, 2012, 2016: the 2012 value lies a third of the way from 2010 to 2016
    values = np.array([[[3.0]], [[NAN]], [[9.0]]])
    config = ImputeConfig(method=ImputeMethod.INTERPOLATE)
    out, notes = impute(values, 1, config, [None], years=[2010, 2012, 2016])
    assert out[0, 0] == pytest.approx(5.0)
    assert notes == ("imputed 1 of 1 cells by linear interpolation over years",)
    evenly, _ = impute(values, 1, config, [None])
    assert evenly[0, 0] == pytest.approx(6.0)


def test_interpolate_carries_the_nearest_value_beyond_the_observed_years() -> None:
    # unit 0 observed only before, unit 1 only after, unit 2 never
    values = np.array(
        [[[1.0], [NAN], [NAN]], [[2.0], [NAN], [NAN]], [[NAN], [7.0], [NAN]]],
    )
    config = ImputeConfig(method=ImputeMethod.INTERPOLATE)
    out, notes = impute(values, 1, config, [None] * 3)
    assert out[0, 0] == 2.0  # observed: unchanged
    assert out[1, 0] == 7.0  # nearest later value
    assert np.isnan(out[2, 0])
    assert notes[0] == "imputed 1 of 3 cells by linear interpolation over years"
    assert notes[1].startswith("1 of them lie before the first or after the last")
    assert notes[2].startswith("1 cells stay missing (no value in any year")
    last, _ = impute(values, 2, config, [None] * 3)
    assert last[:, 0].tolist()[:2] == [2.0, 7.0]


def test_a_year_outside_the_panel_is_refused() -> None:
    with pytest.raises(InvalidInput, match="outside the panel's 1 years"):
        impute(one_year([[1.0]]), 3, ImputeConfig(), [None])


@st.composite
def panels(draw: st.DrawFn) -> tuple[FloatArray, int]:
    years = draw(st.integers(min_value=1, max_value=4))
    layers = [draw(matrices(rows=(3, 3), cols=(2, 2))) for _ in range(years)]
    return np.stack(layers), draw(st.integers(min_value=0, max_value=years - 1))


@settings(max_examples=60, deadline=None)
@given(panels(), st.sampled_from(list(ImputeMethod)))
def test_imputation_never_changes_observed_cells(
    panel: tuple[FloatArray, int], method: ImputeMethod
) -> None:
    values, year = panel
    out, notes = impute(values, year, ImputeConfig(method=method), ["a", "b", None])
    observed = ~np.isnan(values[year])
    np.testing.assert_array_equal(out[observed], values[year][observed])
    assert notes
    if method in (ImputeMethod.NONE, ImputeMethod.DROP_RENORMALISE):
        np.testing.assert_array_equal(np.isnan(out), ~observed)
    else:  # filled cells lie within the values they came from
        filled = ~observed & ~np.isnan(out)
        if filled.any():
            low, high = np.nanmin(values), np.nanmax(values)
            slack = 1e-9 * max(abs(low), abs(high), 1.0)
            assert (out[filled] >= low - slack).all()
            assert (out[filled] <= high + slack).all()
