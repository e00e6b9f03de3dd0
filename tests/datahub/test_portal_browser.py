"""The data portal in Debian's Chromium (Playwright): search, open a dataset, preview and
filter its rows (the operators follow the field's type), see them on the map, draw a chart,
download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests import live_server as live
from tests.datahub.conftest import MakeDataset
from tests.datahub.portal_support import STATION_ROWS, STATIONS
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS, PAINTED, need_chromium

pytestmark = pytest.mark.browser

# Pixels of a chart's canvas that are not blank (the canvas is 0 × 0 before it draws).


@pytest.fixture
def portal_server(
    database_url: str,
    engine: Engine,
    make_dataset: MakeDataset,
) -> Iterator[str]:
    """An open dataset of 12 air stations (with a geopoint) served by uvicorn."""
    need_chromium()
    make_dataset(
        name="air-stations",
        title_en="Air quality stations",
        title_zh="空气质量监测站",
        descriptor=STATIONS,
        rows=STATION_ROWS,
        themes=["ENVI"],
        frequency="daily",
    )
    with live.live_server(database_url, engine) as url:
        yield url


def test_a_visitor_finds_previews_filters_maps_charts_and_downloads_a_dataset(
    portal_server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
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
            page.goto(f"{portal_server}/data")
            page.get_by_test_id("search-q").fill("air")
            page.get_by_test_id("search-submit").click()
            expect(page.get_by_test_id("result")).to_have_count(1)
            page.get_by_test_id("result-link-air-stations").click()
            expect(page.get_by_test_id("dataset-title")).to_contain_text("Air quality stations")

            rows = page.get_by_test_id("preview-row")
            expect(rows).to_have_count(len(STATION_ROWS))
            expect(page.get_by_test_id("preview-status")).to_contain_text("of 12")

            page.get_by_test_id("filter-field").select_option("district")
            page.get_by_test_id("filter-op").select_option("eq")
            page.get_by_test_id("filter-value").fill("East")
            page.get_by_test_id("filter-apply").click()
            expect(rows).to_have_count(4)
            expect(page.get_by_test_id("active-filters").locator("li")).to_have_count(1)
            page.get_by_test_id("filter-field").select_option("location")  # a geopoint
            expect(page.get_by_test_id("filter-op").locator("option")).to_have_count(1)
            expect(page.get_by_test_id("filter-op")).to_have_value("isnull")
            page.get_by_test_id("filter-field").select_option("pm25")
            expect(page.get_by_test_id("filter-op").locator("option")).to_have_count(8)

            page.locator("#preview-table thead button[data-field='pm25']").click()
            expect(page.locator("#preview-table thead th[aria-sort='ascending']")).to_have_count(1)

            area_map = page.get_by_test_id("dataset-map")
            expect(area_map).to_have_attribute("data-ready", "true", timeout=20_000)
            expect(area_map).to_have_attribute("data-markers", "4")
            assert area_map.locator("path.leaflet-interactive").count() == 4

            page.get_by_test_id("chart-category").select_option("district")
            page.get_by_test_id("chart-value").select_option("pm25")
            page.get_by_test_id("chart-agg").select_option("sum")
            page.get_by_test_id("chart-source").select_option("api")
            page.get_by_test_id("chart-draw").click()
            chart = page.get_by_test_id("dataset-chart")
            expect(chart).to_have_attribute("data-ready", "true", timeout=20_000)
            expect(chart.locator("canvas")).to_have_count(1)
            assert page.evaluate(PAINTED, "#dataset-chart") > 0

            page.screenshot(path=str(tmp_path / "dataset.png"), full_page=True)

            for test_id in ("download-csv", "download-csv-bom", "download-geojson"):
                href = page.get_by_test_id(test_id).get_attribute("href")
                assert href is not None
                response = page.request.get(f"{portal_server}{href}")
                assert response.status == 200, (test_id, response.status)
                assert response.body()
            bom = page.request.get(f"{portal_server}/api/data/air-stations/download.csv?bom=1")
            assert bom.body().startswith(b"\xef\xbb\xbf")

            page.get_by_test_id("lang-zh-CN").click()
            expect(page.get_by_test_id("dataset-title")).to_contain_text("空气质量监测站")
            expect(page.get_by_test_id("preview-row")).to_have_count(len(STATION_ROWS))
        finally:
            browser.close()
    assert not problems, problems
    assert (tmp_path / "dataset.png").stat().st_size > 10_000
