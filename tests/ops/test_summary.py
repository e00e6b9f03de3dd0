"""The KPI tiles: what they count for the city and for an area, how their parts are cached
and dropped by events, and how a missing module shows."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.db import utcnow
from cityos.ops import summary as summary_module
from cityos.ops.cache import FigureCache
from cityos.ops.filters import parse_filters
from cityos.ops.summary import TILE_KEYS, summary
from tests.cases.conftest import CatalogFixture, city, services
from tests.ops.ops_support import get, operator, seed_cases
from tests.sensing.alerts_support import feed, make_gauge, make_rule

__all__ = ["city", "operator", "services"]


def tiles(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tile["key"]: tile for tile in document["tiles"]}


def test_the_summary_counts_todays_cases_and_lists_every_tile_in_order(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    seed_cases(db, west=2, east=1)
    document = get(client, operator, "/api/ops/summary")
    assert [tile["key"] for tile in document["tiles"]] == list(TILE_KEYS)
    assert document["range"] == "today"
    assert document["area"] is None
    assert document["modules"] == {"cases": True, "sensing": True, "datahub": True}
    assert set(document["period"]) == {"start", "end"}
    by_key = tiles(document)
    assert by_key["cases_new"] | {"detail": None} == {
        "key": "cases_new",
        "value": 3,
        "previous": 0,
        "unit": "count",
        "better": None,
        "detail": None,
        "available": True,
    }
    assert by_key["cases_open"]["value"] == 3
    assert by_key["cases_open"]["previous"] == 0  # all three were opened today
    assert by_key["sla_pct"]["value"] is None  # nothing ended yet
    assert by_key["alerts_active"]["detail"]["by_severity"]["critical"] == 0
    assert by_key["datasets_open_pct"]["value"] is None  # nothing published


def test_an_area_narrows_the_tiles_to_its_cases_and_sensors(
    client: TestClient, operator: dict[str, str], db: Session
) -> None:
    seed_cases(db, west=2, east=1)
    gauge = make_gauge(db)  # in TC-W-S
    make_rule(db, datastream_id=gauge.datastream_id)
    feed(db, gauge.datastream_id, [30], start=utcnow())
    db.commit()
    west = get(client, operator, "/api/ops/summary?area=TC-W&range=7d")
    assert west["area"] == {
        "code": "TC-W",
        "level": "district",
        "name_en": "西区",
        "name_zh": "西区",
    }
    assert tiles(west)["cases_new"]["value"] == 2
    assert tiles(west)["alerts_active"]["value"] == 1
    assert tiles(west)["sensors_reporting_pct"]["detail"] == {"reporting": 1, "datastreams": 1}
    east = tiles(get(client, operator, "/api/ops/summary?area=TC-E-N&range=7d"))
    assert (east["cases_new"]["value"], east["alerts_active"]["value"]) == (1, 0)
    assert east["sensors_reporting_pct"]["value"] is None  # no sensor there


def test_a_reading_drops_the_sensor_part_and_keeps_the_cached_case_figures(
    db: Session, services: CatalogFixture
) -> None:
    cache = FigureCache(60)
    seed_cases(db, west=1, east=0)
    filters = parse_filters(db, range_="today", area=None, now=utcnow(), timezone="Asia/Shanghai")
    assert tiles(summary(db, filters=filters, cache=cache))["cases_new"]["value"] == 1
    seed_cases(db, west=1, east=0)  # no event reaches this cache: it is not subscribed
    cache.on_event("sta.changed", {"entity": "Observation", "op": "create", "ids": [1]})
    assert tiles(summary(db, filters=filters, cache=cache))["cases_new"]["value"] == 1
    cache.on_event("cases.changed", {"id": 2, "kind": "submitted"})
    assert tiles(summary(db, filters=filters, cache=cache))["cases_new"]["value"] == 2


def test_a_figure_being_computed_when_its_group_is_dropped_is_not_kept() -> None:
    cache = FigureCache(60)

    def racing() -> int:
        cache.drop(["cases"])  # an event arrives while the figure is computed
        return 1

    assert cache.get("cases.counts", "k", racing) == 1
    assert cache.get("cases.counts", "k", lambda: 2) == 2
    assert cache.get("cases.counts", "k", lambda: 3) == 2  # kept this time


def test_entries_expire_and_ttl_zero_turns_the_cache_off() -> None:
    clock = [0.0]
    cache = FigureCache(10, clock=lambda: clock[0])
    assert cache.get("alerts.board", "", lambda: 1) == 1
    clock[0] = 9.0
    assert cache.get("alerts.board", "", lambda: 2) == 1
    clock[0] = 10.5
    assert cache.get("alerts.board", "", lambda: 3) == 3
    off = FigureCache(0)
    assert [off.get("x", "", lambda: 1), off.get("x", "", lambda: 2)] == [1, 2]
    assert len(off) == 0


def test_a_module_that_is_not_installed_shows_its_tiles_as_unavailable(
    client: TestClient, operator: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary_module, "installed", lambda module: module != "datahub")
    document = get(client, operator, "/api/ops/summary")
    assert document["modules"]["datahub"] is False
    fresh = tiles(document)["datasets_fresh_pct"]
    assert (fresh["available"], fresh["value"], fresh["unit"]) == (False, None, "pct")
    assert tiles(document)["cases_new"]["available"] is True
