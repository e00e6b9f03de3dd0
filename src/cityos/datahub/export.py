"""Downloads of a dataset's rows: CSV, JSON, NDJSON, GeoJSON, Parquet and XLSX, streamed.

:func:`prepare` checks everything that can go wrong (format, fields, the XLSX row cap)
before a byte is sent, and gives the media type, file name, ETag and Last-Modified;
:func:`stream` then yields the file in chunks from polars frames of
:func:`cityos.datahub.query.frames` — no per-row Python for CSV, NDJSON and JSON. On
PostgreSQL a CSV without masked fields is written by the database itself and forwarded
(:mod:`cityos.datahub.csv_sql`); numbers are then PostgreSQL's text (``9`` for ``9.0``).

* CSV is UTF-8 (``bom=True`` adds a byte-order mark for Excel); a text cell starting with
  ``=`` ``+`` ``-`` ``@`` tab or carriage return gets a leading ``'`` so a spreadsheet shows
  it instead of running it (OWASP's advice against CSV injection). A geopoint is
  ``"lon,lat"`` (Table Schema's default geopoint format); date-times are ISO 8601 in UTC.
* JSON is one array of objects, NDJSON one object per line; a geopoint is ``[lon, lat]``.
* GeoJSON is a FeatureCollection of Point features on the first geopoint field (or
  ``bbox_field``), the other fields as properties — only for datasets with a geopoint.
* Parquet is written with pyarrow to a spooled temporary file, then streamed.
* XLSX is written with openpyxl's write-only mode; text cells stay text (openpyxl would turn
  ``=…`` into a formula); at most 1,048,575 rows (Excel's limit less the header).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from typing import IO, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from cityos.datahub import csv_sql
from cityos.datahub import query as rows
from cityos.datahub.access import ReadAccess
from cityos.datahub.filters import JSON_TYPES
from cityos.datahub.frames import frames as frames_of
from cityos.datahub.models import Dataset
from cityos.datahub.tableschema import TableSchema
from cityos.datahub.vocab import MEDIA_TYPES, table_formats
from cityos.errors import InvalidInput, NotFound

FORMATS = ("csv", "json", "ndjson", "geojson", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_575
BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20
SPOOL = 64 << 20
FORMULA = r"^([=+\-@\t\r])"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ISO_DATETIME = "%Y-%m-%dT%H:%M:%S%.fZ"


@dataclass(frozen=True, slots=True)
class Download:
    fmt: str
    media_type: str
    filename: str
    etag: str
    last_modified: str | None


def formats(schema: TableSchema | None) -> list[str]:
    """The download formats of a dataset (GeoJSON only with a geopoint field)."""
    return [fmt.lower() for fmt in table_formats(schema)]


def media_type(fmt: str) -> str:
    kind = MEDIA_TYPES[fmt.upper()]
    return f"{kind}; charset=utf-8" if fmt == "csv" else kind


def check_format(schema: TableSchema, fmt: str) -> None:
    available = formats(schema)
    if fmt in available:
        return
    listed = ", ".join(available)
    if fmt == "geojson":
        raise InvalidInput(
            f"GeoJSON needs a geopoint field, and this dataset has none. Formats: {listed}."
        )
    raise NotFound(f"There is no download format {fmt!r}; use one of {listed}.")


def geometry_field(schema: TableSchema, query: rows.RowQuery, access: ReadAccess) -> str:
    """The geopoint field a GeoJSON download puts in ``geometry``."""
    name = query.bbox.field if query.bbox is not None else schema.geopoints[0].name
    if name in access.hidden or name in access.masked:
        raise InvalidInput(
            f"GeoJSON needs the geopoint field {name!r}, which is not shown to you; "
            "download csv or json instead."
        )
    if query.fields is not None and name not in query.fields:
        raise InvalidInput(f"GeoJSON needs the geopoint field {name!r}: add it to fields.")
    return name


# --- ETag and Last-Modified ----------------------------------------------------------------


def etag_for(
    dataset: Dataset,
    *,
    version: int,
    fmt: str,
    query_string: str,
    access: ReadAccess,
) -> str:
    """A strong ETag: the data's version and the question (and what the reader may see)."""
    stamp = dataset.data_updated_at.isoformat() if dataset.data_updated_at else ""
    parts = [
        dataset.id,
        version,
        stamp,
        dataset.row_count,
        fmt,
        query_string,
        sorted(access.masked),
        sorted(access.hidden),
    ]
    digest = hashlib.sha256(json.dumps(parts, default=str).encode("utf-8")).hexdigest()
    return f'"{digest[:32]}"'


def last_modified(dataset: Dataset) -> str | None:
    moment = dataset.data_updated_at or dataset.updated_at
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return format_datetime(aware, usegmt=True)


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, ``*`` too)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip().removeprefix("W/")
        if tag in ("*", etag):
            return True
    return False


# --- preparing and streaming ---------------------------------------------------------------


def prepare(
    db_session: Session,
    *,
    dataset: Dataset,
    schema: TableSchema,
    version: int,
    query: rows.RowQuery,
    access: ReadAccess,
    fmt: str,
    query_string: str = "",
    xlsx_max_rows: int = XLSX_MAX_ROWS,
) -> Download:
    """Check the download (InvalidInput / Forbidden / NotFound before anything is sent)."""
    check_format(schema, fmt)
    rows.check_access(dataset, query, access)
    if fmt == "geojson":
        geometry_field(schema, query, access)
    if fmt == "xlsx":
        table = rows.table_of(dataset, schema, version)
        count = rows.count_rows(db_session, table=table, schema=schema, query=query, access=access)
        count = max(count - query.offset, 0)
        if query.limit is not None:
            count = min(count, query.limit)
        if count > xlsx_max_rows:
            raise InvalidInput(
                f"XLSX holds at most {xlsx_max_rows:,} rows and this selection has {count:,}. "
                "Filter it (or add limit=…), or download csv or parquet.",
                details={"rows": count, "max_rows": xlsx_max_rows},
            )
    return Download(
        fmt=fmt,
        media_type=media_type(fmt),
        filename=f"{dataset.name}.{fmt}",
        etag=etag_for(dataset, version=version, fmt=fmt, query_string=query_string, access=access),
        last_modified=last_modified(dataset),
    )


def stream(
    connect: Callable[[], AbstractContextManager[Connection]],
    *,
    dataset: Dataset,
    schema: TableSchema,
    version: int,
    query: rows.RowQuery,
    access: ReadAccess,
    fmt: str,
    bom: bool = False,
    batch_size: int = rows.BATCH_SIZE,
) -> Iterator[bytes]:
    """The file's bytes in chunks, read on a connection of its own from ``connect()``.

    Everything is checked (and the dataset's attributes read) now; the rows are read as the
    chunks are consumed, so a web response can stream after its request's session closed.
    """
    check_format(schema, fmt)
    rows.check_access(dataset, query, access)
    table = rows.table_of(dataset, schema, version)
    geometry = geometry_field(schema, query, access) if fmt == "geojson" else ""
    out = rows.output_fields(schema, query, access)
    decode = [f.name for f in out if f.type in JSON_TYPES and f.name not in access.masked]
    sheet = dataset.name

    def body() -> Iterator[bytes]:
        with connect() as connection:
            if fmt == "csv" and csv_sql.usable(out, access, connection.dialect.name):
                chunks = csv_sql.chunks(
                    connection,
                    table=table,
                    schema=schema,
                    query=query,
                    access=access,
                    out=out,
                    bom=bom,
                )
                try:
                    yield from chunks
                finally:
                    chunks.close()
                return
            frames = frames_of(
                connection,
                table=table,
                schema=schema,
                query=query,
                access=access,
                batch_size=batch_size,
            )
            try:
                yield from _write(
                    fmt, frames, bom=bom, decode=decode, geometry=geometry, sheet=sheet
                )
            finally:
                frames.close()  # the database cursor, also when the client went away

    return body()


def _write(
    fmt: str,
    frames: Iterator[pl.DataFrame],
    *,
    bom: bool,
    decode: list[str],
    geometry: str,
    sheet: str,
) -> Iterator[bytes]:
    if fmt == "csv":
        return csv_chunks(frames, bom=bom)
    if fmt == "json":
        return json_chunks(frames, decode=decode)
    if fmt == "ndjson":
        return ndjson_chunks(frames, decode=decode)
    if fmt == "geojson":
        return geojson_chunks(frames, geometry=geometry, decode=decode)
    if fmt == "parquet":
        return parquet_chunks(frames)
    return xlsx_chunks(frames, sheet=sheet)


# --- CSV -----------------------------------------------------------------------------------


def _is_point(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Struct)


def _point_text(name: str) -> pl.Expr:
    column = pl.col(name)
    text = pl.concat_str(
        column.struct.field("lon").cast(pl.String),
        pl.lit(","),
        column.struct.field("lat").cast(pl.String),
    )
    return pl.when(column.is_null()).then(pl.lit(None, dtype=pl.String)).otherwise(text).alias(name)


def neutralise(expr: pl.Expr) -> pl.Expr:
    """Text that a spreadsheet would run as a formula, with a leading apostrophe."""
    risky = pl.any_horizontal([expr.str.starts_with(start) for start in FORMULA_START])
    return pl.when(risky).then(pl.lit("'") + expr).otherwise(expr)


def csv_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as CSV cells: points ``lon,lat``, formulas neutralised (date-times are
    written as ISO with Z by :func:`csv_chunks`)."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if _is_point(dtype):
            exprs.append(_point_text(name))  # digits only: nothing a spreadsheet would run
        elif dtype == pl.String:
            exprs.append(neutralise(column).alias(name))
        else:
            exprs.append(column)
    out = frame.select(exprs)
    headers = [re.sub(FORMULA, r"'\1", name) for name in out.columns]
    return (
        out.rename(dict(zip(out.columns, headers, strict=True))) if headers != out.columns else out
    )


def csv_chunks(frames: Iterator[pl.DataFrame], *, bom: bool = False) -> Iterator[bytes]:
    first = True
    for frame in frames:
        text = csv_frame(frame).write_csv(include_header=first, datetime_format=ISO_DATETIME)
        data = text.encode("utf-8")
        if first and bom:
            data = BOM + data
        first = False
        if data:
            yield data


# --- JSON, NDJSON, GeoJSON -----------------------------------------------------------------


def json_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as JSON values: points ``[lon, lat]``, dates and date-times ISO."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if _is_point(dtype):
            point = pl.concat_list([column.struct.field("lon"), column.struct.field("lat")])
            exprs.append(pl.when(column.is_null()).then(None).otherwise(point).alias(name))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(column.dt.to_string(ISO_DATETIME))
        elif dtype == pl.Date:
            exprs.append(column.dt.to_string("%Y-%m-%d"))
        else:
            exprs.append(column)
    return frame.select(exprs)


def _decoded(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def json_lines(frame: pl.DataFrame, *, decode: list[str]) -> list[str]:
    """One JSON object per row (JSON-valued fields embedded, not as text)."""
    if frame.width == 0:
        return ["{}"] * frame.height
    ready = json_frame(frame)
    embedded = [name for name in decode if name in ready.columns]
    if not embedded:
        return ready.write_ndjson().splitlines()
    out: list[str] = []
    for record in ready.iter_rows(named=True):
        for name in embedded:
            record[name] = _decoded(record[name])
        out.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return out


def ndjson_chunks(frames: Iterator[pl.DataFrame], *, decode: list[str]) -> Iterator[bytes]:
    for frame in frames:
        lines = json_lines(frame, decode=decode)
        if lines:
            yield ("\n".join(lines) + "\n").encode("utf-8")


def json_chunks(frames: Iterator[pl.DataFrame], *, decode: list[str]) -> Iterator[bytes]:
    yield b"["
    first = True
    for frame in frames:
        lines = json_lines(frame, decode=decode)
        if not lines:
            continue
        yield (("\n" if first else ",\n") + ",\n".join(lines)).encode("utf-8")
        first = False
    yield b"\n]\n"


def geojson_chunks(
    frames: Iterator[pl.DataFrame], *, geometry: str, decode: list[str]
) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    first = True
    for frame in frames:
        if frame.height == 0:
            continue
        point = pl.col(geometry)
        shapes = frame.select(
            pl.when(point.is_null())
            .then(pl.lit("null"))
            .otherwise(
                pl.concat_str(
                    pl.lit('{"type":"Point","coordinates":['),
                    point.struct.field("lon").cast(pl.String),
                    pl.lit(","),
                    point.struct.field("lat").cast(pl.String),
                    pl.lit("]}"),
                )
            )
        ).to_series()
        properties = json_lines(frame.drop(geometry), decode=decode)
        features = [
            f'{{"type":"Feature","geometry":{shape},"properties":{props}}}'
            for shape, props in zip(shapes, properties, strict=True)
        ]
        yield (("\n" if first else ",\n") + ",\n".join(features)).encode("utf-8")
        first = False
    yield b"\n]}\n"


# --- Parquet and XLSX ----------------------------------------------------------------------


def _spooled() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL)


def _drain(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


def parquet_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Points as ``lon,lat`` text (as in CSV); everything else keeps its type."""
    points = [name for name, dtype in frame.schema.items() if _is_point(dtype)]
    return frame.with_columns(_point_text(name) for name in points) if points else frame


def parquet_chunks(frames: Iterator[pl.DataFrame]) -> Iterator[bytes]:
    handle = _spooled()
    writer: pq.ParquetWriter | None = None
    try:
        for frame in frames:
            table = parquet_frame(frame).to_arrow()
            if writer is None:
                schema = pa.schema(
                    [pa.field(f.name, pa.string()) if _text(f.type) else f for f in table.schema]
                )
                writer = pq.ParquetWriter(handle, schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    yield from _drain(handle)


def _text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_large_string(kind) or pa.types.is_string_view(kind) or pa.types.is_string(kind)
    )


def _sheet_title(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "data"


def xlsx_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Points ``lon,lat`` and date-times ISO text (Excel has no time zones)."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if _is_point(dtype):
            exprs.append(_point_text(name))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(name).dt.to_string(ISO_DATETIME))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def xlsx_chunks(frames: Iterator[pl.DataFrame], *, sheet: str) -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    worksheet = book.create_sheet(title=_sheet_title(sheet))

    def text_cell(value: str) -> Any:
        clean = ILLEGAL_CHARACTERS_RE.sub("", value)
        if not clean.startswith("="):
            return clean
        cell = WriteOnlyCell(worksheet, value=clean)
        cell.data_type = "s"  # text, not a formula
        return cell

    header = True
    for frame in frames:
        ready = xlsx_frame(frame)
        if header:
            worksheet.append([text_cell(name) for name in ready.columns])
            header = False
        texts = [i for i, dtype in enumerate(ready.dtypes) if dtype == pl.String]
        for row in ready.iter_rows():
            if texts:
                cells = list(row)
                for i in texts:
                    if cells[i] is not None:
                        cells[i] = text_cell(cells[i])
                worksheet.append(cells)
            else:
                worksheet.append(row)
    handle = _spooled()
    book.save(handle)
    yield from _drain(handle)


__all__ = [
    "FORMATS",
    "XLSX_MAX_ROWS",
    "Download",
    "check_format",
    "etag_for",
    "formats",
    "last_modified",
    "media_type",
    "not_modified",
    "prepare",
    "stream",
]
