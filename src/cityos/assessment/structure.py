"""A framework's tree flattened into arrays, and its declared weights checked and resolved.

The engine works on node ids: indicators first (``0 … n_indicators − 1``, framework order),
then groups (depth-first, the root first). Each group knows its children's ids, each node
its parent and depth, and the groups are listed by depth, deepest first, so one pass over
``levels`` aggregates the tree bottom-up.

Declared weights are relative within a group (see framework.py): the children of a group
sum to the group's own weight, the root's children to ``framework.total``. A group without
a weight weighs the sum of its children's weights (or an equal share among its siblings when
its children have none either). Omitted weights mean equal shares; a group whose children mix
given and omitted weights is an error, and so is a sum that misses the expected value by
more than 1e-6 (relative) — unless ``weights.renormalise`` is on, which scales the children
and says so in a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cityos.assessment.framework import Framework, Group, Indicator
from cityos.assessment.result import BoolArray, FloatArray
from cityos.errors import InvalidInput

IntArray = npt.NDArray[np.intp]
TOLERANCE = 1e-6  # relative, for weight sums


def label(node: Group | Indicator) -> str:
    """How messages name a node: its code and names (``A 惠民服务 (Citizen services)``)."""
    if node.name_zh and node.name_en and node.name_zh != node.name_en:
        return f"{node.code} {node.name_zh} ({node.name_en})"
    name = node.name_zh or node.name_en
    return f"{node.code} {name}" if name and name != node.code else node.code


def number(x: float) -> str:
    """A weight for a message: 36, 0.25, 33.3333."""
    return f"{x:.6g}"


@dataclass(frozen=True, slots=True, eq=False)
class Structure:
    """The tree of one framework as arrays (see the module docstring for the numbering)."""

    framework: Framework
    indicators: tuple[Indicator, ...]  # the leaves, in framework order
    groups: tuple[Group, ...]  # depth-first, the root first
    codes: tuple[str, ...]  # node id → code
    parent: IntArray  # node id → the parent's node id (−1 for the root)
    depth: IntArray  # node id → depth (the root is 0)
    children: tuple[IntArray, ...]  # group index → its children's node ids, in order
    levels: tuple[IntArray, ...]  # group indices of one depth each, deepest depth first

    @property
    def n_indicators(self) -> int:
        return len(self.indicators)

    @property
    def n_nodes(self) -> int:
        return len(self.codes)

    def node(self, node_id: int) -> Group | Indicator:
        n = self.n_indicators
        return self.indicators[node_id] if node_id < n else self.groups[node_id - n]

    def group_id(self, group_index: int) -> int:
        """The node id of group ``group_index``."""
        return self.n_indicators + group_index

    def position(self) -> dict[str, int]:
        """Node code → node id."""
        return {code: i for i, code in enumerate(self.codes)}

    def indicators_under(self, group_index: int) -> IntArray:
        """The node ids (= columns) of every indicator below a group, in framework order."""
        at = self.position()
        return np.array(
            [at[node.code] for node in self.groups[group_index].indicators()], dtype=np.intp
        )


def build(framework: Framework) -> Structure:
    """Flatten ``framework``; refuses duplicate codes and groups without children."""
    indicators: list[Indicator] = []
    groups: list[Group] = []
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    empty: list[str] = []
    for _, node in framework.root.walk():
        if node.code in seen:
            duplicates.append(node.code)
        seen[node.code] = 1
        if isinstance(node, Group):
            groups.append(node)
            if not node.children:
                empty.append(label(node))
        else:
            indicators.append(node)
    if duplicates:
        raise InvalidInput(
            f"framework {framework.code} uses the code(s) {', '.join(sorted(set(duplicates)))} "
            "more than once: give every group and indicator its own code"
        )
    if empty:
        raise InvalidInput(
            f"group(s) {', '.join(empty)} of framework {framework.code} have no children: "
            "add indicators or remove the group"
        )
    n = len(indicators)
    codes = tuple(i.code for i in indicators) + tuple(g.code for g in groups)
    ids = {code: i for i, code in enumerate(codes)}
    parent = np.full(len(codes), -1, dtype=np.intp)
    depth = np.zeros(len(codes), dtype=np.intp)
    children: list[IntArray] = []
    for g, group in enumerate(groups):
        me = n + g
        kids = np.array([ids[child.code] for child in group.children], dtype=np.intp)
        parent[kids] = me
        children.append(kids)
    for i in range(n, len(codes)):  # groups are depth-first: a parent precedes its children
        if parent[i] >= 0:
            depth[i] = depth[parent[i]] + 1
    depth[:n] = depth[parent[:n]] + 1
    group_depth = depth[n:]
    levels = tuple(
        np.flatnonzero(group_depth == d).astype(np.intp)
        for d in range(int(group_depth.max()), -1, -1)
    )
    return Structure(
        framework=framework,
        indicators=tuple(indicators),
        groups=tuple(groups),
        codes=codes,
        parent=parent,
        depth=depth,
        children=tuple(children),
        levels=levels,
    )


def active_nodes(structure: Structure, kept_indicators: BoolArray) -> BoolArray:
    """Which nodes take part: the kept indicators and every group with an active child."""
    active = np.zeros(structure.n_nodes, dtype=np.bool_)
    active[: structure.n_indicators] = kept_indicators
    for level in structure.levels:
        for g in level:
            active[structure.group_id(int(g))] = bool(active[structure.children[g]].any())
    return active


def equal_weights(structure: Structure) -> FloatArray:
    """Every child gets 1 / (number of children) of its group; the root gets 1."""
    out = np.ones(structure.n_nodes)
    for kids in structure.children:
        out[kids] = 1.0 / len(kids)
    return out


def tier_names(framework: Framework) -> list[str]:
    """The tiers a framework declares or gives weights for, declared ones first."""
    names = dict.fromkeys(framework.tiers)
    for _, node in framework.root.walk():
        names.update(dict.fromkeys(node.tier_weights))
    return list(names)


def declared_weights(
    structure: Structure, *, tier: str | None = None, renormalise: bool = False
) -> tuple[FloatArray, tuple[str, ...]]:
    """Each node's share of its parent (children of a group sum to 1; the root is 1) from
    the framework's weights, or from the tier-specific ones of ``tier`` (a node without a
    weight for that tier uses its framework weight), and notes on any scaling.

    Raises InvalidInput naming every group whose children mix given and omitted weights,
    have negative weights, or (without ``renormalise``) miss the sum they should have."""
    framework = structure.framework
    if tier is not None and tier not in tier_names(framework):
        known = tier_names(framework)
        fix = f"use one of {', '.join(known)}" if known else "the framework has no tiers"
        raise InvalidInput(f"weights.tier: '{tier}' is not a tier of {framework.code}; {fix}")

    def own(node: Group | Indicator) -> float | None:
        if tier is not None and tier in node.tier_weights:
            return float(node.tier_weights[tier])
        return None if node.weight is None else float(node.weight)

    n_nodes = structure.n_nodes
    resolved: list[float | None] = [own(structure.node(i)) for i in range(n_nodes)]
    out = np.ones(n_nodes)
    problems: list[str] = []
    notes: list[str] = []
    where = f" (tier {tier})" if tier is not None else ""
    for level in structure.levels:  # deepest first: children are resolved before parents
        for g in level:
            group = structure.groups[g]
            me = structure.group_id(int(g))
            kids = [int(k) for k in structure.children[g]]
            given = [resolved[k] for k in kids]
            if all(w is None for w in given):
                out[kids] = 1.0 / len(kids)
                continue
            if any(w is None for w in given):
                missing = [
                    structure.codes[k] for k, w in zip(kids, given, strict=True) if w is None
                ]
                problems.append(
                    f"the children of {label(group)}{where} mix given and omitted weights "
                    f"({', '.join(missing)} have none): give every child a weight or none"
                )
                continue
            values = np.array(given, dtype=np.float64)
            negative = [structure.codes[k] for k, w in zip(kids, values, strict=True) if w < 0]
            if negative or not np.isfinite(values).all():
                problems.append(
                    f"weights of {', '.join(negative) or 'some children'} in {label(group)}"
                    f"{where} are negative or not numbers: weights must be >= 0"
                )
                continue
            total = float(values.sum())
            if total <= 0:
                problems.append(
                    f"weights of the children of {label(group)}{where} sum to 0: give at least "
                    "one child a positive weight"
                )
                continue
            is_root = me == n_nodes - len(structure.groups)
            expected = float(framework.total) if is_root else resolved[me]
            if expected is None:
                resolved[me] = total  # a group without a weight weighs its children's sum
            elif abs(total - expected) > TOLERANCE * max(abs(expected), abs(total)):
                whose = "the framework's total" if is_root else f"{group.code}'s weight"
                if renormalise:
                    notes.append(
                        f"weights of the children of {label(group)}{where} summed to "
                        f"{number(total)}, not {whose} {number(expected)}: scaled to fit"
                    )
                else:
                    problems.append(
                        f"Weights of the children of {label(group)}{where} sum to "
                        f"{number(total)}, but {whose} is {number(expected)}: fix the weights "
                        "or run with weights.renormalise: true"
                    )
            out[kids] = values / total
    if problems:
        shown = "; ".join(problems[:3])
        more = f"; and {len(problems) - 3} more (see details)" if len(problems) > 3 else ""
        raise InvalidInput(shown + more, details=problems)
    return out, tuple(notes)


def renormalise_active(structure: Structure, weights: FloatArray, active: BoolArray) -> FloatArray:
    """``weights`` (nodes, or rows × nodes) with inactive nodes at 0 and every group's
    active children scaled to sum to 1 again."""
    out = np.where(active, weights, 0.0)
    for kids in structure.children:
        part = out[..., kids]
        total = part.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., kids] = np.where(total > 0, part / total, 0.0)
    return out


def weights_by_code(
    structure: Structure, weights: Sequence[float] | FloatArray
) -> dict[str, float]:
    """Node code → weight, for the result (the root is 1)."""
    return {code: float(w) for code, w in zip(structure.codes, weights, strict=True)}
