"""The demo city's assessments: frameworks, units, invented values, three runs and a plan.

Everything goes through :mod:`cityos.assessment.service` (and reads the map through the geo
service). The indicator values are INVENTED for the demo (see
:mod:`cityos.demo.assessment_data`; stored with the source ``demo (invented)``); the
CityOS Live run reads the demo's cases, which the cases step seeded before this one.

What is seeded:

1. the built-in frameworks;
2. the home city 明湖市 (code ``MH``, the map's city area) with its population and area, its
   8 districts as area units with their populations, the ``leading`` peer group (London,
   New York, Paris, Tokyo, Singapore) and a ``china`` group (Shanghai, Beijing, Shenzhen,
   Hangzhou), with country, region and population;
3. City Prosperity values of Minghu and the peers (2020, 2024) and GB/T 33356 scores of the
   districts (2024, 2025), a few cells left empty;
4. three stored runs: CityOS Live on the districts, GB/T 33356 on the districts and City
   Prosperity of Minghu against both peer groups (both with 200 Monte Carlo runs);
5. the plan "Minghu 2030: faster, fairer city services" with targets on live and entered
   indicators, 2–3 countermeasures each, and history values so that its progress shows
   targets on track, at risk and off track.

Idempotent: units and the groups are written only when missing or different, values only
for empty cells (a user's edits are kept), runs and the plan only when their title is new.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.assessment.service import (
    MeasureInput,
    Stage,
    TargetInput,
    UnitInput,
    UnitKind,
    ValueRecord,
)
from cityos.db import utcnow
from cityos.demo.assessment_data import (
    CHINA_GROUP,
    CHINA_MEMBERS,
    CITY_POPULATION,
    CPI_YEARS,
    DISTRICT_POPULATION,
    GBT_YEARS,
    NOTE,
    PEER_CITIES,
    REGION_HOME,
    SOURCE,
    cpi_values,
    gbt_values,
)
from cityos.demo.city import CITY_CODE
from cityos.demo.people import DEMO_ACTOR
from cityos.geo import service as geo_service

CPI = "un-habitat-cpi"
GBT = "gbt33356-2016"
LIVE = "cityos-live"
MONTE_CARLO_RUNS = 200
RUN_LIVE = "CityOS Live — districts"
RUN_GBT = f"GB/T 33356 — districts {GBT_YEARS[-1]}"
RUN_CPI = "City Prosperity — Minghu vs leading cities"
PLAN_TITLE = "Minghu 2030: faster, fairer city services"
BASELINE_YEAR, HISTORY_YEAR = 2024, 2025
SLA = "cases.resolved_within_sla_pct"
HOURS = "cases.median_hours_to_resolve"
FALLBACK_LIVE = {SLA: 85.0, HOURS: 24.0}  # when the demo has no cases to measure


# --- units and peer groups ----------------------------------------------------------------


def _differs(row: service.AssessUnit | None, unit: UnitInput) -> bool:
    """Whether upserting ``unit`` would change the stored ``row``."""
    if row is None:
        return True
    stored = row.attributes or {}
    return (
        (bool(unit.name_en) and unit.name_en != row.name_en)
        or (bool(unit.name_zh) and unit.name_zh != row.name_zh)
        or (unit.kind is not None and unit.kind != row.kind)
        or (bool(unit.country) and unit.country != row.country)
        or (unit.region is not None and unit.region != row.region)
        or (unit.is_home is not None and unit.is_home != row.is_home)
        or any(stored.get(key) != float(value) for key, value in unit.attributes.items())
    )


def _upsert_changed(db_session: Session, units: Sequence[UnitInput]) -> int:
    stored = {row.code: row for row in service.list_units(db_session)}
    changed = [unit for unit in units if _differs(stored.get(unit.code), unit)]
    if changed:
        service.upsert_units(db_session, units=changed, actor=DEMO_ACTOR)
    return len(changed)


def seed_units(db_session: Session) -> int:
    """Minghu, its districts and the peer cities with their groups; how many were written."""
    city = geo_service.get_area(db_session, code=CITY_CODE)
    districts = geo_service.list_areas(db_session, level=geo_service.AreaLevel.DISTRICT)
    stored = {row.code for row in service.list_units(db_session)}
    if any(area.code not in stored for area in districts):
        service.refresh_area_units(db_session, level="district", actor=DEMO_ACTOR)
    service.ensure_default_peers(db_session, actor=DEMO_ACTOR)
    home = service.home_unit(db_session)
    units = [
        UnitInput(
            code=CITY_CODE,
            name_en=city.name_en,
            name_zh=city.name_zh,
            kind=UnitKind.CITY,
            country="China",
            region=REGION_HOME,
            attributes={"population": CITY_POPULATION, "area_km2": round(city.area_m2 / 1e6, 6)},
            is_home=True if home is None or home.code == CITY_CODE else None,
        ),
        *(
            UnitInput(code=area.code, attributes={"population": DISTRICT_POPULATION[area.code]})
            for area in districts
            if area.code in DISTRICT_POPULATION
        ),
        *(
            UnitInput(
                code=code,
                name_en=name_en,
                name_zh=name_zh,
                kind=UnitKind.CITY,
                country=country,
                region=region,
                attributes={"population": float(population), "area_km2": float(area_km2)},
            )
            for code, name_en, name_zh, country, region, population, area_km2 in PEER_CITIES
        ),
    ]
    written = _upsert_changed(db_session, units)
    if CHINA_GROUP not in {group.code for group in service.list_peer_groups(db_session)}:
        service.save_peer_group(
            db_session,
            code=CHINA_GROUP,
            name_en="Chinese cities",
            name_zh="国内城市",
            members=CHINA_MEMBERS,
            actor=DEMO_ACTOR,
        )
    return written


# --- values ---------------------------------------------------------------------------------


def store_missing(db_session: Session, records: Sequence[ValueRecord]) -> int:
    """Store the records whose cell is empty (stored values, a user's edits too, are kept)."""
    if not records:
        return 0
    stored = service.values_for(
        db_session,
        unit_codes={r.unit_code for r in records},
        indicator_codes={r.indicator_code for r in records},
        years={r.year for r in records},
    )
    have = {(unit, code, year) for unit, year, code, _ in stored}
    new = [r for r in records if (r.unit_code, r.indicator_code, r.year) not in have]
    if new:
        service.set_values(db_session, records=new, source=SOURCE, actor=DEMO_ACTOR)
    return len(new)


# --- live values now --------------------------------------------------------------------------


class LiveNow:
    """Minghu's live case metrics now, measured once and only when needed (None: no value,
    e.g. before any case exists)."""

    def __init__(self, db_session: Session, now: datetime) -> None:
        self.db_session, self.now = db_session, now

    @functools.cached_property
    def values(self) -> dict[str, float | None]:
        measured = service.live_values(self.db_session, [CITY_CODE], now=self.now, strict=False)
        found = {metric: measured.get((CITY_CODE, metric)) for metric in FALLBACK_LIVE}
        return {metric: value.value if value else None for metric, value in found.items()}

    def value(self, metric: str) -> float:
        """The live value, or a plausible stand-in when there is none."""
        value = self.values[metric]
        return FALLBACK_LIVE[metric] if value is None else value


# --- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoRun:
    title: str
    framework: str
    units: str | tuple[str, ...]
    overrides: dict[str, object]


def demo_runs() -> list[DemoRun]:
    peers = (CITY_CODE, *(code for code, *_ in PEER_CITIES))
    monte_carlo = {"runs": MONTE_CARLO_RUNS}
    return [
        DemoRun(RUN_LIVE, LIVE, "areas:district", {}),
        DemoRun(
            RUN_GBT, GBT, "areas:district", {"year": GBT_YEARS[-1], "uncertainty": monte_carlo}
        ),
        DemoRun(RUN_CPI, CPI, peers, {"year": CPI_YEARS[-1], "uncertainty": monte_carlo}),
    ]


def seed_runs(db_session: Session, *, live: LiveNow) -> tuple[int, list[str]]:
    """The demo's runs that are not stored yet; (how many were added, notes on skipped ones)."""
    titles = {run.title for run in service.list_runs(db_session, limit=1000)}
    added, skipped = 0, []
    for run in demo_runs():
        if run.title in titles:
            continue
        if run.framework == LIVE and live.values[SLA] is None:
            skipped.append(f"{run.title} skipped: no cases to measure yet")
            continue
        service.run_assessment(
            db_session,
            framework_code=run.framework,
            unit_set=run.units if isinstance(run.units, str) else list(run.units),
            actor=DEMO_ACTOR,
            overrides=run.overrides,
            title=run.title,
            now=live.now,
        )
        added += 1
    return added, skipped


# --- the plan ---------------------------------------------------------------------------------


def plan_history(live: LiveNow) -> list[ValueRecord]:
    """Earlier values of the plan's indicators for Minghu (invented): the 2024 baselines of
    the live metrics (the 2024 values of the others are the City Prosperity ones) and a 2025
    value of each, so that verification has a latest value even without live data."""
    sla, hours = live.value(SLA), live.value(HOURS)
    return [
        ValueRecord(CITY_CODE, SLA, BASELINE_YEAR, round(max(sla - 4.5, 0.0), 1), NOTE),
        ValueRecord(CITY_CODE, SLA, HISTORY_YEAR, round(max(sla - 2.0, 0.0), 1), NOTE),
        ValueRecord(CITY_CODE, HOURS, BASELINE_YEAR, round(hours * 1.2, 1), NOTE),
        ValueRecord(CITY_CODE, HOURS, HISTORY_YEAR, round(hours * 1.1, 1), NOTE),
        ValueRecord(CITY_CODE, "CPI.ID.6", HISTORY_YEAR, 49.0, NOTE),  # on track
        ValueRecord(CITY_CODE, "CPI.ES.1", HISTORY_YEAR, 33.1, NOTE),  # off track
        ValueRecord(CITY_CODE, "CPI.ID.8", HISTORY_YEAR, 4.75, NOTE),  # at risk
    ]


def plan_targets(live: LiveNow) -> list[tuple[TargetInput, list[MeasureInput]]]:
    """The plan's targets (baselines: the stored 2024 values) and their countermeasures.

    The live targets' stages are set from today's live values so that, measured in 2026,
    the share of cases resolved within their SLA is on track and the median time to resolve
    a case is at risk (about 85 % of the improvement due by now)."""
    sla, hours = live.value(SLA), live.value(HOURS)
    hours_baseline = round(hours * 1.2, 1)
    measure = MeasureInput
    return [
        (
            TargetInput(
                indicator_code=SLA,
                baseline_year=BASELINE_YEAR,
                stages=(
                    Stage(2026, float(round(sla - 0.5))),
                    Stage(2028, float(min(round(sla) + 5, 97))),
                    Stage(2030, float(min(round(sla) + 10, 98))),
                ),
                problem="Too many citizen requests miss their deadline, most of them in a "
                "few bureaus. 部分部门诉求超期办结较多。",
                goal="Resolve nearly every case within its SLA by 2030. 2030 年诉求基本按时办结。",
            ),
            [
                measure("Route every case to its owner automatically", "OPS", status="done"),
                measure(
                    "Weekly review of overdue cases with each bureau",
                    "GRID",
                    status="in_progress",
                    due_date=date(2026, 12, 31),
                ),
                measure("Publish each department's on-time rate", "DATA", status="planned"),
            ],
        ),
        (
            TargetInput(
                indicator_code=HOURS,
                baseline_year=BASELINE_YEAR,
                stages=(
                    Stage(2026, round(hours_baseline - (hours_baseline - hours) / 0.85, 1)),
                    Stage(2028, round(hours * 0.8, 1)),
                    Stage(2030, round(hours * 0.65, 1)),
                ),
                problem="Street repairs wait for crews and approvals. 维修等待派工与审批。",
                goal="Halve the time residents wait. 市民等待时间明显缩短。",
            ),
            [
                measure(
                    "Tablets for field crews to close cases on site", "CMB", status="in_progress"
                ),
                measure("Night shift for waste overflow and noise cases", "SAN", status="done"),
                measure(
                    "Pre-approved budget for small street-light repairs",
                    "LIGHT",
                    status="planned",
                    due_date=date(2027, 3, 31),
                ),
            ],
        ),
        (
            TargetInput(
                indicator_code="CPI.ID.6",
                baseline_year=BASELINE_YEAR,
                stages=(Stage(2026, 50.0), Stage(2028, 54.0), Stage(2030, 58.0)),
                problem="Fewer than half of trips use public transport. 公共交通分担率不足一半。",
                goal="58 % of trips by public transport in 2030. 2030 年公交分担率达 58%。",
            ),
            [
                measure(
                    "Bus priority lanes on Hubin Road and Gaoxin Avenue", "TRANS", status="done"
                ),
                measure(
                    "Park-and-ride at the Xincheng metro terminal", "PLAN", status="in_progress"
                ),
            ],
        ),
        (
            TargetInput(
                indicator_code="CPI.ES.1",
                baseline_year=BASELINE_YEAR,
                stages=(Stage(2026, 30.0), Stage(2028, 27.0), Stage(2030, 25.0)),
                problem="Fine dust well above the leading cities. PM2.5 浓度明显高于领先城市。",
                goal="25 µg/m³ by 2030. 2030 年 PM2.5 年均浓度降至 25 µg/m³。",
            ),
            [
                measure(
                    "Online dust monitors on every large building site", "ENV", status="in_progress"
                ),
                measure("Electric sanitation vehicles", "SAN", status="planned"),
                measure("Grid inspectors stop open burning", "GRID", status="done"),
            ],
        ),
        (
            TargetInput(
                indicator_code="CPI.ID.8",
                baseline_year=BASELINE_YEAR,
                stages=(Stage(2026, 4.4), Stage(2028, 3.8), Stage(2030, 3.0)),
                problem="Traffic deaths higher than in peer cities. 交通事故死亡率高于同类城市。",
                goal="3 deaths per 100,000 residents by 2030. 2030 年降至每十万人 3 人。",
            ),
            [
                measure("Safer crossings near every school", "PSB", status="in_progress"),
                measure("Speed cameras on the ring road", "PSB", status="planned"),
            ],
        ),
    ]


def seed_plan(db_session: Session, *, live: LiveNow) -> tuple[service.Plan | None, int]:
    """The demo plan and how many history values were stored (None and 0 when a plan of
    that title exists)."""
    plans = service.list_plans(db_session, unit_code=CITY_CODE)
    if any(plan.title == PLAN_TITLE for plan in plans):
        return None, 0
    history = store_missing(db_session, plan_history(live))
    targets = plan_targets(live)
    plan = service.create_plan(
        db_session,
        title=PLAN_TITLE,
        unit_code=CITY_CODE,
        framework_code=CPI,
        description=(
            "Problem: city services are slow and uneven between districts, and the city "
            "trails its peers on transport and air. Goal: faster, fairer services by 2030. "
            "问题：城市服务响应偏慢、各区不均衡，交通与空气质量落后于同类城市。"
            "目标：到 2030 年服务更快、更公平。"
        ),
        targets=[target for target, _ in targets],
        actor=DEMO_ACTOR,
    )
    for row, (_, measures) in zip(plan.targets, targets, strict=True):
        for item in measures:
            service.add_countermeasure(
                db_session,
                plan_id=plan.id,
                measure=dataclasses.replace(item, target_id=row.id),
                actor=DEMO_ACTOR,
            )
    return plan, history


# --- the step ---------------------------------------------------------------------------------


def seed_assessment(db_session: Session, *, now: datetime | None = None) -> str:
    """Seed the demo's assessments (see the module docstring); a one-line report."""
    cities = {a.code for a in geo_service.list_areas(db_session, level=geo_service.AreaLevel.CITY)}
    if CITY_CODE not in cities:
        return f"assessment: skipped (the demo city {CITY_CODE} is not on the map)"
    now = now or utcnow()
    frameworks = service.sync_builtin_frameworks(db_session, actor=DEMO_ACTOR)
    units = seed_units(db_session)
    values = store_missing(db_session, cpi_values()) + store_missing(db_session, gbt_values())
    live = LiveNow(db_session, now)
    runs, skipped = seed_runs(db_session, live=live)
    plan, history = seed_plan(db_session, live=live)
    values += history
    notes = "".join(f"; {note}" for note in skipped)
    if not (frameworks or units or values or runs or plan):
        stored = len(service.list_runs(db_session, limit=1000))
        return f"assessment: already seeded ({stored} runs, the plan {PLAN_TITLE!r}){notes}"
    parts = [f"{len(frameworks)} built-in frameworks"] if frameworks else []
    parts += [f"{units} units", f"{values:,} invented values", f"{runs} runs"]
    if plan is not None:
        measures = len(plan.countermeasures)
        parts.append(f"a plan with {len(plan.targets)} targets and {measures} countermeasures")
    return "assessment: " + ", ".join(parts) + notes
