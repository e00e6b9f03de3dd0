"""Aggregation: a group's score is a weighted mean of its children's scores, bottom-up.

Every mean is a quasi-arithmetic mean φ⁻¹(Σ wᵢ φ(xᵢ) / Σ wᵢ) over the children a unit has
values for — missing children are skipped and the remaining weights renormalised per unit
("computed from N of M"); a unit with no value in a group gets NaN for it. With
``complete`` (``impute.method: none``) nothing is renormalised: a unit missing any child
that carries weight gets NaN for the group. The means:

- arithmetic: φ(x) = x;
- geometric: φ(x) = log x (a 0 makes the group 0);
- harmonic: φ(x) = 1/x (a 0 makes the group 0);
- generalised (power) mean with exponent p: φ(x) = xᵖ; p = 0 is the geometric mean, p = 1
  the arithmetic, p = −1 the harmonic; for p < 0 a 0 makes the group 0.

All but the arithmetic mean need values >= 0 (log and fractional powers of negatives are
not real, and even powers lose the sign); negative inputs (e.g. z-scores) are refused with
an error naming the group and the child, and the fix.

Means that need positive values (geometric, harmonic, power p <= 0) make a group 0 as soon
as one child is 0 — and min-max and percentile-rank put a 0 on every indicator's worst
unit. So, as in COINr, those normalisations are rescaled from 0–100 to 1–100
(1 + 0.99·x) whenever such a mean is used (:func:`lift_zero`; the run says so).

``aggregate.method`` applies at every depth unless ``aggregate.levels`` gives the depth of
the group being aggregated its own method (0 is the index itself, aggregating the
dimensions; 1 the dimensions, …).

Work is vectorised over units: one numpy expression per group. :func:`aggregate_runs` goes
further for the Monte Carlo: it aggregates many weight vectors at once, the indicator
level as matrix products.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cityos.assessment.result import BoolArray, FloatArray
from cityos.assessment.runconfig import AggregateConfig, AggregateMethod, NormaliseMethod
from cityos.assessment.structure import Structure, label
from cityos.errors import InvalidInput

Method = tuple[AggregateMethod, float]  # a method and its exponent (used by generalised)
Weigh = Callable[[int, FloatArray, FloatArray], FloatArray]

_FIX = (
    "use a normalisation with values >= 0 (normalise.method: minmax, percentile_rank, "
    "goalposts, rank or borda) or aggregate.method: arithmetic"
)


def exponent(method: AggregateMethod, p: float = 1.0) -> float | None:
    """The power-mean exponent of a method: arithmetic 1, harmonic −1, geometric 0
    (None: the log form), generalised ``p``."""
    if method is AggregateMethod.ARITHMETIC:
        return 1.0
    if method is AggregateMethod.HARMONIC:
        return -1.0
    if method is AggregateMethod.GEOMETRIC:
        return 0.0
    return float(p)


def needs_non_negative(method: AggregateMethod, p: float = 1.0) -> bool:
    """Whether a method is only defined for values >= 0 (all but exponent 1)."""
    return exponent(method, p) != 1.0


def needs_positive(method: AggregateMethod, p: float = 1.0) -> bool:
    """Whether a 0 among the children makes the mean 0 (exponent <= 0)."""
    power = exponent(method, p)
    return power is not None and power <= 0.0


ZERO_BASED = (NormaliseMethod.MINMAX, NormaliseMethod.PERCENTILE_RANK)


def lift_zero(
    values: FloatArray, normalisation: NormaliseMethod, methods: Sequence[Method]
) -> tuple[FloatArray, str | None]:
    """``values`` rescaled from 0–100 to 1–100 (1 + 0.99·x) when ``normalisation`` puts a 0
    on each indicator's worst unit and one of ``methods`` needs positive values (COINr's
    convention), with a note saying so; else ``values`` unchanged and None."""
    strict = [m for m in methods if needs_positive(*m)]
    if normalisation not in ZERO_BASED or not strict:
        return values, None
    name = "min-max" if normalisation is NormaliseMethod.MINMAX else "percentile rank"
    note = f"{name} rescaled to 1–100 for the {describe(*strict[0])}"
    return np.asarray(1.0 + 0.99 * values, dtype=np.float64), note


def methods_by_group(
    structure: Structure, config: AggregateConfig, *, default: AggregateMethod | None = None
) -> list[Method]:
    """Each group's method: ``aggregate.levels`` for its depth, else ``default`` (or
    ``aggregate.method``)."""
    base = AggregateMethod(default or config.method)
    out: list[Method] = []
    for g in range(len(structure.groups)):
        depth = int(structure.depth[structure.group_id(g)])
        out.append((AggregateMethod(config.levels.get(depth, base)), float(config.p)))
    return out


def describe(method: AggregateMethod, p: float) -> str:
    if method is AggregateMethod.GENERALISED:
        return f"generalised mean (p = {p:g})"
    return f"{method.value} mean"


# --- one set of weights --------------------------------------------------------------------


def _phi(values: FloatArray, power: float) -> tuple[FloatArray, BoolArray, BoolArray]:
    """φ(values) with missing values as 0, the present mask and the zero mask."""
    present = ~np.isnan(values)
    safe = np.where(present, values, 1.0)
    zero = present & (safe == 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if power == 1.0:
            t = np.where(present, values, 0.0)
        elif power == 0.0:
            t = np.log(np.where(zero, 1.0, safe))
        else:
            t = np.where(zero | ~present, 0.0, safe**power)
    return t, present, zero


def _finish(num: FloatArray, den: FloatArray, hit: BoolArray, power: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = num / den
        if power == 0.0:
            out = np.exp(mean)
        elif power == 1.0:
            out = mean
        else:
            out = mean ** (1.0 / power)
    out = np.where(hit, 0.0, out)
    return np.asarray(np.where(den > 0, out, np.nan), dtype=np.float64)


def weighted_mean(
    values: FloatArray,
    weights: FloatArray,
    method: AggregateMethod,
    p: float = 1.0,
    *,
    complete: bool = False,
) -> FloatArray:
    """The weighted mean of each row of ``values`` (units × children; NaN skipped, weights
    renormalised per row) with ``weights`` (children, or units × children, >= 0). With
    ``complete``, a row missing a child of weight > 0 is NaN instead.

    Values must be >= 0 for every method but the arithmetic (not checked here; see
    :func:`check_non_negative`)."""
    power = exponent(method, p)
    assert power is not None
    t, present, zero = _phi(values, power)
    full = np.broadcast_to(weights, values.shape)
    w = np.where(present, full, 0.0)
    hit = np.asarray((zero & (w > 0)).any(axis=-1) & (power <= 0.0), dtype=np.bool_)
    out = _finish((w * t).sum(axis=-1), w.sum(axis=-1), hit, power)
    if complete:
        gap = (~present & (full > 0)).any(axis=-1)
        out = np.asarray(np.where(gap, np.nan, out), dtype=np.float64)
    return out


def check_non_negative(
    values: FloatArray,
    method: AggregateMethod,
    p: float,
    *,
    group: str,
    children: Sequence[str],
) -> None:
    """Refuse negative values for the means that need values >= 0, naming the child."""
    if not needs_non_negative(method, p):
        return
    low = np.where(np.isnan(values), np.inf, values).min(axis=0, initial=np.inf)
    if (low >= 0).all():
        return
    worst = int(np.argmin(low))
    raise InvalidInput(
        f"group {group} is aggregated with the {describe(method, p)}, which needs values "
        f">= 0, but {children[worst]} has negative values (lowest {low[worst]:.4g}): {_FIX}",
        details={"group": group, "child": children[worst], "method": method.value},
    )


def aggregate_tree(
    values: FloatArray,
    structure: Structure,
    weights: FloatArray,
    methods: Sequence[Method],
    *,
    weigh: Weigh | None = None,
    complete: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """Scores of every node (units × nodes): the indicator columns are ``values`` (units ×
    indicators, NaN missing), each group the mean of its children, deepest groups first.

    ``weights`` holds each node's weight within its parent (nodes, or units × nodes when
    weights vary by unit). ``weigh(group index, children's scores, their weights)``, when
    given, replaces a group's weights as it is reached (PCA weights need the children's
    scores). With ``complete`` a unit missing a weighted child gets NaN for the group (no
    renormalisation). Returns the scores and the weights used (same shape as ``weights``)."""
    n_units = values.shape[0]
    scores = np.full((n_units, structure.n_nodes), np.nan)
    scores[:, : structure.n_indicators] = values
    used = np.array(weights, dtype=np.float64, copy=True)
    for level in structure.levels:
        for g in level:
            kids = structure.children[g]
            child_scores = scores[:, kids]
            if weigh is not None:
                used[..., kids] = weigh(int(g), child_scores, used[..., kids])
            method, p = methods[g]
            check_non_negative(
                child_scores,
                method,
                p,
                group=label(structure.groups[g]),
                children=[label(structure.node(int(k))) for k in kids],
            )
            scores[:, structure.group_id(int(g))] = weighted_mean(
                child_scores, used[..., kids], method, p, complete=complete
            )
    return scores, used


def counted(values: FloatArray, weights: FloatArray) -> tuple[int, int]:
    """How many of a unit's children carried weight and had a value ("N of M")."""
    present = ~np.isnan(values) & (weights > 0)
    return int(present.sum()), int((weights > 0).sum())


# --- many weight vectors at once (Monte Carlo) ----------------------------------------------


def aggregate_runs(
    values: FloatArray,
    structure: Structure,
    weights: FloatArray,
    factors: FloatArray,
    methods: Sequence[Method],
    *,
    complete: bool = False,
) -> FloatArray:
    """The root's score per unit for a batch of runs (units × runs); ``complete`` as in
    :func:`aggregate_tree`.

    Run ``r`` weighs node ``n`` with ``weights[..., n] × factors[n, r]`` (the per-group
    renormalisation cancels in the weighted means, so it is not needed here). ``values``
    are the indicators (units × indicators, values >= 0 where a method needs it — checked
    by the caller). Indicator children enter as matrix products; group children (one
    column per run) as a few elementwise products each."""
    n_units = values.shape[0]
    n_runs = factors.shape[1]
    n_ind = structure.n_indicators
    w2 = np.broadcast_to(weights, (n_units, structure.n_nodes)) if weights.ndim == 2 else None
    transformed: dict[float, tuple[FloatArray, FloatArray, FloatArray]] = {}
    group_scores: dict[int, FloatArray] = {}
    for level in structure.levels:
        for g in level:
            method, p = methods[g]
            power = exponent(method, p)
            assert power is not None
            kids = structure.children[g]
            ind = kids[kids < n_ind]
            sub = kids[kids >= n_ind]
            num = np.zeros((n_units, n_runs))
            den = np.zeros((n_units, n_runs))
            hit = np.zeros((n_units, n_runs))
            gap = np.zeros((n_units, n_runs))
            if ind.size:
                if power not in transformed:
                    t_all, present_all, zero_all = _phi(values, power)
                    transformed[power] = (
                        t_all,
                        present_all.astype(np.float64),
                        zero_all.astype(np.float64),
                    )
                t, present, zero = transformed[power]
                w = w2[:, ind] if w2 is not None else weights[ind][None, :]
                f = factors[ind]
                num += (w * t[:, ind]) @ f
                den += (w * present[:, ind]) @ f
                if power <= 0.0:
                    hit += (w * zero[:, ind]) @ f
                if complete:
                    gap += (w * (1.0 - present[:, ind])) @ f
            for k in sub:
                child = group_scores.pop(int(k))
                wk = (w2[:, k][:, None] if w2 is not None else weights[k]) * factors[k][None, :]
                if complete:
                    gap += wk * np.isnan(child)
                if power == 1.0 and not np.isnan(child).any():  # the common case, cheaper
                    num += wk * child
                    den += wk
                    continue
                t_k, present_k, zero_k = _phi(child, power)
                num += wk * t_k
                den += wk * present_k
                if power <= 0.0:
                    hit += wk * zero_k
            score = _finish(num, den, hit > 0, power)
            if complete:
                score = np.asarray(np.where(gap > 0, np.nan, score), dtype=np.float64)
            group_scores[structure.group_id(int(g))] = score
    return group_scores[structure.group_id(0)]
