"""Exporting cases as CSV or GeoJSON, streamed, without personal data.

Only the public fields of a case are read from the database — never ``contact_*``,
``device_id``, ``account_id``, ``submitted_ip``, ``token``, the API key or the assignee —
so no personal data can leak into an export by mistake. Rows are read in batches
(``yield_per``) and written out as they come: exporting a million cases needs little memory.

Free-text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``) get a leading apostrophe in CSV (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases.catalog import list_categories
from cityos.cases.models import Case
from cityos.cases.queries import CaseFilter, apply_filter
from cityos.db import utcnow
from cityos.errors import InvalidInput
from cityos.geo import service as geo_service

BATCH = 2000
FORMATS = ("csv", "geojson")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json"}
# The fields of an export, in order. Everything here is public; nothing else is read.
FIELDS = (
    "id",
    "service_code",
    "service_name",
    "status",
    "close_reason",
    "priority",
    "description",
    "status_notes",
    "resolution_note",
    "lat",
    "lon",
    "address",
    "zipcode",
    "area",
    "district",
    "subdistrict",
    "grid",
    "department",
    "requested_at",
    "updated_at",
    "acknowledged_at",
    "resolved_at",
    "acknowledge_due_at",
    "resolve_due_at",
    "duplicate_of",
    "reopen_count",
    "source",
    "source_ref",
)
PRIVATE_COLUMNS = frozenset(
    {"contact_name", "contact_email", "contact_phone", "device_id", "account_id"}
    | {"submitted_ip", "token", "api_key_id", "assignee_id"}
)
_C = Case.__table__.c
_COLUMNS = (
    _C.id,
    _C.category_id,
    _C.status,
    _C.close_reason,
    _C.priority,
    _C.description,
    _C.status_notes,
    _C.resolution_note,
    _C.lat,
    _C.lon,
    _C.address,
    _C.zipcode,
    _C.area_id,
    _C.district_id,
    _C.subdistrict_id,
    _C.grid_id,
    _C.department_id,
    _C.requested_at,
    _C.updated_at,
    _C.acknowledged_at,
    _C.resolved_at,
    _C.acknowledge_due_at,
    _C.resolve_due_at,
    _C.duplicate_of_id,
    _C.reopen_count,
    _C.source,
    _C.source_ref,
)
assert not PRIVATE_COLUMNS & {column.name for column in _COLUMNS}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_FIELDS = ("description", "status_notes", "resolution_note", "address", "source_ref")


def format_for(name: str | None, given: str | None = None) -> str:
    """The export format: ``given``, else from the file name's suffix (csv by default)."""
    if given:
        if given not in FORMATS:
            raise InvalidInput(f"Unknown export format {given!r}; use csv or geojson.")
        return given
    lowered = (name or "").lower()
    return "geojson" if lowered.endswith((".geojson", ".json")) else "csv"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def parse_moment(
    text: str | None, *, name: str, timezone: str, end: bool = False
) -> datetime | None:
    """An ISO 8601 date or date-time; without an offset it is the city's wall-clock time.
    A bare date as ``to`` means the end of that day."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name}={value!r} is not an ISO 8601 date or date-time such as 2026-01-31 or "
            "2026-01-31T18:00:00+08:00."
        ) from None
    if end and len(value) == 10:
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment


def check_filter(db_session: Session, selected: CaseFilter, *, now: datetime) -> None:
    """Raise InvalidInput (unknown service code, status, …) before anything is streamed."""
    apply_filter(db_session, select(_C.id), selected, now=now)


def records(
    db_session: Session, selected: CaseFilter, *, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Each matching case as a dict of :data:`FIELDS`, oldest first, read in batches."""
    now = now or utcnow()
    query: Select[Any] = apply_filter(db_session, select(*_COLUMNS), selected, now=now)
    codes = {
        c.id: (c.service_code, c.name_en)
        for c in list_categories(db_session, include_inactive=True)
    }
    departments = {d.id: d.code for d in auth_service.list_departments(db_session)}
    areas = {a.id: a.code for a in geo_service.list_areas(db_session)}
    result = db_session.execute(query.order_by(_C.id).execution_options(yield_per=BATCH))
    for row in result:
        service_code, service_name = codes.get(row.category_id, (None, None))
        yield {
            "id": row.id,
            "service_code": service_code,
            "service_name": service_name,
            "status": row.status,
            "close_reason": row.close_reason,
            "priority": row.priority,
            "description": row.description,
            "status_notes": row.status_notes,
            "resolution_note": row.resolution_note,
            "lat": row.lat,
            "lon": row.lon,
            "address": row.address,
            "zipcode": row.zipcode,
            "area": areas.get(row.area_id),
            "district": areas.get(row.district_id),
            "subdistrict": areas.get(row.subdistrict_id),
            "grid": areas.get(row.grid_id),
            "department": departments.get(row.department_id),
            "requested_at": _iso(row.requested_at),
            "updated_at": _iso(row.updated_at),
            "acknowledged_at": _iso(row.acknowledged_at),
            "resolved_at": _iso(row.resolved_at),
            "acknowledge_due_at": _iso(row.acknowledge_due_at),
            "resolve_due_at": _iso(row.resolve_due_at),
            "duplicate_of": row.duplicate_of_id,
            "reopen_count": row.reopen_count,
            "source": row.source,
            "source_ref": row.source_ref,
        }


def _cell(name: str, value: Any) -> Any:
    if name in TEXT_FIELDS and isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def iter_csv(
    db_session: Session, selected: CaseFilter, *, now: datetime | None = None
) -> Iterator[str]:
    """The export as CSV text, in chunks (header first, UTF-8 friendly, RFC 4180 quoting)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for count, item in enumerate(records(db_session, selected, now=now), start=1):
        writer.writerow([_cell(name, item[name]) for name in FIELDS])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def feature(item: dict[str, Any]) -> dict[str, Any]:
    properties = {name: item[name] for name in FIELDS if name not in ("lat", "lon")}
    return {
        "type": "Feature",
        "id": item["id"],
        "geometry": {"type": "Point", "coordinates": [item["lon"], item["lat"]]},
        "properties": properties,
    }


def iter_geojson(
    db_session: Session, selected: CaseFilter, *, now: datetime | None = None
) -> Iterator[str]:
    """The export as a GeoJSON FeatureCollection (RFC 7946: WGS84, lon/lat), in chunks."""
    yield '{"type":"FeatureCollection","features":['
    chunk: list[str] = []
    first = True
    for item in records(db_session, selected, now=now):
        text = json.dumps(feature(item), ensure_ascii=False, separators=(",", ":"))
        chunk.append(text if first else "," + text)
        first = False
        if len(chunk) >= 500:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk) + "]}\n"


WRITERS: dict[str, Callable[..., Iterator[str]]] = {"csv": iter_csv, "geojson": iter_geojson}


def stream(
    db_session: Session, selected: CaseFilter, *, fmt: str, now: datetime | None = None
) -> Iterator[str]:
    """The export in ``fmt`` (csv or geojson), in chunks of text."""
    return WRITERS[format_for(None, fmt)](db_session, selected, now=now)


def count(db_session: Session, selected: CaseFilter, *, now: datetime | None = None) -> int:
    """How many cases an export with ``selected`` holds."""
    query = apply_filter(db_session, select(func.count(_C.id)), selected, now=now or utcnow())
    return int(db_session.scalar(query) or 0)
