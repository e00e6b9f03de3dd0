"""The operations center's pages: ``/ops`` (normal layout) and ``/ops/wall`` (big screen).

Operators and admins only (anonymous visitors are sent to the login page, other roles get
the 403 page). The page is a shell: the browser scripts (``static/ops/ops-*.js``) draw the
map, tiles and charts from ``/api/ops/*`` and listens to ``/api/ops/events``. The server
only hands it the filters from the query string, the district and category choices and the
UI strings, all as ``data-`` attributes (the CSP forbids inline scripts).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from cityos.auth.models import Role, User
from cityos.cases import service as cases_service
from cityos.deps import SessionDep, require_role
from cityos.geo import service as geo_service
from cityos.i18n import catalog
from cityos.ops.filters import RANGES
from cityos.ops.layers import LAYERS
from cityos.web.render import Page, PageDep

router = APIRouter(include_in_schema=False)
Operator = Annotated[User, Depends(require_role(Role.OPERATOR), scope="function")]

SCRIPT_PREFIX = "ops.js."  # the strings the browser script needs


def chosen_filters(request: Request, known_areas: frozenset[str]) -> dict[str, str]:
    """The page's filters from its query string; unknown values fall back to the defaults."""
    query = request.query_params
    range_ = query.get("range", "today")
    area = query.get("area", "").strip()
    return {
        "range": range_ if range_ in RANGES else "today",
        "area": area if area in known_areas else "",
    }


def _name(language: str, name_zh: str | None, name_en: str | None, code: str) -> str:
    return (name_zh if language == "zh-CN" else name_en) or name_en or name_zh or code


def district_choices(page: Page, db: Session) -> list[dict[str, str]]:
    level = geo_service.AreaLevel
    return [
        {"code": area.code, "label": _name(page.language, area.name_zh, area.name_en, area.code)}
        for area in geo_service.list_areas(db, level=level.DISTRICT)
    ]


def category_choices(page: Page, db: Session) -> list[dict[str, str]]:
    return [
        {
            "code": category.service_code,
            "label": _name(
                page.language, category.name_zh, category.name_en, category.service_code
            ),
        }
        for category in cases_service.list_categories(db)
    ]


def script_strings(page: Page) -> str:
    """The ``ops.js.*`` strings in the page's language, keyed without the prefix, as JSON."""
    strings = {
        key.removeprefix(SCRIPT_PREFIX): page.t(key)
        for key in catalog("en")
        if key.startswith(SCRIPT_PREFIX)
    }
    return json.dumps(strings, ensure_ascii=False, sort_keys=True)


def _screen(page: Page, db: Session, *, wall: bool) -> HTMLResponse:
    districts = district_choices(page, db)
    filters = chosen_filters(page.request, geo_service.area_codes(db))
    context: dict[str, Any] = {
        "wall": wall,
        "filters": filters,
        "ranges": RANGES,
        "layers": LAYERS,
        "districts": districts,
        "categories": category_choices(page, db),
        "strings": script_strings(page),
        "base_path": "/ops/wall" if wall else "/ops",
        "other_path": "/ops" if wall else "/ops/wall",
    }
    template = "ops/wall.html" if wall else "ops/screen.html"
    return page.render(template, context)


@router.get("/ops", response_class=HTMLResponse)
def ops_screen(page: PageDep, db: SessionDep, _user: Operator) -> HTMLResponse:
    """The operations center in the site's normal layout."""
    return _screen(page, db, wall=False)


@router.get("/ops/wall", response_class=HTMLResponse)
def ops_wall(page: PageDep, db: SessionDep, _user: Operator) -> HTMLResponse:
    """The operations center for a 16:9 wall screen: dark, large type, no page scroll."""
    return _screen(page, db, wall=True)
