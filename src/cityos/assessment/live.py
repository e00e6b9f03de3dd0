"""Live platform metrics per unit: the whole city and each of its districts.

Every metric of :data:`~cityos.assessment.live_metrics.LIVE_METRICS` is computed here from
the other domains' ``service`` modules only, one small adapter per module:

- ``cases``: :func:`cityos.cases.service.case_stats` grouped by district over the window
  (default: the 365 days before now) — % resolved within SLA, median hours to resolve,
  reopen rate, and cases requested in the window per 10,000 residents (the unit's
  ``population`` attribute).
- ``datahub`` and ``sensing``: when those packages are installed, their
  ``service.assessment_metrics(db_session, *, area_codes, start, end, now)`` is called; it
  returns ``{area code or None (the whole city): {figure: number or None}}`` with the
  figures named in :data:`DATAHUB_FIGURES` / :data:`SENSING_FIGURES`. Until then each of
  their metrics is ``None`` with the reason "module not installed".

A value that cannot be computed is ``LiveValue(None, reason)`` — never an error — so one
missing population or an empty district does not stop an assessment.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.assessment.live_metrics import LIVE_METRICS
from cityos.assessment.models import AssessUnit
from cityos.assessment.units import ensure_home_unit, home_unit, refresh_area_units
from cityos.assessment.values import ValueRecord, ValuesReport, set_values
from cityos.audit.service import Actor
from cityos.cases import service as cases_service
from cityos.db import utcnow
from cityos.errors import NotFound
from cityos.geo import service as geo_service

WINDOW_DAYS = 365
LIVE_SOURCE = "live"
NOT_INSTALLED = "module not installed"
OUTSIDE = "live metrics exist only for this city and its districts"

# What the data hub's and the sensing module's assessment_metrics() return per area.
DATAHUB_FIGURES = ("open_datasets", "fresh_pct", "sharing_granted_pct", "median_days_to_grant")
SENSING_FIGURES = ("sensors", "reporting_pct", "alert_response_minutes")


@dataclass(frozen=True, slots=True)
class LiveValue:
    """A live metric's value for one unit, or ``None`` and why not."""

    value: float | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "reason": self.reason or None}


@dataclass(frozen=True, slots=True)
class LiveScope:
    """Where a unit's live metrics come from: the whole city (``area`` None) or a district."""

    unit_code: str
    area: str | None
    population: float | None
    area_km2: float | None


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


LiveValues = dict[tuple[str, str], LiveValue]
Adapter = Callable[[Session, Sequence[LiveScope], Window], LiveValues]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def per(count: float, base: float | None, scale: float, unit_code: str, what: str) -> LiveValue:
    """``count`` per ``scale`` of ``base`` (residents, km²), or why it cannot be computed."""
    if base is None or base <= 0:
        return LiveValue(
            None,
            f"no {what} for {unit_code}: set the unit's {what} attribute (PUT /api/assess/units)",
        )
    return LiveValue(round(count / base * scale, 4))


# --- the adapters ------------------------------------------------------------------------


def cases_metrics(db_session: Session, scopes: Sequence[LiveScope], window: Window) -> LiveValues:
    stats = cases_service.case_stats(
        db_session,
        by=cases_service.GroupBy.DISTRICT,
        start=window.start,
        end=window.end,
        now=window.end,
    )
    groups = {group.key: group for group in stats.groups}
    out: LiveValues = {}
    for scope in scopes:
        figures = stats.totals if scope.area is None else groups.get(scope.area)
        unit = scope.unit_code
        if figures is None:  # a district without a single case in the window
            figures = cases_service.GroupStats(key=scope.area, name_en="", name_zh="")
        sla = figures.resolved_within_sla.pct
        out[(unit, "cases.resolved_within_sla_pct")] = (
            LiveValue(sla)
            if sla is not None
            else LiveValue(None, "no case with an SLA target ended in the window")
        )
        median = figures.median_hours_to_resolve
        out[(unit, "cases.median_hours_to_resolve")] = (
            LiveValue(median)
            if median is not None
            else LiveValue(None, "no case was resolved in the window")
        )
        reopen = figures.reopened.pct
        out[(unit, "cases.reopen_rate_pct")] = (
            LiveValue(reopen)
            if reopen is not None
            else LiveValue(None, "no case requested in the window has ended")
        )
        out[(unit, "cases.per_10k_residents")] = per(
            figures.volume, scope.population, 10_000, unit, "population"
        )
    return out


def _module_figures(
    db_session: Session, module: str, scopes: Sequence[LiveScope], window: Window
) -> tuple[dict[str | None, Mapping[str, Any]], str]:
    """``{area or None: figures}`` from ``cityos.<module>.service.assessment_metrics``, or
    ``({}, reason)`` when the module is not there (yet)."""
    if importlib.util.find_spec(f"cityos.{module}") is None:
        return {}, NOT_INSTALLED
    service = importlib.import_module(f"cityos.{module}.service")
    function = getattr(service, "assessment_metrics", None)
    if function is None:
        return {}, f"cityos.{module}.service has no assessment_metrics() yet"
    figures = function(
        db_session,
        area_codes=[scope.area for scope in scopes],
        start=window.start,
        end=window.end,
        now=window.end,
    )
    return dict(figures), ""


def _figure(
    figures: Mapping[str | None, Mapping[str, Any]], area: str | None, name: str
) -> float | None:
    return _number((figures.get(area) or {}).get(name))


def datahub_metrics(db_session: Session, scopes: Sequence[LiveScope], window: Window) -> LiveValues:
    figures, reason = _module_figures(db_session, "datahub", scopes, window)
    out: LiveValues = {}
    for scope in scopes:
        unit = scope.unit_code
        if reason:
            for metric in _metrics_of("datahub"):
                out[(unit, metric)] = LiveValue(None, reason)
            continue
        count = _figure(figures, scope.area, "open_datasets")
        out[(unit, "datahub.open_datasets_per_100k")] = (
            per(count, scope.population, 100_000, unit, "population")
            if count is not None
            else LiveValue(None, "no data")
        )
        for metric, name in (
            ("datahub.fresh_pct", "fresh_pct"),
            ("datahub.sharing_granted", "sharing_granted_pct"),
            ("datahub.median_days_to_grant", "median_days_to_grant"),
        ):
            value = _figure(figures, scope.area, name)
            out[(unit, metric)] = LiveValue(value, "" if value is not None else "no data")
    return out


def sensing_metrics(db_session: Session, scopes: Sequence[LiveScope], window: Window) -> LiveValues:
    figures, reason = _module_figures(db_session, "sensing", scopes, window)
    out: LiveValues = {}
    for scope in scopes:
        unit = scope.unit_code
        if reason:
            for metric in _metrics_of("sensing"):
                out[(unit, metric)] = LiveValue(None, reason)
            continue
        count = _figure(figures, scope.area, "sensors")
        out[(unit, "sensing.sensors_per_km2")] = (
            per(count, scope.area_km2, 1, unit, "area_km2")
            if count is not None
            else LiveValue(None, "no data")
        )
        for metric, name in (
            ("sensing.reporting_pct", "reporting_pct"),
            ("sensing.alert_response_minutes", "alert_response_minutes"),
        ):
            value = _figure(figures, scope.area, name)
            out[(unit, metric)] = LiveValue(value, "" if value is not None else "no data")
    return out


ADAPTERS: dict[str, Adapter] = {
    "cases": cases_metrics,
    "datahub": datahub_metrics,
    "sensing": sensing_metrics,
}


def _metrics_of(module: str) -> list[str]:
    return [code for code in LIVE_METRICS if code.split(".", 1)[0] == module]


# --- units → scopes ----------------------------------------------------------------------


def default_unit_codes(db_session: Session) -> list[str]:
    """The home city (or the map's city area) and every district of the map."""
    home = home_unit(db_session)
    city = [home.code] if home else _city_codes(db_session)[:1]
    districts = geo_service.list_areas(db_session, level=geo_service.AreaLevel.DISTRICT)
    return city + [area.code for area in districts]


def _city_codes(db_session: Session) -> list[str]:
    return [a.code for a in geo_service.list_areas(db_session, level=geo_service.AreaLevel.CITY)]


def scopes_for(
    db_session: Session, unit_codes: Sequence[str], *, strict: bool = True
) -> tuple[list[LiveScope], dict[str, str]]:
    """The scopes of the units that have live metrics, and why the others have none.

    A code is a district of the map, the home city, or the map's city area; other units get
    a reason; codes that are neither units nor districts nor the city are NotFound when
    ``strict`` (else they get a reason too)."""
    codes = list(dict.fromkeys(unit_codes))
    units = {
        u.code: u for u in db_session.scalars(select(AssessUnit).where(AssessUnit.code.in_(codes)))
    }
    districts = {
        a.code: a for a in geo_service.list_areas(db_session, level=geo_service.AreaLevel.DISTRICT)
    }
    cities = {
        a.code: a for a in geo_service.list_areas(db_session, level=geo_service.AreaLevel.CITY)
    }
    unknown = [
        code for code in codes if code not in units and code not in districts and code not in cities
    ]
    if unknown and strict:
        raise NotFound(
            f"Unknown unit(s) {', '.join(unknown)}: name stored units or areas of the map.",
            details={"unknown_units": unknown},
        )
    scopes: list[LiveScope] = []
    outside: dict[str, str] = {}
    for code in codes:
        unit = units.get(code)
        attributes = (unit.attributes or {}) if unit else {}
        area = districts.get(code) or cities.get(code)
        if area is None and not (unit and unit.is_home):
            outside[code] = OUTSIDE
            continue
        if area is None and cities:
            area = next(iter(cities.values()))
        population = _number(attributes.get("population"))
        if population is None and area is not None:
            population = _number((area.properties or {}).get("population"))
        area_km2 = _number(attributes.get("area_km2"))
        if area_km2 is None and area is not None:
            area_km2 = area.area_m2 / 1e6
        scopes.append(
            LiveScope(
                unit_code=code,
                area=code if code in districts else None,
                population=population,
                area_km2=area_km2,
            )
        )
    return scopes, outside


def live_values(
    db_session: Session,
    unit_codes: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
    days: int = WINDOW_DAYS,
    strict: bool = True,
) -> LiveValues:
    """Every live metric for every unit: ``{(unit, metric): LiveValue}``.

    The window is the ``days`` before ``now``. Units default to the home city and the
    districts (:func:`default_unit_codes`); unknown codes are NotFound when ``strict``."""
    end = now or utcnow()
    window = Window(start=end - timedelta(days=days), end=end)
    codes = list(unit_codes) if unit_codes is not None else default_unit_codes(db_session)
    scopes, outside = scopes_for(db_session, codes, strict=strict)
    values: LiveValues = {}
    for code, reason in outside.items():
        for metric in LIVE_METRICS:
            values[(code, metric)] = LiveValue(None, reason)
    if scopes:
        for adapter in ADAPTERS.values():
            values.update(adapter(db_session, scopes, window))
    return values


def live_table(
    db_session: Session,
    unit_codes: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
    days: int = WINDOW_DAYS,
) -> dict[str, Any]:
    """The live metrics as JSON: the window, the metrics, the units and their values."""
    end = now or utcnow()
    codes = list(unit_codes) if unit_codes is not None else default_unit_codes(db_session)
    values = live_values(db_session, codes, now=end, days=days)
    return {
        "from": (end - timedelta(days=days)).isoformat(),
        "to": end.isoformat(),
        "metrics": [
            {
                "code": code,
                "name_en": metric.name_en,
                "name_zh": metric.name_zh,
                "unit": metric.unit,
                "direction": metric.direction.value,
            }
            for code, metric in LIVE_METRICS.items()
        ],
        "units": codes,
        "values": {
            code: {metric: values[(code, metric)].to_dict() for metric in LIVE_METRICS}
            for code in codes
        },
    }


def snapshot_live(
    db_session: Session, *, actor: Actor, now: datetime | None = None, days: int = WINDOW_DAYS
) -> ValuesReport:
    """Store today's live values of the home city and the districts as values of the
    current year (source ``live``), so that plans and panels keep their history.

    The home city and the district units are created from the map when missing."""
    end = now or utcnow()
    codes = [ensure_home_unit(db_session, actor=actor).code]
    if geo_service.list_areas(db_session, level=geo_service.AreaLevel.DISTRICT):
        codes += [unit.code for unit in refresh_area_units(db_session, actor=actor)]
    values = live_values(db_session, codes, now=end, days=days)
    records = [
        ValueRecord(
            unit_code=unit,
            indicator_code=metric,
            year=end.year,
            value=live.value,
            note=f"live on {end.date().isoformat()}",
        )
        for (unit, metric), live in values.items()
        if live.value is not None
    ]
    return set_values(db_session, records=records, source=LIVE_SOURCE, actor=actor)
