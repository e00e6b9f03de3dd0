"""Alert rules evaluated on ingest (through the real store) and by the silent check."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from cityos.db import make_session_factory
from cityos.errors import InvalidInput
from cityos.sensing import evaluate, rules
from cityos.sensing.models import Alert, AlertState, RuleState
from tests.geo.conftest import CityFixture, city
from tests.sensing.alerts_support import (
    ACTOR,
    EAST_NORTH,
    MIN,
    T0,
    WEST_NORTH,
    WEST_SOUTH,
    feed,
    make_gauge,
    make_rule,
    one_by_one,
)

__all__ = ["city"]


def alerts_of(db: Session, datastream_id: int | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.id)
    if datastream_id is not None:
        query = query.where(Alert.datastream_id == datastream_id)
    return list(db.scalars(query))


def test_readings_without_any_rule_change_nothing(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    feed(db, gauge.datastream_id, [50, 60, 70])
    assert alerts_of(db) == []
    assert db.scalar(select(func.count()).select_from(RuleState)) == 0
    assert evaluate.on_readings(db, [(gauge.datastream_id, 1, T0, 99.0)], now=T0) == 0


def test_above_for_n_minutes_raises_only_once_the_duration_is_reached(
    db: Session, city: CityFixture
) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, duration_minutes=5)
    one_by_one(db, gauge.datastream_id, [25, 26, 27, 28, 29])  # 4 minutes above
    assert alerts_of(db) == []
    one_by_one(db, gauge.datastream_id, [30], start=T0 + 5 * MIN)
    [alert] = alerts_of(db)
    assert alert.state == AlertState.ACTIVE
    assert alert.started_at == T0 + 5 * MIN
    assert [r["v"] for r in alert.readings] == [25, 26, 27, 28, 29, 30]
    assert "since 2026-03-02T08:00:00+00:00" in alert.message


def test_a_dip_below_the_threshold_restarts_the_duration(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, duration_minutes=3)
    feed(db, gauge.datastream_id, [25, 26, 10, 25, 26, 27])
    assert alerts_of(db) == []
    feed(db, gauge.datastream_id, [28], start=T0 + 6 * MIN)
    assert len(alerts_of(db)) == 1


def test_one_incident_raises_one_alert_until_it_clears(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [30, 40, 50, 45, 35])
    feed(db, gauge.datastream_id, [38, 33], start=T0 + 5 * MIN)
    [alert] = alerts_of(db)
    assert alert.state == AlertState.ACTIVE
    assert alert.started_at == T0


def test_hysteresis_keeps_the_alert_until_the_clear_threshold(
    db: Session, city: CityFixture
) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, threshold=20, clear_threshold=15)
    feed(db, gauge.datastream_id, [25, 18, 21, 16])  # below 20 but not back to 15
    [alert] = alerts_of(db)
    assert alert.state == AlertState.ACTIVE
    feed(db, gauge.datastream_id, [15], start=T0 + 4 * MIN)
    db.refresh(alert)
    assert alert.state == AlertState.CLEARED
    assert alert.ended_at == T0 + 4 * MIN
    feed(db, gauge.datastream_id, [22], start=T0 + 5 * MIN)  # a new incident
    assert [a.state for a in alerts_of(db)] == [AlertState.CLEARED, AlertState.ACTIVE]


def test_below_rule_raises_and_clears_the_other_way(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db, prop="pressure")
    make_rule(db, datastream_id=gauge.datastream_id, kind="below", threshold=2, clear_threshold=3)
    feed(db, gauge.datastream_id, [2.5, 1.5, 2.5])
    [alert] = alerts_of(db)
    assert alert.state == AlertState.ACTIVE
    feed(db, gauge.datastream_id, [3.2], start=T0 + 3 * MIN)
    db.refresh(alert)
    assert alert.state == AlertState.CLEARED


def test_rate_rule_compares_change_per_minute_between_readings(
    db: Session, city: CityFixture
) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id, kind="rate", threshold=5)
    feed(db, gauge.datastream_id, [10, 14, 18], step=MIN)  # 4 per minute
    assert alerts_of(db) == []
    feed(db, gauge.datastream_id, [30], start=T0 + 4 * MIN, step=MIN)  # 12 in 2 min: 6/min
    [alert] = alerts_of(db)
    assert "rate of change 6" in alert.message
    feed(db, gauge.datastream_id, [31], start=T0 + 5 * MIN)
    db.refresh(alert)
    assert alert.state == AlertState.CLEARED


def test_late_readings_do_not_move_the_state_back(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [5], start=T0 + 10 * MIN)
    feed(db, gauge.datastream_id, [99], start=T0)  # older than the last one evaluated
    assert alerts_of(db) == []


def test_silent_rule_raises_after_n_minutes_without_data_and_the_next_reading_clears(
    db: Session, city: CityFixture
) -> None:
    gauge = make_gauge(db)
    make_rule(
        db, datastream_id=gauge.datastream_id, kind="silent", threshold=None, duration_minutes=30
    )
    feed(db, gauge.datastream_id, [5])
    assert evaluate.check_silent(db, now=T0 + 29 * MIN) == 0
    assert evaluate.check_silent(db, now=T0 + 31 * MIN) == 1
    assert evaluate.check_silent(db, now=T0 + 40 * MIN) == 0  # one incident, one alert
    [alert] = alerts_of(db)
    assert alert.started_at == T0 + 30 * MIN
    assert "no data for 30 minutes" in alert.message
    feed(db, gauge.datastream_id, [6], start=T0 + 45 * MIN)
    db.refresh(alert)
    assert (alert.state, alert.ended_at) == (AlertState.CLEARED, T0 + 45 * MIN)


def test_silent_rule_counts_from_its_creation_for_a_datastream_never_heard(
    db: Session, city: CityFixture
) -> None:
    gauge = make_gauge(db)
    rule = make_rule(
        db, datastream_id=gauge.datastream_id, kind="silent", threshold=None, duration_minutes=10
    )
    assert evaluate.check_silent(db, now=rule.created_at + 5 * MIN) == 0
    assert evaluate.check_silent(db, now=rule.created_at + 11 * MIN) == 1
    assert "no reading yet" in alerts_of(db)[0].message


def test_property_rule_applies_within_its_district_only(db: Session, city: CityFixture) -> None:
    west = make_gauge(db, WEST_SOUTH, name="West")
    east = make_gauge(db, EAST_NORTH, name="East")
    make_rule(db, observed_property_id=west.property_id, area_code="TC-W")
    feed(db, west.datastream_id, [30])
    feed(db, east.datastream_id, [30])
    assert [a.datastream_id for a in alerts_of(db)] == [west.datastream_id]
    assert alerts_of(db)[0].district_code == "TC-W"


def test_property_rule_in_a_sub_district_matches_by_lineage(db: Session, city: CityFixture) -> None:
    south = make_gauge(db, WEST_SOUTH, name="South")
    north = make_gauge(db, WEST_NORTH, name="North")
    make_rule(db, observed_property_id=south.property_id, area_code="TC-W-S")
    feed(db, south.datastream_id, [30])
    feed(db, north.datastream_id, [30])
    assert [a.datastream_id for a in alerts_of(db)] == [south.datastream_id]


def test_property_rule_without_area_and_other_properties(db: Session, city: CityFixture) -> None:
    level = make_gauge(db, WEST_SOUTH, name="Level")
    noise = make_gauge(db, EAST_NORTH, name="Noise", prop="noise")
    make_rule(db, observed_property_id=level.property_id)
    feed(db, level.datastream_id, [30])
    feed(db, noise.datastream_id, [30])
    assert [a.datastream_id for a in alerts_of(db)] == [level.datastream_id]


def test_a_new_rule_applies_to_the_next_batch(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    feed(db, gauge.datastream_id, [30])  # the cache now knows "no rules"
    make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [31], start=T0 + MIN)
    assert len(alerts_of(db)) == 1


def test_disabling_a_rule_ends_its_alerts_and_stops_evaluation(
    db: Session, city: CityFixture
) -> None:
    gauge = make_gauge(db)
    rule = make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [30])
    rules.update_rule(db, rule_id=rule.id, changes={"enabled": False}, actor=ACTOR, now=T0 + MIN)
    [alert] = alerts_of(db)
    assert alert.state == AlertState.CLEARED
    feed(db, gauge.datastream_id, [40], start=T0 + 2 * MIN)
    assert len(alerts_of(db)) == 1


def test_deleting_a_rule_removes_its_state_and_alerts(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    rule = make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [30])
    rules.delete_rule(db, rule_id=rule.id, actor=ACTOR)
    db.expire_all()
    assert alerts_of(db) == []
    feed(db, gauge.datastream_id, [40], start=T0 + MIN)
    assert alerts_of(db) == []


def test_text_results_are_ignored_by_threshold_rules(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id)
    datastream = gauge.datastream_id
    # a non-number goes through the store (the Datastream's type is not checked here)
    feed(db, datastream, ["high"])
    assert alerts_of(db) == []


BAD_RULES: list[tuple[dict[str, Any], str]] = [
    ({"datastream_id": None}, "either datastream_id"),
    ({"observed_property_id": 1}, "either datastream_id"),
    ({"datastream_id": 999999}, "no datastream 999999"),
    ({"kind": "sideways"}, "kind must be one of"),
    ({"severity": "doom"}, "severity must be one of"),
    ({"name": " "}, "name is required"),
    ({"threshold": None}, "needs a threshold"),
    ({"clear_threshold": 25}, "clear_threshold must be at or below"),
    ({"kind": "below", "clear_threshold": 10}, "clear_threshold must be at or above"),
    ({"kind": "rate", "threshold": 0}, "must be above 0"),
    ({"kind": "silent", "threshold": None}, "needs duration_minutes above 0"),
    ({"kind": "silent", "duration_minutes": 5}, "takes no threshold"),
    ({"duration_minutes": -1}, "duration_minutes must be between"),
    ({"duration_minutes": float("nan")}, "finite"),
    ({"open_case": True}, "open_case needs case_category"),
    ({"case_category": "NO-SUCH"}, "NO-SUCH"),
    ({"notify_emails": ["not-an-address"]}, "not an e-mail address"),
    ({"area_code": "TC-W"}, "area_code applies to observed_property_id rules only"),
]


@pytest.mark.parametrize(("change", "words"), BAD_RULES)
def test_bad_rules_are_refused_with_what_to_fix(
    db: Session, city: CityFixture, change: dict[str, Any], words: str
) -> None:
    gauge = make_gauge(db)
    fields = {"datastream_id": gauge.datastream_id} | change
    with pytest.raises(InvalidInput) as caught:
        make_rule(db, **fields)
    assert words in caught.value.message
    assert rules.list_rules(db) == []


def test_an_unknown_area_is_refused(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    with pytest.raises(InvalidInput, match="area_code: there is no area with the code 'XX'"):
        make_rule(db, observed_property_id=gauge.property_id, area_code="XX")


def test_unknown_fields_in_an_update_are_refused(db: Session, city: CityFixture) -> None:
    gauge = make_gauge(db)
    rule = make_rule(db, datastream_id=gauge.datastream_id)
    with pytest.raises(InvalidInput, match="Unknown rule field"):
        rules.update_rule(db, rule_id=rule.id, changes={"colour": "red"}, actor=ACTOR)


def _wait_until_blocked(engine: Engine, worker: threading.Thread) -> None:
    """Return once another PostgreSQL session waits for a lock (or ``worker`` ended)."""
    deadline = time.monotonic() + 60  # a safety net, not an assertion
    with engine.connect() as watcher:
        while worker.is_alive() and time.monotonic() < deadline:
            waiting = watcher.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar_one():
                return
            watcher.rollback()
            time.sleep(0.02)


def test_workers_checking_one_rule_at_once_raise_one_alert_without_conflict(
    db: Session, city: CityFixture, engine: Engine
) -> None:
    gauge = make_gauge(db)
    rule = make_rule(
        db, datastream_id=gauge.datastream_id, kind="silent", threshold=None, duration_minutes=10
    )
    db.commit()
    now = rule.created_at + 11 * MIN
    factory = make_session_factory(engine)
    errors: list[BaseException] = []
    raised: list[int] = []

    def second_worker() -> None:
        with factory() as other:
            try:
                raised.append(evaluate.check_silent(other, now=now))
                other.commit()
            except BaseException as error:
                errors.append(error)

    with factory() as first:
        raised.append(evaluate.check_silent(first, now=now))  # its new state is not committed
        worker = threading.Thread(target=second_worker)
        if engine.dialect.name == "postgresql":
            worker.start()
            _wait_until_blocked(engine, worker)  # the second waits on the first's state
            first.commit()
        else:  # SQLite runs one writer at a time
            first.commit()
            worker.start()
        worker.join()
    assert errors == []
    assert sorted(raised) == [0, 1]
    db.expire_all()
    assert len(alerts_of(db)) == 1
    assert db.scalar(select(func.count()).select_from(RuleState)) == 1


def test_evaluating_one_datastream_in_two_sessions_at_once_raises_one_alert(
    db: Session, city: CityFixture, engine: Engine
) -> None:
    gauge = make_gauge(db)
    make_rule(db, datastream_id=gauge.datastream_id)
    db.commit()
    factory = make_session_factory(engine)
    errors: list[BaseException] = []
    reading = (gauge.datastream_id, 1, T0, 30.0)

    def second_worker() -> None:
        with factory() as other:
            try:
                evaluate.on_readings(other, [(gauge.datastream_id, 2, T0 + MIN, 31.0)], now=T0)
                other.commit()
            except BaseException as error:
                errors.append(error)

    with factory() as first:
        evaluate.on_readings(first, [reading], now=T0)
        worker = threading.Thread(target=second_worker)
        if engine.dialect.name == "postgresql":
            worker.start()
            _wait_until_blocked(engine, worker)
            first.commit()
        else:
            first.commit()
            worker.start()
        worker.join()
    assert errors == []
    db.expire_all()
    assert len(alerts_of(db)) == 1
