"""Reading a case import file (CSV, TSV or XLSX) into a frame of text columns.

Every value is read as text (the importer parses and checks it). Each row keeps its number
as a spreadsheet shows it (the header is row 1), so reports point at the right place. Rows
whose number of values differs from the header's are reported, not silently cut or padded:
a stray delimiter shifts every later value of the row into the wrong column.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

import polars as pl

from cityos.cases.import_mapping import FileOptions
from cityos.errors import InvalidInput

ROW = "__row"
XLSX_SUFFIXES = (".xlsx", ".xlsm")
TAB_SUFFIXES = (".tsv", ".tab")
SNIFFED = (",", "\t", ";", "|")
PROBLEM_SCHEMA: dict[str, Any] = {
    "row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


@dataclass(frozen=True, slots=True)
class Table:
    """The file's rows: one text column per header name, plus ``__row`` (its number)."""

    name: str
    frame: pl.DataFrame
    columns: list[str]
    ragged: pl.DataFrame  # problems: row, column, value, reason


def no_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


def read_table(data: bytes, *, name: str, options: FileOptions) -> Table:
    """Read CSV/TSV (by content) or XLSX (by suffix or content) into a :class:`Table`."""
    suffix = PurePath(name).suffix.lower()
    if suffix in XLSX_SUFFIXES or data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, name=name, sheet=options.sheet)
    if options.encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        try:
            data = data.decode(options.encoding).encode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInput(
                f"{name} is not {options.encoding} text (byte {error.start}); set "
                "file.encoding in the mapping to the file's encoding."
            ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    separator = options.separator or ("\t" if suffix in TAB_SUFFIXES else sniff_delimiter(data))
    return _read_delimited(data, name=name, separator=separator)


def sniff_delimiter(data: bytes) -> str:
    """The delimiter of the header line: the candidate that splits it into most fields."""
    end = data.find(b"\n")
    header = data[: end if end >= 0 else len(data)].decode("utf-8", "replace")
    counts = {
        candidate: len(next(csv.reader([header], delimiter=candidate), [])) for candidate in SNIFFED
    }
    best = max(SNIFFED, key=lambda candidate: counts[candidate])
    return best if counts[best] > 1 else ","


def _read_delimited(data: bytes, *, name: str, separator: str) -> Table:
    if not data[:4096].strip() and not data.strip():
        raise InvalidInput(f"{name} is empty: it needs a header row and at least one case.")
    try:
        frame = pl.read_csv(
            data,
            separator=separator,
            infer_schema=False,
            truncate_ragged_lines=True,
            row_index_name=ROW,
            row_index_offset=2,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InvalidInput(
            f"{name} cannot be read as delimited text ({separator!r} between values): {first}. "
            "Check file.delimiter and file.encoding in the mapping."
        ) from None
    columns = [column for column in frame.columns if column != ROW]
    frame = frame.with_columns(pl.col(ROW).cast(pl.Int64))
    counts = _field_counts(data, separator=separator, records=frame.height)
    frame = frame.with_columns(counts.alias("__fields"))
    if (counts <= 1).any():  # blank lines: skipped
        blank = pl.all_horizontal(pl.col(column).is_null() for column in columns)
        frame = frame.filter(~(blank & (pl.col("__fields") <= 1)))
    ragged = frame.filter(pl.col("__fields") != len(columns)).select(
        pl.col(ROW).alias("row"),
        pl.lit("(row)").alias("column"),
        pl.col("__fields").cast(pl.String).alias("value"),
        pl.format(
            "the row has {} values but the header has {}: a value probably contains the "
            "delimiter or a line break without quotes",
            pl.col("__fields"),
            pl.lit(len(columns)),
        ).alias("reason"),
    )
    return Table(name=name, frame=frame.drop("__fields"), columns=columns, ragged=ragged)


def _field_counts(data: bytes, *, separator: str, records: int) -> pl.Series:
    """How many values each record has (the header excluded).

    Vectorised: the file is read once more as plain lines, quoted values (which may hold
    the delimiter) are cut out, and the delimiters left are counted. When some value spans
    lines, the csv module counts instead.
    """
    counts = _count_by_lines(data, separator=separator, records=records)
    if counts is not None:
        return counts
    text = io.StringIO(data.decode("utf-8", "replace"), newline="")
    reader = csv.reader(text, delimiter=separator)
    next(reader, None)
    found = [len(row) or 1 for row in reader]
    if len(found) != records:  # pragma: no cover - the two parsers disagree
        raise InvalidInput(
            "The file's quoting is ambiguous (its records cannot be counted reliably); "
            "save it again as CSV with every value quoted."
        )
    return pl.Series(found, dtype=pl.Int64)


def _count_by_lines(data: bytes, *, separator: str, records: int) -> pl.Series | None:
    spare = next((c for c in ("\x1f", "\x1e", "\x1d", "\x1c") if c.encode() not in data), None)
    if spare is None:
        return None
    try:
        lines = pl.read_csv(
            data,
            has_header=False,
            separator=spare,
            quote_char=None,
            schema={"line": pl.String},
            truncate_ragged_lines=True,
        )["line"]
    except pl.exceptions.PolarsError:  # pragma: no cover - let the csv module try
        return None
    if lines.len() != records + 1:
        return None
    # "" is an empty quoted value or an escaped quote: neither hides a delimiter
    body = lines.slice(1).fill_null("").str.replace_all('""', "", literal=True)
    quoted = body.str.contains('"', literal=True)
    if quoted.any():  # cut out the quoted values (which may hold the delimiter)
        where = quoted.arg_true()
        sep = re.escape(separator)
        cut = body.gather(where).str.replace_all(f'(^|{sep})"[^"]*"', "${1}")
        if cut.str.contains('"', literal=True).any():
            return None  # a quote left open: a value spans lines (or stray quotes)
        body = body.scatter(where, cut)
    return body.str.count_matches(separator, literal=True).cast(pl.Int64) + 1


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text.strip() else None


def _read_xlsx(data: bytes, *, name: str, sheet: str | None) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise InvalidInput(
            f"{name} cannot be read as an Excel workbook (.xlsx): {type(error).__name__}."
        ) from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise InvalidInput(
                f"{name} has no sheet {sheet!r}; its sheets: {', '.join(workbook.sheetnames)}."
            )
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        rows = worksheet.iter_rows(values_only=True)
        header_cells = next(rows, None)
        if header_cells is None:
            raise InvalidInput(f"{name} is empty: it needs a header row and at least one case.")
        header = [str(cell).strip() if cell is not None else "" for cell in header_cells]
        while header and not header[-1]:
            header.pop()
        width = len(header)
        values: list[list[str | None]] = [[] for _ in range(width)]
        numbers: list[int] = []
        ragged: list[dict[str, Any]] = []
        for number, cells in enumerate(rows, start=2):
            texts = [_cell(cell) for cell in cells]
            if not any(text is not None for text in texts):
                continue
            extra = [text for text in texts[width:] if text is not None]
            if extra:
                ragged.append(
                    {
                        "row": number,
                        "column": "(row)",
                        "value": extra[0][:200],
                        "reason": f"the row has values beyond the header's {width} columns",
                    }
                )
            texts = (texts + [None] * width)[:width]
            for index in range(width):
                values[index].append(texts[index])
            numbers.append(number)
    finally:
        workbook.close()
    frame = pl.DataFrame(
        {ROW: pl.Series(numbers, dtype=pl.Int64)}
        | {column: pl.Series(values[i], dtype=pl.String) for i, column in enumerate(header)}
    )
    problems = pl.DataFrame(ragged, schema=PROBLEM_SCHEMA) if ragged else no_problems()
    return Table(name=name, frame=frame, columns=header, ragged=problems)
