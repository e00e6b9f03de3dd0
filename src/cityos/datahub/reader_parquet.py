"""Parquet, streamed with ``pyarrow.parquet.ParquetFile.iter_batches``.

Every column becomes text: numbers as polars writes them (``3.0`` → ``3``), dates and
datetimes ISO 8601, booleans ``true`` / ``false``, lists and structs JSON text. Nulls stay
null. ``__row`` counts records from 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cityos.datahub.reader_base import ROW, ReaderLimits, Source, SourceInfo, check_header
from cityos.datahub.sniff import ACCEPTED, magic_kind, read_head
from cityos.errors import InvalidInput

_INTEGRAL = r"^(-?\d+)\.0$"


def _json_default(value: object) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _python_text(series: pl.Series) -> pl.Series:
    values: list[str | None] = []
    for value in series.to_list():
        if value is None:
            values.append(None)
        elif isinstance(value, bytes):
            values.append(value.hex())
        elif isinstance(value, list | dict):
            values.append(
                json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
            )
        else:
            values.append(str(value))
    return pl.Series(series.name, values, dtype=pl.String)


def as_text(series: pl.Series) -> pl.Series:
    """One column as cell text (see the module docstring)."""
    dtype = series.dtype
    if dtype == pl.String:
        return series
    if dtype.is_float():
        return series.cast(pl.String).str.replace(_INTEGRAL, "${1}")
    if isinstance(dtype, pl.Datetime):
        pattern = "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
        return series.dt.to_string(pattern)
    if dtype.is_numeric() or dtype in (pl.Boolean, pl.Date, pl.Time, pl.Null):
        return series.cast(pl.String)
    if isinstance(dtype, pl.Categorical | pl.Enum | pl.Decimal):
        return series.cast(pl.String)
    if isinstance(dtype, pl.Struct):
        return series.struct.json_encode()
    return _python_text(series)


def open_parquet(path: Path, *, limits: ReaderLimits, stack: ExitStack) -> Source:
    head = read_head(path, 4)
    if head != b"PAR1":
        kind = magic_kind(head) or "text or another kind of file"
        raise InvalidInput(
            f"This file is not a Parquet file: it looks like {kind}. {ACCEPTED}",
            details={"looks_like": kind},
        )
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise InvalidInput(
            f"This Parquet file is damaged and cannot be read ({error}): write it again."
        ) from None
    stack.callback(parquet.close)
    columns = check_header([str(name) for name in parquet.schema_arrow.names], limits=limits)
    if parquet.metadata.num_rows == 0:
        raise InvalidInput("The file has no rows: upload a Parquet file with data.")
    info = SourceInfo(format="parquet", encoding=None, delimiter=None, header=True, columns=columns)
    return ParquetSource(parquet=parquet, info=info, limits=limits, stack=stack)


class ParquetSource(Source):
    def __init__(
        self, *, parquet: pq.ParquetFile, info: SourceInfo, limits: ReaderLimits, stack: ExitStack
    ) -> None:
        super().__init__(info=info, limits=limits, stack=stack)
        self._parquet = parquet

    def _frames(self, size: int) -> Iterator[pl.DataFrame]:
        start = 1
        try:
            for batch in self._parquet.iter_batches(batch_size=size):
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                texts = [
                    as_text(frame.to_series(index)).alias(name)
                    for index, name in enumerate(self.info.columns)
                ]
                rows = pl.Series(ROW, range(start, start + frame.height), dtype=pl.Int64)
                start += frame.height
                yield pl.DataFrame([*texts, rows])
        except (pa.ArrowException, OSError) as error:
            raise InvalidInput(
                f"This Parquet file is damaged after row {start - 1} ({error}): write it again."
            ) from None
