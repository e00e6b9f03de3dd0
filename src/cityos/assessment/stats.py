"""Column-wise statistics that skip missing values (NaN): counts, means, standard deviations,
skewness, kurtosis and ranks, vectorised over the columns of a units × indicators matrix.

Skewness and kurtosis are the *sample* (bias-corrected) values that Excel's SKEW and KURT
and COINr compute; kurtosis is *excess* kurtosis (a normal distribution has 0). They are NaN
when undefined: fewer than 3 (skewness) or 4 (kurtosis) values, or every value equal.

Every function takes a 1-D array (one column) or a 2-D array (rows × columns) and works
down the columns; column statistics of a 1-D input are 0-d arrays (``float(...)`` them).
None of them warns on empty or all-missing columns: they answer NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cityos.assessment.result import BoolArray, FloatArray

ArrayLike = npt.ArrayLike


def as_float(x: ArrayLike) -> FloatArray:
    """``x`` as a float64 array (a copy only when needed)."""
    return np.asarray(x, dtype=np.float64)


def count(x: ArrayLike) -> npt.NDArray[np.int64]:
    """How many values (not NaN) each column holds."""
    return np.asarray(np.sum(~np.isnan(as_float(x)), axis=0), dtype=np.int64)


def nanmean(x: ArrayLike) -> FloatArray:
    """The mean of each column's values; NaN for a column without values."""
    a = as_float(x)
    valid = ~np.isnan(a)
    n = valid.sum(axis=0)
    total = np.where(valid, a, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(n > 0, total / np.maximum(n, 1), np.nan), dtype=np.float64)


def nanstd(x: ArrayLike, ddof: int = 1) -> FloatArray:
    """The standard deviation of each column (sample, ``ddof=1``, by default); NaN when a
    column has ``ddof`` values or fewer."""
    a = as_float(x)
    valid = ~np.isnan(a)
    n = valid.sum(axis=0)
    d = np.where(valid, a - nanmean(a), 0.0)
    m2 = (d * d).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = m2 / (n - ddof)
    return np.asarray(np.where(n > ddof, np.sqrt(np.maximum(var, 0.0)), np.nan))


def nanmin(x: ArrayLike) -> FloatArray:
    """The smallest value of each column; NaN for a column without values."""
    a = as_float(x)
    valid = ~np.isnan(a)
    low = np.where(valid, a, np.inf).min(axis=0, initial=np.inf)
    return np.asarray(np.where(valid.any(axis=0), low, np.nan), dtype=np.float64)


def nanmax(x: ArrayLike) -> FloatArray:
    """The largest value of each column; NaN for a column without values."""
    a = as_float(x)
    valid = ~np.isnan(a)
    high = np.where(valid, a, -np.inf).max(axis=0, initial=-np.inf)
    return np.asarray(np.where(valid.any(axis=0), high, np.nan), dtype=np.float64)


def is_constant(x: ArrayLike) -> BoolArray:
    """Whether each column's values are all equal (True also for one value; False for none)."""
    a = as_float(x)
    return np.asarray(nanmax(a) == nanmin(a), dtype=np.bool_)


def _central_moments(
    a: FloatArray,
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, FloatArray]:
    """Per column: the count and the sums of squared, cubed and fourth-power deviations."""
    valid = ~np.isnan(a)
    n = valid.sum(axis=0).astype(np.int64)
    d = np.where(valid, a - nanmean(a), 0.0)
    d2 = d * d
    return n, d2.sum(axis=0), (d2 * d).sum(axis=0), (d2 * d2).sum(axis=0)


def skewness(x: ArrayLike) -> FloatArray:
    """Sample skewness per column, as Excel SKEW: n / ((n−1)(n−2)) · Σ((x − mean) / s)³ with
    s the sample standard deviation. NaN with fewer than 3 values or a constant column."""
    a = as_float(x)
    n, m2, m3, _ = _central_moments(a)
    nf = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.sqrt(m2 / (nf - 1))
        value = nf / ((nf - 1) * (nf - 2)) * m3 / s**3
    ok = (n >= 3) & ~is_constant(a)
    return np.asarray(np.where(ok, value, np.nan), dtype=np.float64)


def kurtosis(x: ArrayLike) -> FloatArray:
    """Sample excess kurtosis per column, as Excel KURT:
    n(n+1) / ((n−1)(n−2)(n−3)) · Σ((x − mean) / s)⁴ − 3(n−1)² / ((n−2)(n−3)).
    NaN with fewer than 4 values or a constant column."""
    a = as_float(x)
    n, m2, _, m4 = _central_moments(a)
    nf = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s2 = m2 / (nf - 1)
        head = nf * (nf + 1) / ((nf - 1) * (nf - 2) * (nf - 3))
        tail = 3 * (nf - 1) ** 2 / ((nf - 2) * (nf - 3))
        value = head * m4 / (s2 * s2) - tail
    ok = (n >= 4) & ~is_constant(a)
    return np.asarray(np.where(ok, value, np.nan), dtype=np.float64)


def _ranks(x: ArrayLike, *, average: bool) -> FloatArray:
    """Ranks down each column, 1 for the highest value; ties share their lowest rank
    (``average=False``) or the mean of the ranks they span (``average=True``)."""
    a = as_float(x)
    if a.ndim not in (1, 2):
        raise ValueError(f"ranks need a 1-D or 2-D array, not {a.ndim}-D")
    if a.shape[0] == 0:
        return np.array(a, copy=True)
    # Work along the last axis of a contiguous columns × rows copy: sorting is faster there.
    key = np.ascontiguousarray(-(a[None, :] if a.ndim == 1 else a.T))  # NaN sorts last
    rows = key.shape[1]
    order = np.argsort(key, axis=1)  # ties get equal ranks, so the sort need not be stable
    ordered = np.take_along_axis(key, order, axis=1)
    position = np.broadcast_to(np.arange(rows), key.shape)
    starts = np.ones(key.shape, dtype=np.bool_)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    ranked = first.astype(np.float64) + 1.0
    if average:
        ends = np.ones(key.shape, dtype=np.bool_)
        ends[:, :-1] = ordered[:, :-1] != ordered[:, 1:]
        last = np.minimum.accumulate(np.where(ends, position, rows - 1)[:, ::-1], axis=1)
        ranked = (first + last[:, ::-1]) / 2.0 + 1.0
    out = np.empty(key.shape, dtype=np.float64)
    np.put_along_axis(out, order, ranked, axis=1)
    out[np.isnan(key)] = np.nan
    return out[0] if a.ndim == 1 else out.T


def rank_min(x: ArrayLike) -> FloatArray:
    """Ranks down each column: 1 is the highest value, tied values share the lowest
    (best) rank among them ("min" ranks: 10, 20, 20, 5 → 3, 1, 1, 4), NaN stays NaN and
    is not counted. For "lower is better" pass ``-x``."""
    return _ranks(x, average=False)


def rank_average(x: ArrayLike) -> FloatArray:
    """Ranks down each column like :func:`rank_min` (1 is the highest) but tied values get
    the mean of the ranks they span (10, 20, 20, 5 → 3, 1.5, 1.5, 4)."""
    return _ranks(x, average=True)
