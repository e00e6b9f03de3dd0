"""The citizen's front door: report a problem (``/report``) and follow it (``/track``).

No login is needed. The pages work as plain HTML forms; JavaScript (``static/js/report.js``)
adds the map, the device location, search-as-you-type (htmx) and the nearby open cases.
Tracking pages show what the public may see: never a name, e-mail, phone or device id, and
people in the history appear as their department or role.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.cases import service
from cityos.cases.models import AttributeType, Case, CaseStatus, CaseUpdate, Category
from cityos.config import Settings
from cityos.db import utcnow
from cityos.deps import OptionalUser, SessionDep, SettingsDep, client_ip
from cityos.errors import CityOSError, InvalidInput, NotFound, PayloadTooLarge, RateLimited
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)

PHOTO_TYPES = "image/jpeg,image/png,image/webp"
LOCATION_FIELDS = {"lat": "location", "long": "location", "location": "location"}
INLINE_FIELDS = {"service_code", "location", "address_string", "description", "media", "name"}
INLINE_FIELDS |= {"email", "phone"}
TEXT_FIELDS = ("lat", "lon", "address", "description", "name", "email", "phone")
EXCERPT = 140


# --- shared helpers (also used by public_api) ------------------------------------------


def citizen_actor(request: Request, user: User | None) -> Actor:
    """Who files or follows from the public pages: anonymous, or the signed-in user."""
    ip = client_ip(request)
    if user is None:
        return Actor(user_id=None, label="citizen", ip=ip)
    return Actor(user_id=user.id, label=user.email, ip=ip)


def pick(language: str, zh: str, en: str) -> str:
    """The text in the page language, falling back to the other language."""
    return (zh or en) if language == "zh-CN" else (en or zh)


def excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def value_names(category: Category, code: str, value: Any, language: str) -> str:
    """An attribute value as a citizen reads it (list keys become their names)."""
    attribute = next((a for a in category.attributes if a.code == code), None)
    if attribute is None or attribute.datatype not in (
        AttributeType.SINGLEVALUELIST,
        AttributeType.MULTIVALUELIST,
    ):
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    names = {
        v["key"]: pick(language, v.get("name_zh", ""), v.get("name_en", ""))
        for v in attribute.values
    }
    keys = value if isinstance(value, list) else [value]
    return ", ".join(names.get(str(key), str(key)) for key in keys)


def _policy(settings: Settings) -> service.CasePolicy:
    return service.CasePolicy.from_settings(settings)


def _timezone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def _formatter(settings: Settings) -> Callable[[datetime | None], str]:
    zone = _timezone(settings)

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

    return when


# --- choosing a service ----------------------------------------------------------------


def _groups(db: Session) -> list[tuple[Any, list[Category]]]:
    categories = service.list_categories(db)
    groups = []
    for group in service.list_groups(db):
        members = [c for c in categories if c.group_id == group.id]
        if members:
            groups.append((group, sorted(members, key=lambda c: c.name_en.lower())))
    return groups


def _picker(
    page: Page, db: Session, *, q: str = "", error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    context = {**_search(page, db, q), "groups": _groups(db), "error": error}
    return page.render("cases/report.html", context, status_code=status_code)


def _search(page: Page, db: Session, q: str) -> dict[str, Any]:
    return {
        "q": q,
        "results": service.search_categories(db, query=q) if q.strip() else [],
        "searched": bool(q.strip()),
        "pick": lambda zh, en: pick(page.language, zh, en),
    }


@router.get("/report/services", response_class=HTMLResponse)
def service_results(page: PageDep, db: SessionDep, q: str = "") -> HTMLResponse:
    """Search-as-you-type results (an HTML fragment for htmx)."""
    return page.render("cases/report_services.html", _search(page, db, q))


@router.get("/report/nearby", response_class=HTMLResponse)
def nearby_fragment(
    page: PageDep, db: SessionDep, settings: SettingsDep, service_code: str, lat: str, lon: str
) -> HTMLResponse:
    """Open cases of this service near the point (an HTML fragment for htmx)."""
    latitude, longitude = _coordinate(lat), _coordinate(lon)
    nearby: Sequence[service.Nearby] = []
    if latitude is not None and longitude is not None and math.isfinite(latitude + longitude):
        try:
            nearby = service.nearby_open(db, service_code=service_code, lon=longitude, lat=latitude)
        except NotFound:
            nearby = []
    return page.render(
        "cases/report_nearby.html",
        {
            "nearby": [
                {
                    "id": item.case.id,
                    "status": item.case.status,
                    "distance": round(item.distance_m),
                    "requested": _formatter(settings)(item.case.requested_at),
                    "excerpt": excerpt(item.case.description),
                    "lat": item.case.lat,
                    "lon": item.case.lon,
                }
                for item in nearby
            ]
        },
    )


# --- the report form -------------------------------------------------------------------


def _coordinate(text: str | None) -> float | None:
    """A coordinate from a form field: None when empty, NaN (refused later) when not a number."""
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return math.nan


def _empty_form() -> dict[str, Any]:
    return {
        "lat": "",
        "lon": "",
        "address": "",
        "description": "",
        "name": "",
        "email": "",
        "phone": "",
        "follow": True,
        "attributes": {},
        "service_code": "",
    }


def _form_page(
    page: Page,
    db: Session,
    settings: Settings,
    *,
    category: Category | None,
    form: dict[str, Any],
    problems: Sequence[dict[str, str]] = (),
    message: str | None = None,
    photos_lost: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    errors: dict[str, list[str]] = {}
    for problem in problems:
        field = LOCATION_FIELDS.get(problem["field"], problem["field"])
        errors.setdefault(field, []).append(problem["message"])
    shown = set(INLINE_FIELDS)
    if category is not None:
        shown |= {f"attribute[{a.code}]" for a in category.attributes}
    other = [m for field, messages in errors.items() if field not in shown for m in messages]
    if message and not problems:
        other.append(message)
    policy = _policy(settings)
    return page.render(
        "cases/report_form.html",
        {
            "category": category,
            "categories": service.list_categories(db) if category is None else [],
            "form": form,
            "errors": errors,
            "other_errors": other,
            "failed": bool(problems or message),
            "photos_lost": photos_lost,
            "photo_types": PHOTO_TYPES,
            "max_photos": policy.max_photos,
            "max_photo_mb": f"{policy.max_photo_bytes / 1e6:g}",
            "max_description": 4000,
            "pick": lambda zh, en: pick(page.language, zh, en),
        },
        status_code=status_code,
    )


@router.get("/report", response_class=HTMLResponse)
def report_page(
    page: PageDep, db: SessionDep, settings: SettingsDep, service_code: str = "", q: str = ""
) -> HTMLResponse:
    """Step 1: choose the service (search or browse); step 2: the form for that service."""
    if not service_code.strip():
        return _picker(page, db, q=q)
    try:
        category = service.get_category(db, service_code=service_code.strip())
    except NotFound as error:
        return _picker(page, db, q=q, error=error.message, status_code=404)
    if not category.is_active:
        message = f"The service {category.service_code} is not offered."
        return _picker(page, db, q=q, error=message, status_code=404)
    return _form_page(page, db, settings, category=category, form=_empty_form())


def _attribute_values(form: FormData) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key in form:
        if key.startswith("attribute[") and key.endswith("]"):
            items = [v for v in form.getlist(key) if isinstance(v, str)]
            values[key[len("attribute[") : -1]] = items
    return values


def _with_zone(value: str, zone: ZoneInfo) -> str:
    """A date-time from ``<input type=datetime-local>`` gets the city's time zone."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value  # the service explains what is wrong with it
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).isoformat()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.post("/report", response_class=HTMLResponse)
async def submit_report(
    request: Request, page: PageDep, db: SessionDep, settings: SettingsDep, user: OptionalUser
) -> Response:
    """File the report; on success go to its tracking page, else show the form again."""
    form = await request.form()
    try:
        return await _submit(request, page, db, settings, user, form)
    finally:
        await form.close()  # the uploads' temporary files


async def _submit(
    request: Request,
    page: Page,
    db: Session,
    settings: Settings,
    user: User | None,
    form: FormData,
) -> Response:
    code = _text(form, "service_code").strip()
    category: Category | None = None
    if code:
        try:
            category = service.get_category(db, service_code=code)
        except NotFound:
            category = None
    attributes = _attribute_values(form)
    if category is not None:
        zone = _timezone(settings)
        for attribute in category.attributes:
            if attribute.datatype == AttributeType.DATETIME and attribute.code in attributes:
                attributes[attribute.code] = [
                    _with_zone(v, zone) if v.strip() else v for v in attributes[attribute.code]
                ]
    text = {name: _text(form, name) for name in TEXT_FIELDS}
    follow = _text(form, "follow") == "on"
    entered: dict[str, Any] = {
        **text,
        "follow": follow,
        "attributes": attributes,
        "service_code": code,
    }
    policy = _policy(settings)
    uploads = [
        item
        for item in form.getlist("media")
        if isinstance(item, UploadFile) and (item.filename or item.size)
    ]
    try:
        photos = await _read_photos(uploads, policy=policy)
        data = service.CaseInput(
            service_code=code or None,
            lat=_coordinate(text["lat"]),
            lon=_coordinate(text["lon"]),
            address=text["address"],
            description=text["description"],
            attributes={
                key: items[0] if len(items) == 1 else items for key, items in attributes.items()
            },
            contact_name=text["name"] or None,
            contact_email=text["email"] or None,
            contact_phone=text["phone"] or None,
            photos=photos,
            source=service.CaseSource.WEB,
            follow=follow,
        )
        case = service.open_case(db, data, actor=citizen_actor(request, user), policy=policy)
    except (InvalidInput, PayloadTooLarge, RateLimited) as error:
        db.rollback()
        response = _form_page(
            page,
            db,
            settings,
            category=category,
            form=entered,
            problems=error.details if isinstance(error.details, list) else [],
            message=error.message,
            photos_lost=bool(uploads),
            status_code=error.status_code,
        )
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    return RedirectResponse(f"/track/{case.id}?new=1&key={case.token}", status_code=303)


async def _read_photos(
    uploads: Sequence[UploadFile], *, policy: service.CasePolicy
) -> list[service.PhotoUpload]:
    """The uploads' bytes. A photo over the size limit is refused before it is read into
    memory, and photos beyond the number allowed are not read (the service refuses them)."""
    max_bytes = policy.max_photo_bytes
    too_large = [
        {
            "field": "media",
            "message": f"{upload.filename or 'the photo'} is {upload.size / 1e6:.1f} MB; the "
            f"largest accepted photo is {max_bytes / 1e6:g} MB. Send a smaller picture.",
        }
        for upload in uploads
        if upload.size is not None and upload.size > max_bytes
    ]
    if too_large:
        raise PayloadTooLarge(too_large[0]["message"], details=too_large)
    return [
        service.PhotoUpload(
            filename=upload.filename or "",
            data=await upload.read() if index < policy.max_photos else b"",
        )
        for index, upload in enumerate(uploads)
    ]


# --- tracking --------------------------------------------------------------------------


@router.get("/track", response_class=HTMLResponse)
def track_lookup(page: PageDep, db: SessionDep, number: str = "") -> Response:
    """The form for a tracking number; a number that exists goes to its page."""
    wanted = number.strip().lstrip("#").strip()
    if not wanted:
        return page.render("cases/track.html")
    case = service.get_case(db, case_id=wanted)  # NotFound: the 404 page
    return RedirectResponse(f"/track/{case.id}", status_code=303)


def _who(db: Session, page: Page, case: Case, update: CaseUpdate, users: dict[int, User]) -> str:
    """The author of an update as the public sees it: a department or a role, never a person."""
    if update.actor_user_id is not None:
        user = users.get(update.actor_user_id)
        if user is None:
            try:
                user = auth_service.get_user(db, user_id=update.actor_user_id)
            except NotFound:
                return page.t("track.who.city")
            users[user.id] = user
        if user.department is not None:
            return pick(page.language, user.department.name_zh, user.department.name_en)
        return page.t("track.who.city")
    label = update.actor_label
    if label.startswith("system:sensor") or (
        update.kind == "submitted" and case.source == "sensor"
    ):
        return page.t("track.who.sensor")
    if label.startswith("system:") or label == "import":
        return page.t("track.who.system")
    if update.kind == "submitted":
        return page.t("track.who.app" if case.source == "open311" else "track.who.reporter")
    return page.t("track.who.citizen")


def _what(page: Page, update: CaseUpdate) -> str:
    if update.kind == "submitted":
        return page.t("track.kind.submitted")
    if update.kind in ("note", "transfer", "duplicate"):
        return page.t(f"track.kind.{update.kind}")
    if update.status_to:
        return page.t(f"track.status.{update.status_to}")
    return page.t("track.kind.update")


def can_reopen(case: Case, policy: service.CasePolicy, now: datetime | None = None) -> bool:
    if CaseStatus(case.status).is_open or case.duplicate_of_id is not None:
        return False
    ended = case.resolved_at or case.updated_at
    return (now or utcnow()) - ended <= policy.reopen_window


def _track_page(
    page: Page,
    db: Session,
    settings: Settings,
    case: Case,
    *,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    when = _formatter(settings)
    policy = _policy(settings)
    users: dict[int, User] = {}
    history = [
        {
            "at": when(update.at),
            "who": _who(db, page, case, update, users),
            "what": _what(page, update),
            "note": update.note,
        }
        for update in service.history(db, case=case, public_only=True)
    ]
    category = case.category
    known = [a.code for a in category.attributes]
    attributes = [
        (
            pick(page.language, a.description_zh, a.description_en),
            value_names(category, a.code, case.attributes[a.code], page.language),
        )
        for a in category.attributes
        if a.code in case.attributes
    ] + [
        (code, value_names(category, code, value, page.language))
        for code, value in case.attributes.items()
        if code not in known
    ]
    department = None
    if case.department_id is not None:
        try:
            found = auth_service.get_department_by_id(db, department_id=case.department_id)
            department = pick(page.language, found.name_zh, found.name_en)
        except NotFound:
            department = None
    ended = case.resolved_at or case.updated_at
    context = {
        "case": case,
        "category_name": pick(page.language, category.name_zh, category.name_en),
        "group_name": pick(page.language, category.group.name_zh, category.group.name_en),
        "is_open": CaseStatus(case.status).is_open,
        "requested": when(case.requested_at),
        "updated": when(case.updated_at),
        "expected": when(case.resolve_due_at) if CaseStatus(case.status).is_open else "",
        "resolved": when(case.resolved_at),
        "department": department,
        "history": history,
        "attributes": attributes,
        "photos": service.list_photos(db, case=case),
        "can_reopen": can_reopen(case, policy),
        "reopen_until": when(ended + policy.reopen_window),
        "follow_email": "",
        "reopen_reason": "",
        "reopen_key": "",
    }
    return page.render("cases/track_case.html", context | (extra or {}), status_code=status_code)


@router.get("/track/{case_id}", response_class=HTMLResponse)
def track_case(
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    case_id: str,
    new: str = "",
    followed: str = "",
    reopened: str = "",
    key: str = "",
) -> HTMLResponse:
    """The public status of a case; with the reporter's ``key``, the reopen form too."""
    case = service.get_case(db, case_id=case_id)
    extra = {
        "new": new == "1",
        "followed": followed == "1",
        "reopened": reopened == "1",
        "reopen_key": key if service.is_reporter_key(case, key) else "",
    }
    return _track_page(page, db, settings, case, extra=extra)


@router.post("/track/{case_id}/follow", response_class=HTMLResponse)
def follow_case(
    request: Request,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    user: OptionalUser,
    case_id: str,
    email: Annotated[str, Form()] = "",
) -> Response:
    """Get e-mail about this case (also the "follow this one instead" of the report form)."""
    case = service.get_case(db, case_id=case_id)
    try:
        follower = service.follow(db, case, email=email, actor=citizen_actor(request, user))
    except CityOSError as error:
        db.rollback()
        case = service.get_case(db, case_id=case_id)
        extra = {"follow_error": error.message, "follow_email": email}
        return _track_page(page, db, settings, case, extra=extra, status_code=error.status_code)
    return RedirectResponse(f"/track/{follower.case_id}?followed=1", status_code=303)


@router.post("/track/{case_id}/reopen", response_class=HTMLResponse)
def reopen_case(
    request: Request,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    user: OptionalUser,
    case_id: str,
    reason: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
) -> Response:
    """The reporter reopens a resolved or closed case within the reopen window."""
    case = service.get_case(db, case_id=case_id)
    try:
        service.citizen_reopen(
            db,
            case,
            reason=reason,
            key=key,
            actor=citizen_actor(request, user),
            policy=_policy(settings),
        )
    except CityOSError as error:
        db.rollback()
        case = service.get_case(db, case_id=case_id)
        extra = {
            "reopen_error": error.message,
            "reopen_reason": reason,
            "reopen_key": key if service.is_reporter_key(case, key) else "",
        }
        return _track_page(page, db, settings, case, extra=extra, status_code=error.status_code)
    return RedirectResponse(f"/track/{case.id}?reopened=1&key={quote(key)}", status_code=303)


@router.get("/track/{case_id}/photos/{photo_id}")
def case_photo(db: SessionDep, case_id: str, photo_id: str) -> Response:
    """A photo of the case, as stored (re-encoded without EXIF)."""
    case = service.get_case(db, case_id=case_id)
    if not photo_id.isdigit() or len(photo_id) > 18:
        raise NotFound(f"Case {case.id} has no photo {photo_id!r}.")
    photo = service.get_photo(db, case=case, photo_id=int(photo_id))
    return Response(
        content=photo.data,
        media_type=photo.media_type,
        headers={"Cache-Control": "public, max-age=86400", "Content-Disposition": "inline"},
    )


@router.get("/track/unfollow/{token}", response_class=HTMLResponse)
def unfollow_case(
    request: Request, page: PageDep, db: SessionDep, user: OptionalUser, token: str
) -> HTMLResponse:
    """The link in every update e-mail: stop e-mails about this case."""
    case = service.unfollow(db, token=token, actor=citizen_actor(request, user))
    return page.render("cases/track_unfollowed.html", {"case_id": case.id})
