"""SLA clocks: when a case must be acknowledged and resolved, and whether it is at risk.

Targets come from the category, per priority (hours on the wall clock). A category without a
target for a priority falls back to its ``normal`` target, then to no clock at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cityos.cases.catalog_cache import CategoryInfo
from cityos.cases.models import Case, CaseStatus, Category


class SlaState(StrEnum):
    NONE = "none"  # no clock running (ended, or no target)
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True)
class Targets:
    acknowledge: timedelta | None
    resolve: timedelta | None


def targets(category: Category | CategoryInfo, priority: str) -> Targets:
    target = category.sla.get(priority) or category.sla.get("normal")
    if not target:
        return Targets(None, None)
    return Targets(
        timedelta(hours=float(target["acknowledge_hours"])),
        timedelta(hours=float(target["resolve_hours"])),
    )


def start_clocks(
    case: Case, category: Category | CategoryInfo, *, start: datetime, fraction: float
) -> None:
    """Set both due times from ``start`` (submission or reopening) and the running clock."""
    found = targets(category, case.priority)
    case.acknowledge_due_at = start + found.acknowledge if found.acknowledge else None
    case.resolve_due_at = start + found.resolve if found.resolve else None
    case.acknowledged_at = None
    _set_running(case, start=start, duration=found.acknowledge, fraction=fraction)


def on_acknowledged(
    case: Case, category: Category | CategoryInfo, *, now: datetime, fraction: float
) -> None:
    """The acknowledge clock stops; the resolve clock (already running) becomes the one shown."""
    if case.acknowledged_at is None:
        case.acknowledged_at = now
    found = targets(category, case.priority)
    start = case.resolve_due_at - found.resolve if case.resolve_due_at and found.resolve else now
    _set_running(case, start=start, duration=found.resolve, fraction=fraction, resolve=True)


def stop_clocks(case: Case) -> None:
    case.next_due_at = None
    case.sla_warn_at = None


def _set_running(
    case: Case,
    *,
    start: datetime,
    duration: timedelta | None,
    fraction: float,
    resolve: bool = False,
) -> None:
    due = case.resolve_due_at if resolve else case.acknowledge_due_at
    if due is None or duration is None:
        case.next_due_at = case.resolve_due_at if not resolve else None
        case.sla_warn_at = None
        return
    case.next_due_at = due
    case.sla_warn_at = start + duration * fraction


def state(case: Case, now: datetime) -> SlaState:
    if not CaseStatus(case.status).is_open or case.next_due_at is None:
        return SlaState.NONE
    if now >= case.next_due_at:
        return SlaState.BREACHED
    if case.sla_warn_at is not None and now >= case.sla_warn_at:
        return SlaState.AT_RISK
    return SlaState.OK


def clock_name(case: Case) -> str:
    """Which clock is running: acknowledge until acknowledged, then resolve."""
    return "acknowledge" if case.acknowledged_at is None else "resolve"
