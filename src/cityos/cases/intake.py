"""Opening cases: one function for every channel (web form, Open311, staff, sensors, systems).

``open_case`` validates everything first (service, location, text, attributes, photos, rate
limit), then routes and writes the case, its first history entry, its photos and its
reporter as a follower — in the caller's transaction, so nothing is half-written.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.cases import catalog_cache, notices, notifications, photos, sla
from cityos.cases.catalog import get_category, unknown_service
from cityos.cases.catalog_cache import AttributeInfo, CategoryInfo
from cityos.cases.models import (
    AttributeType,
    Case,
    CaseFollower,
    CaseSource,
    CaseStatus,
    CaseUpdate,
    Category,
    CategoryAttribute,
    PhotoKind,
    Priority,
)
from cityos.cases.routing import route
from cityos.config import Settings
from cityos.db import utcnow
from cityos.errors import InvalidInput, PayloadTooLarge, RateLimited
from cityos.geo import service as geo_service
from cityos.geo.models import Area, AreaLevel

MAX_DESCRIPTION = 4000
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
Problem = dict[str, str]


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """Limits and links from the settings, passed in so the service reads no global state."""

    rate_limit: int = 10
    rate_window: timedelta = timedelta(minutes=10)
    max_photo_bytes: int = 8_000_000
    max_photos: int = 5
    sla_imminent_fraction: float = 0.8
    reopen_window: timedelta = timedelta(days=14)
    base_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_settings(cls, settings: Settings) -> CasePolicy:
        return cls(
            rate_limit=settings.intake_rate_limit,
            rate_window=timedelta(minutes=settings.intake_rate_window_minutes),
            max_photo_bytes=int(settings.max_photo_mb * 1_000_000),
            max_photos=settings.max_photos,
            sla_imminent_fraction=settings.sla_imminent_fraction,
            reopen_window=timedelta(days=settings.reopen_window_days),
            base_url=settings.base_url,
        )


@dataclass(slots=True)
class CaseInput:
    """What a reporter sends. Location: ``lon``+``lat``, or an address the city can find."""

    service_code: str | None
    lon: float | None = None
    lat: float | None = None
    address: str = ""
    address_id: str | None = None
    zipcode: str | None = None
    description: str = ""
    # code → one value, or a list of values for multivaluelist attributes (strings as sent)
    attributes: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    priority: str | None = None  # staff and systems only; citizens get the category's
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    photos: Sequence[photos.PhotoUpload] = ()
    media_url: str | None = None
    source: CaseSource = CaseSource.WEB
    source_ref: str | None = None
    api_key_id: int | None = None
    requested_at: datetime | None = None  # systems reporting an earlier event
    follow: bool = True  # the reporter's e-mail follows the case
    # False: required attributes may go unanswered (staff dispatching from a screen put the
    # detail in the description); attributes that are sent are still checked
    require_attributes: bool = True


def clean_text(value: str | None, *, limit: int, name: str, problems: list[Problem]) -> str:
    """Text kept as text (never interpreted as HTML); control characters dropped."""
    text = CONTROL_CHARACTERS.sub("", value or "").strip()
    if len(text) > limit:
        problems.append(
            {
                "field": name,
                "message": f"{name} is {len(text):,} characters long; at most {limit:,} are "
                "accepted. Shorten it.",
            }
        )
    return text


def parse_attributes(
    category: Category | CategoryInfo,
    raw: Mapping[str, str | Sequence[str]],
    problems: list[Problem],
    *,
    enforce_required: bool = True,
) -> dict[str, Any]:
    """Check each attribute against its Open311 definition; returns the typed values.

    ``enforce_required=False`` lets required questions go unanswered (a sensor alert has no
    one to answer them; its readings are in the description)."""
    definitions = {attribute.code: attribute for attribute in category.attributes}
    values: dict[str, Any] = {}
    for code in raw:
        if code not in definitions:
            known = ", ".join(definitions) or "none"
            problems.append(
                {
                    "field": f"attribute[{code}]",
                    "message": f"{category.service_code} has no attribute {code!r} "
                    f"(its attributes: {known}).",
                }
            )
    for code, definition in definitions.items():
        given = raw.get(code)
        items = [given] if isinstance(given, str) else list(given or [])
        items = [item.strip() for item in items if item is not None and item.strip()]
        if not items:
            if definition.required and enforce_required:
                problems.append(
                    {
                        "field": f"attribute[{code}]",
                        "message": f"attribute {code} ({definition.description_en}) is "
                        "required for this service.",
                    }
                )
            continue
        parsed = _parse_attribute(definition, items, problems)
        if parsed is not None:
            values[code] = parsed
    return values


def _parse_attribute(
    definition: CategoryAttribute | AttributeInfo, items: list[str], problems: list[Problem]
) -> Any:
    code, kind = definition.code, AttributeType(definition.datatype)
    where = f"attribute[{code}]"
    if kind is not AttributeType.MULTIVALUELIST and len(items) > 1:
        problems.append({"field": where, "message": f"attribute {code} takes one value."})
        return None
    if kind in (AttributeType.SINGLEVALUELIST, AttributeType.MULTIVALUELIST):
        keys = [value["key"] for value in definition.values]
        wrong = [item for item in items if item not in keys]
        if wrong:
            problems.append(
                {
                    "field": where,
                    "message": f"{', '.join(map(repr, wrong))} is not a value of attribute "
                    f"{code}; choose from {', '.join(keys)}.",
                }
            )
            return None
        return items if kind is AttributeType.MULTIVALUELIST else items[0]
    value = items[0]
    if kind is AttributeType.NUMBER:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            problems.append(
                {"field": where, "message": f"attribute {code} must be a number, not {value!r}."}
            )
            return None
        return int(number) if number.is_integer() and "." not in value else number
    if kind is AttributeType.DATETIME:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            problems.append(
                {
                    "field": where,
                    "message": f"attribute {code} must be an ISO 8601 date-time such as "
                    f"2026-11-21T09:30:00+08:00, not {value!r}.",
                }
            )
            return None
        return moment.isoformat()
    limit = 4000 if kind is AttributeType.TEXT else 500
    return clean_text(value, limit=limit, name=where, problems=problems)


def _parse_coordinate(value: Any, name: str, problems: list[Problem]) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        problems.append({"field": name, "message": f"{name} must be a number, not {value!r}."})
        return None
    return number


def find_address(db_session: Session, text: str) -> Area | None:
    """The finest area of the city named in an address (e.g. a sub-district's name).

    The city has no street gazetteer yet, so an address locates the report at the centre of
    the smallest area it names; reporters are asked for a map point when none is named.
    """
    wanted = text.strip().lower()
    if not wanted:
        return None
    best: tuple[int, int, Area] | None = None
    for area in geo_service.list_areas(db_session):
        level = AreaLevel(area.level)
        for name in (area.code, area.name_zh, area.name_en):
            if name and len(name) >= 2 and name.lower() in wanted:
                candidate = (level.rank, len(name), area)
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
    return best[2] if best else None


def _check_rate(db_session: Session, ip: str, policy: CasePolicy, now: datetime) -> None:
    since = now - policy.rate_window
    recent = db_session.scalar(
        select(func.count(Case.id)).where(Case.submitted_ip == ip, Case.requested_at >= since)
    )
    if (recent or 0) >= policy.rate_limit:
        minutes = policy.rate_window.total_seconds() / 60
        raise RateLimited(
            f"Too many reports from your address: at most {policy.rate_limit} in "
            f"{minutes:g} minutes. Please wait a few minutes and try again.",
            retry_after=int(policy.rate_window.total_seconds() // 2) or 1,
        )


def validate_email_address(value: str, problems: list[Problem], name: str = "email") -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        problems.append({"field": name, "message": f"{value!r} is not an e-mail address: {error}"})
        return value


def new_follower(case_id: int, email: str) -> CaseFollower:
    """A follower row with its own unsubscribe token."""
    return CaseFollower(case_id=case_id, email=email, unsubscribe_token=secrets.token_urlsafe(16))


def raise_problems(problems: list[Problem], *, too_large: bool = False) -> NoReturn:
    """One error listing every problem (413 when a photo was too large, 400 otherwise)."""
    message = (
        problems[0]["message"]
        if len(problems) == 1
        else f"There are {len(problems)} problems: "
        + " ".join(problem["message"] for problem in problems)
    )
    raise (PayloadTooLarge if too_large else InvalidInput)(message, details=problems)


def open_case(
    db_session: Session,
    data: CaseInput,
    *,
    actor: Actor,
    policy: CasePolicy,
    now: datetime | None = None,
) -> Case:
    """Validate, route and record a new case. Raises InvalidInput listing every problem."""
    now = now or utcnow()
    problems: list[Problem] = []
    category: CategoryInfo | None = None
    code = (data.service_code or "").strip()
    catalog = catalog_cache.snapshot(db_session)
    if not code:
        problems.append(
            {
                "field": "service_code",
                "message": "service_code is required: choose a service "
                "(the list is at /open311/v2/services.json).",
            }
        )
    else:
        category = catalog.by_code.get(code)
        if category is None:
            problems.append({"field": "service_code", "message": unknown_service(code)})
        else:
            if not category.is_active:
                problems.append(
                    {"field": "service_code", "message": f"The service {code} is not offered."}
                )
    description = clean_text(
        data.description, limit=MAX_DESCRIPTION, name="description", problems=problems
    )
    address = clean_text(data.address, limit=500, name="address_string", problems=problems)
    name = clean_text(data.contact_name, limit=200, name="name", problems=problems) or None
    phone = clean_text(data.contact_phone, limit=50, name="phone", problems=problems) or None
    email = clean_text(data.contact_email, limit=320, name="email", problems=problems) or None
    if email:
        email = validate_email_address(email, problems)
    device_id = clean_text(data.device_id, limit=200, name="device_id", problems=problems) or None
    account_id = clean_text(data.account_id, limit=200, name="account_id", problems=problems)
    media_url = clean_text(data.media_url, limit=2000, name="media_url", problems=problems)
    if media_url and not media_url.startswith(("http://", "https://")):
        problems.append({"field": "media_url", "message": "media_url must be an http(s) URL."})
    priority = data.priority or (category.default_priority if category else Priority.NORMAL)
    if priority not in {p.value for p in Priority}:
        problems.append(
            {
                "field": "priority",
                "message": f"priority must be one of {', '.join(p.value for p in Priority)}.",
            }
        )
    attributes = (
        parse_attributes(
            category,
            data.attributes,
            problems,
            enforce_required=data.require_attributes and data.source != CaseSource.SENSOR,
        )
        if category
        else {}
    )
    location = _resolve_location(db_session, data, address, problems)
    if len(data.photos) > policy.max_photos:
        problems.append(
            {
                "field": "media",
                "message": f"{len(data.photos)} photos sent; at most {policy.max_photos} are "
                "accepted with one report.",
            }
        )
    cleaned = []
    too_large = False
    for upload in data.photos[: policy.max_photos]:
        try:
            cleaned.append(photos.clean(upload, max_bytes=policy.max_photo_bytes))
        except PayloadTooLarge as error:
            too_large = True
            problems.append({"field": "media", "message": error.message})
        except InvalidInput as error:
            problems.append({"field": "media", "message": error.message})
    if problems:
        raise_problems(problems, too_large=too_large)
    assert category is not None
    assert location is not None
    if actor.user_id is None and actor.ip and data.source in (CaseSource.WEB, CaseSource.OPEN311):
        _check_rate(db_session, actor.ip, policy, now)
    lon, lat, found = location
    decision = route(db_session, category=category, location=found, catalog=catalog)
    areas = {area.level: area.id for area in found.areas}
    requested_at = data.requested_at or now
    case = Case(
        category_id=category.id,
        status=CaseStatus.SUBMITTED,
        priority=priority,
        description=description,
        attributes=attributes,
        lon=lon,
        lat=lat,
        address=address,
        address_id=(data.address_id or "").strip()[:100] or None,
        zipcode=(data.zipcode or "").strip()[:20] or None,
        area_id=found.areas[0].id,
        district_id=areas.get(AreaLevel.DISTRICT),
        subdistrict_id=areas.get(AreaLevel.SUBDISTRICT),
        grid_id=areas.get(AreaLevel.GRID),
        department_id=decision.department_id,
        routing_rule_id=decision.rule_id,
        routing_reason=decision.reason,
        source=data.source.value,
        source_ref=(data.source_ref or "")[:200] or None,
        api_key_id=data.api_key_id,
        token=secrets.token_urlsafe(12),
        contact_name=name,
        contact_email=email,
        contact_phone=phone,
        device_id=device_id,
        account_id=account_id or None,
        submitted_ip=actor.ip,
        requested_at=requested_at,
        updated_at=now,
    )
    sla.start_clocks(case, category, start=requested_at, fraction=policy.sla_imminent_fraction)
    db_session.add(case)
    db_session.flush()
    update = CaseUpdate(
        case_id=case.id,
        at=requested_at,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        kind="submitted",
        status_to=CaseStatus.SUBMITTED.value,
        note="",
        public=True,
        details={"source": data.source.value, "routing": decision.reason}
        | ({"media_url": media_url} if media_url else {}),
    )
    db_session.add(update)
    if cleaned:
        db_session.flush()  # the photos point at the update
    db_session.add_all(
        photos.as_row(photo, case_id=case.id, update_id=update.id, kind=PhotoKind.REPORT)
        for photo in cleaned
    )
    if email and data.follow:
        db_session.add(new_follower(case.id, email))
    record(
        db_session,
        actor=actor,
        action="cases.case.open",
        entity_type="cases_case",
        entity_id=case.id,
        summary=f"{category.service_code} via {data.source.value}: {decision.reason}",
        after={
            "service_code": category.service_code,
            "source": data.source.value,
            "area": found.areas[0].code,
            "department_id": decision.department_id,
        },
    )  # record() flushes the update, photos, follower and audit entry together
    notifications.case_opened(
        db_session,
        case,
        service_code=category.service_code,
        names=(category.name_en, category.name_zh),
        base_url=policy.base_url,
        reporter_email=email,
    )
    notices.announce(db_session, case, kind="submitted")
    return case


def _resolve_location(
    db_session: Session, data: CaseInput, address: str, problems: list[Problem]
) -> tuple[float, float, geo_service.Location] | None:
    lon = _parse_coordinate(data.lon, "long", problems)
    lat = _parse_coordinate(data.lat, "lat", problems)
    if (lon is None) != (lat is None):
        problems.append(
            {"field": "lat" if lat is None else "long", "message": "Give both lat and long."}
        )
        return None
    if lon is None or lat is None:
        if any(problem["field"] in ("lat", "long") for problem in problems):
            return None
        if not address and not data.address_id:
            problems.append(
                {
                    "field": "location",
                    "message": "A location is required: give lat and long (WGS84), or an "
                    "address in the city.",
                }
            )
            return None
        named = find_address(db_session, address or data.address_id or "")
        if named is None:
            problems.append(
                {
                    "field": "address_string",
                    "message": f"We could not find {address or data.address_id!r} in the city. "
                    "Mark the place on the map (lat and long), or name its street "
                    "office (街道) or district.",
                }
            )
            return None
        lon, lat = named.label_lon, named.label_lat
    try:
        found = geo_service.locate(db_session, lon=lon, lat=lat)
    except InvalidInput as error:
        problems.append({"field": "location", "message": error.message})
        return None
    if not found.inside:
        problems.append(
            {
                "field": "location",
                "message": f"The point longitude {lon:g}, latitude {lat:g} is outside the city, "
                "so no department here can act on it. Check the place on the map (the order "
                "is latitude, longitude in Open311 and longitude, latitude in GeoJSON).",
            }
        )
        return None
    return lon, lat, found


# --- duplicates --------------------------------------------------------------------------

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Nearby:
    case: Case
    distance_m: float


def nearby_open(
    db_session: Session,
    *,
    service_code: str,
    lon: float,
    lat: float,
    radius_m: float | None = None,
    limit: int = 10,
) -> list[Nearby]:
    """Open cases of the same service within the duplicate radius, nearest first."""
    category = get_category(db_session, service_code=service_code)
    radius = category.duplicate_radius_m if radius_m is None else radius_m
    if radius <= 0:
        return []
    dlat = math.degrees(radius / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    candidates = db_session.scalars(
        select(Case).where(
            Case.category_id == category.id,
            Case.status.in_([status.value for status in CaseStatus if status.is_open]),
            Case.lat.between(lat - dlat, lat + dlat),
            Case.lon.between(lon - dlon, lon + dlon),
            Case.duplicate_of_id.is_(None),
        )
    ).all()
    found = [Nearby(case, distance_m(lon, lat, case.lon, case.lat)) for case in candidates]
    found = [item for item in found if item.distance_m <= radius]
    found.sort(key=lambda item: (item.distance_m, item.case.id))
    return found[:limit]


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
