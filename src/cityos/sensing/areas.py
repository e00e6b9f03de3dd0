"""Which sensor Locations lie in an area of the city map, for any area level.

A grid cell or a district is matched by the codes stored on each Location when it was
located (``grid_code``, ``district_code``). The city is matched by its districts' codes. Other
levels (sub-districts, or a city without districts) are matched by geo lineage: the Locations
inside the area's bounding box are located with :func:`cityos.geo.service.locate_many` and
kept when the area is among their ancestors.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput, NotFound
from cityos.geo import service as geo_service
from cityos.sensing.models import Location


@dataclass(frozen=True, slots=True)
class AreaMatch:
    """What an area code matches: Location codes, or Location ids found by lineage."""

    code: str
    grids: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()
    location_ids: frozenset[int] = frozenset()

    def clause(self) -> ColumnElement[bool]:
        """A condition on :class:`Location` rows."""
        parts: list[ColumnElement[bool]] = []
        if self.grids:
            parts.append(Location.grid_code.in_(sorted(self.grids)))
        if self.districts:
            parts.append(Location.district_code.in_(sorted(self.districts)))
        if self.location_ids:
            parts.append(Location.id.in_(sorted(self.location_ids)))
        return or_(*parts) if parts else false()

    def contains(self, *, location_id: int, grid_code: str | None, district: str | None) -> bool:
        return (
            (grid_code is not None and grid_code in self.grids)
            or (district is not None and district in self.districts)
            or location_id in self.location_ids
        )


def resolve(db_session: Session, code: str, *, what: str = "area") -> AreaMatch:
    """The match for ``code``; InvalidInput naming ``what`` when no area has that code."""
    try:
        area = geo_service.get_area(db_session, code=code)
    except NotFound:
        raise InvalidInput(
            f"{what}: there is no area with the code {code!r}. List the codes with "
            "GET /api/geo/areas."
        ) from None
    level = geo_service.AreaLevel(area.level)
    if level is geo_service.AreaLevel.GRID:
        return AreaMatch(code=code, grids=frozenset({code}))
    if level is geo_service.AreaLevel.DISTRICT:
        return AreaMatch(code=code, districts=frozenset({code}))
    if level is geo_service.AreaLevel.CITY:
        districts = [
            a.code
            for a in geo_service.list_areas(
                db_session, level=geo_service.AreaLevel.DISTRICT, parent_code=code
            )
        ]
        if districts:
            return AreaMatch(code=code, districts=frozenset(districts))
    rows = db_session.execute(
        select(Location.id, Location.lon, Location.lat).where(
            Location.lon.between(area.min_lon, area.max_lon),
            Location.lat.between(area.min_lat, area.max_lat),
        )
    ).all()
    if not rows:
        return AreaMatch(code=code)
    found = geo_service.locate_many(
        db_session, lons=[row.lon for row in rows], lats=[row.lat for row in rows]
    )
    inside = {
        row.id
        for i, row in enumerate(rows)
        if any(ref.code == code for ref in found.lineage(int(found.area_ids[i])))
    }
    return AreaMatch(code=code, location_ids=frozenset(inside))


def clause_for(db_session: Session, code: str | None, *, what: str = "area") -> ColumnElement[bool]:
    """A condition on :class:`Location` for ``code`` (everything when None)."""
    return true() if code is None else resolve(db_session, code, what=what).clause()
