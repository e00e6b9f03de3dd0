"""The operations center's case figures, on the hand-made cases of test_stats.py (checked by
hand there) plus two noise reports in the east district, inside a generated grid cell."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from cityos.cases import service
from cityos.cases.models import Case
from cityos.errors import InvalidInput
from cityos.geo import service as geo_service
from cityos.geo.grid import generate_grid
from tests.cases.conftest import ACTOR, EAST_NORTH_POINT, CatalogFixture
from tests.cases.test_stats import NOW, POLICY, T0, D, H, hand_made

__all__ = ["hand_made"]

EAST_FIRST = T0 + 9 * D + H
EAST_SECOND = T0 + 9 * D + 3 * H


def area_id(db: Session, code: str) -> int:
    return geo_service.get_area(db, code=code).id


def open_noise(db: Session, at: datetime) -> Case:
    return service.open_case(
        db,
        service.CaseInput(service_code="NOISE", lon=EAST_NORTH_POINT[0], lat=EAST_NORTH_POINT[1]),
        actor=ACTOR,
        policy=POLICY,
        now=at,
    )


@pytest.fixture
def board(db: Session, hand_made: None, services: CatalogFixture) -> tuple[Case, Case]:
    """The hand-made cases (all in TC-W) and two open noise cases in TC-E-N, in a grid cell.

    Noise is acknowledged within 24 h: neither east case is breached at NOW."""
    generate_grid(db, within_code="TC-E", cell_size_m=2500, actor=ACTOR)
    first, second = open_noise(db, EAST_FIRST), open_noise(db, EAST_SECOND)
    db.commit()
    return first, second


def test_counts_are_new_ended_and_open_cases_like_the_statistics(
    db: Session, board: tuple[Case, Case]
) -> None:
    city = service.board_counts(db, start=T0, end=NOW, area=None, now=NOW)
    assert city == service.BoardCounts(new=7, resolved=4, closed=1, open_now=4, breached_now=2)
    east = service.AreaFilter("district", area_id(db, "TC-E"))
    counts = service.board_counts(db, start=T0, end=NOW, area=east, now=NOW)
    assert counts == service.BoardCounts(new=2, resolved=0, closed=0, open_now=2, breached_now=0)
    west_south = service.AreaFilter("subdistrict", area_id(db, "TC-W-S"))
    counts = service.board_counts(db, start=T0 + D, end=T0 + 2 * D, area=west_south, now=NOW)
    assert (counts.new, counts.resolved, counts.open_now) == (2, 2, 2)


def test_quality_is_the_sla_median_and_reopen_rate_of_cases_stats(
    db: Session, board: tuple[Case, Case]
) -> None:
    quality = service.board_quality(db, start=T0, end=NOW, area=None, now=NOW)
    assert (quality.resolved_within_sla, quality.resolved_with_target) == (3, 5)
    assert quality.sla_pct == 60.0
    assert quality.median_hours_to_resolve == 70.0  # 10, 40, 100, 144 h
    assert (quality.reopened, quality.ended, quality.reopen_pct) == (1, 4, 25.0)
    east = service.AreaFilter("district", area_id(db, "TC-E"))
    empty = service.board_quality(db, start=T0, end=NOW, area=east, now=NOW)
    assert empty == service.BoardQuality(0, 0, None, None, 0, 0, None)


def test_open_and_breached_cases_are_counted_per_area_of_a_level(
    db: Session, board: tuple[Case, Case]
) -> None:
    west, east = area_id(db, "TC-W"), area_id(db, "TC-E")
    by_district = service.open_by_area(db, level="district", within=None, now=NOW)
    assert by_district == {
        west: service.AreaCount(open=2, breached=2),
        east: service.AreaCount(open=2, breached=0),
    }
    inside_east = service.AreaFilter("district", east)
    by_subdistrict = service.open_by_area(db, level="subdistrict", within=inside_east, now=NOW)
    assert by_subdistrict == {area_id(db, "TC-E-N"): service.AreaCount(open=2, breached=0)}
    cell = board[0].grid_id
    assert cell is not None
    assert service.open_by_area(db, level="grid", within=inside_east, now=NOW) == {
        cell: service.AreaCount(open=2, breached=0)
    }
    # 25 h after the first east case its acknowledge time is up; the second's is not
    later = service.open_by_area(db, level="district", within=None, now=EAST_FIRST + 25 * H)
    assert later[east] == service.AreaCount(open=2, breached=1)


def test_hourly_counts_put_each_case_in_its_hour_from_start(
    db: Session, board: tuple[Case, Case]
) -> None:
    # POTHOLE a and FLOODING d were requested exactly at T0 + 1 day: the hour starting then
    assert service.hourly_counts(db, start=T0 + D - 2 * H, hours=4, area=None) == [0, 0, 2, 0]
    east = service.AreaFilter("subdistrict", area_id(db, "TC-E-N"))
    day = service.hourly_counts(db, start=T0 + 9 * D, hours=24, area=east)
    assert len(day) == 24
    assert (day[1], day[3], sum(day)) == (1, 1, 2)
    west = service.AreaFilter("district", area_id(db, "TC-W"))
    assert sum(service.hourly_counts(db, start=T0 + 9 * D, hours=24, area=west)) == 0


def test_top_categories_are_the_most_requested_first(db: Session, board: tuple[Case, Case]) -> None:
    top = service.top_categories(db, start=T0, end=NOW, area=None)
    assert [(c.service_code, c.count) for c in top] == [
        ("POTHOLE", 3),
        ("FLOODING", 2),
        ("NOISE", 2),
    ]
    assert (top[0].name_en, top[0].name_zh) == ("Pothole", "路面坑洞")
    assert [
        c.service_code for c in service.top_categories(db, start=T0, end=NOW, area=None, limit=1)
    ] == ["POTHOLE"]
    east = service.AreaFilter("district", area_id(db, "TC-E"))
    only_east = service.top_categories(db, start=T0, end=NOW, area=east)
    assert [(c.service_code, c.count) for c in only_east] == [("NOISE", 2)]


def test_sla_by_department_counts_the_ended_cases_with_a_target(
    db: Session, board: tuple[Case, Case]
) -> None:
    rows = service.sla_by_department(db, start=T0, end=NOW, area=None, now=NOW)
    assert [(r.code, r.met, r.of, r.pct) for r in rows] == [
        ("CMB", 1, 2, 50.0),
        ("WATER", 2, 2, 100.0),
        (None, 0, 1, 0.0),  # the triage queue: NOISE f resolved late
    ]
    assert rows[0].name_en == "City Management"
    east = service.AreaFilter("district", area_id(db, "TC-E"))
    assert service.sla_by_department(db, start=T0, end=NOW, area=east, now=NOW) == []


def test_recent_cases_are_newest_first_with_the_total(
    db: Session, board: tuple[Case, Case]
) -> None:
    first, second = board
    points, total = service.recent_cases(db, start=T0, end=NOW, area=None, limit=3)
    assert total == 7
    assert [p.id for p in points[:2]] == [second.id, first.id]
    assert points[2].service_code == "POTHOLE"
    newest = points[0]
    assert (newest.service_code, newest.name_en, newest.status) == ("NOISE", "Noise", "submitted")
    assert (newest.lon, newest.lat) == EAST_NORTH_POINT
    assert newest.requested_at == EAST_SECOND
    assert newest.priority == "normal"
    assert newest.department_id is None
    east = service.AreaFilter("grid", second.grid_id or 0)
    points, total = service.recent_cases(db, start=EAST_SECOND, end=NOW, area=east)
    assert ([p.id for p in points], total) == ([second.id], 1)


def test_bad_levels_and_hour_counts_get_clear_errors(db: Session) -> None:
    with pytest.raises(InvalidInput, match=r"Unknown area level 'ward'.*district, subdistrict"):
        service.open_by_area(db, level="ward", within=None, now=NOW)
    with pytest.raises(InvalidInput, match="Unknown area level 'city'"):
        service.board_counts(db, start=T0, end=NOW, area=service.AreaFilter("city", 1), now=NOW)
    with pytest.raises(InvalidInput, match="hours must be between 1 and"):
        service.hourly_counts(db, start=T0, hours=0, area=None)
    assert service.hourly_counts(db, start=T0, hours=2, area=None) == [0, 0]
