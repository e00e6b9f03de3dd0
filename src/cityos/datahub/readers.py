"""Opening an uploaded file as a stream of string batches, whatever its format.

:func:`open_source` works out the format (``format`` or the file name's extension), refuses
binary files and zip bombs, detects the text encoding (BOM, UTF-8, else GBK / GB18030 —
non-UTF-8 text is transcoded, streaming, into a temporary UTF-8 copy the source owns), the
delimiter and whether the first row is a header, and checks the header. Batches and
numbering are described in :mod:`cityos.datahub.reader_base`.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path, PurePosixPath
from tempfile import TemporaryDirectory

from cityos.datahub.reader_base import (
    ROW,
    ReaderLimits,
    Source,
    SourceInfo,
    StructuralProblem,
    check_header,
)
from cityos.datahub.reader_csv import TextSource, read_first_row
from cityos.datahub.reader_json import open_geojson, open_json, open_ndjson
from cityos.datahub.reader_parquet import open_parquet
from cityos.datahub.reader_xlsx import open_xlsx
from cityos.datahub.sniff import (
    UTF8,
    check_text,
    decode_error,
    detect_encoding,
    first_row_is_header,
    normalise_encoding,
    not_text,
    read_head,
    sample_records,
    sample_text,
    sniff_delimiter,
    transcode,
)
from cityos.errors import InvalidInput

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "ROW",
    "ReaderLimits",
    "Source",
    "SourceInfo",
    "StructuralProblem",
    "check_header",
    "open_source",
    "resolve_format",
    "safe_filename",
]

FORMATS = ("csv", "tsv", "xlsx", "json", "ndjson", "geojson", "parquet")
EXTENSIONS = {
    "csv": "csv",
    "txt": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "xlsx": "xlsx",
    "json": "json",
    "ndjson": "ndjson",
    "jsonl": "ndjson",
    "geojson": "geojson",
    "parquet": "parquet",
    "pq": "parquet",
}
TEXT_FORMATS = ("csv", "tsv", "json", "ndjson", "geojson")
_ACCEPTED = ", ".join(EXTENSIONS)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_filename(name: str) -> str:
    """A name safe to store and show: no directories, ``..``, control characters or
    leading dots; at most 200 characters (keeping the extension); ``upload`` if nothing
    is left."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"\.{2,}", ".", base).strip().lstrip(".").strip()
    if len(base) > 200:
        suffix = PurePosixPath(base).suffix
        suffix = suffix if 0 < len(suffix) <= 16 else ""
        base = base[: 200 - len(suffix)] + suffix
    return base or "upload"


def resolve_format(filename: str, format: str | None = None) -> str:
    """``format`` (or the file name's extension) as one of :data:`FORMATS`."""
    given = format if format else PurePosixPath(safe_filename(filename)).suffix
    key = given.strip().lower().lstrip(".")
    if key == "xls":
        raise InvalidInput(
            "Old Excel .xls files are not accepted: open the file in Excel or LibreOffice "
            "and save it as an Excel workbook (.xlsx) or as CSV (UTF-8).",
            details={"format": "xls"},
        )
    if key not in EXTENSIONS:
        what = f"format '{given}'" if format else f"file name '{safe_filename(filename)}'"
        raise InvalidInput(
            f"Cannot read the {what}: accepted formats are {_ACCEPTED}. Rename the file "
            "with one of these extensions or pass the format.",
            details={"accepted": list(EXTENSIONS)},
        )
    return EXTENSIONS[key]


def open_source(
    path: Path,
    *,
    filename: str,
    format: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    sheet: str | None = None,
    limits: ReaderLimits = ReaderLimits(),
    expected_columns: Sequence[str] | None = None,
) -> Source:
    """Open ``path`` (uploaded as ``filename``) for reading; close the source when done.

    ``expected_columns`` (the schema's field names, when known) helps to tell whether the
    first row of a CSV, TSV or XLSX file is a header when ``header`` is None (see
    :func:`cityos.datahub.sniff.first_row_is_header`).

    Raises :class:`~cityos.errors.InvalidInput` / ``PayloadTooLarge`` for files that
    cannot be read at all; row-level problems go to :attr:`Source.problems`.
    """
    fmt = resolve_format(filename, format)
    if not path.is_file():
        raise InvalidInput(f"No uploaded file at '{safe_filename(str(path))}'.")
    if path.stat().st_size == 0:
        raise InvalidInput("The file is empty: upload a file with a header row and data.")
    stack = ExitStack()
    try:
        if fmt == "xlsx":
            return open_xlsx(
                path,
                header=header,
                sheet=sheet,
                limits=limits,
                stack=stack,
                expected_columns=expected_columns,
            )
        if fmt == "parquet":
            return open_parquet(path, limits=limits, stack=stack)
        text_path, read_as, reported, head = _utf8_copy(
            path, fmt=fmt, encoding=encoding, stack=stack
        )
        if fmt == "json":
            return open_json(text_path, encoding=reported, limits=limits, stack=stack)
        if fmt == "geojson":
            return open_geojson(text_path, encoding=reported, limits=limits, stack=stack)
        if fmt == "ndjson":
            return open_ndjson(text_path, encoding=reported, limits=limits, stack=stack)
        return _open_delimited(
            text_path,
            fmt=fmt,
            head=head,
            complete=path.stat().st_size <= len(head),
            read_as=read_as,
            reported=reported,
            delimiter=delimiter,
            header=header,
            limits=limits,
            stack=stack,
            expected_columns=expected_columns,
        )
    except BaseException:
        stack.close()
        raise


def _utf8_copy(
    path: Path, *, fmt: str, encoding: str | None, stack: ExitStack
) -> tuple[Path, str, str, bytes]:
    """(a UTF-8 file to read, the encoding it was decoded with, the encoding to report,
    the first bytes of the original)."""
    head = read_head(path)
    complete = path.stat().st_size <= len(head)
    forced = normalise_encoding(encoding) if encoding else None
    if forced is None or not forced.startswith(("utf-16", "utf-32")):
        check_text(head, format_name=fmt)
    detected = forced or detect_encoding(head, complete=complete)
    text = sample_text(head, encoding=detected, complete=complete)
    if not text.strip():
        raise InvalidInput("The file is empty: upload a file with a header row and data.")
    controls = len(_CONTROL.findall(text))
    if controls > max(8, len(text) // 100):
        raise not_text(fmt, "binary data (it is full of control characters)")
    if detected in UTF8:
        if forced and not _sample_decodes(head, forced, complete=complete):
            place = _first_bad_byte(head, forced)
            line = head.count(b"\n", 0, place) + 1
            raise decode_error(forced, line=line, offset=place)
        return path, "utf-8", detected, head
    read_as = detected
    if not forced and detected in ("gbk", "gb18030"):
        read_as = "gb18030"  # a superset of GBK: rarer characters deeper in the file decode
    folder = Path(stack.enter_context(TemporaryDirectory(prefix="cityos-upload-")))
    target = folder / "utf8.txt"
    transcode(path, target, encoding=read_as)
    return target, read_as, detected, head


def _sample_decodes(head: bytes, encoding: str, *, complete: bool) -> bool:
    return _first_bad_byte(head, encoding, complete=complete) is None


def _first_bad_byte(head: bytes, encoding: str, *, complete: bool = False) -> int | None:
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(head, final=complete)
    except UnicodeDecodeError as error:
        return error.start
    return None


def _delimiter(value: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    delimiter = named.get(value.strip().lower(), value)
    if len(delimiter) != 1 or delimiter in '"\r\n' or not delimiter.isascii():
        raise InvalidInput(
            f"The delimiter must be one ASCII character (e.g. ',', ';', '|' or tab), not "
            f"{value!r}.",
            details={"delimiter": value},
        )
    return delimiter


def _open_delimited(
    path: Path,
    *,
    fmt: str,
    head: bytes,
    complete: bool,
    read_as: str,
    reported: str,
    delimiter: str | None,
    header: bool | None,
    limits: ReaderLimits,
    stack: ExitStack,
    expected_columns: Sequence[str] | None,
) -> Source:
    text = sample_text(
        head, encoding=read_as if read_as != "utf-8" else reported, complete=complete
    )
    default = "\t" if fmt == "tsv" else ","
    chosen = _delimiter(delimiter) if delimiter else sniff_delimiter(text, default=default)
    first, records = read_first_row(
        path, delimiter=chosen, limits=limits, format_name=fmt, encoding=reported
    )
    if header is None:
        sample = sample_records(text, chosen)
        header = first_row_is_header([first, *sample[1:]], expected=expected_columns)
    if header:
        columns = check_header(first, limits=limits)
        if records < 2:
            raise InvalidInput(
                "The file has a header row but no data rows: add rows under the header."
            )
    else:
        columns = [f"column_{index}" for index in range(1, len(first) + 1)]
    info = SourceInfo(
        format=fmt, encoding=reported, delimiter=chosen, header=header, columns=columns
    )
    return TextSource(path=path, info=info, limits=limits, stack=stack, read_encoding=read_as)
