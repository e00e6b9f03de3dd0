"""PDF reports: finding the browser, running it safely, and (with Chromium) a real PDF.

Most tests use a stand-in browser (a small Python script) to check what CityOS asks of the
browser and how it handles failures; the ``browser`` test prints with Debian's Chromium."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from cityos.assessment.benchmarking import compare
from cityos.assessment.pdf import BrowserUnavailable, find_chromium, render_pdf
from cityos.assessment.report import render_report
from cityos.config import Settings
from tests.assessment.report_support import hand_made_result
from tests.live_server import CHROMIUM, need_chromium

FAKE = """#!{python}
import json, sys, time
from pathlib import Path
args = sys.argv[1:]
Path({log!r}).write_text(json.dumps(args))
mode = {mode!r}
if mode == "slow":
    time.sleep(30)
if mode == "fail":
    sys.stderr.write("cannot open display\\n")
    sys.exit(3)
out = next(a.split("=", 1)[1] for a in args if a.startswith("--print-to-pdf="))
page = Path(args[-1][len("file://"):]).read_text("utf-8")
Path(out).write_bytes(b"%PDF-1.7 fake " + str(len(page)).encode())
"""


def fake_browser(folder: Path, mode: str = "ok", name: str = "fake-chromium") -> Path:
    script = folder / name
    log = folder / f"{name}.args.json"
    script.write_text(FAKE.format(python=sys.executable, log=str(log), mode=mode), "utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_the_browser_prints_the_page_headless_without_network(tmp_path: Path) -> None:
    browser = fake_browser(tmp_path)
    html = render_report(hand_made_result())
    pdf = render_pdf(html, chromium=str(browser))
    assert pdf.startswith(b"%PDF")
    assert pdf.endswith(str(len(html)).encode())  # it read the whole report
    args = json.loads((tmp_path / "fake-chromium.args.json").read_text())
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-pdf-header-footer",
    ):
        assert flag in args
    assert args[-1].startswith("file://")
    assert any(arg.startswith("--user-data-dir=") for arg in args)


def test_the_temporary_folder_is_removed_afterwards(tmp_path: Path) -> None:
    browser = fake_browser(tmp_path)
    render_pdf("<p>hi</p>", chromium=str(browser))
    args = json.loads((tmp_path / "fake-chromium.args.json").read_text())
    page = Path(args[-1][len("file://") :])
    assert not page.parent.exists()


def test_a_failing_browser_is_a_503_with_its_message(tmp_path: Path) -> None:
    browser = fake_browser(tmp_path, mode="fail")
    with pytest.raises(BrowserUnavailable, match="status 3") as caught:
        render_pdf("<p>hi</p>", chromium=str(browser))
    assert "cannot open display" in caught.value.message
    assert caught.value.status_code == 503


def test_a_browser_that_hangs_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    browser = fake_browser(tmp_path, mode="slow")
    with pytest.raises(BrowserUnavailable, match=r"within 0\.5 s"):
        render_pdf("<p>hi</p>", chromium=str(browser), timeout=0.5)


def test_no_browser_on_the_path_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(BrowserUnavailable, match="CITYOS_CHROMIUM_PATH") as caught:
        find_chromium(None, search_path=str(tmp_path))
    assert "install Chromium" in caught.value.message
    assert caught.value.status_code == 503


def test_a_configured_browser_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-chromium")
    with pytest.raises(BrowserUnavailable, match="no-such-chromium"):
        render_pdf("<p>hi</p>", chromium=missing)


def test_the_known_browser_names_are_looked_up_on_the_path(tmp_path: Path) -> None:
    found = fake_browser(tmp_path, name="chromium-browser")
    assert find_chromium(None, search_path=str(tmp_path)) == str(found)
    preferred = fake_browser(tmp_path, name="chromium")
    assert find_chromium(None, search_path=str(tmp_path)) == str(preferred)
    assert find_chromium("chromium-browser", search_path=str(tmp_path)) == str(found)


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOS_CHROMIUM_PATH", "/opt/chrome/chrome")
    assert Settings().chromium_path == "/opt/chrome/chrome"


@pytest.mark.browser
def test_chromium_prints_the_report_to_a_pdf() -> None:
    need_chromium()
    result = hand_made_result()
    html = render_report(result, lang="zh-CN", comparison=compare(result, unit="MIN"))
    pdf = render_pdf(html, chromium=str(CHROMIUM))
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 10_000
    assert b"%%EOF" in pdf[-1024:]
