"""The operators' sensing pages: the alert rule editor (/sensing/rules), the alerts with
acknowledging (/sensing/alerts) and the dead letters (/sensing/dead-letters).

Operators, staff and admins only. Rules and alerts change through
:mod:`cityos.sensing.service` (validated and audited there); forms carry the CSRF token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth.models import Role, User
from cityos.cases import service as cases_service
from cityos.deps import ActorDep, SessionDep, require_role
from cityos.errors import InvalidInput
from cityos.sensing import service
from cityos.sensing.models import (
    AlertRule,
    AlertState,
    Datastream,
    ObservedProperty,
    RuleKind,
    Severity,
)
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
Operator = Annotated[User, Depends(require_role(Role.OPERATOR, Role.STAFF), scope="function")]
NOTICES = ("created", "saved", "enabled", "disabled", "acknowledged")
PAGE_SIZE = 50


def _notice(page: Page) -> str:
    notice = page.request.query_params.get("notice", "")
    return page.t(f"sensing.notice.{notice}") if notice in NOTICES else ""


def _offset(request: Request) -> int:
    try:
        return max(int(request.query_params.get("offset", "0")), 0)
    except ValueError:
        return 0


# --- rules ---------------------------------------------------------------------------------


def _labels(db: Session) -> tuple[dict[int, str], dict[int, str]]:
    names: dict[int, str] = {
        int(i): str(n) for i, n in db.execute(select(ObservedProperty.id, ObservedProperty.name))
    }
    rules = db.scalars(select(AlertRule.datastream_id).where(AlertRule.datastream_id.is_not(None)))
    ids = [i for i in rules if i is not None]
    streams = {
        int(i): str(n)
        for i, n in db.execute(select(Datastream.id, Datastream.name).where(Datastream.id.in_(ids)))
    }
    return names, streams


def _form_context(page: Page, db: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    zh = page.language == "zh-CN"
    categories = [
        {"code": c.service_code, "label": f"{c.service_code} · {c.name_zh if zh else c.name_en}"}
        for c in cases_service.list_categories(db)
    ]
    props = db.scalars(select(ObservedProperty).order_by(ObservedProperty.name)).all()
    return {
        "values": values,
        "kinds": [k.value for k in RuleKind],
        "severities": [s.value for s in Severity],
        "categories": categories,
        "property_options": [{"value": str(p.id), "label": p.name} for p in props],
    }


def _values(rule: AlertRule | None) -> dict[str, Any]:
    if rule is None:
        return {"kind": RuleKind.ABOVE.value, "severity": Severity.WARNING.value, "enabled": True}
    return {
        "name": rule.name,
        "kind": rule.kind,
        "severity": rule.severity,
        "datastream_id": rule.datastream_id or "",
        "observed_property_id": rule.observed_property_id or "",
        "area_code": rule.area_code or "",
        "threshold": "" if rule.threshold is None else f"{rule.threshold:g}",
        "clear_threshold": "" if rule.clear_threshold is None else f"{rule.clear_threshold:g}",
        "duration_minutes": f"{rule.duration_minutes:g}",
        "open_case": rule.open_case,
        "case_category": rule.case_category or "",
        "notify_emails": ", ".join(rule.notify_emails or []),
        "enabled": rule.enabled,
    }


def _number(fields: Mapping[str, str], name: str) -> float | None:
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{name}: {text!r} is not a number.") from None


def _identifier(fields: Mapping[str, str], name: str) -> int | None:
    text = fields.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"{name}: {text!r} is not an id (a whole number).")
    return int(text)


def rule_input(fields: Mapping[str, str]) -> service.RuleInput:
    """A rule from the editor's form fields (the service checks the rest)."""
    emails = [e.strip() for e in fields.get("notify_emails", "").replace(";", ",").split(",")]
    return service.RuleInput(
        name=fields.get("name", "").strip(),
        kind=fields.get("kind", "").strip(),
        severity=fields.get("severity", Severity.WARNING.value).strip(),
        datastream_id=_identifier(fields, "datastream_id"),
        observed_property_id=_identifier(fields, "observed_property_id"),
        area_code=fields.get("area_code", "").strip() or None,
        threshold=_number(fields, "threshold"),
        clear_threshold=_number(fields, "clear_threshold"),
        duration_minutes=_number(fields, "duration_minutes") or 0.0,
        open_case=fields.get("open_case") == "on",
        case_category=fields.get("case_category", "").strip() or None,
        notify_emails=[e for e in emails if e],
        enabled=fields.get("enabled") == "on",
    )


def _rules_page(
    page: Page,
    db: Session,
    *,
    values: Mapping[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    names, streams = _labels(db)
    context = {
        "rules": service.list_rules(db),
        "property_names": names,
        "stream_names": streams,
        "notice": _notice(page),
        "error": error,
        "section": "rules",
        "is_operator": True,
        **_form_context(page, db, values or _values(None)),
    }
    return page.render("sensing/rules.html", context, status_code=status_code)


@router.get("/sensing/rules", response_class=HTMLResponse)
def rules_page(page: PageDep, db: SessionDep, _user: Operator) -> HTMLResponse:
    """Every alert rule, and the form for a new one."""
    return _rules_page(page, db)


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def _create(page: Page, db: Session, user: User, actor: Actor, fields: dict[str, str]) -> Response:
    try:
        service.create_rule(db, data=rule_input(fields), actor=actor, user_id=user.id)
    except InvalidInput as error:
        db.rollback()
        values = {**fields, "open_case": "open_case" in fields, "enabled": "enabled" in fields}
        return _rules_page(page, db, values=values, error=error.message, status_code=400)
    return RedirectResponse("/sensing/rules?notice=created", status_code=303)


@router.post("/sensing/rules")
async def create_rule_form(
    request: Request, page: PageDep, db: SessionDep, user: Operator, actor: ActorDep
) -> Response:
    fields = await _fields(request)
    return await run_in_threadpool(_create, page, db, user, actor, fields)


def _edit_page(
    page: Page,
    db: Session,
    rule: AlertRule,
    *,
    values: Mapping[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "rule": rule,
        "error": error,
        "section": "rules",
        "is_operator": True,
        **_form_context(page, db, values or _values(rule)),
    }
    return page.render("sensing/rule_edit.html", context, status_code=status_code)


@router.get("/sensing/rules/{rule_id}", response_class=HTMLResponse)
def edit_rule_page(rule_id: int, page: PageDep, db: SessionDep, _user: Operator) -> HTMLResponse:
    return _edit_page(page, db, service.get_rule(db, rule_id=rule_id))


def _update(
    page: Page, db: Session, rule_id: int, actor: Actor, fields: dict[str, str]
) -> Response:
    rule = service.get_rule(db, rule_id=rule_id)
    try:
        changes = asdict(rule_input(fields))
        service.update_rule(db, rule_id=rule.id, changes=changes, actor=actor)
    except InvalidInput as error:
        db.rollback()
        values = {**fields, "open_case": "open_case" in fields, "enabled": "enabled" in fields}
        rule = service.get_rule(db, rule_id=rule_id)
        return _edit_page(page, db, rule, values=values, error=error.message, status_code=400)
    return RedirectResponse("/sensing/rules?notice=saved", status_code=303)


@router.post("/sensing/rules/{rule_id}")
async def update_rule_form(
    rule_id: int, request: Request, page: PageDep, db: SessionDep, _user: Operator, actor: ActorDep
) -> Response:
    fields = await _fields(request)
    return await run_in_threadpool(_update, page, db, rule_id, actor, fields)


@router.post("/sensing/rules/{rule_id}/toggle")
def toggle_rule(rule_id: int, db: SessionDep, _user: Operator, actor: ActorDep) -> Response:
    """Enable a disabled rule, or disable an enabled one."""
    rule = service.get_rule(db, rule_id=rule_id)
    enabled = not rule.enabled
    service.update_rule(db, rule_id=rule_id, changes={"enabled": enabled}, actor=actor)
    notice = "enabled" if enabled else "disabled"
    return RedirectResponse(f"/sensing/rules?notice={notice}", status_code=303)


# --- alerts --------------------------------------------------------------------------------


@router.get("/sensing/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, page: PageDep, db: SessionDep, _user: Operator) -> HTMLResponse:
    """Alerts, newest first (active ones by default), with the button to acknowledge."""
    state = request.query_params.get("state", AlertState.ACTIVE.value)
    if state not in {s.value for s in AlertState}:
        state = "all"
    offset = _offset(request)
    found = service.list_alerts(
        db, state=None if state == "all" else state, limit=PAGE_SIZE, offset=offset
    )
    rule_names = {int(i): str(n) for i, n in db.execute(select(AlertRule.id, AlertRule.name))}
    stream_ids = {a.datastream_id for a in found.alerts}
    named = select(Datastream.id, Datastream.name).where(Datastream.id.in_(stream_ids))
    streams = {int(i): str(n) for i, n in db.execute(named)}
    context = {
        "alerts": found.alerts,
        "total": found.total,
        "state": state,
        "states": [s.value for s in AlertState] + ["all"],
        "rule_names": rule_names,
        "stream_names": streams,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "notice": _notice(page),
        "section": "alerts",
        "is_operator": True,
    }
    return page.render("sensing/alerts.html", context)


@router.post("/sensing/alerts/{alert_id}/acknowledge")
def acknowledge_alert(alert_id: int, db: SessionDep, user: Operator, actor: ActorDep) -> Response:
    service.acknowledge(db, alert_id=alert_id, user_id=user.id, actor=actor, now=None)
    return RedirectResponse("/sensing/alerts?notice=acknowledged", status_code=303)


# --- dead letters --------------------------------------------------------------------------


@router.get("/sensing/dead-letters", response_class=HTMLResponse)
def dead_letters_page(
    request: Request, page: PageDep, db: SessionDep, _user: Operator
) -> HTMLResponse:
    """Readings that could not be stored, newest first, with why."""
    offset = _offset(request)
    rows, total = service.list_dead_letters(db, limit=PAGE_SIZE, offset=offset)
    context = {
        "letters": rows,
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "section": "dead_letters",
        "is_operator": True,
    }
    return page.render("sensing/dead_letters.html", context)
