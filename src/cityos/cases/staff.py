"""Department staff's work: who sees which cases, the queue's filters, bulk actions, SLA facts.

The staff pages (``staff_views``) and the staff JSON API (``staff_api``) both call these
functions, so the two always scope, filter and act alike. Every change to a case goes
through the workflow functions (history, audit and permission checks included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import Department, Role, User
from cityos.cases import sla
from cityos.cases.intake import CasePolicy, Nearby, nearby_open
from cityos.cases.models import Case, CaseFollower, CaseStatus
from cityos.cases.queries import MAX_PAGE_SIZE, CaseFilter, Order, search_cases
from cityos.cases.stats import city_zone, parse_moment
from cityos.cases.workflow import assign, change_status, get_case
from cityos.db import utcnow
from cityos.errors import CityOSError, Forbidden, InvalidInput

QUEUE_ROLES = (Role.STAFF, Role.SUPERVISOR, Role.OPERATOR)  # admins always
VIEW_ROLES = (*QUEUE_ROLES, Role.ANALYST)
STATUS_CHOICES = ("open", "ended", "all", *(status.value for status in CaseStatus))
SLA_CHOICES = ("ok", "at_risk", "breached")
TRIAGE = "triage"
MAP_LIMIT = MAX_PAGE_SIZE
BULK_LIMIT = 500


def sees_all(user: User) -> bool:
    """Operators and admins see every department's cases and the triage queue."""
    return user.has_role(Role.OPERATOR)


def require_queue(user: User) -> None:
    if not user.has_role(*QUEUE_ROLES):
        raise Forbidden("The work queue is for department staff, supervisors and operators.")
    if not sees_all(user) and user.department_id is None:
        raise Forbidden(
            "Your account belongs to no department, so it has no work queue; ask an "
            "administrator to set your department."
        )


def require_viewer(user: User) -> None:
    if not user.has_role(*VIEW_ROLES):
        raise Forbidden("Case records are for staff, supervisors, operators and analysts.")


def stats_scope(user: User) -> list[int] | None:
    """The departments whose statistics ``user`` may read (None: all of them)."""
    if user.has_role(Role.OPERATOR, Role.ANALYST):
        return None
    if user.has_role(Role.STAFF, Role.SUPERVISOR) and user.department_id is not None:
        return [user.department_id]
    raise Forbidden(
        "Case statistics are for operators, analysts and admins, and for staff of a "
        "department (their own department's)."
    )


# --- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """The queue's filters, checked. ``department``: a code or ``triage`` (operators)."""

    status: str = "open"
    service_code: str | None = None
    area_code: str | None = None
    sla: str | None = None
    requested_from: datetime | None = None
    requested_to: datetime | None = None
    mine: bool = False
    department: str | None = None
    order: Order = Order.SLA


def parse_queue(
    *,
    status: str = "open",
    category: str = "",
    area: str = "",
    sla_risk: str = "",
    date_from: str = "",
    date_to: str = "",
    mine: bool = False,
    department: str = "",
    sort: str = "",
    timezone: str = "UTC",
) -> QueueQuery:
    """The queue's filters from text (query strings); dates are the city's local days."""
    status = status.strip() or "open"
    if status not in STATUS_CHOICES:
        raise InvalidInput(f"Unknown status filter {status!r}; use {', '.join(STATUS_CHOICES)}.")
    risk = sla_risk.strip() or None
    if risk is not None and risk not in SLA_CHOICES:
        raise InvalidInput(f"Unknown SLA filter {risk!r}; use {', '.join(SLA_CHOICES)}.")
    try:
        order = Order(sort.strip() or Order.SLA.value)
    except ValueError:
        raise InvalidInput(
            f"Unknown sort {sort!r}; use {', '.join(o.value for o in Order)}."
        ) from None
    zone = city_zone(timezone)
    start = parse_moment(date_from, zone, name="from", end=False) if date_from.strip() else None
    stop = parse_moment(date_to, zone, name="to", end=True) if date_to.strip() else None
    if start and stop and stop <= start:
        raise InvalidInput("The date range ends before it starts; 'from' must come first.")
    return QueueQuery(
        status=status,
        service_code=category.strip() or None,
        area_code=area.strip() or None,
        sla=risk,
        requested_from=start,
        requested_to=stop - timedelta(microseconds=1) if stop else None,
        mine=mine,
        department=department.strip() or None,
        order=order,
    )


def queue_filter(db_session: Session, user: User, query: QueueQuery) -> CaseFilter:
    """The filter of ``query`` limited to what ``user`` may see in the queue."""
    require_queue(user)
    selected = CaseFilter(
        service_codes=[query.service_code] if query.service_code else None,
        requested_from=query.requested_from,
        requested_to=query.requested_to,
        area_code=query.area_code,
        sla=query.sla,
        assignee_id=user.id if query.mine else None,
    )
    if query.status == "open":
        selected.is_open = True
    elif query.status == "ended":
        selected.is_open = False
    elif query.status != "all":
        selected.statuses = [query.status]
    if not sees_all(user):
        if query.department and query.department != _own_code(user):
            raise Forbidden("Staff see their own department's queue only.")
        selected.department_ids = [user.department_id] if user.department_id else []
    elif query.department == TRIAGE:
        selected.triage = True
    elif query.department:
        department = auth_service.get_department(db_session, code=query.department)
        selected.department_ids = [department.id]
    return selected


def _own_code(user: User) -> str | None:
    return user.department.code if user.department else None


@dataclass(frozen=True, slots=True)
class MapPoints:
    cases: Sequence[Case]
    total: int
    truncated: bool


def map_points(
    db_session: Session, selected: CaseFilter, *, now: datetime, limit: int = MAP_LIMIT
) -> MapPoints:
    """The filtered cases for a map, most urgent first, at most ``limit`` of them."""
    found = search_cases(db_session, selected, page_size=limit, order=Order.SLA, now=now)
    total = found.total or 0
    return MapPoints(found.items, total, total > len(found.items))


# --- facts about one case ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaView:
    """The running clock of a case: its state, which clock, when due, the time left."""

    state: sla.SlaState
    clock: str | None
    due_at: datetime | None
    remaining: timedelta | None  # negative when overdue


def sla_view(case: Case, now: datetime) -> SlaView:
    state = sla.state(case, now)
    if state is sla.SlaState.NONE or case.next_due_at is None:
        return SlaView(state, None, None, None)
    return SlaView(state, sla.clock_name(case), case.next_due_at, case.next_due_at - now)


@dataclass(frozen=True, slots=True)
class AttributeRow:
    """One answer to a category question, with the question and the answer's labels."""

    code: str
    label_en: str
    label_zh: str
    value: object
    shown_en: str
    shown_zh: str


def attribute_rows(case: Case) -> list[AttributeRow]:
    """The case's attributes in the category's order (unknown codes last, as stored)."""
    rows: list[AttributeRow] = []
    given = dict(case.attributes or {})
    for definition in case.category.attributes:
        if definition.code not in given:
            continue
        value = given.pop(definition.code)
        names = {item["key"]: item for item in definition.values}
        items = value if isinstance(value, list) else [value]
        shown = {
            lang: ", ".join(str(names.get(str(v), {}).get(f"name_{lang}") or v) for v in items)
            for lang in ("en", "zh")
        }
        rows.append(
            AttributeRow(
                code=definition.code,
                label_en=definition.description_en or definition.code,
                label_zh=definition.description_zh or definition.description_en or definition.code,
                value=value,
                shown_en=shown["en"],
                shown_zh=shown["zh"],
            )
        )
    for code, value in given.items():
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        rows.append(AttributeRow(code, code, code, value, text, text))
    return rows


def followers_count(db_session: Session, case: Case) -> int:
    found = db_session.scalar(
        select(func.count(CaseFollower.id)).where(CaseFollower.case_id == case.id)
    )
    return int(found or 0)


def department_of(db_session: Session, case: Case) -> Department | None:
    if case.department_id is None:
        return None
    return auth_service.get_department_by_id(db_session, department_id=case.department_id)


def assignable_users(db_session: Session, case: Case) -> list[User]:
    """People of the case's department who can work on it."""
    if case.department_id is None:
        return []
    members = auth_service.list_department_users(db_session, department_id=case.department_id)
    return sorted(
        (m for m in members if m.has_role(Role.STAFF, Role.SUPERVISOR)), key=lambda m: m.email
    )


def duplicate_candidates(db_session: Session, case: Case, *, limit: int = 10) -> list[Nearby]:
    """Open cases of the same category near this one (within 4× its duplicate radius)."""
    radius = max(case.category.duplicate_radius_m * 4, 200.0)
    found = nearby_open(
        db_session,
        service_code=case.category.service_code,
        lon=case.lon,
        lat=case.lat,
        radius_m=radius,
        limit=limit + 1,
    )
    return [item for item in found if item.case.id != case.id][:limit]


def find_assignee(
    db_session: Session, *, email: str | None = None, user_id: int | None = None
) -> User | None:
    """The person named by id or e-mail (None when neither is given: unassign)."""
    if user_id is not None:
        person = auth_service.get_user(db_session, user_id=user_id)
    elif email and email.strip():
        person = auth_service.get_user_by_email(db_session, email=email)
    else:
        return None
    if not person.is_active:
        raise InvalidInput(f"{person.email} is deactivated; choose an active colleague.")
    return person


# --- bulk actions ------------------------------------------------------------------------


class BulkAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"


@dataclass(frozen=True, slots=True)
class BulkResult:
    case_id: int
    ok: bool
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class BulkReport:
    action: BulkAction
    results: list[BulkResult]

    @property
    def succeeded(self) -> list[int]:
        return [result.case_id for result in self.results if result.ok]

    @property
    def failed(self) -> list[BulkResult]:
        return [result for result in self.results if not result.ok]


def parse_bulk_action(value: str) -> BulkAction:
    try:
        return BulkAction(value.strip())
    except ValueError:
        raise InvalidInput(
            f"Unknown bulk action {value!r}; use {', '.join(a.value for a in BulkAction)}."
        ) from None


def bulk(
    db_session: Session,
    *,
    ids: Sequence[int],
    action: BulkAction,
    assignee: User | None,
    user: User,
    actor: Actor,
    policy: CasePolicy,
    now: datetime | None = None,
) -> BulkReport:
    """Acknowledge or assign each case in turn; a case that fails does not stop the others.

    Each case goes through the workflow (its permission check, history entry and audit
    entry). The workflow refuses before changing anything, so a failed case is untouched.
    """
    now = now or utcnow()
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise InvalidInput("Choose at least one case.")
    if len(wanted) > BULK_LIMIT:
        raise InvalidInput(f"{len(wanted)} cases chosen; at most {BULK_LIMIT} at a time.")
    if action is BulkAction.ASSIGN and assignee is None:
        raise InvalidInput("Choose the person to assign the cases to.")
    results: list[BulkResult] = []
    for case_id in wanted:
        try:
            case = get_case(db_session, case_id=case_id)
            if action is BulkAction.ACKNOWLEDGE:
                change_status(
                    db_session,
                    case,
                    to=CaseStatus.ACKNOWLEDGED.value,
                    user=user,
                    actor=actor,
                    policy=policy,
                    now=now,
                )
            else:
                assign(db_session, case, assignee=assignee, user=user, actor=actor, now=now)
        except CityOSError as error:
            results.append(BulkResult(case_id, False, error.code, error.message))
        else:
            results.append(BulkResult(case_id, True))
    return BulkReport(action, results)
