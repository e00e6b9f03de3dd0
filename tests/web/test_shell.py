from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.i18n import catalog, catalog_files, negotiate
from tests.conftest import csrf_from, login

HTML = {"accept": "text/html"}


def test_healthz_reports_the_database_and_schema(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["schema"]


def test_every_response_carries_security_headers_and_a_strict_csp(client: TestClient) -> None:
    response = client.get("/", headers=HTML)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "<script>" not in response.text  # no inline scripts anywhere
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)


def test_language_defaults_from_accept_language(client: TestClient) -> None:
    chinese = client.get("/", headers={**HTML, "accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-CN">' in chinese.text
    assert "退出登录" not in chinese.text
    assert "登录" in chinese.text
    english = client.get("/", headers={**HTML, "accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text


def test_accept_language_negotiation_follows_quality_values() -> None:
    assert negotiate("fr-FR, en;q=0.5, zh;q=0.8") == "zh-CN"
    assert negotiate("fr-FR") is None
    assert negotiate("en-US,zh-CN;q=0") == "en"


def test_language_switch_is_remembered_for_the_signed_in_user(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    login(client, "staff.cmb@example.org")
    page = client.get("/", headers=HTML)
    response = client.post(
        "/language",
        data={"language": "zh-CN", "next": "/", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    db.expire_all()
    assert auth_service.get_user_by_email(db, email="staff.cmb@example.org").language == "zh-CN"
    client.cookies.delete("cityos_lang")  # the account remembers it, not only the cookie
    assert '<html lang="zh-CN">' in client.get("/", headers=HTML).text


def test_anonymous_language_switch_uses_a_cookie_and_stays_on_this_site(
    client: TestClient,
) -> None:
    page = client.get("/", headers=HTML)
    response = client.post(
        "/language",
        data={
            "language": "zh-CN",
            "next": "//evil.example.com",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
    assert '<html lang="zh-CN">' in client.get("/", headers=HTML).text


def test_unknown_language_is_refused(client: TestClient) -> None:
    page = client.get("/", headers=HTML)
    response = client.post("/language", data={"language": "fr", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 400
    assert "choose zh-CN or en" in response.json()["error"]["message"]


def test_catalogs_have_the_same_keys_and_cover_every_template_key() -> None:
    english_files = [
        name.replace(".en.json", "").replace("en.json", "") for name in catalog_files("en")
    ]
    chinese_files = [
        name.replace(".zh-CN.json", "").replace("zh-CN.json", "") for name in catalog_files("zh-CN")
    ]
    assert english_files == chinese_files
    english, chinese = catalog("en"), catalog("zh-CN")
    assert set(english) == set(chinese)
    assert all(value.strip() for value in [*english.values(), *chinese.values()])
    templates = resources.files("cityos").joinpath("web", "templates")
    used: set[str] = set()
    for path in Path(str(templates)).rglob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.]+)'", path.read_text("utf-8")))
    prefixes = {key for key in used if key.endswith(".")}
    missing = {key for key in used - prefixes if key not in english}
    assert not missing, f"template keys missing from the catalogs: {sorted(missing)}"
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in english), prefix


def test_text_from_users_is_escaped_on_pages(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    auth_service.create_department(
        db,
        code="XSS",
        name_zh="<script>alert(1)</script>",
        name_en="<img src=x onerror=alert(1)>",
        actor=Actor.system("test"),
    )
    db.commit()
    login(client, "admin@example.org")
    page = client.get("/admin/departments/XSS", headers=HTML)
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x" not in page.text


def test_api_docs_are_served_from_our_own_files(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/geo/locate" in spec["paths"]


def test_unknown_page_gets_a_friendly_404(client: TestClient) -> None:
    page = client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert "Error 404" in page.text
    assert client.get("/api/no/such").json()["error"]["message"] == "Not Found"


def test_vendored_libraries_carry_their_licences() -> None:
    vendor = Path(str(resources.files("cityos").joinpath("web", "static", "vendor")))
    for library in ("leaflet", "htmx", "swagger-ui", "echarts", "leaflet.markercluster"):
        licence = vendor / library / "LICENSE"
        assert licence.is_file(), library
        assert licence.stat().st_size > 0, library


def test_locale_files_are_valid_utf8_json() -> None:
    for name in ("en", "zh-CN"):
        text = resources.files("cityos").joinpath("locales", f"{name}.json").read_text("utf-8")
        assert isinstance(json.loads(text), dict)


def test_error_pages_explain_the_status_in_the_users_language(
    client: TestClient, people: dict[str, User]
) -> None:
    login(client, "staff.cmb@example.org")
    page = client.get("/admin/departments/WATER", headers={**HTML, "accept-language": "zh-CN"})
    assert page.status_code == 403
    assert "您没有访问此页面或执行此操作的权限。" in page.text
