"""Generating grid cells (the finest level) inside an area: square cells or H3 hexagons.

Square cells are laid out in metres, in an azimuthal equidistant projection centred on the
area (distances and areas are true to well under 0.1 % across a city), clipped to the area,
and transformed back to WGS84. H3 cells are the hexagons of one resolution whose centre lies
in the area; they are not clipped.

Each cell's parent is the finest existing non-grid area inside the ``within`` area that
contains the cell's centroid (or, for a clipped cell whose centroid falls outside it, a point
on its surface); cells not inside any finer area attach to the ``within`` area itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import h3
import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Transformer
from sqlalchemy import Table, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.errors import Conflict, InvalidInput
from cityos.geo.index import NON_GRID_FINEST_FIRST, AreaIndex, current_index
from cityos.geo.models import Area, AreaLevel
from cityos.geo.service import get_area, problems_error
from cityos.geo.writes import MAX_CODE_LENGTH, AreaInput, prepare_areas, write_areas

MAX_CELLS = 200_000
MIN_CELL_SIZE_M = 50.0
MAX_CELL_SIZE_M = 10_000.0
MIN_H3_RESOLUTION = 5
MAX_H3_RESOLUTION = 12
_MAX_BBOX_CELLS = 5_000_000

Coordinates = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GridReport:
    """``created`` new cells (``updated``: cells regenerated in place with the same code;
    ``deleted``: old cells of a replaced grid that are no longer produced)."""

    created: int
    within_code: str
    kind: str
    updated: int = 0
    deleted: int = 0


@dataclass(slots=True)
class _Cells:
    geometries: npt.NDArray[np.object_]
    codes: list[str]
    properties: list[dict[str, Any]]


def _check_arguments(cell_size_m: float | None, h3_resolution: int | None) -> None:
    if (cell_size_m is None) == (h3_resolution is None):
        raise InvalidInput(
            "Give exactly one of a cell size in metres (--cell-size, e.g. 500) or an H3 "
            "resolution (--h3, e.g. 9)."
        )
    if cell_size_m is not None and not (
        math.isfinite(cell_size_m) and MIN_CELL_SIZE_M <= cell_size_m <= MAX_CELL_SIZE_M
    ):
        raise InvalidInput(
            f"The cell size must be between {MIN_CELL_SIZE_M:g} m and {MAX_CELL_SIZE_M:g} m "
            f"(got {cell_size_m:g} m)."
        )
    if h3_resolution is not None and not (
        isinstance(h3_resolution, int) and MIN_H3_RESOLUTION <= h3_resolution <= MAX_H3_RESOLUTION
    ):
        raise InvalidInput(
            f"The H3 resolution must be a whole number from {MIN_H3_RESOLUTION} (cells of "
            f"about 250 km²) to {MAX_H3_RESOLUTION} (about 300 m²); got {h3_resolution!r}."
        )


def _too_many(count: float, what: str, hint: str) -> InvalidInput:
    return InvalidInput(
        f"This grid would have {count:,.0f} {what}; the limit is {MAX_CELLS:,}. {hint}",
        details={"cells": int(count), "limit": MAX_CELLS},
    )


def _larger_size_hint(cell_size_m: float, count: float) -> str:
    suggested = math.ceil(cell_size_m * math.sqrt(count / MAX_CELLS) / 50) * 50
    return f"Use a larger cell size (--cell-size {suggested:g} or more) or a smaller area."


# --- square cells -----------------------------------------------------------------------


def _projections(
    geometry: Any,
) -> tuple[Callable[[Coordinates], Coordinates], Callable[[Coordinates], Coordinates]]:
    """WGS84 → local metres and back, centred on the geometry."""
    centre = geometry.centroid
    local = CRS.from_proj4(
        f"+proj=aeqd +lat_0={centre.y!r} +lon_0={centre.x!r} +datum=WGS84 +units=m +no_defs"
    )
    forward = Transformer.from_crs("EPSG:4326", local, always_xy=True)
    inverse = Transformer.from_crs(local, "EPSG:4326", always_xy=True)

    def to_local(xy: Coordinates) -> Coordinates:
        x, y = forward.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    def to_wgs84(xy: Coordinates) -> Coordinates:
        x, y = inverse.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return to_local, to_wgs84


def _polygonal(geometries: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Drop the lines and points an intersection can leave next to the polygons."""
    result = geometries.copy()
    type_ids = shapely.get_type_id(result)
    for i in np.flatnonzero(type_ids == shapely.GeometryType.GEOMETRYCOLLECTION):
        flat = shapely.get_parts(shapely.get_parts(result[i]))  # multi-parts too
        parts = [part for part in flat if part.geom_type == "Polygon"]
        result[i] = shapely.multipolygons(parts) if parts else shapely.Polygon()
    return result


def _square_cells(within: Area, geometry: Any, cell_size_m: float) -> _Cells:
    estimate = within.area_m2 / cell_size_m**2
    if estimate > MAX_CELLS * 1.05:
        raise _too_many(estimate, "cells (estimated)", _larger_size_hint(cell_size_m, estimate))
    to_local, to_wgs84 = _projections(geometry)
    local = shapely.transform(geometry, to_local)
    min_x, min_y, max_x, max_y = local.bounds
    cols = max(math.ceil((max_x - min_x) / cell_size_m), 1)
    rows = max(math.ceil((max_y - min_y) / cell_size_m), 1)
    if rows * cols > _MAX_BBOX_CELLS:
        raise _too_many(
            rows * cols,
            "cells over the area's bounding box",
            _larger_size_hint(cell_size_m, rows * cols) + " Or generate the grid per district.",
        )
    row, col = (a.ravel() for a in np.indices((rows, cols)))
    west = min_x + col * cell_size_m
    north = max_y - row * cell_size_m  # row 0 is the northernmost
    boxes = shapely.box(west, north - cell_size_m, west + cell_size_m, north)
    shapely.prepare(local)
    hit = shapely.intersects(local, boxes)
    boxes, row, col = boxes[hit], row[hit], col[hit]
    covered = shapely.covers(local, boxes)
    cells = boxes.copy()
    cells[~covered] = _polygonal(shapely.intersection(boxes[~covered], local))
    keep = shapely.area(cells) > 0
    cells, row, col = cells[keep], row[keep], col[keep]
    if len(cells) > MAX_CELLS:
        raise _too_many(len(cells), "cells", _larger_size_hint(cell_size_m, len(cells)))
    digits = max(3, len(str(rows - 1)), len(str(cols - 1)))
    codes = [f"{within.code}-G{r:0{digits}d}{c:0{digits}d}" for r, c in zip(row, col, strict=True)]
    properties = [
        {"kind": "square", "cell_size_m": cell_size_m, "row": int(r), "col": int(c)}
        for r, c in zip(row, col, strict=True)
    ]
    return _Cells(shapely.transform(cells, to_wgs84), codes, properties)


# --- H3 cells ---------------------------------------------------------------------------


def _h3_cells(within: Area, geometry: Any, resolution: int) -> _Cells:
    estimate = within.area_m2 / h3.average_hexagon_area(resolution, "m^2")
    if estimate > MAX_CELLS * 1.05:
        raise _too_many(
            estimate, "H3 cells (estimated)", "Use a coarser resolution (a smaller --h3)."
        )
    cells = sorted(h3.geo_to_cells(geometry, resolution))
    if len(cells) > MAX_CELLS:
        raise _too_many(len(cells), "H3 cells", "Use a coarser resolution (a smaller --h3).")
    geometries = np.empty(len(cells), dtype=object)
    boundaries = [h3.cell_to_boundary(cell) for cell in cells]
    by_size: dict[int, list[int]] = {}
    for i, boundary in enumerate(boundaries):
        by_size.setdefault(len(boundary), []).append(i)
    for members in by_size.values():  # hexagons, pentagons, cells bent over an icosahedron edge
        rings = np.array([boundaries[i] for i in members], dtype=np.float64)[:, :, ::-1]
        geometries[members] = shapely.polygons(rings)
    codes = [f"H3-{cell}" for cell in cells]
    properties = [{"kind": "h3", "h3_resolution": resolution, "h3_index": cell} for cell in cells]
    return _Cells(geometries, codes, properties)


# --- parents and the write --------------------------------------------------------------


def _parent_codes(index: AreaIndex, within: Area, geometries: npt.NDArray[np.object_]) -> list[str]:
    """Per cell: the finest non-grid area under (or equal to) ``within`` holding its centroid."""
    points = shapely.centroid(geometries)
    outside = ~shapely.intersects(geometries, points)
    points[outside] = shapely.point_on_surface(geometries[outside])
    positions = index.locate_points(points, levels=NON_GRID_FINEST_FIRST)
    within_position = index.position_of(within.id)
    within_rank = AreaLevel(within.level).rank
    under = index.ancestor_position[within_rank][positions] == within_position
    under &= positions >= 0
    chosen = np.where(under, positions, within_position)
    return [str(code) for code in index.codes[chosen]]


def generate_grid(
    db_session: Session,
    *,
    within_code: str,
    cell_size_m: float | None = None,
    h3_resolution: int | None = None,
    replace: bool = False,
    actor: Actor,
) -> GridReport:
    """Cover the area ``within_code`` with grid cells (square of ``cell_size_m`` metres, or H3
    hexagons of ``h3_resolution``), all or nothing.

    An existing grid under the area is a Conflict unless ``replace``: then cells with the same
    code are updated in place (keeping their ids), and the old cells not produced again are
    deleted, in the same transaction.
    """
    _check_arguments(cell_size_m, h3_resolution)
    within = get_area(db_session, code=within_code)
    if within.level == AreaLevel.GRID.value:
        raise InvalidInput(
            f"{within_code} is a grid cell; generate grid cells within a city, district or "
            "subdistrict."
        )
    index = current_index(db_session)
    within_position = index.position_of(within.id)
    existing = index.descendants(within_position, AreaLevel.GRID)
    if existing.size and not replace:
        raise Conflict(
            f"{within_code} already has {existing.size:,} grid cells. Pass --replace "
            "(replace=True) to replace them with the new grid.",
            details={"existing_cells": int(existing.size)},
        )
    geometry = shapely.from_wkb(within.geometry_wkb)
    if cell_size_m is not None:
        kind = "square"
        if len(within_code) + 8 > MAX_CODE_LENGTH:
            raise InvalidInput(
                f"The code {within_code!r} is too long to prefix cell codes with; square "
                f"cell codes are '{{code}}-G{{row}}{{col}}' and at most {MAX_CODE_LENGTH} "
                "characters. Use H3 cells, or a shorter code for the area."
            )
        cells = _square_cells(within, geometry, float(cell_size_m))
        size_text = f"{cell_size_m:g} m"
    else:
        assert h3_resolution is not None
        kind = "h3"
        cells = _h3_cells(within, geometry, h3_resolution)
        size_text = f"H3 resolution {h3_resolution}"
    if not cells.codes:
        raise InvalidInput(
            f"No grid cell of {size_text} falls in {within_code}; use smaller cells "
            "(a finer H3 resolution)."
        )

    replaced_codes = {str(index.codes[p]) for p in existing}
    clashes = [
        code
        for code in cells.codes
        if code not in replaced_codes and index.position_of_code(code) >= 0
    ]
    if clashes:
        raise Conflict(
            f"{len(clashes):,} of the new cells already exist outside {within_code} "
            f"(e.g. {', '.join(clashes[:3])}); a cell belongs to one grid. Generate the grid "
            "on the area that contains both, with --replace.",
            details={"existing_codes": clashes[:50]},
        )

    parents = _parent_codes(index, within, cells.geometries)
    inputs = [
        AreaInput(
            code=code,
            name_zh=code,
            name_en=code,
            level=AreaLevel.GRID,
            geometry=cell,
            properties=props,
            parent_code=parent,
        )
        for code, cell, props, parent in zip(
            cells.codes, cells.geometries, cells.properties, parents, strict=True
        )
    ]
    prepared, problems = prepare_areas(db_session, inputs)
    if problems or prepared is None:
        raise problems_error(problems, total=len(inputs), noun="area")

    new_codes = set(cells.codes)
    stale = [int(index.ids[p]) for p in existing if str(index.codes[p]) not in new_codes]
    if stale:
        table = cast(Table, Area.__table__)
        try:
            for start in range(0, len(stale), 500):
                chunk = stale[start : start + 500]
                db_session.execute(delete(table).where(table.c.id.in_(chunk)))
        except IntegrityError:
            raise Conflict(
                f"{len(stale):,} grid cells of the old grid of {within_code} are still "
                "referenced by other records (for example cases), so they cannot be removed. "
                "Keep the old grid, or move those records first.",
            ) from None
    report = write_areas(db_session, prepared)
    record(
        db_session,
        actor=actor,
        action="geo.grid.generate",
        entity_type="geo_area",
        entity_id=within_code,
        summary=f"Generated {len(inputs):,} {kind} grid cells of {size_text} in "
        f"{within_code}: {report.created:,} new, {report.updated:,} regenerated, "
        f"{len(stale):,} removed",
        after={
            "kind": kind,
            "cell_size_m": cell_size_m,
            "h3_resolution": h3_resolution,
            "cells": len(inputs),
            "created": report.created,
            "updated": report.updated,
            "deleted": len(stale),
        },
    )
    return GridReport(
        created=report.created,
        within_code=within_code,
        kind=kind,
        updated=report.updated,
        deleted=len(stale),
    )
