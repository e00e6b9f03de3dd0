"""The assessment JSON API under ``/api/assess`` (see docs/assessment.md).

Signed-in users read; analysts and admins write. A browser session sends the CSRF token in
``X-CSRF-Token`` with every write (the app's CSRF check); machine clients use
``Authorization: Bearer <API key>`` instead. Every write runs in the request's transaction,
so a refused request writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from cityos.assessment import benchmarking, pdf, report, service, workbook
from cityos.assessment.schemas import (
    MeasureIn,
    MeasurePatch,
    PeerGroupIn,
    PlanIn,
    PlanPatch,
    RunIn,
    TargetIn,
    UnitsIn,
    ValuesIn,
    WeightsIn,
    framework_summary,
    peer_group_dict,
    unit_dict,
    value_dict,
)
from cityos.auth.models import Role, User
from cityos.deps import ActorDep, CurrentUser, SessionDep, SettingsDep, require_role
from cityos.errors import InvalidInput
from cityos.web.render import choose_language

router = APIRouter(prefix="/api/assess", tags=["assessment"])
Analyst = Annotated[User, Depends(require_role(Role.ANALYST), scope="function")]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def _codes(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    return [code.strip() for code in text.split(",") if code.strip()]


async def _document(request: Request) -> dict[str, Any]:
    """The framework document of a POST/PUT: JSON, or YAML with a YAML content type."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type in YAML_TYPES:
        return service.document_from_text(body)
    if content_type not in ("application/json", ""):
        raise InvalidInput(
            f"Send the framework as JSON (application/json) or YAML (application/yaml), "
            f"not {content_type}."
        )
    return service.document_from_text(body, json_only=True)


def _framework_body(row: service.AssessFramework) -> dict[str, Any]:
    return {**framework_summary(row), "document": row.document}


# --- frameworks --------------------------------------------------------------------------


@router.get("/frameworks", summary="List the frameworks (built-ins first)")
def list_frameworks(db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return {"frameworks": [framework_summary(row) for row in service.list_frameworks(db)]}


@router.post("/frameworks", status_code=201, summary="Create a framework from its document")
async def create_framework(
    request: Request, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    document = await _document(request)
    row = service.save_framework(db, document=document, actor=actor, create=True)
    return _framework_body(row)


@router.get("/frameworks/{code}", summary="One framework (?format=yaml: the YAML document)")
def get_framework(
    code: str,
    db: SessionDep,
    user: CurrentUser,
    format: Annotated[str, Query(pattern="^(json|yaml)$")] = "json",
) -> Any:
    row = service.get_framework_row(db, code=code)
    if format == "yaml":
        return Response(
            service.framework_yaml(row),
            media_type="application/yaml; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{row.code}.yaml"'},
        )
    return _framework_body(row)


@router.put("/frameworks/{code}", summary="Create or replace a framework")
async def put_framework(
    code: str, request: Request, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    document = await _document(request)
    row = service.save_framework(db, document=document, actor=actor, code=code)
    return _framework_body(row)


@router.delete("/frameworks/{code}", status_code=204, summary="Delete a user's framework")
def delete_framework(code: str, db: SessionDep, actor: ActorDep, user: Analyst) -> Response:
    service.delete_framework(db, code=code, actor=actor)
    return Response(status_code=204)


@router.patch("/frameworks/{code}/weights", summary="Change weights of a framework")
def patch_weights(
    code: str, body: WeightsIn, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    row = service.update_weights(
        db, code=code, weights=body.weights, renormalise=body.renormalise, actor=actor
    )
    return _framework_body(row)


# --- units, peer groups ------------------------------------------------------------------


@router.get("/units", summary="List the units (home city first)")
def list_units(
    db: SessionDep, user: CurrentUser, kind: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    return {"units": [unit_dict(row) for row in service.list_units(db, kind=kind)]}


@router.put("/units", summary="Create or update units")
def put_units(body: UnitsIn, db: SessionDep, actor: ActorDep, user: Analyst) -> dict[str, Any]:
    report_ = service.upsert_units(db, units=[u.to_input() for u in body.units], actor=actor)
    return report_.to_dict()


@router.get("/peers", summary="List the peer groups")
def list_peers(db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return {"groups": [peer_group_dict(row) for row in service.list_peer_groups(db)]}


@router.put("/peers/{code}", summary="Create or replace a peer group")
def put_peers(
    code: str, body: PeerGroupIn, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    row = service.save_peer_group(
        db, code=code, name_en=body.name_en, name_zh=body.name_zh, members=body.members, actor=actor
    )
    return peer_group_dict(row)


@router.delete("/peers/{code}", status_code=204, summary="Delete a peer group")
def delete_peers(code: str, db: SessionDep, actor: ActorDep, user: Analyst) -> Response:
    service.delete_peer_group(db, code=code, actor=actor)
    return Response(status_code=204)


# --- values ------------------------------------------------------------------------------


@router.get("/values", summary="Stored values, filtered")
def list_values(
    db: SessionDep,
    user: CurrentUser,
    unit: str | None = None,
    indicator: str | None = None,
    year: int | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> dict[str, Any]:
    rows = service.list_values(db, unit_code=unit, indicator_code=indicator, year=year, limit=limit)
    return {"values": [value_dict(row) for row in rows]}


@router.post("/values", summary="Store values (all or nothing; null removes a value)")
def post_values(body: ValuesIn, db: SessionDep, actor: ActorDep, user: Analyst) -> dict[str, Any]:
    records = [item.to_record() for item in body.values]
    return service.set_values(db, records=records, source=body.source, actor=actor).to_dict()


@router.post("/values/import", summary="Import a CSV/XLSX/XLS file of values")
async def import_values(
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: Analyst,
    file: Annotated[UploadFile, File()],
    framework: Annotated[
        str | None, Query(description="Match the file's indicator keys to this framework")
    ] = None,
) -> dict[str, Any]:
    limit = int(settings.max_upload_mb * 1024 * 1024)
    name = service.check_upload(file.filename or "upload", size=file.size, max_bytes=limit)
    keyed_by = service.get_framework(db, code=framework) if framework else None
    data = await file.read(limit + 1)  # never more than the limit (+1 to notice it)
    imported = service.read_import(data, filename=name, max_bytes=limit)
    result = service.import_values(db, imported=imported, framework=keyed_by, actor=actor)
    return {**service.import_summary(imported), **result.to_dict()}


@router.get("/coverage", summary="The data coverage matrix of a framework on units")
def get_coverage(
    db: SessionDep,
    user: CurrentUser,
    framework: str,
    units: Annotated[str, Query(description="'areas:district', 'peers:<group>' or codes")],
    year: int | None = None,
) -> dict[str, Any]:
    matrix = service.coverage_of(db, framework_code=framework, unit_set=units, year=year)
    return matrix.to_dict()


@router.get("/live", summary="Live platform metrics of the city and its districts")
def get_live(
    db: SessionDep,
    user: CurrentUser,
    units: str | None = None,
    days: Annotated[int, Query(ge=1, le=1100)] = 365,
) -> dict[str, Any]:
    return service.live_table(db, _codes(units), days=days)


# --- runs --------------------------------------------------------------------------------


@router.post("/runs", status_code=201, summary="Run an assessment and store its result")
def post_run(body: RunIn, db: SessionDep, actor: ActorDep, user: Analyst) -> JSONResponse:
    run = service.run_assessment(
        db,
        framework_code=body.framework,
        unit_set=body.units,
        overrides=body.config,
        title=body.title,
        actor=actor,
    )
    return JSONResponse(
        service.run_summary(run),
        status_code=201,
        headers={"Location": f"/api/assess/runs/{run.id}"},
    )


@router.get("/runs", summary="List runs, newest first")
def list_runs(
    db: SessionDep,
    user: CurrentUser,
    framework: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    runs = service.list_runs(db, framework_code=framework, limit=limit)
    return {"runs": [service.run_summary(run) for run in runs]}


@router.get("/runs/{run_id}", summary="A run with its whole stored result")
def get_run(run_id: int, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    run = service.get_run(db, run_id=run_id)
    return {**service.run_summary(run), "result": run.result}


@router.delete("/runs/{run_id}", status_code=204, summary="Delete a run")
def delete_run(run_id: int, db: SessionDep, actor: ActorDep, user: Analyst) -> Response:
    service.delete_run(db, run_id=run_id, actor=actor)
    return Response(status_code=204)


def _report_html(db: SessionDep, run_id: int, lang: str) -> str:
    run = service.get_run(db, run_id=run_id)
    return report.render_report(service.result_of(run), lang=lang, title=run.title)


def _language(request: Request, user: User, lang: str | None) -> str:
    """The ``lang`` asked for, else the reader's own language (as pages choose it)."""
    return lang or choose_language(request, user)


@router.get("/runs/{run_id}/report.html", summary="The run's report as one HTML file")
def report_html(
    request: Request, run_id: int, db: SessionDep, user: CurrentUser, lang: str | None = None
) -> Response:
    html = _report_html(db, run_id, _language(request, user, lang))
    # The report is self-contained (inline styles, data: images): its own, narrower policy.
    headers = {"Content-Security-Policy": report.CONTENT_SECURITY_POLICY}
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/runs/{run_id}/report.pdf", summary="The run's report as PDF")
def report_pdf(
    request: Request,
    run_id: int,
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    lang: str | None = None,
) -> Response:
    html = _report_html(db, run_id, _language(request, user, lang))
    document = pdf.render_pdf(html, chromium=getattr(settings, "chromium_path", None))
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="assessment-{run_id}.pdf"'},
    )


@router.get("/runs/{run_id}/results.xlsx", summary="Every table of the run as an Excel workbook")
def results_xlsx(
    request: Request, run_id: int, db: SessionDep, user: CurrentUser, lang: str | None = None
) -> Response:
    run = service.get_run(db, run_id=run_id)
    data = workbook.build_workbook(service.result_of(run), lang=_language(request, user, lang))
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="assessment-{run_id}.xlsx"'},
    )


@router.get("/runs/{run_id}/compare", summary="Compare a unit with peers on a run")
def compare(
    run_id: int,
    db: SessionDep,
    user: CurrentUser,
    unit: str,
    peers: str | None = None,
    groups: bool = False,
) -> dict[str, Any]:
    run = service.get_run(db, run_id=run_id)
    comparison = benchmarking.compare(
        service.result_of(run), unit=unit, peers=_codes(peers), groups=groups
    )
    return comparison.as_dict()


# --- plans -------------------------------------------------------------------------------


@router.get("/plans", summary="List plans")
def list_plans(db: SessionDep, user: CurrentUser, unit: str | None = None) -> dict[str, Any]:
    return {"plans": [service.plan_dict(plan) for plan in service.list_plans(db, unit_code=unit)]}


@router.post("/plans", status_code=201, summary="Create a plan (with targets)")
def create_plan(body: PlanIn, db: SessionDep, actor: ActorDep, user: Analyst) -> dict[str, Any]:
    plan = service.create_plan(
        db,
        title=body.title,
        unit_code=body.unit,
        framework_code=body.framework,
        description=body.description,
        targets=[target.to_input() for target in body.targets],
        actor=actor,
    )
    return service.plan_dict(plan)


@router.get("/plans/{plan_id}", summary="A plan with its targets and countermeasures")
def get_plan(plan_id: int, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return service.plan_dict(service.get_plan(db, plan_id=plan_id))


@router.patch("/plans/{plan_id}", summary="Change a plan's title, description or framework")
def patch_plan(
    plan_id: int, body: PlanPatch, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    plan = service.update_plan(db, plan_id=plan_id, changes=body.changes(), actor=actor)
    return service.plan_dict(plan)


@router.delete("/plans/{plan_id}", status_code=204, summary="Delete a plan")
def delete_plan(plan_id: int, db: SessionDep, actor: ActorDep, user: Analyst) -> Response:
    service.delete_plan(db, plan_id=plan_id, actor=actor)
    return Response(status_code=204)


@router.post("/plans/{plan_id}/targets", status_code=201, summary="Add a target")
def add_target(
    plan_id: int, body: TargetIn, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    service.add_target(db, plan_id=plan_id, target=body.to_input(), actor=actor)
    return service.plan_dict(service.get_plan(db, plan_id=plan_id))


@router.put("/plans/{plan_id}/targets/{target_id}", summary="Replace a target")
def put_target(
    plan_id: int, target_id: int, body: TargetIn, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    service.update_target(
        db, plan_id=plan_id, target_id=target_id, target=body.to_input(), actor=actor
    )
    return service.plan_dict(service.get_plan(db, plan_id=plan_id))


@router.delete("/plans/{plan_id}/targets/{target_id}", status_code=204, summary="Delete a target")
def delete_target(
    plan_id: int, target_id: int, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    service.delete_target(db, plan_id=plan_id, target_id=target_id, actor=actor)
    return Response(status_code=204)


@router.post("/plans/{plan_id}/countermeasures", status_code=201, summary="Add a countermeasure")
def add_measure(
    plan_id: int, body: MeasureIn, db: SessionDep, actor: ActorDep, user: Analyst
) -> dict[str, Any]:
    service.add_countermeasure(db, plan_id=plan_id, measure=body.to_input(), actor=actor)
    return service.plan_dict(service.get_plan(db, plan_id=plan_id))


@router.patch(
    "/plans/{plan_id}/countermeasures/{measure_id}",
    summary="Change a countermeasure (its status, owner, due date, …)",
)
def patch_measure(
    plan_id: int,
    measure_id: int,
    body: MeasurePatch,
    db: SessionDep,
    actor: ActorDep,
    user: Analyst,
) -> dict[str, Any]:
    service.update_countermeasure(
        db, plan_id=plan_id, measure_id=measure_id, changes=body.changes(), actor=actor
    )
    return service.plan_dict(service.get_plan(db, plan_id=plan_id))


@router.delete(
    "/plans/{plan_id}/countermeasures/{measure_id}",
    status_code=204,
    summary="Delete a countermeasure",
)
def delete_measure(
    plan_id: int, measure_id: int, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    service.delete_countermeasure(db, plan_id=plan_id, measure_id=measure_id, actor=actor)
    return Response(status_code=204)


@router.get("/plans/{plan_id}/progress", summary="Verify a plan's targets from the latest values")
def plan_progress(plan_id: int, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return service.plan_progress(db, plan_id=plan_id).to_dict()
