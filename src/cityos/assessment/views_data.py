"""What the assessment pages show, computed from domain objects (pure: no request, no
session). The pages (views*.py) fetch through :mod:`cityos.assessment.service` and hand the
results here; templates and the page scripts get plain dicts and lists.

Conventions kept with the engine:
- A node's *share in its group* is its weight over the sum of its siblings' weights (an equal
  share when its siblings have no weights); its *share of the total* is the product of the
  shares on the path from the index (what it contributes to the index score, in %).
- Weight sums: a group's children sum to the group's weight (the index's children to the
  framework's total), within a relative tolerance of 1e-6 — the parser's rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cityos.assessment.framework import Framework, Group, Indicator
from cityos.assessment.runconfig import (
    AggregateMethod,
    ImputeMethod,
    NormaliseMethod,
    WeightMethod,
)
from cityos.assessment.verification import Stage
from cityos.errors import InvalidInput

MAX_PAGE_RUNS = 1000  # Monte Carlo runs a page may ask for (the CLI and the API allow more)
SCREEN_PCT = 65.0  # the JRC rule of thumb shown on the coverage page when the method has none
CHOICES: dict[str, tuple[str, ...]] = {
    "impute": tuple(m.value for m in ImputeMethod),
    "normalise": tuple(m.value for m in NormaliseMethod),
    "weights": tuple(m.value for m in WeightMethod),
    "aggregate": tuple(m.value for m in AggregateMethod),
}


def name_of(item: Any, lang: str) -> str:
    """The Chinese name on Chinese pages when there is one, else the English name (for
    rows, dataclasses and dicts alike)."""

    def get(key: str) -> str:
        value = item.get(key) if isinstance(item, Mapping) else getattr(item, key, "")
        return str(value or "")

    if lang == "zh-CN" and get("name_zh"):
        return get("name_zh")
    return get("name_en") or get("code")


def num(value: float | int | None, digits: int = 1) -> str:
    """A number for a table cell: fixed digits, "—" when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}"


def weight_text(value: float | None) -> str:
    """A weight as typed in the editor (no trailing zeros; blank: an equal share)."""
    return "" if value is None else f"{value:.10g}"


def problem_lines(details: Any) -> list[str]:
    """An error's ``details`` as lines to list under its message (lists only: a dict of
    known codes repeats what the message says)."""
    if not isinstance(details, list):
        return []
    lines = []
    for item in details:
        if isinstance(item, Mapping):
            where = item.get("where") or item.get("row") or item.get("field") or ""
            message = item.get("message") or ", ".join(f"{k}: {v}" for k, v in item.items())
            lines.append(f"{where}: {message}" if where else str(message))
        else:
            lines.append(str(item))
    return lines


# --- the framework tree ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeRow:
    code: str
    name: str
    depth: int
    is_group: bool
    parent: str | None
    weight: float | None  # as declared (None: an equal share / the children's sum)
    share: float  # of its group, 0–1
    share_of_total: float  # of the index, 0–1
    children: int = 0
    child_sum: float | None = None  # a group's children's weights added up (None: not all given)
    expected: float | None = None  # what they must sum to: its weight (the index: the total)
    unit: str = ""
    direction: str = ""
    source: str = ""  # entered / dataset / live
    metric: str = ""  # a live indicator's metric, a dataset indicator's dataset


def shares(children: Sequence[Group | Indicator]) -> list[float]:
    """Each child's share of its group from the declared weights (see the module doc)."""
    given = [child.weight for child in children]
    if not children:
        return []
    if any(weight is None for weight in given):
        return [1.0 / len(children)] * len(children)
    total = math.fsum(weight for weight in given if weight is not None)
    if total <= 0:
        return [1.0 / len(children)] * len(children)
    return [float(weight or 0.0) / total for weight in given]


def tree_rows(framework: Framework, lang: str) -> list[TreeRow]:
    """Every node depth-first, with its shares of its group and of the index."""
    rows: list[TreeRow] = []

    def visit(
        node: Group | Indicator, depth: int, parent: str | None, share: float, of: float
    ) -> None:
        if isinstance(node, Group):
            given = [child.weight for child in node.children]
            total = None if any(w is None for w in given) else math.fsum(w or 0.0 for w in given)
            rows.append(
                TreeRow(
                    code=node.code,
                    name=name_of(node, lang),
                    depth=depth,
                    is_group=True,
                    parent=parent,
                    weight=node.weight,
                    share=share,
                    share_of_total=of,
                    children=len(node.children),
                    child_sum=total,
                    expected=framework.total if parent is None else node.weight,
                )
            )
            for child, part in zip(node.children, shares(node.children), strict=True):
                visit(child, depth + 1, node.code, part, of * part)
            return
        source = node.source
        rows.append(
            TreeRow(
                code=node.code,
                name=name_of(node, lang),
                depth=depth,
                is_group=False,
                parent=parent,
                weight=node.weight,
                share=share,
                share_of_total=of,
                unit=node.unit,
                direction=node.direction.value,
                source=source.kind.value,
                metric=source.metric or source.dataset or "",
            )
        )

    visit(framework.root, 0, None, 1.0, 1.0)
    return rows


def dimension_of(framework: Framework) -> dict[str, str]:
    """Indicator code → the code of the dimension (child of the index) it lies under."""
    out: dict[str, str] = {}
    for child in framework.root.children:
        if isinstance(child, Indicator):
            out[child.code] = child.code
        else:
            out.update({indicator.code: child.code for indicator in child.indicators()})
    return out


def weight_changes(framework: Framework, typed: Mapping[str, str]) -> dict[str, float | None]:
    """The weights the editor changed: node code → new weight (None: an equal share).

    ``typed`` holds what the form sent per node code; blank means no weight. Unknown codes
    and text that is not a number >= 0 are refused, every one named."""
    stored = {node.code: node.weight for _, node in framework.root.walk()}
    problems: list[str] = []
    changes: dict[str, float | None] = {}
    for code, text in typed.items():
        if code not in stored or code == framework.root.code:
            problems.append(f"{code} is not a weighted node of {framework.code}")
            continue
        cleaned = text.strip().replace(",", ".").replace("，", ".")
        value: float | None
        if not cleaned:
            value = None
        else:
            try:
                value = float(cleaned)
            except ValueError:
                problems.append(f"the weight of {code} ({text!r}) is not a number")
                continue
            if not math.isfinite(value) or value < 0:
                problems.append(f"the weight of {code} ({text!r}) must be a number >= 0")
                continue
        before = stored[code]
        same = (value is None and before is None) or (
            value is not None
            and before is not None
            and math.isclose(value, before, rel_tol=1e-12, abs_tol=1e-12)
        )
        if not same:
            changes[code] = value
    if problems:
        raise InvalidInput("Fix the weights: " + "; ".join(problems) + ".", details=problems)
    return changes


# --- the new-run form --------------------------------------------------------------------


def unit_set_from(form: Mapping[str, str]) -> str:
    """The unit set a run form chose: the city's districts, the home city and a peer group,
    or a list of unit codes."""
    kind = form.get("units_kind", "areas")
    if kind == "areas":
        return "areas:district"
    if kind == "peers":
        group = form.get("peer_group", "").strip()
        if not group:
            raise InvalidInput("Choose the peer group to compare the home city with.")
        return f"peers:{group}"
    if kind == "list":
        codes = [code for code in re.split(r"[\s,，;；]+", form.get("unit_codes", "")) if code]
        if not codes:
            raise InvalidInput("List the codes of the units to assess, separated by commas.")
        return ",".join(codes)
    raise InvalidInput(f"Unknown choice of units {kind!r}: districts, peers or a list.")


def _whole(text: str, what: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInput(f"The {what} ({text!r}) is not a whole number.") from None
    if not low <= value <= high:
        raise InvalidInput(f"The {what} must be between {low} and {high}, not {value}.")
    return value


def run_overrides(form: Mapping[str, str]) -> dict[str, Any]:
    """The run config a form chose; blank choices keep the framework's own method."""
    overrides: dict[str, Any] = {}
    year = form.get("year", "").strip()
    if year:
        overrides["year"] = _whole(year, "year", 1900, 2200)
    for step in ("impute", "normalise", "weights", "aggregate"):
        method = form.get(step, "").strip()
        if method:
            overrides[step] = {"method": method}  # unknown names: the engine lists the valid ones
    runs = form.get("mc_runs", "").strip()
    if runs:
        overrides["uncertainty"] = {
            "runs": _whole(runs, "number of Monte Carlo runs", 0, MAX_PAGE_RUNS)
        }
    return overrides


# --- runs ------------------------------------------------------------------------------------


def _node_names(result: Mapping[str, Any], lang: str) -> dict[str, str]:
    names = {g["code"]: name_of(g, lang) for g in result.get("groups", [])}
    names.update({i["code"]: name_of(i, lang) for i in result.get("indicators", [])})
    return names


def dimensions(result: Mapping[str, Any]) -> list[str]:
    """The codes of the index's children, in framework order."""
    root = result["root"]
    group = next((g for g in result.get("groups", []) if g["code"] == root), None)
    return list(group["children"]) if group else []


def _at(values: Sequence[float | None] | None, i: int) -> float | None:
    return values[i] if values is not None and i < len(values) else None


def _rank_key(rank: float | None, code: str) -> tuple[bool, float, str]:
    return (rank is None, rank if rank is not None else 0.0, code)


def ranking(result: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """The ranking table: one row per unit (best first; screened-out units last)."""
    root = result["root"]
    dims = dimensions(result)
    names = _node_names(result, lang)
    scores, ranks = result["scores"], result["ranks"]
    rows = []
    for i, unit in enumerate(result["units"]):
        have, of = result["coverage"].get(unit["code"], [0, len(result["indicators"])])
        rows.append(
            {
                "code": unit["code"],
                "name": name_of(unit, lang),
                "kept": bool(result["kept_units"][i]),
                "score": _at(scores.get(root), i),
                "rank": _at(ranks.get(root), i),
                "dims": [(_at(scores.get(d), i), _at(ranks.get(d), i)) for d in dims],
                "have": have,
                "of": of,
            }
        )
    rows.sort(key=lambda row: _rank_key(row["rank"], row["code"]))
    return {"dims": [(code, names.get(code, code)) for code in dims], "rows": rows}


def uncertainty_rows(result: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    """Median rank and its 5–95 % interval per kept unit (best median first)."""
    unc = result.get("uncertainty")
    if not unc:
        return []
    kept = [u for u, k in zip(result["units"], result["kept_units"], strict=True) if k]
    rows = [
        {
            "code": unit["code"],
            "name": name_of(unit, lang),
            "median": unc["median_rank"][j],
            "p05": unc["rank_p05"][j],
            "p95": unc["rank_p95"][j],
            "score": unc["score_median"][j],
        }
        for j, unit in enumerate(kept)
    ]
    rows.sort(key=lambda row: _rank_key(row["median"], row["code"]))
    return rows


def area_level(units_description: str) -> str | None:
    """The map level when a run's units are areas of the city (``areas:district``)."""
    if units_description.startswith("areas:"):
        return units_description[len("areas:") :].strip() or "district"
    return None


def chart_data(
    result: Mapping[str, Any], lang: str, *, run_id: int, subject: str | None, map_level: str | None
) -> dict[str, Any]:
    """What the run page's script draws: scores per node, the rank intervals, the map."""
    root = result["root"]
    names = _node_names(result, lang)
    nodes = [root, *dimensions(result)]
    return {
        "lang": lang,
        "run": run_id,
        "subject": subject,
        "units": [{"code": u["code"], "name": name_of(u, lang)} for u in result["units"]],
        "nodes": [{"code": code, "name": names.get(code, code)} for code in nodes],
        "scores": {code: result["scores"].get(code) for code in nodes},
        "ranks": {code: result["ranks"].get(code) for code in nodes},
        "uncertainty": uncertainty_rows(result, lang),
        "sensitivity": (result.get("uncertainty") or {}).get("sensitivity") or {},
        "map_level": map_level,
    }


def default_subject(result: Mapping[str, Any]) -> str | None:
    """The unit compared by default: the first kept unit (the home city in a peer run)."""
    for unit, kept in zip(result["units"], result["kept_units"], strict=True):
        if kept:
            return str(unit["code"])
    return None


# --- plans -------------------------------------------------------------------------------


def parse_stages(text: str) -> list[Stage]:
    """Stage targets from ``2026: 80, 2028: 85`` (or one per line; ``=`` also works)."""
    stages: list[Stage] = []
    problems: list[str] = []
    for part in re.split(r"[,，;；\n]+", text):
        item = part.strip()
        if not item:
            continue
        match = re.fullmatch(r"(\d{4})\s*[:：=]\s*(-?[\d.]+)", item)
        if not match:
            problems.append(f"{item!r} is not 'year: value'")
            continue
        try:
            stages.append(Stage(int(match.group(1)), float(match.group(2))))
        except ValueError:
            problems.append(f"{item!r} has no number after the year")
    if problems:
        raise InvalidInput(
            "Write stage targets as 'year: value', separated by commas (2026: 80, 2028: 85): "
            + "; ".join(problems)
            + ".",
            details=problems,
        )
    if not stages:
        raise InvalidInput("Give at least one stage target as 'year: value' (2028: 85).")
    return stages


def stages_text(stages: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{int(s['year'])}: {float(s['value']):g}" for s in stages)


def optional_float(text: str, what: str) -> float | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        raise InvalidInput(f"The {what} ({text!r}) is not a number.") from None
    if not math.isfinite(value):
        raise InvalidInput(f"The {what} must be a finite number.")
    return value
