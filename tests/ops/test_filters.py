"""The ops filters: what each range stands for, and the errors for a bad range or area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput
from cityos.ops import filters
from tests.cases.conftest import CatalogFixture, city, services
from tests.ops.ops_support import error_of, operator

__all__ = ["city", "operator", "services"]

# 10:30 in Shanghai (UTC+8)
NOW = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
SHANGHAI_MIDNIGHT = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def test_today_runs_from_the_citys_midnight_against_yesterdays_same_span() -> None:
    period, previous, sla = filters.periods("today", now=NOW, timezone="Asia/Shanghai")
    assert (period.start, period.end) == (SHANGHAI_MIDNIGHT, NOW)
    assert previous.start == SHANGHAI_MIDNIGHT - timedelta(days=1)
    assert previous.end == NOW - timedelta(days=1)
    assert (sla.start, sla.end) == (NOW - timedelta(days=7), NOW)  # shorter than 7 days


@pytest.mark.parametrize(("name", "span"), [("24h", 1), ("7d", 7), ("30d", 30)])
def test_fixed_ranges_compare_with_the_span_just_before(name: str, span: int) -> None:
    period, previous, sla = filters.periods(name, now=NOW, timezone="Asia/Shanghai")
    assert period.end == NOW
    assert period.length == timedelta(days=span)
    assert previous.end == period.start
    assert previous.length == period.length
    assert sla == (period if span >= 7 else filters.Period(NOW - timedelta(days=7), NOW))


def test_an_unknown_range_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput, match=r"today, 24h, 7d, 30d") as error:
        filters.parse_range("week")
    assert error.value.details == {"allowed": ["today", "24h", "7d", "30d"]}


def test_areas_resolve_to_their_level_and_the_city_means_everywhere(
    db: Session, services: CatalogFixture
) -> None:
    west = filters.parse_area(db, "TC-W-S")
    assert west is not None
    assert (west.code, west.level.value) == ("TC-W-S", "subdistrict")
    assert filters.parse_area(db, "TC") is None
    assert filters.parse_area(db, " ") is None


def test_bad_range_and_unknown_area_get_a_400_that_says_what_to_fix(
    client: TestClient, operator: dict[str, str]
) -> None:
    bad_range = client.get("/api/ops/summary?range=year", headers=operator)
    assert "use one of today, 24h, 7d, 30d" in error_of(bad_range, 400)
    unknown = client.get("/api/ops/layers/cases?area=NOWHERE", headers=operator)
    assert "There is no area 'NOWHERE'" in error_of(unknown, 400)
    assert unknown.json()["error"]["code"] == "invalid_input"


def test_ids_are_whole_numbers_within_the_databases_range() -> None:
    def parse(text: str | None) -> int | None:
        return filters.parse_id(text, name="case", what="a case id", hint="give its number")

    assert (parse(" 12 "), parse(""), parse(None)) == (12, None, None)
    assert parse(str(filters.MAX_ID)) == 2**31 - 1
    for bad in ["0", "-1", "2147483648", "1e3", "1_000", "١٢", "abc"]:
        with pytest.raises(InvalidInput, match=r"is not a case id; give its number\.") as error:
            parse(bad)
        assert error.value.details == {"field": "case", "value": bad}
