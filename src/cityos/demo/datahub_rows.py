"""The demo data hub's rows: companies, permits, people and lists (see also ``datahub_places``
and ``datahub_series``).

Each generator ``(context, rng) -> polars.DataFrame`` makes one dataset's rows, named as
its schema's fields, from a numpy ``Generator`` seeded by the dataset's name: the same map
and day give the same rows. Datasets that refer to others (permits → companies,
inspections → permits) read them through :meth:`Context.frame`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from cityos.demo.datahub_data import INDUSTRIES
from cityos.demo.datahub_geo import (
    Geography,
    addresses,
    company_names,
    id_cards,
    mobiles,
    person_names,
    plates,
    usccs,
)

Generator = Callable[["Context", np.random.Generator], pl.DataFrame]
GENERATORS: dict[str, Generator] = {}


@dataclass
class Context:
    """What the generators share: the map, the day, the big dataset's size, made frames."""

    geo: Geography
    today: date
    big_rows: int
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)

    def frame(self, name: str) -> pl.DataFrame:
        if name not in self.frames:
            rng = np.random.default_rng(zlib.crc32(name.encode()))
            self.frames[name] = GENERATORS[name](self, rng)
        return self.frames[name]

    def days_back(self, rng: np.random.Generator, n: int, span: int, first: int = 1) -> Any:
        """``n`` dates between ``span`` and ``first`` days before today (numpy dates)."""
        offsets = rng.integers(first, span + 1, size=n)
        return np.datetime64(self.today, "D") - offsets.astype("timedelta64[D]")

    def months(self, count: int, *, end: date | None = None) -> list[str]:
        """The ``count`` months up to the month before ``end`` (default today), as YYYY-MM."""
        last = (end or self.today).replace(day=1) - timedelta(days=1)
        out = []
        year, month = last.year, last.month
        for _ in range(count):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return out[::-1]


def rows(name: str) -> Callable[[Generator], Generator]:
    def register(function: Generator) -> Generator:
        GENERATORS[name] = function
        return function

    return register


def pick(
    rng: np.random.Generator, values: Sequence[Any], n: int, p: Sequence[float] | None = None
) -> Any:
    weights = None if p is None else np.asarray(p, dtype=float) / float(np.sum(p))
    return rng.choice(np.asarray(values), size=n, p=weights)


def ids(prefix: str, n: int, width: int = 5) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def short(subdistrict: str) -> str:
    return subdistrict.removesuffix("街道")


def placed(ctx: Context, rng: np.random.Generator, n: int, **columns: Any) -> pl.DataFrame:
    """``columns`` plus district_code, location and address of ``n`` random places."""
    points = ctx.geo.points(rng, n)
    return pl.DataFrame(
        {
            **columns,
            "district_code": points.district,
            "location": points.geopoint(),
            "address": addresses(rng, points),
            "__sub": points.subdistrict,
            "__grid": points.grid,
        }
    )


def named(frame: pl.DataFrame, template: str) -> pl.DataFrame:
    """Add ``name`` from the sub-district: ``template`` with ``{}`` for its short name."""
    names = [template.format(short(s)) for s in frame["__sub"]]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}（{seen[name]}）")
    return frame.with_columns(pl.Series("name", unique))


# --- companies ------------------------------------------------------------------------------

TRADES = {
    "建筑业": "建设工程",
    "制造业": "机械制造",
    "批发和零售业": "商贸",
    "住宿和餐饮业": "餐饮管理",
    "信息技术服务业": "信息科技",
    "化工": "化工",
    "交通运输业": "物流",
}


@rows("business-registry")
def business_registry(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 2000
    industry = pick(rng, INDUSTRIES, n, p=(18, 16, 22, 20, 14, 4, 6))
    names = company_names(rng, [TRADES[i] for i in industry])
    points = ctx.geo.points(rng, n)
    capital = np.round(np.exp(rng.normal(14.5, 1.3, n)), -3)
    return pl.DataFrame(
        {
            "uscc": usccs(rng, n),
            "org_name": names,
            "legal_form": pick(
                rng, ("有限责任公司", "股份有限公司", "个人独资企业", "合伙企业"), n, (80, 8, 8, 4)
            ),
            "industry": industry,
            "district_code": points.district,
            "registered_on": ctx.days_back(rng, n, 365 * 28, first=7),
            "capital_cny": capital,
            "status": pick(rng, ("存续", "注销", "吊销"), n, (90, 8, 2)),
        }
    )


def companies(ctx: Context, industry: str) -> pl.DataFrame:
    registry = ctx.frame("business-registry")
    return registry.filter((pl.col("industry") == industry) & (pl.col("status") == "存续"))


@rows("construction-permits")
def construction_permits(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    builders = companies(ctx, "建筑业")
    n = 600
    who = rng.integers(0, builders.height, n)
    issued = np.sort(ctx.days_back(rng, n, 365 * 3, first=3))
    kinds = ("住宅小区", "商业综合体", "中学新建工程", "产业园", "安置房", "医院门诊楼", "幼儿园")
    frame = placed(ctx, rng, n)
    projects = [
        f"{short(sub)}{kind}（{k}期）"
        for sub, kind, k in zip(
            frame["__sub"], pick(rng, kinds, n), rng.integers(1, 4, n), strict=True
        )
    ]
    area = np.round(np.exp(rng.normal(9.6, 0.9, n)), 1)
    return frame.with_columns(
        pl.Series(
            "permit_no",
            [f"3399{d.astype(object):%Y%m%d}{i:04d}01" for i, d in enumerate(issued, 1)],
        ),
        pl.Series("project_name", projects),
        pl.Series("uscc", builders["uscc"].gather(who)),
        pl.Series("org_name", builders["org_name"].gather(who)),
        pl.Series("floor_area_m2", area),
        pl.Series(
            "storeys", np.clip(np.round(area / 2500 + rng.integers(1, 6, n)), 1, 60).astype(int)
        ),
        pl.Series("cost_cny", np.round(area * rng.uniform(2800, 5200, n), -3)),
        pl.Series("issued_on", issued),
    )


@rows("building-inspections")
def building_inspections(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    permits = ctx.frame("construction-permits")
    n = 1500
    which = rng.integers(0, permits.height, n)
    issued = permits["issued_on"].to_numpy()[which]
    span = (np.datetime64(ctx.today, "D") - issued).astype(int)
    inspected = issued + (rng.random(n) * np.maximum(span - 1, 1)).astype("timedelta64[D]")
    order = np.argsort(inspected, kind="stable")
    return pl.DataFrame(
        {
            "inspection_id": ids("ZJ", n, 6),
            "permit_no": permits["permit_no"].gather(which[order]),
            "inspected_on": inspected[order],
            "team": [f"第{k}检查组" for k in rng.integers(1, 9, n)],
            "result": pick(rng, ("合格", "限期整改", "责令停工"), n, (75, 21, 4)),
            "issues": rng.poisson(1.6, n),
        }
    )


def bad_inspections(ctx: Context) -> pl.DataFrame:
    """A later file: 25 good inspections and 5 bad rows (unknown permit, date, enum, …)."""
    rng = np.random.default_rng(4)
    good = building_inspections(ctx, np.random.default_rng(5)).head(30)
    first = ctx.frame("building-inspections").height + 1
    frame = good.with_columns(
        pl.Series("inspection_id", ids("ZJ", first + 29, 6)[first - 1 :]),
        pl.Series(
            "inspected_on", [ctx.today - timedelta(days=int(d)) for d in rng.integers(1, 6, 30)]
        ),
    ).with_columns(pl.all().cast(pl.String))
    broken = {
        25: {"permit_no": "339900000000000001"},  # no such permit
        26: {"inspected_on": "2024-02-30"},  # no such day
        27: {"result": "待定"},  # not one of the results
        28: {"issues": "-2"},  # below the minimum
        29: {"inspection_id": "ZJ000001"},  # already stored
    }
    columns = {name: frame[name].to_list() for name in frame.columns}
    for position, cells in broken.items():
        for name, value in cells.items():
            columns[name][position] = value
    return pl.DataFrame(columns)


@rows("pollutant-discharge-permits")
def pollutant_permits(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    holders = pl.concat([companies(ctx, "制造业"), companies(ctx, "化工")]).head(200)
    n = holders.height
    start = ctx.days_back(rng, n, 365 * 4, first=10)
    return pl.DataFrame(
        {
            "permit_no": [f"{code}001P" for code in holders["uscc"]],
            "uscc": holders["uscc"],
            "org_name": holders["org_name"],
            "industry": holders["industry"],
            "district_code": holders["district_code"],
            "management": pick(rng, ("重点管理", "简化管理", "登记管理"), n, (25, 45, 30)),
            "valid_from": start,
            "valid_to": start + np.timedelta64(5 * 365, "D"),
        }
    )


@rows("food-safety-inspections")
def food_inspections(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    restaurants = companies(ctx, "住宿和餐饮业")
    n = 2500
    which = rng.integers(0, restaurants.height, n)
    score = np.clip(np.round(rng.normal(86, 8, n)), 30, 100).astype(int)
    result = np.select([score >= 90, score >= 75, score >= 60], ["良好", "一般", "较差"], "不合格")
    return pl.DataFrame(
        {
            "inspection_id": ids("SJ", n, 6),
            "uscc": restaurants["uscc"].gather(which),
            "org_name": restaurants["org_name"].gather(which),
            "district_code": restaurants["district_code"].gather(which),
            "inspected_on": np.sort(ctx.days_back(rng, n, 365)),
            "result": result,
            "score": score,
        }
    )


@rows("hazardous-chemical-enterprises")
def hazardous_chemicals(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    firms = companies(ctx, "化工").head(120)
    n = firms.height
    chemicals = ("液氯", "液氨", "甲醇", "硫酸", "盐酸", "液化石油气", "苯", "过氧化氢", "氢氧化钠")
    mix = ["、".join(sorted(set(pick(rng, chemicals, int(k))))) for k in rng.integers(1, 4, n)]
    frame = placed(ctx, rng, n)
    return frame.with_columns(
        pl.Series("uscc", firms["uscc"]),
        pl.Series("org_name", firms["org_name"]),
        pl.Series("chemicals", mix),
        pl.Series(
            "hazard_class", pick(rng, ("一级", "二级", "三级", "四级", "无"), n, (3, 8, 15, 24, 50))
        ),
        pl.Series("safety_officer", person_names(rng, n)),
        pl.Series("officer_mobile", mobiles(rng, n)),
    )


# --- people (restricted; all invented) --------------------------------------------------


@rows("public-rental-tenants")
def rental_tenants(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 800
    start = np.sort(ctx.days_back(rng, n, 365 * 6, first=5))
    return placed(ctx, rng, n).with_columns(
        pl.Series(
            "contract_no", [f"GZF{d.astype(object):%Y}{i:05d}" for i, d in enumerate(start, 1)]
        ),
        pl.Series("tenant_name", person_names(rng, n)),
        pl.Series("id_card", id_cards(rng, n, oldest=1950, youngest=2000)),
        pl.Series("mobile", mobiles(rng, n)),
        pl.Series("household_size", rng.integers(1, 6, n)),
        pl.Series("monthly_rent_cny", np.round(rng.uniform(300, 1500, n), -1)),
        pl.Series("start_date", start),
    )


@rows("social-assistance-recipients")
def social_assistance(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 1500
    kind = pick(
        rng, ("最低生活保障", "特困人员供养", "临时救助", "低保边缘家庭"), n, (60, 12, 13, 15)
    )
    size = np.where(kind == "特困人员供养", 1, rng.integers(1, 6, n))
    amount = np.where(kind == "临时救助", 0, np.round(size * rng.uniform(800, 1100, n), 0))
    return placed(ctx, rng, n).with_columns(
        pl.Series("case_no", ids("JZ", n, 6)),
        pl.Series("person_name", person_names(rng, n)),
        pl.Series("id_card", id_cards(rng, n)),
        pl.Series("mobile", mobiles(rng, n)),
        pl.Series("assistance", kind),
        pl.Series("household_size", size),
        pl.Series("monthly_amount_cny", amount),
        pl.Series("since", ctx.days_back(rng, n, 365 * 8)),
    )


@rows("family-doctor-contracts")
def family_doctors(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 1200
    points = ctx.geo.points(rng, n)
    return pl.DataFrame(
        {
            "contract_no": ids("QY", n, 6),
            "resident_name": person_names(rng, n),
            "id_card": id_cards(rng, n, oldest=1935, youngest=2010),
            "mobile": mobiles(rng, n),
            "district_code": points.district,
            "team": [
                f"{short(s)}家庭医生{k}组"
                for s, k in zip(points.subdistrict, rng.integers(1, 6, n), strict=True)
            ],
            "signed_on": ctx.days_back(rng, n, 365 * 3),
            "condition": pick(
                rng,
                ("无", "高血压", "糖尿病", "高血压合并糖尿病", "其他慢病"),
                n,
                (45, 25, 10, 8, 12),
            ),
            "follow_ups": rng.poisson(3, n),
        }
    )


@rows("traffic-violations")
def traffic_violations(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 3000
    kinds = {
        "闯红灯": (200, 6),
        "超速": (200, 3),
        "违法停车": (150, 0),
        "不按导向车道行驶": (100, 2),
        "未礼让行人": (150, 3),
    }
    violation = pick(rng, tuple(kinds), n, (15, 25, 40, 10, 10))
    seconds = rng.integers(0, 90 * 86400, n)
    moments = np.sort(np.datetime64(ctx.today, "s") - seconds.astype("timedelta64[s]"))
    local = [f"{m.astype(object):%Y-%m-%dT%H:%M:%S}+08:00" for m in moments]
    return placed(ctx, rng, n).with_columns(
        pl.Series("case_no", ids("3399JT", n, 8)),
        pl.Series("plate", plates(rng, n)),
        pl.Series("violation", violation),
        pl.Series("occurred_at", local),
        pl.Series("fine_cny", [float(kinds[v][0]) for v in violation]),
        pl.Series("points", [kinds[v][1] for v in violation]),
    )


# --- lists --------------------------------------------------------------------------------

SERVICE_ITEMS = (
    ("PSB", "户口迁入登记"), ("PSB", "居民身份证换领"), ("PSB", "机动车驾驶证补领"),
    ("MARKET", "企业设立登记"), ("MARKET", "食品经营许可"), ("MARKET", "个体工商户注销登记"),
    ("HOUSING", "建筑工程施工许可证核发"), ("HOUSING", "商品房预售许可"),
    ("HOUSING", "公共租赁住房申请"),
    ("PLAN", "建设工程规划许可证核发"), ("PLAN", "不动产登记"), ("PLAN", "建设用地规划许可证核发"),
    ("CIVIL", "最低生活保障申请"), ("CIVIL", "婚姻登记"), ("CIVIL", "高龄津贴申领"),
    ("HEALTH", "医师执业注册"), ("HEALTH", "出生医学证明办理"), ("HEALTH", "公共场所卫生许可"),
    ("EDU", "义务教育入学报名"), ("EDU", "教师资格认定"), ("EDU", "民办学校设立审批"),
    ("TRANS", "道路运输经营许可"), ("TRANS", "出租汽车驾驶员从业资格"),
    ("TRANS", "占用道路施工许可"),
    ("WATER", "取水许可"), ("WATER", "排水许可"), ("WATER", "用水报装"),
    ("ENV", "建设项目环境影响评价审批"), ("ENV", "排污许可证核发"), ("ENV", "危险废物经营许可"),
    ("FIRE", "公众聚集场所投入使用前消防安全检查"), ("FIRE", "消防设计审查"),
    ("CMB", "户外广告设置许可"), ("CMB", "城市道路挖掘许可"), ("CMB", "临时占用城市绿地审批"),
    ("EMERG", "危险化学品经营许可"), ("EMERG", "安全生产许可"),
    ("PARKS", "砍伐城市树木审批"), ("GOV", "政府信息公开申请"), ("DATA", "公共数据开放申请"),
)  # fmt: skip


@rows("government-service-items")
def service_items(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = len(SERVICE_ITEMS)
    online = rng.random(n) < 0.75
    return pl.DataFrame(
        {
            "item_code": [f"MH-{dept}-{i:03d}" for i, (dept, _name) in enumerate(SERVICE_ITEMS, 1)],
            "item_name": [name for _dept, name in SERVICE_ITEMS],
            "department_code": [dept for dept, _name in SERVICE_ITEMS],
            "fully_online": online,
            "promised_days": rng.integers(1, 21, n),
            "max_visits": np.where(online, 0, 1),
        }
    )
