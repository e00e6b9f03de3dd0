"""The assessment pages (zh-CN and en): the overview and new-run form (/assess), run results
(/assess/runs/{id}, with the benchmark of one unit against the others). Frameworks, weights
and coverage live in views_frameworks.py, plans in views_plans.py; ``router`` mounts them all.

Pages read through :mod:`cityos.assessment.service` (and the pure comparison of
:mod:`cityos.assessment.benchmarking` on a stored result, as the JSON API does).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cityos.assessment import benchmarking, service, views_frameworks, views_plans
from cityos.assessment.benchmarking import Comparison
from cityos.assessment.views_common import Analyst, can_edit, form_fields, refused, render
from cityos.assessment.views_data import (
    CHOICES,
    MAX_PAGE_RUNS,
    area_level,
    chart_data,
    default_subject,
    name_of,
    ranking,
    run_overrides,
    unit_set_from,
)
from cityos.auth.models import User
from cityos.deps import ActorDep, CurrentUser, SessionDep, SettingsDep
from cityos.errors import CityOSError
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
OVERVIEW = "assessment/overview.html"
RECENT_RUNS = 20
PLANS_SHOWN = 20


def plan_counts(db: Session, plans: list[service.Plan]) -> dict[int, dict[str, int]]:
    """Plan id → targets per status (on_track, at_risk, off_track, no_data)."""
    return {plan.id: service.plan_progress(db, plan_id=plan.id).counts() for plan in plans}


def overview_context(db: Session, user: User, page: Page) -> dict[str, Any]:
    frameworks = [
        {"row": row, "indicators": len(service.framework_of(row).indicators())}
        for row in service.list_frameworks(db)
    ]
    plans = service.list_plans(db)[:PLANS_SHOWN]
    return {
        "frameworks": frameworks,
        "runs": [service.run_summary(run) for run in service.list_runs(db, limit=RECENT_RUNS)],
        "plans": plans,
        "plan_counts": plan_counts(db, plans),
        "peer_groups": service.list_peer_groups(db),
        "units": service.list_units(db),
        "choices": CHOICES,
        "max_runs": MAX_PAGE_RUNS,
        "can_edit": can_edit(user),
        "typed": {"framework": page.request.query_params.get("framework", "")},
    }


@router.get("/assess", response_class=HTMLResponse)
def overview(page: PageDep, db: SessionDep, user: CurrentUser) -> HTMLResponse:
    context = overview_context(db, user, page)
    notice = page.request.query_params.get("notice", "")
    if notice in ("run_deleted", "framework_deleted"):
        context["notice"] = page.t(f"assess.notice.{notice}")
    return render(page, OVERVIEW, context)


@router.post("/assess/runs")
async def create_run(
    request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    typed = await form_fields(request)
    try:
        # the pipeline (and its Monte Carlo runs) works off the event loop
        run = await run_in_threadpool(
            partial(
                service.run_assessment,
                db,
                framework_code=typed.get("framework", ""),
                unit_set=unit_set_from(typed),
                overrides=run_overrides(typed),
                title=typed.get("title", ""),
                actor=actor,
            )
        )
    except CityOSError as error:
        return refused(
            page, db, OVERVIEW, lambda: overview_context(db, user, page), error, typed=typed
        )
    return RedirectResponse(f"/assess/runs/{run.id}", status_code=303)


@router.post("/assess/frameworks")
async def upload_framework(
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: Analyst,
    file: Annotated[UploadFile, File()],
) -> Response:
    """A new framework from a YAML or JSON file (its code must be new)."""
    try:
        document = await views_frameworks.read_document(file, settings.max_upload_mb)
        row = service.save_framework(db, document=document, actor=actor, create=True)
    except CityOSError as error:
        return refused(page, db, OVERVIEW, lambda: overview_context(db, user, page), error)
    return RedirectResponse(f"/assess/frameworks/{row.code}?notice=uploaded", status_code=303)


# --- a run -----------------------------------------------------------------------------------


def comparison_rows(comparison: Comparison, lang: str) -> list[dict[str, Any]]:
    """The benchmark table: the index, then each dimension."""
    return [
        {
            "code": row.code,
            "name": name_of(row, lang),
            "depth": row.depth,
            "score": row.score,
            "rank": row.rank,
            "group_rank": row.group_rank,
            "group_size": row.group_size,
            "leader": name_of(row.leader, lang) if row.leader else "",
            "leader_score": row.leader.score if row.leader else None,
            "gap_to_leader": row.gap_to_leader,
            "peer_median": row.peer_median,
            "gap_to_median": row.gap_to_median,
            "strength": row.code in comparison.strengths,
            "weakness": row.code in comparison.weaknesses,
        }
        for row in (comparison.index, *comparison.dimensions)
    ]


def run_context(
    db: Session, user: User, page: Page, run_id: int, unit: str | None
) -> dict[str, Any]:
    run = service.get_run(db, run_id=run_id)
    result: dict[str, Any] = run.result
    lang = page.language
    subject = unit or default_subject(result)
    comparison: Comparison | None = None
    compare_error = ""
    if subject:
        try:
            comparison = benchmarking.compare(service.result_of(run), unit=subject)
        except CityOSError as error:
            compare_error = error.message
    names = {g["code"]: name_of(g, lang) for g in result["groups"]}
    names.update({i["code"]: name_of(i, lang) for i in result["indicators"]})
    level = area_level(run.units)
    uncertainty = result.get("uncertainty")
    return {
        "run": service.run_summary(run),
        "framework_name": name_of(result["framework"], lang),
        "result": result,
        "names": names,
        "ranking": ranking(result, lang),
        "kept": sum(1 for kept in result["kept_units"] if kept),
        "kept_indicators": sum(1 for kept in result["kept_indicators"] if kept),
        "subject": subject,
        "subject_name": comparison and name_of(comparison.unit, lang),
        "comparison": comparison,
        "comparison_rows": comparison_rows(comparison, lang) if comparison else [],
        "compare_error": compare_error,
        "strengths": [names.get(c, c) for c in comparison.strengths] if comparison else [],
        "weaknesses": [names.get(c, c) for c in comparison.weaknesses] if comparison else [],
        "uncertainty": uncertainty,
        "sensitivity": sorted(
            ((uncertainty or {}).get("sensitivity") or {}).items(), key=lambda item: -(item[1] or 0)
        ),
        "map_level": level,
        "data": chart_data(result, lang, run_id=run.id, subject=subject, map_level=level),
        "can_edit": can_edit(user),
    }


@router.get("/assess/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    run_id: int, page: PageDep, db: SessionDep, user: CurrentUser, unit: str | None = None
) -> HTMLResponse:
    return render(page, "assessment/run.html", run_context(db, user, page, run_id, unit))


@router.get("/assess/benchmark")
def benchmark(run: int, user: CurrentUser, unit: str | None = None) -> Response:
    """The benchmark is a part of the run page."""
    target = f"/assess/runs/{run}" + (f"?{urlencode({'unit': unit})}" if unit else "")
    return RedirectResponse(target + "#benchmark", status_code=303)


@router.post("/assess/runs/{run_id}/delete")
def delete_run(run_id: int, db: SessionDep, actor: ActorDep, user: Analyst) -> Response:
    service.delete_run(db, run_id=run_id, actor=actor)
    return RedirectResponse("/assess?notice=run_deleted", status_code=303)


for _module in (views_frameworks, views_plans):
    router.include_router(_module.router)
