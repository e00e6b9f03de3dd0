"""Verifying a plan's targets: the path through the stages and the status (pure).

- ``expected(year)`` follows the path through the stages: it interpolates between the last
  point at or before ``year`` (the baseline or a stage) and the next stage (at or before the
  baseline year: the baseline; past every stage: the last stage's value);
- the *expected change* is ``expected − baseline`` and the *progress* ``latest − baseline``,
  both multiplied by the direction (+1 higher is better, −1 lower is better);
- ``on_track`` when progress ≥ expected change; ``at_risk`` when progress ≥
  :data:`AT_RISK_SHARE` (75 %) of the expected change; else ``off_track``;
- ``no_data`` when there is no value after the baseline year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cityos.assessment.framework import Direction

AT_RISK_SHARE = 0.75  # at risk: at least 75 % of the change expected by now is achieved
TOLERANCE = 1e-9


class Status(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class Stage:
    year: int
    value: float


def expected_value(
    baseline_year: int, baseline: float, stages: Sequence[Stage], year: int
) -> float:
    """The value expected in ``year`` on the path through the stages: interpolated between
    the last point at or before ``year`` (the baseline or a stage) and the next stage; the
    baseline up to the baseline year, the last stage's value after every stage."""
    points = [(baseline_year, baseline)] + [
        (stage.year, stage.value)
        for stage in sorted(stages, key=lambda stage: stage.year)
        if stage.year > baseline_year
    ]
    if year <= baseline_year:
        return baseline
    start = points[0]
    for point in points[1:]:
        if point[0] >= year:
            span = point[0] - start[0]
            share = 1.0 if span <= 0 else (year - start[0]) / span
            return start[1] + (point[1] - start[1]) * share
        start = point
    return start[1]


def direction_sign(direction: Direction | None, baseline: float, stages: Sequence[Stage]) -> int:
    """+1 when higher is better, −1 when lower is better; without a direction, the sign of
    (last stage − baseline) (a flat target counts as higher is better)."""
    if direction is not None:
        return 1 if direction is Direction.HIGHER else -1
    ordered = sorted(stages, key=lambda stage: stage.year)
    return -1 if ordered and ordered[-1].value < baseline else 1


def status_of(baseline: float, expected: float, latest: float, sign: int) -> Status:
    """On track, at risk or off track (see the module's docstring)."""
    wanted = (expected - baseline) * sign
    achieved = (latest - baseline) * sign
    if achieved >= wanted - TOLERANCE:
        return Status.ON_TRACK
    if achieved >= AT_RISK_SHARE * wanted - TOLERANCE:
        return Status.AT_RISK
    return Status.OFF_TRACK


@dataclass(frozen=True, slots=True)
class Observation:
    year: int
    value: float
    source: str  # "entered", "import:…", "live"


@dataclass(frozen=True, slots=True)
class TargetProgress:
    target_id: int
    indicator_code: str
    baseline_year: int
    baseline: float
    stages: tuple[Stage, ...]
    direction: int
    status: Status
    latest: Observation | None = None
    expected: float | None = None
    achieved_share: float | None = None  # progress ÷ expected change (None when no change due)
    history: tuple[Observation, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "indicator": self.indicator_code,
            "baseline_year": self.baseline_year,
            "baseline": self.baseline,
            "stages": [{"year": s.year, "value": s.value} for s in self.stages],
            "direction": "higher" if self.direction > 0 else "lower",
            "status": self.status.value,
            "latest": _observation_dict(self.latest),
            "expected": self.expected,
            "achieved_share": self.achieved_share,
            "history": [_observation_dict(o) for o in self.history],
            "reason": self.reason or None,
        }


def _observation_dict(observation: Observation | None) -> dict[str, Any] | None:
    if observation is None:
        return None
    return {"year": observation.year, "value": observation.value, "source": observation.source}


def verify(
    *,
    target_id: int,
    indicator_code: str,
    baseline_year: int,
    baseline: float,
    stages: Sequence[Stage],
    direction: Direction | None,
    observations: Sequence[Observation],
) -> TargetProgress:
    """A target's progress from its observations (any order; one per year)."""
    sign = direction_sign(direction, baseline, stages)
    history = tuple(sorted(observations, key=lambda o: o.year))
    after = [o for o in history if o.year > baseline_year]
    common = {
        "target_id": target_id,
        "indicator_code": indicator_code,
        "baseline_year": baseline_year,
        "baseline": baseline,
        "stages": tuple(sorted(stages, key=lambda s: s.year)),
        "direction": sign,
        "history": history,
    }
    if not after:
        return TargetProgress(
            status=Status.NO_DATA,
            reason=f"no value of {indicator_code} after the baseline year {baseline_year}",
            **common,  # type: ignore[arg-type]
        )
    latest = after[-1]
    expected = expected_value(baseline_year, baseline, stages, latest.year)
    wanted = (expected - baseline) * sign
    share = None if abs(wanted) < TOLERANCE else round((latest.value - baseline) * sign / wanted, 4)
    return TargetProgress(
        status=status_of(baseline, expected, latest.value, sign),
        latest=latest,
        expected=round(expected, 6),
        achieved_share=share,
        **common,  # type: ignore[arg-type]
    )
