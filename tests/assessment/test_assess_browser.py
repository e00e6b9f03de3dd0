"""The assessment pages in Debian's Chromium: the charts and the map draw, the language
switches, and the weights editor keeps sums right before saving."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.auth import service as auth_service
from tests.assessment.conftest import ACTOR, AssessFixture
from tests.conftest import PASSWORD
from tests.geo.conftest import CityFixture
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, PAINTED, live_server, need_chromium

pytestmark = pytest.mark.browser
ANALYST = "analyst@example.org"
# Pixels of a chart's canvas that are not blank (the canvas is 0 × 0 before it draws).


@dataclass(frozen=True)
class Server:
    url: str
    peers_run: int
    area_run: int


@pytest.fixture
def server(
    database_url: str,
    engine: Engine,
    db: Session,
    assessed: AssessFixture,
    city: CityFixture,
) -> Iterator[Server]:
    """Framework T: a run of four cities with Monte Carlo, a run of the two districts."""
    need_chromium()
    peers_run = service.run_assessment(
        db,
        framework_code="T",
        unit_set=list(assessed.units),
        overrides={"uncertainty": {"runs": 30}},
        actor=ACTOR,
    )
    service.refresh_area_units(db, level="district", actor=ACTOR)
    service.set_values(
        db,
        records=[
            service.ValueRecord(unit, code, 2025, value)
            for unit, code, value in (
                ("TC-W", "T.A1", 70.0),
                ("TC-W", "T.A2", 30.0),
                ("TC-W", "T.B1", 30.0),
                ("TC-E", "T.A1", 90.0),
                ("TC-E", "T.A2", 20.0),
                ("TC-E", "T.B1", 20.0),
            )
        ],
        source="entered",
        actor=ACTOR,
    )
    area_run = service.run_assessment(
        db, framework_code="T", unit_set="areas:district", actor=ACTOR
    )
    auth_service.create_user(db, email=ANALYST, password=PASSWORD, roles=["analyst"], actor=ACTOR)
    db.commit()
    with live_server(database_url, engine) as url:
        yield Server(url, peers_run.id, area_run.id)


def _watch(page: Any) -> list[str]:
    """Script errors, console errors (a CSP violation, say) and failed requests."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    return errors


def test_an_analyst_reads_a_run_switches_language_and_edits_weights(
    server: Server, db: Session, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = _watch(page)
        try:
            page.goto(f"{server.url}/login")
            page.fill('input[name="email"]', ANALYST)
            page.fill('input[name="password"]', PASSWORD)
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("logout")).to_be_visible()

            # the results of a run: ranking, radar, bars, rank intervals
            page.goto(f"{server.url}/assess/runs/{server.peers_run}")
            expect(page.get_by_test_id("ranking").locator("tbody tr")).to_have_count(4)
            for chart in ("radar-chart", "bar-chart", "whisker-chart"):
                expect(page.get_by_test_id(chart)).to_have_attribute("data-ready", "true")
                assert page.evaluate(PAINTED, f"#{chart}") > 1000, chart
            page.select_option('[data-testid="bar-node"]', "T.B")
            expect(page.get_by_test_id("bar-chart")).to_have_attribute("data-ready", "true")
            page.screenshot(path=str(tmp_path / "run.png"), full_page=True)

            # 中文 and back: the page itself and its charts follow
            page.get_by_test_id("lang-zh-CN").click()
            expect(page.locator("h2#ranking")).to_have_text("排名")
            expect(page.get_by_test_id("radar-chart")).to_have_attribute("data-ready", "true")
            expect(page.get_by_test_id("ranking")).to_contain_text("甲市")
            page.screenshot(path=str(tmp_path / "run-zh.png"), full_page=True)
            page.get_by_test_id("lang-en").click()
            expect(page.locator("h2#ranking")).to_have_text("Ranking")

            # districts: the map coloured by index score
            page.goto(f"{server.url}/assess/runs/{server.area_run}")
            expect(page.get_by_test_id("run-map")).to_have_attribute("data-ready", "true")
            expect(page.get_by_test_id("run-map-legend").locator("li")).to_have_count(6)
            page.screenshot(path=str(tmp_path / "districts.png"), full_page=True)

            # the weights editor: a sum that breaks shows at once, "rescale" mends it
            page.goto(f"{server.url}/assess/frameworks/T")
            total = page.get_by_test_id("sum-T.A")
            expect(total).to_have_text("Σ 60 / 60")
            expect(page.get_by_test_id("rescale-T.A")).to_be_hidden()
            page.get_by_test_id("weight-T.A1").fill("40")
            expect(total).to_have_text("Σ 70 / 60")
            expect(total).to_have_class("group-sum bad")
            expect(page.get_by_test_id("weights-status")).to_contain_text("1 group")
            page.get_by_test_id("rescale-T.A").click()
            expect(page.get_by_test_id("weight-T.A1")).to_have_value("40")
            expect(page.get_by_test_id("weight-T.A2")).to_have_value("20")
            expect(total).to_have_text("Σ 60 / 60")
            expect(page.get_by_test_id("rescale-T.A")).to_be_hidden()
            page.get_by_test_id("framework-tree").locator(
                'tr[data-code="T.A"] [data-toggle]'
            ).click()
            expect(page.locator('tr[data-code="T.A1"]')).to_be_hidden()
            page.screenshot(path=str(tmp_path / "weights.png"), full_page=True)
            page.get_by_test_id("save-weights").click()
            expect(page.get_by_test_id("notice")).to_have_text("Weights saved.")

            db.rollback()
            framework = service.get_framework(db, code="T")
            assert [framework.node(code).weight for code in ("T.A1", "T.A2")] == [40, 20]
            assert not errors, errors
        finally:
            browser.close()
