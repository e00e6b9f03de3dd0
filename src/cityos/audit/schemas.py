from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_user_id: int | None
    actor_label: str
    action: str
    entity_type: str
    entity_id: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPageRead(BaseModel):
    entries: list[AuditEntryRead]
    total: int
    page: int
    page_size: int
