"""Counts and SLA compliance of cases per department, category or district, and a daily series.

The operations center and the assessment module read these numbers, so the shape of
:class:`CaseStats` and of :meth:`CaseStats.as_dict` is stable (documented in
docs/cases-stats.md). The period is ``[start, end)`` in UTC instants. Each figure belongs to
one of three groups of cases:

*Requested in the period* (``start <= requested_at < end``)
    ``volume``: how many; ``acknowledged_within_sla``: of those with an acknowledge target
    that were acknowledged or whose acknowledge time is up (``acknowledge_due``), how many
    were acknowledged by the due time; ``reopened``: of those that ended at least once
    (``ended``: resolved or closed now, or reopened before), how many were reopened.

*Ended in the period* (resolved or closed now, ``start <= resolved_at < end``)
    ``resolved`` and ``closed`` counts; ``median_hours_to_resolve`` from ``requested_at`` to
    ``resolved_at`` over the resolved ones; ``resolved_within_sla``: of the resolved and
    closed with a resolve target (``resolved_with_target``), how many ended by
    ``resolve_due_at``.

*Open now* (at ``now``, whatever the period)
    ``backlog``: open cases; ``breached_open``: open cases whose running SLA clock is past due.

Percentages are rounded to one decimal and ``None`` when nothing was counted; the counts
they come from are given too, so consumers can add groups up. Days of the daily series are
the city's local days (``timezone``); a case requested or ended on a day counts on that day.

Everything is computed with grouped SQL aggregates (the median with ``percentile_cont`` on
PostgreSQL), so only a few rows per group leave the database; on SQLite, which has no
median, the durations of the cases resolved in the period are fetched (one number each).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Float, Integer, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cityos.auth import service as auth_service
from cityos.cases.catalog import list_categories
from cityos.cases.models import OPEN_STATUSES, Case, CaseStatus
from cityos.db import utcnow
from cityos.errors import InvalidInput
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

DEFAULT_DAYS = 30
MAX_DAYS = 1100  # about three years of daily points
BUCKET_SECONDS = 900  # the daily series is counted in quarter hours, then put on local days
OPEN_VALUES = tuple(status.value for status in OPEN_STATUSES)
ENDED_VALUES = (CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value)


class GroupBy(StrEnum):
    DEPARTMENT = "department"
    CATEGORY = "category"
    DISTRICT = "district"


def parse_group_by(value: str) -> GroupBy:
    try:
        return GroupBy(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"Cannot group by {value!r}; use {', '.join(g.value for g in GroupBy)}."
        ) from None


@dataclass(frozen=True, slots=True)
class Ratio:
    """``met`` of ``of`` cases; ``pct`` is the percentage rounded to one decimal."""

    met: int
    of: int

    @property
    def pct(self) -> float | None:
        return round(100.0 * self.met / self.of, 1) if self.of else None


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The figures of one department, category or district (``key`` None: none of them)."""

    key: str | None
    name_en: str
    name_zh: str
    volume: int = 0
    backlog: int = 0
    breached_open: int = 0
    resolved: int = 0
    closed: int = 0
    median_hours_to_resolve: float | None = None
    resolved_within_sla: Ratio = field(default_factory=lambda: Ratio(0, 0))
    acknowledged_within_sla: Ratio = field(default_factory=lambda: Ratio(0, 0))
    reopened: Ratio = field(default_factory=lambda: Ratio(0, 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name_en": self.name_en,
            "name_zh": self.name_zh,
            "volume": self.volume,
            "backlog": self.backlog,
            "breached_open": self.breached_open,
            "resolved": self.resolved,
            "closed": self.closed,
            "median_hours_to_resolve": self.median_hours_to_resolve,
            "resolved_within_sla_pct": self.resolved_within_sla.pct,
            "resolved_within_sla": self.resolved_within_sla.met,
            "resolved_with_target": self.resolved_within_sla.of,
            "acknowledged_within_sla_pct": self.acknowledged_within_sla.pct,
            "acknowledged_within_sla": self.acknowledged_within_sla.met,
            "acknowledge_due": self.acknowledged_within_sla.of,
            "reopen_rate_pct": self.reopened.pct,
            "reopened": self.reopened.met,
            "ended": self.reopened.of,
        }


@dataclass(frozen=True, slots=True)
class DailyPoint:
    day: date
    opened: int
    resolved: int
    closed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "opened": self.opened,
            "resolved": self.resolved,
            "closed": self.closed,
        }


@dataclass(frozen=True, slots=True)
class CaseStats:
    by: GroupBy
    start: datetime
    end: datetime
    generated_at: datetime
    timezone: str
    totals: GroupStats
    groups: list[GroupStats]
    daily: list[DailyPoint]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``GET /api/cases/stats``); see docs/cases-stats.md."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "by": self.by.value,
            "timezone": self.timezone,
            "generated_at": self.generated_at.isoformat(),
            "totals": self.totals.as_dict(),
            "groups": [group.as_dict() for group in self.groups],
            "daily": [point.as_dict() for point in self.daily],
        }


# --- the period --------------------------------------------------------------------------


def city_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{name!r} is not a time zone name such as Asia/Shanghai.") from None


def parse_moment(text: str, zone: ZoneInfo, *, name: str, end: bool) -> datetime:
    """A UTC instant from a date (a local day's start; the next day's for an ``end``) or an
    ISO 8601 date-time (local time when it has no offset)."""
    value = text.strip()
    try:
        if len(value) == 10:  # a date: the start of that local day (of the next one for `to`)
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise InvalidInput(
            f"{name} must be a date (2026-03-01) or an ISO 8601 date-time "
            f"(2026-03-01T08:00:00+08:00), not {text!r}."
        ) from None
    return moment.astimezone(UTC)


def parse_period(
    start: str | None,
    end: str | None,
    *,
    timezone: str,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """``[start, end)`` from text: dates are local days of ``timezone`` (``end`` inclusive).

    Missing ``end``: now; missing ``start``: 30 days before ``end``.
    """
    zone = city_zone(timezone)
    now = now or utcnow()
    stop = parse_moment(end, zone, name="to", end=True) if end and end.strip() else now
    begin = (
        parse_moment(start, zone, name="from", end=False)
        if start and start.strip()
        else stop - timedelta(days=DEFAULT_DAYS)
    )
    check_period(begin, stop)
    return begin, stop


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("The period's times need a time zone.")
    if end <= start:
        raise InvalidInput(
            f"The period ends ({end.isoformat()}) before it starts ({start.isoformat()}); "
            "'from' must come before 'to'."
        )
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidInput(f"The period is longer than {MAX_DAYS} days; choose a shorter one.")


# --- the figures -------------------------------------------------------------------------


def _group_column(by: GroupBy) -> Any:
    return {
        GroupBy.DEPARTMENT: Case.department_id,
        GroupBy.CATEGORY: Case.category_id,
        GroupBy.DISTRICT: Case.district_id,
    }[by]


def _labels(db_session: Session, by: GroupBy) -> dict[int | None, tuple[str | None, str, str]]:
    """Group id → (key, English name, Chinese name)."""
    if by is GroupBy.DEPARTMENT:
        labels: dict[int | None, tuple[str | None, str, str]] = {
            d.id: (d.code, d.name_en, d.name_zh) for d in auth_service.list_departments(db_session)
        }
        labels[None] = (None, "Triage (no department)", "待分派（无部门）")
    elif by is GroupBy.CATEGORY:
        labels = {
            c.id: (c.service_code, c.name_en, c.name_zh)
            for c in list_categories(db_session, include_inactive=True)
        }
    else:
        labels = {
            a.id: (a.code, a.name_en, a.name_zh)
            for a in geo_service.list_areas(db_session, level=AreaLevel.DISTRICT)
        }
        labels[None] = (None, "Outside any district", "不属于任何区")
    return labels


def count_of(condition: ColumnElement[bool]) -> Any:
    """SQL: how many rows meet ``condition`` (0 when none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def seconds_between(db_session: Session, later: Any, earlier: Any) -> Any:
    """SQL: seconds from ``earlier`` to ``later`` (PostgreSQL or SQLite)."""
    if dialect_of(db_session) == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _epoch_bucket(db_session: Session, column: Any) -> Any:
    if dialect_of(db_session) == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / BUCKET_SECONDS), Integer)
    return cast(func.strftime("%s", column), Integer) // BUCKET_SECONDS


def dialect_of(db_session: Session) -> str:
    """The database's dialect name (``postgresql`` or ``sqlite``)."""
    return db_session.get_bind().dialect.name


def _grouped(db_session: Session, group: Any, *columns: Any, where: Sequence[Any]) -> list[Any]:
    """Rows ``(group key, *columns)``, one per group."""
    return list(db_session.execute(select(group, *columns).where(*where).group_by(group)))


def _medians(
    db_session: Session, group: Any, where: Sequence[ColumnElement[bool]]
) -> tuple[dict[Any, float], float | None]:
    """Median seconds from request to resolution per group, and over all groups.

    PostgreSQL computes them (``percentile_cont``); SQLite has no median, so only the
    durations leave the database (one number per resolved case) and Python takes the median.
    """
    seconds = seconds_between(db_session, Case.resolved_at, Case.requested_at)
    if dialect_of(db_session) == "postgresql":
        median = func.percentile_cont(0.5).within_group(seconds)
        rows = _grouped(db_session, group, median, where=where)
        overall = db_session.scalar(select(median).where(*where))
        per_group = {key: float(value) for key, value in rows if value is not None}
        return per_group, None if overall is None else float(overall)
    durations: dict[Any, list[float]] = {}
    for key, value in db_session.execute(select(group, cast(seconds, Float)).where(*where)):
        durations.setdefault(key, []).append(float(value))
    every = [value for values in durations.values() for value in values]
    per_group = {key: statistics.median(values) for key, values in durations.items()}
    return per_group, statistics.median(every) if every else None


@dataclass(slots=True)
class _Tally:
    volume: int = 0
    backlog: int = 0
    breached_open: int = 0
    resolved: int = 0
    closed: int = 0
    median_seconds: float | None = None
    resolve_met: int = 0
    resolve_of: int = 0
    ack_met: int = 0
    ack_of: int = 0
    reopened: int = 0
    ended: int = 0

    def add(self, other: _Tally) -> None:
        """Add ``other``'s counts (not its median: medians do not add up)."""
        for name in (
            "volume",
            "backlog",
            "breached_open",
            "resolved",
            "closed",
            "resolve_met",
            "resolve_of",
            "ack_met",
            "ack_of",
            "reopened",
            "ended",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def stats(self, key: str | None, name_en: str, name_zh: str) -> GroupStats:
        median = None if self.median_seconds is None else round(self.median_seconds / 3600, 2)
        return GroupStats(
            key=key,
            name_en=name_en,
            name_zh=name_zh,
            volume=self.volume,
            backlog=self.backlog,
            breached_open=self.breached_open,
            resolved=self.resolved,
            closed=self.closed,
            median_hours_to_resolve=median,
            resolved_within_sla=Ratio(self.resolve_met, self.resolve_of),
            acknowledged_within_sla=Ratio(self.ack_met, self.ack_of),
            reopened=Ratio(self.reopened, self.ended),
        )


def _tally(
    db_session: Session,
    group: Any,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    scope: list[ColumnElement[bool]],
) -> tuple[dict[Any, _Tally], _Tally]:
    """The figures per group, and over all groups."""
    tallies: dict[Any, _Tally] = {}

    def get(key: Any) -> _Tally:
        return tallies.setdefault(key, _Tally())

    requested = [*scope, Case.requested_at >= start, Case.requested_at < end]
    ack_due = and_(
        Case.acknowledge_due_at.is_not(None),
        or_(Case.acknowledged_at.is_not(None), Case.acknowledge_due_at <= now),
    )
    ack_met = and_(
        Case.acknowledge_due_at.is_not(None),
        Case.acknowledged_at.is_not(None),
        Case.acknowledged_at <= Case.acknowledge_due_at,
    )
    ended_once = or_(Case.status.in_(ENDED_VALUES), Case.reopen_count > 0)
    for key, volume, met, due, reopened, ended in _grouped(
        db_session,
        group,
        func.count(),
        count_of(ack_met),
        count_of(ack_due),
        count_of(Case.reopen_count > 0),
        count_of(ended_once),
        where=requested,
    ):
        tally = get(key)
        tally.volume, tally.ack_met, tally.ack_of = int(volume), int(met), int(due)
        tally.reopened, tally.ended = int(reopened), int(ended)

    ended = [
        *scope,
        Case.status.in_(ENDED_VALUES),
        Case.resolved_at >= start,
        Case.resolved_at < end,
    ]
    with_target = Case.resolve_due_at.is_not(None)
    for key, resolved, closed, met, of in _grouped(
        db_session,
        group,
        count_of(Case.status == CaseStatus.RESOLVED.value),
        count_of(Case.status == CaseStatus.CLOSED.value),
        count_of(and_(with_target, Case.resolved_at <= Case.resolve_due_at)),
        count_of(with_target),
        where=ended,
    ):
        tally = get(key)
        tally.resolved, tally.closed = int(resolved), int(closed)
        tally.resolve_met, tally.resolve_of = int(met), int(of)

    fixed = [*ended, Case.status == CaseStatus.RESOLVED.value]
    medians, overall = _medians(db_session, group, fixed)
    for key, seconds in medians.items():
        get(key).median_seconds = seconds

    for key, backlog, breached in _grouped(
        db_session,
        group,
        func.count(),
        count_of(and_(Case.next_due_at.is_not(None), Case.next_due_at <= now)),
        where=[*scope, Case.status.in_(OPEN_VALUES)],
    ):
        tally = get(key)
        tally.backlog, tally.breached_open = int(backlog), int(breached)
    totals = _Tally(median_seconds=overall)
    for tally in tallies.values():
        totals.add(tally)
    return tallies, totals


def _daily(
    db_session: Session,
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    scope: list[ColumnElement[bool]],
) -> list[DailyPoint]:
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    days = {first + timedelta(days=n): [0, 0, 0] for n in range((last - first).days + 1)}

    def add(rows: Any, index: int) -> None:
        for bucket, count in rows:
            day = datetime.fromtimestamp(int(bucket) * BUCKET_SECONDS, zone).date()
            if day in days:
                days[day][index] += int(count)

    opened = _epoch_bucket(db_session, Case.requested_at)
    add(
        db_session.execute(
            select(opened, func.count())
            .where(*scope, Case.requested_at >= start, Case.requested_at < end)
            .group_by(opened)
        ),
        0,
    )
    ended = _epoch_bucket(db_session, Case.resolved_at)
    rows = db_session.execute(
        select(ended, Case.status, func.count())
        .where(
            *scope, Case.status.in_(ENDED_VALUES), Case.resolved_at >= start, Case.resolved_at < end
        )
        .group_by(ended, Case.status)
    ).all()
    for index, status in ((1, CaseStatus.RESOLVED), (2, CaseStatus.CLOSED)):
        add([(bucket, count) for bucket, kind, count in rows if kind == status.value], index)
    return [DailyPoint(day, *counts) for day, counts in sorted(days.items())]


def case_stats(
    db_session: Session,
    *,
    by: GroupBy = GroupBy.DEPARTMENT,
    start: datetime | None = None,
    end: datetime | None = None,
    department_ids: Sequence[int] | None = None,
    timezone: str = "Asia/Shanghai",
    now: datetime | None = None,
) -> CaseStats:
    """Counts and SLA compliance for ``[start, end)`` (default: the 30 days before ``now``).

    ``department_ids`` limits every figure to those departments' cases (a department's
    staff see their own). Groups with no case in any figure are left out; ``totals`` covers
    every case in scope.
    """
    now = now or utcnow()
    end = end or now
    start = start or end - timedelta(days=DEFAULT_DAYS)
    check_period(start, end)
    zone = city_zone(timezone)
    scope: list[ColumnElement[bool]] = []
    if department_ids is not None:
        scope.append(Case.department_id.in_(list(department_ids)))
    grouped, overall = _tally(
        db_session, _group_column(by), start=start, end=end, now=now, scope=scope
    )
    labels = _labels(db_session, by)
    groups = []
    for key, tally in grouped.items():
        code, name_en, name_zh = labels.get(key, (str(key), str(key), str(key)))
        groups.append(tally.stats(code, name_en, name_zh))
    groups.sort(key=lambda group: (group.key is None, group.key or ""))
    totals = overall.stats(None, "All cases", "全部案件")
    return CaseStats(
        by=by,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        generated_at=now.astimezone(UTC),
        timezone=timezone,
        totals=totals,
        groups=groups,
        daily=_daily(db_session, start=start, end=end, zone=zone, scope=scope),
    )
