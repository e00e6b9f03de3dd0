"""The demo city's cases: ~50,000 over the last 90 days, and ~20 with real histories.

The bulk is generated with a fixed-seed numpy Generator and written through the importer's
bulk path (:mod:`cityos.cases.bulk`: vectorised routing and SLA clocks, executemany), as
historical cases (source ``import``, ``source_ref`` ``demo:<n>``; their history is rebuilt
from their times). Times are relative to "now" rounded down to the hour, so every run looks
alike. The patterns:

- time: few reports at night, peaks mid-morning and in the evening; weekends quieter; a
  slow growth over the 90 days; a few rainy days with many more reports;
- category mix by hour, weekday and weather: noise at night and at weekends, construction
  noise on weekday days, street flooding clustered on the rainy days (and in a few low
  spots), potholes in the days after rain, streetlights reported in the evening;
- place: denser in the centre and around each district's centre;
- status by age: recent cases submitted / acknowledged / in progress; older ones mostly
  resolved, some closed with a reason, a few reopened, a small backlog left open;
- SLA: resolution times scale with each category's target and each department's pace, so
  most cases meet their SLA and a realistic, department-dependent share do not.

``seed_cases`` also opens about 20 cases through the real service functions (intake,
status changes, notes in Chinese and English, a transfer, a reopening) so the tracking and
staff pages show real histories (:mod:`cityos.demo.cases_live`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.service import record
from cityos.cases import bulk
from cityos.cases.catalog import list_categories
from cityos.cases.models import Case, CaseSource, CaseStatus, Category, CloseReason
from cityos.db import utcnow
from cityos.demo.cases_live import seed_live_cases
from cityos.demo.city import CENTRE, CITY_CODE, KM_PER_DEG_LAT
from cityos.demo.people import DEMO_ACTOR
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

DEMO_COUNT = 50_000
DAYS = 90
SEED = 20_261_121
REF_PREFIX = "demo:"
LOCAL_OFFSET_H = 8  # the demo city keeps China Standard Time (no daylight saving)
HOUR_WEIGHTS = np.array(  # reports per local hour, 0 h to 23 h (relative)
    [
        *(0.25, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.8, 1.3, 1.7, 1.8, 1.6),
        *(1.2, 1.1, 1.3, 1.4, 1.4, 1.5, 1.6, 1.7, 1.6, 1.3, 0.9, 0.5),
    ]
)
BASE_WEIGHTS = {
    "ILLEGAL-PARKING": 9.0,
    "WASTE-OVERFLOW": 8.0,
    "NOISE-NEIGHBOUR": 6.0,
    "ROAD-POTHOLE": 6.0,
    "STREETLIGHT-OUT": 6.0,
    "STREET-CLEANING": 5.0,
    "NOISE-CONSTRUCTION": 5.0,
    "WASTE-DUMPING": 4.0,
    "BIKE-SHARE": 4.0,
    "SIDEWALK-DAMAGED": 4.0,
    "ILLEGAL-ADVERT": 3.0,
    "NOISE-COMMERCIAL": 3.0,
    "STREET-VENDOR": 3.0,
    "DRAIN-BLOCKED": 3.0,
    "OTHER": 2.0,
    "TREE-PRUNING": 2.0,
    "WATER-LEAK": 2.0,
    "AIR-POLLUTION": 2.0,
    "PARK-FACILITY": 2.0,
    "TRAFFIC-SIGNAL": 2.0,
    "MANHOLE-COVER": 1.5,
    "ELEVATOR-FAULT": 1.5,
    "ILLEGAL-CONSTRUCTION": 1.5,
    "FOOD-SAFETY": 1.2,
    "FLOOD-STREET": 1.0,
    "NO-WATER": 1.0,
    "PUBLIC-TOILET": 1.0,
    "LAMPPOST-DAMAGED": 0.8,
    "WATER-POLLUTION": 0.7,
    "BUILDING-DANGER": 0.6,
    "TREE-FALLEN": 0.6,
    "FIRE-HAZARD": 0.5,
    "OPEN-BURNING": 0.5,
}
FLOOD_CODES = ("FLOOD-STREET", "DRAIN-BLOCKED")
ROADS = (
    *("明湖路", "湖滨路", "西岭路", "北塘街", "东港大道", "江湾路", "南屏街", "高新大道"),
    *("新城路", "清波街", "望湖路", "柳浪路", "梅岭路", "翠苑街", "云栖路", "石桥路"),
    *("康桥路", "上塘路", "钱塘大道", "白杨街", "文三路", "古荡街", "三墩路", "采荷路"),
)
DESCRIPTIONS = (
    "{zh}，请尽快处理。",
    "{zh}，已经好几天了，影响出行。",
    "{en}, please send someone to look at it.",
    "{zh}。{en}.",
    "Reported by a resident: {en_lower}.",
    "{zh}，位置见地图。",
)
RESOLVED_NOTES = (
    "已处理完毕，感谢您的反映。 Fixed, thank you for reporting.",
    "现场已整改。 The problem has been put right on site.",
    "Crew attended and fixed the problem.",
    "已安排维修并完成。",
    "Cleared and checked on site.",
    "问题已解决，欢迎继续监督。",
)
CLOSED_NOTES = {
    CloseReason.NOT_OUR_RESPONSIBILITY: "该问题不属于市政管理范围，已告知产权单位。 "
    "Not a municipal matter; the owner has been told.",
    CloseReason.NO_FURTHER_ACTION: "现场核查未发现问题。 Checked on site: no problem found.",
    CloseReason.REFERRED_OUTSIDE: "已转交供电公司处理。 Referred to the power company.",
    CloseReason.DUPLICATE: "与已有案件重复。 Already reported in another case.",
}


@dataclass(frozen=True, slots=True)
class _Catalog:
    categories: list[Category]
    codes: list[str]
    weights: npt.NDArray[np.float64]


def demo_cases_present(db_session: Session) -> int:
    """How many demo cases (bulk and live) the database holds."""
    column = Case.__table__.c.source_ref
    return int(
        db_session.scalar(select(func.count()).where(column.startswith("demo")).select_from(Case))
        or 0
    )


def seed_cases(db_session: Session, count: int = DEMO_COUNT, *, now: datetime | None = None) -> str:
    """Seed the demo cases once (nothing happens when demo cases exist)."""
    existing = demo_cases_present(db_session)
    if existing:
        return f"cases: already seeded ({existing:,} demo cases)"
    categories = list(list_categories(db_session))
    if not categories:
        return "cases: skipped (the service catalog is empty)"
    cities = {a.code for a in geo_service.list_areas(db_session, level=AreaLevel.CITY)}
    if CITY_CODE not in cities:
        return f"cases: skipped (the demo city {CITY_CODE} is not on the map)"
    now = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(SEED)
    frame, placed = generate(db_session, categories, count=count, now=now, rng=rng)
    written = bulk.insert_cases(db_session, frame, placed=placed, source=CaseSource.IMPORT.value)
    live = seed_live_cases(db_session, now=now)
    record(
        db_session,
        actor=DEMO_ACTOR,
        action="cases.import",
        entity_type="cases_import",
        entity_id="demo",
        summary=f"demo: {written:,} historical cases over {DAYS} days",
        after={"source": "demo", "imported": written, "days": DAYS, "live": live},
    )
    return (
        f"cases: {written:,} over the last {DAYS} days, {live} with real histories "
        f"({frame['status'].is_in(['resolved', 'closed']).sum():,} ended)"
    )


def _catalog(categories: list[Category]) -> _Catalog:
    codes = [category.service_code for category in categories]
    weights = np.array([BASE_WEIGHTS.get(code, 1.0) for code in codes])
    return _Catalog(categories, codes, weights)


def _times(
    rng: np.random.Generator, count: int, now: datetime
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int8]]:
    """Report times (µs since the epoch, UTC), weekend flags and rain state per case.

    Rain state: 0 dry, 1 a rainy day, 2 within four days after rain.
    """
    local_now = now + timedelta(hours=LOCAL_OFFSET_H)
    first_day = (local_now - timedelta(days=DAYS - 1)).replace(hour=0)
    day_dates = [first_day + timedelta(days=d) for d in range(DAYS)]
    weekday = np.array([day.weekday() for day in day_dates])
    rainy = np.zeros(DAYS, dtype=bool)
    for start in rng.choice(np.arange(3, DAYS - 3), size=4, replace=False):
        rainy[start : start + int(rng.integers(1, 3))] = True
    after = np.zeros(DAYS, dtype=bool)
    for day in np.flatnonzero(rainy):
        after[day + 1 : day + 5] = True
    rain_state = np.where(rainy, 1, np.where(after, 2, 0)).astype(np.int8)
    day_weight = np.where(weekday >= 5, np.where(weekday == 5, 0.8, 0.7), 1.0)
    day_weight = day_weight * np.linspace(0.9, 1.1, DAYS) * np.where(rainy, 1.35, 1.0)
    slots = (day_weight[:, None] * HOUR_WEIGHTS[None, :]).ravel()
    slot_start = np.array(
        [
            int((day - timedelta(hours=LOCAL_OFFSET_H)).timestamp() * 1e6) + hour * 3_600_000_000
            for day in day_dates
            for hour in range(24)
        ],
        dtype=np.int64,
    )
    limit = int(now.timestamp() * 1e6)
    usable = slot_start < limit
    weights = np.where(usable, slots, 0.0)
    chosen = rng.choice(len(slots), size=count, p=weights / weights.sum())
    span = np.minimum(3_600_000_000, limit - slot_start[chosen])
    stamps = slot_start[chosen] + (rng.random(count) * span).astype(np.int64)
    day_index = chosen // 24
    return stamps, weekday[day_index] >= 5, rain_state[day_index]


def _categories(
    rng: np.random.Generator,
    catalog: _Catalog,
    hours: npt.NDArray[np.int64],
    weekend: npt.NDArray[np.bool_],
    rain: npt.NDArray[np.int8],
) -> npt.NDArray[np.int64]:
    """A category index per case, from a mix that depends on hour, weekday and weather."""
    codes = catalog.codes
    table = np.empty((24, 2, 3, len(codes)))
    for hour in range(24):
        night = hour >= 21 or hour <= 2
        day = 7 <= hour <= 18
        evening = hour >= 18 or hour <= 1
        for is_weekend in (0, 1):
            for state in (0, 1, 2):
                w = catalog.weights.copy()
                for i, code in enumerate(codes):
                    if code.startswith("NOISE") and code != "NOISE-CONSTRUCTION":
                        w[i] *= (3.0 if night else 1.0) * (1.6 if is_weekend else 1.0)
                    elif code == "NOISE-CONSTRUCTION":
                        w[i] *= (2.0 if day and not is_weekend else 0.5) * (1.5 if night else 1)
                    elif code == "FLOOD-STREET":
                        w[i] *= 30.0 if state == 1 else 0.05
                    elif code == "DRAIN-BLOCKED":
                        w[i] *= 5.0 if state == 1 else 0.8
                    elif code == "ROAD-POTHOLE":
                        w[i] *= 2.5 if state == 2 else 1.0
                    elif code == "TREE-FALLEN":
                        w[i] *= 6.0 if state == 1 else 1.0
                    elif code in ("STREETLIGHT-OUT", "LAMPPOST-DAMAGED"):
                        w[i] *= 2.5 if evening else 0.5
                table[hour, is_weekend, state] = np.cumsum(w) / w.sum()
    cumulative = table[hours, weekend.astype(np.int64), rain.astype(np.int64)]
    draws = rng.random(len(hours))
    picked: npt.NDArray[np.int64] = (cumulative < draws[:, None]).sum(axis=1)
    return np.minimum(picked, len(codes) - 1)


def _points(
    db_session: Session, rng: np.random.Generator, is_flood: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points inside the city: denser in the centre and around the district centres; flood
    reports gather in a few low spots."""
    count = len(is_flood)
    km_lon = KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[1]))
    districts = geo_service.list_areas(db_session, level=AreaLevel.DISTRICT)
    subdistricts = geo_service.list_areas(db_session, level=AreaLevel.SUBDISTRICT)
    hubs = np.array([(a.label_lon, a.label_lat) for a in districts] or [CENTRE])
    low = np.array([(a.label_lon, a.label_lat) for a in subdistricts] or [CENTRE])
    low_spots = low[rng.choice(len(low), size=min(5, len(low)), replace=False)]
    city = geo_service.get_area(db_session, code=CITY_CODE)
    bounds = (city.min_lon, city.min_lat, city.max_lon, city.max_lat)
    lons = np.full(count, np.nan)
    lats = np.full(count, np.nan)
    todo = np.arange(count)
    for _ in range(30):
        if todo.size == 0:
            break
        n = todo.size
        kind = rng.random(n)
        sigma_km = np.where(kind < 0.55, 2.8, 1.4)
        centre = np.where(
            (kind < 0.55)[:, None], np.array(CENTRE)[None, :], hubs[rng.integers(len(hubs), size=n)]
        )
        flood = is_flood[todo] & (rng.random(n) < 0.7)
        centre[flood] = low_spots[rng.integers(len(low_spots), size=int(flood.sum()))]
        sigma_km = np.where(flood, 0.5, sigma_km)
        x = centre[:, 0] + rng.normal(size=n) * sigma_km / km_lon
        y = centre[:, 1] + rng.normal(size=n) * sigma_km / KM_PER_DEG_LAT
        uniform = (kind > 0.9) & ~flood
        x[uniform] = rng.uniform(bounds[0], bounds[2], size=int(uniform.sum()))
        y[uniform] = rng.uniform(bounds[1], bounds[3], size=int(uniform.sum()))
        x, y = np.round(x, 6), np.round(y, 6)  # as stored: a point on the edge stays in
        inside = geo_service.locate_many(db_session, lons=x, lats=y).inside
        lons[todo[inside]] = x[inside]
        lats[todo[inside]] = y[inside]
        todo = todo[~inside]
    lons[todo], lats[todo] = city.label_lon, city.label_lat
    return lons, lats


def _targets(
    categories: list[Category], priorities: npt.NDArray[np.object_], index: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """SLA hours per case (acknowledge, resolve), as ``sla.targets`` finds them."""
    acknowledge = np.full(len(index), 24.0)
    resolve = np.full(len(index), 120.0)
    for i, category in enumerate(categories):
        for priority in ("urgent", "high", "normal", "low"):
            target = category.sla.get(priority) or category.sla.get("normal")
            if not target:
                continue
            rows = (index == i) & (priorities == priority)
            acknowledge[rows] = float(target["acknowledge_hours"])
            resolve[rows] = float(target["resolve_hours"])
    return acknowledge, resolve


def generate(
    db_session: Session,
    categories: list[Category],
    *,
    count: int,
    now: datetime,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, bulk.Placed]:
    """The demo cases as a bulk frame, with their locations and routing."""
    catalog = _catalog(categories)
    stamps, weekend, rain = _times(rng, count, now)
    order = np.argsort(stamps, kind="stable")
    stamps, weekend, rain = stamps[order], weekend[order], rain[order]
    local_hours = ((stamps // 3_600_000_000) + LOCAL_OFFSET_H) % 24
    index = _categories(rng, catalog, local_hours, weekend, rain)
    codes = np.array(catalog.codes, dtype=object)[index]
    is_flood = np.isin(codes, FLOOD_CODES)
    lons, lats = _points(db_session, rng, is_flood)
    category_ids = np.array([c.id for c in categories], dtype=np.int64)[index]
    placed = bulk.place(db_session, category_ids=category_ids, lons=lons, lats=lats)

    # priority: the category's default, some raised where the category has a target for it
    defaults = np.array([c.default_priority for c in categories], dtype=object)[index]
    has = {p: np.array([p in c.sla for c in categories])[index] for p in ("urgent", "high")}
    draw = rng.random(count)
    priority = defaults.copy()
    priority[(draw < 0.06) & has["high"]] = "high"
    priority[(draw < 0.015) & has["urgent"]] = "urgent"
    ack_h, res_h = _targets(categories, priority, index)

    # each department works at its own pace (a share of the SLA target), triage slowest
    departments = placed.routing.department_ids
    pace = np.full(count, 1.4)
    known = sorted({int(d) for d in departments if d >= 0})
    paces = rng.permutation(np.linspace(0.45, 1.25, max(len(known), 1)))
    for department, value in zip(known, paces, strict=False):
        pace[departments == department] = value
    ack_dur = rng.lognormal(np.log(0.35 * ack_h * pace), 0.7)
    res_dur = np.maximum(rng.lognormal(np.log(0.45 * res_h * pace), 0.75), ack_dur + 0.2)
    hour_us = 3_600_000_000
    acknowledged = stamps + (ack_dur * hour_us).astype(np.int64)
    ended_at = stamps + (res_dur * hour_us).astype(np.int64)
    limit = int(now.timestamp() * 1e6)
    age_days = (limit - stamps) / (24 * hour_us)
    ended = ended_at <= limit
    backlog = ended & (age_days > 20) & (rng.random(count) < 0.03 * pace)
    ended &= ~backlog

    status = np.full(count, CaseStatus.SUBMITTED.value, dtype=object)
    working = ~ended & (acknowledged <= limit)
    step = rng.random(count)
    status[working] = np.where(
        step[working] < 0.6,
        CaseStatus.IN_PROGRESS.value,
        np.where(
            step[working] < 0.85, CaseStatus.ACKNOWLEDGED.value, CaseStatus.ACTION_SCHEDULED.value
        ),
    )
    status[backlog] = CaseStatus.IN_PROGRESS.value
    closing = rng.random(count)
    closed = ended & (closing < 0.1)
    status[ended] = CaseStatus.RESOLVED.value
    status[closed] = CaseStatus.CLOSED.value
    reasons = np.array(
        [
            r.value
            for r in (
                CloseReason.NOT_OUR_RESPONSIBILITY,
                CloseReason.NO_FURTHER_ACTION,
                CloseReason.REFERRED_OUTSIDE,
                CloseReason.DUPLICATE,
            )
        ],
        dtype=object,
    )
    close_reason = np.full(count, None, dtype=object)
    close_reason[closed] = reasons[
        np.searchsorted([0.35, 0.7, 0.9], rng.random(int(closed.sum())), side="right")
    ]
    recent_end = ended & ~closed & (limit - ended_at < 14 * 24 * hour_us)
    reopened = recent_end & (rng.random(count) < 0.02)
    status[reopened] = CaseStatus.REOPENED.value

    notes = np.array(RESOLVED_NOTES, dtype=object)[rng.integers(len(RESOLVED_NOTES), size=count)]
    closed_notes = np.array(
        [CLOSED_NOTES.get(CloseReason(r)) if r else None for r in close_reason], dtype=object
    )
    roads = np.array(ROADS, dtype=object)[rng.integers(len(ROADS), size=count)]
    numbers = rng.integers(1, 400, size=count)
    template = rng.integers(len(DESCRIPTIONS), size=count)
    names = {c.id: (c.name_zh, c.name_en) for c in categories}
    descriptions = [
        DESCRIPTIONS[t].format(zh=names[cid][0], en=names[cid][1], en_lower=names[cid][1].lower())
        for t, cid in zip(template.tolist(), category_ids.tolist(), strict=True)
    ]
    micro = pl.Datetime("us")
    is_ended = np.isin(status, ["resolved", "closed"])
    frame = pl.DataFrame(
        {
            "category_id": category_ids,
            "lon": lons,
            "lat": lats,
            "requested_at": pl.Series(stamps).cast(micro),
            "status": pl.Series(status.tolist(), dtype=pl.String),
            "closed_at": pl.Series(np.where(is_ended, ended_at, 0)).cast(micro),
            "acknowledged_at": pl.Series(np.minimum(acknowledged, ended_at)).cast(micro),
            "close_reason": pl.Series(close_reason.tolist(), dtype=pl.String),
            "priority": pl.Series(priority.tolist(), dtype=pl.String),
            "description": descriptions,
            "status_notes": pl.Series(closed_notes.tolist(), dtype=pl.String),
            "resolution_note": pl.Series(notes.tolist(), dtype=pl.String),
            "address": [f"{road}{n}号" for road, n in zip(roads, numbers.tolist(), strict=True)],
            "source_ref": [f"{REF_PREFIX}{i}" for i in range(1, count + 1)],
            "reopen_count": reopened.astype(np.int64),
        }
    ).with_columns(
        pl.when(pl.col("status").is_in(["resolved", "closed"])).then(pl.col("closed_at")),
    )
    return frame, placed
