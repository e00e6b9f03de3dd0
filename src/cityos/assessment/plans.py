"""Plans: problem → goal → countermeasure → plan → verification, for one unit.

A plan holds targets (an indicator's baseline and stage targets) and countermeasures (actions
or projects, each owned by a department). Progress is verified from the latest value of each
target's indicator — a stored value, or the live value now for live indicators — against
the path through the stage targets:

- ``expected(year)`` interpolates between the last point at or before ``year`` (the
  baseline or a stage) and the next stage (past every stage: the last stage's value);
- the *expected change* is ``expected − baseline`` and the *progress* ``latest − baseline``,
  both multiplied by the direction (+1 higher is better, −1 lower is better);
- ``on_track`` when progress ≥ expected change; ``at_risk`` when progress ≥
  :data:`AT_RISK_SHARE` (75 %) of the expected change; else ``off_track``;
- ``no_data`` when there is no value after the baseline year.

The direction is the indicator's in the plan's framework, else the live metric's, else the
sign of (last stage − baseline). The pure rules live in :mod:`cityos.assessment.verification`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.assessment import library
from cityos.assessment.framework import Framework, Indicator, SourceKind
from cityos.assessment.live import LIVE_SOURCE, live_values
from cityos.assessment.live_metrics import LIVE_METRICS
from cityos.assessment.models import (
    Countermeasure,
    IndicatorValue,
    MeasureStatus,
    Plan,
    PlanTarget,
)
from cityos.assessment.units import check_code, get_unit
from cityos.assessment.values import MAX_YEAR, MIN_YEAR
from cityos.assessment.verification import (
    Observation,
    Stage,
    Status,
    TargetProgress,
    verify,
)
from cityos.audit.service import Actor, record
from cityos.auth import service as auth_service
from cityos.db import utcnow
from cityos.errors import CityOSError, InvalidInput, NotFound

# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetInput:
    """A target to add or replace. ``baseline_value`` None: the stored value of the unit for
    ``baseline_year``."""

    indicator_code: str
    baseline_year: int
    stages: Sequence[Stage]
    baseline_value: float | None = None
    problem: str = ""
    goal: str = ""


@dataclass(frozen=True, slots=True)
class MeasureInput:
    title: str
    department_code: str | None = None
    target_id: int | None = None
    status: str = MeasureStatus.PLANNED
    link: str = ""
    notes: str = ""
    due_date: date | None = None


@dataclass(slots=True)
class _Problems:
    items: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self, what: str) -> None:
        if self.items:
            raise InvalidInput(
                f"Fix the {what}: " + "; ".join(self.items) + ".", details=list(self.items)
            )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_target(target: TargetInput, problems: _Problems) -> None:
    code_problem = check_code(target.indicator_code, "indicator code")
    if code_problem:
        problems.add(code_problem)
    if not MIN_YEAR <= target.baseline_year <= MAX_YEAR:
        problems.add(f"the baseline year {target.baseline_year} is not a plausible year")
    if target.baseline_value is not None and not _finite(target.baseline_value):
        problems.add(f"the baseline value {target.baseline_value!r} is not a finite number")
    if not target.stages:
        problems.add("give at least one stage target (year and value)")
    previous = target.baseline_year
    for stage in target.stages:
        if not _finite(stage.value):
            problems.add(f"the stage value {stage.value!r} of {stage.year} is not a finite number")
        if stage.year <= previous:
            problems.add(
                f"stage years must rise after the baseline year {target.baseline_year}; "
                f"{stage.year} comes after {previous}"
            )
        previous = max(previous, stage.year)


# --- plans -----------------------------------------------------------------------------------


def list_plans(db_session: Session, *, unit_code: str | None = None) -> list[Plan]:
    query = select(Plan).order_by(Plan.id)
    if unit_code:
        query = query.where(Plan.unit_code == unit_code)
    return list(db_session.scalars(query))


def get_plan(db_session: Session, *, plan_id: int) -> Plan:
    plan = db_session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"There is no plan {plan_id}; list them with GET /api/assess/plans.")
    return plan


def _framework(db_session: Session, code: str | None) -> Framework | None:
    return library.get_framework(db_session, code=code) if code else None


def _audit(db_session: Session, actor: Actor, action: str, plan: Plan, summary: str) -> None:
    record(
        db_session,
        actor=actor,
        action=f"assess.plan.{action}",
        entity_type="assess_plan",
        entity_id=plan.id,
        summary=summary,
    )


def create_plan(
    db_session: Session,
    *,
    title: str,
    unit_code: str,
    actor: Actor,
    framework_code: str | None = None,
    description: str = "",
    targets: Sequence[TargetInput] = (),
) -> Plan:
    """A plan for a stored unit, with its first targets (all checked before writing)."""
    if not title.strip() or len(title) > 300:
        raise InvalidInput("The plan needs a title of 1–300 characters.")
    get_unit(db_session, code=unit_code)
    framework = _framework(db_session, framework_code)
    plan = Plan(
        title=title.strip(),
        unit_code=unit_code,
        framework_code=framework.code if framework else None,
        description=description,
        created_by=actor.label[:200],
    )
    db_session.add(plan)
    db_session.flush()
    for target in targets:
        _add_target(db_session, plan, target, framework)
    db_session.flush()
    _audit(db_session, actor, "create", plan, f"{plan.title} for {unit_code}")
    return plan


def update_plan(
    db_session: Session, *, plan_id: int, changes: Mapping[str, Any], actor: Actor
) -> Plan:
    """Change a plan's ``title``, ``description`` or ``framework_code``."""
    plan = get_plan(db_session, plan_id=plan_id)
    unknown = sorted(set(changes) - {"title", "description", "framework_code"})
    if unknown:
        raise InvalidInput(
            f"A plan's {', '.join(unknown)} cannot be changed here; change title, description "
            "or framework_code."
        )
    if "title" in changes:
        title = str(changes["title"] or "").strip()
        if not title or len(title) > 300:
            raise InvalidInput("The plan needs a title of 1–300 characters.")
        plan.title = title
    if "description" in changes:
        plan.description = str(changes["description"] or "")
    if "framework_code" in changes:
        framework = _framework(db_session, changes["framework_code"])
        plan.framework_code = framework.code if framework else None
    plan.updated_at = utcnow()
    db_session.flush()
    _audit(db_session, actor, "update", plan, f"Changed {', '.join(sorted(changes))}")
    return plan


def delete_plan(db_session: Session, *, plan_id: int, actor: Actor) -> None:
    plan = get_plan(db_session, plan_id=plan_id)
    _audit(db_session, actor, "delete", plan, f"Deleted the plan {plan.title}")
    db_session.delete(plan)
    db_session.flush()


# --- targets -----------------------------------------------------------------------------


def _stored_value(
    db_session: Session, unit_code: str, codes: Sequence[str], year: int
) -> float | None:
    rows = db_session.execute(
        select(IndicatorValue.indicator_code, IndicatorValue.value).where(
            IndicatorValue.unit_code == unit_code,
            IndicatorValue.indicator_code.in_(list(codes)),
            IndicatorValue.year == year,
        )
    ).all()
    found = {str(code): float(value) for code, value in rows}
    return next((found[code] for code in codes if code in found), None)


def _indicator(framework: Framework | None, code: str) -> Indicator | None:
    if framework is None:
        return None
    return next((ind for ind in framework.indicators() if ind.code == code), None)


def _metric_of(framework: Framework | None, code: str) -> str | None:
    """The live metric behind an indicator code (itself when it is a metric code)."""
    if code in LIVE_METRICS:
        return code
    indicator = _indicator(framework, code)
    if indicator is not None and indicator.source.kind is SourceKind.LIVE:
        return indicator.source.metric
    return None


def _target_fields(
    db_session: Session, plan: Plan, target: TargetInput, framework: Framework | None
) -> dict[str, Any]:
    """The checked column values of a target (the baseline looked up when not given)."""
    problems = _Problems()
    _check_target(target, problems)
    if (
        framework is not None
        and _indicator(framework, target.indicator_code) is None
        and target.indicator_code not in LIVE_METRICS
    ):
        problems.add(
            f"{target.indicator_code} is neither an indicator of {framework.code} nor a live metric"
        )
    problems.raise_if_any("target")
    baseline = target.baseline_value
    if baseline is None:
        metric = _metric_of(framework, target.indicator_code)
        codes = [target.indicator_code, *([metric] if metric else [])]
        baseline = _stored_value(db_session, plan.unit_code, codes, target.baseline_year)
        if baseline is None:
            raise InvalidInput(
                f"{plan.unit_code} has no stored value of {target.indicator_code} for "
                f"{target.baseline_year}: give baseline_value, or store that value first."
            )
    return {
        "indicator_code": target.indicator_code,
        "problem": target.problem,
        "goal": target.goal,
        "baseline_year": target.baseline_year,
        "baseline_value": float(baseline),
        "stages": [{"year": s.year, "value": float(s.value)} for s in target.stages],
    }


def _add_target(
    db_session: Session, plan: Plan, target: TargetInput, framework: Framework | None
) -> PlanTarget:
    fields = _target_fields(db_session, plan, target, framework)
    row = PlanTarget(position=len(plan.targets), **fields)
    plan.targets.append(row)
    db_session.flush()
    return row


def add_target(
    db_session: Session, *, plan_id: int, target: TargetInput, actor: Actor
) -> PlanTarget:
    plan = get_plan(db_session, plan_id=plan_id)
    row = _add_target(db_session, plan, target, _framework(db_session, plan.framework_code))
    _audit(db_session, actor, "target.add", plan, f"Target for {row.indicator_code}")
    return row


def _get_target(plan: Plan, target_id: int) -> PlanTarget:
    target = next((t for t in plan.targets if t.id == target_id), None)
    if target is None:
        raise NotFound(f"Plan {plan.id} has no target {target_id}.")
    return target


def update_target(
    db_session: Session, *, plan_id: int, target_id: int, target: TargetInput, actor: Actor
) -> PlanTarget:
    """Replace a target's indicator, baseline and stages (checked as when added)."""
    plan = get_plan(db_session, plan_id=plan_id)
    row = _get_target(plan, target_id)
    fields = _target_fields(db_session, plan, target, _framework(db_session, plan.framework_code))
    for name, value in fields.items():
        setattr(row, name, value)
    db_session.flush()
    _audit(db_session, actor, "target.update", plan, f"Target {target_id}: {row.indicator_code}")
    return row


def delete_target(db_session: Session, *, plan_id: int, target_id: int, actor: Actor) -> None:
    plan = get_plan(db_session, plan_id=plan_id)
    row = _get_target(plan, target_id)
    plan.targets.remove(row)
    db_session.delete(row)
    db_session.flush()
    for measure in plan.countermeasures:
        if measure.target_id == target_id:
            measure.target_id = None
    _audit(db_session, actor, "target.delete", plan, f"Deleted target {target_id}")


# --- countermeasures -------------------------------------------------------------------------


def parse_status(value: str) -> MeasureStatus:
    try:
        return MeasureStatus(value.strip().lower())
    except ValueError:
        valid = ", ".join(s.value for s in MeasureStatus)
        raise InvalidInput(f"Unknown status {value!r}; use one of {valid}.") from None


def _check_measure(db_session: Session, plan: Plan, measure: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(measure)
    if "title" in values:
        title = str(values["title"] or "").strip()
        if not title or len(title) > 300:
            raise InvalidInput("A countermeasure needs a title of 1–300 characters.")
        values["title"] = title
    if "status" in values:
        values["status"] = parse_status(str(values["status"])).value
    if values.get("department_code"):
        try:
            auth_service.get_department(db_session, code=values["department_code"])
        except CityOSError:
            codes = ", ".join(d.code for d in auth_service.list_departments(db_session))
            raise NotFound(
                f"No department has the code {values['department_code']!r}; the departments "
                f"are: {codes or 'none yet'}."
            ) from None
    if values.get("target_id") is not None:
        _get_target(plan, int(values["target_id"]))
    link = str(values.get("link") or "")
    if len(link) > 500:
        raise InvalidInput("The link is longer than 500 characters.")
    local = link.startswith("/") and not link.startswith(("//", "/\\"))
    if link and not (local or link.startswith(("http://", "https://"))):
        raise InvalidInput(
            f"The link {link!r} must start with http://, https:// or / (a page of this site)."
        )
    return values


def add_countermeasure(
    db_session: Session, *, plan_id: int, measure: MeasureInput, actor: Actor
) -> Countermeasure:
    plan = get_plan(db_session, plan_id=plan_id)
    values = _check_measure(
        db_session,
        plan,
        {
            "title": measure.title,
            "department_code": measure.department_code or None,
            "target_id": measure.target_id,
            "status": measure.status,
            "link": measure.link,
            "notes": measure.notes,
            "due_date": measure.due_date,
        },
    )
    row = Countermeasure(**values)
    plan.countermeasures.append(row)
    db_session.flush()
    _audit(db_session, actor, "measure.add", plan, f"Countermeasure {row.title}")
    return row


MEASURE_FIELDS = {"title", "department_code", "target_id", "status", "link", "notes", "due_date"}


def update_countermeasure(
    db_session: Session,
    *,
    plan_id: int,
    measure_id: int,
    changes: Mapping[str, Any],
    actor: Actor,
) -> Countermeasure:
    """Change some fields of a countermeasure (its status, owner, due date, …)."""
    plan = get_plan(db_session, plan_id=plan_id)
    row = next((m for m in plan.countermeasures if m.id == measure_id), None)
    if row is None:
        raise NotFound(f"Plan {plan_id} has no countermeasure {measure_id}.")
    unknown = sorted(set(changes) - MEASURE_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown field(s) {', '.join(unknown)}; change {', '.join(sorted(MEASURE_FIELDS))}."
        )
    values = _check_measure(db_session, plan, changes)
    before = row.status
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    db_session.flush()
    summary = f"Countermeasure {measure_id}: " + ", ".join(sorted(values))
    if "status" in values and values["status"] != before:
        summary += f" ({before} → {values['status']})"
    _audit(db_session, actor, "measure.update", plan, summary)
    return row


def delete_countermeasure(
    db_session: Session, *, plan_id: int, measure_id: int, actor: Actor
) -> None:
    plan = get_plan(db_session, plan_id=plan_id)
    row = next((m for m in plan.countermeasures if m.id == measure_id), None)
    if row is None:
        raise NotFound(f"Plan {plan_id} has no countermeasure {measure_id}.")
    plan.countermeasures.remove(row)
    db_session.delete(row)
    db_session.flush()
    _audit(db_session, actor, "measure.delete", plan, f"Deleted countermeasure {measure_id}")


# --- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanProgress:
    plan_id: int
    unit_code: str
    checked_at: datetime
    targets: tuple[TargetProgress, ...]

    def counts(self) -> dict[str, int]:
        return {status.value: sum(t.status is status for t in self.targets) for status in Status}

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "unit": self.unit_code,
            "checked_at": self.checked_at.isoformat(),
            "counts": self.counts(),
            "targets": [t.to_dict() for t in self.targets],
        }


def _observations(
    db_session: Session, unit_code: str, code: str, metric: str | None
) -> dict[int, Observation]:
    """Stored values of the indicator by year (its own code wins over metric snapshots)."""
    codes = [code, *([metric] if metric and metric != code else [])]
    rows = db_session.execute(
        select(
            IndicatorValue.indicator_code,
            IndicatorValue.year,
            IndicatorValue.value,
            IndicatorValue.source,
        ).where(IndicatorValue.unit_code == unit_code, IndicatorValue.indicator_code.in_(codes))
    ).all()
    found: dict[int, Observation] = {}
    for own in (False, True):  # snapshots first, the indicator's own values replace them
        for row_code, year, value, source in rows:
            if (row_code == code) is own:
                found[int(year)] = Observation(int(year), float(value), str(source))
    return found


def plan_progress(
    db_session: Session, *, plan_id: int, now: datetime | None = None
) -> PlanProgress:
    """Every target's latest value, expected value and status (see the module docstring)."""
    now = now or utcnow()
    plan = get_plan(db_session, plan_id=plan_id)
    framework = _framework_or_none(db_session, plan.framework_code)
    metrics = {t.id: _metric_of(framework, t.indicator_code) for t in plan.targets}
    live = (
        live_values(db_session, [plan.unit_code], now=now, strict=False)
        if any(metrics.values())
        else {}
    )
    results = []
    for target in plan.targets:
        metric = metrics[target.id]
        found = _observations(db_session, plan.unit_code, target.indicator_code, metric)
        measured = live.get((plan.unit_code, metric)) if metric else None
        stored_now = found.get(now.year)
        if (
            measured is not None
            and measured.value is not None
            and (stored_now is None or stored_now.source == LIVE_SOURCE)
        ):  # the live value fills the current year; a value stored by a user wins
            found[now.year] = Observation(now.year, measured.value, LIVE_SOURCE)
        indicator = _indicator(framework, target.indicator_code)
        direction = (
            indicator.direction
            if indicator is not None
            else LIVE_METRICS[metric].direction
            if metric
            else None
        )
        results.append(
            verify(
                target_id=target.id,
                indicator_code=target.indicator_code,
                baseline_year=target.baseline_year,
                baseline=target.baseline_value,
                stages=[Stage(int(s["year"]), float(s["value"])) for s in target.stages],
                direction=direction,
                observations=list(found.values()),
            )
        )
    return PlanProgress(
        plan_id=plan.id, unit_code=plan.unit_code, checked_at=now, targets=tuple(results)
    )


def _framework_or_none(db_session: Session, code: str | None) -> Framework | None:
    """The plan's framework; None when it was deleted since (directions then come from the
    live metrics or the targets)."""
    if not code:
        return None
    try:
        return library.get_framework(db_session, code=code)
    except NotFound:
        return None


def plan_dict(plan: Plan) -> dict[str, Any]:
    """A plan with its targets and countermeasures, JSON-ready."""
    return {
        "id": plan.id,
        "title": plan.title,
        "unit": plan.unit_code,
        "framework": plan.framework_code,
        "description": plan.description,
        "created_at": plan.created_at.isoformat(),
        "created_by": plan.created_by,
        "targets": [
            {
                "id": t.id,
                "indicator": t.indicator_code,
                "problem": t.problem,
                "goal": t.goal,
                "baseline_year": t.baseline_year,
                "baseline_value": t.baseline_value,
                "stages": t.stages,
            }
            for t in plan.targets
        ],
        "countermeasures": [
            {
                "id": m.id,
                "target_id": m.target_id,
                "title": m.title,
                "department": m.department_code,
                "status": m.status,
                "link": m.link,
                "notes": m.notes,
                "due_date": m.due_date.isoformat() if m.due_date else None,
            }
            for m in plan.countermeasures
        ],
    }
