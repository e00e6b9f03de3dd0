"""Step 3: outlier treatment per indicator, COINr's rule.

An indicator "fails" while |skewness| > ``outliers.skew`` and kurtosis > ``outliers.kurtosis``
(sample skewness and excess kurtosis, see :mod:`stats`). While it fails, the most extreme
value on the side of the skew is winsorised: set to the next value inwards (values tied at
the extreme move together, each counting as a point), the skew re-measured each time, up to
``outliers.winmax`` points, and never so far that every value becomes equal. If it still
fails, the winsorising is undone and the indicator is log-transformed instead, on the side
of its skew as in COINr, with a = (max − min) / 100: for positive skew ``plain`` log(x),
which needs every value > 0, or ``shifted`` log(x − min + a), defined for any values; for
negative skew both use −log(max + a − x), which pulls in the long left tail. Each keeps the
order of the values. The log is kept only when it leaves |skewness| below where the
winsorising left it (and below where it started); otherwise the winsorised values stay
(said in the notes).

An indicator with fewer than 4 values cannot be tested (kurtosis needs 4) and is left as it
is; so is a constant one. Each indicator's action, with skewness and kurtosis before and
after, is a :class:`Treatment`; :func:`treat_with_notes` also words them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cityos.assessment import stats
from cityos.assessment.result import BoolArray, FloatArray, Treatment
from cityos.assessment.runconfig import LogMethod, OutlierConfig, OutlierMethod
from cityos.errors import InvalidInput

MIN_VALUES = 4  # kurtosis needs four values


def _failing(skew: FloatArray, kurt: FloatArray, config: OutlierConfig) -> BoolArray:
    """Columns outside both thresholds (NaN statistics never fail)."""
    with np.errstate(invalid="ignore"):
        return np.asarray((np.abs(skew) > config.skew) & (kurt > config.kurtosis))


def treat(
    matrix: FloatArray, config: OutlierConfig, codes: Sequence[str]
) -> tuple[FloatArray, tuple[Treatment, ...]]:
    """``matrix`` (units × indicators) with outliers treated, and one :class:`Treatment`
    per column (``codes`` names the columns). Plain log of a column with a value <= 0 is an
    :class:`InvalidInput` naming the indicator."""
    treated, treatments, _ = treat_with_notes(matrix, config, codes)
    return treated, treatments


def treat_with_notes(
    matrix: FloatArray, config: OutlierConfig, codes: Sequence[str]
) -> tuple[FloatArray, tuple[Treatment, ...], tuple[str, ...]]:
    """:func:`treat`, plus notes in words for each indicator that was treated or could not
    be tested."""
    m = np.array(stats.as_float(matrix), copy=True)
    if m.ndim != 2:
        raise InvalidInput(f"outlier treatment needs a units × indicators matrix, got {m.ndim}-D")
    if len(codes) != m.shape[1]:
        raise InvalidInput(f"got {len(codes)} indicator codes for {m.shape[1]} columns")
    skew0, kurt0 = stats.skewness(m), stats.kurtosis(m)
    counts = stats.count(m)
    points = np.zeros(m.shape[1], dtype=np.int64)
    logged = np.zeros(m.shape[1], dtype=np.bool_)
    declined = np.zeros(m.shape[1], dtype=np.bool_)  # log tried, not better than winsorising
    if config.method is OutlierMethod.WINSORISE_OR_LOG:
        failing0 = _failing(skew0, kurt0, config)
        winsorised, points = _winsorise(m, failing0, config)
        skew_w = stats.skewness(winsorised)
        still = _failing(skew_w, stats.kurtosis(winsorised), config)
        tried = failing0 & still
        if tried.any():
            names = [codes[int(j)] for j in np.flatnonzero(tried)]
            candidate = _log(m[:, tried], config.log, names, skew0[tried])
            with np.errstate(invalid="ignore"):
                bar = np.minimum(np.abs(skew_w[tried]), np.abs(skew0[tried]))
                better = np.abs(stats.skewness(candidate)) < bar
            logged[np.flatnonzero(tried)[better]] = True
            declined = tried & ~logged
            m = np.array(winsorised, copy=True)
            m[:, logged] = candidate[:, better]
        else:
            m = winsorised
        points = np.where(logged, 0, points)
    skew1, kurt1 = stats.skewness(m), stats.kurtosis(m)
    treatments: list[Treatment] = []
    notes: list[str] = []
    for j, code in enumerate(codes):
        action = "log" if logged[j] else "winsorised" if points[j] else "none"
        item = Treatment(
            indicator=code,
            action=action,
            points=int(points[j]),
            skew_before=float(skew0[j]),
            kurtosis_before=float(kurt0[j]),
            skew_after=float(skew1[j]),
            kurtosis_after=float(kurt1[j]),
        )
        treatments.append(item)
        note = _note(item, int(counts[j]), config, declined=bool(declined[j]))
        if note:
            notes.append(note)
    return m, tuple(treatments), tuple(notes)


def _note(item: Treatment, n: int, config: OutlierConfig, *, declined: bool) -> str | None:
    change = (
        f"skewness {item.skew_before:.2f} → {item.skew_after:.2f}, "
        f"kurtosis {item.kurtosis_before:.2f} → {item.kurtosis_after:.2f}"
    )
    if declined:
        kept = (
            f"kept winsorised ({item.points} {'point' if item.points == 1 else 'points'})"
            if item.points
            else "left as it is"
        )
        return (
            f"{item.indicator}: still skewed after winsorising, but a log transform would "
            f"not reduce its skewness: {kept} ({change})"
        )
    if item.action == "winsorised":
        plural = "point" if item.points == 1 else "points"
        return f"{item.indicator}: winsorised {item.points} {plural} ({change})"
    if item.action == "log":
        if item.skew_before < 0:
            how = "−log(max + a − x), a = (max − min)/100, for negative skew"
        elif config.log is LogMethod.SHIFTED:
            how = "log(x − min + a), a = (max − min)/100"
        else:
            how = "log(x)"
        reason = (
            f"winsorising up to {config.winmax} points was not enough"
            if config.winmax
            else "outliers.winmax is 0"
        )
        return f"{item.indicator}: log-transformed, {how}, as {reason} ({change})"
    if config.method is OutlierMethod.WINSORISE_OR_LOG and n < MIN_VALUES:
        return (
            f"{item.indicator}: not tested for outliers, {n} values "
            f"(skewness and kurtosis need {MIN_VALUES})"
        )
    return None


def _winsorise(
    m: FloatArray, active: BoolArray, config: OutlierConfig
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Winsorise the failing columns (``active``) one extreme at a time, all columns at
    once, while they fail and the next extreme fits within ``winmax`` points (a point is a
    unit whose value was moved, however many times)."""
    out = np.array(m, copy=True)
    moved = np.zeros(m.shape, dtype=np.bool_)
    active = np.array(active, copy=True)
    valid = ~np.isnan(out)
    while active.any():
        cols = np.flatnonzero(active)
        sub = out[:, cols]
        ok = valid[:, cols]
        high = np.asarray(stats.skewness(sub) > 0)
        top, bottom = stats.nanmax(sub), stats.nanmin(sub)
        extreme = np.where(high, top, bottom)
        at_extreme = ok & (sub == extreme)
        inner_high = np.where(ok & (sub < top), sub, -np.inf).max(axis=0)
        inner_low = np.where(ok & (sub > bottom), sub, np.inf).min(axis=0)
        inward = np.where(high, inner_high, inner_low)
        points = moved[:, cols].sum(axis=0)
        size = (at_extreme & ~moved[:, cols]).sum(axis=0)
        # never winsorise an indicator into a constant: it would no longer say anything
        distinct = inward != np.where(high, bottom, top)
        fits = (points + size <= config.winmax) & np.isfinite(inward) & distinct
        if not fits.any():
            break
        sub = np.where(at_extreme & fits, inward, sub)
        out[:, cols] = sub
        moved[:, cols] |= at_extreme & fits
        still = _failing(stats.skewness(sub), stats.kurtosis(sub), config)
        active[cols] = fits & still
    return out, np.asarray(moved.sum(axis=0), dtype=np.int64)


def _log(
    block: FloatArray, method: LogMethod, codes: Sequence[str], skew: FloatArray
) -> FloatArray:
    """Log-transform the columns of ``block`` on the side of their ``skew`` (NaN stays NaN):
    positive skew log(x) (plain) or log(x − min + a) (shifted), negative skew
    −log(max + a − x), with a = (max − min) / 100."""
    low, high = stats.nanmin(block), stats.nanmax(block)
    spread = high - low
    a = np.where(spread > 0, spread / 100.0, 1.0)
    negative = np.asarray(skew < 0)
    if method is LogMethod.PLAIN:
        bad = np.flatnonzero(~negative & (low <= 0))
        if bad.size:
            j = int(bad[0])
            others = f" (and {bad.size - 1} more indicators)" if bad.size > 1 else ""
            raise InvalidInput(
                f"indicator {codes[j]} needs a log transform for its outliers, but its "
                f"smallest value is {low[j]:g} and log(x) needs values > 0{others}: use "
                "outliers.log: shifted (log(x − min + a)), or fix the values",
                details=[{"indicator": codes[int(k)], "minimum": float(low[k])} for k in bad],
            )
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = np.log(block) if method is LogMethod.PLAIN else np.log(block - low + a)
        mirrored = -np.log(high + a - block)
    return np.asarray(np.where(negative[None, :], mirrored, positive), dtype=np.float64)
