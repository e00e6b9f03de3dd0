"""The citizen's report form on a phone, end to end in Debian's Chromium (Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.cases import service
from tests.cases.conftest import WEST_POINT, CatalogFixture
from tests.cases.intake_support import png
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, live_server, need_chromium

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def city_server(database_url: str, engine: Engine, services: CatalogFixture) -> Iterator[str]:
    """The test city and catalog served by uvicorn in a thread; yields its base URL."""
    with live_server(database_url, engine) as url:
        yield url


def test_a_citizen_reports_a_pothole_from_a_phone_and_tracks_it(
    city_server: str, db: Session, tmp_path: Path
) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    existing = service.open_case(
        db,
        service.CaseInput(
            service_code="POTHOLE",
            lon=WEST_POINT[0],
            lat=WEST_POINT[1],
            description="Hole near the bus stop",
            attributes={"size": "large"},
        ),
        actor=Actor(None, "citizen", "192.0.2.50"),
        policy=service.CasePolicy(),
    )
    db.commit()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="en-US",
            geolocation={"latitude": WEST_POINT[1], "longitude": WEST_POINT[0]},
            permissions=["geolocation"],
        )
        page = context.new_page()
        try:
            page.goto(f"{city_server}/report")
            page.get_by_test_id("service-search").fill("pothole")
            expect(page.get_by_test_id("result-POTHOLE")).to_contain_text("Pothole")

            page.get_by_test_id("lang-zh-CN").click()
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            page.get_by_test_id("service-search").fill("坑")
            result = page.get_by_test_id("result-POTHOLE")
            expect(result).to_contain_text("路面坑洞")
            result.click()
            expect(page.get_by_test_id("chosen-service")).to_have_text("路面坑洞")

            area_map = page.get_by_test_id("report-map")
            expect(area_map).to_have_attribute("data-ready", "true", timeout=20_000)
            box = area_map.bounding_box()
            assert box is not None
            area_map.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.7})
            expect(page.get_by_test_id("point-text")).to_contain_text(re.compile(r"30\.1\d+"))
            assert page.locator("#location-status").is_hidden()

            page.get_by_test_id("use-location").click()
            expect(page.locator("#lat")).to_have_value("30.170000")
            nearby = page.get_by_test_id("nearby-case")
            expect(nearby).to_have_count(1)
            expect(nearby).to_contain_text(f"#{existing.id}")
            expect(page.get_by_test_id(f"follow-instead-{existing.id}")).to_be_visible()

            page.get_by_test_id("description").fill("井盖旁边有一个很深的坑")
            page.get_by_test_id("attribute-size").get_by_text("中", exact=True).click()
            page.get_by_test_id("photos").set_input_files(
                files=[{"name": "hole.png", "mimeType": "image/png", "buffer": png((320, 240))}]
            )
            page.screenshot(path=str(tmp_path / "report-form.png"), full_page=True)
            page.get_by_test_id("report-submit").click()

            number = page.get_by_test_id("tracking-number-value")
            expect(number).to_have_text(re.compile(r"^\d+$"))
            case_id = number.inner_text()
            assert case_id != str(existing.id)
            page.screenshot(path=str(tmp_path / "tracking-new.png"), full_page=True)

            page.goto(f"{city_server}/track")
            page.get_by_test_id("tracking-number").fill(case_id)
            page.get_by_test_id("track-submit").click()
            expect(page).to_have_url(f"{city_server}/track/{case_id}")
            expect(page.get_by_test_id("status-word")).to_have_text("已受理")
            expect(page.get_by_test_id("description")).to_have_text("井盖旁边有一个很深的坑")
            expect(page.get_by_test_id("track-map")).to_have_attribute(
                "data-ready", "true", timeout=20_000
            )
            photo = page.get_by_test_id("photos").locator("img")
            expect(photo).to_have_count(1)
            assert photo.evaluate("image => image.complete && image.naturalWidth") == 320
            page.screenshot(path=str(tmp_path / "tracking.png"), full_page=True)
        finally:
            browser.close()
    for name in ("report-form.png", "tracking-new.png", "tracking.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
