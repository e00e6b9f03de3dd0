"""The data hub's tables: data elements, datasets, schema versions, loads, sharing, usage.

A dataset's rows do not live here: each schema version has its own table, made at run
time by :mod:`cityos.datahub.storage` (``dh_<dataset id>_v<version>``).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from cityos.auth.models import Department
from cityos.db import Base, UTCDateTime, utcnow


class Access(StrEnum):
    OPEN = "open"  # public: anyone, also anonymous, CKAN and DCAT
    SHARED = "shared"  # every signed-in user of the city's departments
    RESTRICTED = "restricted"  # the owning department, admins, and granted departments


class Sensitivity(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    SENSITIVE = "sensitive"  # masked or removed for anyone but the owner without a grant


class Frequency(StrEnum):
    """How often a dataset is meant to be updated (DCAT-AP frequency vocabulary names)."""

    CONTINUOUS = "continuous"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    IRREGULAR = "irregular"


# Days after which a dataset with this frequency counts as stale (None: never stale).
FRESH_DAYS: dict[Frequency, int | None] = {
    Frequency.CONTINUOUS: 2,
    Frequency.DAILY: 2,
    Frequency.WEEKLY: 8,
    Frequency.MONTHLY: 32,
    Frequency.QUARTERLY: 93,
    Frequency.ANNUAL: 366,
    Frequency.IRREGULAR: None,
}


class LoadMode(StrEnum):
    APPEND = "append"
    REPLACE = "replace"
    UPSERT = "upsert"  # needs a primary key


class OnError(StrEnum):
    REJECT = "reject"  # any error rejects the whole load
    QUARANTINE = "quarantine"  # load the valid rows, keep the others in quarantine


class LoadStatus(StrEnum):
    COMMITTED = "committed"  # every row stored
    PARTIAL = "partial"  # valid rows stored, the others quarantined
    REJECTED = "rejected"  # nothing stored


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"
    # "expired" is not stored: an approved request whose expires_at has passed


class ResourceKind(StrEnum):
    TABLE = "table"  # the dataset's rows (one per dataset)
    FILE = "file"  # an attached file (a PDF, a shapefile zip, …)


class DataElement(Base):
    """One entry of the city's field standard (e.g. ``district_code``, ``uscc``)."""

    __tablename__ = "datahub_elements"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    definition_zh: Mapped[str] = mapped_column(Text, default="")
    definition_en: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(16))  # a Table Schema field type
    format: Mapped[str | None] = mapped_column(String(64))
    # Table Schema constraints plus CityOS checks ({"check": "uscc" | "id_card_cn" | "area_code"})
    constraints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sensitivity: Mapped[str] = mapped_column(String(16), default=Sensitivity.PUBLIC.value)
    mask: Mapped[str | None] = mapped_column(String(16))  # "partial" or None (= remove)
    example: Mapped[str] = mapped_column(String(200), default="")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Dataset(Base):
    __tablename__ = "datahub_datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)  # CKAN-style: [a-z0-9_-]
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int] = mapped_column(
        ForeignKey("auth_departments.id", ondelete="RESTRICT"), index=True
    )
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)  # theme codes (THEMES)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    licence: Mapped[str] = mapped_column(String(64))  # a LICENCES code
    frequency: Mapped[str] = mapped_column(String(16), default=Frequency.IRREGULAR.value)
    spatial: Mapped[str] = mapped_column(String(200), default="")  # an area code or a place
    temporal_start: Mapped[date | None] = mapped_column(Date)
    temporal_end: Mapped[date | None] = mapped_column(Date)
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    access: Mapped[str] = mapped_column(String(16), default=Access.OPEN.value, index=True)
    schema_version: Mapped[int | None] = mapped_column(Integer)  # the current version
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    data_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last stored load
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Department] = relationship(lazy="joined")


class SchemaVersion(Base):
    """One version of a dataset's Table Schema, resolved (data elements materialised)."""

    __tablename__ = "datahub_schemas"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datahub_datasets.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    descriptor: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Resource(Base):
    """A distribution of a dataset: its table, or an attached file."""

    __tablename__ = "datahub_resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)  # the CKAN resource id
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datahub_datasets.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(32), default="")  # CSV, PDF, ZIP, …
    media_type: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Load(Base):
    """One upload of a file into a dataset, with its validation report."""

    __tablename__ = "datahub_loads"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datahub_datasets.id", ondelete="CASCADE"), index=True
    )
    schema_version: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    on_error: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(16), default="")
    encoding: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_loaded: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuarantinedRow(Base):
    """A row a partial load did not store, with what was wrong, for the steward to fix."""

    __tablename__ = "datahub_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    load_id: Mapped[int] = mapped_column(
        ForeignKey("datahub_loads.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the raw cells, by column name
    problems: Mapped[list[str]] = mapped_column(JSON)


class SharingRequest(Base):
    """A department's request for a dataset, and the owner's decision (a grant if approved)."""

    __tablename__ = "datahub_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datahub_datasets.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("auth_departments.id", ondelete="RESTRICT"), index=True
    )
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="SET NULL")
    )
    purpose: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str] | None] = mapped_column(JSON)  # asked for; None = all fields
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value)
    granted_fields: Mapped[list[str] | None] = mapped_column(JSON)  # None = all fields
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    department: Mapped[Department] = relationship(lazy="joined")


class DailyUsage(Base):
    """Downloads and API calls of a dataset per day."""

    __tablename__ = "datahub_usage"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datahub_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    api_calls: Mapped[int] = mapped_column(BigInteger, default=0)
