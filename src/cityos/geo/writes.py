"""Validating and writing areas in bulk: the engine behind ``service.upsert_areas``.

Two steps, so that callers (the service, the GeoJSON importer, the grid generator) can collect
every problem before anything is written:

* :func:`prepare_areas` checks a batch (codes, names, levels, polygons, WGS84 ranges,
  validity), finds each area's parent and computes the stored columns. It writes nothing and
  returns the problems it found, one :class:`AreaProblem` per issue.
* :func:`write_areas` inserts or updates the prepared rows by code with a few Core
  statements (no ORM row loop) and changes the geo revision token.

Neither records the audit entry: each caller does, with its own action.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.geo.models import Area, AreaLevel, GeoRevision

MAX_CODE_LENGTH = 64
MAX_NAME_LENGTH = 200
_GEOD = Geod(ellps="WGS84")
_POLYGONAL = {"Polygon", "MultiPolygon"}
_TABLE = cast(Table, Area.__table__)
_COLUMNS = _TABLE.c


@dataclass(frozen=True, slots=True)
class AreaInput:
    """One area to create or update (matched by ``code``).

    ``geometry`` is a Shapely Polygon or MultiPolygon in WGS84 longitude/latitude.
    ``parent_code`` None means "find the parent automatically": the area of the parent level
    that overlaps this one the most. An empty ``name_en`` falls back to ``name_zh``.
    """

    code: str
    name_zh: str
    name_en: str
    level: AreaLevel
    geometry: Any
    properties: Mapping[str, Any] = field(default_factory=dict)
    parent_code: str | None = None


@dataclass(frozen=True, slots=True)
class UpsertReport:
    created: int
    updated: int


@dataclass(frozen=True, slots=True)
class AreaProblem:
    """Why input number ``index`` cannot be saved."""

    index: int
    code: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "reason": self.reason}


@dataclass(slots=True)
class PreparedAreas:
    """A checked batch with every stored column computed, in input order."""

    inputs: list[AreaInput]
    levels: list[AreaLevel]
    parent_codes: list[str | None]
    wkb: list[bytes]
    bounds: npt.NDArray[np.float64]
    labels: npt.NDArray[np.float64]
    area_m2: list[float]
    existing_ids: dict[str, int]

    @property
    def codes(self) -> list[str]:
        return [area.code for area in self.inputs]


# --- geometry helpers (shared with the importer and the grid) ----------------------------


def coordinate_problem(lons: npt.ArrayLike, lats: npt.ArrayLike) -> str | None:
    """Why these coordinates are not WGS84 longitude/latitude, or None when they are."""
    x = np.asarray(lons, dtype=np.float64)
    y = np.asarray(lats, dtype=np.float64)
    if not x.size:
        return None
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return "has coordinates that are not finite numbers (NaN or infinity)"
    lon_ok = np.abs(x) <= 180
    lat_ok = np.abs(y) <= 90
    if (lon_ok & lat_ok).all():
        return None
    bad = int(np.flatnonzero(~(lon_ok & lat_ok))[0])
    where = f"[{x[bad]:g}, {y[bad]:g}]"
    limits = "WGS84 needs longitude -180..180 and latitude -90..90"
    if (np.abs(y) <= 180).all() and (np.abs(x) <= 90).all():
        return (
            f"has coordinate {where} outside the WGS84 range ({limits}); the coordinates "
            "look like latitude/longitude swapped: GeoJSON order is longitude, latitude"
        )
    if max(float(np.abs(x).max()), float(np.abs(y).max())) > 1000:
        return (
            f"has coordinate {where} outside the WGS84 range ({limits}); it looks like "
            "projected coordinates (metres): reproject the data to WGS84 (EPSG:4326)"
        )
    return f"has coordinate {where} outside the WGS84 range ({limits})"


def geodesic_area_m2(geometry: Any) -> float:
    """Area on the WGS84 ellipsoid in square metres."""
    area, _perimeter = _GEOD.geometry_area_perimeter(geometry)
    return abs(float(area))


def validity_reason(geometry: Any) -> str:
    """GEOS's reason with the location spelled out, e.g. 'Self-intersection at 120.1, 30.2'."""
    reason = str(shapely.is_valid_reason(geometry))
    if reason.endswith("]") and "[" in reason:
        text, _, where = reason[:-1].partition("[")
        parts = where.split()
        if len(parts) >= 2:
            return f"{text} at longitude {float(parts[0]):g}, latitude {float(parts[1]):g}"
    return reason


# --- prepare ----------------------------------------------------------------------------


def _clean(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _check_one(area: AreaInput) -> tuple[list[str], AreaLevel | None]:
    reasons: list[str] = []
    code = _clean(area.code)
    if not code:
        reasons.append("has an empty code; every area needs a unique, non-empty code")
    elif len(code) > MAX_CODE_LENGTH:
        reasons.append(f"has a code longer than {MAX_CODE_LENGTH} characters; shorten it")
    if not _clean(area.name_zh):
        reasons.append("has an empty name; every area needs a name")
    for name in (area.name_zh, area.name_en):
        if isinstance(name, str) and len(name.strip()) > MAX_NAME_LENGTH:
            reasons.append(f"has a name longer than {MAX_NAME_LENGTH} characters; shorten it")
    level: AreaLevel | None
    try:
        level = AreaLevel(area.level)
    except ValueError:
        valid = ", ".join(item.value for item in AreaLevel)
        reasons.append(f"has the unknown level {area.level!r}; use one of {valid}")
        level = None
    geometry = area.geometry
    if not isinstance(geometry, shapely.Geometry):
        reasons.append("has no Shapely geometry; give a Polygon or MultiPolygon")
        return reasons, level
    if geometry.geom_type not in _POLYGONAL:
        reasons.append(
            f"is a {geometry.geom_type}; only Polygon and MultiPolygon areas can be imported"
        )
        return reasons, level
    if geometry.is_empty:
        reasons.append("has an empty geometry; give the area's outline")
        return reasons, level
    coordinates = shapely.get_coordinates(geometry)
    problem = coordinate_problem(coordinates[:, 0], coordinates[:, 1])
    try:
        json.dumps(dict(area.properties), allow_nan=False)
    except (TypeError, ValueError) as error:
        reasons.append(f"has properties that cannot be stored as JSON ({error})")
    if problem:
        reasons.append(problem)
    elif not shapely.is_valid(geometry):
        reasons.append(
            f"is not a valid polygon ({validity_reason(geometry)}); fix the outline, "
            "e.g. with shapely.make_valid, before saving it"
        )
    return reasons, level


def prepare_areas(
    db_session: Session, areas: Sequence[AreaInput]
) -> tuple[PreparedAreas | None, list[AreaProblem]]:
    """Check ``areas`` and compute what will be stored. Writes nothing.

    Returns the prepared batch (None when there are problems) and every problem found.
    """
    problems: list[AreaProblem] = []
    levels: list[AreaLevel] = []
    first_index: dict[str, int] = {}
    for index, area in enumerate(areas):
        reasons, level = _check_one(area)
        code = _clean(area.code) or None
        if code is not None:
            if code in first_index:
                reasons.append(
                    f"repeats the code {code!r} of item {first_index[code]}; codes must be unique"
                )
            else:
                first_index[code] = index
        problems.extend(AreaProblem(index, code, reason) for reason in reasons)
        levels.append(level or AreaLevel.CITY)
    if problems:
        return None, problems

    inputs = [
        AreaInput(
            code=_clean(area.code),
            name_zh=_clean(area.name_zh),
            name_en=_clean(area.name_en) or _clean(area.name_zh),
            level=level,
            geometry=shapely.orient_polygons(shapely.force_2d(area.geometry)),
            properties=dict(area.properties),
            parent_code=_clean(area.parent_code) or None,
        )
        for area, level in zip(areas, levels, strict=True)
    ]
    existing = {
        row.code: (row.id, AreaLevel(row.level))
        for row in db_session.connection().execute(
            select(_COLUMNS.id, _COLUMNS.code, _COLUMNS.level)
        )
    }
    for index, area in enumerate(inputs):
        known = existing.get(area.code)
        if known is not None and known[1] is not area.level:
            problems.append(
                AreaProblem(
                    index,
                    area.code,
                    f"uses the code {area.code!r} of an existing {known[1].value}; an area "
                    f"keeps its level, so give this {area.level.value} another code",
                )
            )
    parent_codes = _resolve_parents(db_session, inputs, existing, problems)
    if problems:
        return None, sorted(problems, key=lambda problem: problem.index)

    geometries = np.array([area.geometry for area in inputs], dtype=object)
    labels = shapely.get_coordinates(shapely.point_on_surface(geometries))
    prepared = PreparedAreas(
        inputs=inputs,
        levels=levels,
        parent_codes=parent_codes,
        wkb=list(shapely.to_wkb(geometries)),
        bounds=shapely.bounds(geometries),
        labels=labels,
        area_m2=[geodesic_area_m2(geometry) for geometry in geometries],
        existing_ids={code: known[0] for code, known in existing.items()},
    )
    return prepared, []


def _resolve_parents(
    db_session: Session,
    inputs: list[AreaInput],
    existing: dict[str, tuple[int, AreaLevel]],
    problems: list[AreaProblem],
) -> list[str | None]:
    """Each input's parent code; problems are appended for areas without a parent."""
    batch = {area.code: area for area in inputs}
    parent_codes: list[str | None] = [area.parent_code for area in inputs]
    for index, area in enumerate(inputs):
        wanted = area.parent_code
        if wanted is None:
            continue
        known = batch[wanted].level if wanted in batch else existing.get(wanted, (0, None))[1]
        if known is None:
            problems.append(
                AreaProblem(
                    index,
                    area.code,
                    f"names the parent {wanted!r}, which does not exist; import the parent "
                    "first, or leave the parent empty to find it from the geometry",
                )
            )
        elif known.rank >= area.level.rank:
            problems.append(
                AreaProblem(
                    index,
                    area.code,
                    f"names the parent {wanted!r}, a {known.value}, which is not coarser "
                    f"than a {area.level.value}; a parent must be a coarser level",
                )
            )

    auto = [
        index
        for index, area in enumerate(inputs)
        if area.parent_code is None and area.level is not AreaLevel.CITY
    ]
    for level in AreaLevel:
        members = [index for index in auto if inputs[index].level is level]
        if not members:
            continue
        parent_level = level.parent_level
        assert parent_level is not None
        candidates = _parent_candidates(db_session, parent_level, batch)
        for index, parent in zip(
            members, _largest_overlap(inputs, members, candidates), strict=True
        ):
            if parent is not None:
                parent_codes[index] = parent
                continue
            problems.append(
                AreaProblem(
                    index,
                    inputs[index].code,
                    _no_parent_reason(inputs[index], parent_level, candidates),
                )
            )
    return parent_codes


def _parent_candidates(
    db_session: Session, level: AreaLevel, batch: dict[str, AreaInput]
) -> dict[str, Any]:
    """Code → geometry of every area of ``level``, as it will be after this batch."""
    rows = db_session.connection().execute(
        select(_COLUMNS.code, _COLUMNS.geometry_wkb).where(_COLUMNS.level == level.value)
    )
    candidates: dict[str, Any] = {str(row.code): row.geometry_wkb for row in rows}
    codes = list(candidates)
    geometries = shapely.from_wkb(np.array([candidates[code] for code in codes], dtype=object))
    result = dict(zip(codes, geometries, strict=True))
    for code, area in batch.items():
        if area.level is level:
            result[code] = area.geometry
    return result


def _largest_overlap(
    inputs: list[AreaInput], members: list[int], candidates: dict[str, Any]
) -> list[str | None]:
    """For each member, the candidate code it overlaps the most (None: no overlap).

    Ties go to the smallest code, so the choice never depends on input order.
    """
    if not candidates:
        return [None] * len(members)
    codes = sorted(candidates)
    tree = shapely.STRtree(np.array([candidates[code] for code in codes], dtype=object))
    geometries = np.array([inputs[index].geometry for index in members], dtype=object)
    which, item = tree.query(geometries, predicate="intersects")
    overlap = shapely.area(shapely.intersection(geometries[which], tree.geometries[item]))
    keep = overlap > 0
    which, item, overlap = which[keep], item[keep], overlap[keep]
    order = np.lexsort((item, -overlap, which))
    best: list[str | None] = [None] * len(members)
    for member, candidate in zip(which[order].tolist(), item[order].tolist(), strict=True):
        if best[member] is None:
            best[member] = codes[candidate]
    return best


def _no_parent_reason(area: AreaInput, parent_level: AreaLevel, candidates: dict[str, Any]) -> str:
    if not candidates:
        return (
            f"has no parent: there are no {parent_level.value} areas yet; import the "
            f"{parent_level.value} level first"
        )
    reason = (
        f"lies outside every {parent_level.value} (it overlaps none of the "
        f"{len(candidates)}); check its coordinates, or import the {parent_level.value} "
        "that contains it first"
    )
    swapped = shapely.transform(area.geometry, lambda xy: xy[:, ::-1])
    union = shapely.union_all(np.array(list(candidates.values()), dtype=object))
    if shapely.intersects(swapped, union):
        reason += (
            "; its coordinates look like latitude/longitude swapped: GeoJSON order is "
            "longitude, latitude"
        )
    return reason


# --- write ------------------------------------------------------------------------------


def write_areas(db_session: Session, prepared: PreparedAreas) -> UpsertReport:
    """Insert or update the prepared areas by code (coarse levels first), bump the revision."""
    db_session.flush()
    code_to_id = dict(prepared.existing_ids)
    now = utcnow()
    created = updated = 0
    order = sorted(range(len(prepared.inputs)), key=lambda i: prepared.levels[i].rank)
    by_level: dict[AreaLevel, list[int]] = {}
    for index in order:
        by_level.setdefault(prepared.levels[index], []).append(index)
    for level, indexes in by_level.items():
        new_rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
        for index in indexes:
            area = prepared.inputs[index]
            parent = prepared.parent_codes[index]
            min_lon, min_lat, max_lon, max_lat = (float(v) for v in prepared.bounds[index])
            row = {
                "name_zh": area.name_zh,
                "name_en": area.name_en,
                "level": level.value,
                "parent_id": code_to_id[parent] if parent is not None else None,
                "geometry_wkb": prepared.wkb[index],
                "min_lon": min_lon,
                "min_lat": min_lat,
                "max_lon": max_lon,
                "max_lat": max_lat,
                "label_lon": float(prepared.labels[index, 0]),
                "label_lat": float(prepared.labels[index, 1]),
                "area_m2": prepared.area_m2[index],
                "properties": dict(area.properties),
                "updated_at": now,
            }
            existing = code_to_id.get(area.code)
            if existing is None:
                new_rows.append({**row, "code": area.code, "created_at": now})
            else:
                changed_rows.append({f"b_{key}": value for key, value in row.items()})
                changed_rows[-1]["b_id"] = existing
        if new_rows:
            inserting = insert(_TABLE).returning(
                _COLUMNS.id, _COLUMNS.code, sort_by_parameter_order=True
            )
            for area_id, code in db_session.execute(inserting, new_rows):
                code_to_id[code] = area_id
            created += len(new_rows)
        if changed_rows:
            keys = [key[2:] for key in changed_rows[0] if key != "b_id"]
            updating = (
                update(_TABLE)
                .where(_COLUMNS.id == bindparam("b_id"))
                .values({key: bindparam(f"b_{key}") for key in keys})
            )
            db_session.execute(updating, changed_rows)
            updated += len(changed_rows)
    expire_areas(db_session)
    bump_revision(db_session)
    return UpsertReport(created=created, updated=updated)


def expire_areas(db_session: Session) -> None:
    """Core writes bypass the identity map: make loaded Area objects reload."""
    for instance in list(db_session.identity_map.values()):
        if isinstance(instance, Area):
            db_session.expire(instance)


def bump_revision(db_session: Session) -> str:
    """Give the areas a new revision token (in the caller's transaction) and return it."""
    token = uuid.uuid4().hex
    now = utcnow()
    table = cast(Table, GeoRevision.__table__)
    dialect = db_session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(table).values(id=1, token=token, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.id], set_={"token": token, "updated_at": now}
        )
        db_session.execute(statement)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        result = db_session.execute(
            update(table).where(table.c.id == 1).values(token=token, updated_at=now)
        )
        if not getattr(result, "rowcount", 0):
            db_session.execute(insert(table).values(id=1, token=token, updated_at=now))
    return token
