"""The operations center's case figures: counts, SLA quality, open cases per area, an hourly
series, top categories, SLA per department and the recent cases for the map.

Every figure uses the definitions of :mod:`cityos.cases.stats` (a case is *open* in one of
the open statuses; *breached* when open and its running SLA clock is due, ``next_due_at <=
now``; *ended* when resolved or closed, ``resolved_at`` saying when) and is computed with
grouped SQL aggregates that the indexes of :class:`~cityos.cases.models.Case` serve
(``requested_at``, ``resolved_at``, ``(status, district_id, subdistrict_id, grid_id,
next_due_at)`` for open cases, read from the index alone):
only a few rows per figure leave the database (on SQLite, which has no median, the
durations of the cases resolved in the period do).

An area is given as an :class:`AreaFilter`: the level's column (``district_id``,
``subdistrict_id`` or ``grid_id``) equals the area's id; ``None`` is the whole city.
Periods are ``[start, end)`` in aware UTC datetimes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, and_, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cityos.auth import service as auth_service
from cityos.cases.models import Case, CaseStatus, Category
from cityos.cases.stats import (
    ENDED_VALUES,
    OPEN_VALUES,
    Ratio,
    count_of,
    dialect_of,
    seconds_between,
)
from cityos.errors import InvalidInput

LEVELS = ("district", "subdistrict", "grid")
MAX_HOURS = 24 * 62
TRIAGE = (None, "Triage (no department)", "待分派（无部门）")


@dataclass(frozen=True, slots=True)
class AreaFilter:
    """Cases inside one area: ``level`` is district, subdistrict or grid; ``area_id`` the
    area's id (``geo_areas.id``)."""

    level: str
    area_id: int


@dataclass(frozen=True, slots=True)
class BoardCounts:
    new: int  # requested in the period
    resolved: int  # resolved, resolved_at in the period
    closed: int  # closed, resolved_at in the period
    open_now: int
    breached_now: int  # open and past the running SLA clock's due time


@dataclass(frozen=True, slots=True)
class BoardQuality:
    resolved_within_sla: int  # ended in the period by resolve_due_at
    resolved_with_target: int  # ended in the period with a resolve target
    sla_pct: float | None
    median_hours_to_resolve: float | None  # over the cases resolved in the period
    reopened: int  # of the cases requested in the period, reopened at least once
    ended: int  # of the cases requested in the period, ended at least once
    reopen_pct: float | None


@dataclass(frozen=True, slots=True)
class AreaCount:
    open: int
    breached: int


@dataclass(frozen=True, slots=True)
class CategoryCount:
    service_code: str
    name_en: str
    name_zh: str
    count: int


@dataclass(frozen=True, slots=True)
class DepartmentSla:
    code: str | None  # None: the triage queue (no department)
    name_en: str
    name_zh: str
    met: int
    of: int
    pct: float | None


@dataclass(frozen=True, slots=True)
class CasePoint:
    id: int
    service_code: str
    name_en: str
    name_zh: str
    status: str
    priority: str
    lon: float
    lat: float
    requested_at: datetime
    department_id: int | None


# --- conditions ----------------------------------------------------------------------------


def level_column(level: str) -> Any:
    """The case column holding the id of the area of ``level``."""
    columns = {
        "district": Case.district_id,
        "subdistrict": Case.subdistrict_id,
        "grid": Case.grid_id,
    }
    try:
        return columns[level]
    except KeyError:
        raise InvalidInput(
            f"Unknown area level {level!r} for cases; use one of {', '.join(LEVELS)}."
        ) from None


def _scope(area: AreaFilter | None) -> list[ColumnElement[bool]]:
    if area is None:
        return []
    return [level_column(area.level) == area.area_id]


def _requested(start: datetime, end: datetime, area: AreaFilter | None) -> list[Any]:
    return [*_scope(area), Case.requested_at >= start, Case.requested_at < end]


def _ended(start: datetime, end: datetime, area: AreaFilter | None) -> list[Any]:
    return [
        *_scope(area),
        Case.status.in_(ENDED_VALUES),
        Case.resolved_at >= start,
        Case.resolved_at < end,
    ]


def _breached(now: datetime) -> ColumnElement[bool]:
    return and_(Case.next_due_at.is_not(None), Case.next_due_at <= now)


def _median_seconds(db_session: Session, where: Sequence[Any]) -> float | None:
    """The median seconds from request to resolution (see ``stats._medians``)."""
    seconds = seconds_between(db_session, Case.resolved_at, Case.requested_at)
    if dialect_of(db_session) == "postgresql":
        value = db_session.scalar(
            select(func.percentile_cont(0.5).within_group(seconds)).where(*where)
        )
        return None if value is None else float(value)
    durations = [float(v) for v in db_session.scalars(select(cast(seconds, Float)).where(*where))]
    return statistics.median(durations) if durations else None


# --- the figures ---------------------------------------------------------------------------


def board_counts(
    db_session: Session,
    *,
    start: datetime,
    end: datetime,
    area: AreaFilter | None,
    now: datetime,
    with_open: bool = True,
) -> BoardCounts:
    """New, resolved and closed cases in ``[start, end)``; open and breached ones at ``now``
    (left at 0 without ``with_open``: a previous period's counts need no second look)."""
    new = db_session.scalar(select(func.count()).where(*_requested(start, end, area)))
    ended = dict(
        db_session.execute(
            select(Case.status, func.count()).where(*_ended(start, end, area)).group_by(Case.status)
        ).all()
    )
    open_now, breached = 0, 0
    if with_open:
        open_now, breached = db_session.execute(
            select(func.count(), count_of(_breached(now))).where(
                *_scope(area), Case.status.in_(OPEN_VALUES)
            )
        ).one()
    return BoardCounts(
        new=int(new or 0),
        resolved=int(ended.get(CaseStatus.RESOLVED.value, 0)),
        closed=int(ended.get(CaseStatus.CLOSED.value, 0)),
        open_now=int(open_now),
        breached_now=int(breached),
    )


def board_quality(
    db_session: Session,
    *,
    start: datetime,
    end: datetime,
    area: AreaFilter | None,
    now: datetime,
) -> BoardQuality:
    """SLA compliance and median time to resolve of the cases ended in ``[start, end)``, and
    the reopen rate of those requested in it (the definitions of ``cases.stats``).

    ``now`` is accepted for symmetry with the other figures; these need no clock."""
    ended = _ended(start, end, area)
    with_target = Case.resolve_due_at.is_not(None)
    met, of = db_session.execute(
        select(
            count_of(and_(with_target, Case.resolved_at <= Case.resolve_due_at)),
            count_of(with_target),
        ).where(*ended)
    ).one()
    median = _median_seconds(db_session, [*ended, Case.status == CaseStatus.RESOLVED.value])
    ended_once = Case.status.in_(ENDED_VALUES) | (Case.reopen_count > 0)
    reopened, ended_count = db_session.execute(
        select(count_of(Case.reopen_count > 0), count_of(ended_once)).where(
            *_requested(start, end, area)
        )
    ).one()
    sla = Ratio(int(met), int(of))
    reopen = Ratio(int(reopened), int(ended_count))
    return BoardQuality(
        resolved_within_sla=sla.met,
        resolved_with_target=sla.of,
        sla_pct=sla.pct,
        median_hours_to_resolve=None if median is None else round(median / 3600, 2),
        reopened=reopen.met,
        ended=reopen.of,
        reopen_pct=reopen.pct,
    )


def open_by_area(
    db_session: Session,
    *,
    level: str,
    within: AreaFilter | None,
    now: datetime,
) -> dict[int, AreaCount]:
    """Open and breached cases at ``now`` per area of ``level`` (its id), inside ``within``.

    Areas without open cases are left out."""
    column = level_column(level)
    rows = db_session.execute(
        select(column, func.count(), count_of(_breached(now)))
        .where(*_scope(within), Case.status.in_(OPEN_VALUES), column.is_not(None))
        .group_by(column)
    )
    return {int(key): AreaCount(open=int(count), breached=int(late)) for key, count, late in rows}


def _hour_index(db_session: Session, start: datetime) -> Any:
    """Whole hours from ``start`` to ``requested_at`` (for cases requested at or after it)."""
    if dialect_of(db_session) == "postgresql":
        offset = func.extract("epoch", Case.requested_at) - start.timestamp()
        return cast(func.floor(offset / 3600), Integer)
    # whole seconds since the epoch; the period's cases are at or after start, so the
    # integer division is the floor
    seconds = cast(func.strftime("%s", Case.requested_at), Integer)
    return (seconds - int(start.timestamp())) // 3600


def hourly_counts(
    db_session: Session,
    *,
    start: datetime,
    hours: int,
    area: AreaFilter | None,
) -> list[int]:
    """Cases requested in each hour ``[start + i h, start + (i + 1) h)``, ``i < hours``."""
    if not 1 <= hours <= MAX_HOURS:
        raise InvalidInput(f"hours must be between 1 and {MAX_HOURS}, not {hours}.")
    bucket = _hour_index(db_session, start)
    end = start + timedelta(hours=hours)
    counts = [0] * hours
    for index, count in db_session.execute(
        select(bucket, func.count()).where(*_requested(start, end, area)).group_by(bucket)
    ):
        if 0 <= int(index) < hours:
            counts[int(index)] += int(count)
    return counts


def top_categories(
    db_session: Session,
    *,
    start: datetime,
    end: datetime,
    area: AreaFilter | None,
    limit: int = 10,
) -> list[CategoryCount]:
    """The categories with the most cases requested in ``[start, end)``, most first (ties by
    service code)."""
    counted = (
        select(Case.category_id, func.count().label("count"))
        .where(*_requested(start, end, area))
        .group_by(Case.category_id)
        .subquery()
    )
    rows = db_session.execute(
        select(Category.service_code, Category.name_en, Category.name_zh, counted.c.count)
        .join(counted, counted.c.category_id == Category.id)
        .order_by(counted.c.count.desc(), Category.service_code)
        .limit(max(limit, 0))
    )
    return [
        CategoryCount(service_code=code, name_en=en, name_zh=zh, count=int(count))
        for code, en, zh, count in rows
    ]


def sla_by_department(
    db_session: Session,
    *,
    start: datetime,
    end: datetime,
    area: AreaFilter | None,
    now: datetime,
) -> list[DepartmentSla]:
    """Per department, of the cases ended in ``[start, end)`` with a resolve target, how many
    ended by it (``resolved_within_sla`` of ``cases.stats``). Departments with none are left
    out; the triage queue (``code`` None) comes last. ``now`` is accepted for symmetry."""
    with_target = Case.resolve_due_at.is_not(None)
    rows = db_session.execute(
        select(
            Case.department_id,
            count_of(Case.resolved_at <= Case.resolve_due_at),
            func.count(),
        )
        .where(*_ended(start, end, area), with_target)
        .group_by(Case.department_id)
    ).all()
    labels: dict[int | None, tuple[str | None, str, str]] = {
        d.id: (d.code, d.name_en, d.name_zh) for d in auth_service.list_departments(db_session)
    }
    labels[None] = TRIAGE
    out = []
    for department_id, met, of in rows:
        code, name_en, name_zh = labels.get(
            department_id, (str(department_id), str(department_id), str(department_id))
        )
        ratio = Ratio(int(met), int(of))
        out.append(DepartmentSla(code, name_en, name_zh, ratio.met, ratio.of, ratio.pct))
    out.sort(key=lambda item: (item.code is None, item.code or ""))
    return out


def recent_cases(
    db_session: Session,
    *,
    start: datetime,
    end: datetime,
    area: AreaFilter | None,
    limit: int = 2000,
) -> tuple[list[CasePoint], int]:
    """The cases requested in ``[start, end)``, newest first (at most ``limit``), and how
    many there are in all."""
    where = _requested(start, end, area)
    total = db_session.scalar(select(func.count()).where(*where))
    rows = db_session.execute(
        select(
            Case.id,
            Category.service_code,
            Category.name_en,
            Category.name_zh,
            Case.status,
            Case.priority,
            Case.lon,
            Case.lat,
            Case.requested_at,
            Case.department_id,
        )
        .join(Category, Category.id == Case.category_id)
        .where(*where)
        .order_by(Case.requested_at.desc(), Case.id.desc())
        .limit(max(limit, 0))
    )
    points = [
        CasePoint(
            id=row.id,
            service_code=row.service_code,
            name_en=row.name_en,
            name_zh=row.name_zh,
            status=row.status,
            priority=row.priority,
            lon=row.lon,
            lat=row.lat,
            requested_at=row.requested_at,
            department_id=row.department_id,
        )
        for row in rows
    ]
    return points, int(total or 0)
