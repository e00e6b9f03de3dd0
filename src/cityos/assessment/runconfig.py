"""The method choices of one assessment run, step by step (recorded with the results).

A framework may carry defaults under ``method:``; a run config file (``--config RUN.yaml``)
overrides them key by key. Unknown keys and unknown method names are refused with the list
of the valid ones.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImputeMethod(StrEnum):
    NONE = "none"  # no imputation; a missing value leaves its group without a score
    MEAN = "mean"
    MEDIAN = "median"
    GROUP_MEAN = "group_mean"
    GROUP_MEDIAN = "group_median"
    INTERPOLATE = "interpolate"  # linear over the years of a panel
    DROP_RENORMALISE = "drop_renormalise"  # leave missing; renormalise weights per unit


class OutlierMethod(StrEnum):
    NONE = "none"
    WINSORISE_OR_LOG = "winsorise_or_log"  # COINr's rule


class LogMethod(StrEnum):
    # Both follow the side of the skew (COINr); a = (max − min) / 100. Negative skew:
    # −log(max + a − x) for both.
    PLAIN = "plain"  # positive skew: log(x); values <= 0 are an error naming the indicator
    SHIFTED = "shifted"  # positive skew: log(x − min + a), defined for any values


class NormaliseMethod(StrEnum):
    MINMAX = "minmax"  # 0–100
    ZSCORE = "zscore"
    RANK = "rank"
    PERCENTILE_RANK = "percentile_rank"  # 0–100
    BORDA = "borda"
    DISTANCE_TO_MAX = "distance_to_max"  # x / max
    DISTANCE_TO_REFERENCE = "distance_to_reference"  # x / x(reference unit)
    DISTANCE_TO_TARGET = "distance_to_target"  # x / target
    GOALPOSTS = "goalposts"  # (x − low) / (high − low) × 100, clipped


class WeightMethod(StrEnum):
    FRAMEWORK = "framework"
    EQUAL = "equal"
    TIER = "tier"  # the framework's tier-specific weights for ``tier``
    PCA = "pca"  # first principal component of each group's children


class AggregateMethod(StrEnum):
    ARITHMETIC = "arithmetic"
    GEOMETRIC = "geometric"
    HARMONIC = "harmonic"
    GENERALISED = "generalised"  # power mean with exponent ``p``


class ImputeConfig(Strict):
    # drop_renormalise by default: ``none`` leaves a unit with a gap without a group score
    method: ImputeMethod = ImputeMethod.DROP_RENORMALISE
    group_by: str | None = None  # the unit attribute for group_mean / group_median


class ScreenConfig(Strict):
    min_unit_coverage: float = Field(0.65, ge=0, le=1)
    min_indicator_coverage: float = Field(0.65, ge=0, le=1)


class OutlierConfig(Strict):
    method: OutlierMethod = OutlierMethod.WINSORISE_OR_LOG
    skew: float = Field(2.0, gt=0)
    kurtosis: float = Field(3.5, gt=0)
    winmax: int = Field(5, ge=0)  # at most this many points winsorised per indicator
    log: LogMethod = LogMethod.PLAIN  # the transform when winsorising is not enough


class NormaliseConfig(Strict):
    method: NormaliseMethod = NormaliseMethod.MINMAX
    reference_unit: str | None = None  # for distance_to_reference


class WeightConfig(Strict):
    method: WeightMethod = WeightMethod.FRAMEWORK
    tier: str | None = None
    renormalise: bool = False  # scale a group's children to fit instead of refusing


class AggregateConfig(Strict):
    method: AggregateMethod = AggregateMethod.ARITHMETIC
    p: float = Field(1.0, allow_inf_nan=False, ge=-50, le=50)  # exponent of the generalised mean
    levels: dict[int, AggregateMethod] = Field(default_factory=dict)  # depth → method


class CoherenceConfig(Strict):
    redundancy: float = Field(0.9, gt=0, le=1)  # flag |r| above this within a group


class UncertaintyConfig(Strict):
    runs: int = Field(0, ge=0, le=10_000)  # 0: no Monte Carlo
    weight_noise: float = Field(0.25, ge=0, le=1)  # ± this share of each weight
    normalisations: list[NormaliseMethod] = Field(
        default_factory=lambda: [
            NormaliseMethod.MINMAX,
            NormaliseMethod.ZSCORE,
            NormaliseMethod.PERCENTILE_RANK,
        ]
    )
    aggregations: list[AggregateMethod] = Field(
        default_factory=lambda: [AggregateMethod.ARITHMETIC, AggregateMethod.GEOMETRIC]
    )
    seed: int = Field(20260101, ge=0)


class RunConfig(Strict):
    year: int | None = None  # None: the latest year with data
    # When a unit has no value for the assessed year, use its latest earlier value up to
    # this many years back (cross-sections such as the CPI, where each city has its own year).
    carry_forward: int = Field(0, ge=0, le=100)
    denominate: bool = True
    impute: ImputeConfig = Field(default_factory=ImputeConfig)
    screen: ScreenConfig = Field(default_factory=ScreenConfig)
    outliers: OutlierConfig = Field(default_factory=OutlierConfig)
    normalise: NormaliseConfig = Field(default_factory=NormaliseConfig)
    weights: WeightConfig = Field(default_factory=WeightConfig)
    aggregate: AggregateConfig = Field(default_factory=AggregateConfig)
    coherence: CoherenceConfig = Field(default_factory=CoherenceConfig)
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)

    def merged(self, overrides: dict[str, Any]) -> RunConfig:
        """This config with ``overrides`` applied section by section (validated)."""
        data = self.model_dump(mode="json")
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return RunConfig.model_validate(data)


def _model_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The config section a key path leads to (None when it leaves the sections)."""
    model: type[BaseModel] = RunConfig
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def explain(error: ValidationError) -> list[str]:
    """One line per problem of a config: the key path, what is wrong and the valid choices
    (``normalise.method: 'minmaxx' is not a method; use one of minmax, zscore, …``)."""
    lines: list[str] = []
    for item in error.errors():
        loc = tuple(part for part in item["loc"] if part != "[key]")
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        got = item.get("input")
        kind = item["type"]
        if kind == "enum":
            names = re.findall(r"'([^']*)'", str(item.get("ctx", {}).get("expected", "")))
            lines.append(f"{path}: '{got}' is not a method; use one of {', '.join(names)}")
        elif kind == "extra_forbidden":
            section = _model_at(loc[:-1])
            known = ", ".join(section.model_fields) if section is not None else "none"
            if loc[:-1]:
                parent = ".".join(map(str, loc[:-1]))
                lines.append(f"{path}: unknown setting; the settings of {parent} are {known}")
            else:
                lines.append(f"{path}: unknown setting; use one of {known}")
        elif kind in ("model_type", "dict_type"):
            section = _model_at(loc)
            known = ", ".join(section.model_fields) if section is not None else "keys"
            lines.append(f"{path}: expected a mapping of settings ({known}), got {got!r}")
        else:
            lines.append(f"{path}: {item['msg'][:1].lower()}{item['msg'][1:]} (got {got!r})")
    return lines
