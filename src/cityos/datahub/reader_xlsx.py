"""XLSX workbooks, read with openpyxl in read-only mode after a zip-bomb check.

Cells: numbers as text (``3.0`` → ``3``), dates ISO (a datetime at midnight → the date),
booleans ``true`` / ``false``. Formula cells give their saved (cached) value; a formula
without one (the file was written by a program and never opened in Excel) is a
``formula-cell`` problem and its row is not yielded. ``__row`` is the sheet's row number.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from itertools import islice
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import iterparse

import openpyxl
import polars as pl

from cityos.datahub.reader_base import (
    MiB,
    ReaderLimits,
    Source,
    SourceInfo,
    check_header,
    human_size,
    string_frame,
)
from cityos.datahub.sniff import ACCEPTED, first_row_is_header, magic_kind, read_head
from cityos.errors import InvalidInput, PayloadTooLarge

MAX_MEMBERS = 10_000
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REF = re.compile(r"([A-Z]+)(\d+)")


def cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def column_letter(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def check_archive(path: Path, *, limits: ReaderLimits) -> None:
    """Refuse files that are not XLSX workbooks, and zip bombs — before openpyxl sees them."""
    head = read_head(path, 8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidInput(
            "This is an old Excel .xls file: open it in Excel or LibreOffice and save it as an "
            "Excel workbook (.xlsx) or as CSV (UTF-8).",
            details={"looks_like": "xls"},
        )
    if not head.startswith(b"PK\x03\x04"):
        kind = magic_kind(head) or "text or another kind of file"
        raise InvalidInput(
            f"This file is not an XLSX workbook: it looks like {kind}. {ACCEPTED}",
            details={"looks_like": kind},
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise InvalidInput(
            "This XLSX file is damaged (its ZIP structure cannot be read): save it again "
            "from Excel or LibreOffice."
        ) from None
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
        raise InvalidInput(
            "This ZIP archive is not an XLSX workbook (it has no xl/workbook.xml): upload a "
            "workbook saved by Excel or LibreOffice.",
            details={"looks_like": "zip"},
        )
    if len(members) > MAX_MEMBERS:
        raise PayloadTooLarge(f"This workbook holds {len(members)} files; too many to open.")
    total = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    limit = limits.xlsx_max_uncompressed
    if total > limit:
        raise PayloadTooLarge(
            f"This workbook unpacks to {human_size(total)}; at most {human_size(limit)} is "
            "accepted. Split it, or upload the data as CSV or Parquet.",
            details={"uncompressed": total, "limit": limit},
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > MiB and ratio > limits.xlsx_max_ratio:
            raise PayloadTooLarge(
                f"This workbook looks like a zip bomb: {member.filename} unpacks to "
                f"{human_size(member.file_size)} from {human_size(member.compress_size)} "
                f"({ratio:.0f}× — at most {limits.xlsx_max_ratio:.0f}× is accepted). Upload "
                "the data as CSV or Parquet instead.",
                details={"member": member.filename, "ratio": round(ratio), "packed": packed},
            )


def formula_cells(path: Path, member: str) -> dict[int, list[str]]:
    """Row → cell references of formulas without a saved value."""
    found: dict[int, list[str]] = {}
    with zipfile.ZipFile(path) as archive, archive.open(member) as xml:
        # expat (≥ 2.4) caps entity expansion and ElementTree never loads external
        # entities; the archive check has already bounded the member's size
        for _event, element in iterparse(xml, events=("end",)):  # noqa: S314
            if element.tag != f"{_MAIN}c":
                continue
            formula = element.find(f"{_MAIN}f")
            if formula is not None:
                value = element.find(f"{_MAIN}v")
                if value is None or not (value.text or "").strip():
                    ref = element.get("r", "")
                    match = _REF.fullmatch(ref)
                    if match:
                        found.setdefault(int(match.group(2)), []).append(ref)
            element.clear()
    return found


def _open_workbook(path: Path, stack: ExitStack) -> Any:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for damaged files
        raise InvalidInput(
            f"This XLSX workbook cannot be opened ({type(error).__name__}): save it again "
            "from Excel or LibreOffice."
        ) from None
    stack.callback(workbook.close)
    return workbook


def _sheet(workbook: Any, name: str | None) -> Any:
    names: list[str] = list(workbook.sheetnames)
    if name is None:
        if not workbook.worksheets:
            raise InvalidInput("This workbook has no worksheets.")
        return workbook.worksheets[0]
    if name in names:
        return workbook[name]
    raise InvalidInput(
        f"This workbook has no sheet called '{name}': its sheets are {', '.join(names)}.",
        details={"sheets": names},
    )


def _rows(worksheet: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
    return enumerate(worksheet.iter_rows(values_only=True), start=1)


def open_xlsx(
    path: Path,
    *,
    header: bool | None,
    sheet: str | None,
    limits: ReaderLimits,
    stack: ExitStack,
    expected_columns: Sequence[str] | None = None,
) -> Source:
    check_archive(path, limits=limits)
    workbook = _open_workbook(path, stack)
    worksheet = _sheet(workbook, sheet)
    worksheet.reset_dimensions()  # don't trust the stored dimension: read every cell
    start = 0
    sample: list[list[str]] = []
    for number, values in _rows(worksheet):
        texts = [cell_text(value) or "" for value in values]
        if not start:
            if not any(text.strip() for text in texts):
                continue
            start = number
        sample.append(texts)
        if len(sample) >= 50:
            break
    if not sample:
        raise InvalidInput(f"The sheet '{worksheet.title}' is empty: upload a sheet with data.")
    if header is None:
        header = first_row_is_header(sample, expected=expected_columns)
    first = list(sample[0])
    while first and not first[-1].strip():
        first.pop()
    if header:
        columns = check_header(first, limits=limits)
        if len(sample) < 2:
            raise InvalidInput(
                f"The sheet '{worksheet.title}' has a header row but no data rows: add rows "
                "under the header."
            )
    else:
        width = max(
            (index + 1 for row in sample for index, text in enumerate(row) if text.strip()),
            default=1,
        )
        columns = [f"column_{index}" for index in range(1, width + 1)]
        check_header(columns, limits=limits)  # the column limit
    member = getattr(worksheet, "_worksheet_path", None)
    formulas = formula_cells(path, member) if isinstance(member, str) else {}
    info = SourceInfo(
        format="xlsx",
        encoding=None,
        delimiter=None,
        header=header,
        columns=columns,
        sheet=str(worksheet.title),
    )
    return XlsxSource(
        worksheet=worksheet,
        first_row=start + (1 if header else 0),
        formulas=formulas,
        info=info,
        limits=limits,
        stack=stack,
    )


class XlsxSource(Source):
    def __init__(
        self,
        *,
        worksheet: Any,
        first_row: int,
        formulas: dict[int, list[str]],
        info: SourceInfo,
        limits: ReaderLimits,
        stack: ExitStack,
    ) -> None:
        super().__init__(info=info, limits=limits, stack=stack)
        self._worksheet = worksheet
        self._first_row = first_row
        self._formulas = formulas

    def _frames(self, size: int) -> Iterator[pl.DataFrame]:
        columns = self.info.columns
        width = len(columns)
        data: dict[str, list[str | None]] = {name: [] for name in columns}
        numbers: list[int] = []
        rows = islice(_rows(self._worksheet), self._first_row - 1, None)
        for number, values in rows:
            texts = [cell_text(value) for value in values]
            if not self._keep(number, texts, width):
                continue
            texts.extend([None] * (width - len(texts)))
            for name, text in zip(columns, texts, strict=False):
                data[name].append(text)
            numbers.append(number)
            if len(numbers) >= size:
                yield string_frame(columns, data, numbers)
                data = {name: [] for name in columns}
                numbers = []
        if numbers:
            yield string_frame(columns, data, numbers)

    def _keep(self, number: int, texts: list[str | None], width: int) -> bool:
        refs = self._formulas.get(number)
        if refs:
            self.add_problem(
                "formula-cell",
                number,
                f"row {number}: cell {', '.join(refs)} holds a formula without a saved value; "
                "formula cells are not accepted — paste values (Paste Special → Values) and "
                "save again",
                column=refs[0],
            )
            return False
        beyond = [index for index, text in enumerate(texts[width:], start=width + 1) if text]
        if beyond:
            self.add_problem(
                "extra-cell",
                number,
                f"row {number} has a value in column {column_letter(beyond[0])}, right of the "
                f"last named column ({column_letter(width)}): name the column or clear the "
                "cell",
                column=column_letter(beyond[0]),
            )
            return False
        return True
