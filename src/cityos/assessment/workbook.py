"""The Excel workbook of a run: every intermediate table, the weights and every choice.

One sheet per table so each can be checked or recomputed in a spreadsheet. Sheet names are
fixed English words (scripts can rely on them); headers and names follow ``lang``. Tables of
units × columns carry two header rows: codes, then names. Numbers stay numbers; a missing
value (NaN) is an empty cell. Written in openpyxl's write-only mode, which streams rows.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from cityos.assessment.framework import Framework, Group, Indicator
from cityos.assessment.panel import FloatArray, Unit
from cityos.assessment.result import PipelineResult
from cityos.config import Language
from cityos.errors import InvalidInput
from cityos.i18n import parse_language, translate

MATRICES = ("raw", "denominated", "imputed", "treated", "normalised")
BOLD = Font(bold=True)

Row = Sequence[Any]


def build_workbook(result: PipelineResult, *, lang: str = "en") -> bytes:
    """The workbook as .xlsx bytes."""
    language = parse_language(lang)
    if language is None:
        raise InvalidInput(f"Unknown workbook language {lang!r}: use 'en' or 'zh-CN'")
    sheets = _Sheets(result, language)
    book = Workbook(write_only=True)
    for title, rows, widths in sheets.all():
        sheet = book.create_sheet(title)
        for column, width in enumerate(widths):
            sheet.column_dimensions[_letter(column)].width = width
        for header, row in rows:
            sheet.append(_cells(sheet, row, bold=header))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class _Sheets:
    """Builds the rows of every sheet as (is a header row, cells)."""

    def __init__(self, result: PipelineResult, language: Language) -> None:
        self.result = result
        self.language = language

    def t(self, key: str, **values: object) -> str:
        return translate(self.language, "assessment_report." + key, **values)

    def name(self, item: Unit | Group | Indicator | Framework) -> str:
        return item.name_zh if self.language == "zh-CN" and item.name_zh else item.name_en

    def all(self) -> Iterator[tuple[str, Iterable[tuple[bool, Row]], list[float]]]:
        yield "summary", self.summary(), [14, 28, 12, 12, 12, 12]
        for title in MATRICES:
            matrix: FloatArray = getattr(self.result, title)
            yield title, self.unit_table(self.indicator_columns(), matrix), []
        nodes = self.node_columns()
        scores = self.stack(self.result.scores, [code for code, _ in nodes])
        ranks = self.stack(self.result.ranks, [code for code, _ in nodes])
        yield "scores", self.unit_table(nodes, scores), []
        yield "ranks", self.unit_table(nodes, ranks), []
        yield "weights", self.weights(), [14, 30, 14, 8, 14, 14]
        yield "method", self.method(), [16, 22, 50, 80]
        yield "screening", self.screening(), [10, 14, 30, 14, 10, 10, 10]
        yield "outliers", self.outliers(), [14, 30, 14, 10, 12, 12, 12, 12]
        yield "coherence", self.coherence(), [14, 14, 14, 10, 14]
        yield "correlation", self.correlation(), [14]
        if self.result.uncertainty is not None:
            yield "uncertainty", self.uncertainty(), [14, 28]
        yield "framework", self.framework(), [6, 14, 30, 20, 10, 10, 12]

    # ------------------------------------------------------------ tables of units

    def indicator_columns(self) -> list[tuple[str, str]]:
        return [(code, self._node_name(code)) for code in self.result.indicators]

    def node_columns(self) -> list[tuple[str, str]]:
        return [(node.code, self.name(node)) for _, node in self.result.framework.root.walk()]

    def stack(self, table: dict[str, FloatArray], codes: list[str]) -> FloatArray:
        matrix = np.full((len(self.result.units), len(codes)), np.nan)
        for j, code in enumerate(codes):
            if code in table:
                matrix[:, j] = table[code]
        return matrix

    def unit_table(
        self, columns: list[tuple[str, str]], matrix: FloatArray
    ) -> Iterator[tuple[bool, Row]]:
        kept = self.t("kept")
        out = self.t("screened_out")
        yield (
            True,
            [self.t("col.code"), self.t("col.name"), self.t("col.status")]
            + [code for code, _ in columns],
        )
        yield True, ["", "", ""] + [name for _, name in columns]
        for i, unit in enumerate(self.result.units):
            status = kept if bool(self.result.kept_units[i]) else out
            yield False, [unit.code, self.name(unit), status, *(_cell(v) for v in matrix[i])]

    # ------------------------------------------------------------ the other sheets

    def summary(self) -> Iterator[tuple[bool, Row]]:
        result = self.result
        fw = result.framework
        yield True, [self.t("framework"), self.name(fw)]
        yield False, [self.t("col.code"), fw.code]
        yield False, [self.t("version"), fw.version]
        yield False, [self.t("year"), result.year]
        yield False, [self.t("units"), int(result.kept_units.sum()), len(result.units)]
        yield (
            False,
            [
                self.t("indicators"),
                int(result.kept_indicators.sum()),
                len(result.indicators),
            ],
        )
        yield False, []
        root = fw.root
        dimensions = list(root.children)
        yield (
            True,
            [
                self.t("col.rank"),
                self.t("col.code"),
                self.t("col.name"),
                self.t("col.index"),
                self.t("wb.with_data"),
                self.t("wb.of"),
                *(self.name(node) for node in dimensions),
            ],
        )
        index_ranks = result.ranks.get(root.code, np.full(len(result.units), np.nan))
        order = sorted(
            range(len(result.units)),
            key=lambda i: (math.isnan(index_ranks[i]), _cell(index_ranks[i]) or 0, i),
        )
        for i in order:
            unit = result.units[i]
            have, of = result.coverage.get(unit.code, (0, len(result.indicators)))
            yield (
                False,
                [
                    _cell(index_ranks[i]),
                    unit.code,
                    self.name(unit),
                    _cell(self._score(root.code, i)),
                    have,
                    of,
                    *(_cell(self._score(node.code, i)) for node in dimensions),
                ],
            )

    def weights(self) -> Iterator[tuple[bool, Row]]:
        yield (
            True,
            [
                self.t("col.code"),
                self.t("col.name"),
                self.t("wb.parent"),
                self.t("wb.depth"),
                self.t("col.weight"),
                self.t("col.overall_weight"),
            ],
        )
        for depth, node, parent, own, overall in self._tree():
            yield False, [node.code, self.name(node), parent, depth, own, overall]

    def method(self) -> Iterator[tuple[bool, Row]]:
        yield (
            True,
            [self.t("col.step"), self.t("col.method"), self.t("col.params"), self.t("col.notes")],
        )
        for step in self.result.steps:
            params = json.dumps(step.params, ensure_ascii=False, sort_keys=True, default=str)
            yield False, [step.step, step.method, params, "\n".join(step.notes)]
        yield False, []
        yield True, [self.t("section.warnings")]
        for warning in self.result.warnings:
            yield False, [warning]
        yield False, []
        yield True, [self.t("wb.setting"), self.t("wb.value")]
        for key, value in _flatten(self.result.config.model_dump(mode="json")):
            yield False, [key, value]

    def screening(self) -> Iterator[tuple[bool, Row]]:
        result = self.result
        yield (
            True,
            [
                self.t("wb.kind"),
                self.t("col.code"),
                self.t("col.name"),
                self.t("col.status"),
                self.t("wb.with_data"),
                self.t("wb.of"),
                self.t("wb.share"),
            ],
        )
        kept, out = self.t("kept"), self.t("screened_out")
        for i, unit in enumerate(result.units):
            have, of = result.coverage.get(unit.code, (0, len(result.indicators)))
            status = kept if bool(result.kept_units[i]) else out
            share = have / of if of else None
            yield False, [self.t("wb.unit"), unit.code, self.name(unit), status, have, of, share]
        present = ~np.isnan(result.raw)
        units = len(result.units)
        for j, code in enumerate(result.indicators):
            have = int(present[:, j].sum())
            status = kept if bool(result.kept_indicators[j]) else out
            share = have / units if units else None
            name = self._node_name(code)
            yield False, [self.t("wb.indicator"), code, name, status, have, units, share]

    def outliers(self) -> Iterator[tuple[bool, Row]]:
        yield (
            True,
            [
                self.t("col.code"),
                self.t("col.name"),
                self.t("col.action"),
                self.t("col.points"),
                self.t("col.skew_before"),
                self.t("col.kurtosis_before"),
                self.t("col.skew_after"),
                self.t("col.kurtosis_after"),
            ],
        )
        for item in self.result.treatments:
            yield (
                False,
                [
                    item.indicator,
                    self._node_name(item.indicator),
                    item.action,
                    item.points,
                    _cell(item.skew_before),
                    _cell(item.kurtosis_before),
                    _cell(item.skew_after),
                    _cell(item.kurtosis_after),
                ],
            )

    def coherence(self) -> Iterator[tuple[bool, Row]]:
        coherence = self.result.coherence
        yield True, [self.t("col.group"), "a", "b", self.t("col.r"), self.t("col.kind")]
        for flag in coherence.flags:
            yield False, [flag.group, flag.a, flag.b, _cell(flag.r), flag.kind]
        yield False, []
        yield True, [self.t("col.group"), self.t("col.name"), self.t("col.alpha")]
        for code, alpha in coherence.alpha.items():
            yield False, [code, self._node_name(code), _cell(alpha)]

    def correlation(self) -> Iterator[tuple[bool, Row]]:
        coherence = self.result.coherence
        codes = list(coherence.indicators)
        yield True, ["", *codes]
        for i, code in enumerate(codes):
            yield False, [code, *(_cell(v) for v in coherence.correlation[i])]

    def uncertainty(self) -> Iterator[tuple[bool, Row]]:
        unc = self.result.uncertainty
        assert unc is not None
        yield True, [self.t("wb.runs"), unc.runs]
        yield False, []
        yield (
            True,
            [
                self.t("col.code"),
                self.t("col.name"),
                self.t("col.median_rank"),
                self.t("wb.rank_p05"),
                self.t("wb.rank_p95"),
                self.t("wb.score_median"),
                self.t("wb.score_p05"),
                self.t("wb.score_p95"),
            ],
        )
        kept = [int(i) for i in np.flatnonzero(self.result.kept_units)]
        for k, i in enumerate(kept):
            unit = self.result.units[i]
            yield (
                False,
                [
                    unit.code,
                    self.name(unit),
                    *(
                        _cell(series[k])
                        for series in (
                            unc.median_rank,
                            unc.rank_p05,
                            unc.rank_p95,
                            unc.score_median,
                            unc.score_p05,
                            unc.score_p95,
                        )
                    ),
                ],
            )
        yield False, []
        yield True, [self.t("col.factor"), self.t("col.sensitivity"), self.t("col.options")]
        for factor in sorted(set(unc.sensitivity) | set(unc.choices)):
            options = ", ".join(unc.choices.get(factor, ()))
            yield False, [factor, _cell(unc.sensitivity.get(factor)), options]

    def framework(self) -> Iterator[tuple[bool, Row]]:
        yield (
            True,
            [
                self.t("wb.depth"),
                self.t("col.code"),
                self.t("wb.name_en"),
                self.t("wb.name_zh"),
                self.t("wb.kind"),
                self.t("col.direction"),
                self.t("col.measure"),
                self.t("wb.declared_weight"),
                self.t("col.weight"),
                self.t("col.overall_weight"),
                self.t("wb.goalpost_low"),
                self.t("wb.goalpost_high"),
                self.t("wb.target"),
                self.t("wb.denominator"),
                self.t("wb.per"),
                self.t("wb.source"),
                self.t("wb.source_ref"),
            ],
        )
        for depth, node, _, own, overall in self._tree():
            if isinstance(node, Indicator):
                low, high = node.goalposts or (None, None)
                denominator = node.denominator
                yield (
                    False,
                    [
                        depth,
                        node.code,
                        node.name_en,
                        node.name_zh,
                        self.t("wb.indicator"),
                        node.direction.value,
                        node.unit,
                        node.weight,
                        own,
                        overall,
                        low,
                        high,
                        node.target,
                        denominator.by if denominator else None,
                        denominator.per if denominator else None,
                        node.source.kind.value,
                        node.source.metric or node.source.dataset,
                    ],
                )
            else:
                weight = node.weight if depth else self.result.framework.total
                yield (
                    False,
                    [
                        depth,
                        node.code,
                        node.name_en,
                        node.name_zh,
                        self.t("wb.group"),
                        None,
                        None,
                        weight,
                        own,
                        overall,
                    ],
                )

    # ------------------------------------------------------------ helpers

    def _tree(
        self,
    ) -> Iterator[tuple[int, Group | Indicator, str | None, float | None, float | None]]:
        """(depth, node, parent code, weight within parent, overall weight), in order."""
        weights = self.result.weights

        def visit(
            node: Group | Indicator, depth: int, parent: str | None, overall: float
        ) -> Iterator[tuple[int, Group | Indicator, str | None, float | None, float | None]]:
            own = 1.0 if parent is None else weights.get(node.code, math.nan)
            total = overall * own
            yield depth, node, parent, _cell(own), _cell(total)
            if isinstance(node, Group):
                for child in node.children:
                    yield from visit(child, depth + 1, node.code, total)

        yield from visit(self.result.framework.root, 0, None, 1.0)

    def _score(self, code: str, i: int) -> float:
        values = self.result.scores.get(code)
        return math.nan if values is None else float(values[i])

    def _node_name(self, code: str) -> str:
        try:
            return self.name(self.result.framework.node(code))
        except KeyError:
            return code


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cells(sheet: Any, row: Row, *, bold: bool) -> list[Any]:
    """The row's cells. Text is always written as text, never as a formula: openpyxl would
    store a string starting with ``=`` as a formula, so a unit named ``=1+1`` (or any name,
    code or note from a user) could run in the reader's spreadsheet (formula injection)."""
    cells: list[Any] = []
    for value in row:
        if not bold and not (isinstance(value, str) and value.startswith(FORMULA_STARTS)):
            cells.append(value)
            continue
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            cell.data_type = "s"  # a string cell, whatever its first character
        if bold:
            cell.font = BOLD
        cells.append(cell)
    return cells


def _cell(value: Any) -> Any:
    """A number for Excel: numpy scalars become Python numbers, NaN and ±inf empty."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _flatten(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, name + ".")
        elif isinstance(value, list | dict):
            yield name, json.dumps(value, ensure_ascii=False)
        else:
            yield name, value


def _letter(column: int) -> str:
    letters = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
