"""The demo data hub's places: facilities and inventories with positions in the city.

Generators registered with :func:`cityos.demo.datahub_rows.rows` (see that module).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cityos.demo.datahub_geo import ROADS, company_names, usccs
from cityos.demo.datahub_rows import Context, ids, named, pick, placed, rows, short


@rows("public-toilets")
def public_toilets(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 420
    frame = named(placed(ctx, rng, n), "{}公厕")
    return frame.with_columns(
        pl.Series("toilet_id", ids("GC", n)),
        pl.col("__grid").alias("grid_code"),
        pl.Series("grade", pick(rng, ("一类", "二类", "三类"), n, (30, 55, 15))),
        pl.Series(
            "opening_hours",
            pick(rng, ("00:00-24:00", "06:00-22:00", "05:30-23:00"), n, (50, 35, 15)),
        ),
        pl.Series("accessible", rng.random(n) < 0.72),
        pl.Series("baby_room", rng.random(n) < 0.3),
        pl.Series("cubicles", rng.integers(4, 21, n)),
    )


@rows("waste-collection-points")
def waste_points(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 1200
    kind = pick(
        rng,
        ("四分类投放点", "厨余垃圾投放点", "可回收物回收点", "大件垃圾堆放点"),
        n,
        (70, 15, 10, 5),
    )
    bins = np.where(kind == "四分类投放点", 4, 1) * rng.integers(1, 4, n)
    return placed(ctx, rng, n).with_columns(
        pl.Series("point_id", ids("LJ", n)),
        pl.Series("kind", kind),
        pl.Series("bins", bins),
        pl.Series("capacity_l", bins * 240),
    )


@rows("street-lights")
def street_lights(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 3000
    lamp = pick(rng, ("LED", "高压钠灯", "金卤灯"), n, (62, 30, 8))
    power = np.where(lamp == "LED", pick(rng, (60, 90, 120, 150), n), pick(rng, (150, 250, 400), n))
    installed = np.where(lamp == "LED", rng.integers(2014, 2026, n), rng.integers(2003, 2016, n))
    return placed(ctx, rng, n).with_columns(
        pl.Series("light_id", ids("LD", n, 6)),
        pl.Series("road", pick(rng, ROADS, n)),
        pl.Series("lamp_type", lamp),
        pl.Series("power_w", power.astype(int)),
        pl.Series("pole_height_m", pick(rng, (6.0, 8.0, 10.0, 12.0), n, (15, 35, 35, 15))),
        pl.Series("installed_year", installed),
        pl.Series("smart", (lamp == "LED") & (rng.random(n) < 0.25)),
    )


@rows("bus-stops")
def bus_stops(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 600
    frame = placed(ctx, rng, n)
    roads = pick(rng, ROADS, n)
    names = [f"{road}{short(sub)}站" for road, sub in zip(roads, frame["__sub"], strict=True)]
    routes = [
        ";".join(f"{r}路" for r in sorted(set(rng.integers(1, 61, int(k)))))
        for k in rng.integers(1, 5, n)
    ]
    return frame.with_columns(
        pl.Series("stop_id", ids("BS", n, 4)),
        pl.Series("name", names),
        pl.Series("routes", routes),
        pl.Series("shelter", rng.random(n) < 0.8),
        pl.Series("accessible", rng.random(n) < 0.55),
    )


@rows("bus-routes")
def bus_routes(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    stops = ctx.frame("bus-stops")["name"]
    n = 60
    return pl.DataFrame(
        {
            "route_no": [f"{r}路" for r in range(1, n + 1)],
            "first_stop": stops.gather(rng.integers(0, len(stops), n)),
            "last_stop": stops.gather(rng.integers(0, len(stops), n)),
            "length_km": np.round(rng.uniform(6, 32, n), 1),
            "stops": rng.integers(12, 46, n),
            "first_bus": pick(rng, ("05:30", "06:00", "06:30"), n),
            "last_bus": pick(rng, ("21:00", "22:00", "22:30", "23:00"), n),
            "fare_cny": pick(rng, (1.0, 2.0), n, (40, 60)),
            "electric": rng.random(n) < 0.8,
        }
    )


@rows("parking-lots")
def parking_lots(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 300
    kind = pick(rng, ("路内泊位", "地面停车场", "地下停车库", "立体车库"), n, (30, 30, 30, 10))
    spaces = np.where(kind == "路内泊位", rng.integers(10, 60, n), rng.integers(50, 900, n))
    frame = named(placed(ctx, rng, n), "{}公共停车场")
    return frame.with_columns(
        pl.Series("lot_id", ids("TC", n, 4)),
        pl.Series("kind", kind),
        pl.Series("spaces", spaces),
        pl.Series("ev_spaces", (spaces * rng.uniform(0, 0.2, n)).astype(int)),
        pl.Series("fee_per_hour_cny", pick(rng, (2.0, 3.0, 4.0, 5.0, 6.0), n)),
        pl.Series("open_24h", rng.random(n) < 0.6),
    )


@rows("ev-chargers")
def ev_chargers(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 800
    operators = company_names(np.random.default_rng(8), ["新能源科技"] * 5)
    connector = pick(rng, ("GB/T 交流", "GB/T 直流"), n, (55, 45))
    power = np.where(connector == "GB/T 交流", 7.0, pick(rng, (60.0, 120.0, 160.0), n))
    return placed(ctx, rng, n).with_columns(
        pl.Series("charger_id", ids("CD", n)),
        pl.Series("power_kw", power),
        pl.Series("connector", connector),
        pl.Series("operator", pick(rng, operators, n)),
        pl.Series("in_service", rng.random(n) < 0.93),
    )


@rows("air-quality-stations")
def air_stations(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 40
    frame = named(placed(ctx, rng, n), "{}站")
    kind = ["城市评价点"] * 28 + ["交通点"] * 8 + ["背景点"] * 4
    return frame.with_columns(
        pl.Series("station_code", [f"AQ-{1001 + i}" for i in range(n)]),
        pl.Series("kind", kind),
        pl.Series("since", ctx.days_back(rng, n, 365 * 12, first=365 * 3)),
    )


@rows("flood-prone-points")
def flood_points(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 60
    frame = placed(ctx, rng, n)
    places = [
        f"{road}{kind}"
        for road, kind in zip(
            pick(rng, ROADS, n),
            pick(rng, ("下穿立交", "与支路交叉口", "地势低洼段", "铁路桥下"), n),
            strict=True,
        )
    ]
    depth = rng.integers(15, 80, n)
    return frame.with_columns(
        pl.Series("point_id", ids("YL", n, 3)),
        pl.Series("place", places),
        pl.Series("max_depth_cm", depth),
        pl.Series("pumps", rng.integers(0, 4, n)),
        pl.Series("warning_level", np.select([depth >= 50, depth >= 30], ["高", "中"], "低")),
    )


@rows("parks")
def parks(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 120
    kind = pick(rng, ("综合公园", "社区公园", "专类公园", "口袋公园"), n, (10, 45, 10, 35))
    area = np.where(kind == "口袋公园", rng.uniform(0.1, 1.0, n), np.exp(rng.normal(1.5, 1.0, n)))
    frame = named(placed(ctx, rng, n), "{}公园")
    return frame.with_columns(
        pl.Series("park_id", ids("GY", n, 4)),
        pl.Series("kind", kind),
        pl.Series("area_ha", np.round(area, 2)),
        pl.Series("free_entry", rng.random(n) < 0.95),
        pl.Series("opening_hours", pick(rng, ("全天开放", "05:00-22:00", "06:00-21:00"), n)),
    )


SPECIES = (
    ("香樟", "Cinnamomum camphora"),
    ("悬铃木", "Platanus × acerifolia"),
    ("银杏", "Ginkgo biloba"),
    ("栾树", "Koelreuteria paniculata"),
    ("无患子", "Sapindus saponaria"),
    ("广玉兰", "Magnolia grandiflora"),
    ("水杉", "Metasequoia glyptostroboides"),
    ("桂花", "Osmanthus fragrans"),
    ("女贞", "Ligustrum lucidum"),
    ("榉树", "Zelkova serrata"),
)


@rows("street-trees")
def street_trees(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 5000
    which = rng.choice(len(SPECIES), size=n, p=np.array([30, 18, 10, 9, 7, 7, 5, 6, 5, 3]) / 100)
    planted = rng.integers(1985, 2025, n)
    age = ctx.today.year - planted
    dbh = np.round(np.clip(age * rng.uniform(0.8, 1.4, n) + rng.normal(5, 2, n), 3, None), 1)
    return placed(ctx, rng, n).with_columns(
        pl.Series("tree_id", ids("XS", n, 6)),
        pl.Series("species", [SPECIES[i][0] for i in which]),
        pl.Series("species_latin", [SPECIES[i][1] for i in which]),
        pl.col("__grid").alias("grid_code"),
        pl.Series("dbh_cm", dbh),
        pl.Series("height_m", np.round(np.clip(dbh * 0.28 + rng.normal(2, 1, n), 1.5, 30), 1)),
        pl.Series("planted_year", planted),
        pl.Series("condition", pick(rng, ("良好", "一般", "较差", "枯死"), n, (70, 22, 7, 1))),
    )


@rows("fire-hydrants")
def fire_hydrants(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 1500
    return placed(ctx, rng, n).with_columns(
        pl.Series("hydrant_id", ids("XHS", n)),
        pl.Series("kind", pick(rng, ("地上式", "地下式", "墙壁式"), n, (60, 30, 10))),
        pl.Series("pressure_mpa", np.round(rng.uniform(0.12, 0.45, n), 2)),
        pl.Series("last_inspected", ctx.days_back(rng, n, 200)),
        pl.Series("status", pick(rng, ("正常", "待维修", "停用"), n, (92, 6, 2))),
    )


@rows("emergency-shelters")
def shelters(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 90
    area = np.round(np.exp(rng.normal(9.2, 0.8, n)), -1)
    frame = named(placed(ctx, rng, n), "{}应急避难场所")
    return frame.with_columns(
        pl.Series("shelter_id", ids("BN", n, 3)),
        pl.Series(
            "shelter_class", np.select([area > 30000, area > 8000], ["I类", "II类"], "III类")
        ),
        pl.Series("capacity", (area / 1.5).astype(int)),
        pl.Series("area_m2", area),
    )


@rows("hospitals")
def hospitals(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    kinds = [("明湖市第{}人民医院", "综合医院", "三级甲等")] * 6
    kinds += [("明湖市{}区人民医院", "综合医院", "二级甲等")] * 8
    kinds += [
        ("明湖市中医院", "中医医院", "三级甲等"),
        ("明湖市妇幼保健院", "妇幼保健院", "三级乙等"),
    ]
    kinds += [("明湖市{}专科医院", "专科医院", "二级乙等")] * 4
    kinds += [("{}社区卫生服务中心", "综合医院", "一级")] * 22
    frame = placed(ctx, rng, len(kinds))
    district_names = {d.code: d.name_zh.removesuffix("区") for d in ctx.geo.districts}
    specialty = iter(("眼科", "口腔", "精神卫生", "康复"))
    names, numbers = [], iter(range(1, 7))
    for (template, _kind, _grade), sub, code in zip(
        kinds, frame["__sub"], frame["district_code"], strict=True
    ):
        if "第{}" in template:
            names.append(template.format(next(numbers)))
        elif "区人民" in template:
            names.append(template.format(district_names[code]))
        elif "专科" in template:
            names.append(template.format(next(specialty)))
        elif "{}" in template:
            names.append(template.format(short(sub)))
        else:
            names.append(template)
    names = list(named(frame.with_columns(pl.Series("__sub", names)), "{}")["name"])
    grade = [k[2] for k in kinds]
    beds = [
        int(
            rng.integers(
                *{
                    "三级甲等": (800, 2200),
                    "三级乙等": (400, 900),
                    "二级甲等": (200, 600),
                    "二级乙等": (80, 300),
                }.get(g, (0, 60))
            )
        )
        for g in grade
    ]
    return frame.with_columns(
        pl.Series("hospital_id", ids("YY", len(kinds), 3)),
        pl.Series("name", names),
        pl.Series("uscc", usccs(rng, len(kinds), kind="12")),
        pl.Series("grade", grade),
        pl.Series("kind", [k[1] for k in kinds]),
        pl.Series("beds", beds),
        pl.Series("phone", [f"0571-8{v:07d}" for v in rng.integers(0, 10_000_000, len(kinds))]),
    )


@rows("schools")
def schools(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 220
    stage = pick(rng, ("幼儿园", "小学", "初中", "高中", "九年一贯制"), n, (38, 32, 16, 8, 6))
    size = {"幼儿园": 280, "小学": 1300, "初中": 1100, "高中": 1600, "九年一贯制": 1900}
    pupils = np.array([int(size[s] * rng.uniform(0.5, 1.5)) for s in stage])
    suffix = {
        "幼儿园": "幼儿园",
        "小学": "小学",
        "初中": "中学",
        "高中": "高级中学",
        "九年一贯制": "实验学校",
    }
    frame = placed(ctx, rng, n)
    frame = named(
        frame.with_columns(
            pl.Series(
                "__sub",
                [
                    f"明湖市{short(s)}{suffix[k]}"
                    for s, k in zip(frame["__sub"], stage, strict=True)
                ],
            )
        ),
        "{}",
    )
    return frame.with_columns(
        pl.Series("school_id", ids("XX", n, 4)),
        pl.Series("stage", stage),
        pl.Series("public", rng.random(n) < 0.8),
        pl.Series("pupils", pupils),
        pl.Series("teachers", (pupils / rng.uniform(11, 17, n)).astype(int)),
        pl.Series("founded", rng.integers(1905, 2024, n)),
    )


@rows("sports-venues")
def sports_venues(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 250
    kind = pick(
        rng,
        ("体育馆", "游泳馆", "足球场", "篮球场", "健身步道", "全民健身中心"),
        n,
        (10, 8, 15, 35, 20, 12),
    )
    frame = placed(ctx, rng, n)
    frame = named(
        frame.with_columns(
            pl.Series(
                "__sub", [f"{short(s)}{k}" for s, k in zip(frame["__sub"], kind, strict=True)]
            )
        ),
        "{}",
    )
    return frame.with_columns(
        pl.Series("venue_id", ids("TY", n, 4)),
        pl.Series("kind", kind),
        pl.Series("free_entry", rng.random(n) < 0.6),
        pl.Series("area_m2", np.round(np.exp(rng.normal(7.5, 0.9, n)), -1)),
    )


@rows("elderly-care-facilities")
def elderly_care(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    n = 180
    kind = pick(rng, ("养老院", "日间照料中心", "居家养老服务站"), n, (25, 35, 40))
    beds = np.where(
        kind == "养老院",
        rng.integers(60, 500, n),
        np.where(kind == "日间照料中心", rng.integers(5, 30, n), 0),
    )
    frame = placed(ctx, rng, n)
    frame = named(
        frame.with_columns(
            pl.Series(
                "__sub", [f"{short(s)}{k}" for s, k in zip(frame["__sub"], kind, strict=True)]
            )
        ),
        "{}",
    )
    return frame.with_columns(
        pl.Series("facility_id", ids("YL", n, 4)),
        pl.Series("kind", kind),
        pl.Series("public", rng.random(n) < 0.55),
        pl.Series("beds", beds),
    )
