"""The operations center in Debian's Chromium (Playwright): the normal screen (English) and
the wall (Chinese) draw their map layers, tiles and charts; a reading over an alert rule's
threshold and a new case appear on both open screens without reloading; acknowledging the
alert on one screen updates the other. Screenshots of both layouts go to the test's tmp_path.

One server and two page loads for all of it: the browser suite must stay quick.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.cases import service as cases_service
from cityos.sensing import rules
from cityos.sensing.models import Alert
from cityos.sensing.readings import Reading
from cityos.sensing.simulate import Simulator, ensure_fleet
from cityos.sensing.store import store_readings
from tests import live_server as live
from tests.cases.conftest import EAST_NORTH_POINT, WEST_POINT, CatalogFixture, services
from tests.conftest import PASSWORD
from tests.geo.conftest import city
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, need_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["city", "services"]  # fixtures used here

pytestmark = pytest.mark.browser

ACTOR = Actor.system("test")
POLICY = cases_service.CasePolicy(base_url="http://testserver")
OPERATOR = "operator@example.org"
LIVE_WAIT = 10_000  # ms: an event reaches the screen within a second; leave room for CI
PAINTED = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
  return painted;
}"""
CHARTS = ("cases_per_hour", "top_categories", "sla_by_department", "sensor_trend")


@dataclass(frozen=True)
class Seeded:
    url: str
    watched: int  # the datastream with an alert rule (threshold 1000)


def open_case(db: Session, code: str, point: tuple[float, float], text: str) -> int:
    case = cases_service.open_case(
        db,
        cases_service.CaseInput(service_code=code, lon=point[0], lat=point[1], description=text),
        actor=ACTOR,
        policy=POLICY,
    )
    db.flush()
    return case.id


@pytest.fixture
def ops_server(
    database_url: str, engine: Engine, db: Session, services: CatalogFixture
) -> Iterator[Seeded]:
    """Six sensors with a day of hourly readings, three cases (one resolved by its
    department), an alert rule, and an operator."""
    need_chromium()
    members = ensure_fleet(db, 6, rng=np.random.default_rng(1))
    simulator = Simulator(members, seed=5, fault_chance=0.0)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=24)
    readings: list[Reading] = []
    for hour in range(25):
        readings += simulator.tick(start + timedelta(hours=hour))
    store_readings(db, readings)
    rules.create_rule(
        db,
        data=rules.RuleInput(
            name="Gauge over 1000",
            kind="above",
            severity="critical",
            datastream_id=members[0].datastream_id,
            threshold=1000.0,
        ),
        actor=ACTOR,
    )
    flooded = open_case(db, "FLOODING", WEST_POINT, "Water over the kerb")
    open_case(db, "FLOODING", EAST_NORTH_POINT, "Street under water")
    open_case(db, "NOISE", EAST_NORTH_POINT, "Drilling at night")
    water = services.people["water"]
    case = cases_service.get_case(db, case_id=flooded)
    cases_service.change_status(
        db,
        case,
        to="resolved",
        note="Drain cleared",
        user=water,
        actor=Actor(user_id=water.id, label=water.email),
        policy=POLICY,
    )
    auth_service.create_user(db, email=OPERATOR, password=PASSWORD, roles=["operator"], actor=ACTOR)
    db.commit()
    with live.live_server(database_url, engine) as url:
        yield Seeded(url, members[0].datastream_id)


def sign_in(page: Page, url: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.fill('input[name="email"]', OPERATOR)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_test_id("login-submit").click()


def test_the_screen_draws_everything_in_both_languages_and_follows_live_events(
    ops_server: Seeded, db: Session, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = ops_server.url
    problems: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda response: (
                problems.append(f"{response.status} {response.url}")
                if response.status >= 400 and not response.url.endswith("/favicon.ico")
                else None
            ),
        )

    def drawn(page: Page) -> None:
        """Map layers, tiles and charts hold data (wait for the data, not for flags)."""
        ops_map = page.get_by_test_id("ops-map")
        for layer in ("areas", "sensors", "alerts", "cases"):
            expect(ops_map).to_have_attribute(f"data-{layer}-loaded", "true", timeout=20_000)
        expect(ops_map).to_have_attribute("data-areas", "2")  # the two districts
        expect(ops_map).to_have_attribute("data-areas-level", "district")
        expect(ops_map).to_have_attribute("data-sensors", re.compile(r"^[1-9]"))
        expect(ops_map).to_have_attribute("data-cases", "3")
        assert ops_map.locator("path.leaflet-interactive").count() >= 3
        assert ops_map.locator(".marker-cluster, path.leaflet-interactive").count() > 0
        tiles = page.get_by_test_id("ops-tiles")
        expect(tiles).to_have_attribute("data-count", "10", timeout=20_000)
        expect(page.get_by_test_id("tile-cases_new")).to_have_attribute("data-value", "3")
        expect(page.get_by_test_id("tile-cases_open")).to_have_attribute("data-value", "2")
        for name in CHARTS:
            chart = page.get_by_test_id(f"chart-{name}")
            expect(chart).to_have_attribute("data-ready", "true", timeout=20_000)
            assert int(chart.get_attribute("data-points") or "0") > 0, name
            assert page.evaluate(PAINTED, f"#chart-{name}") > 0, name
        expect(page.get_by_test_id("ops-live")).to_have_attribute("data-state", "live")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        english = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
        chinese = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        try:
            normal = english.new_page()
            watch(normal)
            sign_in(normal, url, "/ops")
            expect(normal.locator("h1")).to_have_text("Operations center")
            drawn(normal)
            expect(normal.get_by_test_id("tile-sla_pct")).to_contain_text("SLA compliance")
            normal.screenshot(path=str(tmp_path / "ops-normal.png"), full_page=True)

            wall = chinese.new_page()
            watch(wall)
            sign_in(wall, url, "/ops/wall")
            expect(wall.locator("h1")).to_have_text("城市运行态势")
            drawn(wall)
            expect(wall.get_by_test_id("tile-cases_new")).to_contain_text("新增案件")
            fits = "() => [document.documentElement.scrollHeight, window.innerHeight]"
            height, viewport = wall.evaluate(fits)
            assert height <= viewport, "the wall must fit the screen without scrolling"
            wall.screenshot(path=str(tmp_path / "ops-wall.png"))

            # a reading over the rule's threshold, and a citizen's case: both screens show them
            store_readings(
                db,
                [Reading(ops_server.watched, None, datetime.now(UTC), None, 5000.0)],
            )
            db.commit()
            alert = db.query(Alert).filter_by(datastream_id=ops_server.watched).one()
            new_case = open_case(db, "NOISE", WEST_POINT, "Loud music")
            db.commit()
            for page in (normal, wall):
                ops_map = page.get_by_test_id("ops-map")
                expect(ops_map).to_have_attribute(
                    "data-alert-ids", str(alert.id), timeout=LIVE_WAIT
                )
                expect(ops_map).to_have_attribute(
                    "data-newest-case", str(new_case), timeout=LIVE_WAIT
                )
                expect(page.locator(f".ops-alert-{alert.id}.pulsing")).to_have_count(1)
                expect(page.get_by_test_id("ops-ticker")).to_contain_text(f"#{alert.id}")

            # the wall looks at the alert; the operator at the desk acknowledges it
            wall.locator(f".ops-alert-{alert.id}").click()
            expect(wall.get_by_test_id("alert-state")).to_have_text("未确认")
            normal.locator(f".ops-alert-{alert.id}").click()
            normal.get_by_test_id("acknowledge").click()
            expect(normal.get_by_test_id("alert-state")).to_have_text("Acknowledged")
            expect(wall.get_by_test_id("alert-state")).to_have_text("已确认", timeout=LIVE_WAIT)
            expect(wall.locator(f".ops-alert-{alert.id}.pulsing")).to_have_count(0)
            expect(wall.get_by_test_id("ops-map")).to_have_attribute(
                "data-alerts-unacknowledged", "0"
            )
            # a note written at the desk shows under the same alert on the wall
            normal.get_by_test_id("note-text").fill("Crew on the way")
            normal.get_by_test_id("note-submit").click()
            expect(wall.get_by_test_id("notes-list")).to_contain_text(
                "Crew on the way", timeout=LIVE_WAIT
            )
            wall.screenshot(path=str(tmp_path / "ops-wall-live.png"))

            # drilling into a district colours its sub-districts; the URL keeps the choice
            normal.get_by_test_id("ops-area").select_option("TC-W")
            expect(normal.get_by_test_id("ops-crumbs")).to_contain_text("西区")
            expect(normal).to_have_url(re.compile(r"/ops\?range=today&area=TC-W$"))
            expect(normal.get_by_test_id("ops-map")).to_have_attribute(
                "data-areas-level", "subdistrict"
            )
            expect(normal.get_by_test_id("ops-map")).to_have_attribute(
                "data-newest-case", str(new_case)
            )
        finally:
            english.close()
            chinese.close()
            browser.close()
    assert problems == []
