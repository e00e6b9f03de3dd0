from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityos.db import Base, UTCDateTime, utcnow


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    ACTION_SCHEDULED = "action_scheduled"
    RESOLVED = "resolved"  # fixed, with a resolution note (and photo where required)
    CLOSED = "closed"  # ended without a fix, with a CloseReason
    REOPENED = "reopened"

    @property
    def is_open(self) -> bool:
        return self not in (CaseStatus.RESOLVED, CaseStatus.CLOSED)


OPEN_STATUSES = tuple(status for status in CaseStatus if status.is_open)


class CloseReason(StrEnum):
    DUPLICATE = "duplicate"
    NOT_OUR_RESPONSIBILITY = "not_our_responsibility"
    NO_FURTHER_ACTION = "no_further_action"
    REFERRED_OUTSIDE = "referred_outside"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class CaseSource(StrEnum):
    WEB = "web"  # the citizen intake form
    OPEN311 = "open311"  # an Open311 client app
    STAFF = "staff"  # entered by staff (phone, counter)
    SENSOR = "sensor"  # an alert rule of the sensing platform
    IMPORT = "import"  # historical import
    SYSTEM = "system"  # another system, through the service


class AttributeType(StrEnum):
    """Open311 attribute datatypes."""

    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    TEXT = "text"
    SINGLEVALUELIST = "singlevaluelist"
    MULTIVALUELIST = "multivaluelist"


class CategoryGroup(Base):
    """How citizens see the catalog: roads, lighting, sanitation, …"""

    __tablename__ = "cases_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Category(Base):
    """One kind of problem a citizen can report (an Open311 service)."""

    __tablename__ = "cases_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("cases_groups.id", ondelete="RESTRICT"), index=True
    )
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_departments.id", ondelete="RESTRICT"), index=True
    )
    default_priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL)
    photo_required: Mapped[bool] = mapped_column(Boolean, default=False)  # on resolution
    duplicate_radius_m: Mapped[float] = mapped_column(Float, default=50.0)
    # {"urgent": {"acknowledge_hours": 1, "resolve_hours": 24}, "normal": {...}, ...}
    sla: Mapped[dict[str, dict[str, float]]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    group: Mapped[CategoryGroup] = relationship(lazy="joined")
    attributes: Mapped[list[CategoryAttribute]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="CategoryAttribute.position",
    )


class CategoryAttribute(Base):
    """An extra question of a category (an Open311 attribute)."""

    __tablename__ = "cases_category_attributes"
    __table_args__ = (UniqueConstraint("category_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("cases_categories.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    datatype: Mapped[str] = mapped_column(String(32))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    variable: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    datatype_description: Mapped[str] = mapped_column(Text, default="")
    # [{"key": "deep", "name_zh": "很深", "name_en": "Deep"}, ...]
    values: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class RoutingRule(Base):
    """Cases of ``category`` inside ``area`` go to ``department``. The finest area wins."""

    __tablename__ = "cases_routing_rules"
    __table_args__ = (UniqueConstraint("category_id", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("cases_categories.id", ondelete="CASCADE"), index=True
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("geo_areas.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("auth_departments.id", ondelete="RESTRICT"), index=True
    )
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _partial(name: str, *columns: str, unique: bool = False) -> Index:
    """An index of the rows whose first column is set (SQLite and PostgreSQL)."""
    present = text(f"{columns[0]} IS NOT NULL")
    return Index(name, *columns, unique=unique, sqlite_where=present, postgresql_where=present)


ENDED_COVER = [
    "status",
    "requested_at",
    "resolve_due_at",
    "department_id",
    "district_id",
    "subdistrict_id",
    "grid_id",
]
REQUESTED_COVER = [
    "status",
    "reopen_count",
    "category_id",
    "district_id",
    "subdistrict_id",
    "grid_id",
]


class Case(Base):
    """One reported problem, from submission to a verified fix.

    ``contact_*``, ``device_id``, ``account_id`` and ``submitted_ip`` are personal data: no
    public endpoint ever returns them.
    """

    __tablename__ = "cases_cases"
    __table_args__ = (
        Index("ix_cases_cases_category_status", "category_id", "status"),
        # Open311 / queue searches by service over a time window, newest first
        Index("ix_cases_cases_category_requested", "category_id", "requested_at"),
        Index("ix_cases_cases_department_status", "department_id", "status"),
        Index("ix_cases_cases_lat_lon", "lat", "lon"),
        # The operations center reads its figures from these indexes alone on PostgreSQL
        # (no table rows visited): what ended when, with its SLA and place; what was
        # requested when, with its status, category and place; open and overdue cases per
        # area.
        Index("ix_cases_cases_resolved_at", "resolved_at", postgresql_include=ENDED_COVER),
        Index("ix_cases_cases_requested_cover", "requested_at", postgresql_include=REQUESTED_COVER),
        Index(
            "ix_cases_cases_status_area",
            "status",
            "district_id",
            "subdistrict_id",
            "grid_id",
            "next_due_at",
        ),
        # Sparse columns get partial indexes: most cases (imports above all) have no client
        # address, assignee, duplicate, token or running clock, and skip these indexes.
        _partial("ix_cases_cases_ip_requested", "submitted_ip", "requested_at"),
        _partial("ix_cases_cases_assignee_id", "assignee_id"),
        _partial("ix_cases_cases_duplicate_of_id", "duplicate_of_id"),
        _partial("ix_cases_cases_next_due_at", "next_due_at"),
        _partial("ix_cases_cases_sla_warn_at", "sla_warn_at"),
        _partial("uq_cases_cases_token", "token", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("cases_categories.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(32), default=CaseStatus.SUBMITTED)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL)
    description: Mapped[str] = mapped_column(Text, default="")
    status_notes: Mapped[str] = mapped_column(Text, default="")  # the latest public note
    resolution_note: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(500), default="")
    address_id: Mapped[str | None] = mapped_column(String(100))
    zipcode: Mapped[str | None] = mapped_column(String(20))
    area_id: Mapped[int] = mapped_column(ForeignKey("geo_areas.id", ondelete="RESTRICT"))
    district_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subdistrict_id: Mapped[int | None] = mapped_column(Integer, index=True)
    grid_id: Mapped[int | None] = mapped_column(Integer, index=True)

    department_id: Mapped[int | None] = mapped_column(  # None: the triage queue
        ForeignKey("auth_departments.id", ondelete="RESTRICT")
    )
    routing_rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases_routing_rules.id", ondelete="SET NULL")
    )
    routing_reason: Mapped[str] = mapped_column(String(500), default="")
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="SET NULL")
    )
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases_cases.id", ondelete="SET NULL")
    )

    source: Mapped[str] = mapped_column(String(16), default=CaseSource.WEB)
    source_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_api_keys.id", ondelete="SET NULL")
    )
    token: Mapped[str | None] = mapped_column(String(64))  # unique (partial index above)

    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    device_id: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(200))
    submitted_ip: Mapped[str | None] = mapped_column(String(64))

    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # resolved or closed
    acknowledge_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # expected_datetime
    # The running SLA clock: acknowledge (until acknowledged), then resolve; None when ended.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # at risk
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)

    category: Mapped[Category] = relationship(lazy="joined")


class Visibility(StrEnum):
    PUBLIC = "public"  # shown to the citizen and in Open311 notes
    INTERNAL = "internal"  # staff only


class CaseUpdate(Base):
    """One change in a case's history: who, when, what, and whether the public sees it."""

    __tablename__ = "cases_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases_cases.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="SET NULL")
    )
    actor_label: Mapped[str] = mapped_column(String(200))
    # submitted, status, note, transfer, assign, duplicate, reopen, escalation, follow
    kind: Mapped[str] = mapped_column(String(32))
    status_from: Mapped[str | None] = mapped_column(String(32))
    status_to: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PhotoKind(StrEnum):
    REPORT = "report"  # sent with the report
    RESOLUTION = "resolution"  # proof of the fix


class CasePhoto(Base):
    """A photo, re-encoded without EXIF (no GPS or device data leaks)."""

    __tablename__ = "cases_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases_cases.id", ondelete="CASCADE"), index=True
    )
    update_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases_updates.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16), default=PhotoKind.REPORT)
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseFollower(Base):
    """Someone told of each public update (the reporter, or a citizen who followed)."""

    __tablename__ = "cases_followers"
    __table_args__ = (UniqueConstraint("case_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases_cases.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaClock(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class EscalationStage(StrEnum):
    IMMINENT = "imminent"  # most of the time is used up
    BREACHED = "breached"


class Escalation(Base):
    """A case whose SLA clock is about to run out or has run out, raised to supervisors."""

    __tablename__ = "cases_escalations"
    __table_args__ = (UniqueConstraint("case_id", "clock", "stage", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases_cases.id", ondelete="CASCADE"), index=True
    )
    clock: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_departments.id", ondelete="SET NULL"), index=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    notified: Mapped[int] = mapped_column(Integer, default=0)
