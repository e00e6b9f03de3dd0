"""Geospatial ``$filter`` functions, evaluated in Python with Shapely (there is no PostGIS).

A function of a geometry property and a ``geography'…'`` literal is computed over every
geometry row of the entity type the path ends at (Locations, FeaturesOfInterest, observed
areas of Datastreams — small tables) and becomes ``id IN (…)`` on that entity; for
anonymous readers only the rows they may see are read. ``geo.distance`` and
``geo.length`` are in the geometry's units (degrees for WGS 84).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import shapely
from shapely import wkt
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput, NotImplementedFeature
from cityos.sensing.sta import access
from cityos.sensing.sta.entities import EntityType

GEO_TESTS: dict[str, Callable[..., Any]] = {
    "geo.intersects": shapely.intersects,
    "st_intersects": shapely.intersects,
    "st_equals": shapely.equals,
    "st_disjoint": shapely.disjoint,
    "st_touches": shapely.touches,
    "st_within": shapely.within,
    "st_overlaps": shapely.overlaps,
    "st_crosses": shapely.crosses,
    "st_contains": shapely.contains,
    "st_relate": shapely.relate_pattern,
}
MEASURES = frozenset({"geo.distance", "geo.length"})
GEO_FUNCTIONS = frozenset(GEO_TESTS) | MEASURES

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def parse_wkt(text: str, where: str) -> BaseGeometry:
    """The geometry of a ``geography'…'`` literal; 400 when it is not WKT."""
    try:
        geometry: BaseGeometry = wkt.loads(text)
    except Exception:  # shapely raises its own GEOSException subclasses
        raise InvalidInput(f"$filter: geography'{text}' {where} is not valid WKT") from None
    return geometry


def shape_of(geojson: Any) -> BaseGeometry | None:
    """The Shapely geometry of a stored GeoJSON value; None when it is empty or malformed."""
    try:
        if isinstance(geojson, dict) and geojson.get("type") == "Feature":
            geojson = geojson.get("geometry")
        if not isinstance(geojson, dict):
            return None
        geometry: BaseGeometry = shape(geojson)
    except Exception:  # malformed GeoJSON in a row: it matches nothing
        return None
    return None if geometry.is_empty else geometry


class GeometryRows:
    """Ids and geometries per (entity type, column), read once per compiled query."""

    def __init__(self, db_session: Session | None, public: bool) -> None:
        self.db_session = db_session
        self.public = public
        self._cache: dict[tuple[str, str], tuple[list[int], Any]] = {}

    def get(self, target: EntityType, column_name: str) -> tuple[list[int], Any]:
        key = (target.name, column_name)
        if key not in self._cache:
            if self.db_session is None:
                raise NotImplementedFeature("geospatial functions need a database session")
            model: Any = target.model
            column = getattr(model, column_name)
            where = [column.is_not(None)]
            visible = access.visible_clause(target, None) if self.public else None
            if visible is not None:
                where.append(visible)
            ids: list[int] = []
            shapes: list[BaseGeometry] = []
            for row_id, geojson in self.db_session.execute(select(model.id, column).where(*where)):
                geometry = shape_of(geojson)
                if geometry is not None:
                    ids.append(row_id)
                    shapes.append(geometry)
            self._cache[key] = (ids, shapely.from_wkb(shapely.to_wkb(shapes)))
        return self._cache[key]


def constant_test(name: str, first: BaseGeometry, second: BaseGeometry, extra: list[Any]) -> bool:
    """A spatial test of two literals."""
    return bool(GEO_TESTS[name](first, second, *extra))


def constant_measure(name: str, shapes: Sequence[BaseGeometry]) -> float:
    """geo.length / geo.distance of literals."""
    if name == "geo.length":
        return float(shapes[0].length)
    return float(shapes[0].distance(shapes[1]))


def matching_test(
    name: str,
    literal: BaseGeometry,
    rows: tuple[list[int], Any],
    *,
    literal_first: bool,
    extra: list[Any],
) -> list[int]:
    """The ids of the rows for which the spatial test with ``literal`` holds."""
    ids, shapes = rows
    if not ids:
        return []
    test = GEO_TESTS[name]
    hits = test(literal, shapes, *extra) if literal_first else test(shapes, literal, *extra)
    return [row_id for row_id, hit in zip(ids, hits, strict=True) if hit]


def matching_measure(
    measure: Callable[[BaseGeometry], float],
    rows: tuple[list[int], Any],
    op: str,
    bound: Any,
    *,
    flipped: bool,
) -> list[int]:
    """The ids of the rows whose measure compares with ``bound`` under ``op``."""
    ids, shapes = rows
    compare = COMPARE[op]
    chosen = []
    for row_id, geometry in zip(ids, shapes, strict=True):
        amount = measure(geometry)
        if compare(bound, amount) if flipped else compare(amount, bound):
            chosen.append(row_id)
    return chosen


def id_in(alias: Any, ids: list[int]) -> ColumnElement[bool]:
    """``alias.id IN (ids)``. An empty list stays a condition on ``alias`` (never a bare
    ``false``, which would drop the join conditions around it)."""
    clause: ColumnElement[bool] = alias.id.in_(ids)
    return clause


__all__ = [
    "COMPARE",
    "GEO_FUNCTIONS",
    "GEO_TESTS",
    "MEASURES",
    "GeometryRows",
    "constant_measure",
    "constant_test",
    "id_in",
    "matching_measure",
    "matching_test",
    "parse_wkt",
    "shape_of",
]
