from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityos.db import Base, UTCDateTime, utcnow


class NoteTarget(StrEnum):
    AREA = "area"  # target_ref: the area's code (a district or grid cell)
    ALERT = "alert"  # target_ref: the sensing alert's id
    CASE = "case"  # target_ref: the case's id


class OperatorNote(Base):
    """What an operator wrote about an area or an incident, shown on every open screen."""

    __tablename__ = "ops_notes"
    __table_args__ = (Index("ix_ops_notes_target", "target_type", "target_ref", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_ref: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    author_user_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("auth_users.id", ondelete="SET NULL")
    )
    author_label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
