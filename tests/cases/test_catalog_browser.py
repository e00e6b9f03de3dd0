"""The catalog form's attribute editor and the routing map, in Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.cases import catalog
from cityos.db import make_session_factory, transaction
from cityos.demo.catalog import seed_catalog
from cityos.demo.city import seed_areas
from cityos.demo.people import DEMO_PASSWORD, seed_departments, seed_users
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, live_server, need_chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def catalog_server(database_url: str, engine: Engine) -> Iterator[str]:
    """The demo city's people, map and catalog (no cases) served by uvicorn in a thread."""
    need_chromium()
    with transaction(make_session_factory(engine)) as db_session:
        for step in (seed_departments, seed_users, seed_areas, seed_catalog):
            step(db_session)
    with live_server(database_url, engine) as url:
        yield url


def test_admin_builds_a_category_with_the_attribute_editor_and_sees_the_routing_map(
    catalog_server: str, db: Session, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(  # e.g. a CSP violation (failed requests are checked below)
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
        try:
            page.goto(f"{catalog_server}/login")
            page.fill('input[name="email"]', "admin@example.org")
            page.fill('input[name="password"]', DEMO_PASSWORD)
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("logout")).to_be_visible()

            page.goto(f"{catalog_server}/admin/catalog/new")
            page.fill('input[name="service_code"]', "GRAFFITI")
            page.select_option('select[name="group"]', "order")
            page.fill('input[name="name_zh"]', "乱涂乱画")
            page.fill('input[name="name_en"]', "Graffiti")
            page.fill('textarea[name="keywords"]', "涂鸦, graffiti")
            page.select_option('select[name="department"]', "CMB")
            page.fill('input[name="sla_normal_acknowledge"]', "24")
            page.fill('input[name="sla_normal_resolve"]', "96")

            rows = page.locator("#attr-list [data-attr-row]")
            page.get_by_test_id("attr-add").click()
            first = rows.nth(0)
            first.locator('input[name="attr_code"]').fill("note")
            first.locator('input[name="attr_description_zh"]').fill("补充")
            first.locator('input[name="attr_description_en"]').fill("Anything else?")
            expect(first.locator("[data-values]")).to_be_hidden()

            page.get_by_test_id("attr-add").click()
            second = rows.nth(1)
            second.locator('input[name="attr_code"]').fill("surface")
            second.locator('select[name="attr_datatype"]').select_option("singlevaluelist")
            expect(second.locator("[data-values]")).to_be_visible()
            second.locator('select[name="attr_required"]').select_option("1")
            second.locator('input[name="attr_description_zh"]').fill("在什么上面？")
            second.locator('input[name="attr_description_en"]').fill("On what?")
            second.locator('textarea[name="attr_values"]').fill("wall | 墙 | Wall\nbus | 车 | Bus")
            second.locator('button[data-action="up"]').click()  # surface first

            page.get_by_test_id("attr-add").click()
            rows.nth(2).locator('button[data-action="remove"]').click()
            expect(rows).to_have_count(2)

            page.get_by_test_id("save-category").click()
            expect(page.get_by_test_id("notice")).to_have_text("Category GRAFFITI saved.")

            db.expire_all()
            category = catalog.get_category(db, service_code="GRAFFITI")
            assert [a.code for a in category.attributes] == ["surface", "note"]
            assert category.attributes[0].required
            assert [v["key"] for v in category.attributes[0].values] == ["wall", "bus"]

            page.goto(f"{catalog_server}/admin/routing?service=STREET-VENDOR")
            expect(page.get_by_test_id("routing-map")).to_have_attribute("data-ready", "true")
            legend = page.get_by_test_id("ownership-legend")
            expect(legend.locator('[data-testid="legend-GRID"]')).to_contain_text("GRID")
            expect(legend.locator('[data-testid="legend-CMB"]')).to_be_visible()
            page.select_option("#ownership-service", "OTHER")
            expect(legend.locator('[data-testid="legend-triage"]')).to_contain_text("Triage")
            page.select_option("#ownership-level", "grid")
            expect(page.get_by_test_id("routing-map")).to_have_attribute("data-ready", "true")
            page.screenshot(path=str(tmp_path / "routing.png"))
            assert not errors, errors
        finally:
            browser.close()
