"""Looking at the start of an upload: binary or text, which encoding, which delimiter,
whether the first row is a header; plus streaming transcoding to UTF-8 and the scan that
finds where an unbalanced quote starts."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cityos.errors import InvalidInput

SAMPLE_BYTES = 64 * 1024
ACCEPTED = "Upload a CSV, TSV, XLSX, JSON, GeoJSON or Parquet file."
DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}

# (magic bytes, what the file looks like)
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook or another Office file?)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a GZIP-compressed file (decompress it first)"),
    (b"BZh", "a BZIP2-compressed file (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls (or other Office 97) file"),
    (b"PAR1", "a Parquet file (upload it with the .parquet extension)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
UTF8 = ("utf-8", "utf-8-sig")


def read_head(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def magic_kind(head: bytes) -> str | None:
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    start = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML): download the data file itself, not the page"
    return None


def not_text(format_name: str, kind: str) -> InvalidInput:
    return InvalidInput(
        f"This file is not {format_name.upper()} text: it looks like {kind}. {ACCEPTED}",
        details={"looks_like": kind},
    )


def check_text(head: bytes, *, format_name: str) -> None:
    """Refuse files that are plainly binary (magic numbers, NUL bytes)."""
    if any(head.startswith(bom) for bom, _ in BOMS):
        return
    kind = magic_kind(head)
    if kind is None and b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if len(head) > 16 and max(even, odd) > 0.4 * len(head) / 2 > min(even, odd) * 4:
            raise InvalidInput(
                "This file looks like UTF-16 text without a byte-order mark: pass the "
                f"encoding utf-16-le ({how_to_pass('utf-16-le')}) or save it as UTF-8.",
                details={"looks_like": "UTF-16 text"},
            )
        kind = "binary data (it contains NUL bytes)"
    if kind is not None:
        raise not_text(format_name, kind)


def normalise_encoding(name: str) -> str:
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        raise InvalidInput(
            f"Unknown encoding '{name}': use e.g. utf-8, gbk, gb18030 or utf-16.",
            details={"encoding": name},
        ) from None


def _decodes(head: bytes, encoding: str, *, complete: bool) -> bool:
    """Whether ``head`` decodes; a character cut at the end of a sample is fine."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(head: bytes, *, complete: bool) -> str:
    """BOM, else UTF-8, else GBK / GB18030 — judged on the sample ``head``."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    if _decodes(head, "utf-8", complete=complete):
        return "utf-8"
    if _decodes(head, "gbk", complete=complete):
        return "gbk"
    if _decodes(head, "gb18030", complete=complete):
        return "gb18030"
    raise InvalidInput(
        "Could not tell this file's text encoding (it is not UTF-8, GBK or GB18030): "
        f"pass the encoding, e.g. big5 ({how_to_pass('big5')}), or save the file as UTF-8.",
    )


def suggestion(encoding: str) -> str:
    return "gb18030" if encoding in UTF8 else "utf-8"


def how_to_pass(encoding: str) -> str:
    """Where to give an encoding: the API and the upload form, or the command line."""
    return (
        f"`encoding={encoding}` in the API or the upload form, `--encoding {encoding}` on the "
        "command line"
    )


def decode_error(encoding: str, *, line: int | None, offset: int | None) -> InvalidInput:
    where = []
    if line is not None:
        where.append(f"line {line}")
    if offset is not None:
        where.append(f"byte {offset}")
    place = f" at {', '.join(where)}" if where else ""
    better = suggestion(encoding)
    return InvalidInput(
        f"The file is not valid {encoding.upper()}{place}: try the encoding {better} "
        f"({how_to_pass(better)}), or save the file as UTF-8.",
        details={"encoding": encoding, "line": line, "byte": offset},
    )


def transcode(source: Path, target: Path, *, encoding: str, chunk: int = 1 << 20) -> None:
    """Copy ``source`` (in ``encoding``) to ``target`` as UTF-8, streaming.

    A decode error anywhere raises :class:`InvalidInput` with its line and byte offset.
    """
    wide = encoding.startswith(("utf-16", "utf-32"))
    with source.open("rb") as reader, target.open("w", encoding="utf-8", newline="") as out:
        if wide:
            _transcode_wide(reader, out, encoding=encoding, chunk=chunk)
            return
        lines = 0
        offset = 0
        rest = b""
        while True:
            block = reader.read(chunk)
            data = rest + block
            if not data:
                break
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                rest = data
                continue
            piece, rest = data[:cut], data[cut:]
            try:
                text = piece.decode(encoding)
            except UnicodeDecodeError as error:
                line = lines + piece.count(b"\n", 0, error.start) + 1
                raise decode_error(encoding, line=line, offset=offset + error.start) from None
            out.write(text)
            lines += piece.count(b"\n")
            offset += len(piece)


def _transcode_wide(
    reader: io.BufferedReader, out: io.TextIOWrapper, *, encoding: str, chunk: int
) -> None:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    lines = 0
    offset = 0
    while True:
        block = reader.read(chunk)
        try:
            text = decoder.decode(block, final=not block)
        except UnicodeDecodeError:
            raise decode_error(encoding, line=lines + 1, offset=offset) from None
        out.write(text)
        lines += text.count("\n")
        offset += len(block)
        if not block:
            return


def utf8_error_place(path: Path, chunk: int = 1 << 20) -> tuple[int, int] | None:
    """(line, byte offset) of the first byte that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    lines = 0
    offset = 0
    with path.open("rb") as reader:
        while True:
            block = reader.read(chunk)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                pending = len(error.object) - len(block)  # bytes carried from the last block
                start = max(error.start - pending, 0)
                return lines + block.count(b"\n", 0, start) + 1, offset + start
            if not block:
                return None
            lines += block.count(b"\n")
            offset += len(block)


def sample_text(head: bytes, *, encoding: str, complete: bool) -> str:
    """The decoded sample without a partial last line (unless the file is complete)."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    text = decoder.decode(head, final=complete)
    if not complete:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut > 0:
            text = text[:cut]
    return text.lstrip("\ufeff")


def sample_records(text: str, delimiter: str, limit: int = 50) -> list[list[str]]:
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        for record in reader:
            records.append(record)
            if len(records) >= limit:
                break
    except csv.Error:
        pass  # a cell larger than the csv module's limit: judge on what was read
    return records


def sniff_delimiter(text: str, *, default: str) -> str:
    """The delimiter among , tab ; | that splits the sample's rows most consistently."""
    scores: dict[str, tuple[float, int]] = {}
    for candidate in DELIMITERS:
        records = [r for r in sample_records(text, candidate) if r]
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        same = sum(1 for record in records if len(record) == width) / len(records)
        scores[candidate] = (same, width)
    if not scores:
        return default
    if default in scores and scores[default][0] >= 0.9:
        return default
    return max(scores, key=lambda candidate: scores[candidate])


_NUMBER = re.compile(r"[+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?%?")
_DATE = re.compile(
    r"\d{4}([-/.年])\d{1,2}(\1\d{1,2}|月\d{1,2}日?|月)?([ T]\d{1,2}:\d{2}(:\d{2})?.*)?"
)
_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?")
_ID = re.compile(r"\d{6,}[Xx]")
_YEAR = re.compile(r"(19|20)\d\d")


def _kind(cell: str) -> str | None:
    """What a cell holds: ``number``, ``date``, ``time``, ``boolean`` or ``text``; None
    when it is empty."""
    if not cell:
        return None
    if cell.lower() in {"true", "false"}:
        return "boolean"
    if _DATE.fullmatch(cell):
        return "date"
    if _TIME.fullmatch(cell):
        return "time"
    if _NUMBER.fullmatch(cell) or _ID.fullmatch(cell):
        return "number"
    return "text"


def _value_like(cell: str) -> bool:
    return _kind(cell) not in (None, "text")


def _column_vote(first: str, below: list[str]) -> int:
    """+1 when the column says "the first row is a header", -1 when it says "data", 0 when
    it cannot tell (like :meth:`csv.Sniffer.has_header`, per column).

    A name over values of one other kind (text over numbers, a year over other numbers)
    votes header; a value of the same kind as the values below (a number over numbers)
    votes data. Text over text only votes header when the texts below (two or more) all
    have one length and the first cell another (codes under a name); equal lengths prove
    nothing.
    """
    kind = _kind(first)
    kinds = [k for k in map(_kind, below) if k is not None]
    if kind is None or not kinds:
        return 0
    common, count = Counter(kinds).most_common(1)[0]
    if count < 0.9 * len(kinds):
        return 0  # a mixed column
    if common == "text":
        lengths = {len(cell) for cell in below if cell}
        if kind == "text" and count > 1 and len(lengths) == 1 and len(first) not in lengths:
            return 1
        return 0
    if kind != common:
        return 1
    if kind == "number" and _YEAR.fullmatch(first):
        numbers = [cell for cell in below if cell]
        return 1 if not all(_YEAR.fullmatch(cell) for cell in numbers) else -1
    return -1


def first_row_is_header(records: list[list[str]], *, expected: Sequence[str] | None = None) -> bool:
    """Whether the first of ``records`` (a sample of the file's rows) names the columns.

    Each column compares its first cell with the cells below (:func:`_column_vote`); the
    votes decide. When they don't, and the schema's field names are ``expected``: a first
    row that has as many cells as the schema has fields and none of them a field name is
    data. Otherwise names are expected — the first row is data only if every cell looks
    like a value. A first cell that is a field name always makes a header.
    """
    if not records:
        return True
    first = [cell.replace("\ufeff", "").strip() for cell in records[0]]
    while first and not first[-1]:
        first.pop()
    if expected is not None:
        names = {name.strip().lower() for name in expected}
        if any(cell.lower() in names for cell in first if cell):
            return True
    below = [[cell.strip() for cell in record] for record in records[1:]]
    votes = sum(
        _column_vote(cell, [record[index] for record in below if index < len(record)])
        for index, cell in enumerate(first)
    )
    if votes:
        return votes > 0
    if expected is not None and first and len(first) == len(expected):
        return False
    cells = [cell for cell in first if cell]
    return not cells or not all(_value_like(cell) for cell in cells)


def _breaks(data: bytes, start: int, end: int) -> int:
    """Line breaks (\\n, \\r or \\r\\n) in ``data[start:end]``."""
    return (
        data.count(b"\n", start, end)
        + data.count(b"\r", start, end)
        - data.count(b"\r\n", start, end)
    )


def unclosed_quote_row(path: Path, *, delimiter: str, chunk: int = 1 << 20) -> int | None:
    """The record (1-based) where a quoted cell starts that never ends, or None.

    Quotes only open a cell at its start (as pyarrow and RFC 4180 read them); ``""`` inside
    a quoted cell is a quote character. Reads UTF-8 bytes in chunks, jumping from quote to
    quote.
    """
    starts = (delimiter.encode(), b"\n", b"\r")
    record, opened, in_quote = 1, 0, False
    before = b"\n"  # the byte before the current chunk: the file starts like a line
    with path.open("rb") as handle:
        while data := handle.read(chunk):
            while data.endswith((b'"', b"\r")):  # keep "" and \r\n within one chunk
                more = handle.read(1)
                if not more:
                    break
                data += more
            position, end = 0, len(data)
            while position < end:
                quote = data.find(b'"', position)
                if in_quote:
                    if quote < 0:
                        break
                    if data[quote + 1 : quote + 2] == b'"':
                        position = quote + 2
                    else:
                        in_quote, position = False, quote + 1
                    continue
                stop = end if quote < 0 else quote
                record += _breaks(data, position, stop)
                if quote < 0:
                    break
                previous = data[quote - 1 : quote] if quote else before
                if previous in starts:
                    in_quote, opened = True, record
                position = quote + 1
            before = data[-1:]
    return opened if in_quote else None
