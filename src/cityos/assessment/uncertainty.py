"""Uncertainty and sensitivity analysis by Monte Carlo (OECD/JRC Handbook, step 8).

Each run draws three input factors at once:

- weights: every node's weight × U(1 − noise, 1 + noise), independently, then renormalised
  within its group (``uncertainty.weight_noise``, default ±25 %);
- normalisation: one of ``uncertainty.normalisations``;
- aggregation: one of ``uncertainty.aggregations``; it replaces ``aggregate.method`` while
  the per-depth ``aggregate.levels`` stay pinned.

A normalisation that yields negative values cannot feed a mean that needs values >= 0
(e.g. z-scores into the geometric mean); such pairs are left out and said so in the notes,
and each run draws uniformly among the valid (normalisation, aggregation) pairs — so the two
choice factors are independent only when no pair is left out. Min-max and percentile-rank
values are rescaled to 1–100 for the pairs whose aggregation needs positive values (as in
the nominal run, see ``aggregate.lift_zero``), so that a 0 on each indicator's worst unit
does not zero whole groups. With ``impute.method: none`` a unit missing a value gets no
score for its groups in every run (``complete``). A run of ``units × runs`` above
20,000,000 is refused (:func:`check_work`). Draws come from one generator
seeded with ``uncertainty.seed``, all before any run, so results do not depend on batching.

Per unit the runs give the median rank, the 5th and 95th percentile ranks and the 5th,
50th and 95th percentile scores (scores of different normalisations are on different
scales: read the score band as indicative, the rank band as the result).

Sensitivity: the output of a run is Y = the mean absolute rank shift of the units against
the nominal ranking. The first-order index of a factor Xᵢ is Sᵢ = Var(E[Y | Xᵢ]) / Var(Y),
estimated as the bias-adjusted correlation ratio ε² = (SS_between − (J − 1)·MS_within) /
SS_total over J classes of runs, clipped to [0, 1]: classes are the options drawn for the
normalisation and the aggregation factors; for the weights — a many-dimensional factor —
each run is summarised by one number, the mean over groups of the L1 distance between its
renormalised weights and the nominal ones, cut into ~10 quantile bins. So S_weights says how
much the *size* of the weight perturbation explains, not which weights matter, and binning
a continuous factor understates its index somewhat. With Var(Y) = 0 every index is 0.

Speed: the normalised matrices are computed once per normalisation; runs sharing a
(normalisation, aggregation) pair are aggregated in batches, the indicator level as matrix
products (see ``aggregate.aggregate_runs``), and ranked column-wise in one sort.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cityos.assessment import stats
from cityos.assessment.aggregate import (
    aggregate_runs,
    describe,
    lift_zero,
    methods_by_group,
    needs_non_negative,
)
from cityos.assessment.result import BoolArray, FloatArray, Uncertainty
from cityos.assessment.runconfig import (
    AggregateConfig,
    AggregateMethod,
    NormaliseMethod,
    UncertaintyConfig,
)
from cityos.assessment.structure import Structure
from cityos.errors import InvalidInput

Progress = Callable[[int, int], None]
BINS = 10
MAX_WORK = 20_000_000  # units × runs of one Monte Carlo


def check_work(units: int, runs: int) -> None:
    """Refuse a Monte Carlo of more than :data:`MAX_WORK` units × runs."""
    if units * runs > MAX_WORK:
        raise InvalidInput(
            f"too much work for one run: lower uncertainty.runs ({units:,} units × {runs:,} "
            f"runs is more than {MAX_WORK:,})",
            details={"units": units, "runs": runs, "limit": MAX_WORK},
        )


ROUND = 9  # scores that agree to 9 decimal places tie (float noise must not break ties)


def rank_scores(scores: FloatArray) -> FloatArray:
    """Ranks down each column (1 best, ties share the lowest rank, NaN stays NaN), on scores
    rounded to 9 decimals so that summation order never breaks a tie."""
    return stats.rank_min(np.round(scores, ROUND))


def analyse(
    *,
    structure: Structure,
    normalised: Callable[[NormaliseMethod], FloatArray],
    weights: FloatArray,
    node_weights: FloatArray,
    aggregate: AggregateConfig,
    nominal_ranks: FloatArray,
    config: UncertaintyConfig,
    nominal_normalisation: NormaliseMethod,
    active: BoolArray,
    progress: Progress | None = None,
    complete: bool = False,
) -> tuple[Uncertainty, tuple[str, ...]]:
    """Run ``config.runs`` Monte Carlo runs over the units given (the kept units).

    ``normalised(method)`` returns the units × indicators matrix of a normalisation (called
    once per method); ``weights`` are the nominal effective weights (nodes, or units ×
    nodes), ``node_weights`` one weight per node (for the perturbation distance);
    ``nominal_ranks`` the nominal rank of each unit. Returns the result and notes."""
    runs = int(config.runs)
    check_work(len(nominal_ranks), runs)
    norms = list(dict.fromkeys(config.normalisations)) or [nominal_normalisation]
    aggs = list(dict.fromkeys(config.aggregations)) or [AggregateMethod(aggregate.method)]
    matrices: dict[NormaliseMethod, FloatArray] = {}
    for method in norms:
        try:
            matrices[method] = np.where(
                active[: structure.n_indicators], normalised(method), np.nan
            )
        except InvalidInput as error:
            raise InvalidInput(
                f"uncertainty.normalisations includes {method.value}, which cannot run here: "
                f"{error.message}",
                details=error.details,
            ) from error
    methods = {agg: methods_by_group(structure, aggregate, default=agg) for agg in aggs}
    pairs: list[tuple[NormaliseMethod, AggregateMethod]] = []
    notes: list[str] = []
    for norm in norms:
        negative = bool((np.nan_to_num(matrices[norm], nan=0.0) < 0).any())
        for agg in aggs:
            strict = [m for m in methods[agg] if needs_non_negative(*m)]
            if negative and strict:
                notes.append(
                    f"{norm.value} × {agg.value} left out: {norm.value} gives negative values "
                    f"and the {describe(*strict[0])} needs values >= 0"
                )
            else:
                pairs.append((norm, agg))
    inputs: dict[tuple[NormaliseMethod, AggregateMethod], FloatArray] = {}
    for norm, agg in pairs:
        inputs[(norm, agg)], lifted = lift_zero(matrices[norm], norm, methods[agg])
        if lifted:
            notes.append(f"{norm.value} × {agg.value}: {lifted}")
    if not pairs:
        raise InvalidInput(
            "no pair of uncertainty.normalisations and uncertainty.aggregations can run: "
            "every normalisation gives negative values and every aggregation needs values "
            ">= 0; add minmax or percentile_rank to uncertainty.normalisations or "
            "arithmetic to uncertainty.aggregations"
        )

    rng = np.random.default_rng(config.seed)
    pick = rng.integers(len(pairs), size=runs)
    noise = float(config.weight_noise)
    factors = rng.uniform(1.0 - noise, 1.0 + noise, size=(runs, structure.n_nodes)).T.copy()

    n_units = len(nominal_ranks)
    ranks = np.full((n_units, runs), np.nan, dtype=np.float32)
    scores = np.full((n_units, runs), np.nan)
    batch = int(np.clip(250_000 // max(n_units, 1), 16, 128))
    done = 0
    for p, (norm, agg) in enumerate(pairs):
        chosen = np.flatnonzero(pick == p)
        for start in range(0, chosen.size, batch):
            part = chosen[start : start + batch]
            root = aggregate_runs(
                inputs[(norm, agg)],
                structure,
                weights,
                factors[:, part],
                methods[agg],
                complete=complete,
            )
            scores[:, part] = root
            ranks[:, part] = rank_scores(root)
            done += part.size
            if progress is not None:
                progress(done, runs)

    shift = np.abs(ranks - nominal_ranks[:, None].astype(np.float32))
    counted = (~np.isnan(shift)).sum(axis=0)
    y = np.where(counted > 0, np.nansum(shift, axis=0) / np.maximum(counted, 1), 0.0)
    pair_norm = np.array([norms.index(n) for n, _ in pairs])[pick]
    pair_agg = np.array([aggs.index(a) for _, a in pairs])[pick]
    distance = _weight_distance(structure, node_weights, factors)
    sensitivity = {
        "weights": first_order(y, _quantile_bins(distance, BINS)),
        "normalisation": first_order(y, pair_norm),
        "aggregation": first_order(y, pair_agg),
    }
    rank_p = _percentiles(ranks.astype(np.float64))
    score_p = _percentiles(scores)
    result = Uncertainty(
        runs=runs,
        median_rank=rank_p[1],
        rank_p05=rank_p[0],
        rank_p95=rank_p[2],
        score_p05=score_p[0],
        score_median=score_p[1],
        score_p95=score_p[2],
        choices={
            "weights": (f"each weight × U({1 - noise:g}, {1 + noise:g})",),
            "normalisation": tuple(n.value for n in norms),
            "aggregation": tuple(a.value for a in aggs),
        },
        sensitivity=sensitivity,
    )
    notes.append(
        f"{runs:,} runs over {len(pairs)} (normalisation, aggregation) pairs, seed {config.seed}"
    )
    return result, tuple(notes)


def _percentiles(values: FloatArray) -> FloatArray:
    """5th, 50th and 95th percentile of each row (NaN for a row without values)."""
    out = np.full((3, values.shape[0]), np.nan)
    if values.shape[1] == 0:
        return out
    gaps = np.isnan(values)
    full = ~gaps.any(axis=1)
    if full.any():  # vectorised; nanpercentile works row by row
        out[:, full] = np.percentile(values[full], [5, 50, 95], axis=1)
    partial = ~full & ~gaps.all(axis=1)
    if partial.any():
        out[:, partial] = np.nanpercentile(values[partial], [5, 50, 95], axis=1)
    return out


def _weight_distance(structure: Structure, weights: FloatArray, factors: FloatArray) -> FloatArray:
    """Per run: the mean over groups of Σ |perturbed − nominal| of the children's weights."""
    base = weights[:, None]
    moved = base * factors
    total = np.zeros(factors.shape[1])
    for kids in structure.children:
        part = moved[kids]
        sums = part.sum(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(sums > 0, part / sums, 0.0)
        total += np.abs(share - base[kids]).sum(axis=0)
    return total / max(len(structure.children), 1)


def _quantile_bins(x: FloatArray, bins: int) -> FloatArray:
    """The quantile bin (0 … bins − 1) of each value; one bin when the values are equal."""
    if x.size == 0 or np.ptp(x) == 0:
        return np.zeros(x.size)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, x, side="right").astype(np.float64)


def first_order(y: FloatArray, classes: Sequence[float] | FloatArray) -> float:
    """Bias-adjusted correlation ratio ε² of ``y`` over ``classes`` (clipped to [0, 1]):
    (SS_between − (J − 1)·SS_within / (N − J)) / SS_total; 0 when Var(y) = 0."""
    y = np.asarray(y, dtype=np.float64)
    labels = np.asarray(classes)
    n = y.size
    total = float(((y - y.mean()) ** 2).sum()) if n else 0.0
    if n < 2 or total <= 0:
        return 0.0
    _, index = np.unique(labels, return_inverse=True)
    j = int(index.max()) + 1
    if j < 2:
        return 0.0
    counts = np.bincount(index, minlength=j)
    means = np.bincount(index, weights=y, minlength=j) / np.maximum(counts, 1)
    between = float((counts * (means - y.mean()) ** 2).sum())
    within = total - between
    adjusted = between - (j - 1) * within / max(n - j, 1)
    return float(np.clip(adjusted / total, 0.0, 1.0))
