"""End to end in Debian's Chromium, driven by Playwright, against a real uvicorn server."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from cityos.app import create_app
from cityos.config import Settings
from cityos.db import make_session_factory, transaction
from cityos.demo import DEMO_PASSWORD, seed
from tests.conftest import need_service

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def demo_server(database_url: str, engine: Engine) -> Iterator[str]:
    """The demo city served by uvicorn in a thread; yields its base URL."""
    with transaction(make_session_factory(engine)) as db_session:
        seed(db_session)
    port = free_port()
    settings = Settings(
        database_url=database_url,
        secret_key="browser-test-secret",
        base_url=f"http://127.0.0.1:{port}",
        map_tile_url="",  # no network here: the map draws the areas on a plain background
        default_language="en",
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sign_in_switch_language_and_find_a_grid_cell_on_the_map(
    demo_server: str, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        need_service("Debian's chromium is not installed (apt-get install -y chromium)")
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
