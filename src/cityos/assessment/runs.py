"""Assessment runs: compute a framework on a unit set and keep the whole result.

A run stores its method choices (``config``) and ``PipelineResult.to_dict()``, so reports,
comparisons and the pages read a run exactly as it was computed, whatever happens to the
framework or the values afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.assessment import library, pipeline
from cityos.assessment.framework import Framework, SourceKind
from cityos.assessment.models import AssessRun
from cityos.assessment.panel import Panel
from cityos.assessment.panels import build_panel, resolve_unit_set
from cityos.assessment.result import PipelineResult
from cityos.audit.service import Actor, record
from cityos.errors import InvalidInput, NotFound, Unprocessable

MAX_TITLE = 300
FILL_HINTS = {
    SourceKind.ENTERED: (
        "enter or import values for its entered indicators (POST /api/assess/values, "
        "POST /api/assess/values/import or `cityos assess values import FILE`)"
    ),
    SourceKind.DATASET: (
        "its dataset indicators read stored values until the data hub is installed: import "
        "their values (`cityos assess values import FILE`)"
    ),
    SourceKind.LIVE: (
        "its live indicators have values only for this city and its districts: assess "
        "'areas:district' or the home city, and make sure cases exist in the window"
    ),
}


def _no_data(framework: Framework, panel: Panel) -> Unprocessable:
    kinds = sorted({ind.source.kind for ind in framework.indicators()}, key=lambda k: k.value)
    hints = "; ".join(FILL_HINTS[kind] for kind in kinds)
    units = ", ".join(panel.unit_codes()[:10])
    return Unprocessable(
        f"No indicator of {framework.code} has a value for the units {units}: {hints}.",
        details={"sources": [kind.value for kind in kinds]},
    )


def check_year(panel: Panel, year: int | None) -> None:
    """Unprocessable when the chosen year has no value at all (listing the years that do)."""
    if year is None:
        return
    filled = [y for k, y in enumerate(panel.years) if not np.isnan(panel.values[k]).all()]
    if year not in filled:
        raise Unprocessable(
            f"There is no value for the year {year}; years with values: "
            f"{', '.join(str(y) for y in filled)}. Choose one of them (or leave the year out "
            "for the latest)."
        )


def run_on_panel(
    framework: Framework,
    panel: Panel,
    overrides: Mapping[str, Any] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> PipelineResult:
    """Run the pipeline on a panel (checks first that it has data for the chosen year)."""
    config = pipeline.config_for(framework, dict(overrides) if overrides else None)
    if np.isnan(panel.values).all():
        raise _no_data(framework, panel)
    check_year(panel, config.year)
    return pipeline.run(framework, panel, config, progress=progress)


def run_assessment(
    db_session: Session,
    *,
    framework_code: str,
    unit_set: str | Sequence[str],
    actor: Actor,
    overrides: Mapping[str, Any] | None = None,
    title: str = "",
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> AssessRun:
    """Compute ``framework_code`` on ``unit_set`` (see :mod:`cityos.assessment.panels`) and
    store the run with its whole result."""
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"The title is longer than {MAX_TITLE} characters: shorten it.")
    # Reading the framework stores the built-in frameworks on first use (a short write,
    # before anything slow); a database that was used before needs no write here.
    framework = library.get_framework(db_session, code=framework_code)
    # The units are read without writing, so that no write transaction stays open while the
    # pipeline runs (SQLite has one writer); new units (map areas, the home city) are stored
    # once the run is done.
    units = resolve_unit_set(db_session, unit_set=unit_set, actor=None)
    gaps: list[str] = []
    panel = build_panel(db_session, framework=framework, units=units.units, now=now, gaps=gaps)
    result = run_on_panel(framework, panel, overrides, progress=progress)
    if gaps:  # say why live indicators are empty, next to the pipeline's own warnings
        result = replace(result, warnings=(*gaps, *result.warnings))
    units = resolve_unit_set(db_session, unit_set=unit_set, actor=actor)
    run = AssessRun(
        framework_code=framework.code,
        title=title.strip() or f"{framework.name_en} — {units.description}"[:MAX_TITLE],
        units=units.description,
        year=result.year,
        config=result.config.model_dump(mode="json"),
        result=result.to_dict(),
        created_by=actor.label[:200],
    )
    db_session.add(run)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="assess.run.create",
        entity_type="assess_run",
        entity_id=run.id,
        summary=f"Ran {framework.code} on {units.description} ({len(units.units)} units, "
        f"year {result.year})",
    )
    return run


def list_runs(
    db_session: Session, *, framework_code: str | None = None, limit: int = 100
) -> list[AssessRun]:
    """The newest runs first (their results are not loaded)."""
    query = select(AssessRun).order_by(AssessRun.created_at.desc(), AssessRun.id.desc())
    if framework_code:
        query = query.where(AssessRun.framework_code == framework_code)
    return list(db_session.scalars(query.limit(max(1, min(limit, 1000)))))


def get_run(db_session: Session, *, run_id: int) -> AssessRun:
    run = db_session.get(AssessRun, run_id)
    if run is None:
        raise NotFound(f"There is no assessment run {run_id}; list them with GET /api/assess/runs.")
    return run


def result_of(run: AssessRun) -> PipelineResult:
    """The run's result as the engine's object (for reports and comparisons)."""
    return PipelineResult.from_dict(run.result)


def delete_run(db_session: Session, *, run_id: int, actor: Actor) -> None:
    run = get_run(db_session, run_id=run_id)
    summary = f"Deleted run {run_id} ({run.framework_code} on {run.units})"
    db_session.delete(run)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="assess.run.delete",
        entity_type="assess_run",
        entity_id=run_id,
        summary=summary,
    )


def run_summary(run: AssessRun) -> dict[str, Any]:
    """A run without its result (lists, the API's run header)."""
    return {
        "id": run.id,
        "framework": run.framework_code,
        "title": run.title,
        "units": run.units,
        "year": run.year,
        "config": run.config,
        "created_at": run.created_at.isoformat(),
        "created_by": run.created_by,
    }
