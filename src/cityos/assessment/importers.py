"""Indicator values from files: CSV / TSV / XLSX / XLS in long or wide form, and the
UN-Habitat City Prosperity Index sheet as published (import_cpi.py).

Every input is first read into one table of text cells (polars for CSV, openpyxl read-only
for .xlsx, xlrd for .xls); the layout is then recognised by the header's content, not by
the file name:

- long: columns ``unit, year, indicator, value`` (any order, any case), optionally
  ``unit_name``/``name_en``, ``name_zh``, ``group``/``region``, ``country``, ``tier``,
  ``population``, ``area_km2``;
- wide: ``unit, year`` then one column per indicator key (the optional columns above are
  recognised, every other column is an indicator);
- un-habitat-cpi: a ``COUNTRY … CITY … YEAR`` row followed by dimension / sub-dimension /
  indicator / unit rows (import_cpi.py).

Instead of a ``unit`` column a file may name cities by ``city`` (+ ``country``, optional
``metropolitan_area``): the unit code is then :func:`unit_code` of them, and a ``unit``
column, if any, is taken as the measurement unit and ignored (as in UN-Habitat's long CSV).

"" and "--" are missing values. Anything else that is not a number is a problem with its
row and column; all of them (the first 50 shown) are raised as one InvalidInput, so nothing
is half-imported. What was skipped but does not stop the import (unknown columns, repeated
cells) is listed in ``ImportedValues.problems``.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from cityos.assessment.framework import Framework
from cityos.assessment.panel import Panel, Unit
from cityos.errors import InvalidInput

LONG = "long"
WIDE = "wide"
UN_HABITAT_CPI = "un-habitat-cpi"
MISSING = ("", "--")
MAX_PROBLEMS = 50
HEADER_SCAN = 30  # rows searched for the header
NUMBER = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"  # 1,234.5: thousands separators are dropped

Record = tuple[str, int, str, float]  # (unit code, year, indicator key, value)


@dataclass(frozen=True, slots=True)
class ImportedUnit:
    code: str
    name_en: str
    name_zh: str = ""
    group: str | None = None  # the region: group imputation's grouping
    country: str | None = None
    metro_area: str | None = None
    tier: str | None = None
    attributes: dict[str, float] = field(default_factory=dict)  # population, area_km2

    def to_unit(self) -> Unit:
        return Unit(
            code=self.code,
            name_en=self.name_en or self.name_zh or self.code,
            name_zh=self.name_zh,
            group=self.group,
            tier=self.tier,
            attributes=dict(self.attributes),
        )


@dataclass(frozen=True, slots=True)
class ImportedValues:
    layout: str  # "long", "wide" or "un-habitat-cpi"
    units: tuple[ImportedUnit, ...]
    records: tuple[Record, ...]  # missing cells are left out
    indicators: tuple[str, ...]  # the indicator keys, in the order of the file
    problems: tuple[str, ...] = ()  # skipped or doubtful, but the import stands
    filename: str = ""  # the file they were read from

    def keyed_by(self, framework: Framework) -> ImportedValues:
        """The records with their keys matched to ``framework``'s indicator codes (by code,
        then source_header, then English or Chinese name; case and spacing ignored).
        Keys that match nothing are left out and listed in ``problems``."""
        codes = {ind.code for ind in framework.indicators()}
        by_text: dict[str, set[str]] = {}
        for ind in framework.indicators():
            for text in (ind.code, ind.source_header, ind.name_en, ind.name_zh):
                if text:
                    by_text.setdefault(_folded(text), set()).add(ind.code)
        mapping: dict[str, str] = {}
        problems = list(self.problems)
        for key in self.indicators:
            found = {key} if key in codes else by_text.get(_folded(key), set())
            if len(found) == 1:
                mapping[key] = next(iter(found))
            else:
                why = "matches several indicators" if found else "matches no indicator"
                problems.append(
                    f"indicator {key!r} {why} of {framework.code}: its values are left out"
                )
        records = tuple(
            (unit, year, mapping[key], value)
            for unit, year, key, value in self.records
            if key in mapping
        )
        return replace(
            self,
            records=records,
            indicators=tuple(dict.fromkeys(mapping.values())),
            problems=tuple(problems),
        )

    def panel(self, indicators: Sequence[str] | None = None) -> Panel:
        """The values as a panel (years × units × indicators)."""
        return Panel.from_records(
            [unit.to_unit() for unit in self.units],
            self.indicators if indicators is None else indicators,
            self.records,
        )


def read_values(source: Path | bytes, *, filename: str, sheet: str | None = None) -> ImportedValues:
    """Read indicator values from a CSV/TSV, .xlsx or .xls file (see the module docstring).

    Raises InvalidInput for a file that cannot be read, a header that matches no layout
    (saying which layouts are accepted and what columns were found), and values that are
    not numbers (each with its row and column)."""
    data = _read_bytes(source, filename)
    table = _table(data, filename, sheet)
    if table.height == 0:
        raise InvalidInput(f"{filename} is empty: it has no rows.")
    head = [[_cell(v) for v in row] for row in table.head(HEADER_SCAN).rows()]
    from cityos.assessment import import_cpi  # imports this module's helpers

    cpi_header = import_cpi.find_header(head)
    if cpi_header is not None:
        values = import_cpi.read(table.rows(), cpi_header, filename=filename)
        return _with_values(replace(values, filename=filename))
    for index, row in enumerate(head):
        columns = _columns(row)
        layout = _layout(columns)
        if layout is not None:
            values = _read_table(table, index, columns, layout, filename=filename)
            return _with_values(replace(values, filename=filename))
    found = next((row for row in head if any(row)), [])
    shown = ", ".join(repr(text) for text in found if text) or "none"
    raise InvalidInput(
        f"Cannot understand the header of {filename}. Accepted layouts: long (columns unit, "
        "year, indicator, value), wide (unit, year, then one column per indicator code) — "
        "city and country may stand for unit — and the UN-Habitat City Prosperity Index "
        "sheet as published (COUNTRY, CITY, YEAR, then dimension, sub-dimension, indicator "
        f"and unit rows). Columns found: {shown}."
    )


def _with_values(values: ImportedValues) -> ImportedValues:
    """The values read; InvalidInput when the file has a header but not a single value."""
    if not values.records:
        raise InvalidInput(
            f"no values found in {values.filename}: the header was read ({values.layout} "
            "layout) but no row below it has a value. Add rows with values, or check that "
            "the values are not all marked missing."
        )
    return values


# --- reading files into a table of text ---------------------------------------------------


def _read_bytes(source: Path | bytes, filename: str) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise InvalidInput(f"Cannot read {filename}: {error.strerror}.") from None


def _table(data: bytes, filename: str, sheet: str | None) -> pl.DataFrame:
    """The file as a table of text cells (columns c0, c1, …; None for empty cells)."""
    suffix = Path(filename).suffix.lower()
    if data[:4] == b"PK\x03\x04" or suffix in (".xlsx", ".xlsm"):
        return _frame(_xlsx_rows(data, filename, sheet))
    if data[:4] == b"\xd0\xcf\x11\xe0" or suffix == ".xls":
        return _frame(_xls_rows(data, filename, sheet))
    return _csv(data, filename, tab=suffix in (".tsv", ".tab"))


def _csv(data: bytes, filename: str, *, tab: bool) -> pl.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")  # Chinese files are often GBK / GB18030
        except UnicodeDecodeError as error:
            raise InvalidInput(
                f"{filename} is neither UTF-8 nor GB18030 text (byte {error.start}): save it "
                "as UTF-8 CSV."
            ) from None
    if not text.strip():
        raise InvalidInput(f"{filename} is empty: it has no rows.")
    lines = text.split("\n", HEADER_SCAN)[:HEADER_SCAN]
    separator = "\t" if tab else max((",", "\t", ";"), key="\n".join(lines).count)
    # polars takes the width of the first line: skip title lines narrower than the header
    widths = [len(row) for row in csv.reader(lines, delimiter=separator)]
    skip = widths.index(max(widths)) if len(widths) == len(lines) else 0
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            has_header=False,
            infer_schema=False,
            separator=separator,
            skip_lines=skip,
            truncate_ragged_lines=True,
        )
    except pl.exceptions.PolarsError as error:
        raise InvalidInput(f"Cannot read {filename} as CSV: {error}") from None
    frame = frame.rename({name: f"c{i}" for i, name in enumerate(frame.columns)})
    if skip:  # keep row numbers those of the file
        titles = pl.DataFrame({name: [None] * skip for name in frame.columns}, schema=frame.schema)
        frame = pl.concat([titles, frame])
    return frame


def _xlsx_rows(data: bytes, filename: str, sheet: str | None) -> list[list[Any]]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's notes on styles it does not read
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # zipfile, XML and openpyxl errors alike
        raise InvalidInput(f"{filename} is not a readable .xlsx workbook ({error}).") from None
    try:
        names = list(book.sheetnames)
        worksheet = book[_sheet_name(names, sheet, filename)]
        return [list(row) for row in worksheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _xls_rows(data: bytes, filename: str, sheet: str | None) -> list[list[Any]]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, logfile=io.StringIO())
    except Exception as error:  # xlrd raises its own and struct/compound-document errors
        raise InvalidInput(f"{filename} is not a readable .xls workbook ({error}).") from None
    worksheet = book.sheet_by_name(_sheet_name(book.sheet_names(), sheet, filename))
    rows: list[list[Any]] = []
    for r in range(worksheet.nrows):
        types = worksheet.row_types(r)
        values = worksheet.row_values(r)
        rows.append(
            ["#ERROR" if t == xlrd.XL_CELL_ERROR else v for t, v in zip(types, values, strict=True)]
        )
    return rows


def _sheet_name(names: list[str], sheet: str | None, filename: str) -> str:
    if sheet is None:
        if not names:
            raise InvalidInput(f"{filename} has no sheets.")
        return names[0]
    if sheet not in names:
        raise InvalidInput(
            f"{filename} has no sheet {sheet!r}; its sheets: {', '.join(names) or 'none'}."
        )
    return sheet


def _frame(rows: list[list[Any]]) -> pl.DataFrame:
    width = max((len(row) for row in rows), default=0)
    cells = [[_text(v) for v in row] + [None] * (width - len(row)) for row in rows]
    schema = {f"c{i}": pl.String for i in range(width)}
    return pl.DataFrame(cells, schema=schema, orient="row")


def _text(value: Any) -> str | None:
    """A spreadsheet cell as text: 2015.0 → "2015", floats exactly (repr round-trips)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _cell(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# --- names ------------------------------------------------------------------------------------


def slug(*parts: str | None) -> str:
    """``São Paulo``, ``Brazil`` → ``sao-paulo-brazil``: accents dropped, lower case, any run
    of other characters a hyphen (Chinese and other letters are kept)."""
    text = "-".join(part for part in parts if part)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[\W_]+", "-", text).strip("-")


def unit_code(city: str, country: str | None = None, metro_area: str | None = None) -> str:
    """The unit code of a city: ``london-united-kingdom``, ``singapore`` (city = country);
    with ``metro_area`` (used only to tell apart two cities of one name in one country):
    ``guadalupe-monterrey-mexico``."""
    city_slug, country_slug = slug(city), slug(country)
    if metro_area:
        return "-".join(part for part in (city_slug, slug(metro_area), country_slug) if part)
    if not country_slug or country_slug == city_slug:
        return city_slug
    return f"{city_slug}-{country_slug}"


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def column_letter(index: int) -> str:
    """0 → A, 26 → AA: how a spreadsheet names a column."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


# --- long and wide ----------------------------------------------------------------------------

_ALIASES = {
    "unit": "unit",
    "unit_code": "unit",
    "year": "year",
    "indicator": "indicator",
    "indicator_code": "indicator",
    "value": "value",
    "unit_name": "name_en",
    "name": "name_en",
    "name_en": "name_en",
    "unit_name_en": "name_en",
    "name_zh": "name_zh",
    "unit_name_zh": "name_zh",
    "group": "group",
    "region": "group",
    "country": "country",
    "city": "city",
    "metropolitan_area": "metro_area",
    "metro_area": "metro_area",
    "tier": "tier",
    "population": "population",
    "area_km2": "area_km2",
}
_ATTRIBUTES = ("population", "area_km2")
_UNIT_COLUMNS = (
    "name_en",
    "name_zh",
    "group",
    "country",
    "metro_area",
    "tier",
    "city",
    *_ATTRIBUTES,
)
_INFORMATION = ("dimension", "subdimension", "sub_dimension", "indicator_name", "note", "notes")


def _columns(row: list[str]) -> dict[str, int]:
    """Recognised column roles → column index (the first column of each role)."""
    out: dict[str, int] = {}
    for index, text in enumerate(row):
        role = _ALIASES.get(re.sub(r"[\s\-]+", "_", text.casefold()))
        if role is not None:
            out.setdefault(role, index)
    return out


def _layout(columns: dict[str, int]) -> str | None:
    if "year" not in columns or not ("unit" in columns or "city" in columns):
        return None
    if "indicator" in columns and "value" in columns:
        return LONG
    if "indicator" not in columns and "value" not in columns:
        return WIDE
    return None


def _read_table(
    table: pl.DataFrame, header: int, columns: dict[str, int], layout: str, *, filename: str
) -> ImportedValues:
    names = [_cell(v) for v in table.row(header)]
    by_city = "city" in columns
    if by_city and "unit" in columns:  # the measurement unit, as in UN-Habitat's long CSV
        columns.pop("unit")
    roles = {index: role for role, index in columns.items()}
    problems: list[str] = []
    body = table.slice(header + 1).with_row_index("row", offset=header + 2)
    body = body.select(
        "row", *[pl.col(f"c{i}").str.strip_chars().alias(f"c{i}") for i in range(len(names))]
    )
    if layout == LONG:
        keyed = body.select(
            "row",
            *[pl.col(f"c{i}").alias(role) for i, role in roles.items()],
            pl.lit(names[columns["value"]]).alias("column"),
        )
        ignored = [
            name
            for i, name in enumerate(names)
            if name
            and i not in roles
            and _folded(name) not in _INFORMATION
            and not (by_city and _folded(name) == "unit")
        ]
        if ignored:
            problems.append(f"columns ignored (not part of the long layout): {', '.join(ignored)}")
    else:
        keyed = _unpivot(body, names, roles, filename)
    keyed = _with_unit_codes(keyed, by_city)
    records, keys = _records(keyed, filename, problems)
    return ImportedValues(layout, _units(keyed, filename), records, keys, tuple(problems))


def _unpivot(
    body: pl.DataFrame, names: list[str], roles: dict[int, str], filename: str
) -> pl.DataFrame:
    """Wide → long: one row per (file row, indicator column), the column's header as key."""
    indicators = [i for i, name in enumerate(names) if name and i not in roles]
    seen: dict[str, int] = {}
    for i in indicators:
        if names[i] in seen:
            raise InvalidInput(
                f"{filename}: the indicator column {names[i]!r} appears twice (columns "
                f"{column_letter(seen[names[i]])} and {column_letter(i)}): keep one."
            )
        seen[names[i]] = i
    if not indicators:
        raise InvalidInput(
            f"{filename} looks like the wide layout (unit, year, …) but has no indicator "
            "columns: add one column per indicator code, or use the long layout."
        )
    meta = body.select("row", *[pl.col(f"c{i}").alias(role) for i, role in roles.items()])
    values = body.select("row", *[pl.col(f"c{i}").alias(names[i]) for i in indicators])
    long = values.unpivot(index="row", variable_name="indicator", value_name="value")
    return meta.join(long, on="row", how="inner", maintain_order="right").with_columns(
        pl.col("indicator").alias("column")
    )


def _with_unit_codes(keyed: pl.DataFrame, by_city: bool) -> pl.DataFrame:
    """Add the ``unit`` column from city / country (/ metropolitan area) when the file names
    cities instead of giving unit codes (see :func:`unit_code`)."""
    if not by_city:
        return keyed
    ident = [name for name in ("city", "country", "metro_area") if name in keyed.columns]
    combos = keyed.select(ident).unique(maintain_order=True).filter(pl.col("city").is_not_null())
    rows = combos.to_dicts()
    metros: dict[str, set[str | None]] = {}
    for row in rows:
        metros.setdefault(unit_code(row["city"], row.get("country")), set()).add(
            row.get("metro_area")
        )
    codes = []
    for row in rows:
        base = unit_code(row["city"], row.get("country"))
        ambiguous = len(metros[base]) > 1
        codes.append(
            unit_code(row["city"], row.get("country"), row.get("metro_area")) if ambiguous else base
        )
    mapping = combos.with_columns(pl.Series("unit", codes, dtype=pl.String))
    return keyed.join(mapping, on=ident, how="left", nulls_equal=True, maintain_order="left")


def _units(keyed: pl.DataFrame, filename: str) -> tuple[ImportedUnit, ...]:
    """One unit per code, its names and attributes from the first row that has them."""
    optional = [name for name in _UNIT_COLUMNS if name in keyed.columns]
    firsts = (
        keyed.filter(pl.col("unit").is_not_null())
        .group_by("unit", maintain_order=True)
        .agg(pl.col("row").first(), *[pl.col(name).drop_nulls().first() for name in optional])
    )
    units: list[ImportedUnit] = []
    bad: list[tuple[str, str]] = []
    for row in firsts.iter_rows(named=True):
        attributes: dict[str, float] = {}
        for name in _ATTRIBUTES:
            text = row.get(name)
            if text:
                number = parse_number(text)
                if number is None:
                    where = f"column {name} of unit {row['unit']}"
                    bad.append((where, f"{text!r} is not a number"))
                else:
                    attributes[name] = number
        units.append(
            ImportedUnit(
                code=row["unit"],
                name_en=row.get("name_en") or row.get("city") or "",
                name_zh=row.get("name_zh") or "",
                group=row.get("group"),
                country=row.get("country"),
                metro_area=row.get("metro_area"),
                tier=row.get("tier"),
                attributes=attributes,
            )
        )
    if bad:
        raise not_numbers(bad, len(bad), filename)
    return tuple(units)


def parse_number(text: str) -> float | None:
    """A number from text (thousands separators allowed); None when it is not one."""
    if re.match(NUMBER, text):
        text = text.replace(",", "")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _records(
    keyed: pl.DataFrame, filename: str, problems: list[str]
) -> tuple[tuple[Record, ...], tuple[str, ...]]:
    """The rows with a value as records; every unreadable cell is a problem (raised)."""
    text = pl.col("value")
    cleaned = pl.when(text.str.contains(NUMBER)).then(text.str.replace_all(",", "")).otherwise(text)
    number = cleaned.cast(pl.Float64, strict=False)
    year = pl.col("year").cast(pl.Float64, strict=False)
    filled = keyed.filter(text.is_not_null() & ~text.is_in(list(MISSING))).with_columns(
        number.alias("number"), year.alias("year_number")
    )
    flags = filled.with_columns(
        (pl.col("number").is_null() | ~pl.col("number").is_finite()).alias("bad_value"),
        (
            pl.col("year_number").is_null()
            | ~pl.col("year_number").is_finite()
            | (pl.col("year_number") != pl.col("year_number").floor())
        ).alias("bad_year"),
        pl.col("unit").is_null().alias("no_unit"),
        pl.col("indicator").is_null().alias("no_indicator"),
    )
    wrong = flags.filter(
        pl.col("bad_value") | pl.col("bad_year") | pl.col("no_unit") | pl.col("no_indicator")
    )
    if wrong.height:
        bad: list[tuple[str, str]] = []
        for row in wrong.head(MAX_PROBLEMS).iter_rows(named=True):
            at = f"row {row['row']}, column"
            if row["no_unit"]:
                bad.append((f"{at} unit", "empty: every row with a value needs its unit"))
            if row["bad_year"]:
                shown = repr(row["year"]) if row["year"] else "empty"
                bad.append((f"{at} year", f"{shown} is not a year"))
            if row["no_indicator"]:
                bad.append((f"{at} indicator", "empty: every value needs its indicator"))
            if row["bad_value"]:
                bad.append((f"{at} {row['column']}", f"{row['value']!r} is not a number"))
        raise not_numbers(bad, wrong.height, filename)
    repeated = filled.filter(pl.struct("unit", "year_number", "indicator").is_duplicated())
    if repeated.height:
        first = repeated.row(0, named=True)
        problems.append(
            f"{repeated.height} cells repeat a unit, year and indicator (e.g. {first['unit']} "
            f"{int(first['year_number'])} {first['indicator']}, row {first['row']}): the "
            "last value is kept"
        )
    records = tuple(
        (unit, int(year_value), key, float(value))
        for unit, year_value, key, value in filled.select(
            "unit", "year_number", "indicator", "number"
        ).iter_rows()
    )
    keys = tuple(filled["indicator"].unique(maintain_order=True).to_list())
    return records, keys


def not_numbers(bad: list[tuple[str, str]], total: int, filename: str) -> InvalidInput:
    """One InvalidInput for every unreadable cell (the first MAX_PROBLEMS listed)."""
    shown = bad[:MAX_PROBLEMS]
    rows = "row" if total == 1 else "rows"
    head = "; ".join(f"{where}: {message}" for where, message in shown[:3])
    more = "; …" if len(shown) > 3 else ""
    listed = f" (the first {MAX_PROBLEMS} problems are in details)" if total > MAX_PROBLEMS else ""
    return InvalidInput(
        f"{filename}: {total} {rows} cannot be read{listed}: {head}{more}. A value must be a "
        "number; leave the cell empty or write -- when it is missing.",
        details=[{"where": where, "message": message} for where, message in shown],
    )
