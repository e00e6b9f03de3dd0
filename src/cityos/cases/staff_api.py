"""The staff JSON API under ``/api/cases``: the queue, case records, actions, bulk, statistics.

Signed-in staff (login session with the CSRF header, or ``Authorization: Bearer`` API key).
Staff and supervisors work on their department's cases; operators and admins on all.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import Department, User
from cityos.cases import staff, stats, workflow
from cityos.cases.intake import CasePolicy
from cityos.cases.models import Case
from cityos.cases.photos import PhotoUpload
from cityos.cases.queries import MAX_PAGE_SIZE, search_cases
from cityos.cases.staff_schemas import (
    AssignIn,
    AttributeRead,
    BulkIn,
    BulkRead,
    CaseDetailRead,
    CaseListRead,
    CaseSummaryRead,
    ContactRead,
    DuplicateIn,
    NoteIn,
    PhotoIn,
    PhotoRead,
    RoutingRead,
    StatsRead,
    StatusChange,
    TransferIn,
    UpdateRead,
)
from cityos.db import utcnow
from cityos.deps import ActorDep, CurrentUser, SessionDep, SettingsDep
from cityos.errors import InvalidInput

router = APIRouter(prefix="/api/cases", tags=["cases: staff"])


def _summary_fields(db: Session, case: Case, departments: dict[int, Department]) -> dict[str, Any]:
    assignee = auth_service.get_user(db, user_id=case.assignee_id) if case.assignee_id else None
    return CaseSummaryRead.fields_of(
        case, sla=staff.sla_view(case, utcnow()), departments=departments, assignee=assignee
    )


def _departments(db: Session) -> dict[int, Department]:
    return {d.id: d for d in auth_service.list_departments(db)}


def _detail(db: Session, case: Case, user: User) -> CaseDetailRead:
    handles = workflow.can_handle(user, case)
    contact = (
        ContactRead(name=case.contact_name, email=case.contact_email, phone=case.contact_phone)
        if handles
        else None
    )
    return CaseDetailRead(
        **_summary_fields(db, case, _departments(db)),
        status_notes=case.status_notes,
        resolution_note=case.resolution_note,
        attributes=[AttributeRead.of(row) for row in staff.attribute_rows(case)],
        routing=RoutingRead(rule_id=case.routing_rule_id, reason=case.routing_reason),
        followers=staff.followers_count(db, case),
        can_act=handles,
        contact=contact,
        photos=[PhotoRead.of(p) for p in workflow.list_photos(db, case=case)],
        history=[UpdateRead.of(u) for u in workflow.history(db, case=case, public_only=False)],
    )


def _photos(items: list[PhotoIn]) -> list[PhotoUpload]:
    uploads = []
    for index, item in enumerate(items):
        try:
            raw = base64.b64decode(item.data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"photos[{index}].data is not base64-encoded.") from None
        uploads.append(PhotoUpload(filename=item.filename, data=raw))
    return uploads


@router.get("", response_model=CaseListRead, summary="The work queue (same filters as the page)")
def list_cases(
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    status: str = "open",
    category: str = "",
    area: str = "",
    sla: str = "",
    date_from: Annotated[str, Query(alias="from")] = "",
    date_to: Annotated[str, Query(alias="to")] = "",
    mine: bool = False,
    department: Annotated[str, Query(description="a department code, or triage")] = "",
    sort: Annotated[str, Query(description="sla (default), newest, oldest, updated")] = "",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> CaseListRead:
    query = staff.parse_queue(
        status=status,
        category=category,
        area=area,
        sla_risk=sla,
        date_from=date_from,
        date_to=date_to,
        mine=mine,
        department=department,
        sort=sort,
        timezone=settings.timezone,
    )
    selected = staff.queue_filter(db, user, query)
    found = search_cases(db, selected, page=page, page_size=page_size, order=query.order)
    departments = _departments(db)
    items = [CaseSummaryRead(**_summary_fields(db, case, departments)) for case in found.items]
    return CaseListRead(items=items, total=found.total or 0, page=page, page_size=page_size)


@router.get("/stats", response_model=StatsRead, summary="Counts and SLA compliance")
def case_stats(
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    date_from: Annotated[str, Query(alias="from", description="a date or date-time")] = "",
    date_to: Annotated[str, Query(alias="to", description="a date (inclusive) or date-time")] = "",
    by: Annotated[str, Query(description="department, category or district")] = "department",
) -> StatsRead:
    """Volume, backlog, resolutions, median time to resolve, SLA compliance and reopen rate
    per group, with a daily series (see docs/cases-stats.md). Staff and supervisors get
    their own department's figures; operators, analysts and admins everyone's."""
    scope = staff.stats_scope(user)
    grouping = stats.parse_group_by(by)
    start, end = stats.parse_period(date_from, date_to, timezone=settings.timezone)
    result = stats.case_stats(
        db, by=grouping, start=start, end=end, department_ids=scope, timezone=settings.timezone
    )
    return StatsRead.model_validate(result.as_dict())


@router.post("/bulk", response_model=BulkRead, summary="Acknowledge or assign many cases")
def bulk(
    body: BulkIn, db: SessionDep, settings: SettingsDep, actor: ActorDep, user: CurrentUser
) -> BulkRead:
    """Each case goes through the workflow; the answer says for each case whether it worked."""
    staff.require_queue(user)
    action = staff.parse_bulk_action(body.action)
    assignee = staff.find_assignee(db, email=body.assignee, user_id=body.assignee_id)
    report = staff.bulk(
        db,
        ids=body.ids,
        action=action,
        assignee=assignee,
        user=user,
        actor=actor,
        policy=CasePolicy.from_settings(settings),
    )
    return BulkRead.of(report)


@router.get("/{case_id:int}", response_model=CaseDetailRead, summary="One case, for staff")
def get_case(case_id: int, db: SessionDep, user: CurrentUser) -> CaseDetailRead:
    """The full record with the internal history; contact details only for its handlers."""
    staff.require_viewer(user)
    return _detail(db, workflow.get_case(db, case_id=case_id), user)


@router.post("/{case_id:int}/status", response_model=CaseDetailRead, summary="Change status")
def change_status(
    case_id: int,
    body: StatusChange,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
) -> CaseDetailRead:
    """Illegal moves get 409 naming the legal ones; resolving needs a note (400 without)."""
    case = workflow.get_case(db, case_id=case_id)
    workflow.change_status(
        db,
        case,
        to=body.status,
        note=body.note,
        public=body.public,
        close_reason=body.close_reason,
        photo_uploads=_photos(body.photos),
        user=user,
        actor=actor,
        policy=CasePolicy.from_settings(settings),
    )
    return _detail(db, case, user)


@router.post("/{case_id:int}/notes", response_model=CaseDetailRead, summary="Add a note")
def add_note(
    case_id: int,
    body: NoteIn,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
) -> CaseDetailRead:
    case = workflow.get_case(db, case_id=case_id)
    workflow.add_note(
        db,
        case,
        note=body.note,
        public=body.public,
        user=user,
        actor=actor,
        policy=CasePolicy.from_settings(settings),
    )
    return _detail(db, case, user)


@router.post("/{case_id:int}/transfer", response_model=CaseDetailRead, summary="Transfer")
def transfer(
    case_id: int,
    body: TransferIn,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
) -> CaseDetailRead:
    """Hand the case to another department with a reason; it is in their queue at once."""
    case = workflow.get_case(db, case_id=case_id)
    workflow.transfer(
        db,
        case,
        department_code=body.department.strip(),
        reason=body.reason,
        user=user,
        actor=actor,
        policy=CasePolicy.from_settings(settings),
    )
    return _detail(db, case, user)


@router.post("/{case_id:int}/assign", response_model=CaseDetailRead, summary="Assign")
def assign(
    case_id: int, body: AssignIn, db: SessionDep, actor: ActorDep, user: CurrentUser
) -> CaseDetailRead:
    """Give the case to a member of its department (neither email nor user_id: unassign)."""
    case = workflow.get_case(db, case_id=case_id)
    assignee = staff.find_assignee(db, email=body.email, user_id=body.user_id)
    workflow.assign(db, case, assignee=assignee, user=user, actor=actor)
    return _detail(db, case, user)


@router.post("/{case_id:int}/duplicate", response_model=CaseDetailRead, summary="Duplicate")
def mark_duplicate(
    case_id: int,
    body: DuplicateIn,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: CurrentUser,
) -> CaseDetailRead:
    """Close the case as a duplicate of ``original_id``; its followers move there."""
    case = workflow.get_case(db, case_id=case_id)
    workflow.mark_duplicate(
        db,
        case,
        original_id=body.original_id,
        note=body.note,
        user=user,
        actor=actor,
        policy=CasePolicy.from_settings(settings),
    )
    return _detail(db, case, user)
