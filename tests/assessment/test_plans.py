"""Plans: the verification along the stages in closed form, and the plan service functions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.assessment.framework import Direction
from cityos.assessment.models import Countermeasure, Plan, PlanTarget
from cityos.assessment.verification import (
    AT_RISK_SHARE,
    Observation,
    Stage,
    Status,
    direction_sign,
    expected_value,
    status_of,
    verify,
)
from cityos.auth.models import User
from cityos.errors import InvalidInput, NotFound
from tests.assessment.conftest import ACTOR, AssessFixture
from tests.assessment.live_support import NOW, worked
from tests.cases.conftest import CatalogFixture

__all__ = ["worked"]

STAGES = (Stage(2026, 60.0), Stage(2030, 80.0))


# --- the path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2023, 50.0),  # before the baseline: the baseline
        (2024, 50.0),
        (2025, 55.0),  # half-way to the 2026 stage
        (2026, 60.0),
        (2028, 70.0),  # half-way from the 2026 stage to the 2030 stage
        (2030, 80.0),
        (2033, 80.0),  # past every stage: the last stage's value
    ],
)
def test_the_expected_value_lies_on_the_line_between_stages(year: int, expected: float) -> None:
    assert expected_value(2024, 50.0, STAGES, year) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2025, 50.0), (2026, 60.0), (2027, 61.0), (2028, 62.0), (2031, 62.0)],
)
def test_the_expected_value_follows_the_path_through_every_stage(
    year: int, expected: float
) -> None:
    stages = (Stage(2026, 60.0), Stage(2028, 62.0))  # not on one line with the baseline
    assert expected_value(2024, 40.0, stages, year) == pytest.approx(expected)


def test_stages_in_any_order_give_the_same_path() -> None:
    assert expected_value(2024, 50.0, tuple(reversed(STAGES)), 2028) == pytest.approx(70.0)


@pytest.mark.parametrize(
    ("latest", "status"),
    [
        (61.0, Status.ON_TRACK),
        (60.0, Status.ON_TRACK),
        (58.0, Status.AT_RISK),  # 8 of the 10 expected
        (57.5, Status.AT_RISK),  # exactly 75 %
        (57.0, Status.OFF_TRACK),  # 70 %
        (45.0, Status.OFF_TRACK),  # worse than the baseline
    ],
)
def test_status_when_higher_is_better(latest: float, status: Status) -> None:
    assert AT_RISK_SHARE == 0.75
    assert status_of(50.0, 60.0, latest, +1) is status


@pytest.mark.parametrize(
    ("latest", "status"),
    [
        (24.0, Status.ON_TRACK),
        (25.0, Status.ON_TRACK),
        (26.0, Status.AT_RISK),
        (27.0, Status.OFF_TRACK),
    ],
)
def test_status_when_lower_is_better(latest: float, status: Status) -> None:
    # baseline 30, expected 25: 5 down is due; 26 is 4 of 5 (80 %), 27 is 3 of 5 (60 %)
    assert status_of(30.0, 25.0, latest, -1) is status


def test_without_a_direction_the_target_says_which_way_is_better() -> None:
    assert direction_sign(None, 30.0, [Stage(2026, 20.0)]) == -1
    assert direction_sign(None, 30.0, [Stage(2026, 40.0)]) == 1
    assert direction_sign(Direction.LOWER, 30.0, [Stage(2026, 40.0)]) == -1


def test_verify_uses_the_latest_value_after_the_baseline() -> None:
    progress = verify(
        target_id=1,
        indicator_code="X",
        baseline_year=2024,
        baseline=50.0,
        stages=STAGES,
        direction=Direction.HIGHER,
        observations=[
            Observation(2027, 62.0, "entered"),
            Observation(2024, 50.0, "entered"),
            Observation(2025, 56.0, "entered"),
        ],
    )
    # 2027: expected 50 + 30 × 3/6 = 65; achieved 12 of 15 = 80 %: at risk
    assert progress.latest == Observation(2027, 62.0, "entered")
    assert progress.expected == pytest.approx(65.0)
    assert progress.achieved_share == pytest.approx(0.8)
    assert progress.status is Status.AT_RISK
    assert [o.year for o in progress.history] == [2024, 2025, 2027]


def test_no_value_after_the_baseline_is_no_data() -> None:
    progress = verify(
        target_id=1,
        indicator_code="X",
        baseline_year=2024,
        baseline=50.0,
        stages=STAGES,
        direction=None,
        observations=[Observation(2024, 50.0, "entered")],
    )
    assert progress.status is Status.NO_DATA
    assert "after the baseline year 2024" in progress.reason
    assert progress.to_dict()["latest"] is None


# --- the service ---------------------------------------------------------------------------


def _count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _target(**changes: object) -> service.TargetInput:
    fields: dict[str, object] = {
        "indicator_code": "T.A1",
        "baseline_year": 2024,
        "stages": [Stage(2026, 90.0)],
    }
    fields.update(changes)
    return service.TargetInput(**fields)  # type: ignore[arg-type]


def test_a_plan_takes_its_baseline_from_the_stored_values(
    db: Session, assessed: AssessFixture
) -> None:
    plan = service.create_plan(
        db,
        title="Better services",
        unit_code="alpha",
        framework_code="T",
        description="Cases are slow; halve the time by 2026.",
        targets=[_target(), _target(indicator_code="T.A2", stages=[Stage(2026, 20.0)])],
        actor=ACTOR,
    )
    assert [(t.indicator_code, t.baseline_value) for t in plan.targets] == [
        ("T.A1", 80.0),
        ("T.A2", 30.0),
    ]
    progress = service.plan_progress(db, plan_id=plan.id).to_dict()
    a1, a2 = progress["targets"]
    # T.A1: 80 → 90 by 2026; 2025 expected 85, latest 85: on track
    assert (a1["status"], a1["expected"], a1["latest"]["value"]) == ("on_track", 85.0, 85.0)
    # T.A2 (lower is better, from the framework): 30 → 20; 2025 expected 25, latest 25
    assert (a2["status"], a2["direction"]) == ("on_track", "lower")
    assert progress["counts"] == {"on_track": 2, "at_risk": 0, "off_track": 0, "no_data": 0}


def test_progress_follows_newer_values(db: Session, assessed: AssessFixture) -> None:
    plan = service.create_plan(
        db, title="P", unit_code="gamma", framework_code="T", targets=[_target()], actor=ACTOR
    )
    # gamma: T.A1 60 (2024) → 90 by 2026; 2025 expected 75, latest 65: a third: off track
    assert service.plan_progress(db, plan_id=plan.id).targets[0].status is Status.OFF_TRACK
    service.set_values(
        db,
        records=[service.ValueRecord("gamma", "T.A1", 2026, 88.0)],
        source="entered",
        actor=ACTOR,
    )
    # 2026: expected 90, 28 of 30 achieved (93 %): at risk
    target = service.plan_progress(db, plan_id=plan.id).targets[0]
    assert (target.status, target.latest) == (
        Status.AT_RISK,
        Observation(2026, 88.0, "entered"),
    )


def test_bad_targets_write_no_plan(db: Session, assessed: AssessFixture) -> None:
    with pytest.raises(InvalidInput, match=r"no stored value of T\.A1 for 2020"):
        service.create_plan(
            db, title="P", unit_code="alpha", targets=[_target(baseline_year=2020)], actor=ACTOR
        )
    with pytest.raises(InvalidInput, match="neither an indicator of T nor a live metric"):
        service.create_plan(
            db,
            title="P",
            unit_code="alpha",
            framework_code="T",
            targets=[_target(indicator_code="T.ZZ", baseline_value=1.0)],
            actor=ACTOR,
        )
    with pytest.raises(InvalidInput, match="stage years must rise"):
        service.create_plan(
            db,
            title="P",
            unit_code="alpha",
            targets=[_target(stages=[Stage(2024, 85.0)])],
            actor=ACTOR,
        )
    with pytest.raises(InvalidInput, match="at least one stage"):
        service.create_plan(
            db, title="P", unit_code="alpha", targets=[_target(stages=[])], actor=ACTOR
        )
    with pytest.raises(NotFound, match="omega"):
        service.create_plan(db, title="P", unit_code="omega", actor=ACTOR)
    with pytest.raises(NotFound, match="no framework"):
        service.create_plan(db, title="P", unit_code="alpha", framework_code="Q", actor=ACTOR)
    with pytest.raises(InvalidInput, match="title"):
        service.create_plan(db, title=" ", unit_code="alpha", actor=ACTOR)
    db.rollback()
    assert _count(db, Plan) == 0


def test_targets_are_replaced_and_deleted(db: Session, assessed: AssessFixture) -> None:
    plan = service.create_plan(db, title="P", unit_code="alpha", targets=[_target()], actor=ACTOR)
    target = plan.targets[0]
    service.update_target(
        db,
        plan_id=plan.id,
        target_id=target.id,
        target=_target(baseline_value=70.0, stages=[Stage(2027, 95.0)], goal="95 %"),
        actor=ACTOR,
    )
    assert (target.baseline_value, target.stages, target.goal) == (
        70.0,
        [{"year": 2027, "value": 95.0}],
        "95 %",
    )
    with pytest.raises(InvalidInput, match="stage years must rise"):
        service.update_target(
            db,
            plan_id=plan.id,
            target_id=target.id,
            target=_target(stages=[Stage(2020, 1.0)]),
            actor=ACTOR,
        )
    assert target.stages == [{"year": 2027, "value": 95.0}]
    measure = service.add_countermeasure(
        db,
        plan_id=plan.id,
        measure=service.MeasureInput(title="Act", target_id=target.id),
        actor=ACTOR,
    )
    service.delete_target(db, plan_id=plan.id, target_id=target.id, actor=ACTOR)
    assert measure.target_id is None
    assert _count(db, PlanTarget) == 0
    with pytest.raises(NotFound, match=f"no target {target.id}"):
        service.delete_target(db, plan_id=plan.id, target_id=target.id, actor=ACTOR)


def test_countermeasures_have_owners_and_statuses(
    db: Session, assessed: AssessFixture, people: dict[str, User]
) -> None:
    plan = service.create_plan(db, title="P", unit_code="alpha", actor=ACTOR)
    measure = service.add_countermeasure(
        db,
        plan_id=plan.id,
        measure=service.MeasureInput(title="Repave", department_code="CMB"),
        actor=ACTOR,
    )
    assert (measure.status, measure.department_code) == ("planned", "CMB")
    service.update_countermeasure(
        db, plan_id=plan.id, measure_id=measure.id, changes={"status": "done"}, actor=ACTOR
    )
    assert measure.status == "done"
    with pytest.raises(InvalidInput, match="Unknown status 'finished'"):
        service.update_countermeasure(
            db, plan_id=plan.id, measure_id=measure.id, changes={"status": "finished"}, actor=ACTOR
        )
    with pytest.raises(NotFound, match="the departments are: CMB, WATER"):
        service.update_countermeasure(
            db,
            plan_id=plan.id,
            measure_id=measure.id,
            changes={"department_code": "FIRE"},
            actor=ACTOR,
        )
    with pytest.raises(InvalidInput, match="Unknown field"):
        service.update_countermeasure(
            db, plan_id=plan.id, measure_id=measure.id, changes={"owner": "x"}, actor=ACTOR
        )
    with pytest.raises(NotFound, match="no target 77"):
        service.add_countermeasure(
            db,
            plan_id=plan.id,
            measure=service.MeasureInput(title="X", target_id=77),
            actor=ACTOR,
        )
    assert measure.status == "done"
    service.delete_countermeasure(db, plan_id=plan.id, measure_id=measure.id, actor=ACTOR)
    assert _count(db, Countermeasure) == 0
    service.delete_plan(db, plan_id=plan.id, actor=ACTOR)
    assert service.list_plans(db) == []


def test_live_targets_are_verified_from_the_live_value(db: Session, worked: CatalogFixture) -> None:
    home = service.ensure_home_unit(db, actor=ACTOR)
    plan = service.create_plan(
        db,
        title="On time",
        unit_code=home.code,
        targets=[
            service.TargetInput(
                indicator_code="cases.resolved_within_sla_pct",
                baseline_year=2025,
                baseline_value=60.0,
                stages=[Stage(2027, 80.0)],
            )
        ],
        actor=ACTOR,
    )
    target = service.plan_progress(db, plan_id=plan.id, now=NOW).targets[0]
    # 2026: expected 70 (half-way), live 66.7: 6.7 of 10 (67 %) → off track
    assert target.latest == Observation(2026, 66.7, "live")
    assert target.expected == pytest.approx(70.0)
    assert target.status is Status.OFF_TRACK
    assert target.direction == 1


@pytest.mark.parametrize("link", ["javascript:alert(1)", "//evil.example/x", "ftp://x", "plans/1"])
def test_a_countermeasure_link_is_a_web_address_or_a_page_of_this_site(
    db: Session, assessed: AssessFixture, link: str
) -> None:
    plan = service.create_plan(db, title="P", unit_code="alpha", actor=ACTOR)
    with pytest.raises(InvalidInput, match=r"The link .* must start with http://, https:// or /"):
        service.add_countermeasure(
            db, plan_id=plan.id, measure=service.MeasureInput(title="X", link=link), actor=ACTOR
        )
    for good in ("https://example.org/a", "http://x.test", "/assess/plans/1"):
        measure = service.add_countermeasure(
            db, plan_id=plan.id, measure=service.MeasureInput(title="X", link=good), actor=ACTOR
        )
        assert measure.link == good


def test_a_value_stored_for_the_current_year_wins_over_the_live_value(
    db: Session, worked: CatalogFixture
) -> None:
    home = service.ensure_home_unit(db, actor=ACTOR)
    plan = service.create_plan(
        db,
        title="On time",
        unit_code=home.code,
        targets=[
            service.TargetInput(
                indicator_code="cases.resolved_within_sla_pct",
                baseline_year=2025,
                baseline_value=60.0,
                stages=[Stage(2027, 80.0)],
            )
        ],
        actor=ACTOR,
    )
    service.set_values(
        db,
        records=[service.ValueRecord(home.code, "cases.resolved_within_sla_pct", NOW.year, 72.0)],
        source="entered",
        actor=ACTOR,
    )
    target = service.plan_progress(db, plan_id=plan.id, now=NOW).targets[0]
    assert target.latest == Observation(NOW.year, 72.0, "entered")
    assert target.status is Status.ON_TRACK
