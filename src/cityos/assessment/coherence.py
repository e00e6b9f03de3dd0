"""Statistical coherence of the normalised indicators (OECD/JRC Handbook, step 7).

- Pearson correlation between every pair of indicators over the units that have both
  values (pairwise-complete); NaN with fewer than 3 such units or a constant indicator.
- Flags between sibling indicators (direct children of one group): ``redundant`` when
  |r| > ``coherence.redundancy`` (default 0.9: they measure the same thing twice),
  ``negative`` when r < 0 (they pull the group's score apart); a pair can carry both.
- Cronbach's alpha per group over all its indicators:
  α = k / (k − 1) · (1 − Σ var(xᵢ) / var(Σ xᵢ)) over the units with every indicator of the
  group, sample variances. None with fewer than 2 indicators, fewer than 2 complete units,
  or no variance in the total.

All on the kept units and kept indicators; normalised values make every indicator "higher
is better", so a negative r is a real conflict, not a direction artefact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cityos.assessment.result import BoolArray, Coherence, Flag, FloatArray
from cityos.assessment.runconfig import CoherenceConfig
from cityos.assessment.structure import Structure

MIN_PAIRS = 3


def correlation(matrix: FloatArray) -> FloatArray:
    """Pearson r between the columns of ``matrix`` (rows × columns, NaN missing), each pair
    over the rows where both are present."""
    present = ~np.isnan(matrix)
    m = present.astype(np.float64)
    centred = matrix - np.nanmean(np.where(present.any(axis=0), matrix, 0.0), axis=0)
    x = np.where(present, centred, 0.0)
    n = m.T @ m  # pairs present
    sx = x.T @ m  # Σ xᵢ over rows where j is present: [i, j]
    sxx = (x * x).T @ m
    sxy = x.T @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = n * sxy - sx * sx.T
        var_i = n * sxx - sx * sx
        r = cov / np.sqrt(var_i * var_i.T)
    raw = np.where(present, matrix, 0.0)
    size = n * ((raw * raw).T @ m)  # n · Σ vᵢ²: the scale a constant column's variance is 0 on
    flat = var_i <= 1e-10 * size
    undefined = (n < MIN_PAIRS) | flat | flat.T
    r = np.where(undefined | ~np.isfinite(r), np.nan, np.clip(r, -1.0, 1.0))
    np.fill_diagonal(r, np.where(np.isnan(np.diag(r)), np.nan, 1.0))
    return np.asarray(r, dtype=np.float64)


def cronbach_alpha(matrix: FloatArray) -> float | None:
    """Cronbach's alpha of the columns of ``matrix`` over its complete rows (None when
    undefined)."""
    k = matrix.shape[1]
    if k < 2:
        return None
    rows = matrix[~np.isnan(matrix).any(axis=1)]
    if rows.shape[0] < 2:
        return None
    item_var = rows.var(axis=0, ddof=1).sum()
    total_var = rows.sum(axis=1).var(ddof=1)
    if not np.isfinite(total_var) or total_var <= 0:
        return None
    return float(k / (k - 1) * (1.0 - item_var / total_var))


def coherence(
    normalised: FloatArray,
    structure: Structure,
    kept_units: BoolArray,
    kept_indicators: BoolArray,
    config: CoherenceConfig,
) -> Coherence:
    """Correlations, flags and alphas of the kept part of ``normalised`` (units ×
    indicators in framework order)."""
    columns = np.flatnonzero(kept_indicators)
    codes = tuple(structure.codes[j] for j in columns)
    data = normalised[np.ix_(kept_units, columns)]
    r = correlation(data)
    at = {int(j): i for i, j in enumerate(columns)}
    flags: list[Flag] = []
    alpha: dict[str, float | None] = {}
    for g, group in enumerate(structure.groups):
        siblings = [at[int(k)] for k in structure.children[g] if int(k) in at]
        flags.extend(_flags(r, codes, siblings, group.code, config.redundancy))
        inside = [at[int(j)] for j in structure.indicators_under(g) if int(j) in at]
        alpha[group.code] = cronbach_alpha(data[:, inside]) if len(inside) >= 2 else None
    return Coherence(indicators=codes, correlation=r, flags=tuple(flags), alpha=alpha)


def _flags(
    r: FloatArray, codes: Sequence[str], members: Sequence[int], group: str, redundancy: float
) -> list[Flag]:
    out: list[Flag] = []
    for n, i in enumerate(members):
        for j in members[n + 1 :]:
            value = float(r[i, j])
            if np.isnan(value):
                continue
            if abs(value) > redundancy:
                out.append(Flag(group=group, a=codes[i], b=codes[j], r=value, kind="redundant"))
            if value < 0:
                out.append(Flag(group=group, a=codes[i], b=codes[j], r=value, kind="negative"))
    return out
