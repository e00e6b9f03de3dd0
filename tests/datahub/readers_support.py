"""File builders and helpers for the reader tests."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl

from cityos.datahub.readers import ReaderLimits, Source, open_source


def write(path: Path, content: str | bytes, *, encoding: str = "utf-8") -> Path:
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def read_all(path: Path, *, size: int = 100_000, **options: Any) -> tuple[Source, pl.DataFrame]:
    """Open ``path`` (named by its own file name) and read every batch."""
    options.setdefault("filename", path.name)
    limits = options.pop("limits", ReaderLimits())
    with open_source(path, limits=limits, **options) as source:
        frames = list(source.batches(size))
    frame = pl.concat(frames) if frames else pl.DataFrame()
    return source, frame


def rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.rows()


def xlsx_file(
    path: Path, sheet_rows: Sequence[Sequence[Any]], *, title: str = "Data", more: int = 0
) -> Path:
    """A workbook whose first sheet holds ``sheet_rows``; ``more`` extra sheets follow."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in sheet_rows:
        sheet.append(list(row))
    for index in range(more):
        other = workbook.create_sheet(f"Other{index + 1}")
        other.append(["other", "sheet"])
        other.append([index, index])
    workbook.save(path)
    return path


def set_cached_values(path: Path, values: dict[str, str]) -> None:
    """Give formula cells (by reference, e.g. ``C2``) a saved value, as Excel would."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    xml = members["xl/worksheets/sheet1.xml"].decode()
    for ref, value in values.items():
        xml, count = re.subn(rf'(<c r="{ref}"[^>]*><f>[^<]*</f>)<v\s*/>', rf"\1<v>{value}</v>", xml)
        assert count == 1, ref
    members["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def zip_bomb(path: Path, *, unpacked: int, workbook: bool = True) -> Path:
    """A ZIP shaped like an XLSX whose sheet is ``unpacked`` bytes of zeros (streamed)."""
    block = b"0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        if workbook:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            left = unpacked
            while left > 0:
                member.write(block[: min(left, len(block))])
                left -= len(block)
    return path
