"""A suggested Table Schema for a file: read its first rows, infer types and data elements.

Shared by ``POST /api/data/infer`` and ``cityos data infer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from cityos.datahub import elements, infer, readers
from cityos.geo import service as geo_service

SAMPLE_ROWS = 10_000


def infer_file(
    db_session: Session,
    *,
    path: Path,
    filename: str,
    encoding: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    sheet: str | None = None,
    rows: int = SAMPLE_ROWS,
) -> dict[str, Any]:
    """``{"descriptor", "notes", "source", "rows_sampled"}`` for the first ``rows`` rows."""
    with readers.open_source(
        path,
        filename=filename,
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        sheet=sheet,
    ) as source:
        frame = next(iter(source.batches(rows)), None)
        info = source.info
    columns = list(info.columns)
    if frame is None:
        frame = pl.DataFrame(
            {name: [] for name in columns}, schema=dict.fromkeys(columns, pl.String)
        )
    sample = frame.drop(readers.ROW) if readers.ROW in frame.columns else frame
    suggestion = infer.infer_schema(
        sample,
        elements=elements.elements_by_code(db_session),
        area_codes=geo_service.area_codes(db_session),
    )
    return {
        "descriptor": suggestion.descriptor,
        "notes": suggestion.notes,
        "rows_sampled": sample.height,
        "source": {
            "filename": filename,
            "format": info.format,
            "encoding": info.encoding,
            "delimiter": info.delimiter,
            "header": info.header,
            "sheet": info.sheet,
            "columns": info.columns,
        },
    }
