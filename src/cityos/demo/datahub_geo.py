"""Where the demo data hub's things are, and the invented codes and names it uses.

:class:`Geography` reads the demo map (districts, sub-districts and grid cells) through the
geo service and places points inside grid cells, so every map layer lands in the city and
every point knows its district and grid cell. The other helpers make obviously invented
identifiers with valid check characters: unified social credit codes, identity numbers
starting ``99`` (no such province), mobile numbers ``1700000xxxx``, plates ``浙Z…``.

Everything is a function of a numpy ``Generator``: the same seed gives the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy.orm import Session

from cityos.datahub.checks import USCC_CHARSET, id_card_check_char, uscc_check_char
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

Strings = npt.NDArray[np.str_]
Floats = npt.NDArray[np.float64]

ROADS = (
    "湖滨路",
    "解放路",
    "延安路",
    "中山路",
    "建国路",
    "庆春路",
    "凤起路",
    "文三路",
    "学院路",
    "教工路",
    "秋涛路",
    "钱江路",
    "环城东路",
    "环城北路",
    "天目山路",
    "体育场路",
    "滨江大道",
    "明湖大道",
    "望湖路",
    "梅岭路",
    "新塘路",
    "下沙路",
    "江晖路",
    "月明路",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌浩宇欣怡梓涵子轩"
COMPANY_WORDS = (
    "恒信",
    "华茂",
    "瑞丰",
    "启明",
    "博远",
    "天成",
    "鼎盛",
    "嘉禾",
    "诚泰",
    "宏达",
    "汇通",
    "云帆",
    "新程",
    "卓越",
    "海纳",
    "同舟",
    "明湖",
    "湖光",
    "远景",
    "正和",
    "安泰",
    "金桥",
    "聚力",
    "德润",
    "青禾",
    "星辰",
    "立方",
    "盛元",
    "永安",
    "凯达",
)
PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class District:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Points:
    """``n`` places: coordinates, grid cell, sub-district and district (as arrays)."""

    lon: Floats
    lat: Floats
    grid: Strings
    subdistrict: Strings  # the sub-district's Chinese name
    district: Strings  # the district's code

    def geopoint(self) -> list[str]:
        return [f"{x:.6f},{y:.6f}" for x, y in zip(self.lon, self.lat, strict=True)]


class Geography:
    """The demo map as arrays: districts, and grid cells with their district."""

    def __init__(self, db_session: Session) -> None:
        areas = geo_service.list_areas(db_session)
        by_id = {area.id: area for area in areas}
        self.districts = [
            District(a.code, a.name_zh, a.name_en)
            for a in areas
            if a.level == AreaLevel.DISTRICT.value
        ]
        self.subdistricts = [a.code for a in areas if a.level == AreaLevel.SUBDISTRICT.value]
        ordered = []
        subs: list[str] = []
        districts: list[str] = []
        for cell in (a for a in areas if a.level == AreaLevel.GRID.value):
            parent = by_id.get(cell.parent_id or 0)
            grand = by_id.get(parent.parent_id or 0) if parent is not None else None
            if parent is None or grand is None or grand.level != AreaLevel.DISTRICT.value:
                continue
            ordered.append(cell)
            subs.append(parent.name_zh)
            districts.append(grand.code)
        self.grid_codes: Strings = np.array([cell.code for cell in ordered])
        self.grid_subdistricts: Strings = np.array(subs)
        self.grid_districts: Strings = np.array(districts)
        self.shapes = shapely.from_wkb([cell.geometry_wkb for cell in ordered])
        self.bounds: Floats = np.array(
            [[c.min_lon, c.min_lat, c.max_lon, c.max_lat] for c in ordered], dtype=float
        ).reshape(-1, 4)
        self.labels: Floats = np.array(
            [[c.label_lon, c.label_lat] for c in ordered], dtype=float
        ).reshape(-1, 2)

    @property
    def ready(self) -> bool:
        return bool(self.districts) and len(self.grid_codes) > 0

    @property
    def district_codes(self) -> list[str]:
        return [d.code for d in self.districts]

    def district(self, code: str) -> District:
        return next(d for d in self.districts if d.code == code)

    def points(self, rng: np.random.Generator, n: int) -> Points:
        """``n`` points spread over the city's grid cells (each inside its cell)."""
        cell = rng.integers(0, len(self.grid_codes), size=n)
        box = self.bounds[cell]
        lon = box[:, 0] + rng.random(n) * (box[:, 2] - box[:, 0])
        lat = box[:, 1] + rng.random(n) * (box[:, 3] - box[:, 1])
        inside = shapely.contains_xy(self.shapes[cell], lon, lat)
        lon = np.where(inside, lon, self.labels[cell, 0])
        lat = np.where(inside, lat, self.labels[cell, 1])
        return Points(
            lon=lon,
            lat=lat,
            grid=self.grid_codes[cell],
            subdistrict=self.grid_subdistricts[cell],
            district=self.grid_districts[cell],
        )


# --- invented identities ------------------------------------------------------------------


def addresses(rng: np.random.Generator, points: Points) -> list[str]:
    roads = rng.choice(np.array(ROADS), size=len(points.lon))
    numbers = rng.integers(1, 400, size=len(points.lon))
    return [
        f"明湖市{sub}{road}{number}号"
        for sub, road, number in zip(points.subdistrict, roads, numbers, strict=True)
    ]


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    surnames = rng.choice(list(SURNAMES), size=n)
    first = rng.choice(list(GIVEN), size=n)
    second = rng.choice(list(GIVEN), size=n)
    single = rng.random(n) < 0.3
    return [
        f"{s}{a}" if one else f"{s}{a}{b}"
        for s, a, b, one in zip(surnames, first, second, single, strict=True)
    ]


def mobiles(rng: np.random.Generator, n: int) -> list[str]:
    """Numbers ``1700000xxxx`` (a virtual-operator block, obviously invented)."""
    return [f"1700000{value:04d}" for value in rng.integers(0, 10_000, size=n)]


def id_cards(
    rng: np.random.Generator, n: int, *, oldest: int = 1940, youngest: int = 2015
) -> list[str]:
    """Identity numbers with valid birth dates and check characters, area code ``99xxxx``."""
    years = rng.integers(oldest, youngest + 1, size=n)
    months = rng.integers(1, 13, size=n)
    days = rng.integers(1, 29, size=n)
    areas = rng.integers(0, 100, size=n)
    sequence = rng.integers(0, 1000, size=n)
    out = []
    for year, month, day, area, seq in zip(years, months, days, areas, sequence, strict=True):
        first = f"9901{area:02d}{year:04d}{month:02d}{day:02d}{seq:03d}"
        out.append(first + id_card_check_char(first))
    return out


def usccs(rng: np.random.Generator, n: int, *, kind: str = "91") -> list[str]:
    """Distinct unified social credit codes (``91`` = enterprise) of the invented area 339900."""
    seen: set[str] = set()
    out: list[str] = []
    charset = np.array(list(USCC_CHARSET))
    while len(out) < n:
        body = "".join(rng.choice(charset, size=9))
        first = f"{kind}339900{body}"
        if first in seen:
            continue
        seen.add(first)
        out.append(first + uscc_check_char(first))
    return out


def company_names(rng: np.random.Generator, trades: list[str]) -> list[str]:
    """A distinct company name per entry of ``trades`` (明湖恒信建设工程有限公司)."""
    words = list(COMPANY_WORDS)
    pairs = [(a, b) for a in words for b in words if a != b]
    order = rng.permutation(len(pairs))
    out = []
    for position, trade in enumerate(trades):
        a, b = pairs[order[position % len(pairs)]]
        suffix = "" if position < len(pairs) else f"第{position // len(pairs) + 1}"
        out.append(f"明湖{a}{b}{trade}{suffix}有限公司")
    return out


def plates(rng: np.random.Generator, n: int) -> list[str]:
    """Plates ``浙Z`` + 5 characters (浙Z is not issued: invented)."""
    chars = np.array(list(PLATE_CHARS))
    picks = rng.choice(chars, size=(n, 5))
    return ["浙Z" + "".join(row) for row in picks]
