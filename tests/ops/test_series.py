"""The charts' data: cases per hour against last week, top categories, SLA by department and
a sensor trend; and the errors for an unknown series or a bad datastream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.ops import series as series_module
from cityos.ops.cache import FigureCache
from cityos.ops.filters import parse_filters
from tests.cases.conftest import CatalogFixture, city, services
from tests.ops.ops_support import error_of, get, operator, seed_cases
from tests.sensing.alerts_support import feed, make_gauge

__all__ = ["city", "operator", "services"]


def test_cases_per_hour_puts_this_hours_cases_last_against_last_week(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    seed_cases(db, west=2, east=1)
    seed_cases(db, west=1, east=0, now=utcnow() - timedelta(days=7))
    document = get(client, operator, "/api/ops/series/cases_per_hour?range=30d")
    assert len(document["hours"]) == len(document["current"]) == len(document["last_week"]) == 24
    assert document["current"][-1] == 3
    assert sum(document["current"]) == 3
    assert sum(document["last_week"]) == 1
    west = get(client, operator, "/api/ops/series/cases_per_hour?area=TC-W")
    assert sum(west["current"]) == 2


def test_top_categories_and_sla_by_department(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    seed_cases(db, west=2, east=0)
    top = get(client, operator, "/api/ops/series/top_categories")
    assert top == {
        "items": [{"code": "NOISE", "name_en": "Noise", "name_zh": "噪声扰民", "count": 2}]
    }
    sla = get(client, operator, "/api/ops/series/sla_by_department?range=30d")
    assert sla["items"] == []  # nothing ended
    assert set(sla["window"]) == {"start", "end"}


def test_a_sensor_trend_for_one_datastream_or_the_default_property(
    client: TestClient, operator: dict[str, str], db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    gauge = make_gauge(db)
    hour = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    feed(db, gauge.datastream_id, [10, 20], start=hour + timedelta(minutes=1))
    db.commit()
    url = f"/api/ops/series/sensor_trend?range=24h&datastream={gauge.datastream_id}"
    one = get(client, operator, url)
    assert (one["label"], one["unit"], one["interval"]) == ("Gauge water level", "cm", "5m")
    assert len(one["points"]) >= 24 * 12  # every 5-minute bucket, empty ones null
    assert [point for point in one["points"] if point[1] is not None] == [[hour.isoformat(), 15.0]]
    default = get(client, operator, "/api/ops/series/sensor_trend?range=24h")
    assert (default["label"], default["interval"]) == ("water level", "1h")
    assert [v for _, v in default["points"] if v is not None] == [15.0]
    monkeypatch.setattr(series_module, "MAX_HOURLY_ROWS", 0)  # as if thousands of sensors
    daily = get(client, operator, "/api/ops/series/sensor_trend?range=7d")
    assert daily["interval"] == "1d"
    assert [v for _, v in daily["points"] if v is not None] == [15.0]


def test_unknown_series_and_bad_or_unknown_datastreams_are_refused(
    client: TestClient, operator: dict[str, str]
) -> None:
    unknown = client.get("/api/ops/series/rainfall", headers=operator)
    assert "the series are cases_per_hour, top_categories" in error_of(unknown, 404)
    bad = client.get("/api/ops/series/sensor_trend?datastream=abc", headers=operator)
    assert "give a whole number" in error_of(bad, 400)
    missing = client.get("/api/ops/series/sensor_trend?datastream=999", headers=operator)
    assert "There is no datastream 999" in error_of(missing, 404)
    smell = client.get("/api/ops/series/sensor_trend?observed_property=smell", headers=operator)
    assert "no observed property named 'smell'" in error_of(smell, 400)


def test_at_the_citys_midnight_the_sensor_trend_of_today_has_one_bucket(
    db: Session, services: CatalogFixture
) -> None:
    midnight = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    gauge = make_gauge(db)
    feed(db, gauge.datastream_id, [10], start=midnight - timedelta(hours=1), now=midnight)
    db.commit()
    filters = parse_filters(db, range_="today", area=None, now=midnight, timezone="Asia/Shanghai")
    assert filters.period.length == timedelta(0)
    cache = FigureCache(0)
    one = series_module.sensor_trend(
        db,
        filters=filters,
        cache=cache,
        datastream=str(gauge.datastream_id),
        observed_property=None,
    )
    assert one["points"] == [[midnight.isoformat(), None]]
    default = series_module.sensor_trend(
        db, filters=filters, cache=cache, datastream=None, observed_property=None
    )
    assert (default["label"], default["points"]) == ("water level", [[midnight.isoformat(), None]])
