from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from cityos.db import Base, UTCDateTime, utcnow


class AreaLevel(StrEnum):
    """Levels of the hierarchy, coarsest first."""

    CITY = "city"
    DISTRICT = "district"
    SUBDISTRICT = "subdistrict"
    GRID = "grid"

    @property
    def rank(self) -> int:
        return list(AreaLevel).index(self)

    @property
    def parent_level(self) -> AreaLevel | None:
        return None if self is AreaLevel.CITY else list(AreaLevel)[self.rank - 1]


class Area(Base):
    """One area of the city. The polygon is WGS84, stored as WKB with its bounding box."""

    __tablename__ = "geo_areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("geo_areas.id", ondelete="RESTRICT"), index=True
    )
    geometry_wkb: Mapped[bytes] = mapped_column(LargeBinary)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    label_lon: Mapped[float] = mapped_column(Float)
    label_lat: Mapped[float] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GeoRevision(Base):
    """One row whose token changes on every write to the areas; caches key on it."""

    __tablename__ = "geo_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
