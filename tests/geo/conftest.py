"""A small test city: a square of about 9.6 × 10 km near Hangzhou.

    lon 120.05        120.10        120.15
    lat 30.24  +-------------+-------------+
               |   TC-W-N    |   TC-E-N    |
    lat 30.195 +---- TC-W ---+---- TC-E ---+
               |   TC-W-S    |   TC-E-S    |
    lat 30.15  +-------------+-------------+

City TC; districts TC-W and TC-E (west and east halves); four sub-districts (north and
south halves of each district). Parents are found automatically by ``upsert_areas``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import shapely
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.geo import service
from cityos.geo.models import AreaLevel

WEST, MIDDLE, EAST = 120.05, 120.10, 120.15
SOUTH, EQUATOR, NORTH = 30.15, 30.195, 30.24
ACTOR = Actor.system("test")


@dataclass(frozen=True)
class CityFixture:
    codes: tuple[str, ...]
    bounds: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


def box(west: float, south: float, east: float, north: float) -> Any:
    return shapely.box(west, south, east, north)


def city_areas() -> list[service.AreaInput]:
    def area(code: str, name: str, level: AreaLevel, geometry: Any) -> service.AreaInput:
        return service.AreaInput(
            code=code, name_zh=name, name_en=name, level=level, geometry=geometry
        )

    return [
        area("TC", "测试市", AreaLevel.CITY, box(WEST, SOUTH, EAST, NORTH)),
        area("TC-W", "西区", AreaLevel.DISTRICT, box(WEST, SOUTH, MIDDLE, NORTH)),
        area("TC-E", "东区", AreaLevel.DISTRICT, box(MIDDLE, SOUTH, EAST, NORTH)),
        area("TC-W-N", "西北街道", AreaLevel.SUBDISTRICT, box(WEST, EQUATOR, MIDDLE, NORTH)),
        area("TC-W-S", "西南街道", AreaLevel.SUBDISTRICT, box(WEST, SOUTH, MIDDLE, EQUATOR)),
        area("TC-E-N", "东北街道", AreaLevel.SUBDISTRICT, box(MIDDLE, EQUATOR, EAST, NORTH)),
        area("TC-E-S", "东南街道", AreaLevel.SUBDISTRICT, box(MIDDLE, SOUTH, EAST, EQUATOR)),
    ]


@pytest.fixture
def city(db: Session) -> CityFixture:
    """The test city, committed (so the web app's own sessions see it too)."""
    areas = city_areas()
    service.upsert_areas(db, areas=areas, actor=ACTOR)
    db.commit()
    return CityFixture(codes=tuple(a.code for a in areas), bounds=(WEST, SOUTH, EAST, NORTH))


@pytest.fixture
def city_only(db: Session) -> None:
    """Just the city outline: the level files (districts, …) are imported by the test."""
    service.upsert_areas(db, areas=city_areas()[:1], actor=ACTOR)
    db.commit()


def feature(
    geometry: dict[str, Any] | None,
    *,
    code: str | None = None,
    name: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    properties: dict[str, Any] = dict(extra)
    if code is not None:
        properties["code"] = code
    if name is not None:
        properties["name"] = name
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def polygon(*rings: list[tuple[float, float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(point) for point in ring] for ring in rings]}


def rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return polygon([(west, south), (east, south), (east, north), (west, north), (west, south)])


def geojson(*features: dict[str, Any]) -> bytes:
    document = {"type": "FeatureCollection", "features": list(features)}
    return json.dumps(document, ensure_ascii=False).encode("utf-8")
