"""``GET /api/data/{name}/rows`` (pages of rows) and ``/api/data/{name}/download.{fmt}``.

Both take the query parameters of :mod:`cityos.datahub.query` (filters, ``q``, ``fields``,
``sort``, ``bbox`` …). Everything is checked in the request's session — a bad parameter or
a refused field gets its JSON error before any byte is sent — and a download is then
streamed on a connection of its own. Both answer with an ETag and honour
``If-None-Match`` (304), and count an API call or a download of the dataset.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import access, export, service
from cityos.datahub import query as rows
from cityos.datahub.filters import parse_flag
from cityos.datahub.models import Access, Dataset
from cityos.datahub.tableschema import TableSchema
from cityos.deps import OptionalUser, SessionDep
from cityos.errors import Conflict

router = APIRouter(prefix="/api/data", tags=["data hub"])

PAGE_ONLY = ("cursor", "offset")
DOWNLOAD_ONLY = ("bom",)
XLSX_CAP_STATE = "datahub_xlsx_max_rows"  # app.state override of the XLSX row cap (tests)

# Documented for OpenAPI only: every parameter is read (and checked) by query.parse_row_query.
QText = Annotated[str | None, Query(description="Text to find in any text field (any case).")]
Fields = Annotated[str | None, Query(description="Only these fields, e.g. fields=name,district.")]
Sort = Annotated[str | None, Query(description="Sort fields, '-' descending: sort=-date,name.")]
Limit = Annotated[str | None, Query(description="Rows per page, 1..1000 (default 100).")]
MaxRows = Annotated[str | None, Query(description="At most this many rows.")]
CursorParam = Annotated[str | None, Query(description="The cursor of the previous page's next.")]
Box = Annotated[
    str | None, Query(description="minlon,minlat,maxlon,maxlat on the (first) geopoint field.")
]
Total = Annotated[str | None, Query(description="true: also count every matching row.")]
Bom = Annotated[str | None, Query(description="csv: true adds a byte-order mark for Excel.")]


def _readable(
    db: Session, name: str, user: User | None
) -> tuple[Dataset, TableSchema, int, access.ReadAccess]:
    dataset = service.get_dataset(db, name=name)
    schema = service.current_schema(db, dataset=dataset)
    read = access.require_read(db, dataset=dataset, schema=schema, user=user)
    if schema is None or dataset.schema_version is None:
        raise Conflict(
            f"{name} has no schema yet, so it has no rows. A steward of its department sets "
            f"one with PUT /api/data/{name}/schema, then loads a file."
        )
    return dataset, schema, dataset.schema_version, read


def _cache_headers(dataset: Dataset, etag: str, modified: str | None) -> dict[str, str]:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if dataset.access != Access.OPEN.value:
        headers["Cache-Control"] = "private, no-cache"
    if modified:
        headers["Last-Modified"] = modified
    return headers


def _canonical(params: list[tuple[str, str]]) -> str:
    return urlencode(sorted(params))


@router.get(
    "/{name}/rows",
    summary="Rows of a dataset: filters, full text, bbox, sort, keyset paging",
)
def list_rows(
    name: str,
    request: Request,
    db: SessionDep,
    user: OptionalUser,
    q: QText = None,
    fields: Fields = None,
    sort: Sort = None,
    limit: Limit = None,
    cursor: CursorParam = None,
    bbox: Box = None,
    total: Total = None,
) -> Response:
    """Filters are ``field=value`` or ``field__op=value`` with op one of eq, ne, lt, le, gt,
    ge, in (comma list), contains, isnull (true/false); several must all hold. Field names and
    values are checked against the dataset's schema. Sensitive fields are masked or left out
    unless your department has a grant; ``next`` is the URL of the following page."""
    dataset, schema, version, read = _readable(db, name, user)
    params = list(request.query_params.multi_items())
    query = rows.parse_row_query(schema, params)
    rows.check_access(dataset, query, read)
    service.record_usage(db, dataset=dataset, api_calls=1)
    etag = export.etag_for(
        dataset, version=version, fmt="rows", query_string=_canonical(params), access=read
    )
    headers = _cache_headers(dataset, etag, export.last_modified(dataset))
    if export.not_modified(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    page = rows.fetch_rows(
        db, dataset=dataset, schema=schema, version=version, query=query, access=read
    )
    next_url = None
    if page.next_cursor is not None:
        kept = [(key, value) for key, value in params if key not in PAGE_ONLY]
        next_url = f"{request.url.path}?{urlencode([*kept, ('cursor', page.next_cursor)])}"
    body: dict[str, Any] = {
        "dataset": dataset.name,
        "fields": page.fields,
        "rows": page.rows,
        "next": next_url,
    }
    if page.total is not None:
        body["total"] = page.total
    return JSONResponse(body, headers=headers)


@router.get(
    "/{name}/download.{fmt}",
    summary="Download a dataset (or a filtered view): csv, json, ndjson, geojson, parquet, xlsx",
    response_class=StreamingResponse,
)
def download(
    name: str,
    fmt: str,
    request: Request,
    db: SessionDep,
    user: OptionalUser,
    bom: Bom = None,
    q: QText = None,
    fields: Fields = None,
    sort: Sort = None,
    limit: MaxRows = None,
    bbox: Box = None,
) -> Response:
    """The same filters as ``/rows``, without paging: every matching row, streamed. CSV
    cells that a spreadsheet would run as formulas get a leading apostrophe; GeoJSON needs
    a geopoint field; XLSX holds at most 1,048,575 rows."""
    dataset, schema, version, read = _readable(db, name, user)
    fmt = fmt.lower()
    export.check_format(schema, fmt)
    params = list(request.query_params.multi_items())
    with_bom = parse_flag(bom, param="bom") if bom is not None else False
    wanted = [(key, value) for key, value in params if key not in DOWNLOAD_ONLY]
    query = rows.parse_row_query(schema, wanted, max_limit=None, default_limit=None)
    cap = getattr(request.app.state, XLSX_CAP_STATE, export.XLSX_MAX_ROWS)
    prepared = export.prepare(
        db,
        dataset=dataset,
        schema=schema,
        version=version,
        query=query,
        access=read,
        fmt=fmt,
        query_string=_canonical(params),
        xlsx_max_rows=cap,
    )
    headers = _cache_headers(dataset, prepared.etag, prepared.last_modified)
    if export.not_modified(request.headers.get("if-none-match"), prepared.etag):
        return Response(status_code=304, headers=headers)
    service.record_usage(db, dataset=dataset, downloads=1)
    engine = request.app.state.engine
    body = export.stream(
        engine.connect,
        dataset=dataset,
        schema=schema,
        version=version,
        query=query,
        access=read,
        fmt=fmt,
        bom=with_bom,
    )
    headers["Content-Disposition"] = f'attachment; filename="{prepared.filename}"'
    return StreamingResponse(body, media_type=prepared.media_type, headers=headers)
