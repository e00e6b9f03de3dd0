"""CSV and TSV, streamed with pyarrow's CSV reader (always from a UTF-8 file).

Ragged rows go to pyarrow's ``invalid_row_handler``, which knows their record number; the
valid rows' numbers are the records left over, so numbering stays the file's after a
skipped row. Every column is read as a string: ``""`` for an empty cell.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from cityos.datahub.reader_base import ROW, MiB, ReaderLimits, Source, SourceInfo, human_size
from cityos.datahub.sniff import DELIMITER_NAMES, unclosed_quote_row, utf8_error_place
from cityos.datahub.sniff import decode_error as encoding_error
from cityos.errors import InvalidInput, PayloadTooLarge

_STRADDLE = "straddl"
_BAD_UTF8 = re.compile(r"Row #(\d+): CSV conversion error to string: invalid UTF8")


def block_size(limits: ReaderLimits) -> int:
    """pyarrow's read block: a row may be at most this long (smaller blocks parse faster)."""
    return max(4 * MiB, 4 * limits.max_cell_bytes)


class _Ragged:
    """Collects the rows pyarrow skips, in file order."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, str]] = []  # number, expected, actual, text

    def __call__(self, row: pacsv.InvalidRow) -> Literal["skip"]:
        number = row.number if row.number is not None else -1
        self.rows.append((number, row.expected_columns, row.actual_columns, row.text))
        return "skip"


def _open(
    path: Path, *, delimiter: str, limits: ReaderLimits, ragged: _Ragged
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            use_threads=False,  # the invalid-row handler only gets row numbers when serial
            block_size=block_size(limits),
            autogenerate_column_names=True,
            encoding="utf8",
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            ignore_empty_lines=False,  # blank lines count as rows, so numbers stay the file's
            invalid_row_handler=ragged,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={f"f{index}": pa.string() for index in range(limits.max_columns + 1)},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def read_first_row(
    path: Path, *, delimiter: str, limits: ReaderLimits, format_name: str, encoding: str
) -> tuple[list[str], int]:
    """The first record's cells and how many records there are (counting stops at 2)."""
    ragged = _Ragged()
    try:
        reader = _open(path, delimiter=delimiter, limits=limits, ragged=ragged)
        width = len(reader.schema)
        if width > limits.max_columns:
            raise InvalidInput(
                f"The first row has {width} columns; at most {limits.max_columns} are "
                f"accepted. Is the delimiter right? (read with the "
                f"{DELIMITER_NAMES.get(delimiter, repr(delimiter))} delimiter)",
                details={"columns": width, "limit": limits.max_columns},
            )
        first: list[str] | None = None
        records = 0
        for batch in reader:
            if first is None and batch.num_rows:
                first = [str(batch.column(index)[0].as_py()) for index in range(width)]
            records += batch.num_rows
            if first is not None and records + len(ragged.rows) >= 2:
                break
        if first is not None:
            return first, records + len(ragged.rows)
    except pa.ArrowInvalid as error:
        raise _arrow_error(
            error, path=path, delimiter=delimiter, limits=limits, encoding=encoding, after=0
        ) from None
    raise InvalidInput(f"The file has no rows: upload a {format_name.upper()} file with data.")


class TextSource(Source):
    def __init__(
        self,
        *,
        path: Path,
        info: SourceInfo,
        limits: ReaderLimits,
        stack: ExitStack,
        read_encoding: str,
    ) -> None:
        super().__init__(info=info, limits=limits, stack=stack)
        self._path = path
        self._read_encoding = read_encoding  # what the bytes are (utf-8 after transcoding)

    def _frames(self, size: int) -> Iterator[pl.DataFrame]:
        delimiter = self.info.delimiter or ","
        columns = self.info.columns
        width = len(columns)
        ragged = _Ragged()
        reported = 0
        next_record = 1
        last: tuple[int, str] = (0, "")  # the last record's number and last cell / text
        try:
            reader = _open(self._path, delimiter=delimiter, limits=self.limits, ragged=ragged)
            for batch in reader:
                skipped = [row[0] for row in ragged.rows[reported:]]
                numbers, used = _numbers(next_record, batch.num_rows, skipped)
                for number, expected, actual, text in ragged.rows[reported : reported + used]:
                    self._ragged(number, expected, actual)
                    last = max(last, (number, text))
                reported += used
                next_record = int(numbers[-1]) + 1 if len(numbers) else next_record
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                frame = frame.rename(dict(zip(frame.columns, columns, strict=True)))
                frame = frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
                if frame.height:
                    last = max(last, (int(numbers[-1]), str(frame.item(-1, width - 1))))
                if self.info.header and numbers[:1].tolist() == [1]:
                    frame = frame.slice(1)
                yield frame
            for number, expected, actual, text in ragged.rows[reported:]:
                self._ragged(number, expected, actual)
                last = max(last, (number, text))
        except pa.ArrowInvalid as error:
            raise _arrow_error(
                error,
                path=self._path,
                delimiter=delimiter,
                limits=self.limits,
                encoding=self._read_encoding,
                after=next_record - 1,
            ) from None
        if "\n" in last[1] or "\r" in last[1]:  # a line break in the last record: a stray quote?
            opened = unclosed_quote_row(self._path, delimiter=delimiter)
            if opened is not None:
                raise unbalanced_quote(opened)

    def _ragged(self, number: int, expected: int, actual: int) -> None:
        if actual > expected:
            self.add_problem(
                "extra-cell",
                number,
                f"row {number} has {actual} cells but the header has {expected}: "
                "remove the extra cells (or quote cells that contain the delimiter)",
            )
        else:
            self.add_problem(
                "missing-cell",
                number,
                f"row {number} has {actual} cells but the header has {expected}: "
                "add the missing cells (empty ones are fine)",
            )


def _numbers(start: int, count: int, skipped: list[int]) -> tuple[np.ndarray, int]:
    """The record numbers of ``count`` valid rows from ``start``, around ``skipped`` rows.

    Returns the numbers and how many of the (sorted) ``skipped`` rows fall among them.
    """
    used = 0
    while True:
        end = start + count + used
        now = bisect.bisect_left(skipped, end)
        if now == used:
            break
        used = now
    numbers = np.arange(start, start + count + used, dtype=np.int64)
    if used:
        numbers = np.setdiff1d(numbers, np.asarray(skipped[:used], dtype=np.int64))
    return numbers, used


def unbalanced_quote(row: int) -> InvalidInput:
    return InvalidInput(
        f"Unbalanced quote: a quoted cell starts at row {row} and never ends. Close the "
        'quote, or double quote characters inside quoted cells ("").',
        details={"row": row},
    )


def _arrow_error(
    error: pa.ArrowInvalid,
    *,
    path: Path,
    delimiter: str,
    limits: ReaderLimits,
    encoding: str,
    after: int,
) -> InvalidInput | PayloadTooLarge:
    message = str(error)
    if _STRADDLE in message:
        opened = unclosed_quote_row(path, delimiter=delimiter)
        if opened is not None:
            return unbalanced_quote(opened)
        size = block_size(limits)
        return PayloadTooLarge(
            f"A row after row {after} is larger than {human_size(size)}; a cell may hold at "
            f"most {human_size(limits.max_cell_bytes)}. Store large documents as an attached "
            "resource, not in a table cell.",
            details={"after_row": after, "limit": limits.max_cell_bytes},
        )
    if _BAD_UTF8.search(message):
        place = utf8_error_place(path)
        line, offset = place if place else (None, None)
        return encoding_error(encoding, line=line, offset=offset)
    return InvalidInput(
        f"The file could not be read as delimited text: {message}", details={"after_row": after}
    )
