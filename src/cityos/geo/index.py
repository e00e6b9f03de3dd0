"""The in-process spatial index of the areas, cached per geo revision.

Use it through :mod:`cityos.geo.service` (``locate``, ``locate_many``); this module is the
engine. :class:`AreaIndex` holds every area once: the polygons (one Shapely 2 ``STRtree`` per
level), and the hierarchy as numpy arrays indexed by *position* (the area's rank in ``id``
order), so bulk lookups end in a few array operations.

The index is cached by the ``geo_revision`` token. Every write to the areas changes the token
in the same transaction, and every lookup reads it with one small query, so a stale index is
never used: not after a write in this process, another process, or on another database.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.geo.models import Area, AreaLevel, GeoRevision

LEVELS: tuple[AreaLevel, ...] = tuple(AreaLevel)
FINEST_FIRST: tuple[AreaLevel, ...] = tuple(reversed(LEVELS))
NON_GRID_FINEST_FIRST: tuple[AreaLevel, ...] = tuple(
    level for level in FINEST_FIRST if level is not AreaLevel.GRID
)

IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

_TOKEN_QUERY = select(GeoRevision.__table__.c.token).where(GeoRevision.__table__.c.id == 1)
_AREA_COLUMNS = Area.__table__.c
_AREAS_QUERY = select(
    _AREA_COLUMNS.id,
    _AREA_COLUMNS.code,
    _AREA_COLUMNS.name_zh,
    _AREA_COLUMNS.name_en,
    _AREA_COLUMNS.level,
    _AREA_COLUMNS.parent_id,
    _AREA_COLUMNS.geometry_wkb,
).order_by(_AREA_COLUMNS.id)


@dataclass(frozen=True, slots=True)
class AreaRef:
    """A light reference to one area: what callers need to name and route by it."""

    id: int
    code: str
    name_zh: str
    name_en: str
    level: AreaLevel

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "level": self.level.value,
        }


class AreaIndex:
    """Every area of one geo revision, ready for point lookups.

    Positions are 0..n-1 in ``id`` order. ``-1`` means "no area"; arrays that are indexed by
    a position that may be ``-1`` carry one extra trailing element (the "none" value), so
    ``array[positions]`` works without masking.
    """

    def __init__(self, rows: list[Any]) -> None:
        n = len(rows)
        self.size = n
        self.ids: IntArray = np.fromiter((row.id for row in rows), dtype=np.int64, count=n)
        self.codes: ObjArray = np.array([row.code for row in rows] + [None], dtype=object)
        self.level_rank: IntArray = np.fromiter(
            (AreaLevel(row.level).rank for row in rows), dtype=np.int64, count=n
        )
        self.geometries = shapely.from_wkb(
            np.array([row.geometry_wkb for row in rows], dtype=object)
        )
        # Prepared once here, so concurrent queries never race to prepare them.
        shapely.prepare(self.geometries)
        self._position_of_id: dict[int, int] = {int(i): p for p, i in enumerate(self.ids)}
        self._position_of_code: dict[str, int] = {row.code: p for p, row in enumerate(rows)}
        parent_ids = [row.parent_id for row in rows]
        self.parent_position: IntArray = np.fromiter(
            (self._position_of_id.get(pid, -1) if pid is not None else -1 for pid in parent_ids),
            dtype=np.int64,
            count=n,
        )
        self.ancestor_position = self._ancestor_positions()
        refs = [
            AreaRef(row.id, row.code, row.name_zh, row.name_en, AreaLevel(row.level))
            for row in rows
        ]
        self.lineages: list[tuple[AreaRef, ...]] = [
            tuple(refs[p] for p in self._chain(position)) for position in range(n)
        ]
        self.ids_or_none: IntArray = np.append(self.ids, -1)
        # Per level: the id / code of each area's ancestor at that level (itself included);
        # ancestor_position has the trailing -1 column, so these have the "none" element.
        self._ids_at: dict[AreaLevel, IntArray] = {}
        self._codes_at: dict[AreaLevel, ObjArray] = {}
        for level in LEVELS:
            ancestors = self.ancestor_position[level.rank]
            self._ids_at[level] = self.ids_or_none[ancestors]
            self._codes_at[level] = self.codes[ancestors]
        self._raster: LookupRaster | None = None  # built on the first large bulk lookup
        self._raster_lock = threading.Lock()
        # One tree per level; ``tree_positions[level][i]`` is the position of tree item i.
        self.trees: dict[AreaLevel, shapely.STRtree] = {}
        self.tree_positions: dict[AreaLevel, IntArray] = {}
        for level in LEVELS:
            positions = np.flatnonzero(self.level_rank == level.rank).astype(np.int64)
            if positions.size:
                self.trees[level] = shapely.STRtree(self.geometries[positions])
                self.tree_positions[level] = positions

    def _chain(self, position: int) -> list[int]:
        chain = [position]
        while len(chain) <= len(LEVELS):
            parent = int(self.parent_position[chain[-1]])
            if parent < 0:
                break
            chain.append(parent)
        return chain

    def _ancestor_positions(self) -> IntArray:
        """``result[rank, p]``: position of p's ancestor at level ``rank`` (p itself at its own)."""
        n = self.size
        result = np.full((len(LEVELS), n + 1), -1, dtype=np.int64)
        current = np.arange(n, dtype=np.int64)
        alive = np.ones(n, dtype=bool)
        for _ in LEVELS:
            who = np.flatnonzero(alive)
            if not who.size:
                break
            result[self.level_rank[current[who]], who] = current[who]
            current[who] = self.parent_position[current[who]]
            alive[who] = current[who] >= 0
        return result

    # --- lookups ------------------------------------------------------------------------

    def position_of(self, area_id: int) -> int:
        return self._position_of_id.get(area_id, -1)

    def position_of_code(self, code: str) -> int:
        return self._position_of_code.get(code, -1)

    def lineage_of_id(self, area_id: int) -> tuple[AreaRef, ...]:
        position = self.position_of(area_id)
        return self.lineages[position] if position >= 0 else ()

    def ids_at(self, level: AreaLevel) -> IntArray:
        return self._ids_at[level]

    def codes_at(self, level: AreaLevel) -> ObjArray:
        return self._codes_at[level]

    def descendants(self, position: int, level: AreaLevel) -> IntArray:
        """Positions of the areas of ``level`` below the area at ``position``."""
        rank = int(self.level_rank[position])
        of_level = self.level_rank == level.rank
        return np.flatnonzero(of_level & (self.ancestor_position[rank, : self.size] == position))

    def locate_point(self, lon: float, lat: float) -> int:
        """Position of the finest area containing the point, or -1."""
        point = shapely.Point(lon, lat)
        for level in FINEST_FIRST:
            tree = self.trees.get(level)
            if tree is None:
                continue
            hits = tree.query(point, predicate="intersects")
            if hits.size:
                return int(self.tree_positions[level][hits.min()])
        return -1

    def locate_points(
        self,
        points: npt.NDArray[np.object_],
        *,
        levels: tuple[AreaLevel, ...] = FINEST_FIRST,
    ) -> IntArray:
        """Positions of the finest area (among ``levels``, finest first) containing each point.

        A point on a boundary shared by two areas of one level gets the one with the lowest
        id, so results do not depend on the order of the tree.
        """
        result = np.full(len(points), -1, dtype=np.int64)
        pending: IntArray | None = None  # None: every point is still pending
        for level in levels:
            tree = self.trees.get(level)
            if tree is None:
                continue
            subset = points if pending is None else points[pending]
            if not len(subset):
                break
            found, item = tree.query(subset, predicate="intersects")
            if found.size > 1:
                step = found[1:] - found[:-1]
                if (step <= 0).any():  # several hits for one point (boundary), or unsorted
                    order = np.lexsort((item, found))
                    found, item = found[order], item[order]
                    first = np.empty(found.size, dtype=bool)
                    first[0] = True
                    np.not_equal(found[1:], found[:-1], out=first[1:])
                    found, item = found[first], item[first]
            targets = found if pending is None else pending[found]
            result[targets] = self.tree_positions[level][item]
            if pending is None:
                pending = np.flatnonzero(result < 0)
            else:
                pending = pending[result[pending] < 0]
        return result

    def locate_xy(self, lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]) -> IntArray:
        """:meth:`locate_points` for coordinate arrays, with the same answers.

        Large batches go through the lookup raster (built once per index): points in a
        bucket that no boundary touches get the bucket's answer by arithmetic; only points in
        buckets crossed by a boundary are turned into Points and queried in the trees.
        """
        if len(lons) < RASTER_MIN_POINTS or self.size == 0:
            return self.locate_points(shapely.points(lons, lats))
        raster = self.raster()
        result = raster.lookup(lons, lats)
        mixed = np.flatnonzero(result == MIXED)
        if mixed.size:
            result[mixed] = self.locate_points(shapely.points(lons[mixed], lats[mixed]))
        return result

    def raster(self) -> LookupRaster:
        with self._raster_lock:
            if self._raster is None:
                self._raster = LookupRaster.build(self)
            return self._raster


RASTER_MIN_POINTS = 20_000
MIXED = -2
_EDGE = 1e-6  # in buckets: how close to a bucket a boundary may pass and still mark it


@dataclass(frozen=True, slots=True)
class LookupRaster:
    """A regular lon/lat grid of buckets over every area, each holding the answer for all its
    points (an area position, or -1 for outside) or ``MIXED`` when a boundary crosses it.

    A bucket whose closed box no area boundary touches lies wholly inside or wholly outside
    each area, so every point in it has the same answer as the bucket's centre: the answers
    are exactly those of the trees. Boundaries are cut into pieces shorter than half a bucket
    and each piece marks the buckets its bounding box touches (a margin of 1e-6 bucket
    absorbs rounding), so no crossed bucket is missed.
    """

    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    answers: npt.NDArray[np.int32]

    @classmethod
    def build(cls, index: AreaIndex) -> LookupRaster:
        min_x, min_y, max_x, max_y = (float(v) for v in shapely.total_bounds(index.geometries))
        width, height = max(max_x - min_x, 1e-9), max(max_y - min_y, 1e-9)
        buckets = min(max(256 * index.size, 1 << 14), 1 << 21)
        size = math.sqrt(width * height / buckets)
        nx, ny = math.ceil(width / size) + 2, math.ceil(height / size) + 2
        x0, y0 = min_x - size, min_y - size  # one empty bucket of margin all round

        mixed = np.zeros(nx * ny, dtype=bool)
        lines = shapely.get_parts(shapely.boundary(index.geometries))
        lines = shapely.segmentize(lines, size / 2)
        xy, line = shapely.get_coordinates(lines, return_index=True)
        same = line[1:] == line[:-1]
        a, b = xy[:-1][same], xy[1:][same]
        i0 = np.floor((np.minimum(a[:, 0], b[:, 0]) - x0) / size - _EDGE).astype(np.int64)
        i1 = np.floor((np.maximum(a[:, 0], b[:, 0]) - x0) / size + _EDGE).astype(np.int64)
        j0 = np.floor((np.minimum(a[:, 1], b[:, 1]) - y0) / size - _EDGE).astype(np.int64)
        j1 = np.floor((np.maximum(a[:, 1], b[:, 1]) - y0) / size + _EDGE).astype(np.int64)
        span = int(max((i1 - i0).max(initial=0), (j1 - j0).max(initial=0)))
        for di in range(span + 1):
            for dj in range(span + 1):
                ok = (i0 + di <= i1) & (j0 + dj <= j1)
                mixed[(j0[ok] + dj) * nx + (i0[ok] + di)] = True

        answers = np.full(nx * ny, MIXED, dtype=np.int32)
        clear = np.flatnonzero(~mixed)
        centre_x = x0 + (clear % nx + 0.5) * size
        centre_y = y0 + (clear // nx + 0.5) * size
        answers[clear] = index.locate_points(shapely.points(centre_x, centre_y))
        return cls(x0=x0, y0=y0, size=size, nx=nx, ny=ny, answers=answers)

    def lookup(self, lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]) -> IntArray:
        """Per point: an area position, -1 (outside), or ``MIXED`` (ask the trees)."""
        i = np.floor((lons - self.x0) / self.size).astype(np.int64)
        j = np.floor((lats - self.y0) / self.size).astype(np.int64)
        within = (i >= 0) & (i < self.nx) & (j >= 0) & (j < self.ny)
        flat = np.where(within, j * self.nx + i, 0)
        result: IntArray = np.where(within, self.answers[flat], -1).astype(np.int64)
        return result


# --- the cache ---------------------------------------------------------------------------

_CACHE_SIZE = 4
_cache: OrderedDict[str, AreaIndex] = OrderedDict()
_cache_lock = threading.Lock()
_build_lock = threading.Lock()


def read_token(db_session: Session) -> str | None:
    """The current geo revision token, or None when the areas were never written."""
    token = db_session.connection().execute(_TOKEN_QUERY).scalar_one_or_none()
    return None if token is None else str(token)


def build_index(db_session: Session) -> AreaIndex:
    rows = list(db_session.connection().execute(_AREAS_QUERY))
    return AreaIndex(rows)


def current_index(db_session: Session) -> AreaIndex:
    """The index for the revision this session sees (built once per revision, thread-safe)."""
    token = read_token(db_session)
    if token is None:
        # Never written through the service: nothing to key a cache entry on.
        return build_index(db_session)
    with _cache_lock:
        index = _cache.get(token)
        if index is not None:
            _cache.move_to_end(token)
            return index
    with _build_lock:
        with _cache_lock:
            index = _cache.get(token)
        if index is None:
            index = build_index(db_session)
            with _cache_lock:
                _cache[token] = index
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
        return index
