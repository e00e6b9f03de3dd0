"""The demo data hub's time series: statistics by district and month or year, readings.

Vectorised with numpy: seasons, weekdays and rush hours shape the numbers. The big one is
``air-quality-hourly`` (40 stations × ``big_rows / 40`` hours; 1,000,000 rows by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from cityos.demo.assessment_data import DISTRICT_POPULATION
from cityos.demo.datahub_data import (
    DEPARTMENT_CODES,
    FIRE_CAUSES,
    HOTLINE_TOPICS,
    LAND_USES,
    STALE_DAYS,
    WASTE_STREAMS,
    WATER_GRADES,
    YEARS,
)
from cityos.demo.datahub_rows import Context, pick, rows
from cityos.demo.people import DEPARTMENTS

TZ = "+08:00"


def grid(*axes: Sequence[object]) -> dict[str, np.ndarray]:
    """Every combination of the axes (the first varies slowest), as columns a0, a1, …"""
    mesh = np.meshgrid(*[np.arange(len(axis)) for axis in axes], indexing="ij")
    return {
        f"a{i}": np.asarray(axis, dtype=object)[index.ravel()]
        for i, (axis, index) in enumerate(zip(axes, mesh, strict=True))
    }


def share(ctx: Context, codes: np.ndarray) -> np.ndarray:
    """Each district's share of the city's residents (equal shares for unknown codes)."""
    total = sum(DISTRICT_POPULATION.values())
    fallback = 1 / max(len(ctx.geo.districts), 1)
    return np.array([DISTRICT_POPULATION.get(str(c), total * fallback) / total for c in codes])


def month_numbers(months: np.ndarray) -> np.ndarray:
    return np.array([int(str(m)[5:7]) for m in months])


def seasonal(month: np.ndarray, amplitude: float, peak: int = 1) -> np.ndarray:
    return 1 + amplitude * np.cos(2 * math.pi * (month - peak) / 12)


@rows("budget-by-department")
def budget(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    names = {code: zh for code, zh, _en, _parent in DEPARTMENTS}
    categories = ("人员经费", "公用经费", "项目支出", "基本建设支出")
    cells = grid(DEPARTMENT_CODES, YEARS, categories)
    size = {code: float(np.exp(rng.normal(19.3, 0.7))) for code in DEPARTMENT_CODES}
    part = {"人员经费": 0.38, "公用经费": 0.12, "项目支出": 0.35, "基本建设支出": 0.15}
    growth = 1.045 ** (cells["a1"].astype(int) - YEARS[0])
    base = np.array([size[d] * part[c] for d, c in zip(cells["a0"], cells["a2"], strict=True)])
    amount = np.round(base * growth * rng.lognormal(0, 0.08, len(base)), -3)
    return pl.DataFrame(
        {
            "department_code": cells["a0"].astype(str),
            "department_name": [names.get(str(code), str(code)) for code in cells["a0"]],
            "year": cells["a1"].astype(int),
            "category": cells["a2"].astype(str),
            "amount_cny": amount,
        }
    )


@rows("hotline-cases-monthly")
def hotline(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    cells = grid(ctx.months(36), ctx.geo.district_codes, HOTLINE_TOPICS)
    weight = dict(zip(HOTLINE_TOPICS, (0.28, 0.2, 0.14, 0.12, 0.18, 0.08), strict=True))
    mean = (
        24_000
        * share(ctx, cells["a1"])
        * np.array([weight[t] for t in cells["a2"]])
        * seasonal(month_numbers(cells["a0"]), 0.15, peak=7)
    )
    received = rng.poisson(mean)
    closed = received - rng.binomial(received, 0.03)
    return pl.DataFrame(
        {
            "month": cells["a0"].astype(str),
            "district_code": cells["a1"].astype(str),
            "topic": cells["a2"].astype(str),
            "received": received,
            "closed": closed,
            "on_time_pct": np.round(np.clip(rng.normal(93, 3.5, len(mean)), 60, 100), 1),
            "median_hours": np.round(rng.gamma(4, 6, len(mean)), 1),
        }
    )


@rows("waste-tonnage-daily")
def waste_tonnage(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    days = [ctx.today - timedelta(days=d) for d in range(365, 0, -1)]
    cells = grid(days, ctx.geo.district_codes, WASTE_STREAMS)
    part = dict(zip(WASTE_STREAMS, (0.52, 0.32, 0.155, 0.005), strict=True))
    weekday = np.array([1.06 if d.weekday() >= 5 else 0.98 for d in cells["a0"]])
    month = np.array([d.month for d in cells["a0"]])
    tonnes = (
        3200
        * share(ctx, cells["a1"])
        * np.array([part[s] for s in cells["a2"]])
        * weekday
        * seasonal(month, 0.08, peak=8)
        * rng.lognormal(0, 0.06, len(month))
    )
    return pl.DataFrame(
        {
            "date": pl.Series(list(cells["a0"]), dtype=pl.Date),
            "district_code": cells["a1"].astype(str),
            "stream": cells["a2"].astype(str),
            "tonnes": np.round(tonnes, 2),
        }
    )


@rows("grid-patrols-monthly")
def grid_patrols(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    months = ctx.months(12)
    cells = grid(months, list(range(len(ctx.geo.grid_codes))))
    cell = cells["a1"].astype(int)
    busy = rng.lognormal(0, 0.4, len(ctx.geo.grid_codes))[cell]
    patrols = rng.poisson(40 * busy)
    found = rng.poisson(patrols * 0.15)
    return pl.DataFrame(
        {
            "month": cells["a0"].astype(str),
            "grid_code": ctx.geo.grid_codes[cell],
            "district_code": ctx.geo.grid_districts[cell],
            "patrols": patrols,
            "issues_found": found,
            "issues_closed": found - rng.binomial(found, 0.05),
        }
    )


@rows("traffic-counts-daily")
def traffic_counts(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    stations = [f"TC-{i:03d}" for i in range(1, 31)]
    days = [ctx.today - timedelta(days=d) for d in range(365, 0, -1)]
    cells = grid(stations, days, ("进城", "出城"))
    station = np.array([int(str(s)[3:]) - 1 for s in cells["a0"]])
    size = rng.lognormal(9.6, 0.5, len(stations))[station]
    weekend = np.array([d.weekday() >= 5 for d in cells["a1"]])
    festival = np.array(
        [(d.month, d.day) in {(10, 1), (10, 2), (10, 3), (2, 10)} for d in cells["a1"]]
    )
    vehicles = rng.poisson(size * np.where(weekend, 0.82, 1.0) * np.where(festival, 0.6, 1.0))
    return pl.DataFrame(
        {
            "station_code": cells["a0"].astype(str),
            "date": pl.Series(list(cells["a1"]), dtype=pl.Date),
            "direction": cells["a2"].astype(str),
            "vehicles": vehicles,
            "heavy_pct": np.round(np.clip(rng.normal(np.where(weekend, 5, 9), 2), 0, 100), 1),
            "mean_speed_kmh": np.round(
                np.clip(62 - vehicles / 1500 + rng.normal(0, 4, len(station)), 8, 90), 1
            ),
        }
    )


@rows("air-quality-hourly")
def air_hourly(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    """``ctx.big_rows`` hourly readings: 40 stations, hours up to today 00:00 (local)."""
    stations = ctx.frame("air-quality-stations")
    count = stations.height
    hours = -(-ctx.big_rows // count)
    end = datetime.combine(ctx.today, datetime.min.time())
    start = end - timedelta(hours=hours)
    t = np.arange(hours)
    moment = np.datetime64(start, "h") + t.astype("timedelta64[h]")
    hour = (moment - moment.astype("datetime64[D]")).astype(int)
    day = (moment.astype("datetime64[D]") - np.datetime64(start.date(), "D")).astype(int)
    doy = (moment.astype("datetime64[D]") - moment.astype("datetime64[Y]")).astype(int)
    winter = 1 + 0.45 * np.cos(2 * math.pi * (doy - 15) / 365.25)
    summer = 1 + 0.5 * np.cos(2 * math.pi * (doy - 190) / 365.25)
    rush = 1 + 0.22 * np.exp(-((hour - 8) ** 2) / 4) + 0.28 * np.exp(-((hour - 19) ** 2) / 6)
    afternoon = 0.45 + 0.9 * np.exp(-((hour - 15) ** 2) / 10)
    weather_days = rng.lognormal(0, 0.35, day.max() + 3)
    weather = np.convolve(weather_days, np.ones(3) / 3, mode="same")[day]  # spells of days
    kind = stations["kind"].to_numpy()
    local = 1 + np.where(kind == "交通点", 0.25, np.where(kind == "背景点", -0.3, 0.0))
    local = local * rng.lognormal(0, 0.1, count)
    base = np.outer(winter * weather, local)  # hours × stations
    noise = rng.lognormal(0, 0.18, (4, hours, count))
    pm25 = 38 * base * rush[:, None] * noise[0]
    pm10 = pm25 * (1.55 + 0.25 * noise[1])
    no2 = (
        32 * np.outer(weather * rush**1.5, local + np.where(kind == "交通点", 0.3, 0.0)) * noise[2]
    )
    o3 = 70 * np.outer(summer * afternoon, 2 - local) / np.maximum(weather, 0.5)[:, None] * noise[3]
    labels = pl.Series([f"{m}{TZ}" for m in np.datetime_as_string(moment, unit="s")])
    frame = pl.DataFrame(
        {
            "station_code": stations["station_code"].gather(np.tile(np.arange(count), hours)),
            "observed_at": labels.gather(np.repeat(t, count)),
            "pm25": np.round(pm25.ravel(), 1),
            "pm10": np.round(pm10.ravel(), 1),
            "no2": np.round(no2.ravel(), 1),
            "o3": np.round(o3.ravel(), 1),
        }
    ).head(ctx.big_rows)
    missing = rng.random(frame.height) < 0.004  # sensor outages: a few empty readings
    return frame.with_columns(
        [
            pl.when(pl.Series(missing)).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("pm25", "pm10", "no2", "o3")
        ]
    )


@rows("noise-monitoring-monthly")
def noise(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    points = ctx.geo.points(rng, 24)
    codes = [f"ZS-{i:02d}" for i in range(1, 25)]
    months = ctx.months(24, end=ctx.today - timedelta(days=STALE_DAYS))
    cells = grid(list(range(24)), months)
    which = cells["a0"].astype(int)
    zone = pick(rng, ("1", "2", "3", "4a", "4b"), 24, (20, 35, 15, 25, 5))
    level = {"0": 45, "1": 52, "2": 56, "3": 60, "4a": 66, "4b": 64}
    day_db = np.array([level[str(z)] for z in zone])[which] + rng.normal(0, 1.8, len(which))
    locations = points.geopoint()
    return pl.DataFrame(
        {
            "station_code": [codes[i] for i in which],
            "month": cells["a1"].astype(str),
            "district_code": points.district[which],
            "location": [locations[i] for i in which],
            "zone_class": zone[which].astype(str),
            "day_leq_db": np.round(day_db, 1),
            "night_leq_db": np.round(day_db - rng.uniform(6, 11, len(which)), 1),
        }
    )


@rows("water-quality-monthly")
def water_quality(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    rivers = ("明湖", "钱塘江", "运河", "西溪", "东河", "新开河", "上塘河", "贴沙河")
    points = ctx.geo.points(rng, 16)
    codes = [f"SZ-{i:02d}" for i in range(1, 17)]
    months = ctx.months(36)
    cells = grid(list(range(16)), months)
    which = cells["a0"].astype(int)
    dirt = rng.lognormal(0, 0.45, 16)[which] * seasonal(month_numbers(cells["a1"]), 0.2, peak=7)
    n = len(which)
    ammonia = np.round(0.35 * dirt * rng.lognormal(0, 0.25, n), 3)
    phosphorus = np.round(0.09 * dirt * rng.lognormal(0, 0.25, n), 3)
    limits = [(0.15, 0.02), (0.5, 0.1), (1.0, 0.2), (1.5, 0.3), (2.0, 0.4)]
    grade = np.full(n, WATER_GRADES[-1], dtype=object)
    for position in range(len(limits) - 1, -1, -1):
        nh3, tp = limits[position]
        grade = np.where((ammonia <= nh3) & (phosphorus <= tp), WATER_GRADES[position], grade)
    locations = points.geopoint()
    return pl.DataFrame(
        {
            "section_code": [codes[i] for i in which],
            "river": [rivers[i % len(rivers)] for i in which],
            "month": cells["a1"].astype(str),
            "location": [locations[i] for i in which],
            "ph": np.round(rng.normal(7.4, 0.3, n), 2),
            "dissolved_oxygen": np.round(np.clip(rng.normal(8.5, 1.2, n) - dirt, 1, 14), 2),
            "cod_mn": np.round(3.2 * dirt * rng.lognormal(0, 0.2, n), 2),
            "ammonia_n": ammonia,
            "total_p": phosphorus,
            "grade": grade.astype(str),
        }
    )


@rows("water-supply-monthly")
def water_supply(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    cells = grid(ctx.months(36), ctx.geo.district_codes)
    people = share(ctx, cells["a1"]) * sum(DISTRICT_POPULATION.values())
    supply = people * 0.0095 * seasonal(month_numbers(cells["a0"]), 0.12, peak=7)
    n = len(people)
    return pl.DataFrame(
        {
            "month": cells["a0"].astype(str),
            "district_code": cells["a1"].astype(str),
            "supply_10k_m3": np.round(supply * rng.lognormal(0, 0.03, n), 1),
            "customers": (people / 2.7).astype(int),
            "loss_pct": np.round(np.clip(rng.normal(9.5, 1.5, n), 3, 20), 1),
        }
    )


@rows("population-by-district")
def population(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    codes = ctx.geo.district_codes
    cells = grid(codes, YEARS)
    growth = {code: rng.uniform(0.003, 0.03) for code in codes}
    last = YEARS[-1]
    latest = np.array([DISTRICT_POPULATION.get(str(c), 350_000.0) for c in cells["a0"]])
    back = np.array(
        [
            (1 + growth[str(c)]) ** (last - int(y))
            for c, y in zip(cells["a0"], cells["a1"], strict=True)
        ]
    )
    residents = np.round(latest / back).astype(int)
    names = {d.code: d.name_zh for d in ctx.geo.districts}
    return pl.DataFrame(
        {
            "district_code": cells["a0"].astype(str),
            "district_name": [names[str(c)] for c in cells["a0"]],
            "year": cells["a1"].astype(int),
            "residents": residents,
            "registered": (
                residents * np.array([0.62 + 0.02 * (i % 5) for i in range(len(residents))])
            ).astype(int),
            "households": (residents / 2.62).astype(int),
            "aged_65_pct": np.round(
                12.0
                + 0.55 * (cells["a1"].astype(int) - YEARS[0])
                + rng.normal(0, 0.6, len(residents)),
                1,
            ),
        }
    )


@rows("hospital-beds-by-district")
def hospital_beds(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    people = ctx.frame("population-by-district")
    years = people["year"].to_numpy()
    per_1000 = 5.2 + 0.12 * (years - YEARS[0]) + rng.normal(0, 0.3, people.height)
    beds = (people["residents"].to_numpy() * per_1000 / 1000).astype(int)
    return pl.DataFrame(
        {
            "district_code": people["district_code"],
            "year": years,
            "beds": beds,
            "doctors": (beds * rng.uniform(0.42, 0.55, people.height)).astype(int),
            "nurses": (beds * rng.uniform(0.55, 0.7, people.height)).astype(int),
            "beds_per_1000": np.round(beds / people["residents"].to_numpy() * 1000, 2),
        }
    )


@rows("fire-incidents-monthly")
def fire_incidents(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    cells = grid(ctx.months(36), ctx.geo.district_codes, FIRE_CAUSES)
    weight = dict(zip(FIRE_CAUSES, (0.4, 0.3, 0.12, 0.18), strict=True))
    mean = 90 * share(ctx, cells["a1"]) * np.array([weight[c] for c in cells["a2"]])
    fires = rng.poisson(mean * seasonal(month_numbers(cells["a0"]), 0.3, peak=1))
    return pl.DataFrame(
        {
            "month": cells["a0"].astype(str),
            "district_code": cells["a1"].astype(str),
            "cause": cells["a2"].astype(str),
            "fires": fires,
            "injuries": rng.binomial(fires, 0.04),
            "losses_cny": np.round(fires * rng.lognormal(9.5, 1.0, len(fires)), -2),
        }
    )


@rows("land-supply-annual")
def land_supply(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    cells = grid(YEARS, ctx.geo.district_codes, LAND_USES)
    n = len(cells["a0"])
    parcels = rng.poisson(
        np.array(
            [{"住宅用地": 4, "商服用地": 2, "工业用地": 3}.get(str(u), 1.5) for u in cells["a2"]]
        )
    )
    area = np.round(parcels * rng.lognormal(1.6, 0.5, n), 2)
    price = np.array(
        [
            {"住宅用地": 2.6e7, "商服用地": 1.2e7, "工业用地": 1.8e6}.get(str(u), 0.0)
            for u in cells["a2"]
        ]
    )
    return pl.DataFrame(
        {
            "year": cells["a0"].astype(int),
            "district_code": cells["a1"].astype(str),
            "land_use": cells["a2"].astype(str),
            "parcels": parcels,
            "area_ha": area,
            "price_cny": np.round(area * price * rng.lognormal(0, 0.15, n), -4),
        }
    )


def covered(values: pl.Series) -> tuple[date | None, date | None]:
    """The first and last day a column of years, months, dates or datetimes covers."""
    data = values.drop_nulls()
    if data.is_empty():
        return None, None
    if data.dtype == pl.Date:
        return data.min(), data.max()  # type: ignore[return-value]
    if data.dtype.is_integer():
        return date(int(data.min()), 1, 1), date(int(data.max()), 12, 31)  # type: ignore[arg-type]
    text = data.cast(pl.String)
    first, last = str(text.min()), str(text.max())
    if len(first) == 7:  # YYYY-MM
        end = date(int(last[:4]), int(last[5:7]), 1) + timedelta(days=32)
        return date.fromisoformat(first + "-01"), end.replace(day=1) - timedelta(days=1)
    return date.fromisoformat(first[:10]), date.fromisoformat(last[:10])
