"""The audit log page for admins (filters swap the table in place with htmx)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cityos.audit import service
from cityos.deps import AdminUser, SessionDep
from cityos.web.render import PageDep

router = APIRouter(include_in_schema=False)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    page: PageDep,
    db: SessionDep,
    _admin: AdminUser,
    action: str = "",
    actor: str = "",
    page_number: int = 1,
) -> HTMLResponse:
    result = service.search(db, action=action or None, actor=actor or None, page=page_number)
    template = (
        "admin/_audit_table.html" if request.headers.get("hx-request") else "admin/audit.html"
    )
    return page.render(template, {"result": result, "action": action, "actor": actor})
