"""The demo city's map: 明湖市 / Minghu, a fictional city at real coordinates near Hangzhou.

Everything is derived from fixed numbers (no randomness at run time), so every install
gets the same city: an irregular boundary of about 260 km², 8 districts, 40 sub-districts
and about 1,000 square grid cells of 500 m.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from cityos.demo.people import DEMO_ACTOR
from cityos.geo import service as geo_service
from cityos.geo.grid import generate_grid
from cityos.geo.models import AreaLevel
from cityos.geo.service import AreaInput

CITY_CODE = "MH"
CENTRE = (120.16, 30.27)  # lon, lat
RADIUS_KM = 9.0
GRID_CELL_M = 500.0
KM_PER_DEG_LAT = 111.32

DISTRICTS: list[tuple[str, str, str]] = [
    ("MH-01", "湖滨区", "Hubin District"),
    ("MH-02", "西岭区", "Xiling District"),
    ("MH-03", "北塘区", "Beitang District"),
    ("MH-04", "东港区", "Donggang District"),
    ("MH-05", "江湾区", "Jiangwan District"),
    ("MH-06", "南屏区", "Nanping District"),
    ("MH-07", "高新区", "Gaoxin District"),
    ("MH-08", "新城区", "Xincheng District"),
]

SUBDISTRICT_NAMES: list[tuple[str, str]] = [
    ("清波街道", "Qingbo"),
    ("望湖街道", "Wanghu"),
    ("柳浪街道", "Liulang"),
    ("湖畔街道", "Hupan"),
    ("涌金街道", "Yongjin"),
    ("灵隐街道", "Lingyin"),
    ("梅岭街道", "Meiling"),
    ("翠苑街道", "Cuiyuan"),
    ("龙井街道", "Longjing"),
    ("云栖街道", "Yunqi"),
    ("石桥街道", "Shiqiao"),
    ("半山街道", "Banshan"),
    ("康桥街道", "Kangqiao"),
    ("祥符街道", "Xiangfu"),
    ("上塘街道", "Shangtang"),
    ("闸弄街道", "Zhanong"),
    ("九堡街道", "Jiubao"),
    ("彭埠街道", "Pengbu"),
    ("笕桥街道", "Jianqiao"),
    ("丁桥街道", "Dingqiao"),
    ("钱塘街道", "Qiantang"),
    ("白杨街道", "Baiyang"),
    ("下沙街道", "Xiasha"),
    ("义蓬街道", "Yipeng"),
    ("河坊街道", "Hefang"),
    ("凤山街道", "Fengshan"),
    ("紫阳街道", "Ziyang"),
    ("南星街道", "Nanxing"),
    ("西兴街道", "Xixing"),
    ("长河街道", "Changhe"),
    ("浦沿街道", "Puyan"),
    ("文三街道", "Wensan"),
    ("古荡街道", "Gudang"),
    ("蒋村街道", "Jiangcun"),
    ("三墩街道", "Sandun"),
    ("四季青街道", "Sijiqing"),
    ("采荷街道", "Caihe"),
    ("凯旋街道", "Kaixuan"),
    ("闸口街道", "Zhakou"),
    ("新塘街道", "Xintang"),
]


def _km_to_deg(dx_km: np.ndarray, dy_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon0, lat0 = CENTRE
    km_per_deg_lon = KM_PER_DEG_LAT * math.cos(math.radians(lat0))
    return lon0 + dx_km / km_per_deg_lon, lat0 + dy_km / KM_PER_DEG_LAT


def city_boundary() -> Polygon:
    """An irregular, plausible outline (lobes like a city grown along a river and roads)."""
    theta = np.linspace(0.0, 2 * math.pi, 181)[:-1]
    radius = RADIUS_KM * (
        1 + 0.12 * np.sin(3 * theta + 1.0) + 0.07 * np.cos(5 * theta) + 0.04 * np.sin(9 * theta)
    )
    lons, lats = _km_to_deg(radius * np.cos(theta), radius * np.sin(theta))
    return Polygon(np.column_stack([np.round(lons, 6), np.round(lats, 6)]))


def _split(area: BaseGeometry, seeds_km: list[tuple[float, float]]) -> list[BaseGeometry]:
    """Voronoi cells of the seed points, clipped to ``area``, in the seeds' order."""
    xs, ys = _km_to_deg(np.array([s[0] for s in seeds_km]), np.array([s[1] for s in seeds_km]))
    seeds = MultiPoint(np.column_stack([xs, ys]))
    cells = list(shapely.voronoi_polygons(seeds, extend_to=area.envelope.buffer(0.1)).geoms)
    ordered = []
    for point in seeds.geoms:
        cell = next(c for c in cells if c.contains(point))
        ordered.append(shapely.set_precision(cell.intersection(area), 1e-7))
    return ordered


def _district_seeds() -> list[tuple[float, float]]:
    ring = [(5.2 * math.cos(a), 5.2 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 8)[:-1]]
    return [(0.3, -0.2), *ring]


def _subdistrict_seeds(district: BaseGeometry, count: int = 5) -> list[tuple[float, float]]:
    """``count`` well-spread points inside the district (deterministic)."""
    lon0, lat0 = CENTRE
    km_per_deg_lon = KM_PER_DEG_LAT * math.cos(math.radians(lat0))
    centre = district.representative_point()
    minx, miny, maxx, maxy = district.bounds
    seeds = [((centre.x - lon0) * km_per_deg_lon, (centre.y - lat0) * KM_PER_DEG_LAT)]
    golden = (math.sqrt(5) - 1) / 2
    step = 0
    while len(seeds) < count:
        step += 1
        fx, fy = (step * golden) % 1.0, (step * golden * golden + 0.5 * step / 97) % 1.0
        point = shapely.Point(minx + fx * (maxx - minx), miny + fy * (maxy - miny))
        if district.buffer(-0.004).contains(point):
            seeds.append(((point.x - lon0) * km_per_deg_lon, (point.y - lat0) * KM_PER_DEG_LAT))
    return seeds


def build_areas() -> list[AreaInput]:
    """Every area of the demo city down to sub-districts, coarsest first."""
    city = city_boundary()
    inputs = [
        AreaInput(
            code=CITY_CODE,
            name_zh="明湖市",
            name_en="Minghu City",
            level=AreaLevel.CITY,
            geometry=city,
            properties={"demo": True},
        )
    ]
    names = iter(SUBDISTRICT_NAMES)
    for (code, name_zh, name_en), district in zip(
        DISTRICTS, _split(city, _district_seeds()), strict=True
    ):
        inputs.append(
            AreaInput(
                code=code,
                name_zh=name_zh,
                name_en=name_en,
                level=AreaLevel.DISTRICT,
                geometry=district,
                properties={"demo": True},
                parent_code=CITY_CODE,
            )
        )
        for index, part in enumerate(_split(district, _subdistrict_seeds(district)), start=1):
            sub_zh, sub_en = next(names)
            inputs.append(
                AreaInput(
                    code=f"{code}-{index:02d}",
                    name_zh=sub_zh,
                    name_en=f"{sub_en} Sub-district",
                    level=AreaLevel.SUBDISTRICT,
                    geometry=part,
                    properties={"demo": True},
                    parent_code=code,
                )
            )
    return inputs


def seed_areas(db_session: Session) -> str:
    existing = {a.code for a in geo_service.list_areas(db_session, level=AreaLevel.CITY)}
    if CITY_CODE in existing:
        cells = len(geo_service.list_areas(db_session, level=AreaLevel.GRID))
        return f"areas: already seeded ({cells} grid cells)"
    areas = build_areas()
    geo_service.upsert_areas(db_session, areas=areas, actor=DEMO_ACTOR)
    report = generate_grid(
        db_session, within_code=CITY_CODE, cell_size_m=GRID_CELL_M, actor=DEMO_ACTOR
    )
    return f"areas: {len(areas)} city/district/sub-district areas, {report.created} grid cells"
