"""Step 1: fill missing values of one year (imputation), or leave them for the aggregation.

Observed values are never changed; only missing cells (NaN) are filled. Methods
(``impute.method``):

- ``none``: no imputation; a missing value leaves the group without a score (the
  aggregation does not renormalise: a unit missing a child gets NaN for that group).
- ``mean`` / ``median``: each indicator's mean / median over the units of that year.
- ``group_mean`` / ``group_median``: the same within the unit's group (``impute.group_by``,
  e.g. the region); a group with no value for the indicator, or a unit without a group,
  falls back to the overall mean / median (counted in the notes).
- ``interpolate``: linear in time between the nearest earlier and later observed years of
  the same unit and indicator; before the first / after the last observed year the nearest
  observed value is carried (counted in the notes); a cell with no value in any year stays
  missing.
- ``drop_renormalise`` (the default): nothing is filled; the aggregation skips missing
  values and renormalises the remaining weights per unit ("computed from N of M").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cityos.assessment import stats
from cityos.assessment.result import BoolArray, FloatArray
from cityos.assessment.runconfig import ImputeConfig, ImputeMethod
from cityos.errors import InvalidInput

_WORDS = {
    ImputeMethod.MEAN: "mean",
    ImputeMethod.MEDIAN: "median",
    ImputeMethod.GROUP_MEAN: "group mean",
    ImputeMethod.GROUP_MEDIAN: "group median",
}


def impute(
    panel_values: FloatArray,
    year_index: int,
    config: ImputeConfig,
    groups: Sequence[str | None],
    *,
    years: Sequence[int] | None = None,
    codes: Sequence[str] | None = None,
) -> tuple[FloatArray, tuple[str, ...]]:
    """The units × indicators matrix of year ``year_index`` of ``panel_values`` (years ×
    units × indicators) with missing cells filled by ``config.method``, and notes saying
    how many cells were filled and how.

    ``groups`` holds each unit's group (None: no group) for the group methods; ``years``
    the panel's years, so interpolation weighs uneven gaps (default: evenly spaced);
    ``codes`` the indicator codes, to name indicators in the notes."""
    values = stats.as_float(panel_values)
    if values.ndim != 3:
        raise InvalidInput(f"imputation needs years × units × indicators, got {values.ndim}-D")
    n_years = values.shape[0]
    if not -n_years <= year_index < n_years:
        raise InvalidInput(f"year index {year_index} is outside the panel's {n_years} years")
    matrix = np.array(values[year_index], copy=True)
    missing = np.isnan(matrix)
    total = f"{matrix.size:,}"
    method = ImputeMethod(config.method)
    if method in (ImputeMethod.NONE, ImputeMethod.DROP_RENORMALISE):
        gap = int(missing.sum())
        if method is ImputeMethod.NONE:
            return matrix, (
                f"no imputation: {gap:,} of {total} cells left missing; a unit missing a "
                "value has no score for that group",
            )
        return matrix, (
            f"left {gap:,} of {total} cells missing; the aggregation renormalises the "
            "weights of each unit over the indicators it has",
        )
    if method is ImputeMethod.INTERPOLATE:
        filled, beyond = _interpolate(values, year_index, years)
    elif method in (ImputeMethod.MEAN, ImputeMethod.MEDIAN):
        filled = _by_column(matrix, median=method is ImputeMethod.MEDIAN)
        beyond = 0
    else:
        filled, beyond = _by_group(matrix, method, config, groups)
    out = np.where(missing, filled, matrix)
    done = int((missing & ~np.isnan(out)).sum())
    notes = [f"imputed {done:,} of {total} cells by {_describe(method, config)}"]
    if method is ImputeMethod.INTERPOLATE and beyond:
        notes.append(
            f"{beyond:,} of them lie before the first or after the last observed year and "
            "took the nearest observed year's value"
        )
    elif beyond:
        word = "median" if method is ImputeMethod.GROUP_MEDIAN else "mean"
        notes.append(
            f"{beyond:,} of them used the overall {word} (their unit has no group, or its "
            "group has no value for the indicator)"
        )
    left = np.isnan(out)
    if left.any():
        notes.append(_left_note(left, codes, method))
    return out, tuple(notes)


def _describe(method: ImputeMethod, config: ImputeConfig) -> str:
    if method is ImputeMethod.INTERPOLATE:
        return "linear interpolation over years"
    text = _WORDS[method]
    if method in (ImputeMethod.GROUP_MEAN, ImputeMethod.GROUP_MEDIAN):
        text += f" (group: {config.group_by or 'group'})"
    return text


def _left_note(left: BoolArray, codes: Sequence[str] | None, method: ImputeMethod) -> str:
    empty = np.flatnonzero(left.all(axis=0)) if left.shape[0] else np.array([], dtype=int)
    text = f"{int(left.sum()):,} cells stay missing"
    if method is ImputeMethod.INTERPOLATE:
        text += " (no value in any year for that unit and indicator)"
    if empty.size:
        names = [codes[j] if codes is not None else f"column {j + 1}" for j in empty[:10]]
        more = f" and {empty.size - 10} more" if empty.size > 10 else ""
        text += f"; no unit has a value for {', '.join(names)}{more}"
    return text


def _by_column(matrix: FloatArray, *, median: bool) -> FloatArray:
    """Each column's mean or median, broadcast to the matrix's shape."""
    if not median:
        centre = stats.nanmean(matrix)
    else:
        centre = np.full(matrix.shape[1], np.nan)
        has = stats.count(matrix) > 0
        if has.any():
            centre[has] = np.nanmedian(matrix[:, has], axis=0)
    return np.broadcast_to(centre, matrix.shape)


def _by_group(
    matrix: FloatArray,
    method: ImputeMethod,
    config: ImputeConfig,
    groups: Sequence[str | None],
) -> tuple[FloatArray, int]:
    """Each unit's group mean/median per column, falling back to the overall value; and how
    many missing cells took the fallback."""
    name = "group_mean" if method is ImputeMethod.GROUP_MEAN else "group_median"
    overall = "mean" if method is ImputeMethod.GROUP_MEAN else "median"
    if len(groups) != matrix.shape[0] and any(g is not None for g in groups):
        raise InvalidInput(
            f"impute.method {name} got groups for {len(groups)} units but the data has "
            f"{matrix.shape[0]}: give every unit its group"
        )
    if not any(g is not None for g in groups):
        what = f"'{config.group_by}'" if config.group_by else "group"
        raise InvalidInput(
            f"impute.method {name} needs a group for the units, but none has a {what}: "
            f"give the units a {what} (impute.group_by names the unit attribute) or use "
            f"impute.method: {overall}"
        )
    median = method is ImputeMethod.GROUP_MEDIAN
    fallback = _by_column(matrix, median=median)
    filled = np.array(fallback, copy=True)
    used_group = np.zeros(matrix.shape, dtype=np.bool_)
    labels = np.array([g if g is not None else "" for g in groups], dtype=object)
    named = np.array([g is not None for g in groups])
    for label in dict.fromkeys(g for g in groups if g is not None):
        rows = named & (labels == label)
        centre = _by_column(matrix[rows], median=median)[0]
        has = ~np.isnan(centre)
        filled[np.ix_(rows, has)] = centre[has]
        used_group[np.ix_(rows, has)] = True
    missing = np.isnan(matrix)
    beyond = int((missing & ~used_group & ~np.isnan(filled)).sum())
    return filled, beyond


def _interpolate(
    values: FloatArray, year_index: int, years: Sequence[int] | None
) -> tuple[FloatArray, int]:
    """Linear interpolation at ``year_index`` per unit × indicator from the nearest observed
    years on either side; the nearest observed value beyond the ends. Also how many cells
    were filled from one side only."""
    n_years = values.shape[0]
    t = np.arange(n_years, dtype=np.float64) if years is None else np.asarray(years, float)
    if t.shape != (n_years,):
        raise InvalidInput(f"got {t.size} years for a panel of {n_years} years")
    k = year_index % n_years
    observed = ~np.isnan(values)
    position = np.arange(n_years)[:, None, None]
    before = np.where(observed[: k + 1], position[: k + 1], -1).max(axis=0)
    after = np.where(observed[k:], position[k:], n_years).min(axis=0)
    has_before, has_after = before >= 0, after < n_years
    lo, hi = np.clip(before, 0, n_years - 1), np.clip(after, 0, n_years - 1)
    v_lo = np.take_along_axis(values, lo[None], axis=0)[0]
    v_hi = np.take_along_axis(values, hi[None], axis=0)[0]
    t_lo, t_hi = t[lo], t[hi]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(t_hi > t_lo, (t[k] - t_lo) / (t_hi - t_lo), 0.0)
    both = v_lo + share * (v_hi - v_lo)
    filled = np.where(
        has_before & has_after,
        both,
        np.where(has_before, v_lo, np.where(has_after, v_hi, np.nan)),
    )
    missing = ~observed[k]
    beyond = int((missing & (has_before ^ has_after)).sum())
    return filled, beyond
