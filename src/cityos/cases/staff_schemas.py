"""JSON shapes of the staff API (``/api/cases``): case records, actions, bulk, statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cityos.auth.models import Department, User
from cityos.cases.models import Case, CasePhoto, CaseUpdate
from cityos.cases.staff import AttributeRow, BulkReport, SlaView


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlaRead(BaseModel):
    state: str = Field(description="none (no clock running), ok, at_risk or breached")
    clock: str | None = Field(description="acknowledge or resolve: the clock that is running")
    due_at: datetime | None
    remaining_seconds: int | None = Field(description="negative when overdue")

    @classmethod
    def of(cls, view: SlaView) -> SlaRead:
        remaining = int(view.remaining.total_seconds()) if view.remaining is not None else None
        return cls(
            state=view.state.value,
            clock=view.clock,
            due_at=view.due_at,
            remaining_seconds=remaining,
        )


class PersonRead(BaseModel):
    id: int
    email: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> PersonRead:
        return cls(id=user.id, email=user.email, display_name=user.display_name)


class CaseSummaryRead(BaseModel):
    id: int
    service_code: str
    service_name_en: str
    service_name_zh: str
    status: str
    close_reason: str | None
    priority: str
    description: str
    address: str
    lon: float
    lat: float
    department: str | None = Field(description="department code; null: the triage queue")
    assignee: PersonRead | None
    source: str
    duplicate_of: int | None
    reopen_count: int
    requested_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    acknowledge_due_at: datetime | None
    resolve_due_at: datetime | None
    sla: SlaRead

    @classmethod
    def fields_of(
        cls,
        case: Case,
        *,
        sla: SlaView,
        departments: dict[int, Department],
        assignee: User | None,
    ) -> dict[str, Any]:
        department = departments.get(case.department_id) if case.department_id else None
        return {
            "id": case.id,
            "service_code": case.category.service_code,
            "service_name_en": case.category.name_en,
            "service_name_zh": case.category.name_zh,
            "status": case.status,
            "close_reason": case.close_reason,
            "priority": case.priority,
            "description": case.description,
            "address": case.address,
            "lon": case.lon,
            "lat": case.lat,
            "department": department.code if department else None,
            "assignee": PersonRead.of(assignee) if assignee else None,
            "source": case.source,
            "duplicate_of": case.duplicate_of_id,
            "reopen_count": case.reopen_count,
            "requested_at": case.requested_at,
            "updated_at": case.updated_at,
            "acknowledged_at": case.acknowledged_at,
            "resolved_at": case.resolved_at,
            "acknowledge_due_at": case.acknowledge_due_at,
            "resolve_due_at": case.resolve_due_at,
            "sla": SlaRead.of(sla),
        }


class CaseListRead(BaseModel):
    items: list[CaseSummaryRead]
    total: int
    page: int
    page_size: int


class AttributeRead(BaseModel):
    code: str
    label_en: str
    label_zh: str
    value: Any
    shown_en: str
    shown_zh: str

    @classmethod
    def of(cls, row: AttributeRow) -> AttributeRead:
        return cls(
            code=row.code,
            label_en=row.label_en,
            label_zh=row.label_zh,
            value=row.value,
            shown_en=row.shown_en,
            shown_zh=row.shown_zh,
        )


class UpdateRead(BaseModel):
    id: int | None = Field(description="null for history rebuilt from imported times")
    at: datetime
    actor: str
    kind: str
    status_from: str | None
    status_to: str | None
    note: str
    public: bool
    details: dict[str, Any]

    @classmethod
    def of(cls, update: CaseUpdate) -> UpdateRead:
        return cls(
            id=update.id,
            at=update.at,
            actor=update.actor_label,
            kind=update.kind,
            status_from=update.status_from,
            status_to=update.status_to,
            note=update.note,
            public=update.public,
            details=dict(update.details or {}),
        )


class PhotoRead(BaseModel):
    id: int
    kind: str
    media_type: str
    width: int
    height: int
    url: str

    @classmethod
    def of(cls, photo: CasePhoto) -> PhotoRead:
        return cls(
            id=photo.id,
            kind=photo.kind,
            media_type=photo.media_type,
            width=photo.width,
            height=photo.height,
            url=f"/staff/cases/{photo.case_id}/photos/{photo.id}",
        )


class ContactRead(BaseModel):
    name: str | None
    email: str | None
    phone: str | None


class RoutingRead(BaseModel):
    rule_id: int | None
    reason: str


class CaseDetailRead(CaseSummaryRead):
    status_notes: str
    resolution_note: str | None
    attributes: list[AttributeRead]
    routing: RoutingRead
    followers: int
    can_act: bool = Field(description="whether the caller may change this case")
    contact: ContactRead | None = Field(
        description="the reporter's contact details; only for those who handle the case"
    )
    photos: list[PhotoRead]
    history: list[UpdateRead] = Field(description="every update, public and internal")


class PhotoIn(_In):
    filename: str = "photo"
    data: str = Field(description="the image (JPEG, PNG or WebP), base64-encoded")


class StatusChange(_In):
    status: str
    note: str = ""
    public: bool = True
    close_reason: str | None = None
    photos: list[PhotoIn] = Field(default_factory=list, max_length=10)


class NoteIn(_In):
    note: str
    public: bool = Field(False, description="true: the citizen sees it; default internal")


class TransferIn(_In):
    department: str = Field(description="the receiving department's code")
    reason: str


class AssignIn(_In):
    email: str | None = None
    user_id: int | None = None


class DuplicateIn(_In):
    original_id: int
    note: str = ""


class BulkIn(_In):
    ids: list[int] = Field(min_length=1, max_length=500)
    action: str = Field(description="acknowledge or assign")
    assignee: str | None = Field(None, description="e-mail of the assignee (action assign)")
    assignee_id: int | None = None


class BulkErrorRead(BaseModel):
    code: str | None
    message: str | None


class BulkResultRead(BaseModel):
    id: int
    ok: bool
    error: BulkErrorRead | None


class BulkRead(BaseModel):
    action: str
    succeeded: list[int]
    failed: int
    results: list[BulkResultRead]

    @classmethod
    def of(cls, report: BulkReport) -> BulkRead:
        return cls(
            action=report.action.value,
            succeeded=report.succeeded,
            failed=len(report.failed),
            results=[
                BulkResultRead(
                    id=r.case_id,
                    ok=r.ok,
                    error=None if r.ok else BulkErrorRead(code=r.code, message=r.message),
                )
                for r in report.results
            ],
        )


class GroupStatsRead(BaseModel):
    key: str | None = Field(description="department code, service_code or district code")
    name_en: str
    name_zh: str
    volume: int
    backlog: int
    breached_open: int
    resolved: int
    closed: int
    median_hours_to_resolve: float | None
    resolved_within_sla_pct: float | None
    resolved_within_sla: int
    resolved_with_target: int
    acknowledged_within_sla_pct: float | None
    acknowledged_within_sla: int
    acknowledge_due: int
    reopen_rate_pct: float | None
    reopened: int
    ended: int


class DailyRead(BaseModel):
    date: str
    opened: int
    resolved: int
    closed: int


class StatsRead(BaseModel):
    """See docs/cases-stats.md for what each figure counts."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    by: str
    timezone: str
    generated_at: datetime
    totals: GroupStatsRead
    groups: list[GroupStatsRead]
    daily: list[DailyRead]
