"""The map layers of the operations center (``GET /api/ops/layers/{layer}``).

Each layer is a GeoJSON FeatureCollection with a few extra members:

- ``areas``: the areas of one level (``district``, ``subdistrict`` or ``grid``; default the
  districts for the whole city and the next finer level that has areas inside an area),
  coloured by ``metric`` (``open``: open cases now; ``breached``: open cases past their SLA
  clock). ``legend``: ``{"metric", "max", "breaks"}``. Drilled down to an area with no
  smaller areas (a grid cell), it shows that area among its parent's areas of its level,
  marked ``"selected": true``.
- ``sensors``: the latest value of each public sensor of one observed property;
  ``properties`` lists the observed properties, ``observed_property`` the one shown.
- ``alerts``: the active sensor alerts that have a place (most severe first, at most 500).
- ``cases``: the cases requested in the period, newest first (at most 2,000); ``total``
  says how many there are, ``truncated`` whether some were left out.

The areas' polygons are cached per geo revision (they change only when an administrator
edits the map); the values are cached like every other figure (:mod:`cityos.ops.cache`).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cityos.cases import service as cases_service
from cityos.errors import InvalidInput, NotFound
from cityos.geo import service as geo_service
from cityos.geo.service import AreaLevel
from cityos.ops.cache import FigureCache
from cityos.ops.filters import FILTER_LEVELS, Filters
from cityos.ops.summary import area_filter
from cityos.sensing import service as sensing_service

LAYERS = ("areas", "sensors", "alerts", "cases")
METRICS = ("open", "breached")
LEVELS = tuple(level.value for level in FILTER_LEVELS)
MAX_ALERTS = 500
MAX_CASES = 2000
LEGEND_CLASSES = 5


def parse_layer(name: str) -> str:
    if name not in LAYERS:
        raise NotFound(
            f"There is no layer {name[:40]!r}; the layers are {', '.join(LAYERS)}.",
            details={"layers": list(LAYERS)},
        )
    return name


def point(lon: float | None, lat: float | None) -> dict[str, Any] | None:
    if lon is None or lat is None:
        return None
    return {"type": "Point", "coordinates": [lon, lat]}


def collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}


# --- area polygons, cached per geo revision --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tree:
    """Each area's parent and level."""

    parents: dict[int, int | None]
    levels: dict[int, AreaLevel]


class _Polygons:
    """Per geo revision: each area's parent and level, and the GeoJSON features of each
    level."""

    SIZE = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trees: OrderedDict[str, _Tree] = OrderedDict()
        self._levels: OrderedDict[tuple[str, str], dict[int, dict[str, Any]]] = OrderedDict()

    @staticmethod
    def _remember(store: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > size:
            store.popitem(last=False)

    def tree(self, db_session: Session, revision: str | None) -> _Tree:
        with self._lock:
            found = self._trees.get(revision) if revision else None
        if found is not None:
            return found
        areas = geo_service.list_areas(db_session)
        tree = _Tree(
            parents={area.id: area.parent_id for area in areas},
            levels={area.id: AreaLevel(area.level) for area in areas},
        )
        if revision:
            with self._lock:
                self._remember(self._trees, revision, tree, self.SIZE)
        return tree

    def level(
        self, db_session: Session, revision: str | None, level: AreaLevel
    ) -> dict[int, dict[str, Any]]:
        """``{area id: Feature}`` of every area of ``level``."""
        key = (revision or "", level.value)
        with self._lock:
            found = self._levels.get(key) if revision else None
        if found is not None:
            return found
        areas = geo_service.list_areas(db_session, level=level)
        document = geo_service.feature_collection(areas)
        features = {
            area.id: feature for area, feature in zip(areas, document["features"], strict=True)
        }
        if revision:
            with self._lock:
                self._remember(self._levels, key, features, self.SIZE * len(AreaLevel))
        return features


_polygons = _Polygons()


def geo_revision(db_session: Session) -> str | None:
    """The geo revision token (changes with every write to the areas)."""
    return geo_service.revision(db_session)


def _inside(area_id: int, ancestor_id: int, parents: dict[int, int | None]) -> bool:
    current: int | None = parents.get(area_id)
    for _ in range(len(AreaLevel)):
        if current is None:
            return False
        if current == ancestor_id:
            return True
        current = parents.get(current)
    return False


def area_features(
    db_session: Session, *, level: AreaLevel, within_id: int | None
) -> dict[int, dict[str, Any]]:
    revision = geo_revision(db_session)
    features = _polygons.level(db_session, revision, level)
    if within_id is None:
        return features
    parents = _polygons.tree(db_session, revision).parents
    return {
        area_id: feature
        for area_id, feature in features.items()
        if _inside(area_id, within_id, parents)
    }


def parse_metric(value: str | None) -> str:
    metric = (value or "open").strip().lower()
    if metric not in METRICS:
        raise InvalidInput(
            f"metric {value!r} is not a map metric; use one of {', '.join(METRICS)}.",
            details={"allowed": list(METRICS)},
        )
    return metric


@dataclass(frozen=True, slots=True)
class AreaView:
    """What the areas layer draws: the areas of ``level`` inside area ``within_id`` (None:
    the whole city), their open cases counted inside ``within``; ``selected`` is the
    filter's own area when it is shown among its neighbours (``alone``: it has no parent,
    so it is shown by itself)."""

    level: AreaLevel
    within_id: int | None
    within: cases_service.AreaFilter | None
    selected: int | None = None
    alone: bool = False


def area_view(db_session: Session, value: str | None, filters: Filters) -> AreaView:
    """The level to colour: the one asked for (finer than the filter's area), else the
    default (districts for the city; inside an area, the next finer level that has areas;
    for an area with none, such as a grid cell, its own level among its parent's areas)."""
    area = filters.area
    coarsest = area.level.rank if area else AreaLevel.CITY.rank
    finer = [level for level in FILTER_LEVELS if level.rank > coarsest]
    within_id, within = (area.id if area else None), area_filter(filters)
    if value is not None and value.strip():
        text = value.strip().lower()
        if text not in LEVELS:
            raise InvalidInput(
                f"level {value[:40]!r} is not an area level; use one of {', '.join(LEVELS)}.",
                details={"allowed": list(LEVELS)},
            )
        level = AreaLevel(text)
        if level not in finer:
            where = area.code if area else "the city"
            if finer:
                hint = f"inside it use: {', '.join(item.value for item in finer)}"
            else:
                hint = (
                    "it is a grid cell, the finest level: leave level out to see it among "
                    "its neighbours"
                )
            raise InvalidInput(
                f"level {text!r} is not finer than {where}; {hint}.",
                details={"allowed": [item.value for item in finer]},
            )
        return AreaView(level, within_id, within)
    if area is None:
        return AreaView(AreaLevel.DISTRICT, None, None)
    for level in finer:
        if area_features(db_session, level=level, within_id=area.id):
            return AreaView(level, within_id, within)
    tree = _polygons.tree(db_session, geo_revision(db_session))
    parent_id = tree.parents.get(area.id)
    if parent_id is None:
        return AreaView(area.level, None, within, selected=area.id, alone=True)
    parent_level = tree.levels.get(parent_id)
    parent_within = (
        cases_service.AreaFilter(level=parent_level.value, area_id=parent_id)
        if parent_level in FILTER_LEVELS
        else None  # the city: everywhere
    )
    return AreaView(area.level, parent_id, parent_within, selected=area.id)


def breaks(maximum: int) -> list[int]:
    """Upper bounds of up to five equal classes from 0 to ``maximum`` (whole numbers)."""
    if maximum <= 0:
        return [0]
    bounds = [math.ceil(maximum * i / LEGEND_CLASSES) for i in range(1, LEGEND_CLASSES + 1)]
    return sorted(set(bounds))


def areas_layer(
    db_session: Session,
    *,
    filters: Filters,
    cache: FigureCache,
    metric: str | None,
    level: str | None,
) -> dict[str, Any]:
    chosen_metric = parse_metric(metric)
    view = area_view(db_session, level, filters)
    chosen_level = view.level

    def compute() -> dict[str, Any]:
        polygons = area_features(db_session, level=chosen_level, within_id=view.within_id)
        if view.alone:
            polygons = {k: v for k, v in polygons.items() if k == view.selected}
        counts = cases_service.open_by_area(
            db_session, level=chosen_level.value, within=view.within, now=filters.now
        )
        features = []
        for area_id, base in polygons.items():
            found = counts.get(area_id)
            value = (
                0 if found is None else (found.open if chosen_metric == "open" else found.breached)
            )
            props = base["properties"]
            features.append(
                {
                    "type": "Feature",
                    "id": base["id"],
                    "geometry": base["geometry"],
                    "properties": {
                        "code": props["code"],
                        "level": props["level"],
                        "name_en": props["name_en"],
                        "name_zh": props["name_zh"],
                        "value": value,
                        "url": f"/ops?area={props['code']}",
                        "selected": area_id == view.selected,
                    },
                }
            )
        maximum = max((f["properties"]["value"] for f in features), default=0)
        legend = {"metric": chosen_metric, "max": maximum, "breaks": breaks(maximum)}
        return collection(features, level=chosen_level.value, legend=legend)

    key = (filters.area_code or "", chosen_metric, chosen_level.value)
    return cache.get("cases.layer.areas", key, compute)


def sensors_layer(
    db_session: Session, *, filters: Filters, cache: FigureCache, observed_property: str | None
) -> dict[str, Any]:
    wanted = (observed_property or "").strip() or None

    def compute() -> dict[str, Any]:
        layer = sensing_service.sensor_points(
            db_session, area_code=filters.area_code, observed_property=wanted
        )
        features = [
            {
                "type": "Feature",
                "id": p.datastream_id,
                "geometry": point(p.lon, p.lat),
                "properties": {
                    "datastream_id": p.datastream_id,
                    "name": p.datastream_name,
                    "thing": p.thing_name,
                    "value": p.value,
                    "unit": p.unit,
                    "time": p.phenomenon_time.isoformat(),
                    "url": f"/sensing/datastreams/{p.datastream_id}",
                },
            }
            for p in layer.points
        ]
        return collection(
            features, properties=layer.properties, observed_property=layer.observed_property
        )

    return cache.get("sensors.layer", (filters.area_code or "", wanted or ""), compute)


def alerts_layer(db_session: Session, *, filters: Filters, cache: FigureCache) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        alerts = sensing_service.active_alert_points(
            db_session, area_code=filters.area_code, limit=MAX_ALERTS
        )
        features = [
            {
                "type": "Feature",
                "id": a.id,
                "geometry": point(a.lon, a.lat),
                "properties": {
                    "id": a.id,
                    "severity": a.severity,
                    "message": a.message,
                    "started_at": a.started_at.isoformat(),
                    "acknowledged": a.acknowledged_at is not None,
                    "case_id": a.case_id,
                    "case_category": a.case_category,
                    "datastream_id": a.datastream_id,
                    "datastream": a.datastream_name,
                    "url": f"/sensing/datastreams/{a.datastream_id}",
                },
            }
            for a in alerts
            if a.lon is not None and a.lat is not None
        ]
        return collection(features)

    return cache.get("alerts.layer", filters.area_code or "", compute)


def cases_layer(db_session: Session, *, filters: Filters, cache: FigureCache) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        points, total = cases_service.recent_cases(
            db_session,
            start=filters.period.start,
            end=filters.period.end,
            area=area_filter(filters),
            limit=MAX_CASES,
        )
        features = [
            {
                "type": "Feature",
                "id": c.id,
                "geometry": point(c.lon, c.lat),
                "properties": {
                    "id": c.id,
                    "category": c.service_code,
                    "name_en": c.name_en,
                    "name_zh": c.name_zh,
                    "status": c.status,
                    "priority": c.priority,
                    "requested_at": c.requested_at.isoformat(),
                    "url": f"/staff/cases/{c.id}",
                },
            }
            for c in points
        ]
        return collection(features, total=total, truncated=total > len(points))

    return cache.get("cases.layer.cases", filters.key, compute)


def layer(
    db_session: Session,
    *,
    name: str,
    filters: Filters,
    cache: FigureCache,
    metric: str | None = None,
    level: str | None = None,
    observed_property: str | None = None,
) -> dict[str, Any]:
    """One map layer; NotFound listing the layers for an unknown name."""
    chosen = parse_layer(name)
    if chosen == "areas":
        return areas_layer(db_session, filters=filters, cache=cache, metric=metric, level=level)
    if chosen == "sensors":
        return sensors_layer(
            db_session, filters=filters, cache=cache, observed_property=observed_property
        )
    if chosen == "alerts":
        return alerts_layer(db_session, filters=filters, cache=cache)
    return cases_layer(db_session, filters=filters, cache=cache)
