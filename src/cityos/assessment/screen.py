"""Step 2: screening by data coverage (the JRC rule of thumb: 65 % per indicator and unit).

Indicators are screened first: an indicator is kept when at least
``screen.min_indicator_coverage`` of the units have a value for it. Units are screened
second, over the kept indicators only: a unit is kept when it has values for at least
``screen.min_unit_coverage`` of them. An indicator or unit without any value is dropped
whatever the thresholds (there is nothing to score). Screening everything out is an error
that says which threshold to lower.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cityos.assessment import stats
from cityos.assessment.result import BoolArray, FloatArray
from cityos.assessment.runconfig import ScreenConfig
from cityos.errors import Unprocessable

# Coverage is a ratio of counts: allow for rounding when it equals the threshold exactly.
_TOLERANCE = 1e-12


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def _threshold(share: float) -> str:
    return f"{share * 100:g} %"


def screen(
    matrix: FloatArray,
    config: ScreenConfig,
    *,
    codes: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
) -> tuple[BoolArray, BoolArray, tuple[str, ...]]:
    """Which units (rows) and indicators (columns) of ``matrix`` have enough data: (kept
    units, kept indicators, notes naming what was dropped and its coverage). ``codes`` and
    ``units`` name the columns and rows in the notes (default: their positions)."""
    m = stats.as_float(matrix)
    if m.ndim != 2:
        raise Unprocessable(f"screening needs a units × indicators matrix, got {m.ndim}-D")
    n_units, n_indicators = m.shape

    def code(j: int | np.integer) -> str:
        j = int(j)
        return codes[j] if codes is not None else f"column {j + 1}"

    def unit(i: int | np.integer) -> str:
        i = int(i)
        return units[i] if units is not None else f"row {i + 1}"

    if n_units == 0 or n_indicators == 0:
        raise Unprocessable(
            f"there is nothing to screen ({n_units} units × {n_indicators} indicators): "
            "add units and indicator values"
        )
    has = ~np.isnan(m)
    need_i, need_u = config.min_indicator_coverage, config.min_unit_coverage
    indicator_cover = has.sum(axis=0) / n_units
    kept_indicators = (indicator_cover + _TOLERANCE >= need_i) & has.any(axis=0)
    notes = [
        f"dropped indicator {code(j)}: {_pct(indicator_cover[j])} coverage < {_threshold(need_i)}"
        if indicator_cover[j] > 0
        else f"dropped indicator {code(j)}: no unit has a value"
        for j in np.flatnonzero(~kept_indicators)
    ]
    if not kept_indicators.any():
        best = int(np.argmax(indicator_cover))
        raise Unprocessable(
            f"no indicator has {_threshold(need_i)} coverage (the best, {code(best)}, has "
            f"{_pct(indicator_cover[best])}); lower screen.min_indicator_coverage or add data",
            details=notes,
        )
    kept_count = int(kept_indicators.sum())
    unit_values = has[:, kept_indicators].sum(axis=1)
    unit_cover = unit_values / kept_count
    kept_units = (unit_cover + _TOLERANCE >= need_u) & (unit_values > 0)
    for i in np.flatnonzero(~kept_units):
        notes.append(
            f"dropped unit {unit(i)}: {_pct(unit_cover[i])} coverage of the {kept_count} "
            f"kept indicators < {_threshold(need_u)}"
            if unit_values[i] > 0
            else f"dropped unit {unit(i)}: no value for any kept indicator"
        )
    if not kept_units.any():
        best = int(np.argmax(unit_cover))
        raise Unprocessable(
            f"no unit has {_threshold(need_u)} coverage of the {kept_count} kept indicators "
            f"(the best, {unit(best)}, has {_pct(unit_cover[best])}); lower "
            "screen.min_unit_coverage or add data",
            details=notes,
        )
    notes.append(
        f"kept {int(kept_units.sum()):,} of {n_units:,} units and {kept_count:,} of "
        f"{n_indicators:,} indicators"
    )
    return kept_units, kept_indicators, tuple(notes)
