"""The demo's sensors: a fleet over the grid, a bulk-loaded history with rollups and latest
values, alert rules (a flood-prone street opens drainage cases) and active alerts, and the
live readings while the demo is served (small sizes: see conftest.py)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.demo import sensing as demo_sensing
from cityos.demo.catalog import seed_catalog
from cityos.demo.city import seed_areas
from cityos.demo.people import seed_departments
from cityos.demo.sensing import seed_sensing, start_live_readings
from cityos.sensing.models import (
    Alert,
    AlertRule,
    AlertState,
    Datastream,
    LatestValue,
    Location,
    Observation,
    Rollup,
)
from cityos.sensing.simulate import fleet

NOW = datetime(2024, 5, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def city(db: Session) -> Session:
    for step in (seed_departments, seed_areas, seed_catalog):
        step(db)
    db.commit()
    return db


def test_the_demo_places_sensors_in_grid_cells_with_a_history_and_rollups(city: Session) -> None:
    summary = seed_sensing(city, now=NOW)
    city.commit()
    assert summary.startswith("sensing: 60 sensors")
    members = fleet(city)
    assert len(members) == demo_sensing.SENSORS
    assert len(Counter(m.kind for m in members)) == 6
    assert city.scalar(select(func.count()).where(Location.grid_code.is_(None))) == 0

    stored = city.scalar(select(func.count()).select_from(Observation)) or 0
    target = demo_sensing.history_size(city.get_bind().dialect.name)
    assert 0.8 * target <= stored <= 1.05 * target + 100  # faults silence a few readings

    latest = city.scalar(select(func.count()).select_from(LatestValue))
    assert latest == demo_sensing.SENSORS
    hours = city.execute(
        select(Rollup.count, Rollup.min, Rollup.max, Rollup.last).where(Rollup.interval_s == 3600)
    ).all()
    assert hours
    assert all(low <= last <= high for _count, low, high, last in hours)
    days = city.scalar(select(func.sum(Rollup.count)).where(Rollup.interval_s == 86400))
    assert days == stored

    first = city.scalars(select(Datastream).order_by(Datastream.id)).first()
    assert first is not None
    assert first.phenomenon_time_start is not None
    assert first.phenomenon_time_end is not None
    assert first.phenomenon_time_end <= NOW


def test_the_demo_has_alert_rules_and_active_alerts_with_a_drainage_case(city: Session) -> None:
    seed_sensing(city, now=NOW)
    city.commit()
    rules = city.scalars(select(AlertRule)).all()
    flood = [r for r in rules if r.case_category == "FLOOD-STREET"]
    assert flood
    assert all(r.threshold == 20.0 and r.open_case for r in flood)
    active = city.scalars(select(Alert).where(Alert.state == AlertState.ACTIVE)).all()
    assert len(active) >= 3
    flooded = [a for a in active if a.rule_id in {r.id for r in flood}]
    assert flooded
    assert all(a.case_id is not None for a in flooded), [a.message for a in flooded]


def test_seeding_the_sensors_twice_adds_nothing(city: Session) -> None:
    seed_sensing(city, now=NOW)
    city.commit()
    stored = city.scalar(select(func.count()).select_from(Observation))
    assert "already seeded" in seed_sensing(city, now=NOW)
    assert city.scalar(select(func.count()).select_from(Observation)) == stored


def test_without_a_map_the_sensors_are_skipped(db: Session) -> None:
    assert seed_sensing(db) == "sensing: skipped (the city map is not seeded)"


def test_live_readings_keep_arriving_while_the_demo_runs(city: Session, database_url: str) -> None:
    seed_sensing(city)
    city.commit()
    before = city.scalar(select(func.count()).select_from(Observation)) or 0
    live = start_live_readings(database_url)
    arrived = threading.Event()
    try:
        for _ in range(100):
            city.expire_all()
            if (city.scalar(select(func.count()).select_from(Observation)) or 0) > before:
                arrived.set()
                break
            arrived.wait(0.2)
    finally:
        live.close()
    assert arrived.is_set()
