"""Indicator values from files: long, wide, GB18030, bad cells, bad headers, the real
UN-Habitat sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import polars as pl
import pytest

from cityos.assessment import importers
from cityos.assessment.builtin import UN_HABITAT_CPI, builtin_framework
from cityos.assessment.importers import (
    LONG,
    MAX_PROBLEMS,
    WIDE,
    read_values,
    slug,
    unit_code,
)
from cityos.errors import InvalidInput

LONG_CSV = """\ufeffUnit,Year,Indicator,Value,Name_zh,Region,Population
north,2023,cases,10,北区,east,120000
north,2024,cases,12.5,北区,east,120000
south,2024,cases,--,南区,west,80000
south,2024,parks,"1,234.5",南区,west,80000
south,2023,parks,,南区,west,80000
"""


def test_a_long_csv_gives_units_with_their_names_groups_and_attributes() -> None:
    values = read_values(LONG_CSV.encode("utf-8"), filename="values.csv")
    assert (values.layout, values.filename) == (LONG, "values.csv")
    assert values.records == (
        ("north", 2023, "cases", 10.0),
        ("north", 2024, "cases", 12.5),
        ("south", 2024, "parks", 1234.5),
    )
    assert values.indicators == ("cases", "parks")
    north, south = values.units
    assert (north.code, north.name_zh, north.group) == ("north", "北区", "east")
    assert south.attributes == {"population": 80000.0}
    assert values.problems == ()


def test_imported_values_make_a_panel() -> None:
    panel = read_values(LONG_CSV.encode("utf-8"), filename="values.csv").panel()
    assert panel.years == (2023, 2024)
    assert panel.values.shape == (2, 2, 2)
    assert panel.values[1, 0, 0] == 12.5
    assert np.isnan(panel.values[0, 1, 1])
    assert panel.units[1].attributes == {"population": 80000.0}


def test_a_tsv_file_is_read_like_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "values.tsv"
    path.write_text("unit\tyear\tindicator\tvalue\nA\t2024\tx\t1\n", encoding="utf-8")
    assert read_values(path, filename=path.name).records == (("A", 2024, "x", 1.0),)


def test_a_gb18030_csv_with_chinese_names_is_decoded() -> None:
    text = "unit,year,indicator,value,name_zh\nhaidian,2024,政务服务,88,海淀区\n"
    values = read_values(text.encode("gb18030"), filename="数据.csv")
    assert values.records == (("haidian", 2024, "政务服务", 88.0),)
    assert values.units[0].name_zh == "海淀区"


def test_a_wide_xlsx_with_a_title_row_is_read(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["District indicators 2024"])
    sheet.append(["Unit", "Year", "name_en", "GBT.A1.1", "GBT.A1.2", ""])
    sheet.append(["north", 2024, "North", 80.5, "--", None])
    sheet.append(["south", 2024, "South", 61, 40, None])
    path = tmp_path / "wide.xlsx"
    book.save(path)
    values = read_values(path, filename=path.name)
    assert values.layout == WIDE
    assert sorted(values.records) == [
        ("north", 2024, "GBT.A1.1", 80.5),
        ("south", 2024, "GBT.A1.1", 61.0),
        ("south", 2024, "GBT.A1.2", 40.0),
    ]
    assert [u.name_en for u in values.units] == ["North", "South"]


def test_a_named_sheet_is_read_and_an_unknown_one_lists_the_sheets(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active.title = "notes"
    data = book.create_sheet("values")
    data.append(["unit", "year", "indicator", "value"])
    data.append(["A", 2024, "x", 3])
    path = tmp_path / "two-sheets.xlsx"
    book.save(path)
    assert read_values(path, filename=path.name, sheet="values").records == (("A", 2024, "x", 3),)
    with pytest.raises(InvalidInput, match="has no sheet 'data'; its sheets: notes, values"):
        read_values(path, filename=path.name, sheet="data")


def test_a_non_numeric_value_is_reported_with_its_row_and_column() -> None:
    text = "unit,year,indicator,value\nA,2024,x,1\nA,2024,y,n/a\nB,20x4,x,2\n"
    with pytest.raises(InvalidInput) as caught:
        read_values(text.encode(), filename="bad.csv")
    assert caught.value.details == [
        {"where": "row 3, column value", "message": "'n/a' is not a number"},
        {"where": "row 4, column year", "message": "'20x4' is not a year"},
    ]
    assert "row 3, column value: 'n/a' is not a number" in caught.value.message
    assert "leave the cell empty or write --" in caught.value.message


def test_a_non_numeric_cell_of_a_wide_sheet_names_the_indicator_column() -> None:
    text = "unit,year,ISO.5.1,ISO.5.2\nA,2024,3,high\n"
    with pytest.raises(InvalidInput) as caught:
        read_values(text.encode(), filename="wide.csv")
    assert caught.value.details == [
        {"where": "row 2, column ISO.5.2", "message": "'high' is not a number"}
    ]


def test_at_most_50_bad_cells_are_listed_but_all_are_counted() -> None:
    rows = "".join(f"A,{2000 + i},x,bad{i}\n" for i in range(80))
    with pytest.raises(InvalidInput) as caught:
        read_values(f"unit,year,indicator,value\n{rows}".encode(), filename="bad.csv")
    assert len(caught.value.details) == MAX_PROBLEMS
    assert caught.value.message.startswith("bad.csv: 80 rows cannot be read")


def test_nothing_is_returned_when_any_cell_is_bad() -> None:
    text = "unit,year,indicator,value\nA,2024,x,1\n,2024,x,2\n"
    with pytest.raises(InvalidInput, match="row 3, column unit: empty"):
        read_values(text.encode(), filename="bad.csv")


def test_a_header_that_cannot_be_understood_says_what_is_accepted_and_found() -> None:
    text = "district,when,score\nA,2024,3\n"
    with pytest.raises(InvalidInput) as caught:
        read_values(text.encode(), filename="odd.csv")
    message = caught.value.message
    assert "Cannot understand the header of odd.csv" in message
    assert "long (columns unit, year, indicator, value)" in message
    assert "UN-Habitat City Prosperity Index" in message
    assert "Columns found: 'district', 'when', 'score'" in message


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        read_values(b"", filename="empty.csv")


@pytest.mark.parametrize("year", ["nan", "inf", "-inf", "NaN"])
def test_a_year_that_is_not_a_finite_number_is_a_problem_of_its_cell(year: str) -> None:
    text = f"unit,year,indicator,value\nA,2024,x,1\nA,{year},x,2\n"
    with pytest.raises(InvalidInput, match=rf"row 3, column year: '{year}' is not a year"):
        read_values(text.encode(), filename="years.csv")


@pytest.mark.parametrize(
    "text", ["unit,year,indicator,value\n", "unit,year,indicator,value\nA,2024,x,--\n"]
)
def test_a_header_without_values_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"no values found in header\.csv: "):
        read_values(text.encode(), filename="header.csv")


def test_a_repeated_cell_keeps_the_last_value_and_says_so() -> None:
    text = "unit,year,indicator,value\nA,2024,x,1\nA,2024,x,2\n"
    values = read_values(text.encode(), filename="twice.csv")
    assert "2 cells repeat a unit, year and indicator" in values.problems[0]
    assert values.panel().values[0, 0, 0] == 2.0


def test_cities_named_by_city_and_country_get_readable_unit_codes() -> None:
    text = (
        "city,country,year,indicator,value\n"
        "London,United Kingdom,2015,x,1\nSão Paulo,Brazil,2015,x,2\nSingapore,Singapore,2015,x,3\n"
    )
    values = read_values(text.encode(), filename="cities.csv")
    assert [u.code for u in values.units] == [
        "london-united-kingdom",
        "sao-paulo-brazil",
        "singapore",
    ]
    assert values.units[1].name_en == "São Paulo"


def test_unit_codes_are_slugs_that_tell_same_named_cities_apart() -> None:
    assert slug("Bogotá", "Colombia") == "bogota-colombia"
    assert unit_code("New York", "United States") == "new-york-united-states"
    assert unit_code("Guadalupe", "Mexico", "Monterrey") == "guadalupe-monterrey-mexico"
    assert unit_code("北京", "中国") == "北京-中国"


def test_keys_are_matched_to_a_framework_by_code_header_or_name() -> None:
    text = (
        "unit,year,indicator,value\n"
        "A,2015,CPI.P.1,1\nA,2015,unemployment  RATE,2\nA,2015,投票率,3\nA,2015,mystery,4\n"
    )
    values = read_values(text.encode(), filename="cpi.csv").keyed_by(
        builtin_framework(UN_HABITAT_CPI)
    )
    assert values.records == (
        ("A", 2015, "CPI.P.1", 1.0),
        ("A", 2015, "CPI.P.2", 2.0),
        ("A", 2015, "CPI.GI.1", 3.0),
    )
    assert values.problems == (
        "indicator 'mystery' matches no indicator of un-habitat-cpi: its values are left out",
    )


def _cpi_like_sheet(path: Path) -> None:
    """A small sheet shaped like UN-Habitat's: title, multi-row header, regions, cities."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["City Prosperity Index. Base Data"])
    sheet.append(["COUNTRY", "METROPOLITAN AREA", "CITY", "YEAR", None, "PRODUCTIVITY INDEX (P)"])
    sheet.append([None, None, None, None, None, "Economic Strenght", "Employment", "Mystery"])
    sheet.append(
        [None, None, None, None, None, "City Product per capita", "Unemployment Rate  ", "Foo"]
    )
    sheet.append([None, None, None, None, None, "USD (PPP)", "rate", "%"])
    sheet.append(["Europe"])
    sheet.append(["France", "--", "Paris", 2015, None, 41737.5, "--", 3])
    sheet.append(["Asia"])
    sheet.append(["Japan", "--", "Tokyo", 2015, None, 35711.9, 3.4, 1])
    book.save(path)


def test_a_cpi_shaped_xlsx_maps_headers_to_codes_and_lists_unknown_ones(tmp_path: Path) -> None:
    path = tmp_path / "cpi.xlsx"
    _cpi_like_sheet(path)
    values = read_values(path, filename=path.name)
    assert values.layout == importers.UN_HABITAT_CPI
    assert values.records == (
        ("paris-france", 2015, "CPI.P.1", 41737.5),
        ("tokyo-japan", 2015, "CPI.P.1", 35711.9),
        ("tokyo-japan", 2015, "CPI.P.2", 3.4),
    )
    assert [(u.code, u.group) for u in values.units] == [
        ("paris-france", "Europe"),
        ("tokyo-japan", "Asia"),
    ]
    assert values.problems == ("column H ('Foo') is not an indicator of un-habitat-cpi: left out",)


def test_a_bad_number_in_the_cpi_sheet_names_row_column_and_indicator(tmp_path: Path) -> None:
    path = tmp_path / "cpi.xlsx"
    _cpi_like_sheet(path)
    book = openpyxl.load_workbook(path)
    assert book.active is not None
    book.active["G9"] = "n/a"
    book.save(path)
    with pytest.raises(InvalidInput) as caught:
        read_values(path, filename=path.name)
    assert caught.value.details == [
        {"where": "row 9, column G (CPI.P.2)", "message": "'n/a' is not a number"}
    ]


# --- the real UN-Habitat sheet ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cities(shared_dir: Path) -> Path:
    return shared_dir / "data" / "cities"


def test_the_published_un_habitat_sheet_is_read_as_is(cities: Path) -> None:
    values = read_values(cities / "un-habitat-cpi-2016.xls", filename="un-habitat-cpi-2016.xls")
    assert values.layout == importers.UN_HABITAT_CPI
    assert len(values.units) == 333
    assert values.indicators == tuple(
        i.code for i in builtin_framework(UN_HABITAT_CPI).indicators()
    )
    years = {unit: year for unit, year, _, _ in values.records}
    groups = {u.code: u.group for u in values.units}
    for code, region in [
        ("london-united-kingdom", "Europe"),
        ("new-york-united-states", "America"),
        ("paris-france", "Europe"),
        ("tokyo-japan", "Asia"),
        ("singapore", "Asia"),
        ("shanghai-china", "Asia"),
        ("beijing-china", "Asia"),
    ]:
        assert groups[code] == region
        assert 2013 <= years[code] <= 2016
    london = {
        key: value for unit, _, key, value in values.records if unit == "london-united-kingdom"
    }
    assert london["CPI.GI.1"] == pytest.approx(65.8)
    assert any("row 350 has no city" in problem for problem in values.problems)
    assert {"guadalupe-monterrey-mexico", "guadalupe-zacatecas-mexico"} <= set(groups)


def test_the_sheet_agrees_with_the_published_long_csv(cities: Path) -> None:
    sheet = read_values(cities / "un-habitat-cpi-2016.xls", filename="cpi.xls")
    long = read_values(cities / "un-habitat-cpi-2016-long.csv", filename="cpi-long.csv")
    assert long.layout == LONG
    keyed = long.keyed_by(builtin_framework(UN_HABITAT_CPI))
    from_sheet = {(u, y, k): v for u, y, k, v in sheet.records}
    from_csv = {(u, y, k): v for u, y, k, v in keyed.records}
    common = from_sheet.keys() & from_csv.keys()
    assert len(common) > 6000  # all but the four same-named Mexican cities
    assert all(from_sheet[key] == from_csv[key] for key in common)
    # and independently of our importer, a few hundred values straight from the CSV
    frame = pl.read_csv(cities / "un-habitat-cpi-2016-long.csv").head(400)
    codes = {i.source_header: i.code for i in builtin_framework(UN_HABITAT_CPI).indicators()}
    checked = 0
    for row in frame.iter_rows(named=True):
        key = (unit_code(row["city"], row["country"]), row["year"], codes[row["indicator"]])
        if key in from_sheet:
            assert from_sheet[key] == pytest.approx(row["value"], rel=1e-12)
            checked += 1
    assert checked >= 300


def test_a_semicolon_csv_with_a_title_line_is_read() -> None:
    text = "Values of 2024\nunit;year;indicator;value\nA;2024;x;1.5\n"
    values = read_values(text.encode(), filename="values.csv")
    assert values.records == (("A", 2024, "x", 1.5),)


def test_rows_are_numbered_as_in_the_file_below_a_title_line() -> None:
    text = "Values of 2024\nunit,year,indicator,value\nA,2024,x,1\nA,2024,y,oops\n"
    with pytest.raises(InvalidInput, match="row 4, column value: 'oops' is not a number"):
        read_values(text.encode(), filename="values.csv")


def test_a_cpi_shaped_sheet_without_any_known_indicator_is_refused(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["COUNTRY", "CITY", "YEAR", "WELLBEING"])
    sheet.append([None, None, None, "Happiness"])
    sheet.append(["France", "Paris", 2015, 7])
    path = tmp_path / "other.xlsx"
    book.save(path)
    with pytest.raises(InvalidInput, match=r"no header names an indicator .* Headers found: "):
        read_values(path, filename=path.name)
