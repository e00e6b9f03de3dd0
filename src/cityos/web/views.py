"""Pages of the shell itself: home, language switch, API docs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cityos.auth import service as auth_service
from cityos.deps import SessionDep, client_ip
from cityos.errors import InvalidInput
from cityos.geo import service as geo_service
from cityos.i18n import parse_language
from cityos.web.render import LANGUAGE_COOKIE, PageDep, templates

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to; anything else (other sites, ``//host``) becomes ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@router.get("/", response_class=HTMLResponse)
def home(page: PageDep, db: SessionDep) -> HTMLResponse:
    return page.render(
        "index.html",
        {
            "area_count": sum(geo_service.level_counts(db).values()),
            "department_count": len(auth_service.list_departments(db)),
        },
    )


@router.post("/language")
def switch_language(
    request: Request,
    page: PageDep,
    db: SessionDep,
    language: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    chosen = parse_language(language)
    if chosen is None:
        raise InvalidInput(f"Unknown language {language!r}; choose zh-CN or en.")
    if page.user is not None:
        actor = auth_service.actor_for(page.user, client_ip(request))
        auth_service.set_language(db, user=page.user, language=chosen, actor=actor)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, chosen, max_age=365 * 86400, samesite="lax", httponly=True, path="/"
    )
    return response


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {})
