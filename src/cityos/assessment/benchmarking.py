"""Compare one unit with its peers on a finished run: scores, gaps, strengths, a radar.

Pure functions on a :class:`PipelineResult`; nothing is recomputed, so a comparison always
agrees with the run's scores. Conventions:

- The comparison group is the unit plus its peers (screened-out peers are left out, with a
  note). ``group_rank`` is the unit's rank within that group (1 best, ties share the lowest
  rank); ``rank`` is its rank among every kept unit of the run.
- The leader of a dimension is the best-scoring member of the group (the unit itself when it
  leads). Gaps are ``unit − leader`` (0 or negative) and ``unit − median of the peers``
  (positive: ahead of the peers).
- Strengths and weaknesses come from the root's children (the dimensions): the ones where
  the unit ranks best / worst in the group, ties broken by the gap to the peer median. They
  never overlap: with n scored dimensions each list holds at most ``min(3, n // 2)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cityos.assessment.framework import Group, Indicator
from cityos.assessment.panel import Unit
from cityos.assessment.result import PipelineResult
from cityos.errors import InvalidInput, NotFound, Unprocessable

MAX_HIGHLIGHTS = 3


@dataclass(frozen=True, slots=True)
class Leader:
    code: str
    name_en: str
    name_zh: str
    score: float


@dataclass(frozen=True, slots=True)
class DimensionComparison:
    """The unit on one node of the framework (a dimension, a group or the index)."""

    code: str
    name_en: str
    name_zh: str
    depth: int  # 0: the index, 1: a dimension, …
    score: float  # NaN when the unit has no value for this node
    rank: float  # among every kept unit of the run (NaN when unscored)
    group_rank: int | None  # among the unit and its peers
    group_size: int  # members of the group with a score here
    leader: Leader | None
    gap_to_leader: float  # unit − leader (<= 0)
    peer_median: float
    gap_to_median: float  # unit − peer median


@dataclass(frozen=True, slots=True)
class RadarSeries:
    key: str  # "unit", "peer_median", "leader"
    label_en: str
    label_zh: str
    values: tuple[float, ...]  # one per radar axis (NaN when missing)


@dataclass(frozen=True, slots=True)
class Radar:
    axes: tuple[str, ...]  # dimension codes
    axis_names_en: tuple[str, ...]
    axis_names_zh: tuple[str, ...]
    series: tuple[RadarSeries, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    unit: Unit
    peers: tuple[Unit, ...]  # the peers compared (kept units only)
    index: DimensionComparison  # the composite index itself
    dimensions: tuple[DimensionComparison, ...]  # the root's children (and groups if asked)
    strengths: tuple[str, ...]  # dimension codes, best first
    weaknesses: tuple[str, ...]  # dimension codes, worst first
    radar: Radar
    notes: tuple[str, ...] = ()

    def dimension(self, code: str) -> DimensionComparison:
        for row in (self.index, *self.dimensions):
            if row.code == code:
                return row
        raise KeyError(code)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (NaN → None)."""
        return {
            "unit": _unit_dict(self.unit),
            "peers": [_unit_dict(peer) for peer in self.peers],
            "index": _row_dict(self.index),
            "dimensions": [_row_dict(row) for row in self.dimensions],
            "strengths": list(self.strengths),
            "weaknesses": list(self.weaknesses),
            "radar": {
                "axes": list(self.radar.axes),
                "axis_names_en": list(self.radar.axis_names_en),
                "axis_names_zh": list(self.radar.axis_names_zh),
                "series": [
                    {
                        "key": series.key,
                        "label_en": series.label_en,
                        "label_zh": series.label_zh,
                        "values": [_num(value) for value in series.values],
                    }
                    for series in self.radar.series
                ],
            },
            "notes": list(self.notes),
        }


def compare(
    result: PipelineResult,
    *,
    unit: str,
    peers: Sequence[str] | None = None,
    groups: bool = False,
) -> Comparison:
    """Compare ``unit`` (a code or a name) with ``peers`` (default: every other kept unit).

    ``groups=True`` adds every group below the dimensions to ``dimensions``. Raises NotFound
    for an unknown unit, InvalidInput for unknown peers, Unprocessable when the unit was
    screened out or no peer is left to compare with."""
    at = _find(result, unit)
    if at is None:
        raise NotFound(
            f"Unit {unit!r} is not in this assessment; known units: {_known(result)}",
            details={"known_units": [u.code for u in result.units]},
        )
    subject = result.units[at]
    if not bool(result.kept_units[at]):
        have, of = result.coverage.get(subject.code, (0, len(result.indicators)))
        raise Unprocessable(
            f"{subject.code} {subject.name_en} was screened out (data for {have} of {of} "
            f"indicators, {_pct(have, of)}; the run needs "
            f"{result.config.screen.min_unit_coverage:.0%}), so it has no scores to compare: "
            "add its missing values or lower screen.min_unit_coverage"
        )
    peer_rows, notes = _peer_rows(result, at, peers)
    if not peer_rows:
        raise Unprocessable(
            f"No peer of {subject.code} {subject.name_en} is left to compare with: "
            "name peers that were kept by the screening"
        )
    members = [at, *peer_rows]
    root = result.framework.root
    top_rows = [_row(result, child, 1, at, members) for child in root.children]
    rows = list(top_rows)
    if groups:
        for child in root.children:
            if isinstance(child, Group):
                rows += [
                    _row(result, node, depth, at, members)
                    for depth, node in child.walk(1)
                    if isinstance(node, Group) and node is not child
                ]
    index_row = _row(result, root, 0, at, members)
    strengths, weaknesses = _highlights(top_rows)
    return Comparison(
        unit=subject,
        peers=tuple(result.units[i] for i in peer_rows),
        index=index_row,
        dimensions=tuple(rows),
        strengths=strengths,
        weaknesses=weaknesses,
        radar=_radar(top_rows, subject),
        notes=tuple(notes),
    )


def _find(result: PipelineResult, key: str) -> int | None:
    """The position of the unit with code ``key`` (or, failing that, that name)."""
    wanted = key.strip()
    folded = wanted.casefold()
    probes: tuple[Callable[[Unit], bool], ...] = (
        lambda u: u.code == wanted,
        lambda u: u.code.casefold() == folded,
        lambda u: u.name_en.casefold() == folded,
        lambda u: bool(u.name_zh) and u.name_zh == wanted,
    )
    for probe in probes:
        for i, candidate in enumerate(result.units):
            if probe(candidate):
                return i
    return None


def _known(result: PipelineResult, limit: int = 30) -> str:
    codes = [f"{u.code} ({u.name_en})" for u in result.units]
    shown = ", ".join(codes[:limit])
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def _pct(have: int, of: int) -> str:
    return f"{have / of:.0%}" if of else "0%"


def _peer_rows(
    result: PipelineResult, at: int, peers: Sequence[str] | None
) -> tuple[list[int], list[str]]:
    notes: list[str] = []
    if peers is None:
        rows = [i for i in range(len(result.units)) if i != at and bool(result.kept_units[i])]
        return rows, notes
    unknown = [peer for peer in peers if _find(result, peer) is None]
    if unknown:
        raise InvalidInput(
            f"Unknown peers {', '.join(map(repr, unknown))}; known units: {_known(result)}",
            details={"unknown_peers": unknown, "known_units": [u.code for u in result.units]},
        )
    rows = []
    for peer in peers:
        i = _find(result, peer)
        if i is None or i == at or i in rows:
            continue  # the unit itself and repeats are not peers of their own
        if not bool(result.kept_units[i]):
            have, of = result.coverage.get(result.units[i].code, (0, len(result.indicators)))
            notes.append(
                f"{result.units[i].code} {result.units[i].name_en} is left out: screened out "
                f"with data for {have} of {of} indicators"
            )
            continue
        rows.append(i)
    return rows, notes


def _row(
    result: PipelineResult, node: Group | Indicator, depth: int, at: int, members: list[int]
) -> DimensionComparison:
    missing = np.full(len(result.units), np.nan)
    scores = result.scores.get(node.code, missing)
    ranks = result.ranks.get(node.code, missing)
    score = float(scores[at])
    group_scores = np.array([scores[i] for i in members], dtype=float)
    scored = [(i, float(scores[i])) for i in members if not math.isnan(float(scores[i]))]
    leader = None
    gap_leader = math.nan
    group_rank = None
    if scored:
        best_i, best = max(scored, key=lambda item: item[1])
        winner = result.units[best_i]
        leader = Leader(winner.code, winner.name_en, winner.name_zh, best)
        if not math.isnan(score):
            gap_leader = score - best
            group_rank = 1 + int(np.sum(group_scores[~np.isnan(group_scores)] > score))
    peer_values = group_scores[1:][~np.isnan(group_scores[1:])]
    median = float(np.median(peer_values)) if peer_values.size else math.nan
    return DimensionComparison(
        code=node.code,
        name_en=node.name_en,
        name_zh=node.name_zh,
        depth=depth,
        score=score,
        rank=float(ranks[at]),
        group_rank=group_rank,
        group_size=len(scored),
        leader=leader,
        gap_to_leader=gap_leader,
        peer_median=median,
        gap_to_median=score - median,
    )


def _highlights(
    rows: list[DimensionComparison],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    scored = [row for row in rows if row.group_rank is not None]
    count = min(MAX_HIGHLIGHTS, len(scored) // 2)
    if count == 0:
        return (), ()

    def gap(row: DimensionComparison) -> float:
        return 0.0 if math.isnan(row.gap_to_median) else row.gap_to_median

    best_first = sorted(scored, key=lambda row: (row.group_rank or 0, -gap(row), row.code))
    worst_first = sorted(scored, key=lambda row: (-(row.group_rank or 0), gap(row), row.code))
    strengths = tuple(row.code for row in best_first[:count])
    weaknesses = tuple(row.code for row in worst_first[:count])
    return strengths, weaknesses


def _radar(rows: list[DimensionComparison], unit: Unit) -> Radar:
    return Radar(
        axes=tuple(row.code for row in rows),
        axis_names_en=tuple(row.name_en for row in rows),
        axis_names_zh=tuple(row.name_zh or row.name_en for row in rows),
        series=(
            RadarSeries(
                "unit", unit.name_en, unit.name_zh or unit.name_en, tuple(r.score for r in rows)
            ),
            RadarSeries(
                "peer_median", "Peer median", "同类城市中位数", tuple(r.peer_median for r in rows)
            ),
            RadarSeries(
                "leader",
                "Leader",
                "领先者",
                tuple(r.leader.score if r.leader else math.nan for r in rows),
            ),
        ),
    )


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def _unit_dict(unit: Unit) -> dict[str, Any]:
    return {"code": unit.code, "name_en": unit.name_en, "name_zh": unit.name_zh}


def _row_dict(row: DimensionComparison) -> dict[str, Any]:
    return {
        "code": row.code,
        "name_en": row.name_en,
        "name_zh": row.name_zh,
        "depth": row.depth,
        "score": _num(row.score),
        "rank": _num(row.rank),
        "group_rank": row.group_rank,
        "group_size": row.group_size,
        "leader": None
        if row.leader is None
        else {
            "code": row.leader.code,
            "name_en": row.leader.name_en,
            "name_zh": row.leader.name_zh,
            "score": _num(row.leader.score),
        },
        "gap_to_leader": _num(row.gap_to_leader),
        "peer_median": _num(row.peer_median),
        "gap_to_median": _num(row.gap_to_median),
    }
