"""Effective weights: each node's share of its group (a group's children sum to 1).

Methods (``weights.method``):

- ``framework``: the framework's declared weights, checked (see structure.py).
- ``equal``: every child of a group weighs the same.
- ``tier``: the tier-specific weights of ``weights.tier``; with no tier named, every unit is
  weighed with the weights of its own tier (``Unit.tier``) and units without a tier with the
  framework weights — weights then vary by unit.
- ``pca``: per group, the squared loadings of the first principal component of the group's
  children (their correlation matrix over the kept units with all children present),
  normalised to sum to 1 (OECD/JRC Handbook, 2008, step 6). A group with one child gets 1;
  where PCA is undefined (fewer than 3 complete units, a constant child) the group falls
  back to equal weights with a note. PCA weights of an upper group are computed from its
  children's aggregated scores, so they are derived while aggregating bottom-up. This is
  the plain first-component rule, not the Handbook's rotated-factor procedure; the
  correlation matrix of two children always has (1, 1)/√2 as its first eigenvector, so a
  two-child group always gets equal weights (said in the notes).

Indicators removed by screening weigh 0 and their siblings are renormalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cityos.assessment.panel import Unit
from cityos.assessment.result import BoolArray, FloatArray
from cityos.assessment.runconfig import WeightConfig, WeightMethod
from cityos.assessment.structure import (
    Structure,
    declared_weights,
    equal_weights,
    label,
    renormalise_active,
    tier_names,
)


@dataclass(frozen=True, slots=True, eq=False)
class WeightPlan:
    """The weights to aggregate with, before PCA (which needs the scores).

    ``nodes`` is one weight per node (the reported weights); ``per_unit`` (units × nodes)
    is set when weights vary by unit (tier weights of each unit's own tier); ``tiers``
    holds the node weights of each tier then."""

    method: WeightMethod
    nodes: FloatArray
    per_unit: FloatArray | None
    tiers: dict[str, FloatArray]
    notes: tuple[str, ...]

    def matrix(self) -> FloatArray:
        """The weights as ``aggregate_tree`` takes them: nodes, or units × nodes."""
        return self.nodes if self.per_unit is None else self.per_unit


def plan(
    structure: Structure,
    config: WeightConfig,
    units: Sequence[Unit],
    active: BoolArray,
) -> WeightPlan:
    """Weights by ``config.method`` for ``units``, with inactive nodes (screened out)
    dropped and their siblings renormalised. Raises InvalidInput for bad declared weights."""
    method = WeightMethod(config.method)
    notes: list[str] = []
    per_unit: FloatArray | None = None
    tiers: dict[str, FloatArray] = {}
    if method in (WeightMethod.EQUAL, WeightMethod.PCA):
        nodes = equal_weights(structure)
    elif method is WeightMethod.FRAMEWORK or config.tier is not None:
        tier = config.tier if method is WeightMethod.TIER else None
        nodes, scaled = declared_weights(structure, tier=tier, renormalise=config.renormalise)
        notes.extend(scaled)
    else:
        nodes, scaled = declared_weights(structure, renormalise=config.renormalise)
        notes.extend(scaled)
        known = tier_names(structure.framework)
        wanted = list(dict.fromkeys(u.tier for u in units if u.tier is not None))
        for tier in wanted:
            if tier not in known:
                notes.append(
                    f"tier '{tier}' has no weights in {structure.framework.code}: its units "
                    "use the framework weights"
                )
                continue
            tiers[tier], scaled = declared_weights(
                structure, tier=tier, renormalise=config.renormalise
            )
            notes.extend(scaled)
        untiered = [u.code for u in units if u.tier not in tiers]
        if untiered:
            shown = ", ".join(untiered[:10]) + (" …" if len(untiered) > 10 else "")
            notes.append(f"units without tier weights use the framework weights: {shown}")
        if tiers:
            rows = [tiers.get(u.tier or "", nodes) for u in units]
            per_unit = renormalise_active(structure, np.vstack(rows), active)
            notes.append(
                "weights follow each unit's own tier: "
                + ", ".join(f"{t} ({sum(u.tier == t for u in units)} units)" for t in tiers)
            )
            tiers = {t: renormalise_active(structure, w, active) for t, w in tiers.items()}
    dropped = [
        label(structure.node(i))
        for i in range(structure.n_nodes)
        if not active[i] and structure.parent[i] >= 0 and active[structure.parent[i]]
    ]
    if dropped:
        notes.append(f"weights of {', '.join(dropped)} (screened out) shared among their siblings")
    return WeightPlan(
        method=method,
        nodes=renormalise_active(structure, nodes, active),
        per_unit=per_unit,
        tiers=tiers,
        notes=tuple(notes),
    )


def pca_weights(children: FloatArray) -> tuple[FloatArray, str | None]:
    """Weights of a group's children (units × children) from their first principal
    component: squared loadings, normalised to sum to 1. Columns that are all NaN get 0.

    PCA runs on the correlation matrix of the units that have every (non-empty) child. With
    one child the weight is 1; when PCA is undefined the weights are equal and the second
    value says why."""
    k = children.shape[1]
    usable = ~np.isnan(children).all(axis=0)
    out = np.zeros(k)
    m = int(usable.sum())
    if m == 0:
        return out, None
    if m == 1:
        out[usable] = 1.0
        return out, None
    x = children[:, usable]
    rows = x[~np.isnan(x).any(axis=1)]
    equal = np.where(usable, 1.0 / m, 0.0)
    if rows.shape[0] < 3:
        return equal, f"only {rows.shape[0]} units have all {m} children"
    spread = rows.std(axis=0, ddof=1)
    if (spread <= 0).any() or not np.isfinite(spread).all():
        return equal, "a child has the same value for every unit"
    z = (rows - rows.mean(axis=0)) / spread
    corr = (z.T @ z) / (rows.shape[0] - 1)
    eigenvalues, vectors = np.linalg.eigh(corr)
    first = vectors[:, int(np.argmax(eigenvalues))]
    squared = first**2
    if not np.isfinite(squared).all() or squared.sum() <= 0:
        return equal, "the first principal component is undefined"
    out[usable] = squared / squared.sum()
    return out, None


def pca_is_always_equal(children: FloatArray) -> bool:
    """Whether a group's PCA weights are equal whatever the data: two non-empty children."""
    return int((~np.isnan(children).all(axis=0)).sum()) == 2
