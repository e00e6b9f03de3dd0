"""Aggregates from the rollups: one datastream, or a property across an area."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.errors import InvalidInput
from cityos.sensing import aggregate
from tests.conftest import login
from tests.geo.conftest import CityFixture, city
from tests.sensing.alerts_support import (
    EAST_NORTH,
    T0,
    WEST_NORTH,
    WEST_SOUTH,
    Gauge,
    feed,
    make_gauge,
)

__all__ = ["city"]

STEP = timedelta(minutes=10)
VALUES = list(range(78))  # one reading every 10 minutes for 13 hours from 08:00 UTC
FROM = "2026-03-02T08:00:00Z"
TO = "2026-03-02T21:00:00Z"


@pytest.fixture
def gauges(db: Session, city: CityFixture) -> dict[str, Gauge]:
    made = {
        "a": make_gauge(db, WEST_SOUTH, name="A"),
        "b": make_gauge(db, WEST_NORTH, name="B"),
        "east": make_gauge(db, EAST_NORTH, name="East"),
        "secret": make_gauge(db, WEST_SOUTH, name="Secret", restricted=True),
    }
    feed(db, made["a"].datastream_id, [float(v) for v in VALUES], step=STEP)
    feed(db, made["b"].datastream_id, [100.0] * 6, step=STEP)
    feed(db, made["east"].datastream_id, [1000.0] * 6, step=STEP)
    feed(db, made["secret"].datastream_id, [5.0], step=STEP)
    db.commit()
    return made


def series(client: TestClient, datastream_id: int, **params: str) -> dict[str, Any]:
    response = client.get(
        f"/api/sensing/datastreams/{datastream_id}/aggregate",
        params={"from": FROM, "to": TO} | params,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_hourly_mean_matches_the_raw_readings(client: TestClient, gauges: dict[str, Gauge]) -> None:
    body = series(client, gauges["a"].datastream_id, interval="1h", fn="mean")
    raw = np.array(VALUES, dtype=float).reshape(13, 6)
    assert [b["v"] for b in body["buckets"]] == pytest.approx(raw.mean(axis=1).tolist())
    assert [b["count"] for b in body["buckets"]] == [6] * 13
    assert body["buckets"][0]["t"] == "2026-03-02T08:00:00+00:00"
    assert body["datastream"]["unit"]["symbol"] == "cm"
    assert body["stored_interval_s"] == 3600


@pytest.mark.parametrize(
    ("fn", "first_hour"),
    [("min", 0), ("max", 5), ("sum", 15), ("count", 6), ("last", 5), ("mean", 2.5)],
)
def test_every_function_per_hour(
    client: TestClient, gauges: dict[str, Gauge], fn: str, first_hour: float
) -> None:
    body = series(client, gauges["a"].datastream_id, interval="1h", fn=fn)
    assert body["buckets"][0]["v"] == first_hour


def test_six_hours_are_composed_from_hourly_buckets_aligned_to_utc(
    client: TestClient, gauges: dict[str, Gauge]
) -> None:
    body = series(client, gauges["a"].datastream_id, interval="6h", fn="mean")
    assert [b["t"][11:16] for b in body["buckets"]] == ["06:00", "12:00", "18:00"]
    assert [b["count"] for b in body["buckets"]] == [24, 36, 18]
    assert [b["v"] for b in body["buckets"]] == [11.5, 41.5, 68.5]
    assert body["from"] == "2026-03-02T06:00:00+00:00"  # rounded down to a bucket start
    last = series(client, gauges["a"].datastream_id, interval="6h", fn="last")
    assert [b["v"] for b in last["buckets"]] == [23, 59, 77]


def test_minutes_and_days(client: TestClient, gauges: dict[str, Gauge]) -> None:
    minutes = series(client, gauges["a"].datastream_id, interval="30m", fn="sum")
    assert [b["v"] for b in minutes["buckets"][:2]] == [0 + 1 + 2, 3 + 4 + 5]
    day = series(client, gauges["a"].datastream_id, interval="1d", fn="count")
    assert [(b["t"], b["v"]) for b in day["buckets"]] == [("2026-03-02T00:00:00+00:00", 78)]


def test_to_is_exclusive(client: TestClient, gauges: dict[str, Gauge]) -> None:
    body = series(
        client, gauges["a"].datastream_id, interval="1h", fn="count", to="2026-03-02T10:00:00Z"
    )
    assert [b["t"][11:16] for b in body["buckets"]] == ["08:00", "09:00"]


def test_area_aggregate_combines_the_datastreams_of_a_property(
    client: TestClient, gauges: dict[str, Gauge]
) -> None:
    params = {
        "observedProperty": "water level",
        "area": "TC-W",
        "interval": "1h",
        "from": FROM,
        "to": "2026-03-02T09:00:00Z",
        "fn": "mean",
    }
    body = client.get("/api/sensing/aggregate", params=params).json()
    assert body["datastreams"] == 2  # A and B; East is elsewhere, Secret hidden
    assert body["units"] == ["cm"]
    [bucket] = body["buckets"]
    assert bucket["count"] == 12
    assert bucket["v"] == pytest.approx((15 + 600) / 12)  # weighted by readings
    body = client.get("/api/sensing/aggregate", params=params | {"area": "TC-W-N"}).json()
    assert body["buckets"][0]["v"] == 100
    body = client.get("/api/sensing/aggregate", params=params | {"fn": "max", "area": "TC"}).json()
    assert body["buckets"][0]["v"] == 1000


def test_restricted_datastreams_are_for_signed_in_users(
    client: TestClient, gauges: dict[str, Gauge], people: dict[str, User]
) -> None:
    path = f"/api/sensing/datastreams/{gauges['secret'].datastream_id}/aggregate"
    assert client.get(path, params={"from": FROM, "to": TO}).status_code == 404
    login(client, "staff.water@example.org")
    assert client.get(path, params={"from": FROM, "to": TO}).json()["buckets"][0]["v"] == 5


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "2026-03-02T08:00:00"}, "has no time zone"),
        ({"to": "yesterday"}, "to: 'yesterday' is not an ISO 8601 time"),
        ({"interval": "2w"}, "interval '2w' is not an interval"),
        ({"interval": "0h"}, "is not an interval"),
        ({"fn": "median"}, "fn 'median' is not one of mean, min, max, sum, count, last"),
        ({"from": TO, "to": FROM}, "must be before to"),
        ({"interval": "1m", "from": "2020-01-01T00:00:00Z"}, "Use a larger interval"),
    ],
)
def test_bad_aggregate_queries_say_what_to_fix(
    client: TestClient, gauges: dict[str, Gauge], params: dict[str, str], words: str
) -> None:
    path = f"/api/sensing/datastreams/{gauges['a'].datastream_id}/aggregate"
    response = client.get(path, params={"from": FROM, "to": TO} | params)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]


def test_intervals_reaching_past_the_calendar_are_handled(
    client: TestClient, gauges: dict[str, Gauge]
) -> None:
    path = f"/api/sensing/datastreams/{gauges['a'].datastream_id}/aggregate"
    response = client.get(path, params={"interval": "9999d"})  # default window: clamped
    assert response.status_code == 200, response.text
    response = client.get(path, params={"interval": "1000d", "from": "0001-01-01T00:00:00Z"})
    assert response.status_code == 400
    assert "before the year 1" in response.json()["error"]["message"]


def test_area_aggregate_needs_an_observed_property(
    client: TestClient, gauges: dict[str, Gauge]
) -> None:
    response = client.get("/api/sensing/aggregate", params={"area": "TC-W"})
    assert response.status_code == 400
    assert "observedProperty is required" in response.json()["error"]["message"]


def test_unknown_datastream_is_404(client: TestClient, gauges: dict[str, Gauge]) -> None:
    response = client.get("/api/sensing/datastreams/999999/aggregate")
    assert response.status_code == 404
    assert "no datastream 999999" in response.json()["error"]["message"]


def test_reading_too_many_stored_buckets_at_once_is_refused(
    db: Session, gauges: dict[str, Gauge]
) -> None:
    interval = aggregate.parse_interval("1d")
    start, end = T0 - timedelta(days=4000), T0
    with pytest.raises(InvalidInput, match="at most 1,000,000 are read at once"):
        aggregate.series(
            db,
            datastream_ids=list(range(1, 300)),
            interval=interval,
            start=start,
            end=end,
            fn="sum",
        )


def test_an_id_beyond_the_columns_range_is_refused_clearly(client: TestClient) -> None:
    response = client.get("/api/sensing/datastreams/3000000000/aggregate")
    assert response.status_code == 422
    assert "2147483647" in response.json()["error"]["message"]
