"""Step 4: normalisation, column by column, making every indicator "higher is better".

Methods (``normalise.method``), for a higher-is-better indicator x / a lower-is-better one:

- ``minmax``: (x − min) / (max − min) × 100 / (max − x) / (max − min) × 100, in [0, 100].
  A constant column (one value, or all equal) gives 50 to every unit with a value.
- ``zscore``: (x − mean) / sd with the sample sd / its negative. A constant column gives 0.
- ``rank``: 1 + the number of units with a worse value (higher is better, so ranks can be
  aggregated: the best of n distinct values gets n); tied units share the lower number.
- ``percentile_rank``: (r − 1) / (n − 1) × 100, r the rank from worst (1) to best (n) with
  ties averaged; in [0, 100]; a constant column or a single value gives 50.
- ``borda``: the number of units with a strictly worse value (= ``rank`` − 1; a tie is not
  a win), as COINr's Borda score.
- ``distance_to_max``: x / max / min / x.
- ``distance_to_reference``: x / x_ref / x_ref / x, x_ref the reference unit's value.
- ``distance_to_target``: x / target / target / x (target 10 of [0, 5, 11] is [0, 0.5, 1.1]).
- ``goalposts``: (x − low) / (high − low) × 100 / (high − x) / (high − low) × 100, clipped to
  [0, 100]; goalposts are (low, high) with low < high in raw units, whatever the direction.

Missing values stay missing. A ratio that would divide by zero, a missing target, goalposts
or reference value is an :class:`InvalidInput` naming the indicator and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cityos.assessment import stats
from cityos.assessment.result import BoolArray, FloatArray
from cityos.assessment.runconfig import NormaliseMethod
from cityos.errors import InvalidInput


def normalise(
    matrix: FloatArray,
    method: NormaliseMethod,
    *,
    higher_is_better: BoolArray | Sequence[bool],
    goalposts: Sequence[tuple[float, float] | None],
    targets: Sequence[float | None],
    reference_row: int | None = None,
    codes: Sequence[str] | None = None,
) -> FloatArray:
    """``matrix`` (units × indicators) normalised by ``method``, higher always better.

    ``higher_is_better``, ``goalposts`` and ``targets`` hold one entry per column (the last
    two are only read by the methods that need them); ``reference_row`` is the row of the
    reference unit for ``distance_to_reference``; ``codes`` names the columns in errors."""
    m = stats.as_float(matrix)
    if m.ndim != 2:
        raise InvalidInput(f"normalisation needs a units × indicators matrix, got {m.ndim}-D")
    n_cols = m.shape[1]
    higher = np.asarray(higher_is_better, dtype=np.bool_)
    for name, size in (
        ("higher_is_better", higher.size),
        ("goalposts", len(goalposts)),
        ("targets", len(targets)),
    ):
        if size != n_cols:
            raise InvalidInput(f"got {size} entries of {name} for {n_cols} indicators")
    names = list(codes) if codes is not None else [f"column {j + 1}" for j in range(n_cols)]
    method = NormaliseMethod(method)
    # Order-based methods work on y, which is higher-is-better for every column.
    y = np.where(higher, m, -m)
    if method is NormaliseMethod.MINMAX:
        return _minmax(m, higher)
    if method is NormaliseMethod.ZSCORE:
        return _zscore(y)
    if method is NormaliseMethod.RANK:
        return stats.rank_min(-y)
    if method is NormaliseMethod.BORDA:
        return stats.rank_min(-y) - 1.0
    if method is NormaliseMethod.PERCENTILE_RANK:
        return _percentile_rank(y)
    if method is NormaliseMethod.GOALPOSTS:
        return _goalposts(m, higher, goalposts, names)
    if method is NormaliseMethod.DISTANCE_TO_MAX:
        return _ratio(m, higher, stats.nanmax(m), stats.nanmin(m), names, "its largest value")
    if method is NormaliseMethod.DISTANCE_TO_TARGET:
        target = _targets(targets, names)
        return _ratio(m, higher, target, target, names, "its target")
    return _reference(m, higher, reference_row, names)


def _minmax(m: FloatArray, higher: BoolArray) -> FloatArray:
    low, high = stats.nanmin(m), stats.nanmax(m)
    span = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(higher, m - low, high - m) / span * 100.0
    constant = np.asarray(span == 0)
    return np.asarray(np.where(constant & ~np.isnan(m), 50.0, scaled), dtype=np.float64)


def _zscore(y: FloatArray) -> FloatArray:
    sd = stats.nanstd(y, ddof=1)
    constant = stats.is_constant(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (y - stats.nanmean(y)) / sd
    return np.asarray(np.where(constant & ~np.isnan(y), 0.0, z), dtype=np.float64)


def _percentile_rank(y: FloatArray) -> FloatArray:
    r = stats.rank_average(-y)  # 1 for the worst, ties averaged
    n = stats.count(y).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pr = (r - 1.0) / (n - 1.0) * 100.0
    return np.asarray(np.where((n == 1) & ~np.isnan(y), 50.0, pr), dtype=np.float64)


def _goalposts(
    m: FloatArray,
    higher: BoolArray,
    goalposts: Sequence[tuple[float, float] | None],
    names: list[str],
) -> FloatArray:
    missing = [names[j] for j, g in enumerate(goalposts) if g is None]
    if missing:
        raise InvalidInput(
            f"goalposts normalisation needs goalposts for every indicator, but "
            f"{_listing(missing)} {'has' if len(missing) == 1 else 'have'} none: add "
            "goalposts: [low, high] to the indicator in the framework, or choose another "
            "normalise.method",
            details=missing,
        )
    posts = np.array([g for g in goalposts if g is not None], dtype=np.float64).reshape(-1, 2)
    low, high = posts[:, 0], posts[:, 1]
    wrong = np.flatnonzero(~(high > low))
    if wrong.size:
        j = int(wrong[0])
        bad = [names[int(k)] for k in wrong]
        raise InvalidInput(
            f"the goalposts of {names[j]} are [{low[j]:g}, {high[j]:g}], but they must be "
            "[low, high] with low < high (the direction says which end is better)",
            details=bad,
        )
    with np.errstate(invalid="ignore"):
        scaled = np.where(higher, m - low, high - m) / (high - low) * 100.0
    return np.asarray(np.clip(scaled, 0.0, 100.0), dtype=np.float64)


def _targets(targets: Sequence[float | None], names: list[str]) -> FloatArray:
    missing = [names[j] for j, t in enumerate(targets) if t is None or np.isnan(t)]
    if missing:
        raise InvalidInput(
            f"distance_to_target normalisation needs a target for every indicator, but "
            f"{_listing(missing)} {'has' if len(missing) == 1 else 'have'} none: add "
            "target: to the indicator in the framework, or choose another normalise.method",
            details=missing,
        )
    return np.array(targets, dtype=np.float64)


def _reference(
    m: FloatArray, higher: BoolArray, reference_row: int | None, names: list[str]
) -> FloatArray:
    if reference_row is None:
        raise InvalidInput(
            "distance_to_reference normalisation needs a reference unit: set "
            "normalise.reference_unit to the code of a unit being assessed"
        )
    if not -m.shape[0] <= reference_row < m.shape[0]:
        raise InvalidInput(
            f"the reference unit's row {reference_row} is outside the {m.shape[0]} units: "
            "set normalise.reference_unit to a unit being assessed"
        )
    reference = m[reference_row]
    gaps = [names[j] for j in np.flatnonzero(np.isnan(reference) & ~np.isnan(m).all(axis=0))]
    if gaps:
        raise InvalidInput(
            f"the reference unit has no value for {_listing(gaps)}: impute its missing "
            "values, choose another normalise.reference_unit, or another normalise.method",
            details=gaps,
        )
    return _ratio(m, higher, reference, reference, names, "the reference unit's value")


def _ratio(
    m: FloatArray,
    higher: BoolArray,
    over: FloatArray,
    under: FloatArray,
    names: list[str],
    what: str,
) -> FloatArray:
    """x / ``over`` for higher-is-better columns, ``under`` / x for lower-is-better ones;
    a zero divisor is an error naming the indicator."""
    has = ~np.isnan(m)
    zero_over = higher & (over == 0) & has.any(axis=0)
    zero_x = ~higher & ((m == 0) & has).any(axis=0)
    if zero_over.any() or zero_x.any():
        j = int(np.flatnonzero(zero_over | zero_x)[0])
        reason = (
            f"{what} is 0"
            if zero_over[j]
            else "it is lower-is-better, so it divides by each value, and a value is 0"
        )
        bad = [names[int(k)] for k in np.flatnonzero(zero_over | zero_x)]
        raise InvalidInput(
            f"cannot normalise {names[j]} by a ratio: {reason}; use minmax, "
            "percentile_rank or goalposts normalisation, or fix the values",
            details=bad,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(higher, m / over, under / m), dtype=np.float64)


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")
