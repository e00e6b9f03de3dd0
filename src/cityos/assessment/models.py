"""The assessment domain's tables: frameworks, units, peer groups, values, runs and plans.

Indicator codes are global keys: a value stored for ``(unit, indicator, year)`` is shared by
every framework that uses that indicator code (built-in frameworks prefix their codes, so
they do not collide by accident). Live platform metrics are keyed by their metric code
(``cases.resolved_within_sla_pct``) when snapshots of them are stored.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityos.db import Base, UTCDateTime, utcnow


class UnitKind(StrEnum):
    CITY = "city"  # a city: the home city or a peer
    AREA = "area"  # an area of the city map (a district, …)


class MeasureStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class AssessFramework(Base):
    """A framework as its document (``framework.dump_framework``), editable by users."""

    __tablename__ = "assess_frameworks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(300))
    name_zh: Mapped[str] = mapped_column(String(300), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)  # shipped with CityOS
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class AssessUnit(Base):
    """A unit that is assessed: a city (the home city or a peer) or an area of the map.

    ``region`` is the grouping column of group imputation; ``tier`` picks tier-specific
    weights; ``attributes`` holds numbers used as denominators (``population``, ``area_km2``).
    One unit at most is the home city (``is_home``): the city running this CityOS."""

    __tablename__ = "assess_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16), default=UnitKind.CITY)
    country: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[str | None] = mapped_column(String(32))
    attributes: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    is_home: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class AssessPeerGroup(Base):
    """A named set of units the home city is benchmarked against (default: ``leading``)."""

    __tablename__ = "assess_peer_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    members: Mapped[list[str]] = mapped_column(JSON, default=list)  # unit codes, in order
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class IndicatorValue(Base):
    """One value of one indicator for one unit and year, and where it came from."""

    __tablename__ = "assess_values"
    __table_args__ = (UniqueConstraint("unit_code", "indicator_code", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("assess_units.code", ondelete="CASCADE"))
    indicator_code: Mapped[str] = mapped_column(String(64), index=True)
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200), default="entered")  # import:cpi.xls, live
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class AssessRun(Base):
    """One assessment run as it was computed: its choices and its whole result."""

    __tablename__ = "assess_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_code: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    units: Mapped[str] = mapped_column(String(300), default="")  # the unit set, described
    year: Mapped[int | None] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # PipelineResult.to_dict(); deferred so that listing runs does not load every result
    result: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class Plan(Base):
    """A plan for one unit: problems, goals with stage targets, and countermeasures."""

    __tablename__ = "assess_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    unit_code: Mapped[str] = mapped_column(
        ForeignKey("assess_units.code", ondelete="RESTRICT"), index=True
    )
    framework_code: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")  # the problem and the goal
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    targets: Mapped[list[PlanTarget]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="PlanTarget.position",
        passive_deletes=True,
    )
    countermeasures: Mapped[list[Countermeasure]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        order_by="Countermeasure.id",
        passive_deletes=True,
    )


class PlanTarget(Base):
    """An indicator's baseline and its stage targets ``[{"year": 2028, "value": 80.0}, …]``."""

    __tablename__ = "assess_plan_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("assess_plans.id", ondelete="CASCADE"), index=True
    )
    indicator_code: Mapped[str] = mapped_column(String(64))
    problem: Mapped[str] = mapped_column(Text, default="")
    goal: Mapped[str] = mapped_column(Text, default="")
    baseline_year: Mapped[int] = mapped_column(Integer)
    baseline_value: Mapped[float] = mapped_column(Float)
    stages: Mapped[list[dict[str, float]]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Countermeasure(Base):
    """An action or project against a problem, owned by a department."""

    __tablename__ = "assess_countermeasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("assess_plans.id", ondelete="CASCADE"), index=True
    )
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("assess_plan_targets.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    department_code: Mapped[str | None] = mapped_column(String(64))  # the owner
    status: Mapped[str] = mapped_column(String(16), default=MeasureStatus.PLANNED)
    link: Mapped[str] = mapped_column(String(500), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
