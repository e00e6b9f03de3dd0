"""Finding cases: one filter used by Open311, the staff queue, exports and statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from cityos.cases.catalog import list_categories
from cityos.cases.models import OPEN_STATUSES, Case, CaseStatus
from cityos.db import utcnow
from cityos.errors import InvalidInput
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

MAX_PAGE_SIZE = 1000


class Order(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    UPDATED = "updated"
    SLA = "sla"  # least SLA time remaining first; cases without a running clock last


@dataclass(slots=True)
class CaseFilter:
    ids: Sequence[int] | None = None
    service_codes: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    is_open: bool | None = None
    requested_from: datetime | None = None
    requested_to: datetime | None = None
    updated_from: datetime | None = None
    department_ids: Sequence[int] | None = None
    triage: bool = False  # only cases no department owns
    area_code: str | None = None  # any level: the case lies inside this area
    sla: str | None = None  # ok / at_risk / breached
    assignee_id: int | None = None
    sources: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class CasePage:
    items: Sequence[Case]
    total: int | None
    page: int
    page_size: int


def _area_condition(db_session: Session, code: str) -> Any:
    area = geo_service.get_area(db_session, code=code)
    level = AreaLevel(area.level)
    if level is AreaLevel.CITY:
        return Case.area_id.is_not(None)
    column = {
        AreaLevel.DISTRICT: Case.district_id,
        AreaLevel.SUBDISTRICT: Case.subdistrict_id,
        AreaLevel.GRID: Case.grid_id,
    }[level]
    return column == area.id


def apply_filter(
    db_session: Session, query: Select[Any], selected: CaseFilter, *, now: datetime
) -> Select[Any]:
    """``query`` narrowed by every condition of ``selected`` (unknown codes raise)."""
    if selected.ids is not None:
        return query.where(Case.id.in_(list(selected.ids)))
    if selected.service_codes:
        by_code = {c.service_code: c.id for c in list_categories(db_session, include_inactive=True)}
        unknown = [code for code in selected.service_codes if code not in by_code]
        if unknown:
            raise InvalidInput(
                f"Unknown service_code {', '.join(unknown)}; see /open311/v2/services.json."
            )
        query = query.where(Case.category_id.in_([by_code[c] for c in selected.service_codes]))
    if selected.statuses:
        valid = {status.value for status in CaseStatus}
        wrong = [status for status in selected.statuses if status not in valid]
        if wrong:
            raise InvalidInput(
                f"Unknown status {', '.join(wrong)}; statuses are {', '.join(sorted(valid))}."
            )
        query = query.where(Case.status.in_(list(selected.statuses)))
    open_values = [status.value for status in OPEN_STATUSES]
    if selected.is_open is True:
        query = query.where(Case.status.in_(open_values))
    elif selected.is_open is False:
        query = query.where(Case.status.not_in(open_values))
    if selected.requested_from is not None:
        query = query.where(Case.requested_at >= selected.requested_from)
    if selected.requested_to is not None:
        query = query.where(Case.requested_at <= selected.requested_to)
    if selected.updated_from is not None:
        query = query.where(Case.updated_at >= selected.updated_from)
    if selected.triage:
        query = query.where(Case.department_id.is_(None))
    elif selected.department_ids is not None:
        query = query.where(Case.department_id.in_(list(selected.department_ids)))
    if selected.area_code:
        query = query.where(_area_condition(db_session, selected.area_code))
    if selected.assignee_id is not None:
        query = query.where(Case.assignee_id == selected.assignee_id)
    if selected.sources:
        query = query.where(Case.source.in_(list(selected.sources)))
    if selected.sla:
        query = query.where(Case.status.in_(open_values), _sla_condition(selected.sla, now))
    return query


def _sla_condition(value: str, now: datetime) -> Any:
    if value == "breached":
        return Case.next_due_at <= now
    if value == "at_risk":
        return and_(Case.sla_warn_at <= now, Case.next_due_at > now)
    if value == "ok":
        return or_(
            Case.next_due_at.is_(None),
            and_(Case.next_due_at > now, or_(Case.sla_warn_at.is_(None), Case.sla_warn_at > now)),
        )
    raise InvalidInput(f"Unknown SLA filter {value!r}; use ok, at_risk or breached.")


def search_cases(
    db_session: Session,
    selected: CaseFilter,
    *,
    page: int = 1,
    page_size: int = 50,
    order: Order = Order.NEWEST,
    count: bool = True,
    now: datetime | None = None,
) -> CasePage:
    """One page of the cases matching ``selected``, with the total when ``count``."""
    now = now or utcnow()
    if page < 1:
        raise InvalidInput("page starts at 1.")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
    query = apply_filter(db_session, select(Case), selected, now=now)
    ordering: list[Any] = {
        Order.NEWEST: [Case.requested_at.desc(), Case.id.desc()],
        Order.OLDEST: [Case.requested_at.asc(), Case.id.asc()],
        Order.UPDATED: [Case.updated_at.desc(), Case.id.desc()],
        Order.SLA: [Case.next_due_at.is_(None), Case.next_due_at.asc(), Case.id.asc()],
    }[order]
    items = db_session.scalars(
        query.order_by(*ordering).limit(page_size).offset((page - 1) * page_size)
    ).all()
    total = None
    if count:
        counted = apply_filter(db_session, select(func.count(Case.id)), selected, now=now)
        total = int(db_session.scalar(counted) or 0)
    return CasePage(items=items, total=total, page=page, page_size=page_size)
