"""Denomination: indicators declared "per something" are divided before anything else.

An indicator with ``denominator: {by, per}`` becomes value / d × per, where d is the unit's
attribute ``by`` (``Unit.attributes``: population, area_km2, …) or, when ``by`` names a
column of the data, that indicator's raw value of the same unit and year. A unit without
the denominator (missing, or 0) gets NaN for that indicator and a warning naming it.
Runs on every year of the panel, so interpolation over years sees denominated values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cityos.assessment.framework import Indicator
from cityos.assessment.panel import Unit
from cityos.assessment.result import FloatArray


def denominate(
    values: FloatArray,
    indicators: Sequence[Indicator],
    units: Sequence[Unit],
    *,
    columns: dict[str, FloatArray],
    year_index: int,
) -> tuple[FloatArray, tuple[str, ...], tuple[str, ...]]:
    """``values`` (years × units × indicators, framework order) with every denominated
    indicator divided; ``columns`` maps data column codes to their raw years × units values.
    Returns the values, notes (what was divided by what) and warnings (units without a
    denominator in the year ``year_index``)."""
    out = np.array(values, copy=True)
    notes: list[str] = []
    warnings: list[str] = []
    for j, indicator in enumerate(indicators):
        if indicator.denominator is None:
            continue
        by, per = indicator.denominator.by, float(indicator.denominator.per)
        if by in columns:
            divisor = np.asarray(columns[by], dtype=np.float64)
            source = f"indicator {by}"
        else:
            attribute = np.array([u.attributes.get(by, np.nan) for u in units], dtype=np.float64)
            divisor = np.broadcast_to(attribute, out.shape[:2])
            source = f"unit attribute {by}"
        unusable = np.isnan(divisor) | (divisor == 0)
        has = ~np.isnan(out[:, :, j])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, :, j] = np.where(unusable, np.nan, out[:, :, j] / divisor * per)
        per_text = f" × {per:g}" if per != 1 else ""
        notes.append(f"{indicator.code} divided by {source}{per_text}")
        lost = np.flatnonzero(unusable[year_index] & has[year_index])
        if lost.size and by not in columns and all(by not in u.attributes for u in units):
            warnings.append(
                f"indicator {indicator.code} is per {by}, but no unit has the attribute or "
                f"data column '{by}': its values are left empty; add {by} to the units"
            )
        elif lost.size:
            names = [units[int(i)].code for i in lost[:10]]
            more = f" and {lost.size - 10} more" if lost.size > 10 else ""
            why = "missing or 0"
            warnings.append(
                f"indicator {indicator.code} is per {by}, but {by} is {why} for unit(s) "
                f"{', '.join(names)}{more}: their values are left empty"
            )
    return out, tuple(notes), tuple(warnings)
