"""The UN-Habitat City Prosperity Index base-data sheet, read as published.

The sheet (``un-habitat-cpi-2016.xls``) has a multi-row header: a row with COUNTRY,
METROPOLITAN AREA, CITY and YEAR (and the dimension names to their right), then rows of
sub-dimensions, indicators and units; then region rows (``Africa``: a name and nothing else)
each followed by its cities. The header is found by its content, so title rows above it,
an .xlsx or a CSV export of the same sheet read alike.

Indicator columns are mapped to the codes of the built-in ``un-habitat-cpi`` framework by
its ``source_header`` (case and spacing ignored); a column with any other header is left out
and listed in ``problems``. Units are cities, coded by :func:`importers.unit_code`
(``london-united-kingdom``); the region of the row above becomes the unit's group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cityos.assessment import builtin
from cityos.assessment.importers import (
    MISSING,
    UN_HABITAT_CPI,
    ImportedUnit,
    ImportedValues,
    Record,
    column_letter,
    not_numbers,
    parse_number,
    unit_code,
)
from cityos.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class CpiHeader:
    row: int  # index of the COUNTRY / CITY / YEAR row
    country: int
    city: int
    year: int
    metro: int | None


@dataclass(slots=True)
class _City:
    row: int  # 1-based, as the spreadsheet numbers it
    city: str
    country: str
    metro: str | None
    region: str | None
    year: int
    values: dict[str, float]


def find_header(rows: Sequence[Sequence[str]]) -> CpiHeader | None:
    """The COUNTRY / CITY / YEAR row, when a header row (not data) follows it."""
    for index, row in enumerate(rows[:-1]):
        folded = [" ".join(text.split()).casefold() for text in row]
        if not {"country", "city", "year"} <= set(folded) or {"indicator", "value"} & set(folded):
            continue
        year = folded.index("year")
        below = rows[index + 1]
        if _at(below, year) == "" and any(text for text in below[year + 1 :]):
            return CpiHeader(
                row=index,
                country=folded.index("country"),
                city=folded.index("city"),
                year=year,
                metro=folded.index("metropolitan area") if "metropolitan area" in folded else None,
            )
    return None


def read(
    table: Sequence[Sequence[str | None]], header: CpiHeader, *, filename: str
) -> ImportedValues:
    """The values of the sheet below ``header`` (see the module docstring)."""
    rows = [[text.strip() if text else "" for text in row] for row in table]
    block = [header.row]
    while block[-1] + 1 < len(rows):
        row = rows[block[-1] + 1]
        if _at(row, header.year) or not any(row[header.year + 1 :]):
            break
        block.append(block[-1] + 1)
    framework = builtin.builtin_framework(builtin.UN_HABITAT_CPI)
    by_header = {
        " ".join(ind.source_header.split()).casefold(): ind.code
        for ind in framework.indicators()
        if ind.source_header
    }

    def matches(index: int) -> int:
        return sum(
            " ".join(text.split()).casefold() in by_header
            for text in rows[index][header.year + 1 :]
        )

    names_row = max(block, key=matches)
    if matches(names_row) == 0:
        found = [text for index in block for text in rows[index][header.year + 1 :] if text]
        raise InvalidInput(
            f"{filename} looks like the UN-Habitat City Prosperity sheet (COUNTRY, CITY, YEAR) "
            "but no header names an indicator of the City Prosperity framework (e.g. "
            f"'City Product per capita'). Headers found: {', '.join(found[:20]) or 'none'}."
        )
    problems: list[str] = []
    columns: dict[int, str] = {}
    for col, text in enumerate(rows[names_row]):
        if col <= header.year or not text:
            continue
        code = by_header.get(" ".join(text.split()).casefold())
        where = f"column {column_letter(col)} ({text!r})"
        if code is None:
            problems.append(f"{where} is not an indicator of {framework.code}: left out")
        elif code in columns.values():
            problems.append(f"{where} repeats the indicator {code}: left out")
        else:
            columns[col] = code
    cities, bad = _cities(rows[block[-1] + 1 :], block[-1] + 2, header, columns, problems)
    if bad:
        raise not_numbers(bad, len(bad), filename)
    return _values(cities, tuple(columns.values()), problems)


def _at(row: Sequence[str], col: int) -> str:
    return row[col] if col < len(row) else ""


def _cities(
    rows: list[list[str]],
    first_row: int,
    header: CpiHeader,
    columns: dict[int, str],
    problems: list[str],
) -> tuple[list[_City], list[tuple[str, str]]]:
    cities: list[_City] = []
    bad: list[tuple[str, str]] = []
    region: str | None = None
    for number, row in enumerate(rows, start=first_row):
        city, country = _at(row, header.city), _at(row, header.country)
        if not city:
            others = [text for col, text in enumerate(row) if text and col != header.country]
            if country and not others:
                region = country  # a region row: "Africa"
            elif others:
                problems.append(f"row {number} has no city: left out")
            continue
        year = parse_number(_at(row, header.year))
        if year is None or not year.is_integer():
            shown = repr(_at(row, header.year)) if _at(row, header.year) else "empty"
            bad.append(
                (
                    f"row {number}, column {column_letter(header.year)} (YEAR)",
                    f"{shown} is not a year",
                )
            )
            continue
        values: dict[str, float] = {}
        for col, code in columns.items():
            text = _at(row, col)
            if text in MISSING:
                continue
            value = parse_number(text)
            if value is None:
                bad.append(
                    (
                        f"row {number}, column {column_letter(col)} ({code})",
                        f"{text!r} is not a number",
                    )
                )
            else:
                values[code] = value
        metro = _at(row, header.metro) if header.metro is not None else ""
        cities.append(
            _City(
                number,
                city,
                country,
                metro if metro not in MISSING else None,
                region,
                int(year),
                values,
            )
        )
    return cities, bad


def _values(cities: list[_City], codes: tuple[str, ...], problems: list[str]) -> ImportedValues:
    """Units coded by city and country; by city, metropolitan area and country where two
    cities of one country share a name."""
    metros: dict[str, set[str | None]] = {}
    for city in cities:
        metros.setdefault(unit_code(city.city, city.country), set()).add(city.metro)
    units: dict[str, ImportedUnit] = {}
    records: list[Record] = []
    seen: dict[tuple[str, int], int] = {}
    for city in cities:
        code = unit_code(city.city, city.country)
        if len(metros[code]) > 1:
            code = unit_code(city.city, city.country, city.metro)
        units.setdefault(
            code,
            ImportedUnit(
                code=code,
                name_en=city.city,
                group=city.region,
                country=city.country or None,
                metro_area=city.metro,
            ),
        )
        if (code, city.year) in seen:
            problems.append(
                f"row {city.row} repeats {code} {city.year} (first at row "
                f"{seen[code, city.year]}): its values replace the first"
            )
        seen.setdefault((code, city.year), city.row)
        records.extend((code, city.year, key, value) for key, value in city.values.items())
    return ImportedValues(
        UN_HABITAT_CPI, tuple(units.values()), tuple(records), codes, tuple(problems)
    )
