"""Department staff's pages: the work queue (filters, map, bulk actions) and the case page.

The queue's filter form and its bulk actions swap the list in place with htmx (and work as
plain forms without JavaScript). Every action on the case page is a form that comes back to
the page: with a notice when it worked, with the error (and its status) when it did not.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.cases import staff, workflow
from cityos.cases.catalog import list_categories
from cityos.cases.intake import CasePolicy
from cityos.cases.models import Case, CaseStatus, CloseReason
from cityos.cases.photos import PhotoUpload
from cityos.cases.queries import Order, search_cases
from cityos.cases.sla import SlaState
from cityos.config import Settings
from cityos.db import utcnow
from cityos.deps import ActorDep, CurrentUser, SessionDep, SettingsDep
from cityos.errors import CityOSError, InvalidInput, PayloadTooLarge
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
FILTERS = ("status", "category", "area", "sla", "from", "to", "mine", "department", "sort")
DONE = ("status", "note", "transfer", "assign", "duplicate")
MAX_CANDIDATES = 300


# --- shared helpers ----------------------------------------------------------------------


def _policy(settings: Settings) -> CasePolicy:
    return CasePolicy.from_settings(settings)


def _duration(page: Page, span: timedelta) -> str:
    """``span`` in the two largest units (days, hours, minutes) of the page's language."""
    minutes = max(int(span.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        page.t(f"staff.unit.{unit}", n=amount)
        for unit, amount in (("day", days), ("hour", hours), ("minute", minutes))
        if amount
    ]
    return " ".join(parts[:2]) or page.t("staff.unit.minute", n=0)


def _helpers(page: Page, settings: Settings) -> dict[str, Any]:
    zone = ZoneInfo(settings.timezone)

    def local(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"

    def sla_text(view: staff.SlaView) -> str:
        if view.state is SlaState.NONE or view.remaining is None:
            return page.t("staff.sla.no_clock")
        if view.remaining < timedelta(0):
            key, span = f"staff.sla.overdue_{view.clock}", -view.remaining
        else:
            key, span = f"staff.sla.left_{view.clock}", view.remaining
        return page.t(key, time=_duration(page, span))

    def name(item: Any) -> str:
        return str(item.name_zh if page.language == "zh-CN" else item.name_en)

    return {"local": local, "sla_text": sla_text, "name": name, "timezone": settings.timezone}


# --- the queue ---------------------------------------------------------------------------


def _clean(params: dict[str, str]) -> dict[str, str]:
    values = {key: params.get(key, "").strip() for key in FILTERS}
    values["status"] = values["status"] or "open"
    values["mine"] = "1" if values["mine"] in ("1", "on", "true") else ""
    return values


def _query_string(params: dict[str, str]) -> str:
    return urlencode([(key, value) for key, value in params.items() if value])


def _candidates(db: Session, user: User, department: str) -> list[User]:
    """People to offer for bulk assignment."""
    if not staff.sees_all(user):
        department_id = user.department_id
    elif department and department != staff.TRIAGE:
        department_id = auth_service.get_department(db, code=department).id
    else:
        department_id = None
    if department_id is not None:
        people = auth_service.list_department_users(db, department_id=department_id)
    else:
        people = [u for u in auth_service.list_users(db) if u.is_active]
    chosen = [p for p in people if p.has_role(Role.STAFF, Role.SUPERVISOR)]
    return sorted(chosen, key=lambda p: p.email)[:MAX_CANDIDATES]


def _queue_context(
    page: Page,
    db: Session,
    settings: Settings,
    user: User,
    params: dict[str, str],
    page_number: int,
) -> tuple[dict[str, Any], int]:
    staff.require_queue(user)
    now = utcnow()
    context: dict[str, Any] = {
        **_helpers(page, settings),
        "filters": params,
        "query": _query_string(params),
        "rows": [],
        "total": 0,
        "page_number": page_number,
        "pages": 1,
        "statuses": staff.STATUS_CHOICES,
        "sla_choices": staff.SLA_CHOICES,
        "sorts": [order.value for order in Order],
        "categories": list_categories(db, include_inactive=True),
        "areas": [
            area
            for area in geo_service.list_areas(db)
            if AreaLevel(area.level) in (AreaLevel.DISTRICT, AreaLevel.SUBDISTRICT)
        ],
        "departments": auth_service.list_departments(db) if staff.sees_all(user) else [],
        "sees_all": staff.sees_all(user),
        "own_department": user.department,
        "candidates": [],
    }
    try:
        query = staff.parse_queue(
            status=params["status"],
            category=params["category"],
            area=params["area"],
            sla_risk=params["sla"],
            date_from=params["from"],
            date_to=params["to"],
            mine=bool(params["mine"]),
            department=params["department"],
            sort=params["sort"],
            timezone=settings.timezone,
        )
        selected = staff.queue_filter(db, user, query)
        found = search_cases(
            db, selected, page=page_number, page_size=PAGE_SIZE, order=query.order, now=now
        )
        context["candidates"] = _candidates(db, user, params["department"])
    except CityOSError as error:
        return {**context, "error": error.message}, error.status_code
    departments = {d.id: d for d in auth_service.list_departments(db)}
    people: dict[int, User] = {}
    rows = []
    for case in found.items:
        if case.assignee_id and case.assignee_id not in people:
            people[case.assignee_id] = auth_service.get_user(db, user_id=case.assignee_id)
        rows.append(
            {
                "case": case,
                "sla": staff.sla_view(case, now),
                "department": departments.get(case.department_id or 0),
                "assignee": people.get(case.assignee_id or 0),
            }
        )
    total = found.total or 0
    context |= {"rows": rows, "total": total, "pages": max(1, -(-total // PAGE_SIZE))}
    return context, 200


def _render_queue(
    request: Request, page: Page, context: dict[str, Any], status_code: int
) -> HTMLResponse:
    partial = bool(request.headers.get("hx-request"))
    template = "cases/staff_queue_list.html" if partial else "cases/staff_queue.html"
    return page.render(template, context, status_code=status_code)


@router.get("/staff/cases", response_class=HTMLResponse)
def queue_page(
    request: Request,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> HTMLResponse:
    params = _clean(dict(request.query_params))
    context, status_code = _queue_context(page, db, settings, user, params, page_number)
    return _render_queue(request, page, context, status_code)


@router.get("/staff/cases/map.json")
def queue_map(
    request: Request, page: PageDep, db: SessionDep, settings: SettingsDep, user: CurrentUser
) -> JSONResponse:
    """The filtered cases as GeoJSON points (most urgent first, capped)."""
    params = _clean(dict(request.query_params))
    query = staff.parse_queue(
        status=params["status"],
        category=params["category"],
        area=params["area"],
        sla_risk=params["sla"],
        date_from=params["from"],
        date_to=params["to"],
        mine=bool(params["mine"]),
        department=params["department"],
        sort="",
        timezone=settings.timezone,
    )
    now = utcnow()
    found = staff.map_points(db, staff.queue_filter(db, user, query), now=now)
    name = _helpers(page, settings)["name"]
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [case.lon, case.lat]},
            "properties": {
                "id": case.id,
                "service": name(case.category),
                "status": case.status,
                "status_label": page.t(f"staff.status.{case.status}"),
                "sla": staff.sla_view(case, now).state.value,
                "url": f"/staff/cases/{case.id}",
            },
        }
        for case in found.cases
    ]
    return JSONResponse(
        {
            "type": "FeatureCollection",
            "features": features,
            "total": found.total,
            "truncated": found.truncated,
        }
    )


@router.post("/staff/cases/bulk", response_class=HTMLResponse)
def bulk_action(
    request: Request,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    action: Annotated[str, Form()] = "",
    ids: Annotated[list[int] | None, Form()] = None,
    assignee: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Acknowledge or assign the ticked cases; the list comes back with a line per failure."""
    params = _clean(dict(parse_qsl(query)))
    report: staff.BulkReport | None = None
    error: CityOSError | None = None
    try:
        staff.require_queue(user)
        chosen = staff.parse_bulk_action(action)
        person = (
            staff.find_assignee(db, email=assignee) if chosen is staff.BulkAction.ASSIGN else None
        )
        report = staff.bulk(
            db,
            ids=ids or [],
            action=chosen,
            assignee=person,
            user=user,
            actor=actor,
            policy=_policy(settings),
        )
        db.flush()
    except CityOSError as refused:
        db.rollback()
        error = refused
    context, status_code = _queue_context(page, db, settings, user, params, 1)
    if error is not None:
        context["error"] = error.message
        status_code = error.status_code
    elif report is not None:
        context["report"] = report
        context["notice"] = page.t(
            f"staff.bulk.done_{report.action.value}",
            done=len(report.succeeded),
            failed=len(report.failed),
        )
    return _render_queue(request, page, context, status_code)


# --- one case ----------------------------------------------------------------------------


def _case_context(
    page: Page, db: Session, settings: Settings, user: User, case: Case
) -> dict[str, Any]:
    now = utcnow()
    handles = workflow.can_handle(user, case)
    current = CaseStatus(case.status)
    legal = workflow.TRANSITIONS[current]
    moves = [s for s in CaseStatus if s in legal and s is not CaseStatus.REOPENED]
    department = staff.department_of(db, case)
    return {
        **_helpers(page, settings),
        "case": case,
        "sla": staff.sla_view(case, now),
        "department": department,
        "assignee": (
            auth_service.get_user(db, user_id=case.assignee_id) if case.assignee_id else None
        ),
        "attributes": staff.attribute_rows(case),
        "photos": workflow.list_photos(db, case=case),
        "history": workflow.history(db, case=case, public_only=False),
        "followers": staff.followers_count(db, case),
        "can_act": handles,
        "is_open": current.is_open,
        "moves": moves,
        "can_reopen": CaseStatus.REOPENED in legal,
        "close_reasons": [r for r in CloseReason if r is not CloseReason.DUPLICATE],
        "departments": [d for d in auth_service.list_departments(db) if d.id != case.department_id],
        "members": staff.assignable_users(db, case) if handles else [],
        "duplicates": (staff.duplicate_candidates(db, case) if handles and current.is_open else []),
        "original": (
            workflow.get_case(db, case_id=case.duplicate_of_id) if case.duplicate_of_id else None
        ),
    }


def _case_page(
    page: Page,
    db: Session,
    settings: Settings,
    user: User,
    case_id: int,
    *,
    error: CityOSError | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    staff.require_viewer(user)
    case = workflow.get_case(db, case_id=case_id)
    context = _case_context(page, db, settings, user, case)
    context["form"] = form or {}
    if error is not None:
        context |= {"error": error.message, "problems": error.details, "failed": True}
    if notice:
        context["notice"] = notice
    status_code = error.status_code if error is not None else 200
    return page.render("cases/staff_case.html", context, status_code=status_code)


@router.get("/staff/cases/{case_id:int}", response_class=HTMLResponse)
def case_page(
    case_id: int,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    done: str = "",
) -> HTMLResponse:
    notice = page.t(f"staff.done.{done}") if done in DONE else None
    return _case_page(page, db, settings, user, case_id, notice=notice)


@router.get("/staff/cases/{case_id:int}/photos/{photo_id:int}")
def case_photo(case_id: int, photo_id: int, db: SessionDep, user: CurrentUser) -> Response:
    """A photo of the case, for staff (resolution photos included)."""
    staff.require_viewer(user)
    case = workflow.get_case(db, case_id=case_id)
    photo = workflow.get_photo(db, case=case, photo_id=photo_id)
    return Response(
        photo.data, media_type=photo.media_type, headers={"Cache-Control": "private, max-age=3600"}
    )


def _acted(
    page: Page,
    db: Session,
    settings: Settings,
    user: User,
    case_id: int,
    done: str,
    error: CityOSError | None,
    form: dict[str, str],
) -> Response:
    if error is None:
        return RedirectResponse(f"/staff/cases/{case_id}?done={done}", status_code=303)
    db.rollback()
    return _case_page(page, db, settings, user, case_id, error=error, form=form)


async def _read_photos(files: list[UploadFile], policy: CasePolicy) -> list[PhotoUpload]:
    chosen = [f for f in files if f.filename]
    if len(chosen) > policy.max_photos:
        raise InvalidInput(f"{len(chosen)} photos sent; at most {policy.max_photos} at a time.")
    uploads = []
    for upload in chosen:
        if upload.size is not None and upload.size > policy.max_photo_bytes:
            raise PayloadTooLarge(
                f"{upload.filename} is {upload.size / 1e6:.1f} MB; the largest accepted photo is "
                f"{policy.max_photo_bytes / 1e6:.0f} MB."
            )
        uploads.append(PhotoUpload(filename=upload.filename or "photo", data=await upload.read()))
    return uploads


@router.post("/staff/cases/{case_id:int}/status", response_model=None)
async def change_status(
    case_id: int,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    status: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    public: Annotated[str, Form()] = "",
    close_reason: Annotated[str, Form()] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    policy = _policy(settings)
    error: CityOSError | None = None
    try:
        case = workflow.get_case(db, case_id=case_id)
        uploads = await _read_photos(photos or [], policy)
        workflow.change_status(
            db,
            case,
            to=status,
            note=note,
            public=bool(public),
            close_reason=close_reason or None,
            photo_uploads=uploads,
            user=user,
            actor=actor,
            policy=policy,
        )
        db.flush()
    except CityOSError as refused:
        error = refused
    form = {"status": status, "note": note, "close_reason": close_reason, "action": "status"}
    return _acted(page, db, settings, user, case_id, "status", error, form)


@router.post("/staff/cases/{case_id:int}/notes", response_model=None)
def add_note(
    case_id: int,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    note: Annotated[str, Form()] = "",
    public: Annotated[str, Form()] = "",
) -> Response:
    error: CityOSError | None = None
    try:
        case = workflow.get_case(db, case_id=case_id)
        workflow.add_note(
            db,
            case,
            note=note,
            public=bool(public),
            user=user,
            actor=actor,
            policy=_policy(settings),
        )
        db.flush()
    except CityOSError as refused:
        error = refused
    form = {"note": note, "action": "note"}
    return _acted(page, db, settings, user, case_id, "note", error, form)


@router.post("/staff/cases/{case_id:int}/transfer", response_model=None)
def transfer(
    case_id: int,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    department: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    error: CityOSError | None = None
    try:
        case = workflow.get_case(db, case_id=case_id)
        if not department.strip():
            raise InvalidInput("Choose the department that should take the case.")
        workflow.transfer(
            db,
            case,
            department_code=department.strip(),
            reason=reason,
            user=user,
            actor=actor,
            policy=_policy(settings),
        )
        db.flush()
    except CityOSError as refused:
        error = refused
    form = {"department": department, "reason": reason, "action": "transfer"}
    return _acted(page, db, settings, user, case_id, "transfer", error, form)


@router.post("/staff/cases/{case_id:int}/assign", response_model=None)
def assign(
    case_id: int,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    assignee: Annotated[str, Form()] = "",
) -> Response:
    """``assignee``: a user id, ``me``, or empty to unassign."""
    error: CityOSError | None = None
    try:
        case = workflow.get_case(db, case_id=case_id)
        wanted = assignee.strip()
        if wanted == "me":
            person: User | None = user
        elif wanted.isdigit():
            person = staff.find_assignee(db, user_id=int(wanted))
        elif wanted:
            person = staff.find_assignee(db, email=wanted)
        else:
            person = None
        workflow.assign(db, case, assignee=person, user=user, actor=actor)
        db.flush()
    except CityOSError as refused:
        error = refused
    return _acted(page, db, settings, user, case_id, "assign", error, {"action": "assign"})


@router.post("/staff/cases/{case_id:int}/duplicate", response_model=None)
def mark_duplicate(
    case_id: int,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
    original_id: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    error: CityOSError | None = None
    try:
        case = workflow.get_case(db, case_id=case_id)
        if not original_id.strip():
            raise InvalidInput("Give the number of the original case.")
        workflow.mark_duplicate(
            db,
            case,
            original_id=original_id.strip(),
            note=note,
            user=user,
            actor=actor,
            policy=_policy(settings),
        )
        db.flush()
    except CityOSError as refused:
        error = refused
    form = {"original_id": original_id, "note": note, "action": "duplicate"}
    return _acted(page, db, settings, user, case_id, "duplicate", error, form)
