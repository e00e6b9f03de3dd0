"""The Excel workbook: every intermediate table, numbers as numbers, NaN as empty cells."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from cityos.assessment.result import PipelineResult
from cityos.assessment.workbook import build_workbook
from cityos.errors import InvalidInput
from tests.assessment.report_support import hand_made_result, pipeline_result

SHEETS = [
    "summary",
    "raw",
    "denominated",
    "imputed",
    "treated",
    "normalised",
    "scores",
    "ranks",
    "weights",
    "method",
    "screening",
    "outliers",
    "coherence",
    "correlation",
    "uncertainty",
    "framework",
]


def open_book(result: PipelineResult, lang: str = "en") -> Workbook:
    return load_workbook(io.BytesIO(build_workbook(result, lang=lang)), read_only=False)


def rows(book: Workbook, sheet: str) -> list[tuple[object, ...]]:
    return list(book[sheet].iter_rows(values_only=True))


def test_the_workbook_has_one_sheet_per_table() -> None:
    assert open_book(hand_made_result()).sheetnames == SHEETS


def test_without_uncertainty_there_is_no_uncertainty_sheet() -> None:
    names = open_book(hand_made_result(uncertainty=False)).sheetnames
    assert names == [name for name in SHEETS if name != "uncertainty"]


@pytest.mark.parametrize("table", ["raw", "denominated", "imputed", "treated", "normalised"])
def test_unit_tables_hold_the_results_values_with_nan_as_empty_cells(table: str) -> None:
    result = hand_made_result()
    sheet = rows(open_book(result), table)
    assert sheet[0][:3] == ("Code", "Name", "Status")
    assert sheet[0][3:] == result.indicators
    assert sheet[1][3:] == (
        "Online services",
        "Transit <reach>",
        "Resolved in time",
        "PM2.5",
        "Green space",
    )
    matrix = getattr(result, table)
    for i, unit in enumerate(result.units):
        row = sheet[2 + i]
        assert row[:2] == (unit.code, unit.name_en)
        for j, value in enumerate(row[3:]):
            if math.isnan(matrix[i, j]):
                assert value is None
            else:
                assert isinstance(value, int | float)
                assert value == pytest.approx(matrix[i, j])
    assert sheet[2 + 5][2] == "screened out"  # Singapore


def test_scores_and_ranks_cover_every_node_of_the_framework() -> None:
    result = hand_made_result()
    book = open_book(result)
    for name, table in (("scores", result.scores), ("ranks", result.ranks)):
        sheet = rows(book, name)
        assert sheet[0][3:] == ("IDX", "A", "a1", "a2", "a3", "B", "b1", "b2")
        tokyo = sheet[2 + 4]
        assert tokyo[0] == "TYO"
        for column, code in enumerate(sheet[0][3:]):
            assert tokyo[3 + column] == pytest.approx(float(table[str(code)][4]))
        assert all(value is None for value in sheet[2 + 5][3:])  # Singapore: no scores


def test_weights_list_each_node_with_its_parent_and_overall_weight() -> None:
    sheet = rows(open_book(hand_made_result()), "weights")
    by_code = {row[0]: row for row in sheet[1:]}
    assert by_code["a1"][2:] == ("A", 2, pytest.approx(1 / 3), pytest.approx(0.2))
    assert by_code["B"][2:] == ("IDX", 1, pytest.approx(0.4), pytest.approx(0.4))
    assert by_code["IDX"][2:] == (None, 0, 1, 1)


def test_method_sheet_lists_every_step_warnings_and_the_configuration() -> None:
    result = hand_made_result()
    sheet = rows(open_book(result), "method")
    steps = sheet[1 : 1 + len(result.steps)]
    for record, row in zip(result.steps, steps, strict=True):
        assert row[:2] == (record.step, record.method)
        assert json.loads(str(row[2])) == record.params
        assert (row[3] or "") == "\n".join(record.notes)
    flat = [row[0] for row in sheet]
    assert result.warnings[0] in flat
    settings = {row[0]: row[1] for row in sheet if row and row[0]}
    assert settings["screen.min_unit_coverage"] == 0.65
    assert settings["normalise.method"] == "minmax"


def test_screening_outliers_and_coherence_sheets() -> None:
    book = open_book(hand_made_result())
    screening = {(row[0], row[1]): row for row in rows(book, "screening")[1:]}
    assert screening[("unit", "SGP")][3:] == ("screened out", 1, 5, pytest.approx(0.2))
    assert screening[("indicator", "a2")][3:] == ("kept", 5, 6, pytest.approx(5 / 6))
    outliers = {row[0]: row for row in rows(book, "outliers")[1:]}
    assert outliers["a2"][2:4] == ("winsorised", 1)
    assert outliers["b1"][2] == "log"
    coherence = rows(book, "coherence")
    assert coherence[1] == ("A", "a1", "a3", pytest.approx(-0.2), "negative")
    alpha = {row[0]: row for row in coherence[3:] if row[0]}
    assert alpha["B"][2] is None
    assert alpha["IDX"][2] == pytest.approx(0.41)
    correlation = rows(book, "correlation")
    assert correlation[0] == (None, "a1", "a2", "a3", "b1", "b2")
    assert correlation[1][1] == pytest.approx(1.0)


def test_uncertainty_sheet_has_rank_intervals_and_sensitivity() -> None:
    result = hand_made_result()
    sheet = rows(open_book(result), "uncertainty")
    assert sheet[0][:2] == ("Monte Carlo runs", 200)
    units = {row[0]: row for row in sheet[3:8]}
    assert set(units) == {"LON", "PAR", "MIN", "NYC", "TYO"}  # kept units only
    assert units["TYO"][2:5] == (1, 1, 2)
    factors = {row[0]: row for row in sheet[9:] if row[0]}
    assert factors["weights"][1] == pytest.approx(0.4)
    assert factors["normalise"][2] == "minmax, zscore"


def test_framework_sheet_describes_every_node() -> None:
    sheet = rows(open_book(hand_made_result()), "framework")
    b1 = next(row for row in sheet if row[1] == "b1")
    assert b1[2:7] == ("PM2.5", "细颗粒物", "indicator", "lower", "µg/m³")
    root = sheet[1]
    assert root[:5] == (0, "IDX", "Smart city index", "智慧城市指数", "group")
    assert root[7] == 100  # the framework's total


def test_chinese_headers_and_names() -> None:
    book = open_book(hand_made_result(), lang="zh-CN")
    raw = rows(book, "raw")
    assert raw[0][:3] == ("代码", "名称", "状态")
    assert raw[1][3] == "网上办事"
    assert raw[2][1] == "伦敦"


def test_a_result_of_the_real_engine_fills_the_workbook() -> None:
    result = pipeline_result()
    book = open_book(result)
    assert book.sheetnames == SHEETS
    scores = rows(book, "scores")
    assert scores[2][3] == pytest.approx(float(result.index[0]))


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidInput, match="'de'"):
        build_workbook(hand_made_result(), lang="de")


def test_text_that_looks_like_a_formula_is_written_as_text() -> None:
    result = hand_made_result()
    names = ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx")
    units = tuple(
        dataclasses.replace(unit, code=f"u{k}", name_en=names[k % len(names)])
        for k, unit in enumerate(result.units)
    )
    data = build_workbook(dataclasses.replace(result, units=units))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = [archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/")]
    assert sheets
    assert not any(b"<f>" in sheet or b"<f " in sheet for sheet in sheets)
    written = {row[0]: row[1] for row in rows(load_workbook(io.BytesIO(data)), "raw")}
    assert [written[unit.code] for unit in units] == [unit.name_en for unit in units]
