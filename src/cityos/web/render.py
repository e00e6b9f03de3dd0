"""Rendering server-side pages: one Jinja2 environment, the layout's context, the language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cityos.auth.models import Role, User
from cityos.config import Language
from cityos.deps import OptionalUser
from cityos.i18n import LANGUAGE_NAMES, negotiate, parse_language, translate

LANGUAGE_COOKIE = "cityos_lang"

templates = Jinja2Templates(directory=str(resources.files("cityos").joinpath("web", "templates")))


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    href: str


def choose_language(request: Request, user: User | None) -> Language:
    """The user's saved choice, else the switcher's cookie, else the browser, else the default."""
    for candidate in (
        user.language if user else None,
        request.cookies.get(LANGUAGE_COOKIE),
    ):
        language = parse_language(candidate)
        if language:
            return language
    default: Language = request.app.state.settings.default_language
    return negotiate(request.headers.get("accept-language")) or default


def navigation(user: User | None) -> list[NavItem]:
    """Entries of the top navigation the user may use (modules not built yet are hidden)."""
    items = [
        NavItem("nav.home", "/"),
        NavItem("nav.report", "/report"),
        NavItem("nav.track", "/track"),
        NavItem("nav.data", "/data"),
        NavItem("nav.sensing", "/sensing"),
    ]
    if user is None:
        return items
    if user.has_role(Role.OPERATOR):  # admins too
        items.append(NavItem("nav.ops", "/ops"))
    if user.has_role(Role.STAFF, Role.SUPERVISOR, Role.OPERATOR):
        items.append(NavItem("nav.work_queue", "/staff/cases"))
    items.append(NavItem("nav.areas", "/admin/areas"))
    items.append(NavItem("nav.assessment", "/assess"))
    if user.has_role(Role.STEWARD, Role.STAFF):
        items.append(NavItem("nav.data_steward", "/data/steward"))
    if user.has_role(Role.OPERATOR):
        items.append(NavItem("nav.catalog", "/admin/catalog"))
        items.append(NavItem("nav.routing", "/admin/routing"))
    if user.has_role(Role.ADMIN):
        items += [
            NavItem("nav.departments", "/admin/departments"),
            NavItem("nav.users", "/admin/users"),
            NavItem("nav.audit", "/admin/audit"),
            NavItem("nav.webhooks", "/admin/webhooks"),
            NavItem("nav.outbox", "/admin/outbox"),
        ]
    elif user.department is not None:
        items.append(NavItem("nav.my_department", f"/admin/departments/{user.department.code}"))
    items.append(NavItem("nav.api_keys", "/admin/api-keys"))
    return items


class Page:
    """What every page template gets: the user, the language, ``t()``, the CSRF token."""

    def __init__(self, request: Request, user: User | None) -> None:
        self.request = request
        self.user = user
        self.language = choose_language(request, user)

    def t(self, key: str, **values: object) -> str:
        return translate(self.language, key, **values)

    def render(
        self, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200
    ) -> HTMLResponse:
        settings = self.request.app.state.settings
        base = {
            "request": self.request,
            "user": self.user,
            "lang": self.language,
            "t": self.t,
            "csrf_token": self.request.state.csrf_token,
            "nav": navigation(self.user),
            "languages": LANGUAGE_NAMES,
            "here": quote(self.request.url.path + _query(self.request), safe="/?=&"),
            "settings": settings,
        }
        return templates.TemplateResponse(
            self.request, template, {**base, **(context or {})}, status_code=status_code
        )


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


def get_page(request: Request, user: OptionalUser) -> Page:
    return Page(request, user)


PageDep = Annotated[Page, Depends(get_page, scope="function")]
