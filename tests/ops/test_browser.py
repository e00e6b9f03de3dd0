"""The operations center in Debian's Chromium (Playwright): the normal screen (English) and
the wall (Chinese) draw their map layers, tiles and charts; a reading over an alert rule's
threshold and a new case appear on both open screens without reloading; acknowledging the
alert on one screen updates the other; a case dispatched from the alert's panel shows on the
other screen's alert, and one dispatched at a point clicked on the map appears on both maps;
drilling down to a grid cell outlines that cell among its neighbours (whose names, like every
name, are text, never HTML). Screenshots of both layouts go to the test's tmp_path.

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
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel
from cityos.sensing import rules
from cityos.sensing.models import Alert
from cityos.sensing.readings import Reading
from cityos.sensing.simulate import Simulator, ensure_fleet
from cityos.sensing.store import store_readings
from tests import live_server as live
from tests.cases.conftest import EAST_NORTH_POINT, WEST_POINT, CatalogFixture, services
from tests.conftest import PASSWORD
from tests.geo.conftest import EQUATOR, MIDDLE, SOUTH, WEST, box, city
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, PAINTED, need_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["city", "services"]  # fixtures used here

pytestmark = pytest.mark.browser

ACTOR = Actor.system("test")
POLICY = cases_service.CasePolicy(base_url="http://testserver")
OPERATOR = "operator@example.org"
LIVE_WAIT = 10_000  # ms: an event reaches the screen within a second; leave room for CI
CHARTS = ("cases_per_hour", "top_categories", "sla_by_department", "sensor_trend")
CELL = "TC-W-S-1"  # the west half of sub-district TC-W-S (WEST_POINT is in it)
CELL_NAME = "网格<b>一</b>"  # markup in a name must show as text
HALF = (WEST + MIDDLE) / 2
# Clicking an area shows it (and a dispatch form for the point): fire a click on one polygon.
CLICK_AREA = """(code) => {
  let found = null;
  window.CityOps.mapkit.groups.areas.eachLayer((layer) => {
    if (layer.feature.properties.code === code) found = layer;
  });
  if (found) found.fire('click', {latlng: found.getBounds().getCenter()});
  return Boolean(found);
}"""
# Page coordinates of a place in district TC-E (south half) where only an area is drawn
# (no marker on top), so that a real click there lands on the map.
FREE_POINT = """() => {
  const map = window.CityOps.map;
  const box = map.getContainer().getBoundingClientRect();
  for (const lon of [120.14, 120.13, 120.12, 120.11]) {
    for (const lat of [30.16, 30.17, 30.18]) {
      const at = map.latLngToContainerPoint([lat, lon]);
      const x = box.left + at.x, y = box.top + at.y;
      const hit = document.elementFromPoint(x, y);
      if (hit && hit.classList.contains('ops-area')) return [x, y];
    }
  }
  return null;
}"""


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
    """Two grid cells in TC-W-S, six sensors with a day of hourly readings, three cases (one
    resolved by its department), an alert rule (naming no case category), and an operator."""
    need_chromium()
    cells = [
        geo_service.AreaInput(
            code=code, name_zh=name, name_en=name, level=AreaLevel.GRID, geometry=shape
        )
        for code, name, shape in (
            (CELL, CELL_NAME, box(WEST, SOUTH, HALF, EQUATOR)),
            ("TC-W-S-2", "网格二", box(HALF, SOUTH, MIDDLE, EQUATOR)),
        )
    ]
    geo_service.upsert_areas(db, areas=cells, actor=ACTOR)
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


def dispatched_case(page: Page) -> int:
    """The case the panel says was dispatched (its link appears once the server said 201)."""
    from playwright.sync_api import expect

    link = page.get_by_test_id("dispatched-link")
    expect(link).to_be_visible(timeout=LIVE_WAIT)
    found = re.fullmatch(r"/staff/cases/(\d+)", link.get_attribute("href") or "")
    assert found, link.get_attribute("href")
    return int(found.group(1))


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
                # readings keep to one line of the ticker: how many came in the last minute
                readings = page.locator('#ops-ticker li[data-kind="readings"]')
                expect(readings).to_have_attribute("data-readings", re.compile(r"^[1-9]"))

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
            # the desk dispatches a case from the alert's panel: the form is prefilled
            expect(normal.get_by_test_id("dispatch-form")).to_be_visible()
            expect(normal.get_by_test_id("dispatch-description")).to_have_value(alert.message)
            expect(normal.get_by_test_id("dispatch-category")).to_have_value("FLOODING")  # first
            normal.get_by_test_id("dispatch-submit").click()
            alert_case = dispatched_case(normal)
            expect(normal.get_by_test_id("alert-case")).to_have_text(f"#{alert_case}")
            expect(normal.get_by_test_id("dispatch-form")).to_be_hidden()
            # … and the wall, still on that alert, shows its case
            expect(wall.get_by_test_id("alert-case")).to_have_text(
                f"#{alert_case}", timeout=LIVE_WAIT
            )
            expect(wall.get_by_test_id("alert-case").locator("a")).to_have_attribute(
                "href", f"/staff/cases/{alert_case}"
            )
            expect(wall.get_by_test_id("dispatch-form")).to_be_hidden()
            expect(wall.locator(f".ops-alert-{alert.id}.has-case")).to_have_count(1)
            expect(wall.get_by_test_id("ops-ticker")).to_contain_text(f"#{alert_case}")
            wall.screenshot(path=str(tmp_path / "ops-wall-live.png"))

            # a case dispatched at a point clicked on the map appears on both screens
            normal.get_by_test_id("panel-close").click()
            point = normal.evaluate(FREE_POINT)
            assert point, "no free place on the map to click"
            normal.mouse.click(point[0], point[1])
            expect(normal.get_by_test_id("panel-body")).to_contain_text("(TC-E)")
            normal.get_by_test_id("dispatch-category").select_option("NOISE")
            normal.get_by_test_id("dispatch-description").fill("Generator running all night")
            normal.get_by_test_id("dispatch-submit").click()
            map_case = dispatched_case(normal)
            for page in (normal, wall):
                expect(page.get_by_test_id("ops-map")).to_have_attribute(
                    "data-newest-case", str(map_case), timeout=LIVE_WAIT
                )
            expect(wall.get_by_test_id("ops-ticker")).to_contain_text(f"#{map_case} 噪声扰民")

            # drilling into a district colours its sub-districts; the URL keeps the choice
            normal.get_by_test_id("ops-area").select_option("TC-W")
            expect(normal.get_by_test_id("ops-crumbs")).to_contain_text("西区")
            expect(normal).to_have_url(re.compile(r"/ops\?range=today&area=TC-W$"))
            expect(normal.get_by_test_id("ops-map")).to_have_attribute(
                "data-areas-level", "subdistrict"
            )
            # the cases layer follows: the case dispatched in TC-E is no longer the newest
            in_west = re.compile(rf"^({new_case}|{alert_case})$")  # (the sensor may be east)
            expect(normal.get_by_test_id("ops-map")).to_have_attribute("data-newest-case", in_west)

            # … then to a sub-district's grid cells, and to one cell: it is outlined among
            # its neighbours, and its name (markup and all) is shown as text
            ops_map = normal.get_by_test_id("ops-map")
            assert normal.evaluate(CLICK_AREA, "TC-W-S")
            normal.get_by_test_id("drill-down").click()
            expect(ops_map).to_have_attribute("data-areas-level", "grid")
            expect(ops_map).to_have_attribute("data-areas", "2")
            assert normal.evaluate(CLICK_AREA, CELL)
            expect(normal.get_by_test_id("panel-body").locator("h2")).to_have_text(
                f"{CELL_NAME} ({CELL})"
            )
            normal.get_by_test_id("drill-down").click()
            expect(normal).to_have_url(re.compile(rf"/ops\?range=today&area={CELL}$"))
            expect(ops_map).to_have_attribute("data-areas-selected", CELL)
            expect(ops_map).to_have_attribute("data-areas", "2")  # the cell and its neighbour
            expect(ops_map.locator("path.ops-area-selected")).to_have_count(1)
            expect(normal.get_by_test_id("ops-crumbs")).to_contain_text(CELL_NAME)
            expect(normal.get_by_test_id("map-notice")).to_be_hidden()
            normal.evaluate(
                "() => window.CityOps.mapkit.groups.areas.eachLayer((l) => l.openTooltip())"
            )
            expect(normal.locator(".leaflet-tooltip").first).to_contain_text("<b>")
            expect(normal.locator(".leaflet-tooltip b")).to_have_count(0)
            normal.screenshot(path=str(tmp_path / "ops-grid.png"), full_page=True)
        finally:
            english.close()
            chinese.close()
            browser.close()
    assert problems == []
