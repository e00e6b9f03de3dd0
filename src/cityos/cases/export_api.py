"""``GET /api/cases/export.csv`` and ``/api/cases/export.geojson``: public bulk downloads of
cases without personal data (:mod:`cityos.cases.exporter`).

The filters are checked first, in the request's session, so a bad filter gets a JSON error
(400) before any byte is sent. The rows are then streamed from a session of the response's
own, which lives as long as the download.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from cityos.cases import exporter
from cityos.cases.queries import CaseFilter
from cityos.db import utcnow
from cityos.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/api/cases", tags=["cases"])

ServiceCodes = Annotated[
    list[str] | None,
    Query(description="Only these services (repeat it, or separate codes with commas)."),
]
Statuses = Annotated[
    list[str] | None,
    Query(description="Only these statuses, e.g. submitted,in_progress (repeat or commas)."),
]
From = Annotated[
    str | None,
    Query(
        alias="from",
        description="Opened at or after this ISO 8601 date or date-time (city time without "
        "an offset), e.g. 2026-01-01.",
    ),
]
To = Annotated[
    str | None,
    Query(alias="to", description="Opened at or before this ISO 8601 date or date-time."),
]
AreaCode = Annotated[
    str | None, Query(description="Only cases inside this area (any level), e.g. MH-01.")
]


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items or None


def _selected(
    settings_timezone: str,
    service_code: list[str] | None,
    status: list[str] | None,
    start: str | None,
    stop: str | None,
    area: str | None,
) -> CaseFilter:
    return CaseFilter(
        service_codes=_split(service_code),
        statuses=_split(status),
        requested_from=exporter.parse_moment(start, name="from", timezone=settings_timezone),
        requested_to=exporter.parse_moment(stop, name="to", timezone=settings_timezone, end=True),
        area_code=(area or "").strip() or None,
    )


def _response(request: Request, db: Session, selected: CaseFilter, fmt: str) -> StreamingResponse:
    now = utcnow()
    exporter.check_filter(db, selected, now=now)
    factory = request.app.state.session_factory

    def body() -> Iterator[bytes]:
        with factory() as session:
            for chunk in exporter.stream(session, selected, fmt=fmt, now=now):
                yield chunk.encode("utf-8")

    stamp = now.strftime("%Y%m%d")
    return StreamingResponse(
        body(),
        media_type=exporter.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="cases-{stamp}.{fmt}"'},
    )


@router.get("/export.csv", summary="Cases as CSV, without personal data")
def export_csv(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    service_code: ServiceCodes = None,
    status: Statuses = None,
    start: From = None,
    stop: To = None,
    area: AreaCode = None,
) -> StreamingResponse:
    """Every matching case, oldest first, one row each; no names, e-mails, phones or device
    ids. Times are UTC (ISO 8601)."""
    selected = _selected(settings.timezone, service_code, status, start, stop, area)
    return _response(request, db, selected, "csv")


@router.get("/export.geojson", summary="Cases as GeoJSON, without personal data")
def export_geojson(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    service_code: ServiceCodes = None,
    status: Statuses = None,
    start: From = None,
    stop: To = None,
    area: AreaCode = None,
) -> StreamingResponse:
    """Every matching case as a Point feature (longitude, latitude), oldest first; no
    personal data. Times are UTC (ISO 8601)."""
    selected = _selected(settings.timezone, service_code, status, start, stop, area)
    return _response(request, db, selected, "geojson")
