"""Plan pages: the plans (/assess/plans) and one plan (/assess/plans/{id}) with its targets,
their progress (verified from the latest values) and its countermeasures.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.assessment.framework import Framework
from cityos.assessment.live_metrics import LIVE_METRICS
from cityos.assessment.views_common import Analyst, can_edit, form_fields, refused, render
from cityos.assessment.views_data import name_of, optional_float, parse_stages, stages_text
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.deps import ActorDep, CurrentUser, SessionDep
from cityos.errors import CityOSError, InvalidInput, NotFound
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
PLANS = "assessment/plans.html"
PLAN = "assessment/plan.html"
STATUSES = tuple(status.value for status in service.Status)
MEASURE_STATUSES = tuple(status.value for status in service.MeasureStatus)
NOTICES = (
    "created",
    "target_added",
    "target_deleted",
    "measure_added",
    "measure_saved",
    "measure_deleted",
)


def _date(text: str) -> date | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        raise InvalidInput(f"The due date ({text!r}) is not a date like 2027-06-30.") from None


def _year(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInput(f"The {what} ({text!r}) is not a whole number.") from None


def plans_context(db: Session, user: User, page: Page) -> dict[str, Any]:
    plans = service.list_plans(db)
    units = {unit.code: unit for unit in service.list_units(db)}
    return {
        "plans": plans,
        "unit_names": {code: name_of(unit, page.language) for code, unit in units.items()},
        "counts": {p.id: service.plan_progress(db, plan_id=p.id).counts() for p in plans},
        "units": list(units.values()),
        "frameworks": service.list_frameworks(db),
        "statuses": STATUSES,
        "can_edit": can_edit(user),
    }


@router.get("/assess/plans", response_class=HTMLResponse)
def plans_page(page: PageDep, db: SessionDep, user: CurrentUser) -> HTMLResponse:
    context = plans_context(db, user, page)
    if page.request.query_params.get("notice") == "plan_deleted":
        context["notice"] = page.t("assess.plan.notice_plan_deleted")
    return render(page, PLANS, context)


@router.post("/assess/plans")
async def create_plan(
    request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    typed = await form_fields(request)
    try:
        plan = service.create_plan(
            db,
            title=typed.get("title", ""),
            unit_code=typed.get("unit", ""),
            framework_code=typed.get("framework") or None,
            description=typed.get("description", ""),
            actor=actor,
        )
    except CityOSError as error:
        return refused(page, db, PLANS, lambda: plans_context(db, user, page), error, typed=typed)
    return RedirectResponse(f"/assess/plans/{plan.id}?notice=created", status_code=303)


# --- one plan ----------------------------------------------------------------------------


def _framework(db: Session, code: str | None) -> Framework | None:
    if not code:
        return None
    try:
        return service.get_framework(db, code=code)
    except NotFound:
        return None


def indicator_names(framework: Framework | None, lang: str) -> dict[str, tuple[str, str]]:
    """Indicator or live metric code → (name, unit of measure)."""
    out = {code: (name_of(metric, lang), metric.unit) for code, metric in LIVE_METRICS.items()}
    if framework is not None:
        out.update({i.code: (name_of(i, lang), i.unit) for i in framework.indicators()})
    return out


def plan_context(db: Session, user: User, page: Page, plan_id: int) -> dict[str, Any]:
    lang = page.language
    plan = service.get_plan(db, plan_id=plan_id)
    progress = service.plan_progress(db, plan_id=plan_id)
    framework = _framework(db, plan.framework_code)
    names = indicator_names(framework, lang)
    by_target = {p.target_id: p for p in progress.targets}
    departments = list(auth_service.list_departments(db))
    targets: list[dict[str, Any]] = []
    charts: list[dict[str, Any]] = []
    for target in plan.targets:
        verified = by_target.get(target.id)
        name, measure = names.get(target.indicator_code, (target.indicator_code, ""))
        status = verified.status.value if verified else "no_data"
        targets.append(
            {
                "row": target,
                "name": name,
                "measure": measure,
                "stages": stages_text(target.stages),
                "progress": verified,
                "status": status,
            }
        )
        charts.append(
            {
                "id": target.id,
                "name": name,
                "status": status,
                "baseline": [target.baseline_year, target.baseline_value],
                "stages": [[int(s["year"]), float(s["value"])] for s in target.stages],
                "actual": [[o.year, o.value] for o in verified.history] if verified else [],
            }
        )
    unit = service.get_unit(db, code=plan.unit_code)
    return {
        "plan": plan,
        "unit_name": name_of(unit, lang),
        "framework_name": name_of(framework, lang) if framework else plan.framework_code,
        "counts": progress.counts(),
        "checked_at": progress.checked_at,
        "targets": targets,
        "target_names": {
            t.id: names.get(t.indicator_code, (t.indicator_code, ""))[0] for t in plan.targets
        },
        "indicator_choices": sorted(names.items()),
        "departments": departments,
        "department_names": {d.code: name_of(d, lang) for d in departments},
        "measure_statuses": MEASURE_STATUSES,
        "charts": charts,
        "can_edit": can_edit(user),
    }


@router.get("/assess/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(plan_id: int, page: PageDep, db: SessionDep, user: CurrentUser) -> HTMLResponse:
    context = plan_context(db, user, page, plan_id)
    notice = page.request.query_params.get("notice", "")
    if notice in NOTICES:
        context["notice"] = page.t(f"assess.plan.notice_{notice}")
    return render(page, PLAN, context)


def _done(plan_id: int, notice: str) -> Response:
    return RedirectResponse(f"/assess/plans/{plan_id}?notice={notice}", status_code=303)


@router.post("/assess/plans/{plan_id}/targets")
async def add_target(
    plan_id: int, request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    typed = await form_fields(request)
    try:
        target = service.TargetInput(
            indicator_code=typed.get("indicator", "").strip(),
            baseline_year=_year(typed.get("baseline_year", ""), "baseline year"),
            baseline_value=optional_float(typed.get("baseline_value", ""), "baseline value"),
            stages=parse_stages(typed.get("stages", "")),
            problem=typed.get("problem", ""),
            goal=typed.get("goal", ""),
        )
        service.add_target(db, plan_id=plan_id, target=target, actor=actor)
    except CityOSError as error:
        return refused(
            page, db, PLAN, lambda: plan_context(db, user, page, plan_id), error, typed=typed
        )
    return _done(plan_id, "target_added")


@router.post("/assess/plans/{plan_id}/targets/{target_id}/delete")
def delete_target(
    plan_id: int, target_id: int, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    service.delete_target(db, plan_id=plan_id, target_id=target_id, actor=actor)
    return _done(plan_id, "target_deleted")


@router.post("/assess/plans/{plan_id}/countermeasures")
async def add_measure(
    plan_id: int, request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    typed = await form_fields(request)
    try:
        target = typed.get("target_id", "").strip()
        measure = service.MeasureInput(
            title=typed.get("title", ""),
            department_code=typed.get("department") or None,
            target_id=int(target) if target.isdigit() else None,
            status=typed.get("status") or service.MeasureStatus.PLANNED.value,
            link=typed.get("link", "").strip(),
            notes=typed.get("notes", ""),
            due_date=_date(typed.get("due_date", "")),
        )
        service.add_countermeasure(db, plan_id=plan_id, measure=measure, actor=actor)
    except CityOSError as error:
        return refused(
            page, db, PLAN, lambda: plan_context(db, user, page, plan_id), error, typed=typed
        )
    return _done(plan_id, "measure_added")


@router.post("/assess/plans/{plan_id}/countermeasures/{measure_id}")
async def update_measure(
    plan_id: int,
    measure_id: int,
    request: Request,
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    user: Analyst,
) -> Response:
    typed = await form_fields(request)
    try:
        changes: dict[str, Any] = {
            "status": typed.get("status", ""),
            "department_code": typed.get("department") or None,
            "due_date": _date(typed.get("due_date", "")),
        }
        service.update_countermeasure(
            db, plan_id=plan_id, measure_id=measure_id, changes=changes, actor=actor
        )
    except CityOSError as error:
        return refused(page, db, PLAN, lambda: plan_context(db, user, page, plan_id), error)
    return _done(plan_id, "measure_saved")


@router.post("/assess/plans/{plan_id}/countermeasures/{measure_id}/delete")
def delete_measure(
    plan_id: int, measure_id: int, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    service.delete_countermeasure(db, plan_id=plan_id, measure_id=measure_id, actor=actor)
    return _done(plan_id, "measure_deleted")


@router.post("/assess/plans/{plan_id}/delete")
def delete_plan(plan_id: int, db: SessionDep, actor: ActorDep, user: Analyst) -> Response:
    service.delete_plan(db, plan_id=plan_id, actor=actor)
    return RedirectResponse("/assess/plans?notice=plan_deleted", status_code=303)
