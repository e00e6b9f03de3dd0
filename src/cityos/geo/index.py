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
