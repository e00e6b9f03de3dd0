"""The sensing pages in Debian's Chromium (Playwright): the map shows a marker per sensor and
the datastream chart draws, in English and in Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.sensing.readings import Reading
from cityos.sensing.simulate import Member, Simulator
from cityos.sensing.store import store_readings
from tests import live_server as live
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, PAINTED, need_chromium
from tests.sensing.sim_support import seed_fleet

pytestmark = pytest.mark.browser


def history(members: list[Member], hours: int) -> list[Reading]:
    """Hourly readings of every device over the last ``hours`` hours."""
    simulator = Simulator(members, seed=5, fault_chance=0.0)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    out: list[Reading] = []
    for hour in range(hours):
        out += simulator.tick(start + timedelta(hours=hour))
    return out


@pytest.fixture
def sensing_server(database_url: str, engine: Engine, db: Session) -> Iterator[tuple[str, int]]:
    need_chromium()
    members = seed_fleet(db, 6)
    store_readings(db, history(members, 48))
    db.commit()
    with live.live_server(database_url, engine) as url:
        yield url, members[0].datastream_id


@pytest.mark.parametrize(
    ("locale", "title", "water"),
    [("en-US", "Sensors map", "Street water level"), ("zh-CN", "传感器地图", "道路积水水位")],
)
def test_the_map_shows_the_sensors_and_the_datastream_chart_draws(
    sensing_server: tuple[str, int], locale: str, title: str, water: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, datastream_id = sensing_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda response: (
                problems.append(f"{response.status} {response.url}")
                if response.status >= 400 and not response.url.endswith("/favicon.ico")
                else None
            ),
        )
        try:
            page.goto(f"{url}/sensing")
            expect(page.locator("h1")).to_have_text(title)
            sensor_map = page.get_by_test_id("sensor-map")
            expect(sensor_map).to_have_attribute("data-ready", "true", timeout=20_000)
            expect(sensor_map).to_have_attribute("data-markers", "6")
            assert sensor_map.locator("path.leaflet-interactive").count() >= 6

            page.get_by_test_id("filter-property").select_option(label=water)  # one gauge
            expect(sensor_map).to_have_attribute("data-ready", "true", timeout=20_000)
            expect(sensor_map).to_have_attribute("data-markers", "1")

            page.goto(f"{url}/sensing/datastreams/{datastream_id}")
            chart = page.get_by_test_id("datastream-chart")
            expect(chart).to_have_attribute("data-ready", "true", timeout=20_000)
            assert int(chart.get_attribute("data-points") or "0") >= 40
            assert page.evaluate(PAINTED, "#datastream-chart") > 0

            page.get_by_test_id("chart-range").select_option("30d|1d")
            # data-ready may still say true from the last load: wait for the new points
            expect(chart).to_have_attribute("data-points", re.compile(r"^[23]$"), timeout=20_000)
            expect(chart).to_have_attribute("data-ready", "true", timeout=20_000)
        finally:
            context.close()
            browser.close()
        assert problems == []
