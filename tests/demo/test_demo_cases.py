"""The demo city's cases: bulk history with plausible patterns, and cases with real histories."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases import workflow
from cityos.cases.catalog import list_categories
from cityos.cases.models import Case, CaseSource, CaseStatus, Category
from cityos.demo import seed
from cityos.demo.cases import DEMO_COUNT, generate, seed_cases
from cityos.demo.cases_live import STORIES
from cityos.demo.catalog import seed_catalog
from cityos.demo.city import seed_areas
from cityos.demo.people import seed_departments, seed_users

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def seed_city(db: Session) -> None:
    for step in (seed_departments, seed_users, seed_areas, seed_catalog):
        step(db)
    db.commit()


@pytest.fixture
def demo_cases(db: Session) -> Session:
    seed_city(db)
    seed_cases(db, 4000, now=NOW)
    db.commit()
    return db


def bulk_cases(db: Session) -> list[Case]:
    return list(db.scalars(select(Case).where(Case.source_ref.startswith("demo:"))))


def test_the_demo_has_cases_over_90_days_open_and_ended(demo_cases: Session) -> None:
    cases = bulk_cases(demo_cases)
    assert len(cases) == 4000
    assert {case.source for case in cases} == {"import"}
    oldest = min(case.requested_at for case in cases)
    newest = max(case.requested_at for case in cases)
    assert NOW - timedelta(days=91) < oldest < NOW - timedelta(days=85)
    assert NOW - timedelta(days=1) < newest <= NOW
    statuses = Counter(case.status for case in cases)
    assert statuses["resolved"] > 0.7 * len(cases)
    assert statuses["closed"] > 0
    assert statuses["reopened"] > 0
    assert statuses["submitted"] + statuses["acknowledged"] + statuses["in_progress"] > 20
    assert all(case.district_id is not None and case.grid_id is not None for case in cases)
    closed = [case for case in cases if case.status == "closed"]
    assert all(case.close_reason for case in closed)
    recent_open = [
        c
        for c in cases
        if CaseStatus(c.status).is_open and NOW - c.requested_at < timedelta(days=2)
    ]
    old = [c for c in cases if NOW - c.requested_at > timedelta(days=30)]
    assert sum(CaseStatus(c.status).is_open for c in old) < 0.1 * len(old)
    assert len(recent_open) > 0


def test_the_demo_cases_follow_daily_weekly_and_weather_patterns(demo_cases: Session) -> None:
    cases = bulk_cases(demo_cases)
    local = [case.requested_at + timedelta(hours=8) for case in cases]
    hours = Counter(moment.hour for moment in local)
    assert hours[10] > 5 * hours[3]  # mid-morning versus the small hours
    assert hours[20] > 5 * hours[3]  # and the evening
    days = Counter(moment.weekday() for moment in local)
    assert (days[0] + days[1] + days[2]) / 3 > (days[5] + days[6]) / 2  # weekdays busier
    codes = {c.id: c.service_code for c in list_categories(demo_cases)}
    floods = [
        m.date()
        for case, m in zip(cases, local, strict=True)
        if codes[case.category_id] == "FLOOD-STREET"
    ]
    busiest = Counter(floods).most_common(8)
    assert sum(count for _, count in busiest) > 0.8 * len(floods)  # on a few rainy days
    noise = [
        m.hour
        for case, m in zip(cases, local, strict=True)
        if codes[case.category_id] == "NOISE-NEIGHBOUR"
    ]
    night = sum(1 for hour in noise if hour >= 21 or hour <= 2) / len(noise)
    everything = sum(hours[h] for h in (21, 22, 23, 0, 1, 2)) / len(cases)
    assert night > 1.5 * everything


def test_most_demo_cases_meet_their_sla_and_departments_differ(demo_cases: Session) -> None:
    ended = [
        case
        for case in bulk_cases(demo_cases)
        if case.status in ("resolved", "closed") and case.resolve_due_at is not None
    ]
    breached = [
        case for case in ended if case.resolved_at and case.resolved_at > case.resolve_due_at
    ]
    share = len(breached) / len(ended)
    assert 0.02 < share < 0.3
    by_department: dict[int | None, list[bool]] = {}
    for case in ended:
        assert case.resolved_at is not None
        by_department.setdefault(case.department_id, []).append(
            case.resolved_at > case.resolve_due_at
        )  # type: ignore[operator]
    rates = [np.mean(flags) for flags in by_department.values() if len(flags) >= 100]
    assert max(rates) - min(rates) > 0.05


def test_demo_cases_with_real_histories_have_notes_transfers_and_a_reopening(
    demo_cases: Session,
) -> None:
    live = list(demo_cases.scalars(select(Case).where(Case.source_ref.startswith("demo-live:"))))
    assert len(live) == len(STORIES)
    kinds: Counter[str] = Counter()
    notes: list[str] = []
    for case in live:
        updates = workflow.history(demo_cases, case=case, public_only=False)
        assert updates[0].kind == "submitted"
        assert all(update.id is not None for update in updates)  # stored, not rebuilt
        kinds.update(update.kind for update in updates)
        notes += [update.note for update in updates]
    assert {"status", "note", "transfer", "reopen"} <= set(kinds)
    assert any("修复" in note for note in notes)
    assert any("replaced" in note for note in notes)
    statuses = Counter(case.status for case in live)
    assert statuses["resolved"] > 0
    assert statuses["reopened"] == 1
    assert statuses["submitted"] > 0


def test_seeding_cases_twice_adds_nothing(demo_cases: Session) -> None:
    before = demo_cases.scalar(select(func.count()).select_from(Case))
    assert seed_cases(demo_cases, 4000, now=NOW).startswith("cases: already seeded")
    assert demo_cases.scalar(select(func.count()).select_from(Case)) == before


def test_the_same_now_gives_the_same_cases(db: Session) -> None:
    seed_city(db)
    categories = list(list_categories(db))
    first, _ = generate(db, categories, count=500, now=NOW, rng=np.random.default_rng(7))
    again, _ = generate(db, categories, count=500, now=NOW, rng=np.random.default_rng(7))
    assert first.equals(again)


def test_without_a_catalog_the_cases_step_is_skipped(db: Session) -> None:
    seed_departments(db)
    seed_areas(db)
    assert seed_cases(db, 100, now=NOW) == "cases: skipped (the service catalog is empty)"
    assert db.scalar(select(func.count()).select_from(Case)) == 0


def test_the_full_demo_has_about_50000_cases_and_a_supervisor(db: Session) -> None:
    report = seed(db)
    db.commit()
    by_people = select(func.count()).select_from(Case).where(Case.source != CaseSource.SENSOR)
    assert db.scalar(by_people) == DEMO_COUNT + len(STORIES)
    # the demo's sensors have opened their own cases too (a flooded underpass)
    by_sensors = select(func.count()).select_from(Case).where(Case.source == CaseSource.SENSOR)
    assert db.scalar(by_sensors) >= 1
    assert f"cases: {DEMO_COUNT:,} over the last 90 days" in report.describe()
    supervisor = auth_service.get_user_by_email(db, email="supervisor.cmb@example.org")
    assert set(supervisor.roles) == {"staff", "supervisor"}
    assert db.scalar(select(func.count()).select_from(Category)) >= 30


def test_the_demo_stream_opens_routed_reports_that_live_screens_hear(
    db: Session, database_url: str
) -> None:
    from typing import Any

    from cityos import events
    from cityos.cases import notices
    from cityos.demo.cases_stream import LiveCases

    seed_city(db)
    heard: list[dict[str, Any]] = []
    unsubscribe = events.subscribe(notices.TOPIC, lambda _topic, p: heard.append(p))
    stream = LiveCases(database_url, period_s=3600)
    try:
        ids = [stream.open_one() for _ in range(3)]
    finally:
        stream.close()
        unsubscribe()
    cases = [db.get(Case, case_id) for case_id in ids]
    assert all(case is not None and case.source == "web" for case in cases)
    assert all(case is not None and case.district_id is not None for case in cases)
    assert [event["id"] for event in heard] == ids
