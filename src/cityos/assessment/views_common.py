"""What every assessment page shares: who may change things, reading forms, showing errors.

Signed-in users read every page; analysts and admins change things (``Analyst``). A form
that the service refuses is shown again with the service's message and its problems, the
request's transaction rolled back so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from cityos.assessment.views_data import name_of, num, problem_lines
from cityos.auth.models import Role, User
from cityos.deps import require_role
from cityos.errors import CityOSError
from cityos.web.render import Page

Analyst = Annotated[User, Depends(require_role(Role.ANALYST), scope="function")]


def can_edit(user: User) -> bool:
    return user.has_role(Role.ANALYST)


async def form_fields(request: Request) -> dict[str, str]:
    """The text fields of a posted form (the last value of a repeated name)."""
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def render(
    page: Page, template: str, context: Mapping[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render with the helpers every assessment template uses: ``name(item)`` in the page's
    language and ``num(value, digits)``."""
    helpers = {"name": lambda item: name_of(item, page.language), "num": num}
    return page.render(template, {**helpers, **context}, status_code=status_code)


def refused(
    page: Page,
    db: Session,
    template: str,
    context: Callable[[], Mapping[str, Any]],
    error: CityOSError,
    **extra: Any,
) -> HTMLResponse:
    """The page again after a refused change: rolled back, with the message and problems."""
    db.rollback()
    shown = {
        **context(),
        "error": error.message,
        "problems": problem_lines(error.details),
        **extra,
    }
    return render(page, template, shown, status_code=error.status_code)
