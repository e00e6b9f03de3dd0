"""Statistics on a small hand-made set of cases placed in time (numbers checked by hand)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth.models import User
from cityos.cases import service, stats
from cityos.cases.models import Case
from cityos.errors import InvalidInput
from tests.cases.conftest import WEST_POINT, CatalogFixture

POLICY = service.CasePolicy(base_url="http://testserver")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
H = timedelta(hours=1)
D = timedelta(days=1)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


class Clock:
    """Opens and moves cases at given times, as the person who handles them."""

    def __init__(self, db: Session, people: dict[str, User]) -> None:
        self.db = db
        self.people = people

    def open(self, code: str, at: datetime) -> Case:
        return service.open_case(
            self.db,
            service.CaseInput(
                service_code=code,
                lon=WEST_POINT[0],
                lat=WEST_POINT[1],
                attributes={"size": "small"} if code == "POTHOLE" else {},
            ),
            actor=Actor.system("test"),
            policy=POLICY,
            now=at,
        )

    def move(self, case: Case, to: str, at: datetime, **extra: object) -> None:
        user = self.people["admin"]
        photos = [service.PhotoUpload("fix.png", _png())] if to == "resolved" else []
        service.change_status(
            self.db,
            case,
            to=to,
            note=str(extra.pop("note", f"{to} at {at.isoformat()}")),
            close_reason=extra.pop("close_reason", None),  # type: ignore[arg-type]
            photo_uploads=photos,
            user=user,
            actor=Actor(user_id=user.id, label=user.email),
            policy=POLICY,
            now=at,
        )


@pytest.fixture
def hand_made(db: Session, services: CatalogFixture) -> None:
    """Seven cases around the period [T0, T0 + 10 days); now is T0 + 10 days.

    POTHOLE → CMB (ack 4 h, resolve 72 h); FLOODING at the west point → WATER (1 h / 24 h);
    NOISE → triage (24 h / 120 h).
    """
    clock = Clock(db, services.people)
    a = clock.open("POTHOLE", T0 + D)  # ack in 2 h (met), resolved in 10 h (met)
    clock.move(a, "acknowledged", T0 + D + 2 * H)
    clock.move(a, "resolved", T0 + D + 10 * H)
    b = clock.open("POTHOLE", T0 + 2 * D)  # ack in 5 h (missed), resolved in 100 h (missed)
    clock.move(b, "acknowledged", T0 + 2 * D + 5 * H)
    clock.move(b, "resolved", T0 + 2 * D + 100 * H)
    clock.open("POTHOLE", T0 + 3 * D)  # never acknowledged: open and breached
    d = clock.open("FLOODING", T0 + D)  # resolved, reopened, resolved again in time
    clock.move(d, "acknowledged", T0 + D + 0.5 * H)
    clock.move(d, "resolved", T0 + D + 20 * H)
    clock.move(d, "reopened", T0 + D + 30 * H)
    clock.move(d, "acknowledged", T0 + D + 30.5 * H)
    clock.move(d, "resolved", T0 + D + 40 * H)  # resolve target after reopening: +54 h
    e = clock.open("FLOODING", T0 + 2 * D)  # closed in 2 h: acknowledged late (due 1 h)
    clock.move(e, "closed", T0 + 2 * D + 2 * H, close_reason="no_further_action")
    f = clock.open("NOISE", T0 - 5 * D)  # requested before the period, resolved late in it
    clock.move(f, "resolved", T0 + D)
    clock.open("POTHOLE", T0 - 2 * D)  # requested before the period, still open, breached
    db.commit()


def test_totals_are_exactly_the_hand_counted_numbers(db: Session, hand_made: None) -> None:
    result = stats.case_stats(db, start=T0, end=NOW, now=NOW, timezone="UTC")
    totals = result.totals.as_dict()
    assert totals["volume"] == 5
    assert totals["backlog"] == 2
    assert totals["breached_open"] == 2
    assert (totals["resolved"], totals["closed"]) == (4, 1)
    assert totals["median_hours_to_resolve"] == 70.0  # 10, 40, 100, 144 → (40 + 100) / 2
    assert (totals["resolved_within_sla"], totals["resolved_with_target"]) == (3, 5)
    assert totals["resolved_within_sla_pct"] == 60.0
    assert (totals["acknowledged_within_sla"], totals["acknowledge_due"]) == (2, 5)
    assert totals["acknowledged_within_sla_pct"] == 40.0
    assert (totals["reopened"], totals["ended"]) == (1, 4)
    assert totals["reopen_rate_pct"] == 25.0


def test_per_department_figures_and_the_triage_group(
    db: Session, hand_made: None, services: CatalogFixture
) -> None:
    result = stats.case_stats(db, by=stats.GroupBy.DEPARTMENT, start=T0, end=NOW, now=NOW)
    groups = {group.key: group.as_dict() for group in result.groups}
    assert list(groups) == ["CMB", "WATER", None]
    cmb, water, triage = groups["CMB"], groups["WATER"], groups[None]
    assert (cmb["volume"], cmb["backlog"], cmb["breached_open"]) == (3, 2, 2)
    assert (cmb["resolved"], cmb["median_hours_to_resolve"]) == (2, 55.0)
    assert (cmb["resolved_within_sla_pct"], cmb["acknowledged_within_sla_pct"]) == (50.0, 33.3)
    assert (cmb["reopen_rate_pct"], cmb["ended"]) == (0.0, 2)
    assert (water["volume"], water["backlog"], water["resolved"], water["closed"]) == (2, 0, 1, 1)
    assert water["median_hours_to_resolve"] == 40.0
    assert water["resolved_within_sla_pct"] == 100.0
    assert (water["acknowledged_within_sla_pct"], water["reopen_rate_pct"]) == (50.0, 50.0)
    assert (triage["volume"], triage["resolved"], triage["median_hours_to_resolve"]) == (
        0,
        1,
        144.0,
    )
    assert triage["resolved_within_sla_pct"] == 0.0
    assert triage["acknowledged_within_sla_pct"] is None  # nothing requested in the period
    assert triage["name_en"].startswith("Triage")


def test_per_category_and_per_district(db: Session, hand_made: None) -> None:
    by_category = stats.case_stats(db, by=stats.GroupBy.CATEGORY, start=T0, end=NOW, now=NOW)
    volumes = {group.key: group.volume for group in by_category.groups}
    assert volumes == {"FLOODING": 2, "NOISE": 0, "POTHOLE": 3}
    by_district = stats.case_stats(db, by=stats.GroupBy.DISTRICT, start=T0, end=NOW, now=NOW)
    assert [(g.key, g.volume, g.backlog) for g in by_district.groups] == [("TC-W", 5, 2)]


def test_a_department_scope_limits_every_figure(
    db: Session, hand_made: None, services: CatalogFixture
) -> None:
    water = services.people["water"].department_id
    assert water is not None
    result = stats.case_stats(db, start=T0, end=NOW, now=NOW, department_ids=[water])
    assert [group.key for group in result.groups] == ["WATER"]
    assert (result.totals.volume, result.totals.resolved, result.totals.backlog) == (2, 1, 0)
    assert sum(point.opened for point in result.daily) == 2


def test_the_daily_series_counts_local_days(db: Session, hand_made: None) -> None:
    utc = stats.case_stats(db, start=T0, end=NOW, now=NOW, timezone="UTC")
    assert len(utc.daily) == 10
    by_day = {p.day: (p.opened, p.resolved, p.closed) for p in utc.daily}
    assert by_day[date(2026, 3, 2)] == (2, 2, 0)  # A and D opened; A and F resolved
    assert by_day[date(2026, 3, 3)] == (2, 1, 1)  # B and E opened; D resolved; E closed
    assert by_day[date(2026, 3, 4)] == (1, 0, 0)
    assert by_day[date(2026, 3, 7)] == (0, 1, 0)  # B resolved after 100 h
    shanghai = stats.case_stats(db, start=T0, end=NOW, now=NOW, timezone="Asia/Shanghai")
    assert shanghai.daily[0].day == date(2026, 3, 1)
    assert len(shanghai.daily) == 11
    local = {p.day: p.resolved for p in shanghai.daily}
    assert local[date(2026, 3, 4)] == 1  # D: 16:00 UTC on the 3rd is midnight on the 4th
    as_json = shanghai.as_dict()
    assert as_json["daily"][0] == {"date": "2026-03-01", "opened": 0, "resolved": 0, "closed": 0}
    assert as_json["from"] == T0.isoformat()
    assert as_json["by"] == "department"


def test_an_empty_period_has_no_percentages(db: Session, services: CatalogFixture) -> None:
    result = stats.case_stats(db, start=T0, end=NOW, now=NOW).as_dict()
    assert result["groups"] == []
    assert result["totals"]["volume"] == 0
    assert result["totals"]["median_hours_to_resolve"] is None
    assert result["totals"]["resolved_within_sla_pct"] is None
    assert result["totals"]["reopen_rate_pct"] is None


def test_periods_are_parsed_as_local_days_and_checked() -> None:
    start, end = stats.parse_period("2026-03-01", "2026-03-10", timezone="Asia/Shanghai")
    assert start == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert end == datetime(2026, 3, 10, 16, tzinfo=UTC)  # the whole of 10 March included
    start, end = stats.parse_period(None, None, timezone="UTC", now=NOW)
    assert (start, end) == (NOW - timedelta(days=30), NOW)
    with pytest.raises(InvalidInput, match="before it starts"):
        stats.parse_period("2026-03-10", "2026-03-01", timezone="UTC")
    with pytest.raises(InvalidInput, match="ISO 8601"):
        stats.parse_period("last week", None, timezone="UTC")
    with pytest.raises(InvalidInput, match="group by"):
        stats.parse_group_by("weekday")
