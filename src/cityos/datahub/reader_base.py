"""What every uploaded-file reader shares: limits, the description of a source, its
structural problems, and :class:`Source`, which turns a reader's frames into batches.

A batch is a polars DataFrame whose columns are all ``pl.String``, named by the header, plus
``__row`` (``pl.Int64``): the row's number as a spreadsheet shows it. Text formats (CSV,
TSV) count records — the header is row 1, the first data row row 2 (row 1 without a
header); XLSX uses the sheet's row numbers; JSON and Parquet count records from 1 and
NDJSON counts lines.

Empty cells are ``""``; ``null`` means there is no cell at all (a JSON key that is absent
or ``null``, an XLSX cell that was never written). The validator treats the schema's
``missingValues`` (default ``[""]``) as missing, so both end up missing.

Rows with the wrong number of cells are not yielded: they become
:class:`StructuralProblem` s (``extra-cell`` / ``missing-cell``). So do blank rows (every
cell empty) that are followed by data (``blank-row``); blank rows at the end are dropped
silently. A cell over :attr:`ReaderLimits.max_cell_bytes` stops reading.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import polars as pl

from cityos.errors import InvalidInput, PayloadTooLarge

ROW = "__row"
MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class ReaderLimits:
    max_cell_bytes: int = MiB
    xlsx_max_uncompressed: int = 500 * MiB
    xlsx_max_ratio: float = 100.0
    max_columns: int = 1000
    json_max_bytes: int = 256 * MiB  # JSON and GeoJSON are parsed whole; NDJSON streams
    max_problems: int = 1000  # kept in Source.problems; Source.problem_counts counts all


@dataclass(frozen=True, slots=True)
class SourceInfo:
    format: str  # csv, tsv, xlsx, json, ndjson, geojson, parquet
    encoding: str | None  # the text encoding read (None for XLSX and Parquet)
    delimiter: str | None  # CSV/TSV only
    header: bool  # whether the first row named the columns
    columns: list[str]
    sheet: str | None = None  # XLSX: the sheet read


@dataclass(frozen=True, slots=True)
class StructuralProblem:
    type: str  # extra-cell, missing-cell, blank-row, formula-cell, unknown-field
    row: int
    message: str
    column: str | None = None


def human_size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover - loop always returns


@dataclass(slots=True)
class _Blank:
    """Blank rows seen but not yet reported: only reported when data follows them."""

    rows: list[int] = field(default_factory=list)


class Source(abc.ABC):
    """An opened upload. Iterate :meth:`batches` (again, to re-read); close when done."""

    def __init__(self, *, info: SourceInfo, limits: ReaderLimits, stack: ExitStack) -> None:
        self.info = info
        self.limits = limits
        self.problems: list[StructuralProblem] = []
        self.problem_counts: Counter[str] = Counter()
        self._stack = stack

    # -- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Remove temporary files (a transcoded copy) and close open files."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------
    def batches(self, size: int = 100_000) -> Iterator[pl.DataFrame]:
        """Frames of ``size`` rows (the last may be shorter); problems are reset first."""
        if size < 1:
            raise ValueError("batch size must be positive")
        self.problems.clear()
        self.problem_counts.clear()
        blank = _Blank()
        pending: list[pl.DataFrame] = []
        pending_rows = 0
        for frame in self._frames(size):
            frame = self._checked(frame, blank)
            if frame.height == 0:
                continue
            pending.append(frame)
            pending_rows += frame.height
            while pending_rows >= size:
                whole = pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0]
                yield whole.slice(0, size)
                rest = whole.slice(size)
                pending = [rest] if rest.height else []
                pending_rows = rest.height
        self.problems.sort(key=lambda problem: problem.row)
        if pending_rows:
            yield pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0]

    @abc.abstractmethod
    def _frames(self, size: int) -> Iterator[pl.DataFrame]:
        """The format's frames: String columns in :attr:`info` order plus ``__row``."""

    def add_problem(self, kind: str, row: int, message: str, *, column: str | None = None) -> None:
        self.problem_counts[kind] += 1
        if len(self.problems) < self.limits.max_problems:
            self.problems.append(StructuralProblem(kind, row, message, column))

    def _checked(self, frame: pl.DataFrame, blank: _Blank) -> pl.DataFrame:
        """Refuse oversized cells; drop blank rows (reporting those followed by data)."""
        columns = self.info.columns
        if frame.height == 0 or not columns:
            return frame
        self._check_cell_sizes(frame)
        is_blank = pl.all_horizontal(
            [pl.col(name).is_null() | (pl.col(name) == "") for name in columns]
        )
        flagged = frame.select(is_blank.alias("blank"), pl.col(ROW))
        blank_rows: list[int] = flagged.filter(pl.col("blank"))[ROW].to_list()
        if not blank_rows:
            self._report_blank(blank.rows)
            blank.rows = []
            return frame
        data_rows: list[int] = flagged.filter(~pl.col("blank"))[ROW].to_list()
        if not data_rows:
            blank.rows.extend(blank_rows)
            return frame.clear()
        last = max(data_rows)
        self._report_blank(blank.rows + [row for row in blank_rows if row < last])
        blank.rows = [row for row in blank_rows if row > last]
        return frame.filter(~is_blank)

    def _report_blank(self, rows: list[int]) -> None:
        for row in rows:
            self.add_problem(
                "blank-row", row, f"row {row} is blank: remove empty rows between the data"
            )

    def _check_cell_sizes(self, frame: pl.DataFrame) -> None:
        limit = self.limits.max_cell_bytes
        sizes = frame.select(pl.col(name).str.len_bytes().max() for name in self.info.columns)
        for index, name in enumerate(self.info.columns):
            biggest = sizes.item(0, index)
            if biggest is None or biggest <= limit:
                continue
            over = frame.filter(pl.col(name).str.len_bytes() > limit).row(0, named=True)
            size = len(str(over[name]).encode("utf-8"))
            raise PayloadTooLarge(
                f"The cell in row {over[ROW]}, column {index + 1} ('{name}') holds "
                f"{human_size(size)}; a cell may hold at most {human_size(limit)}. "
                "Store large documents as an attached resource, not in a table cell.",
                details={"row": over[ROW], "column": name, "bytes": size, "limit": limit},
            )


def check_header(names: list[str], *, limits: ReaderLimits) -> list[str]:
    """Column names from a header row: stripped, non-empty and unique."""
    if len(names) > limits.max_columns:
        raise InvalidInput(
            f"The file has {len(names)} columns; at most {limits.max_columns} are accepted.",
            details={"columns": len(names), "limit": limits.max_columns},
        )
    clean = [name.replace("\ufeff", "").strip() for name in names]
    empty = [index + 1 for index, name in enumerate(clean) if not name]
    if empty:
        which = f"Column {empty[0]} has" if len(empty) == 1 else f"Columns {_join(empty)} have"
        raise InvalidInput(
            f"{which} no name: name every column in the first row (if the first row is "
            "data, not names, upload with header=false).",
            details={"empty_columns": empty},
        )
    seen: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    for index, name in enumerate(clean, start=1):
        if name in seen:
            duplicates.append((name, seen[name], index))
        else:
            seen[name] = index
    if duplicates:
        name, left, right = duplicates[0]
        more = f" (and {len(duplicates) - 1} more)" if len(duplicates) > 1 else ""
        raise InvalidInput(
            f"Columns {left} and {right} are both called '{name}'{more}: every column needs "
            "a unique name.",
            details={"duplicates": [{"name": n, "columns": [a, b]} for n, a, b in duplicates]},
        )
    return clean


def _join(numbers: list[int]) -> str:
    shown = [str(number) for number in numbers[:10]]
    if len(numbers) > 10:
        shown.append("…")
    return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]


def string_frame(
    columns: list[str], data: dict[str, list[str | None]], rows: list[int]
) -> pl.DataFrame:
    """A batch from Python lists (JSON, XLSX): String columns in order, then ``__row``."""
    series = [pl.Series(name, data[name], dtype=pl.String) for name in columns]
    series.append(pl.Series(ROW, rows, dtype=pl.Int64))
    return pl.DataFrame(series)
