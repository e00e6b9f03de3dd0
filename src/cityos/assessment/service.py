"""The assessment domain's interface: what the web layer, the CLI, the demo and other domains
call. Plain functions with keyword arguments and a session first; they raise
:mod:`cityos.errors` exceptions and never know about HTTP.

- Frameworks (:mod:`~cityos.assessment.library`): ``sync_builtin_frameworks``,
  ``list_frameworks``, ``get_framework_row`` / ``get_framework``, ``save_framework``,
  ``update_weights``, ``delete_framework``, ``framework_yaml``.
- Units and peer groups (:mod:`~cityos.assessment.units`): ``list_units``, ``get_unit(s)``,
  ``upsert_units``, ``home_unit``, ``ensure_home_unit``, ``refresh_area_units``,
  ``list_peer_groups``, ``get_peer_group``, ``save_peer_group``, ``delete_peer_group``,
  ``ensure_default_peers``.
- Values (:mod:`~cityos.assessment.values`): ``set_values``, ``import_values``,
  ``values_for``, ``list_values``; :func:`read_import` reads an uploaded file.
- Panels and coverage (:mod:`~cityos.assessment.panels`): ``resolve_unit_set``,
  ``build_panel``, :func:`coverage_of`.
- Runs (:mod:`~cityos.assessment.runs`): ``run_assessment``, ``list_runs``, ``get_run``,
  ``result_of``, ``delete_run``, ``run_summary``.
- Live metrics (:mod:`~cityos.assessment.live`): ``live_values``, ``live_table``,
  ``snapshot_live``.
- Plans (:mod:`~cityos.assessment.plans`): ``create_plan``, ``update_plan``,
  ``delete_plan``, ``list_plans``, ``get_plan``, ``add_target``, ``update_target``,
  ``delete_target``, ``add_countermeasure``, ``update_countermeasure``,
  ``delete_countermeasure``, ``plan_progress``, ``plan_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy.orm import Session

from cityos.assessment import importers
from cityos.assessment.importers import ImportedValues
from cityos.assessment.library import (
    delete_framework,
    document_from_text,
    framework_of,
    framework_yaml,
    get_framework,
    get_framework_row,
    list_frameworks,
    renormalises,
    save_framework,
    sync_builtin_frameworks,
    update_weights,
)
from cityos.assessment.live import (
    LiveValue,
    default_unit_codes,
    live_table,
    live_values,
    snapshot_live,
)
from cityos.assessment.models import (
    AssessFramework,
    AssessPeerGroup,
    AssessRun,
    AssessUnit,
    Countermeasure,
    IndicatorValue,
    MeasureStatus,
    Plan,
    PlanTarget,
    UnitKind,
)
from cityos.assessment.panels import Coverage, UnitSet, build_panel, coverage, resolve_unit_set
from cityos.assessment.plans import (
    MeasureInput,
    PlanProgress,
    TargetInput,
    add_countermeasure,
    add_target,
    create_plan,
    delete_countermeasure,
    delete_plan,
    delete_target,
    get_plan,
    list_plans,
    plan_dict,
    plan_progress,
    update_countermeasure,
    update_plan,
    update_target,
)
from cityos.assessment.runs import (
    delete_run,
    get_run,
    list_runs,
    result_of,
    run_assessment,
    run_on_panel,
    run_summary,
)
from cityos.assessment.units import (
    DEFAULT_PEER_GROUP,
    UnitInput,
    UnitsReport,
    delete_peer_group,
    ensure_default_peers,
    ensure_home_unit,
    get_peer_group,
    get_unit,
    get_units,
    home_unit,
    list_peer_groups,
    list_units,
    refresh_area_units,
    save_peer_group,
    upsert_units,
)
from cityos.assessment.values import (
    ValueRecord,
    ValuesReport,
    import_values,
    list_values,
    set_values,
    values_for,
)
from cityos.assessment.verification import AT_RISK_SHARE, Stage, Status, TargetProgress
from cityos.errors import InvalidInput, PayloadTooLarge

__all__ = [
    "AT_RISK_SHARE",
    "DEFAULT_PEER_GROUP",
    "AssessFramework",
    "AssessPeerGroup",
    "AssessRun",
    "AssessUnit",
    "Countermeasure",
    "Coverage",
    "ImportedValues",
    "IndicatorValue",
    "LiveValue",
    "MeasureInput",
    "MeasureStatus",
    "Plan",
    "PlanProgress",
    "PlanTarget",
    "Stage",
    "Status",
    "TargetInput",
    "TargetProgress",
    "UnitInput",
    "UnitKind",
    "UnitSet",
    "UnitsReport",
    "ValueRecord",
    "ValuesReport",
    "add_countermeasure",
    "add_target",
    "build_panel",
    "check_upload",
    "coverage_of",
    "create_plan",
    "default_unit_codes",
    "delete_countermeasure",
    "delete_framework",
    "delete_peer_group",
    "delete_plan",
    "delete_run",
    "delete_target",
    "document_from_text",
    "ensure_default_peers",
    "ensure_home_unit",
    "framework_of",
    "framework_yaml",
    "get_framework",
    "get_framework_row",
    "get_peer_group",
    "get_plan",
    "get_run",
    "get_unit",
    "get_units",
    "home_unit",
    "import_summary",
    "import_values",
    "list_frameworks",
    "list_peer_groups",
    "list_plans",
    "list_runs",
    "list_units",
    "list_values",
    "live_table",
    "live_values",
    "plan_dict",
    "plan_progress",
    "read_import",
    "refresh_area_units",
    "renormalises",
    "resolve_unit_set",
    "result_of",
    "run_assessment",
    "run_on_panel",
    "run_summary",
    "save_framework",
    "save_peer_group",
    "set_values",
    "snapshot_live",
    "sync_builtin_frameworks",
    "update_countermeasure",
    "update_plan",
    "update_target",
    "update_weights",
    "upsert_units",
    "values_for",
]

IMPORT_EXTENSIONS = (".csv", ".xlsx", ".xls")


def check_upload(filename: str, *, size: int | None, max_bytes: int) -> str:
    """The upload's plain file name after checking its extension and size. Only the name's
    last part is kept, and it only chooses the layout — it is never used as a path."""
    name = PurePath(filename.replace("\\", "/")).name or "upload"
    if not name.lower().endswith(IMPORT_EXTENSIONS):
        raise InvalidInput(
            f"{name} is not a values file: upload a .csv, .xlsx or .xls file (long or wide "
            "layout, or the UN-Habitat City Prosperity spreadsheet)."
        )
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(
            f"{name} is larger than {max_bytes / 1024 / 1024:g} MB: split it into smaller files."
        )
    return name


def read_import(data: bytes, *, filename: str, max_bytes: int) -> ImportedValues:
    """Read an uploaded values file (see :func:`check_upload`)."""
    name = check_upload(filename, size=len(data), max_bytes=max_bytes)
    if not data:
        raise InvalidInput(f"{name} is empty: choose the file again.")
    return importers.read_values(data, filename=name)


def import_summary(imported: ImportedValues) -> dict[str, Any]:
    """What a file held: its layout, how many units and indicators, and the years."""
    return {
        "layout": imported.layout,
        "units": len(imported.units),
        "indicators": len(imported.indicators),
        "years": sorted({year for _, year, _, _ in imported.records}),
    }


def coverage_of(
    db_session: Session,
    *,
    framework_code: str,
    unit_set: str | Sequence[str],
    year: int | None = None,
    now: datetime | None = None,
) -> Coverage:
    """The data coverage matrix of a framework on a unit set (nothing is written)."""
    framework = get_framework(db_session, code=framework_code)
    units = resolve_unit_set(db_session, unit_set=unit_set, actor=None)
    return coverage(db_session, framework=framework, units=units.units, year=year, now=now)
