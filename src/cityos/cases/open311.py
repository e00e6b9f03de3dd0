"""Open311 GeoReport v2: the wire format of the cases domain (no web framework here).

The builders turn categories and cases into the records of the specification (plain dicts,
fields in the specification's order); :func:`render` writes them as XML (ElementTree, no
namespace, the specification's element names) or JSON. ``open311_params.py`` reads what
clients send, ``open311_search.py`` reads the database for the records and
``open311_api.py`` is the thin web router.

Choices (documented for clients in ``docs/open311.md``):

- Codes and ids are strings; datetimes are ISO 8601 with the offset of the city's time zone.
- ``status`` is ``open`` or ``closed`` (resolved and closed cases); the detailed status is in
  ``extended_attributes`` with ``extensions=true``.
- ``notes=true`` or ``extensions=true`` add ``notes`` (the public history); ``extensions=true``
  also adds ``attributes`` (the answers given) and ``extended_attributes``.
- Personal data (names, e-mail, phone, device and account ids, addresses of the reporter's
  machine) is never written: the builders do not read those columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring
from zoneinfo import ZoneInfo

from cityos.cases import sla
from cityos.cases.catalog_cache import CategoryInfo
from cityos.cases.models import OPEN_STATUSES, Case, CaseUpdate, Category
from cityos.errors import CityOSError, InvalidInput, PayloadTooLarge, RateLimited
from cityos.geo import service as geo_service

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
BASE_PATH = "/open311/v2"
OPEN_VALUES = frozenset(status.value for status in OPEN_STATUSES)
# Characters XML 1.0 cannot carry (control characters other than tab, newline, return).
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Lists whose XML form is a container element of repeated items (<values><value>…).
XML_CONTAINERS = {
    "attributes": "attribute",
    "values": "value",
    "notes": "note",
    "endpoints": "endpoint",
    "formats": "format",
}
LIST_DATATYPES = frozenset({"singlevaluelist", "multivaluelist"})

Record = dict[str, Any]


class Format(StrEnum):
    XML = "xml"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return (
            "text/xml; charset=utf-8" if self is Format.XML else "application/json; charset=utf-8"
        )


def parse_format(value: str) -> Format:
    """The format named by a path's suffix; InvalidInput for anything but xml and json."""
    try:
        return Format(value.lower())
    except ValueError:
        raise InvalidInput(
            f"Unknown format {value!r}: Open311 calls end in .xml or .json "
            f"(for example {BASE_PATH}/services.json)."
        ) from None


@lru_cache(maxsize=8)
def city_zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def iso(moment: datetime | None, zone: tzinfo) -> str | None:
    """ISO 8601 with the offset of ``zone`` (seconds precision), or None."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


# --- serialisation -----------------------------------------------------------------------


def render(data: Any, fmt: Format, *, root: str, item: str | None = None) -> bytes:
    """``data`` as JSON, or as XML under ``<root>`` (a list becomes repeated ``<item>``)."""
    if fmt is Format.JSON:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    element = Element(root)
    if item is not None:
        for entry in data:
            _append(element, item, entry)
    else:
        for key, value in data.items():
            _append(element, key, value)
    written: bytes = tostring(element, encoding="utf-8", xml_declaration=True)
    return written


def _append(parent: Element, tag: str, value: Any) -> None:
    if isinstance(value, list):
        if tag in XML_CONTAINERS:
            container = SubElement(parent, tag)
            for entry in value:
                _append(container, XML_CONTAINERS[tag], entry)
        else:  # a multi-valued field: the element repeated
            for entry in value:
                _append(parent, tag, entry)
        return
    element = SubElement(parent, tag)
    if isinstance(value, dict):
        for key, entry in value.items():
            _append(element, key, entry)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, str):
        element.text = XML_INVALID.sub("", value)
    elif value is not None:
        element.text = str(value)


# --- errors ------------------------------------------------------------------------------


def error_status(error: CityOSError) -> int:
    """The HTTP status of an Open311 error: key problems are 403 as the specification says;
    404, 413 and 429 keep theirs; every other problem of the request is 400."""
    if error.status_code in (401, 403):
        return 403
    if isinstance(error, PayloadTooLarge | RateLimited) or error.status_code == 404:
        return error.status_code
    return 400


def error_records(error: CityOSError, status: int | None = None) -> list[Record]:
    """One ``{code, description}`` per problem (errors that list problems give each one)."""
    code = str(status or error_status(error))
    details = error.details
    if isinstance(details, list) and details and all(isinstance(d, dict) for d in details):
        messages = [str(d.get("message") or d) for d in details]
    else:
        messages = [error.message]
    return [{"code": code, "description": message} for message in messages]


def render_errors(errors: list[Record], fmt: Format) -> bytes:
    return render(errors, fmt, root="errors", item="error")


# --- discovery and services --------------------------------------------------------------


def discovery(*, base_url: str, changeset: datetime | None, zone: tzinfo) -> Record:
    base = base_url.rstrip("/")
    stamp = iso(changeset or datetime(2026, 1, 1, tzinfo=UTC), zone)
    return {
        "changeset": stamp,
        "contact": f"The city's digital office, {base}/ (Open311 guide: docs/open311.md).",
        "key_service": f"API keys are issued by the city's administrators ({base}/admin/api-keys).",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base}{BASE_PATH}",
                "changeset": stamp,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def service_record(category: Category) -> Record:
    return {
        "service_code": category.service_code,
        "service_name": category.name_en,
        "description": category.description_en,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ", ".join(category.keywords),
        "group": category.group.name_en,
    }


def service_definition(category: Category) -> Record:
    attributes: list[Record] = []
    for order, attribute in enumerate(category.attributes, start=1):
        record: Record = {
            "variable": attribute.variable,
            "code": attribute.code,
            "datatype": attribute.datatype,
            "required": attribute.required,
            "datatype_description": attribute.datatype_description or None,
            "order": attribute.position or order,
            "description": attribute.description_en,
        }
        if attribute.datatype in LIST_DATATYPES:
            record["values"] = [
                {"key": value["key"], "name": value.get("name_en") or value["key"]}
                for value in attribute.values
            ]
        attributes.append(record)
    return {"service_code": category.service_code, "attributes": attributes}


def service_notice(category: Category | CategoryInfo, priority: str) -> str | None:
    """What the city commits to: the resolve target of the category's SLA."""
    target = sla.targets(category, priority).resolve
    if target is None:
        return None
    hours = target.total_seconds() / 3600
    span = f"{hours / 24:g} days" if hours >= 48 and hours % 24 == 0 else f"{hours:g} hours"
    return f"The city aims to resolve {category.name_en} reports within {span}."


# --- request records ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseView:
    """The columns of a case that Open311 shows — personal data is not among them.

    Pages of results are read as these plain rows (one column query, no ORM objects);
    ``attributes`` is read only for ``extensions=true``.
    """

    id: int
    category_id: int
    status: str
    status_notes: str
    description: str
    priority: str
    department_id: int | None
    requested_at: datetime
    updated_at: datetime
    resolve_due_at: datetime | None
    address: str
    address_id: str | None
    zipcode: str | None
    lat: float
    lon: float
    area_id: int
    source: str
    close_reason: str | None
    duplicate_of_id: int | None
    reopen_count: int
    resolved_at: datetime | None
    resolution_note: str | None
    attributes: dict[str, Any]

    @classmethod
    def of(cls, case: Case) -> CaseView:
        return cls.from_values([getattr(case, name) for name in VIEW_COLUMNS], case.attributes)

    @classmethod
    def from_values(
        cls, values: Sequence[Any], attributes: Mapping[str, Any] | None = None
    ) -> CaseView:
        """From the values of ``VIEW_COLUMNS`` in order (a row of the page query)."""
        return cls(
            **dict(zip(VIEW_COLUMNS, values, strict=True)), attributes=dict(attributes or {})
        )


VIEW_COLUMNS: tuple[str, ...] = tuple(
    name for name in CaseView.__dataclass_fields__ if name != "attributes"
)


@dataclass(frozen=True, slots=True)
class RecordContext:
    """What the records of one page need besides the cases, loaded in a few queries."""

    zone: tzinfo
    categories: Mapping[int, Category]
    departments: Mapping[int, str]
    media: Mapping[int, str]
    notes: Mapping[int, Sequence[CaseUpdate]] | None = None
    areas: Mapping[int, Sequence[geo_service.AreaRef]] | None = None
    notices: dict[tuple[int, str], str | None] = field(default_factory=dict)

    def notice(self, category: Category, priority: str) -> str | None:
        key = (category.id, priority)
        if key not in self.notices:
            self.notices[key] = service_notice(category, priority)
        return self.notices[key]


def photo_url(base_url: str, case_id: int, photo_id: int) -> str:
    """Where the web intake serves a case's public photo."""
    return f"{base_url.rstrip('/')}/track/{case_id}/photos/{photo_id}"


NOTE_TEXT = {
    "submitted": "Request received.",
    "transfer": "Transferred to another department.",
    "duplicate": "Closed as a duplicate of another request.",
}


def note_record(update: CaseUpdate, zone: tzinfo) -> Record:
    text = update.note
    if not text:
        if update.kind in NOTE_TEXT:
            text = NOTE_TEXT[update.kind]
        elif update.status_to:
            text = f"Status changed to {update.status_to.replace('_', ' ')}."
    return {"datetime": iso(update.at, zone), "description": text, "type": update.kind}


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def attribute_answers(case: CaseView, category: Category) -> list[Record]:
    """The attribute values given with the case, in the category's order, as text."""
    given = case.attributes
    ordered = [a.code for a in category.attributes if a.code in given]
    ordered += [code for code in given if code not in ordered]
    answers: list[Record] = []
    for code in ordered:
        value = given[code]
        shown: str | list[str] = (
            [_attribute_text(v) for v in value]
            if isinstance(value, list)
            else _attribute_text(value)
        )
        answers.append({"code": code, "value": shown})
    return answers


def extended_attributes(
    case: CaseView, zone: tzinfo, areas: Sequence[geo_service.AreaRef]
) -> Record:
    levels = {area.level.value: area.code for area in areas}
    return {
        "detailed_status": case.status,
        "close_reason": case.close_reason,
        "duplicate_of": str(case.duplicate_of_id) if case.duplicate_of_id else None,
        "priority": case.priority,
        "channel": case.source,
        "reopen_count": case.reopen_count,
        "closed_datetime": iso(case.resolved_at, zone),
        "area_code": areas[0].code if areas else None,
        "district_code": levels.get("district"),
        "subdistrict_code": levels.get("subdistrict"),
        "grid_code": levels.get("grid"),
    }


def request_record(case: CaseView, context: RecordContext) -> Record:
    """One service request as the specification lists its fields; never personal data."""
    category = context.categories[case.category_id]
    zone = context.zone
    department = context.departments.get(case.department_id) if case.department_id else None
    record: Record = {
        "service_request_id": str(case.id),
        "status": "open" if case.status in OPEN_VALUES else "closed",
        "status_notes": case.status_notes or None,
        "service_name": category.name_en,
        "service_code": category.service_code,
        "description": case.description or None,
        "agency_responsible": department,
        "service_notice": context.notice(category, case.priority),
        "requested_datetime": iso(case.requested_at, zone),
        "updated_datetime": iso(case.updated_at, zone),
        "expected_datetime": iso(case.resolve_due_at, zone),
        "address": case.address or None,
        "address_id": case.address_id,
        "zipcode": case.zipcode,
        "lat": case.lat,
        "long": case.lon,
        "media_url": context.media.get(case.id),
    }
    if context.notes is not None:
        record["notes"] = [note_record(u, zone) for u in context.notes.get(case.id, ())]
    if context.areas is not None:
        record["attributes"] = attribute_answers(case, category)
        record["extended_attributes"] = extended_attributes(
            case, zone, context.areas.get(case.id, ())
        )
    return record


def created_record(case: Case, category: Category | CategoryInfo) -> Record:
    """The answer to POST requests: the id right away (and the token for later look-ups).

    ``account_id`` is always empty: the city keeps no accounts for client apps' users, and
    personal data is never echoed.
    """
    return {
        "service_request_id": str(case.id),
        "token": case.token,
        "service_notice": service_notice(category, case.priority),
        "account_id": None,
    }
