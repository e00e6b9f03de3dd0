"""The public face of the geo domain: where is a point, what are the areas, write areas.

Other domains call only this module (``locate`` for one point, ``locate_many`` for bulk
routing). Functions take a session and keyword arguments, return domain objects or plain
dicts, and raise :mod:`cityos.errors` exceptions; nothing here knows about HTTP.

Writes to the areas go through :func:`upsert_areas` (and the importer and grid generator,
which share its engine in :mod:`cityos.geo.writes`): each one changes the geo revision token
and records an audit entry in the caller's transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from cityos.audit.service import Actor, record
from cityos.errors import InvalidInput, NotFound, Unprocessable
from cityos.geo.index import AreaIndex, AreaRef, IntArray, ObjArray, current_index, read_token
from cityos.geo.models import Area, AreaLevel
from cityos.geo.writes import (
    AreaInput,
    AreaProblem,
    UpsertReport,
    bump_revision,
    prepare_areas,
    write_areas,
)

__all__ = [
    "AreaInput",
    "AreaLevel",
    "AreaRef",
    "BulkLocation",
    "Location",
    "UpsertReport",
    "area_detail",
    "children_count",
    "feature_collection",
    "get_area",
    "level_counts",
    "list_areas",
    "locate",
    "locate_many",
    "parse_level",
    "upsert_areas",
]

COORDINATE_ORDER_HINT = "GeoJSON/our API order is longitude, latitude"


# --- locating points --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Location:
    """Where a point is: the areas containing it, finest first (grid cell … city)."""

    inside: bool
    areas: tuple[AreaRef, ...]

    @property
    def finest(self) -> AreaRef | None:
        return self.areas[0] if self.areas else None

    def by_level(self, level: AreaLevel) -> AreaRef | None:
        return next((area for area in self.areas if area.level is level), None)

    def to_dict(self) -> dict[str, Any]:
        return {"inside": self.inside, "areas": [area.to_dict() for area in self.areas]}


def _coordinates_error(lon: float, lat: float) -> str | None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return f"The coordinates must be finite numbers (got longitude {lon}, latitude {lat})."
    if -180 <= lon <= 180 and -90 <= lat <= 90:
        return None
    message = (
        f"Longitude {lon:g}, latitude {lat:g} is not a WGS84 position: longitude must be "
        "between -180 and 180 and latitude between -90 and 90."
    )
    if -180 <= lat <= 180 and -90 <= lon <= 90:
        message += f" They look swapped: {COORDINATE_ORDER_HINT}."
    return message


def locate(db_session: Session, *, lon: float, lat: float) -> Location:
    """The finest area containing the point and its ancestors.

    A point outside every area is ``Location(inside=False, areas=())``, not an error. A point
    on a boundary shared by two areas gets one of them, always the same one.
    """
    lon, lat = float(lon), float(lat)
    problem = _coordinates_error(lon, lat)
    if problem:
        finite = math.isfinite(lon) and math.isfinite(lat)  # NaN is not valid JSON
        raise InvalidInput(problem, details={"lon": lon, "lat": lat} if finite else None)
    index = current_index(db_session)
    position = index.locate_point(lon, lat)
    if position < 0:
        return Location(inside=False, areas=())
    return Location(inside=True, areas=index.lineages[position])


@dataclass(frozen=True, slots=True)
class BulkLocation:
    """Where many points are. ``area_ids[i]`` is point i's finest area id, -1 outside."""

    area_ids: IntArray
    _positions: IntArray
    _index: AreaIndex

    def __len__(self) -> int:
        return len(self.area_ids)

    @property
    def inside(self) -> npt.NDArray[np.bool_]:
        return self._positions >= 0

    def lineage(self, area_id: int) -> tuple[AreaRef, ...]:
        """The area and its ancestors, finest first (empty for -1 or an unknown id)."""
        return self._index.lineage_of_id(int(area_id))

    def codes_at(self, level: AreaLevel) -> ObjArray:
        """Per point, the code of its area at ``level`` (None when it has none)."""
        return self._index.codes_at(level)[self._positions]

    def ids_at(self, level: AreaLevel) -> IntArray:
        """Per point, the id of its area at ``level`` (-1 when it has none)."""
        return self._index.ids_at(level)[self._positions]

    def location(self, i: int) -> Location:
        position = int(self._positions[i])
        if position < 0:
            return Location(inside=False, areas=())
        return Location(inside=True, areas=self._index.lineages[position])


def locate_many(db_session: Session, *, lons: npt.ArrayLike, lats: npt.ArrayLike) -> BulkLocation:
    """Vectorised :func:`locate`: one spatial-index query per level for all the points."""
    x = np.asarray(lons, dtype=np.float64)
    y = np.asarray(lats, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise InvalidInput(
            f"lons and lats must be one-dimensional and of the same length "
            f"(got shapes {x.shape} and {y.shape})."
        )
    bad = ~((np.abs(x) <= 180) & (np.abs(y) <= 90))  # NaN compares False: caught too
    if bad.any():
        where = np.flatnonzero(bad)
        first = int(where[0])
        message = (
            f"{where.size:,} of {x.size:,} points are not WGS84 positions (longitude -180..180, "
            f"latitude -90..90); the first is point {first}: {x[first]}, {y[first]}."
        )
        swapped_ok = (np.abs(y[where]) <= 180) & (np.abs(x[where]) <= 90)
        if swapped_ok.all():
            message += f" They look swapped: {COORDINATE_ORDER_HINT}."
        raise InvalidInput(message, details={"invalid_points": where[:20].tolist()})
    index = current_index(db_session)
    positions = index.locate_xy(x, y)
    return BulkLocation(area_ids=index.ids_or_none[positions], _positions=positions, _index=index)


# --- reading areas ----------------------------------------------------------------------


def revision(db_session: Session) -> str | None:
    """The geo revision token: it changes with every write to the areas (None: never written).
    Caches of anything drawn from the areas key on it."""
    return read_token(db_session)


def parse_level(value: str) -> AreaLevel:
    """The level named ``value``; InvalidInput listing the valid ones otherwise."""
    try:
        return AreaLevel(value.strip().lower())
    except ValueError:
        valid = ", ".join(level.value for level in AreaLevel)
        raise InvalidInput(
            f"Unknown level {value!r}; use one of {valid}.",
            details={"valid_levels": [level.value for level in AreaLevel]},
        ) from None


def get_area(db_session: Session, *, code: str) -> Area:
    area = db_session.scalars(select(Area).where(Area.code == code)).one_or_none()
    if area is None:
        raise NotFound(
            f"There is no area with the code {code!r}. List the codes with "
            "GET /api/geo/areas or `cityos areas list`."
        )
    return area


def list_areas(
    db_session: Session, *, level: AreaLevel | None = None, parent_code: str | None = None
) -> list[Area]:
    """Areas, coarsest level first then by code; optionally one level, or one parent's children."""
    query = select(Area)
    if level is not None:
        query = query.where(Area.level == level.value)
    if parent_code is not None:
        parent = get_area(db_session, code=parent_code)
        query = query.where(Area.parent_id == parent.id)
    areas = list(db_session.scalars(query))
    areas.sort(key=lambda area: (AreaLevel(area.level).rank, area.code))
    return areas


def area_codes(db_session: Session) -> frozenset[str]:
    """The code of every area of the city map (for checking codes in bulk)."""
    return frozenset(db_session.scalars(select(Area.code)))


def level_counts(db_session: Session) -> dict[str, int]:
    """How many areas each level has (every level listed, coarsest first)."""
    rows = db_session.execute(select(Area.level, func.count()).group_by(Area.level))
    counts = {str(level): int(count) for level, count in rows}
    return {level.value: counts.get(level.value, 0) for level in AreaLevel}


def children_count(db_session: Session, *, code: str) -> dict[str, int]:
    """How many direct children the area has, per level (levels without children left out)."""
    area = get_area(db_session, code=code)
    rows = db_session.execute(
        select(Area.level, func.count()).where(Area.parent_id == area.id).group_by(Area.level)
    )
    counts = {str(level): int(count) for level, count in rows}
    return {level.value: counts[level.value] for level in AreaLevel if level.value in counts}


def _parent_codes(areas: Sequence[Area]) -> dict[int, str]:
    codes = {area.id: area.code for area in areas}
    missing = {area.parent_id for area in areas if area.parent_id is not None} - codes.keys()
    session = object_session(areas[0]) if areas else None
    if missing and session is not None:
        rows = session.execute(select(Area.id, Area.code).where(Area.id.in_(missing)))
        codes.update({int(area_id): str(code) for area_id, code in rows})
    return codes


def _feature_properties(area: Area, parent_code: str | None) -> dict[str, Any]:
    return {
        "code": area.code,
        "name_zh": area.name_zh,
        "name_en": area.name_en,
        "level": area.level,
        "parent_code": parent_code,
        "area_m2": round(area.area_m2, 1),
    }


def feature_collection(
    areas: Sequence[Area],
    *,
    include_geometry: bool = True,
    parent_codes: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The areas as a GeoJSON FeatureCollection (``id`` = code).

    Parent codes are looked up in the areas' session unless given in ``parent_codes``.
    """
    codes = dict(parent_codes) if parent_codes is not None else _parent_codes(areas)
    geometries: list[Any] = [None] * len(areas)
    if include_geometry and areas:
        shapes = shapely.from_wkb(np.array([area.geometry_wkb for area in areas], dtype=object))
        geometries = [json.loads(text) for text in shapely.to_geojson(shapes)]
    features = [
        {
            "type": "Feature",
            "id": area.code,
            "geometry": geometry,
            "properties": _feature_properties(
                area, codes.get(area.parent_id) if area.parent_id is not None else None
            ),
        }
        for area, geometry in zip(areas, geometries, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def area_detail(db_session: Session, *, code: str) -> dict[str, Any]:
    """One area as a GeoJSON Feature with its ancestors (parent first) and children counts."""
    area = get_area(db_session, code=code)
    index = current_index(db_session)
    position = index.position_of(area.id)
    lineage = index.lineages[position] if position >= 0 else ()
    ancestors = [ref.to_dict() for ref in lineage[1:]]
    level = AreaLevel(area.level)
    descendants = {
        finer.value: int(index.descendants(position, finer).size)
        for finer in AreaLevel
        if finer.rank > level.rank and position >= 0
    }
    properties = _feature_properties(area, ancestors[0]["code"] if ancestors else None)
    properties.update(
        {
            "label": [area.label_lon, area.label_lat],
            "properties": area.properties,
            "ancestors": ancestors,
            "children": children_count(db_session, code=code),
            "descendants": {key: value for key, value in descendants.items() if value},
        }
    )
    geometry = json.loads(shapely.to_geojson(shapely.from_wkb(area.geometry_wkb)))
    return {
        "type": "Feature",
        "id": area.code,
        "bbox": [area.min_lon, area.min_lat, area.max_lon, area.max_lat],
        "geometry": geometry,
        "properties": properties,
    }


# --- writing areas ----------------------------------------------------------------------


def problems_error(problems: Sequence[AreaProblem], *, total: int, noun: str) -> Unprocessable:
    """One error for every problem of a batch: a summary message, the list in ``details``."""
    failing = len({problem.index for problem in problems})
    first = problems[0]
    label = f"{noun} {first.index}" + (f" ({first.code})" if first.code else "")
    verb = "imported" if noun == "feature" else "saved"
    return Unprocessable(
        f"{failing} of {total} {noun}s cannot be {verb}; nothing was {verb}. "
        f"First: {label} {first.reason}.",
        details=[problem.to_dict() for problem in problems],
    )


def upsert_areas(db_session: Session, *, areas: Sequence[AreaInput], actor: Actor) -> UpsertReport:
    """Create or update areas by code, all or nothing.

    Checks every area (unique non-empty codes, Polygon/MultiPolygon, valid, WGS84), finds the
    parent of each one whose ``parent_code`` is None (the area of the parent level with the
    largest overlap), computes bbox, label point and geodesic area, writes in bulk, changes
    the revision token and records the audit entry. Any problem raises
    :class:`~cityos.errors.Unprocessable` (``details`` lists them all) before any write.
    """
    if not areas:
        return UpsertReport(created=0, updated=0)
    prepared, problems = prepare_areas(db_session, areas)
    if problems or prepared is None:
        raise problems_error(problems, total=len(areas), noun="area")
    existing_before = set(prepared.existing_ids)
    report = write_areas(db_session, prepared)
    if len(areas) == 1:
        area = prepared.inputs[0]
        is_update = area.code in existing_before
        record(
            db_session,
            actor=actor,
            action="geo.area.update" if is_update else "geo.area.create",
            entity_type="geo_area",
            entity_id=area.code,
            summary=f"{'Updated' if is_update else 'Created'} {area.level.value} {area.code} "
            f"({area.name_zh})",
            after={
                "level": area.level.value,
                "parent_code": prepared.parent_codes[0],
                "area_m2": round(prepared.area_m2[0], 1),
            },
        )
    else:
        levels = sorted({level.value for level in prepared.levels})
        record(
            db_session,
            actor=actor,
            action="geo.area.upsert",
            entity_type="geo_area",
            entity_id="*",
            summary=f"Saved {len(areas):,} areas ({', '.join(levels)}): "
            f"{report.created:,} created, {report.updated:,} updated",
            after={"created": report.created, "updated": report.updated, "levels": levels},
        )
    return report


def _bump_revision(db_session: Session) -> str:
    """Change the geo revision token (every write to the areas does, in its transaction)."""
    return bump_revision(db_session)
