"""The charts of the operations center (``GET /api/ops/series/{name}``).

- ``cases_per_hour``: cases requested in each of the last 24 hours (the current hour
  included, so the last point is still filling) and in the same hours 7 days earlier; it
  ignores ``range``.
- ``top_categories``: the ten categories with the most cases requested in the period.
- ``sla_by_department``: per department, of the cases ended in the SLA window with a
  resolve target, how many ended by it.
- ``sensor_trend``: the mean reading per bucket over the period, for one datastream
  (``datastream=ID``) or for every public datastream of an observed property in the area
  (``observed_property=name``; neither: the sensors layer's default property). Buckets are
  5 minutes for one datastream over ``today`` or ``24h``, else 1 hour (1 day for a property
  whose hourly trend would read more than :data:`MAX_HOURLY_ROWS` rollups); an empty
  bucket is ``null``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cityos.cases import service as cases_service
from cityos.errors import NotFound
from cityos.ops.cache import FigureCache
from cityos.ops.filters import Filters, parse_id
from cityos.ops.summary import area_filter
from cityos.sensing import service as sensing_service

SERIES = ("cases_per_hour", "top_categories", "sla_by_department", "sensor_trend")
HOURS = 24
TOP = 10
SHORT_RANGES = ("today", "24h")
STEPS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
# An observed property's trend reads one hourly rollup per datastream and hour; above this
# many it reads daily ones instead (a 30-day trend of thousands of sensors).
MAX_HOURLY_ROWS = 100_000


def parse_series(name: str) -> str:
    if name not in SERIES:
        raise NotFound(
            f"There is no series {name[:40]!r}; the series are {', '.join(SERIES)}.",
            details={"series": list(SERIES)},
        )
    return name


def cases_per_hour(db_session: Session, *, filters: Filters, cache: FigureCache) -> dict[str, Any]:
    now = filters.now.astimezone(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    area = area_filter(filters)

    def compute() -> dict[str, Any]:
        current = cases_service.hourly_counts(db_session, start=start, hours=HOURS, area=area)
        last_week = cases_service.hourly_counts(
            db_session, start=start - timedelta(days=7), hours=HOURS, area=area
        )
        hours = [(start + timedelta(hours=i)).isoformat() for i in range(HOURS)]
        return {"hours": hours, "current": current, "last_week": last_week}

    return cache.get("cases.series.hourly", (filters.area_code or "", start), compute)


def top_categories(db_session: Session, *, filters: Filters, cache: FigureCache) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        items = cases_service.top_categories(
            db_session,
            start=filters.period.start,
            end=filters.period.end,
            area=area_filter(filters),
            limit=TOP,
        )
        return {
            "items": [
                {
                    "code": c.service_code,
                    "name_en": c.name_en,
                    "name_zh": c.name_zh,
                    "count": c.count,
                }
                for c in items
            ]
        }

    return cache.get("cases.series.top", filters.key, compute)


def sla_by_department(
    db_session: Session, *, filters: Filters, cache: FigureCache
) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        items = cases_service.sla_by_department(
            db_session,
            start=filters.sla_window.start,
            end=filters.sla_window.end,
            area=area_filter(filters),
            now=filters.now,
        )
        return {
            "window": filters.sla_window.to_dict(),
            "items": [
                {
                    "code": d.code,
                    "name_en": d.name_en,
                    "name_zh": d.name_zh,
                    "pct": d.pct,
                    "met": d.met,
                    "of": d.of,
                }
                for d in items
            ],
        }

    return cache.get("cases.series.sla", filters.key, compute)


def parse_datastream(value: str | None) -> int | None:
    return parse_id(
        value,
        name="datastream",
        what="a datastream id",
        hint="give a whole number such as 12 (the sensors layer lists them as datastream_id)",
    )


def _filled(
    buckets: list[dict[str, Any]], start: datetime, end: datetime, step: timedelta
) -> list[list[Any]]:
    """Every bucket from ``start`` to ``end``, ``null`` where there was no reading."""
    values = {datetime.fromisoformat(b["t"]).astimezone(UTC): b["v"] for b in buckets}
    points: list[list[Any]] = []
    moment = start
    while moment < end:
        value = values.get(moment)
        points.append([moment.isoformat(), None if value is None else round(float(value), 4)])
        moment += step
    return points


def sensor_trend(
    db_session: Session,
    *,
    filters: Filters,
    cache: FigureCache,
    datastream: str | None,
    observed_property: str | None,
) -> dict[str, Any]:
    datastream_id = parse_datastream(datastream)
    wanted = (observed_property or "").strip() or None
    hours = filters.period.length / timedelta(hours=1)

    def aggregate_common(interval: str) -> dict[str, Any]:
        start = filters.period.start
        return {
            "interval": interval,
            "start": start,
            # at least one bucket: at the city's midnight "today" has not begun yet
            "end": max(filters.period.end, start + STEPS[interval]),
            "fn": "mean",
            "include_restricted": False,
            "now": filters.now,
        }

    def compute() -> dict[str, Any]:
        if datastream_id is not None:
            interval = "5m" if filters.range in SHORT_RANGES else "1h"
            found = sensing_service.datastream_aggregate(
                db_session, datastream_id=datastream_id, **aggregate_common(interval)
            )
            label = str(found["datastream"]["name"])
            unit_of_measurement = found["datastream"]["unit"] or {}
            unit = str(unit_of_measurement.get("symbol") or "")
        else:
            # checks the name (InvalidInput listing the names) and picks the default
            counts, chosen = sensing_service.choose_property(
                db_session, area_code=filters.area_code, observed_property=wanted
            )
            if not chosen:
                return {"label": None, "unit": None, "interval": "1h", "points": []}
            # hourly, unless that would read too many stored rollups: then daily
            interval = "1h" if hours * counts.get(chosen, 0) <= MAX_HOURLY_ROWS else "1d"
            found = sensing_service.area_aggregate(
                db_session,
                observed_property=chosen,
                area=filters.area_code,
                **aggregate_common(interval),
            )
            label = chosen
            unit = ", ".join(found["units"])
        start = datetime.fromisoformat(found["from"])
        end = datetime.fromisoformat(found["to"])
        return {
            "label": label,
            "unit": unit,
            "interval": interval,
            "points": _filled(found["buckets"], start, end, STEPS[interval]),
        }

    key = (filters.key, datastream_id or 0, wanted or "")
    return cache.get("sensors.series.trend", key, compute)


def series(
    db_session: Session,
    *,
    name: str,
    filters: Filters,
    cache: FigureCache,
    datastream: str | None = None,
    observed_property: str | None = None,
) -> dict[str, Any]:
    """One chart's data; NotFound listing the series for an unknown name."""
    chosen = parse_series(name)
    if chosen == "cases_per_hour":
        return cases_per_hour(db_session, filters=filters, cache=cache)
    if chosen == "top_categories":
        return top_categories(db_session, filters=filters, cache=cache)
    if chosen == "sla_by_department":
        return sla_by_department(db_session, filters=filters, cache=cache)
    return sensor_trend(
        db_session,
        filters=filters,
        cache=cache,
        datastream=datastream,
        observed_property=observed_property,
    )
