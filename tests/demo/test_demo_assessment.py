"""The demo city's assessments: units, invented values, three stored runs and a plan."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.assessment.models import (
    AssessPeerGroup,
    AssessRun,
    AssessUnit,
    Countermeasure,
    IndicatorValue,
    Plan,
    PlanTarget,
)
from cityos.audit.models import AuditEntry
from cityos.demo import STEPS
from cityos.demo.assessment import (
    MONTE_CARLO_RUNS,
    PLAN_TITLE,
    RUN_CPI,
    RUN_GBT,
    RUN_LIVE,
    seed_assessment,
)
from cityos.demo.assessment_data import (
    CITY_POPULATION,
    CPI_2024,
    CPI_UNITS,
    DISTRICT_POPULATION,
    GBT_LEVEL,
    GBT_YEARS,
    SOURCE,
    cpi_values,
    gbt_values,
)
from cityos.demo.cases import seed_cases
from cityos.demo.people import DEPARTMENTS
from tests.demo.test_demo_cases import seed_city

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CASES = 2000
TABLES = (
    AssessUnit,
    AssessPeerGroup,
    IndicatorValue,
    AssessRun,
    Plan,
    PlanTarget,
    Countermeasure,
    AuditEntry,
)


@pytest.fixture
def demo(db: Session) -> Session:
    """The demo city with a few cases, then the assessment step, committed."""
    seed_city(db)
    seed_cases(db, CASES, now=NOW)
    seed_assessment(db, now=NOW)
    db.commit()
    return db


def runs_by_title(db: Session) -> dict[str, AssessRun]:
    return {run.title: run for run in service.list_runs(db)}


def demo_plan(db: Session) -> Plan:
    return next(plan for plan in service.list_plans(db) if plan.title == PLAN_TITLE)


def counts(db: Session) -> dict[str, int]:
    return {
        table.__name__: db.scalar(select(func.count()).select_from(table)) or 0 for table in TABLES
    }


def test_the_assessment_step_runs_after_the_cases_step() -> None:
    assert STEPS.index(seed_assessment) > STEPS.index(seed_cases)


def test_the_demo_stores_three_runs_that_rank_their_units(demo: Session) -> None:
    runs = runs_by_title(demo)
    assert set(runs) == {RUN_LIVE, RUN_GBT, RUN_CPI}
    for title, run in runs.items():
        result = service.result_of(run)
        ranks = result.ranks[result.framework.root.code]
        assert np.isfinite(ranks).sum() == len(result.units), title
        assert sorted(ranks)[0] == 1.0, title
    live, gbt, cpi = (service.result_of(runs[t]) for t in (RUN_LIVE, RUN_GBT, RUN_CPI))
    districts = sorted(DISTRICT_POPULATION)
    assert sorted(u.code for u in live.units) == districts
    assert sorted(u.code for u in gbt.units) == districts
    assert (live.framework.code, gbt.framework.code) == ("cityos-live", "gbt33356-2016")
    assert (live.year, gbt.year, cpi.year) == (NOW.year, GBT_YEARS[-1], 2024)
    names = {u.name_en for u in cpi.units}
    assert {"Minghu City", "London", "Tokyo", "Shanghai", "Hangzhou"} <= names
    assert len(cpi.units) == 10
    for result in (gbt, cpi):
        assert result.uncertainty is not None
        assert result.uncertainty.runs == MONTE_CARLO_RUNS
    # the GB/T scores differ between districts (an interesting ranking, not a tie)
    assert len(set(np.round(gbt.scores[gbt.framework.root.code], 1))) == 8


def test_the_demo_units_have_populations_and_peer_groups_and_invented_values(
    demo: Session,
) -> None:
    home = service.home_unit(demo)
    assert home is not None
    assert (home.code, home.kind) == ("MH", "city")
    assert home.attributes["population"] == CITY_POPULATION
    assert 200 < home.attributes["area_km2"] < 320  # from the map
    districts = service.list_units(demo, kind="area")
    assert len(districts) == 8
    total = sum(unit.attributes["population"] for unit in districts)
    assert total == pytest.approx(CITY_POPULATION, rel=0.02)
    assert all(unit.attributes["area_km2"] > 0 for unit in districts)
    groups = {g.code: g.members for g in service.list_peer_groups(demo)}
    assert groups[service.DEFAULT_PEER_GROUP] == [
        "london-united-kingdom",
        "new-york-united-states",
        "paris-france",
        "tokyo-japan",
        "singapore",
    ]
    assert len(groups["china"]) == 4
    london = service.get_unit(demo, code="london-united-kingdom")
    assert (london.country, london.region) == ("United Kingdom", "Europe")
    assert london.attributes["population"] > 1_000_000
    # every value is marked as invented
    sources = Counter(demo.scalars(select(IndicatorValue.source)))
    assert set(sources) == {SOURCE}
    assert all("Invented" in v.note for v in service.list_values(demo, limit=100_000))


def test_the_demo_plan_has_targets_on_track_and_behind(demo: Session) -> None:
    plan = demo_plan(demo)
    assert plan.unit_code == "MH"
    assert len(plan.targets) >= 3
    assert {"cases.resolved_within_sla_pct", "CPI.ES.1"} <= {t.indicator_code for t in plan.targets}
    assert all(t.stages[-1]["year"] == 2030 for t in plan.targets)
    per_target = Counter(m.target_id for m in plan.countermeasures)
    assert all(2 <= per_target[t.id] <= 3 for t in plan.targets)
    assert {m.department_code for m in plan.countermeasures} <= {d[0] for d in DEPARTMENTS}
    assert {m.status for m in plan.countermeasures} == {"planned", "in_progress", "done"}

    progress = service.plan_progress(demo, plan_id=plan.id, now=NOW)
    statuses = progress.counts()
    assert statuses["on_track"] >= 1
    assert statuses["at_risk"] + statuses["off_track"] >= 1
    assert statuses["no_data"] == 0
    sla = next(t for t in progress.targets if t.indicator_code == "cases.resolved_within_sla_pct")
    assert sla.latest is not None
    assert sla.latest.source == "live"


def test_seeding_the_assessment_twice_changes_nothing(demo: Session) -> None:
    before = counts(demo)
    report = seed_assessment(demo, now=NOW)
    demo.commit()
    assert report.startswith("assessment: already seeded (3 runs")
    assert counts(demo) == before


def test_without_cases_the_live_run_is_skipped_and_the_rest_is_seeded(db: Session) -> None:
    seed_city(db)
    report = seed_assessment(db, now=NOW)
    assert f"{RUN_LIVE} skipped" in report
    assert set(runs_by_title(db)) == {RUN_GBT, RUN_CPI}
    assert len(demo_plan(db).targets) >= 3


def test_without_the_demo_map_the_step_is_skipped(db: Session) -> None:
    assert (
        seed_assessment(db, now=NOW) == "assessment: skipped (the demo city MH is not on the map)"
    )
    assert counts(db)["AssessUnit"] == 0


def test_the_invented_values_are_the_same_every_time_and_leave_gaps() -> None:
    assert cpi_values() == cpi_values()
    assert gbt_values() == gbt_values()
    cpi = {(r.unit_code, r.indicator_code, r.year) for r in cpi_values()}
    full = len(CPI_UNITS) * len(CPI_2024) * 2
    assert 0 < full - len(cpi) <= 0.05 * full  # a few gaps for imputation
    gbt = gbt_values()
    assert 0 < 8 * len(GBT_LEVEL) * 2 - len(gbt) <= 0.05 * 8 * len(GBT_LEVEL) * 2
    assert all(0 <= r.value <= 100 for r in gbt if r.value is not None)
