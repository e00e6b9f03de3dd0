"""The KPI tiles of the operations center (``GET /api/ops/summary``).

Each tile is read from the owning domain's service; the figures are cached in parts
(:mod:`cityos.ops.cache`) so that an event drops only what it changes: a new reading drops
the sensor part and keeps the case figures.

Tiles, in order (``previous`` is the same figure for the previous period, None where the
domain keeps no history of it):

=========================  =====  ======  ======================================================
key                        unit   better  value
=========================  =====  ======  ======================================================
``cases_new``              count  –       cases requested in the period
``cases_open``             count  down    cases open now (detail: ``breached``); previous:
                                          open when the period began
``cases_resolved``         count  up      cases resolved in the period (detail: ``closed``)
``sla_pct``                pct    up      % of the cases ended in the SLA window with a
                                          resolve target that ended by it
``median_hours``           hours  down    median hours from request to resolution (SLA window)
``reopen_pct``             pct    down    % of the cases requested in the SLA window that ended
                                          and were reopened
``alerts_active``          count  down    sensor alerts active now; previous: active at the end
                                          of the previous period (detail: ``by_severity``)
``sensors_reporting_pct``  pct    up      % of public datastreams with a reading in the last
                                          hour (detail: ``reporting``, ``datastreams``);
                                          previous: at the end of the previous period, from
                                          the hourly rollups
``datasets_open_pct``      pct    up      % of the published datasets that are open
``datasets_fresh_pct``     pct    up      % of the published datasets that are fresh
=========================  =====  ======  ======================================================
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from cityos.cases import service as cases_service
from cityos.datahub import service as datahub_service
from cityos.ops.cache import FigureCache
from cityos.ops.filters import Filters, Period
from cityos.sensing import service as sensing_service

MODULES = ("cases", "sensing", "datahub")
HISTORY_SECONDS = 3600.0  # figures of the past are kept this long
TILE_KEYS = (
    "cases_new",
    "cases_open",
    "cases_resolved",
    "sla_pct",
    "median_hours",
    "reopen_pct",
    "alerts_active",
    "sensors_reporting_pct",
    "datasets_open_pct",
    "datasets_fresh_pct",
)


@dataclass(frozen=True, slots=True)
class Tile:
    key: str
    value: float | None
    previous: float | None
    unit: str  # count | pct | hours
    better: str | None  # up | down | None
    detail: dict[str, Any] | None = None
    available: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "previous": self.previous,
            "unit": self.unit,
            "better": self.better,
            "detail": self.detail,
            "available": self.available,
        }


@cache
def installed(module: str) -> bool:
    """Whether this build has the domain ``module`` (a missing one shows as unavailable)."""
    return importlib.util.find_spec(f"cityos.{module}") is not None


def area_filter(filters: Filters) -> cases_service.AreaFilter | None:
    """The cases domain's form of the area filter."""
    if filters.area is None:
        return None
    return cases_service.AreaFilter(level=filters.area.level.value, area_id=filters.area.id)


# --- parts (each cached on its own) ---------------------------------------------------------


def case_counts(
    db_session: Session, filters: Filters, cache: FigureCache
) -> tuple[cases_service.BoardCounts, cases_service.BoardCounts]:
    """This period's and the previous period's counts."""
    area = area_filter(filters)

    def compute() -> tuple[cases_service.BoardCounts, cases_service.BoardCounts]:
        def counts(period: Period, *, with_open: bool) -> cases_service.BoardCounts:
            return cases_service.board_counts(
                db_session,
                start=period.start,
                end=period.end,
                area=area,
                now=filters.now,
                with_open=with_open,
            )

        return counts(filters.period, with_open=True), counts(filters.previous, with_open=False)

    return cache.get("cases.counts", filters.key, compute)


def case_quality(
    db_session: Session, filters: Filters, cache: FigureCache
) -> tuple[cases_service.BoardQuality, cases_service.BoardQuality]:
    """Quality over the SLA window and over the window before it."""
    area = area_filter(filters)

    def compute() -> tuple[cases_service.BoardQuality, cases_service.BoardQuality]:
        def quality(period: Period) -> cases_service.BoardQuality:
            return cases_service.board_quality(
                db_session, start=period.start, end=period.end, area=area, now=filters.now
            )

        return quality(filters.sla_window), quality(filters.sla_window.before())

    return cache.get("cases.quality", filters.key, compute)


def alert_counts(
    db_session: Session, filters: Filters, cache: FigureCache
) -> tuple[sensing_service.AlertCounts, sensing_service.AlertCounts]:
    """Alerts active now and at the end of the previous period."""

    def compute() -> tuple[sensing_service.AlertCounts, sensing_service.AlertCounts]:
        now = sensing_service.alert_board(db_session, area_code=filters.area_code)
        then = sensing_service.alert_board(
            db_session, area_code=filters.area_code, at=filters.previous.end
        )
        return now, then

    return cache.get("alerts.board", filters.key, compute)


def sensor_reporting(
    db_session: Session, filters: Filters, cache: FigureCache
) -> tuple[sensing_service.Reporting, sensing_service.Reporting]:
    """Datastreams reporting now, and at the end of the previous period (hourly rollups).

    The past does not change with new readings, so that figure is kept apart ("history", a
    group no event drops) for an hour, keyed to the hour (the rollups are hourly)."""
    area = filters.area_code
    now = cache.get(
        "sensors.reporting",
        area or "",
        lambda: sensing_service.reporting(db_session, area_code=area, now=filters.now),
    )
    at = filters.previous.end.replace(minute=0, second=0, microsecond=0)
    then = cache.get(
        "history.reporting",
        (area or "", at.isoformat()),
        lambda: sensing_service.reporting_at(db_session, area_code=area, at=at),
        ttl=HISTORY_SECONDS,
    )
    return now, then


def dataset_figures(
    db_session: Session, filters: Filters, cache: FigureCache
) -> datahub_service.HubBoard:
    """The data hub's figures (datasets are not placed on the map: no area)."""
    return cache.get(
        "datahub.board", "", lambda: datahub_service.board_metrics(db_session, now=filters.now)
    )


# --- tiles ----------------------------------------------------------------------------------


def open_at_start(counts: cases_service.BoardCounts) -> int:
    """Cases open when the period began: open now, less those requested since, plus those
    that ended since (a case reopened during the period counts as open then too)."""
    return max(counts.open_now - counts.new + counts.resolved + counts.closed, 0)


def case_tiles(db_session: Session, filters: Filters, cache: FigureCache) -> list[Tile]:
    counts, before = case_counts(db_session, filters, cache)
    quality, earlier = case_quality(db_session, filters, cache)
    window = filters.sla_window.to_dict()
    return [
        Tile("cases_new", counts.new, before.new, "count", None),
        Tile(
            "cases_open",
            counts.open_now,
            open_at_start(counts),
            "count",
            "down",
            {"breached": counts.breached_now},
        ),
        Tile(
            "cases_resolved",
            counts.resolved,
            before.resolved,
            "count",
            "up",
            {"closed": counts.closed},
        ),
        Tile(
            "sla_pct",
            quality.sla_pct,
            earlier.sla_pct,
            "pct",
            "up",
            {"met": quality.resolved_within_sla, "of": quality.resolved_with_target} | window,
        ),
        Tile(
            "median_hours",
            quality.median_hours_to_resolve,
            earlier.median_hours_to_resolve,
            "hours",
            "down",
            window,
        ),
        Tile(
            "reopen_pct",
            quality.reopen_pct,
            earlier.reopen_pct,
            "pct",
            "down",
            {"reopened": quality.reopened, "ended": quality.ended} | window,
        ),
    ]


def sensing_tiles(db_session: Session, filters: Filters, cache: FigureCache) -> list[Tile]:
    now, then = alert_counts(db_session, filters, cache)
    seen, seen_before = sensor_reporting(db_session, filters, cache)
    return [
        Tile(
            "alerts_active",
            now.active,
            then.active,
            "count",
            "down",
            {"by_severity": dict(now.by_severity)},
        ),
        Tile(
            "sensors_reporting_pct",
            seen.pct,
            seen_before.pct,
            "pct",
            "up",
            {"reporting": seen.reporting, "datastreams": seen.datastreams},
        ),
    ]


def datahub_tiles(db_session: Session, filters: Filters, cache: FigureCache) -> list[Tile]:
    hub = dataset_figures(db_session, filters, cache)
    return [
        Tile(
            "datasets_open_pct",
            hub.open_pct,
            None,
            "pct",
            "up",
            {"open": hub.open, "published": hub.published, "datasets": hub.datasets},
        ),
        Tile(
            "datasets_fresh_pct",
            hub.fresh_pct,
            None,
            "pct",
            "up",
            {"fresh": hub.fresh, "published": hub.published},
        ),
    ]


UNITS = {
    "cases_new": ("count", None),
    "cases_open": ("count", "down"),
    "cases_resolved": ("count", "up"),
    "sla_pct": ("pct", "up"),
    "median_hours": ("hours", "down"),
    "reopen_pct": ("pct", "down"),
    "alerts_active": ("count", "down"),
    "sensors_reporting_pct": ("pct", "up"),
    "datasets_open_pct": ("pct", "up"),
    "datasets_fresh_pct": ("pct", "up"),
}


def unavailable(key: str) -> Tile:
    unit, better = UNITS[key]
    return Tile(key, None, None, unit, better, None, available=False)


def summary(db_session: Session, *, filters: Filters, cache: FigureCache) -> dict[str, Any]:
    """The ``/api/ops/summary`` document for these filters."""
    modules = {module: installed(module) for module in MODULES}
    tiles: dict[str, Tile] = {}
    if modules["cases"]:
        tiles.update((t.key, t) for t in case_tiles(db_session, filters, cache))
    if modules["sensing"]:
        tiles.update((t.key, t) for t in sensing_tiles(db_session, filters, cache))
    if modules["datahub"]:
        tiles.update((t.key, t) for t in datahub_tiles(db_session, filters, cache))
    return {
        "generated_at": filters.now.isoformat(),
        "range": filters.range,
        "area": filters.area.to_dict() if filters.area else None,
        "period": filters.period.to_dict(),
        "previous": filters.previous.to_dict(),
        "sla_window": filters.sla_window.to_dict(),
        "modules": modules,
        "tiles": [(tiles.get(key) or unavailable(key)).to_dict() for key in TILE_KEYS],
    }
