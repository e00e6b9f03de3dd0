"""Alert rules: checking, creating, changing and deleting them (audited).

A rule watches one datastream, or every datastream of an observed property, optionally
within an area of the map (any level). Every change drops the evaluator's cached rules
(:func:`cityos.sensing.evaluate.invalidate`), at once and again after the commit. When a rule
is disabled, or what it watches or how it judges changes, its active alerts end and its
per-datastream state is reset. Deleting a rule deletes its alerts too (the audit log keeps
the rule's last version).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.cases import service as cases_service
from cityos.db import utcnow
from cityos.errors import InvalidInput, NotFound
from cityos.sensing import alerts, evaluate
from cityos.sensing.areas import resolve
from cityos.sensing.models import (
    AlertRule,
    Datastream,
    ObservedProperty,
    RuleKind,
    RuleState,
    Severity,
)

MAX_DURATION_MINUTES = 7 * 24 * 60
MAX_EMAILS = 20
_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
# Changing one of these restarts the rule's evaluation.
_RESETTING = (
    "kind",
    "datastream_id",
    "observed_property_id",
    "area_code",
    "threshold",
    "clear_threshold",
    "duration_minutes",
    "enabled",
)


@dataclass(slots=True)
class RuleInput:
    """Everything a rule says (see :class:`cityos.sensing.models.AlertRule`)."""

    name: str
    kind: str
    severity: str = Severity.WARNING.value
    datastream_id: int | None = None
    observed_property_id: int | None = None
    area_code: str | None = None
    threshold: float | None = None
    clear_threshold: float | None = None
    duration_minutes: float = 0.0
    open_case: bool = False
    case_category: str | None = None
    notify_emails: list[str] = field(default_factory=list)
    enabled: bool = True

    @classmethod
    def of(cls, rule: AlertRule) -> RuleInput:
        return cls(**{f.name: getattr(rule, f.name) for f in fields(cls)})


FIELDS = frozenset(f.name for f in fields(RuleInput))


def _problem(problems: list[str], message: str) -> None:
    problems.append(message)


def _finite(value: float | None, name: str, problems: list[str]) -> None:
    if value is not None and not math.isfinite(value):
        _problem(problems, f"{name} must be a finite number.")


def check(db_session: Session, data: RuleInput) -> RuleInput:
    """The rule with its text cleaned; InvalidInput listing every problem."""
    problems: list[str] = []
    name = " ".join((data.name or "").split())
    if not name or len(name) > 200:
        _problem(problems, "name is required (1 to 200 characters).")
    if data.kind not in {k.value for k in RuleKind}:
        _problem(problems, f"kind must be one of {', '.join(k.value for k in RuleKind)}.")
    if data.severity not in {s.value for s in Severity}:
        _problem(problems, f"severity must be one of {', '.join(s.value for s in Severity)}.")
    if (data.datastream_id is None) == (data.observed_property_id is None):
        _problem(
            problems,
            "Give either datastream_id (one datastream) or observed_property_id (every "
            "datastream of that property, optionally within area_code), not both or neither.",
        )
    if data.datastream_id is not None:
        if db_session.get(Datastream, data.datastream_id) is None:
            _problem(problems, f"datastream_id: there is no datastream {data.datastream_id}.")
        if data.area_code:
            _problem(problems, "area_code applies to observed_property_id rules only.")
    if data.observed_property_id is not None and (
        db_session.get(ObservedProperty, data.observed_property_id) is None
    ):
        _problem(
            problems,
            f"observed_property_id: there is no observed property {data.observed_property_id}.",
        )
    area = (data.area_code or "").strip() or None
    if area is not None:
        try:
            resolve(db_session, area, what="area_code")
        except InvalidInput as error:
            _problem(problems, error.message)
    _finite(data.threshold, "threshold", problems)
    _finite(data.clear_threshold, "clear_threshold", problems)
    _finite(data.duration_minutes, "duration_minutes", problems)
    duration = data.duration_minutes or 0.0
    if not 0 <= duration <= MAX_DURATION_MINUTES:
        _problem(problems, f"duration_minutes must be between 0 and {MAX_DURATION_MINUTES}.")
    if data.kind == RuleKind.SILENT:
        if duration <= 0:
            _problem(problems, "A silent rule needs duration_minutes above 0 (how long is silent).")
        if data.threshold is not None or data.clear_threshold is not None:
            _problem(problems, "A silent rule takes no threshold or clear_threshold.")
    elif data.kind in {k.value for k in RuleKind}:
        if data.threshold is None:
            _problem(problems, f"A {data.kind} rule needs a threshold.")
        elif data.kind == RuleKind.RATE and data.threshold <= 0:
            _problem(problems, "A rate rule's threshold (change per minute) must be above 0.")
        elif data.clear_threshold is not None:
            lower = data.kind == RuleKind.BELOW
            if (
                (data.clear_threshold < data.threshold)
                if lower
                else (data.clear_threshold > data.threshold)
            ):
                side = "at or above" if lower else "at or below"
                _problem(
                    problems,
                    f"clear_threshold must be {side} the threshold for a {data.kind} rule "
                    "(hysteresis: the alert clears only once the value is back past it).",
                )
    category = (data.case_category or "").strip() or None
    if data.open_case and category is None:
        _problem(problems, "open_case needs case_category (the service code of the cases).")
    if category is not None:
        try:
            cases_service.get_category(db_session, service_code=category)
        except NotFound as error:
            _problem(problems, f"case_category: {error.message}")
    emails = [e.strip() for e in data.notify_emails or [] if e and e.strip()]
    if len(emails) > MAX_EMAILS:
        _problem(problems, f"notify_emails: at most {MAX_EMAILS} addresses.")
    for address in emails:
        if len(address) > 320 or not _EMAIL.fullmatch(address):
            _problem(problems, f"notify_emails: {address!r} is not an e-mail address.")
    if problems:
        message = problems[0] if len(problems) == 1 else " ".join(problems)
        raise InvalidInput(message, details={"problems": problems})
    return replace(
        data,
        name=name,
        area_code=area,
        case_category=category,
        notify_emails=emails,
        duration_minutes=float(duration),
    )


def _invalidate_after_commit(db_session: Session) -> None:
    evaluate.invalidate()
    event.listen(db_session, "after_commit", lambda _s: evaluate.invalidate(), once=True)


def _snapshot(rule: AlertRule) -> dict[str, Any]:
    return asdict(RuleInput.of(rule))


def get_rule(db_session: Session, *, rule_id: int) -> AlertRule:
    rule = db_session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"There is no alert rule {rule_id}. List rules with GET /api/sensing/rules.")
    return rule


def list_rules(
    db_session: Session,
    *,
    datastream_id: int | None = None,
    observed_property_id: int | None = None,
    enabled: bool | None = None,
) -> Sequence[AlertRule]:
    query = select(AlertRule)
    if datastream_id is not None:
        query = query.where(AlertRule.datastream_id == datastream_id)
    if observed_property_id is not None:
        query = query.where(AlertRule.observed_property_id == observed_property_id)
    if enabled is not None:
        query = query.where(AlertRule.enabled.is_(enabled))
    return db_session.scalars(query.order_by(AlertRule.id)).all()


def create_rule(
    db_session: Session,
    *,
    data: RuleInput,
    actor: Actor,
    user_id: int | None = None,
    now: datetime | None = None,
) -> AlertRule:
    now = now or utcnow()
    clean = check(db_session, data)
    rule = AlertRule(**asdict(clean), created_by=user_id, created_at=now, updated_at=now)
    db_session.add(rule)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="sensing.rule.create",
        entity_type="sensing_alert_rule",
        entity_id=rule.id,
        summary=rule.name,
        after=_snapshot(rule),
    )
    _invalidate_after_commit(db_session)
    return rule


def _reset(db_session: Session, rule: AlertRule, now: datetime, *, reason: str) -> None:
    """End the rule's active alerts (their cases get an internal note giving ``reason``) and
    forget its per-datastream state."""
    for state in alerts.active_for(db_session, rule_id=rule.id):
        assert state.active_alert_id is not None
        alerts.clear_alert(
            db_session,
            alert_id=state.active_alert_id,
            ended_at=now,
            value=None,
            now=now,
            reason=reason,
        )
    db_session.flush()
    db_session.execute(delete(RuleState).where(RuleState.rule_id == rule.id))


def update_rule(
    db_session: Session,
    *,
    rule_id: int,
    changes: Mapping[str, Any],
    actor: Actor,
    now: datetime | None = None,
) -> AlertRule:
    """Change some fields of a rule (a merge: fields not named keep their value)."""
    now = now or utcnow()
    unknown = sorted(set(changes) - FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown rule field(s): {', '.join(unknown)}. Fields: {', '.join(sorted(FIELDS))}."
        )
    rule = get_rule(db_session, rule_id=rule_id)
    before = _snapshot(rule)
    clean = check(db_session, replace(RuleInput.of(rule), **dict(changes)))
    after = asdict(clean)
    if any(before[name] != after[name] for name in _RESETTING):
        disabled = before["enabled"] and not after["enabled"]
        verb = "disabled" if disabled else "changed"
        _reset(db_session, rule, now, reason=f"the alert rule was {verb} by an operator")
    for name, value in after.items():
        setattr(rule, name, value)
    rule.updated_at = now
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="sensing.rule.update",
        entity_type="sensing_alert_rule",
        entity_id=rule.id,
        summary=rule.name,
        before=before,
        after=after,
    )
    _invalidate_after_commit(db_session)
    return rule


def delete_rule(
    db_session: Session, *, rule_id: int, actor: Actor, now: datetime | None = None
) -> None:
    """Delete a rule, its state and its alerts; the cases of its active alerts get a note
    first."""
    now = now or utcnow()
    rule = get_rule(db_session, rule_id=rule_id)
    before = _snapshot(rule)
    _reset(db_session, rule, now, reason="the alert rule was deleted by an operator")
    db_session.delete(rule)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="sensing.rule.delete",
        entity_type="sensing_alert_rule",
        entity_id=rule_id,
        summary=before["name"],
        before=before,
    )
    _invalidate_after_commit(db_session)
