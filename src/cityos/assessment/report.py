"""The assessment report: one self-contained HTML file (inline CSS and SVG, no script).

It renders without a request (CLI, API, background jobs): its own Jinja2 environment reads
the app's template folder with autoescaping on. The strings come from the app's catalogs
(``locales/assessment_report.*.json``); charts come from :mod:`cityos.assessment.charts`.
The same file prints to an A4 PDF (see :mod:`cityos.assessment.pdf`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from cityos.assessment import charts
from cityos.assessment.benchmarking import Comparison, DimensionComparison
from cityos.assessment.framework import Framework, Group, Indicator
from cityos.assessment.panel import Unit
from cityos.assessment.result import PipelineResult
from cityos.config import Language
from cityos.errors import InvalidInput
from cityos.i18n import parse_language, translate

CHART_LIMIT = 40  # units drawn in a ranking chart; the tables always list every unit
DATA_COLUMNS = 8  # indicator columns per data table, so each fits the width of A4
PREFIX = "assessment_report."
# The report's own policy when served inline: its <style> is inline and it loads nothing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
)


@cache
def environment() -> Environment:
    """Jinja2 over the app's templates, autoescaping, failing on undefined names."""
    folder = resources.files("cityos").joinpath("web", "templates")
    return Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report(
    result: PipelineResult,
    *,
    lang: str = "en",
    title: str | None = None,
    comparison: Comparison | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The whole report as one HTML document in ``lang`` (``en`` or ``zh-CN``)."""
    language = parse_language(lang)
    if language is None:
        raise InvalidInput(f"Unknown report language {lang!r}: use 'en' or 'zh-CN'")
    view = _View(result, language)
    context = view.context(title, comparison, generated_at or datetime.now(UTC))
    return environment().get_template("assessment/report.html").render(context)


@dataclass(frozen=True, slots=True)
class _View:
    result: PipelineResult
    language: Language

    # ------------------------------------------------------------ words and numbers

    def t(self, key: str, **values: object) -> str:
        """A report string by its short key (without the catalog's prefix)."""
        return translate(self.language, PREFIX + key, **values)

    def translate(self, key: str, **values: object) -> str:
        """Any catalog string by its full key (what the template uses)."""
        return translate(self.language, key, **values)

    def name(self, item: Unit | Group | Indicator | Framework) -> str:
        if self.language == "zh-CN" and item.name_zh:
            return item.name_zh
        return item.name_en

    # ------------------------------------------------------------ the context

    def context(
        self, title: str | None, comparison: Comparison | None, generated_at: datetime
    ) -> dict[str, Any]:
        result = self.result
        fw = result.framework
        kept_units = int(result.kept_units.sum())
        kept_indicators = int(result.kept_indicators.sum())
        return {
            "lang": self.language,
            "t": self.translate,
            "title": title or self.t("title", framework=self.name(fw), year=result.year),
            "framework_name": self.name(fw),
            "framework": fw,
            "year": result.year,
            "generated": _when(generated_at),
            "units_kept": self.t("units_kept", kept=kept_units, total=len(result.units)),
            "indicators_kept": self.t(
                "indicators_kept", kept=kept_indicators, total=len(result.indicators)
            ),
            "dimensions": [self.name(node) for node in fw.root.children],
            "ranking": self.ranking(),
            "has_uncertainty": result.uncertainty is not None,
            "charts": self.charts(comparison),
            "comparison": self.comparison(comparison) if comparison else None,
            "subject": comparison.unit.code if comparison else None,
            "steps": self.steps(),
            "config": yaml.safe_dump(
                result.config.model_dump(mode="json"), sort_keys=False, allow_unicode=True
            ),
            "warnings": list(result.warnings),
            "screening": self.screening(),
            "outliers": self.outliers(),
            "coherence": self.coherence(),
            "uncertainty": self.uncertainty(),
            "tree": self.tree(),
            "data_tables": self.data_tables(),
        }

    def order(self) -> list[int]:
        """Units by index rank (best first), unscored ones last, then by code."""
        ranks = self.result.ranks.get(self.result.framework.root.code)
        if ranks is None:
            ranks = np.full(len(self.result.units), np.nan)

        def key(i: int) -> tuple[bool, float, str]:
            rank = float(ranks[i])
            return math.isnan(rank), 0.0 if math.isnan(rank) else rank, self.result.units[i].code

        return sorted(range(len(self.result.units)), key=key)

    def kept_position(self) -> dict[int, int]:
        """Unit position → its row in the uncertainty arrays (kept units only)."""
        return {int(i): k for k, i in enumerate(np.flatnonzero(self.result.kept_units))}

    def ranking(self) -> list[dict[str, Any]]:
        result = self.result
        root = result.framework.root
        rows = []
        kept_at = self.kept_position()
        unc = result.uncertainty
        for i in self.order():
            unit = result.units[i]
            have, of = result.coverage.get(unit.code, (0, len(result.indicators)))
            interval = ""
            if unc is not None and i in kept_at:
                k = kept_at[i]
                interval = (
                    f"{_num(unc.rank_p05[k], 0)}–{_num(unc.rank_p95[k], 0)} "
                    f"({_num(unc.median_rank[k], 1)})"
                )
            rows.append(
                {
                    "rank": _num(self._at(result.ranks, root.code, i), 0),
                    "code": unit.code,
                    "name": self.name(unit),
                    "kept": bool(result.kept_units[i]),
                    "index": _num(self._at(result.scores, root.code, i), 1),
                    "dimensions": [
                        (
                            _num(self._at(result.scores, node.code, i), 1),
                            _num(self._at(result.ranks, node.code, i), 0),
                        )
                        for node in root.children
                    ],
                    "coverage": self.t("n_of_m", n=have, m=of),
                    "coverage_title": self.t("computed_from", n=have, m=of),
                    "interval": interval,
                }
            )
        return rows

    @staticmethod
    def _at(table: dict[str, Any], code: str, i: int) -> float:
        values = table.get(code)
        return math.nan if values is None else float(values[i])

    # ------------------------------------------------------------ charts

    def charts(self, comparison: Comparison | None) -> list[dict[str, Any]]:
        result = self.result
        root = result.framework.root
        kept = [int(i) for i in np.flatnonzero(result.kept_units)]
        highlight = set()
        if comparison is not None:
            subject = [k for k, i in enumerate(kept) if result.units[i] == comparison.unit]
            highlight = set(subject)
        labels = [self.name(result.units[i]) for i in kept]
        out: list[dict[str, Any]] = []
        note = (
            self.t("chart.shown", shown=CHART_LIMIT, total=len(kept))
            if len(kept) > CHART_LIMIT
            else ""
        )
        index = result.scores.get(root.code)
        if index is not None:
            ranked = [
                f"{_num(self._at(result.ranks, root.code, i), 0)}. {label}"
                for i, label in zip(kept, labels, strict=True)
            ]
            svg = charts.bar_chart(
                ranked,
                [float(index[i]) for i in kept],
                title=self.t("chart.index"),
                highlight=highlight,
                limit=CHART_LIMIT,
            )
            out.append({"id": "chart-index", "svg": Markup(svg), "note": note})  # noqa: S704
        if comparison is not None:
            out.append(self.comparison_chart(comparison))
        unc = result.uncertainty
        if unc is not None:
            svg = charts.whisker_plot(
                labels,
                [float(v) for v in unc.median_rank],
                [float(v) for v in unc.rank_p05],
                [float(v) for v in unc.rank_p95],
                title=self.t("chart.rank_interval"),
                axis_label=self.t("chart.rank_axis"),
                highlight=highlight,
                limit=CHART_LIMIT,
            )
            out.append({"id": "chart-uncertainty", "svg": Markup(svg), "note": note})  # noqa: S704
        out.append(self.coverage_chart())
        return out

    def comparison_chart(self, comparison: Comparison) -> dict[str, Any]:
        radar = comparison.radar
        zh = self.language == "zh-CN"
        axes = radar.axis_names_zh if zh else radar.axis_names_en
        series = [
            charts.Series(s.label_zh if zh else s.label_en, list(s.values)) for s in radar.series
        ]
        title = self.t("chart.comparison", unit=self.name(comparison.unit))
        if len(axes) >= 3:
            svg = charts.radar(axes, series, title=title)
        else:
            svg = charts.grouped_bars(axes, series, title=title)
        return {"id": "chart-comparison", "svg": Markup(svg), "note": ""}  # noqa: S704

    def coverage_chart(self) -> dict[str, Any]:
        result = self.result
        present = ~np.isnan(result.raw)
        column_of = {code: j for j, code in enumerate(result.indicators)}
        nodes = list(result.framework.root.children)
        order = self.order()
        shown = order[:CHART_LIMIT]
        shares: list[list[float]] = []
        for i in shown:
            row = []
            for node in nodes:
                leaves = node.indicators() if isinstance(node, Group) else [node]
                columns = [column_of[leaf.code] for leaf in leaves if leaf.code in column_of]
                row.append(float(present[i, columns].mean()) if columns else math.nan)
            shares.append(row)
        svg = charts.coverage_grid(
            [self.name(result.units[i]) for i in shown],
            [self.name(node) for node in nodes],
            shares,
            title=self.t("chart.coverage"),
        )
        note = (
            self.t("chart.shown", shown=CHART_LIMIT, total=len(order))
            if len(order) > CHART_LIMIT
            else ""
        )
        return {"id": "chart-coverage", "svg": Markup(svg), "note": note}  # noqa: S704

    # ------------------------------------------------------------ sections

    def named(self, name_en: str, name_zh: str) -> str:
        return name_zh if self.language == "zh-CN" and name_zh else name_en

    def comparison(self, comparison: Comparison) -> dict[str, Any]:
        def row(item: DimensionComparison) -> dict[str, Any]:
            leader = item.leader
            return {
                "code": item.code,
                "name": self.named(item.name_en, item.name_zh),
                "depth": item.depth,
                "score": _num(item.score, 1),
                "group_rank": (
                    f"{item.group_rank} / {item.group_size}" if item.group_rank else _num(math.nan)
                ),
                "leader": ""
                if leader is None
                else f"{self.named(leader.name_en, leader.name_zh)} ({_num(leader.score, 1)})",
                "gap_leader": _num(item.gap_to_leader, 1, signed=True),
                "peer_median": _num(item.peer_median, 1),
                "gap_median": _num(item.gap_to_median, 1, signed=True),
            }

        names = {item.code: item for item in (comparison.index, *comparison.dimensions)}

        def label(code: str) -> str:
            item = names[code]
            return self.named(item.name_en, item.name_zh)

        return {
            "unit": self.name(comparison.unit),
            "peers": [self.name(peer) for peer in comparison.peers],
            "rows": [row(comparison.index)] + [row(item) for item in comparison.dimensions],
            "strengths": [label(code) for code in comparison.strengths],
            "weaknesses": [label(code) for code in comparison.weaknesses],
            "notes": list(comparison.notes),
        }

    def steps(self) -> list[dict[str, Any]]:
        return [
            {
                "step": step.step,
                "method": step.method,
                "params": [(key, _param(value)) for key, value in step.params.items()],
                "notes": list(step.notes),
            }
            for step in self.result.steps
        ]

    def screening(self) -> dict[str, Any]:
        result = self.result
        config = result.config.screen
        units = []
        for i in np.flatnonzero(~result.kept_units):
            unit = result.units[int(i)]
            have, of = result.coverage.get(unit.code, (0, len(result.indicators)))
            share = _pct(have / of if of else 0.0)
            units.append(
                {
                    "code": unit.code,
                    "name": self.name(unit),
                    "coverage": f"{self.t('n_of_m', n=have, m=of)} ({share})",
                }
            )
        present = ~np.isnan(result.raw)
        indicators = []
        for j in np.flatnonzero(~result.kept_indicators):
            code = result.indicators[int(j)]
            indicators.append(
                {
                    "code": code,
                    "name": self._indicator_name(code),
                    "coverage": _pct(float(present[:, int(j)].mean()) if present.size else 0.0),
                }
            )
        return {
            "rule": self.t(
                "screening.rule",
                units=_pct(config.min_unit_coverage),
                indicators=_pct(config.min_indicator_coverage),
            ),
            "units": units,
            "indicators": indicators,
        }

    def outliers(self) -> dict[str, Any]:
        treated = [item for item in self.result.treatments if item.action != "none"]
        return {
            "rows": [
                {
                    "code": item.indicator,
                    "name": self._indicator_name(item.indicator),
                    "action": self.t(f"action.{item.action}"),
                    "points": item.points,
                    "skew_before": _num(item.skew_before, 2),
                    "kurtosis_before": _num(item.kurtosis_before, 2),
                    "skew_after": _num(item.skew_after, 2),
                    "kurtosis_after": _num(item.kurtosis_after, 2),
                }
                for item in treated
            ],
            "untreated": len(self.result.treatments) - len(treated),
        }

    def coherence(self) -> dict[str, Any]:
        coherence = self.result.coherence
        fw = self.result.framework
        alpha = []
        for code, value in coherence.alpha.items():
            try:
                name = self.name(fw.node(code))
            except KeyError:
                name = code
            alpha.append({"code": code, "name": name, "alpha": _num(value, 2)})
        return {
            "flags": [
                {
                    "group": flag.group,
                    "pair": f"{flag.a} · {flag.b}",
                    "r": _num(flag.r, 2),
                    "kind": self.t(f"flag.{flag.kind}"),
                }
                for flag in coherence.flags
            ],
            "alpha": alpha,
        }

    def uncertainty(self) -> dict[str, Any] | None:
        result = self.result
        unc = result.uncertainty
        if unc is None:
            return None
        kept = [int(i) for i in np.flatnonzero(result.kept_units)]
        root = result.framework.root.code
        order = sorted(range(len(kept)), key=lambda k: (_sort_key(float(unc.median_rank[k])), k))
        rows = [
            {
                "name": self.name(result.units[kept[k]]),
                "rank": _num(self._at(result.ranks, root, kept[k]), 0),
                "median": _num(unc.median_rank[k], 1),
                "interval": f"{_num(unc.rank_p05[k], 0)}–{_num(unc.rank_p95[k], 0)}",
                "score": f"{_num(unc.score_median[k], 1)} "
                f"({_num(unc.score_p05[k], 1)}–{_num(unc.score_p95[k], 1)})",
            }
            for k in order
        ]
        return {
            "runs": self.t("uncertainty.runs", runs=unc.runs),
            "choices": [(key, ", ".join(values)) for key, values in unc.choices.items()],
            "sensitivity": [
                (key, _num(value, 3))
                for key, value in sorted(unc.sensitivity.items(), key=lambda kv: -kv[1])
            ],
            "rows": rows,
        }

    def tree(self) -> list[dict[str, Any]]:
        weights = self.result.weights
        rows: list[dict[str, Any]] = []

        def visit(node: Group | Indicator, depth: int, overall: float) -> None:
            own = 1.0 if depth == 0 else weights.get(node.code, math.nan)
            total = overall * own
            leaf = node if isinstance(node, Indicator) else None
            rows.append(
                {
                    "depth": depth,
                    "code": node.code,
                    "name": self.name(node),
                    "indicator": leaf is not None,
                    "direction": self.t(f"direction.{leaf.direction.value}") if leaf else "",
                    "unit": leaf.unit if leaf else "",
                    "weight": "" if depth == 0 else _pct(own, 1),
                    "overall": _pct(total, 1),
                }
            )
            if isinstance(node, Group):
                for child in node.children:
                    visit(child, depth + 1, total)

        visit(self.result.framework.root, 0, 1.0)
        return rows

    def data_tables(self) -> list[dict[str, Any]]:
        result = self.result
        tables = []
        for start in range(0, len(result.indicators), DATA_COLUMNS):
            codes = result.indicators[start : start + DATA_COLUMNS]
            tables.append(
                {
                    "columns": [
                        {"code": code, "name": self._indicator_name(code)} for code in codes
                    ],
                    "rows": [
                        {
                            "code": unit.code,
                            "name": self.name(unit),
                            "cells": [_raw(result.raw[i, start + j]) for j in range(len(codes))],
                        }
                        for i, unit in enumerate(result.units)
                    ],
                }
            )
        return tables

    def _indicator_name(self, code: str) -> str:
        try:
            return self.name(self.result.framework.node(code))
        except KeyError:
            return code


# ---------------------------------------------------------------- formatting


def _when(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def _sort_key(value: float) -> tuple[bool, float]:
    value = float(value)
    return math.isnan(value), 0.0 if math.isnan(value) else value


def _num(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """Fixed decimals; '–' for missing; ``signed`` adds '+' to positive numbers."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    text = f"{float(value):{'+' if signed else ''},.{digits}f}"
    if text.lstrip("+-").strip("0.,") == "":
        return text.lstrip("+-")
    return text


def _pct(share: float, digits: int = 0) -> str:
    if not math.isfinite(share):
        return "–"
    return f"{share * 100:.{digits}f} %"


def _raw(value: float) -> str:
    """A raw value with about four significant digits and thousands separators."""
    value = float(value)
    if not math.isfinite(value):
        return "–"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{value:.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _param(value: Any) -> str:
    if isinstance(value, list | tuple) and all(not isinstance(v, dict) for v in value):
        return ", ".join(_param(v) for v in value) or "–"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_param(v)}" for k, v in value.items()) or "–"
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


__all__: Sequence[str] = ("CONTENT_SECURITY_POLICY", "environment", "render_report")
