"""Framework pages: the tree with its weights editor (/assess/frameworks/{code}), YAML download
and upload, and the data coverage matrix (/assess/frameworks/{code}/coverage).

The weights editor is a plain form (it works without script); assess-framework.js adds the
live sums per group and "rescale to fit". Saving goes through ``service.update_weights``, so
a sum that does not fit is refused with the parser's message, naming the group.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.assessment.framework import Framework
from cityos.assessment.live_metrics import LIVE_METRICS
from cityos.assessment.pipeline import config_for
from cityos.assessment.views_common import Analyst, can_edit, form_fields, refused, render
from cityos.assessment.views_data import (
    SCREEN_PCT,
    dimension_of,
    name_of,
    tree_rows,
    weight_changes,
    weight_text,
)
from cityos.auth.models import User
from cityos.deps import ActorDep, CurrentUser, SessionDep, SettingsDep
from cityos.errors import CityOSError, InvalidInput, PayloadTooLarge
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
FRAMEWORK = "assessment/framework.html"
COVERAGE = "assessment/coverage.html"
WEIGHT_FIELD = "w."  # the weights editor's inputs: w.<node code>
SOURCED_UNITS = 100  # the coverage page names each cell's source for at most this many units
NOTICES = ("saved", "uploaded", "unchanged")


async def read_document(file: UploadFile, max_upload_mb: float) -> dict[str, Any]:
    """A framework document from an uploaded YAML or JSON file (checked by the parser)."""
    limit = int(max_upload_mb * 1024 * 1024)
    name = file.filename or "framework"
    if not name.lower().endswith((".yaml", ".yml", ".json")):
        raise InvalidInput(f"{name} is not a framework file: upload a .yaml, .yml or .json file.")
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"{name} is larger than {max_upload_mb:g} MB.")
    if not data.strip():
        raise InvalidInput(f"{name} is empty: choose the file again.")
    return service.document_from_text(data)


def framework_context(
    db: Session, user: User, page: Page, code: str, typed: dict[str, str] | None = None
) -> dict[str, Any]:
    row = service.get_framework_row(db, code=code)
    framework = service.framework_of(row)
    lang = page.language
    rows = tree_rows(framework, lang)
    weights = {r.code: weight_text(r.weight) for r in rows}
    if typed:
        weights.update(typed)
    return {
        "row": row,
        "framework": framework,
        "framework_name": name_of(framework, lang),
        "description": framework.description_zh
        if lang == "zh-CN" and framework.description_zh
        else framework.description_en,
        "rows": rows,
        "weights": weights,
        "indicator_count": len(framework.indicators()),
        "renormalises": service.renormalises(framework.method),
        "metrics": {code: name_of(metric, lang) for code, metric in LIVE_METRICS.items()},
        "runs": [
            service.run_summary(run) for run in service.list_runs(db, framework_code=code, limit=10)
        ],
        "can_edit": can_edit(user),
    }


@router.get("/assess/frameworks/{code}", response_class=HTMLResponse)
def framework_page(code: str, page: PageDep, db: SessionDep, user: CurrentUser) -> HTMLResponse:
    context = framework_context(db, user, page, code)
    notice = page.request.query_params.get("notice", "")
    if notice in NOTICES:
        context["notice"] = page.t(f"assess.framework.notice_{notice}")
    return render(page, FRAMEWORK, context)


@router.post("/assess/frameworks/{code}/weights")
async def save_weights(
    code: str, request: Request, page: PageDep, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    fields = await form_fields(request)
    typed = {
        key[len(WEIGHT_FIELD) :]: value
        for key, value in fields.items()
        if key.startswith(WEIGHT_FIELD)
    }
    renormalise = fields.get("renormalise") == "on"
    try:
        framework = service.get_framework(db, code=code)
        changes = weight_changes(framework, typed)
        if not changes and not renormalise:
            return RedirectResponse(f"/assess/frameworks/{code}?notice=unchanged", status_code=303)
        service.update_weights(db, code=code, weights=changes, renormalise=renormalise, actor=actor)
    except CityOSError as error:
        return refused(
            page, db, FRAMEWORK, lambda: framework_context(db, user, page, code, typed), error
        )
    return RedirectResponse(f"/assess/frameworks/{code}?notice=saved", status_code=303)


@router.get("/assess/frameworks/{code}/download.yaml")
def download_yaml(code: str, db: SessionDep, user: CurrentUser) -> Response:
    row = service.get_framework_row(db, code=code)
    return Response(
        service.framework_yaml(row).encode("utf-8"),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{row.code}.yaml"'},
    )


@router.post("/assess/frameworks/{code}/upload")
async def replace_framework(
    code: str,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
    user: Analyst,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Replace the framework by a file holding the same code."""
    try:
        document = await read_document(file, settings.max_upload_mb)
        service.save_framework(db, document=document, actor=actor, code=code)
    except CityOSError as error:
        return refused(page, db, FRAMEWORK, lambda: framework_context(db, user, page, code), error)
    return RedirectResponse(f"/assess/frameworks/{code}?notice=uploaded", status_code=303)


@router.post("/assess/frameworks/{code}/delete")
def delete_framework(
    code: str, page: PageDep, db: SessionDep, actor: ActorDep, user: Analyst
) -> Response:
    try:
        service.delete_framework(db, code=code, actor=actor)
    except CityOSError as error:
        return refused(page, db, FRAMEWORK, lambda: framework_context(db, user, page, code), error)
    return RedirectResponse("/assess?notice=framework_deleted", status_code=303)


# --- coverage ------------------------------------------------------------------------------


def default_units(db: Session, framework: Framework) -> str:
    """Districts for a framework with live indicators (they exist for districts), else the
    home city and the first peer group, else the districts."""
    if any(ind.source.kind.value == "live" for ind in framework.indicators()):
        return "areas:district"
    groups = service.list_peer_groups(db)
    return f"peers:{groups[0].code}" if groups else "areas:district"


def screen_thresholds(framework: Framework) -> tuple[float, float]:
    """(indicator, unit) coverage thresholds in % from the framework's own method."""
    try:
        screen = config_for(framework, None).screen
    except CityOSError:
        return SCREEN_PCT, SCREEN_PCT
    return screen.min_indicator_coverage * 100, screen.min_unit_coverage * 100


def cell_sources(
    db: Session, units: list[str], indicators: list[str]
) -> dict[tuple[str, str, int], str]:
    """(unit, indicator, year) → where the stored value came from: entered or import.

    Adapter: the coverage matrix of the service has years, not sources; the stored values of
    each unit are read through ``service.list_values`` (for a sensible number of units)."""
    if len(units) > SOURCED_UNITS:
        return {}
    wanted = set(indicators)
    out: dict[tuple[str, str, int], str] = {}
    for unit in units:
        for value in service.list_values(db, unit_code=unit, limit=100_000):
            if value.indicator_code in wanted:
                kind = "import" if value.source.startswith("import") else "entered"
                kind = "live" if value.source == "live" else kind
                out[(unit, value.indicator_code, value.year)] = kind
    return out


def coverage_context(
    db: Session, page: Page, code: str, units: str | None, year_text: str | None
) -> tuple[dict[str, Any], CityOSError | None]:
    framework = service.get_framework(db, code=code)
    lang = page.language
    chosen = (units or "").strip() or default_units(db, framework)
    indicator_pct, unit_pct = screen_thresholds(framework)
    context: dict[str, Any] = {
        "framework": framework,
        "framework_name": name_of(framework, lang),
        "units_param": chosen,
        "year_param": (year_text or "").strip(),
        "peer_groups": service.list_peer_groups(db),
        "indicator_pct": indicator_pct,
        "unit_pct": unit_pct,
        "matrix": None,
    }
    try:
        year = None
        if context["year_param"]:
            try:
                year = int(context["year_param"])
            except ValueError:
                raise InvalidInput(
                    f"The year ({context['year_param']!r}) is not a whole number."
                ) from None
        coverage = service.coverage_of(db, framework_code=code, unit_set=chosen, year=year)
    except CityOSError as error:
        db.rollback()
        return context, error
    dims = dimension_of(framework)
    unit_codes = [u["code"] for u in coverage.units]
    sources = cell_sources(db, unit_codes, [i["code"] for i in coverage.indicators])
    sections: list[dict[str, Any]] = []
    for i, indicator in enumerate(coverage.indicators):
        dim = dims.get(indicator["code"], "")
        if not sections or sections[-1]["code"] != dim:
            node = framework.node(dim) if dim else framework.root
            sections.append({"code": dim, "name": name_of(node, lang), "rows": []})
        cells: list[dict[str, Any]] = []
        for j, cell_year in enumerate(coverage.cells[i]):
            if cell_year is None:
                cells.append({"state": "missing", "text": "—"})
                continue
            source = sources.get((unit_codes[j], indicator["code"], cell_year))
            source = source or ("live" if indicator["source"] == "live" else indicator["source"])
            stale = year is not None and cell_year != year
            cells.append(
                {
                    "state": "stale" if stale else source,
                    "source": source,
                    "year": cell_year,
                    "text": str(cell_year) if stale or year is None else "✓",
                }
            )
        sections[-1]["rows"].append({**indicator, "name": name_of(indicator, lang), "cells": cells})
    context["matrix"] = {
        "year": year,
        "units": [{**u, "name": name_of(u, lang)} for u in coverage.units],
        "sections": sections,
        "pct": coverage.pct,
        "sources_shown": bool(sources) or len(unit_codes) <= SOURCED_UNITS,
    }
    return context, None


@router.get("/assess/frameworks/{code}/coverage", response_class=HTMLResponse)
def coverage_page(
    code: str,
    page: PageDep,
    db: SessionDep,
    user: CurrentUser,
    units: str | None = None,
    year: str | None = None,
) -> HTMLResponse:
    context, error = coverage_context(db, page, code, units, year)
    if error is None:
        return render(page, COVERAGE, context)
    shown = {**context, "error": error.message}
    # the page's own default may simply not apply yet (no map, no peers): not an error
    status = error.status_code if (units or year) else 200
    return render(page, COVERAGE, shown, status_code=status)
