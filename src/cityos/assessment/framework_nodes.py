"""Reading one node of a framework document: its code, names, weights and indicator values.

Every value is checked where it is read and each problem is collected with its place in the
document (``root.children[2] (A 惠民服务).weight``) by a :class:`Reader`, so the caller
(framework_file.py) can report them all at once. A node read here is a :class:`NodeSpec`;
linking nodes into a tree and checking the tree is framework_file.py's job.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cityos.assessment.framework import Denominator, Direction, Source, SourceKind
from cityos.assessment.live_metrics import LIVE_METRICS

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_CODE = 64
CODE_RULE = f"use 1–{MAX_CODE} letters, digits, '.', '_' or '-', starting with a letter or digit"

Problem = dict[str, str]

_TEXT_KEYS = ("name", "name_en", "name_zh", "description", "description_en", "description_zh")
FRAMEWORK_KEYS = ("code", *_TEXT_KEYS, "version", "total", "tiers", "method", "root", "nodes")
NODE_KEYS = ("code", *_TEXT_KEYS, "weight", "tier_weights")
INDICATOR_KEYS = (
    "unit",
    "direction",
    "goalposts",
    "target",
    "denominator",
    "source",
    "source_header",
)
SOURCE_KEYS = ("kind", "metric", "dataset", "value_field", "unit_field", "year_field", "filters")
_SOURCE_FIELDS = {
    SourceKind.ENTERED: (),
    SourceKind.LIVE: ("metric",),
    SourceKind.DATASET: ("dataset", "value_field", "unit_field", "year_field", "filters"),
}
_SOURCE_REQUIRED = {
    SourceKind.ENTERED: (),
    SourceKind.LIVE: ("metric",),
    SourceKind.DATASET: ("dataset", "value_field"),
}


@dataclass(slots=True)
class NodeSpec:
    """One node as read from the document, before the tree is known to be sound."""

    where: str  # "root.children[2] (A 惠民服务)" or "nodes[5] (A 惠民服务)"
    code: str | None
    name_en: str
    name_zh: str
    description_en: str
    description_zh: str
    weight: float | None
    tier_weights: dict[str, float]
    fields: dict[str, Any]  # the indicator-only values
    given: list[str]  # the indicator-only keys written for this node
    parent: str | None = None  # flat form
    children: list[NodeSpec] = field(default_factory=list)
    is_group: bool = False


class Reader:
    """Reads values, collecting problems instead of stopping at the first."""

    def __init__(self, tiers: Sequence[str] = ()) -> None:
        self.problems: list[Problem] = []
        self.tiers = tuple(tiers)

    def add(self, where: str, message: str) -> None:
        self.problems.append({"where": where, "message": message})

    def unknown_keys(self, raw: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
        for key in raw:
            if key in valid:
                continue
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.add(
                _at(where, str(key)), f"unknown key {key!r}{hint}; valid keys: {', '.join(valid)}"
            )

    def text(self, value: Any, where: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.add(where, f"must be text, not {shown(value)}")
            return None
        text = str(value).strip()
        return text or None

    def code(self, value: Any, where: str) -> str | None:
        if isinstance(value, float):
            self.add(where, f"write the code {value!r} in quotes: codes are text")
            return None
        code = self.text(value, where)
        if code is None:
            if value is None or isinstance(value, str):
                self.add(where, "missing code: every node needs a unique code")
        elif any(ch.isspace() for ch in code):
            self.add(where, f"the code {code!r} contains spaces: {CODE_RULE}")
            return None
        elif len(code) > MAX_CODE or not CODE_PATTERN.fullmatch(code):
            self.add(where, f"the code {code!r} is not allowed: {CODE_RULE}")
            return None
        return code

    def number(self, value: Any, where: str, *, what: str = "a number") -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            self.add(where, f"{value!r} is not {what}")
            return None
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            self.add(where, f"{shown(value)} is not {what}")
            return None
        if not math.isfinite(number):
            self.add(where, f"{shown(value)} is not a finite number")
            return None
        return number

    def weight(self, value: Any, where: str) -> float | None:
        weight = self.number(value, where, what="a number (weights are numbers >= 0)")
        if weight is not None and weight < 0:
            self.add(where, f"the weight {weight:g} is negative: weights must be >= 0")
            return None
        return weight

    def texts(self, raw: Mapping[str, Any], key: str, where: str) -> tuple[str, str]:
        """``key: {en, zh}`` (or a plain string for both), overridden by ``key_en``/``key_zh``."""
        en = zh = None
        value = raw.get(key)
        if isinstance(value, Mapping):
            self.unknown_keys(value, ("en", "zh"), _at(where, key))
            en = self.text(value.get("en"), _at(where, f"{key}.en"))
            zh = self.text(value.get("zh"), _at(where, f"{key}.zh"))
        elif value is not None:
            en = zh = self.text(value, _at(where, key))
        en = self.text(raw.get(f"{key}_en"), _at(where, f"{key}_en")) or en
        zh = self.text(raw.get(f"{key}_zh"), _at(where, f"{key}_zh")) or zh
        return en or "", zh or ""

    def names(self, raw: Mapping[str, Any], where: str) -> tuple[str, str]:
        en, zh = self.texts(raw, "name", where)
        if not en and not zh:
            self.add(_at(where, "name"), "missing name: give name: {en: …, zh: …}")
        return en or zh, zh or en

    def tier_weights(self, value: Any, where: str) -> dict[str, float]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(where, "must be a mapping {tier: weight}")
            return {}
        out: dict[str, float] = {}
        for tier, raw in value.items():
            name = str(tier)
            if name not in self.tiers:
                declared = ", ".join(self.tiers) if self.tiers else "none"
                self.add(
                    f"{where}.{name}",
                    f"tier {name!r} is not declared (declared: {declared}); "
                    "list it under tiers: at the top of the framework",
                )
                continue
            weight = self.weight(raw, f"{where}.{name}")
            if weight is not None:
                out[name] = weight
        return out


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _label(raw: Mapping[str, Any]) -> str:
    """``A 惠民服务``: the code and a name of a raw node, for places in messages."""

    def plain(value: Any) -> str:
        ok = isinstance(value, str | int) and not isinstance(value, bool)
        return str(value).strip() if ok else ""

    name = raw.get("name")
    if isinstance(name, Mapping):
        name = name.get("zh") or name.get("en")
    name = plain(raw.get("name_zh")) or plain(raw.get("name_en")) or plain(name)
    return " ".join(part for part in (plain(raw.get("code")), name) if part)


def read_node(raw: Any, path: str, reader: Reader, *, flat: bool) -> NodeSpec | None:
    """One node's own values (children are linked by the caller)."""
    if not isinstance(raw, Mapping):
        reader.add(path, f"must be a mapping with code, name, …, not {shown(raw)}")
        return None
    label = _label(raw)
    where = f"{path} ({label})" if label else path
    valid = (*NODE_KEYS, *INDICATOR_KEYS, "parent" if flat else "children")
    reader.unknown_keys(raw, valid, where)
    code = reader.code(raw.get("code"), f"{where}.code")
    name_en, name_zh = reader.names(raw, where)
    description_en, description_zh = reader.texts(raw, "description", where)
    spec = NodeSpec(
        where=where,
        code=code,
        name_en=name_en,
        name_zh=name_zh,
        description_en=description_en,
        description_zh=description_zh,
        weight=reader.weight(raw.get("weight"), f"{where}.weight"),
        tier_weights=reader.tier_weights(
            raw.get("tier_weights") if filled(raw.get("tier_weights")) else None,
            f"{where}.tier_weights",
        ),
        fields=_indicator_fields(raw, where, reader),
        given=[key for key in INDICATOR_KEYS if filled(raw.get(key))],
    )
    if flat:
        spec.parent = (
            reader.code(raw.get("parent"), f"{where}.parent") if filled(raw.get("parent")) else None
        )
    return spec


def filled(value: Any) -> bool:
    """Given at all: None and blank text (an empty spreadsheet cell) are not."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _indicator_fields(raw: Mapping[str, Any], where: str, reader: Reader) -> dict[str, Any]:
    out: dict[str, Any] = {
        "unit": reader.text(raw.get("unit"), f"{where}.unit") or "",
        "source_header": reader.text(raw.get("source_header"), f"{where}.source_header") or "",
        "target": reader.number(raw.get("target"), f"{where}.target"),
        "direction": Direction.HIGHER,
        "goalposts": None,
        "denominator": None,
        "source": Source(),
    }
    direction = raw.get("direction")
    if filled(direction):
        text = str(direction).strip().lower()
        if text in ("higher", "lower"):
            out["direction"] = Direction(text)
        else:
            reader.add(
                f"{where}.direction", f"{direction!r} is not a direction: use higher or lower"
            )
    if filled(raw.get("goalposts")):
        out["goalposts"] = _goalposts(raw["goalposts"], f"{where}.goalposts", reader)
    if filled(raw.get("denominator")):
        out["denominator"] = _denominator(raw["denominator"], f"{where}.denominator", reader)
    if filled(raw.get("source")):
        out["source"] = _source(raw["source"], f"{where}.source", reader)
    return out


def _goalposts(value: Any, where: str, reader: Reader) -> tuple[float, float] | None:
    fix = "goalposts must be two increasing numbers [low, high], e.g. [0, 100]"
    if isinstance(value, str) and "," in value:  # "0, 100" from a spreadsheet cell
        value = value.strip().strip("[]").split(",")
    if not isinstance(value, list | tuple) or len(value) != 2:
        reader.add(where, f"{fix}; got {shown(value)}")
        return None
    low = reader.number(value[0], f"{where}[0]")
    high = reader.number(value[1], f"{where}[1]")
    if low is None or high is None:
        if value[0] is None or value[1] is None:
            reader.add(where, fix)
        return None
    if not low < high:
        reader.add(where, f"{fix}; got [{low:g}, {high:g}]")
        return None
    return (low, high)


def _denominator(value: Any, where: str, reader: Reader) -> Denominator | None:
    if isinstance(value, str):
        value = {"by": value}
    if not isinstance(value, Mapping):
        reader.add(where, "must be a mapping {by: population, per: 100000}")
        return None
    reader.unknown_keys(value, ("by", "per"), where)
    by = reader.text(value.get("by"), f"{where}.by")
    if by is None:
        reader.add(f"{where}.by", "missing: what to divide by (population, area_km2, a code)")
    per = reader.number(value.get("per"), f"{where}.per")
    if per is not None and per <= 0:
        reader.add(f"{where}.per", f"per must be a positive number, not {per:g}")
        per = None
    return Denominator(by=by, per=per if per is not None else 1.0) if by else None


def _source(value: Any, where: str, reader: Reader) -> Source:
    if not isinstance(value, Mapping):
        reader.add(where, "must be a mapping {kind: entered | dataset | live, …}")
        return Source()
    reader.unknown_keys(value, SOURCE_KEYS, where)
    kind_text = str(value.get("kind", "entered")).strip().lower()
    if kind_text not in {kind.value for kind in SourceKind}:
        reader.add(f"{where}.kind", f"{kind_text!r} is not a source kind: entered, dataset, live")
        return Source()
    kind = SourceKind(kind_text)
    allowed = _SOURCE_FIELDS[kind]
    for key in SOURCE_KEYS[1:]:
        if key not in allowed and filled(value.get(key)) and value.get(key) != {}:
            reader.add(f"{where}.{key}", f"{key} is not used by kind: {kind.value}")
    required = _SOURCE_REQUIRED[kind]
    texts = {key: reader.text(value.get(key), f"{where}.{key}") for key in SOURCE_KEYS[1:-1]}
    for key in required:
        if not texts.get(key):
            reader.add(f"{where}.{key}", f"missing: kind: {kind.value} needs {key}")
    metric = texts["metric"]
    if kind is SourceKind.LIVE and metric and metric not in LIVE_METRICS:
        close = difflib.get_close_matches(metric, list(LIVE_METRICS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        reader.add(
            f"{where}.metric",
            f"unknown live metric {metric!r}{hint}; known: {', '.join(LIVE_METRICS)}",
        )
    filters = value.get("filters") or {}
    if not isinstance(filters, Mapping):
        reader.add(f"{where}.filters", "must be a mapping {column: value}")
        filters = {}
    for column, wanted in filters.items():
        if wanted is not None and not isinstance(wanted, str | int | float | bool):
            reader.add(
                f"{where}.filters.{column}",
                f"must be one value (text, a number, true or false), not {shown(wanted)}",
            )
    if kind is not SourceKind.DATASET:
        return Source(kind=kind, metric=metric if kind is SourceKind.LIVE else None)
    return Source(
        kind=kind,
        dataset=texts["dataset"],
        value_field=texts["value_field"],
        unit_field=texts["unit_field"],
        year_field=texts["year_field"],
        filters={str(k): copy.deepcopy(v) for k, v in filters.items()},
    )


def read_tiers(value: Any, reader: Reader) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        reader.add("tiers", "must be a list of tier names, e.g. [tier-1-2, tier-3-4]")
        return ()
    out: list[str] = []
    for index, item in enumerate(value):
        name = reader.text(item, f"tiers[{index}]")
        if name in out:
            reader.add(f"tiers[{index}]", f"the tier {name!r} is listed twice")
        elif name:
            out.append(name)
    return tuple(out)
