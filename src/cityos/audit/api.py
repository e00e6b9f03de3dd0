from __future__ import annotations

from fastapi import APIRouter

from cityos.audit import service
from cityos.audit.schemas import AuditEntryRead, AuditPageRead
from cityos.deps import AdminUser, SessionDep

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=AuditPageRead, summary="The audit log, newest first (admins)")
def audit_log(
    db: SessionDep,
    _admin: AdminUser,
    action: str | None = None,
    actor: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> AuditPageRead:
    result = service.search(db, action=action, actor=actor, page=page, page_size=page_size)
    return AuditPageRead(
        entries=[AuditEntryRead.model_validate(entry) for entry in result.entries],
        total=result.total,
        page=result.page,
        page_size=result.page_size,
    )
