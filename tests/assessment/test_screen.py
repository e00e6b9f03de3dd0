"""Screening by data coverage: indicators first, then units over the kept indicators."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment.result import FloatArray
from cityos.assessment.runconfig import ScreenConfig
from cityos.assessment.screen import screen
from cityos.errors import Unprocessable
from tests.assessment.strategies import matrices

NAN = np.nan


def test_indicators_are_screened_first_then_units_over_the_kept_indicators() -> None:
    # 5 units × 3 indicators. CPI.P.2 has 2 of 5 values (40 %): dropped. Over A and C,
    # u4 has 1 of 2 (50 %): dropped; u3 and u5 have 2 of 2 and are kept, though with
    # CPI.P.2 counted they would have had 2 of 3 (66.7 % < 70 %).
    matrix = np.array(
        [
            [1, 1, 1],
            [2, 2, 2],
            [3, NAN, 3],
            [4, NAN, NAN],
            [5, NAN, 5],
        ],
        dtype=float,
    )
    units, indicators, notes = screen(
        matrix,
        ScreenConfig(min_unit_coverage=0.7),
        codes=["A", "CPI.P.2", "C"],
        units=["u1", "u2", "u3", "u4", "u5"],
    )
    assert indicators.tolist() == [True, False, True]
    assert units.tolist() == [True, True, True, False, True]
    assert notes == (
        "dropped indicator CPI.P.2: 40.0 % coverage < 65 %",
        "dropped unit u4: 50.0 % coverage of the 2 kept indicators < 70 %",
        "kept 4 of 5 units and 2 of 3 indicators",
    )


def test_coverage_exactly_at_the_threshold_is_kept() -> None:
    matrix = np.ones((20, 1))
    matrix[13:, 0] = NAN  # 13 of 20 = 65 %
    _, indicators, _ = screen(matrix, ScreenConfig())
    assert indicators.tolist() == [True]


def test_indicators_and_units_without_any_value_are_dropped_whatever_the_threshold() -> None:
    matrix = np.array([[1, NAN], [NAN, NAN], [3, NAN]])
    config = ScreenConfig(min_unit_coverage=0, min_indicator_coverage=0)
    units, indicators, notes = screen(matrix, config)
    assert indicators.tolist() == [True, False]
    assert units.tolist() == [True, False, True]
    assert "dropped indicator column 2: no unit has a value" in notes
    assert "dropped unit row 2: no value for any kept indicator" in notes


def test_screening_out_every_indicator_is_refused_with_the_threshold_to_lower() -> None:
    matrix = np.array([[1, NAN], [NAN, 2], [NAN, NAN]])
    with pytest.raises(Unprocessable) as error:
        screen(matrix, ScreenConfig(), codes=["A", "B"])
    assert error.value.message == (
        "no indicator has 65 % coverage (the best, A, has 33.3 %); "
        "lower screen.min_indicator_coverage or add data"
    )
    assert len(error.value.details) == 2


def test_screening_out_every_unit_is_refused_with_the_threshold_to_lower() -> None:
    # each indicator has 2 of 3 values, but no unit has 3 of 3
    matrix = np.array([[1, 1, NAN], [1, NAN, 1], [NAN, 1, 1]])
    config = ScreenConfig(min_unit_coverage=0.9, min_indicator_coverage=0.5)
    with pytest.raises(Unprocessable) as error:
        screen(matrix, config, units=["x", "y", "z"])
    assert "no unit has 90 % coverage of the 3 kept indicators" in error.value.message
    assert "lower screen.min_unit_coverage or add data" in error.value.message


def test_an_empty_matrix_is_refused() -> None:
    with pytest.raises(Unprocessable, match="nothing to screen"):
        screen(np.empty((0, 3)), ScreenConfig())


@settings(max_examples=60, deadline=None)
@given(
    matrices(rows=(1, 12), cols=(1, 6)),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_screening_keeps_exactly_what_meets_the_coverage(
    matrix: FloatArray, unit_need: float, indicator_need: float
) -> None:
    config = ScreenConfig(min_unit_coverage=unit_need, min_indicator_coverage=indicator_need)
    has = ~np.isnan(matrix)
    try:
        units, indicators, _ = screen(matrix, config)
    except Unprocessable:
        cover = has.mean(axis=0)
        passing = (cover >= indicator_need - 1e-9) & (cover > 0)
        if passing.any():  # then it was the units that all failed
            unit_cover = has[:, passing].mean(axis=1)
            assert not ((unit_cover >= unit_need - 1e-9) & (unit_cover > 0)).any()
        return
    indicator_cover = has.mean(axis=0)
    assert (indicator_cover[indicators] >= indicator_need - 1e-9).all()
    assert (
        (indicator_cover[~indicators] < indicator_need - 1e-12)
        | (indicator_cover[~indicators] == 0)
    ).all()
    unit_cover = has[:, indicators].mean(axis=1)
    assert (unit_cover[units] >= unit_need - 1e-9).all()
    assert (unit_cover[units] > 0).all()
    assert ((unit_cover[~units] < unit_need - 1e-12) | (unit_cover[~units] == 0)).all()
