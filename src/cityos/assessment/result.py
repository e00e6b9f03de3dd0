"""What a run produces: every intermediate table, every choice, scores and ranks at every
level, coherence and uncertainty. Reports, the Excel workbook, the API and the UI all read
this one object (``PipelineResult.to_dict`` is the stored and JSON form)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cityos.assessment.framework import Framework
from cityos.assessment.panel import Unit
from cityos.assessment.runconfig import RunConfig

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step as it was run: its method, parameters and what it did, in words."""

    step: str  # denominate, impute, screen, outliers, normalise, weights, aggregate, …
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Treatment:
    """Outlier treatment of one indicator."""

    indicator: str
    action: str  # "none", "winsorised", "log"
    points: int  # how many values were winsorised
    skew_before: float
    kurtosis_before: float
    skew_after: float
    kurtosis_after: float


@dataclass(frozen=True, slots=True)
class Flag:
    """A coherence flag: two indicators of one group too alike, or pulling apart."""

    group: str
    a: str
    b: str
    r: float
    kind: str  # "redundant" (|r| above the threshold) or "negative"


@dataclass(frozen=True, slots=True)
class Coherence:
    indicators: tuple[str, ...]  # the order of ``correlation``
    correlation: FloatArray  # Pearson r between normalised indicators (NaN when undefined)
    flags: tuple[Flag, ...]
    alpha: dict[str, float | None]  # Cronbach's alpha per group code


@dataclass(frozen=True, slots=True)
class Uncertainty:
    runs: int
    median_rank: FloatArray  # per unit (units in ``PipelineResult.units`` order, kept only)
    rank_p05: FloatArray
    rank_p95: FloatArray
    score_p05: FloatArray
    score_median: FloatArray
    score_p95: FloatArray
    choices: dict[str, tuple[str, ...]]  # input factor → the options sampled
    sensitivity: dict[str, float]  # input factor → first-order index S_i on the mean rank shift


@dataclass(frozen=True, slots=True)
class PipelineResult:
    framework: Framework
    config: RunConfig
    year: int
    units: tuple[Unit, ...]  # every unit given
    indicators: tuple[str, ...]  # every indicator of the framework, in framework order
    raw: FloatArray  # units × indicators, as given for ``year``
    denominated: FloatArray
    imputed: FloatArray
    kept_units: BoolArray  # after screening
    kept_indicators: BoolArray
    treated: FloatArray
    normalised: FloatArray
    treatments: tuple[Treatment, ...]
    weights: dict[str, float]  # node code → effective weight within its parent (sums to 1)
    scores: dict[str, FloatArray]  # node code → score per unit (NaN for screened-out units)
    ranks: dict[str, FloatArray]  # node code → rank per unit, 1 is best (NaN when unscored)
    coverage: dict[str, tuple[int, int]]  # unit code → (indicators with data, of indicators)
    coherence: Coherence
    uncertainty: Uncertainty | None
    steps: tuple[StepRecord, ...]
    warnings: tuple[str, ...] = ()

    @property
    def index(self) -> FloatArray:
        """The composite index score per unit."""
        return self.scores[self.framework.root.code]
