"""The ops API as a whole: each app keeps one figure cache that listens to the bus while the
app runs — a new case shows at once, a cached figure is reused, shutdown unsubscribes."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos import events
from cityos.app import create_app
from cityos.config import Settings
from cityos.ops.api import router
from cityos.ops.cache import FigureCache
from tests.cases.conftest import city, services
from tests.ops.ops_support import get, operator, seed_cases

__all__ = ["city", "operator", "services"]


def cases_new(client: TestClient, headers: dict[str, str]) -> int:
    document = get(client, headers, "/api/ops/summary")
    value: int = document["tiles"][0]["value"]
    return value


def test_the_apps_cache_is_dropped_by_a_new_case_and_stops_listening_at_shutdown(
    settings: Settings, engine: Engine, operator: dict[str, str], db: Session
) -> None:
    with TestClient(create_app(settings, engine=engine)) as client:
        cache = client.app.state.ops_cache  # type: ignore[attr-defined]
        assert isinstance(cache, FigureCache)
        assert cache.ttl == 10
        assert cases_new(client, operator) == 0
        assert len(cache) > 0
        seed_cases(db, west=1, east=0)  # cases.changed after commit drops the case parts
        assert cases_new(client, operator) == 1
        kept = len(cache)
    events.publish("cases.changed", {"id": 1, "kind": "status"})
    assert len(cache) == kept  # no longer subscribed


def test_a_zero_cache_time_computes_every_figure_afresh(
    settings: Settings, engine: Engine, operator: dict[str, str]
) -> None:
    off = settings.model_copy(update={"ops_cache_seconds": 0})
    with TestClient(create_app(off, engine=engine)) as client:
        get(client, operator, "/api/ops/summary")
        assert len(client.app.state.ops_cache) == 0  # type: ignore[attr-defined]


def test_every_ops_api_endpoint_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "ops.md").read_text("utf-8")
    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) == 7
    for route in routes:
        for method in route.methods or ():
            entry = f"`{method} {route.path}`"
            assert entry in text, f"{entry} is not in docs/ops.md"
