"""The operations center's pages (/ops, /ops/wall): who may see them, both languages, the
filters kept from the URL, the wall layout and the navigation entry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.i18n import catalog
from cityos.ops.views import SCRIPT_PREFIX
from tests.conftest import PASSWORD, login
from tests.sensing.sim_support import seed_map

HTML = {"accept": "text/html"}
EN = {**HTML, "accept-language": "en"}
ZH = {**HTML, "accept-language": "zh-CN"}


@pytest.fixture
def crew(db: Session) -> dict[str, str]:
    """One user per role that matters here (their emails), on the test city's map."""
    actor = Actor.system("test")
    seed_map(db)
    auth_service.create_department(
        db, code="CMB", name_zh="城市管理局", name_en="City Management", actor=actor
    )
    emails = {}
    for role in ("admin", "operator", "staff", "analyst"):
        emails[role] = f"{role}@example.org"
        auth_service.create_user(
            db,
            email=emails[role],
            password=PASSWORD,
            roles=[role],
            department_code="CMB" if role == "staff" else None,
            actor=actor,
        )
    db.commit()
    return emails


def strings(page: str) -> dict[str, str]:
    match = re.search(r'data-strings="([^"]*)"', page)
    assert match, "the page hands the script no strings"
    text = match.group(1).replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&")
    loaded: dict[str, str] = json.loads(text.replace("&#39;", "'"))
    return loaded


def test_anonymous_visitors_are_sent_to_login(client: TestClient) -> None:
    for path in ("/ops", "/ops/wall?range=7d"):
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/ops")


def test_only_operators_and_admins_may_open_the_screen(
    client: TestClient, crew: dict[str, str]
) -> None:
    for who in ("staff", "analyst"):
        client.cookies.clear()
        login(client, crew[who])
        for path in ("/ops", "/ops/wall"):
            page = client.get(path, headers=EN)
            assert page.status_code == 403, (who, path)
            assert "Error 403" in page.text
            assert 'data-testid="ops-screen"' not in page.text
        assert 'href="/ops"' not in client.get("/", headers=EN).text  # no navigation entry
    for who in ("operator", "admin"):
        client.cookies.clear()
        login(client, crew[who])
        for path in ("/ops", "/ops/wall"):
            assert client.get(path, headers=EN).status_code == 200, (who, path)
        assert 'href="/ops"' in client.get("/", headers=EN).text


def test_the_screen_speaks_english_and_chinese(client: TestClient, crew: dict[str, str]) -> None:
    login(client, crew["operator"])
    page = client.get("/ops", headers=EN)
    assert "<h1>Operations center</h1>" in page.text
    assert 'data-testid="ops-map"' in page.text
    assert '<option value="TC-W">' in page.text  # districts to filter by
    assert "/static/ops/ops-core.js" in page.text
    assert "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in page.text
    assert 'href="/ops" aria-current="page"' in page.text  # the navigation entry
    script = strings(page.text)
    assert script["tile.sla_pct"] == "SLA compliance (7 days)"
    assert script["live.reconnecting"] == "Reconnecting…"

    page = client.get("/ops", headers=ZH)
    assert '<html lang="zh-CN">' in page.text
    assert "<h1>城市运行管理中心</h1>" in page.text
    assert "近24小时" in page.text
    assert "西区" in page.text
    script = strings(page.text)
    assert script["not_installed"] == "模块未安装"
    assert script["tile.cases_new"] == "新增案件"


def test_the_wall_is_a_dark_full_screen_layout_and_filters_come_from_the_url(
    client: TestClient, crew: dict[str, str]
) -> None:
    login(client, crew["operator"])
    page = client.get("/ops/wall?range=24h&area=TC-E", headers=ZH)
    assert page.status_code == 200
    assert 'class="ops-wall-body"' in page.text
    assert 'class="ops ops-wall"' in page.text
    assert 'data-wall="true"' in page.text
    assert "<h1>城市运行态势</h1>" in page.text
    assert 'class="topbar"' not in page.text
    assert "<footer>" not in page.text
    assert 'data-range="24h" data-area="TC-E"' in page.text
    assert 'href="/ops?range=24h&amp;area=TC-E"' in page.text  # back to the normal layout

    kept = client.get("/ops?range=30d&area=TC-W-N", headers=EN)
    assert 'data-range="30d" data-area="TC-W-N"' in kept.text
    assert '<option value="30d" selected>' in kept.text
    assert '<option value="TC-W-N" selected>TC-W-N</option>' in kept.text  # not a district
    bad = client.get("/ops?range=1y&area=NOWHERE", headers=EN)
    assert bad.status_code == 200
    assert 'data-range="today" data-area=""' in bad.text


STATIC = Path(__file__).parents[2] / "src" / "cityos" / "web" / "static" / "ops"
# keys the scripts pass to ops.t() literally, or pick from literals of these families
SCRIPT_KEY = re.compile(
    r'ops\.t\(\s*"([^"]+)"\s*[,)]'
    r'|"((?:event|dispatch|live|legend|layer|level|severity|status|priority|target|tile)'
    r'\.[a-z_]+)"'
)


def test_every_string_the_scripts_use_exists_in_both_languages() -> None:
    used = {
        key
        for script in STATIC.glob("ops-*.js")
        for match in SCRIPT_KEY.finditer(script.read_text(encoding="utf-8"))
        for key in match.groups()
        if key
    }
    assert {"event.readings", "event.alert_case", "dispatch.for_alert"} <= used
    for language in ("en", "zh-CN"):
        known = catalog(language)
        missing = sorted(key for key in used if f"{SCRIPT_PREFIX}{key}" not in known)
        assert missing == [], (language, missing)


def test_the_scripts_build_no_html_from_data() -> None:
    """Text goes in with textContent; the two HTML sinks (Leaflet tooltips, ECharts
    formatters) get escaped strings."""
    for script in STATIC.glob("ops-*.js"):
        text = script.read_text(encoding="utf-8")
        assert "innerHTML" not in text, script.name
        assert "insertAdjacentHTML" not in text, script.name
        for call in re.findall(r"bindTooltip\(([^;]*)\);", text):
            assert call.startswith("ops.escapeHtml("), (script.name, call)
        for body in re.findall(r"formatter: function \(params\) \{(.*?)\n\s*\},", text, re.S):
            assert "ops.escapeHtml(" in body, (script.name, body)
