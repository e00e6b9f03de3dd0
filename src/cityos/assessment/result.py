"""What a run produces: every intermediate table, every choice, scores and ranks at every
level, coherence and uncertainty. Reports, the Excel workbook, the API and the UI all read
this one object (``PipelineResult.to_dict`` is the stored and JSON form)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from cityos.assessment.framework import (
    Denominator,
    Direction,
    Framework,
    Group,
    Indicator,
    Source,
    SourceKind,
)
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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Coherence) and same(self, other)


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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Uncertainty) and same(self, other)


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
    # tier → node code → weight, when weights follow each unit's own tier (weights.method
    # tier without weights.tier); ``weights`` then holds those of units without a tier
    tier_weights: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def index(self) -> FloatArray:
        """The composite index score per unit."""
        return self.scores[self.framework.root.code]

    def __eq__(self, other: object) -> bool:
        """Field by field; arrays are equal with NaN in the same places."""
        return isinstance(other, PipelineResult) and same(self, other)

    def to_dict(self) -> dict[str, Any]:
        """The stored and JSON form: plain dicts and lists, NaN as None (see
        :func:`result_to_dict` for the keys). ``from_dict`` rebuilds an equal result."""
        return result_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineResult:
        return result_from_dict(data)


# --- equality --------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Deep equality that treats arrays by value (NaN equal to NaN) and NaN floats as equal."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        if a.dtype.kind == "f":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
        )
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
        )
    if isinstance(a, (tuple, list)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    return bool(a == b)


# --- the dict form ---------------------------------------------------------------------------

FORMAT = "cityos.assessment.result/1"


def plain(value: Any) -> Any:
    """``value`` as JSON-safe data: arrays to (nested) lists, NaN and ±inf to None, tuples to
    lists, enums to their values, numpy scalars to Python numbers."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            cells = value.astype(object)
            cells[~np.isfinite(value)] = None
            return cells.tolist()
        return value.tolist()
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _floats(data: Any, shape: tuple[int, ...]) -> FloatArray:
    array = np.array(data if data is not None else [], dtype=np.float64)
    return array.reshape(shape)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def framework_to_dict(framework: Framework) -> dict[str, Any]:
    """Every field of a framework, nested (groups carry ``children``)."""
    out: dict[str, Any] = plain(
        {f.name: getattr(framework, f.name) for f in fields(framework) if f.name != "root"}
    )
    out["root"] = _node_to_dict(framework.root)
    return out


def _node_to_dict(node: Group | Indicator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(node):
        value = getattr(node, f.name)
        if f.name == "children":
            out["children"] = [_node_to_dict(child) for child in value]
        elif is_dataclass(value) and not isinstance(value, type):
            out[f.name] = plain({g.name: getattr(value, g.name) for g in fields(value)})
        else:
            out[f.name] = plain(value)
    return out


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def framework_from_dict(data: dict[str, Any]) -> Framework:
    """The framework of :func:`framework_to_dict` (exactly: no validation, no defaults
    beyond the dataclasses')."""
    values = _known(Framework, data)
    values["root"] = _group_from_dict(data["root"])
    values["tiers"] = tuple(data.get("tiers") or ())
    values["method"] = dict(data.get("method") or {})
    return Framework(**values)


def _group_from_dict(data: dict[str, Any]) -> Group:
    values = _known(Group, data)
    values["children"] = tuple(
        _group_from_dict(child) if "children" in child else _indicator_from_dict(child)
        for child in data["children"]
    )
    values["tier_weights"] = dict(data.get("tier_weights") or {})
    return Group(**values)


def _indicator_from_dict(data: dict[str, Any]) -> Indicator:
    values = _known(Indicator, data)
    values["direction"] = Direction(data.get("direction", Direction.HIGHER.value))
    values["tier_weights"] = dict(data.get("tier_weights") or {})
    posts = data.get("goalposts")
    values["goalposts"] = None if posts is None else (float(posts[0]), float(posts[1]))
    denominator = data.get("denominator")
    values["denominator"] = (
        None if denominator is None else Denominator(**_known(Denominator, denominator))
    )
    source = dict(data.get("source") or {})
    if "kind" in source:
        source["kind"] = SourceKind(source["kind"])
    source["filters"] = dict(source.get("filters") or {})
    values["source"] = Source(**_known(Source, source))
    return Indicator(**values)


def result_to_dict(result: PipelineResult) -> dict[str, Any]:
    """Keys: ``format``, ``framework`` (every field, nested), ``config`` (RunConfig as
    JSON), ``year``, ``root`` (the index's code), ``units`` ([{code, name_en, name_zh,
    group, tier, attributes}]), ``indicators`` ([{code, name_en, name_zh, unit, direction,
    group}] in column order), ``groups`` ([{code, name_en, name_zh, parent, depth,
    children}], depth-first), the units × indicators matrices ``raw``, ``denominated``,
    ``imputed``, ``treated``, ``normalised``, ``kept_units`` / ``kept_indicators``
    (booleans), ``treatments``, ``weights`` (node → weight in its group), ``tier_weights``,
    ``scores`` / ``ranks`` (node → per unit), ``coverage`` (unit → [N, M]), ``coherence``
    ({indicators, correlation, flags, alpha}), ``uncertainty`` (None or {runs, median_rank,
    rank_p05, rank_p95, score_p05, score_median, score_p95, choices, sensitivity}; arrays
    per kept unit), ``steps`` ([{step, method, params, notes}]) and ``warnings``."""
    framework = result.framework
    position = {code: j for j, code in enumerate(result.indicators)}
    indicators: list[dict[str, Any]] = [{} for _ in result.indicators]
    groups: list[dict[str, Any]] = []

    def visit(group: Group, parent: str | None, depth: int) -> None:
        groups.append(
            {
                "code": group.code,
                "name_en": group.name_en,
                "name_zh": group.name_zh,
                "parent": parent,
                "depth": depth,
                "children": [child.code for child in group.children],
            }
        )
        for child in group.children:
            if isinstance(child, Group):
                visit(child, group.code, depth + 1)
            elif child.code in position:
                indicators[position[child.code]] = {
                    "code": child.code,
                    "name_en": child.name_en,
                    "name_zh": child.name_zh,
                    "unit": child.unit,
                    "direction": child.direction.value,
                    "group": group.code,
                }

    visit(framework.root, None, 0)
    for j, code in enumerate(result.indicators):  # columns outside the framework, if any
        indicators[j] = indicators[j] or {"code": code, "name_en": code, "name_zh": ""}
    unc = result.uncertainty
    return {
        "format": FORMAT,
        "framework": framework_to_dict(framework),
        "config": result.config.model_dump(mode="json"),
        "year": result.year,
        "root": framework.root.code,
        "units": [
            {
                "code": u.code,
                "name_en": u.name_en,
                "name_zh": u.name_zh,
                "group": u.group,
                "tier": u.tier,
                "attributes": plain(u.attributes),
            }
            for u in result.units
        ],
        "indicators": indicators,
        "groups": groups,
        "raw": plain(result.raw),
        "denominated": plain(result.denominated),
        "imputed": plain(result.imputed),
        "kept_units": plain(result.kept_units),
        "kept_indicators": plain(result.kept_indicators),
        "treated": plain(result.treated),
        "normalised": plain(result.normalised),
        "treatments": [
            plain({f.name: getattr(t, f.name) for f in fields(t)}) for t in result.treatments
        ],
        "weights": plain(result.weights),
        "tier_weights": plain(result.tier_weights),
        "scores": plain(result.scores),
        "ranks": plain(result.ranks),
        "coverage": {code: [n, m] for code, (n, m) in result.coverage.items()},
        "coherence": {
            "indicators": list(result.coherence.indicators),
            "correlation": plain(result.coherence.correlation),
            "flags": [
                plain({f.name: getattr(x, f.name) for f in fields(x)})
                for x in result.coherence.flags
            ],
            "alpha": plain(result.coherence.alpha),
        },
        "uncertainty": None
        if unc is None
        else {
            "runs": unc.runs,
            "median_rank": plain(unc.median_rank),
            "rank_p05": plain(unc.rank_p05),
            "rank_p95": plain(unc.rank_p95),
            "score_p05": plain(unc.score_p05),
            "score_median": plain(unc.score_median),
            "score_p95": plain(unc.score_p95),
            "choices": plain(unc.choices),
            "sensitivity": plain(unc.sensitivity),
        },
        "steps": [
            {"step": s.step, "method": s.method, "params": plain(s.params), "notes": list(s.notes)}
            for s in result.steps
        ],
        "warnings": list(result.warnings),
    }


def result_from_dict(data: dict[str, Any]) -> PipelineResult:
    """The result of :func:`result_to_dict` (also after a trip through JSON)."""
    units = tuple(
        Unit(
            code=u["code"],
            name_en=u.get("name_en", ""),
            name_zh=u.get("name_zh", ""),
            group=u.get("group"),
            tier=u.get("tier"),
            attributes={k: _number(v) for k, v in (u.get("attributes") or {}).items()},
        )
        for u in data["units"]
    )
    codes = tuple(item["code"] if isinstance(item, dict) else item for item in data["indicators"])
    shape = (len(units), len(codes))
    kept_units = np.array(data["kept_units"], dtype=np.bool_).reshape(len(units))
    coh = data["coherence"]
    k = len(coh["indicators"])
    unc = data.get("uncertainty")
    uncertainty = None
    if unc is not None:
        uncertainty = Uncertainty(
            runs=int(unc["runs"]),
            median_rank=_floats(unc["median_rank"], (-1,)),
            rank_p05=_floats(unc["rank_p05"], (-1,)),
            rank_p95=_floats(unc["rank_p95"], (-1,)),
            score_p05=_floats(unc["score_p05"], (-1,)),
            score_median=_floats(unc["score_median"], (-1,)),
            score_p95=_floats(unc["score_p95"], (-1,)),
            choices={key: tuple(values) for key, values in unc["choices"].items()},
            sensitivity={key: _number(v) for key, v in unc["sensitivity"].items()},
        )
    return PipelineResult(
        framework=framework_from_dict(data["framework"]),
        config=RunConfig.model_validate(data["config"]),
        year=int(data["year"]),
        units=units,
        indicators=codes,
        raw=_floats(data["raw"], shape),
        denominated=_floats(data["denominated"], shape),
        imputed=_floats(data["imputed"], shape),
        kept_units=kept_units,
        kept_indicators=np.array(data["kept_indicators"], dtype=np.bool_).reshape(len(codes)),
        treated=_floats(data["treated"], shape),
        normalised=_floats(data["normalised"], shape),
        treatments=tuple(
            Treatment(
                indicator=t["indicator"],
                action=t["action"],
                points=int(t["points"]),
                skew_before=_number(t["skew_before"]),
                kurtosis_before=_number(t["kurtosis_before"]),
                skew_after=_number(t["skew_after"]),
                kurtosis_after=_number(t["kurtosis_after"]),
            )
            for t in data["treatments"]
        ),
        weights={code: _number(w) for code, w in data["weights"].items()},
        scores={code: _floats(v, (len(units),)) for code, v in data["scores"].items()},
        ranks={code: _floats(v, (len(units),)) for code, v in data["ranks"].items()},
        coverage={code: (int(n), int(m)) for code, (n, m) in data["coverage"].items()},
        coherence=Coherence(
            indicators=tuple(coh["indicators"]),
            correlation=_floats(coh["correlation"], (k, k)),
            flags=tuple(
                Flag(group=f["group"], a=f["a"], b=f["b"], r=_number(f["r"]), kind=f["kind"])
                for f in coh["flags"]
            ),
            alpha={code: None if a is None else float(a) for code, a in coh["alpha"].items()},
        ),
        uncertainty=uncertainty,
        steps=tuple(
            StepRecord(
                step=s["step"],
                method=s["method"],
                params=dict(s.get("params") or {}),
                notes=tuple(s.get("notes") or ()),
            )
            for s in data["steps"]
        ),
        warnings=tuple(data.get("warnings") or ()),
        tier_weights={
            tier: {code: _number(w) for code, w in weights.items()}
            for tier, weights in (data.get("tier_weights") or {}).items()
        },
    )
