"""End to end in Debian's Chromium, driven by Playwright, against a real uvicorn server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cityos.db import make_session_factory, transaction
from cityos.demo import DEMO_PASSWORD, seed
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, live_server, need_chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_server(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The demo city served by uvicorn in a thread; yields its base URL.

    With small histories, as in tests/demo: the map needs the city, not 10 million readings.
    """
    monkeypatch.setattr("cityos.demo.datahub.BIG_ROWS", 2_000)
    monkeypatch.setattr("cityos.demo.sensing.SENSORS", 60)
    monkeypatch.setattr("cityos.demo.sensing.BIG_OBSERVATIONS", 30_000)
    monkeypatch.setattr("cityos.demo.sensing.SMALL_OBSERVATIONS", 20_000)
    with transaction(make_session_factory(engine)) as db_session:
        seed(db_session)
    with live_server(database_url, engine) as url:
        yield url


def test_sign_in_switch_language_and_find_a_grid_cell_on_the_map(
    demo_server: str, tmp_path: Path
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(f"{demo_server}/login")
            page.fill('input[name="email"]', "admin@example.org")
            page.fill('input[name="password"]', DEMO_PASSWORD)
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("logout")).to_have_text("Sign out")

            page.get_by_test_id("lang-zh-CN").click()
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.get_by_test_id("logout")).to_have_text("退出登录")
            page.get_by_test_id("lang-en").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.get_by_test_id("logout")).to_have_text("Sign out")

            page.goto(f"{demo_server}/admin/areas")
            area_map = page.get_by_test_id("areas-map")
            expect(area_map).to_have_attribute("data-ready", "true", timeout=20_000)
            box = area_map.bounding_box()
            assert box is not None
            area_map.click(position={"x": box["width"] * 0.45, "y": box["height"] * 0.55})

            cell = page.get_by_test_id("area-grid")
            expect(cell).to_have_text(re.compile(r"^MH-G\d{6}$"), timeout=10_000)
            expect(page.get_by_test_id("area-city")).to_have_text(re.compile(r"^MH · "))
            page.screenshot(path=str(tmp_path / "areas-map.png"), full_page=True)

            lon, lat = (float(v) for v in page.get_by_test_id("area-point").inner_text().split(","))
            located = page.request.get(f"{demo_server}/api/geo/locate?lon={lon}&lat={lat}").json()
            assert cell.inner_text() == located["areas"][0]["code"]
        finally:
            browser.close()
    assert (tmp_path / "areas-map.png").stat().st_size > 10_000
