"""What the geo API returns (for validation of the small answers and for the OpenAPI docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AreaRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name_zh: str
    name_en: str
    level: str


class LocateOut(BaseModel):
    """Where a point is. Outside the city: ``inside`` false, no areas, and a ``message``."""

    inside: bool
    lon: float
    lat: float
    areas: list[AreaRefOut] = Field(description="The areas containing the point, finest first.")
    message: str | None = None


class AreaProperties(BaseModel):
    code: str
    name_zh: str
    name_en: str
    level: str
    parent_code: str | None
    area_m2: float


class AreaFeature(BaseModel):
    """A GeoJSON Feature (RFC 7946); ``id`` is the area code."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: AreaProperties


class AreaFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]


class AreaDetailProperties(AreaProperties):
    label: list[float] = Field(description="A point inside the area: [longitude, latitude].")
    properties: dict[str, Any] = Field(description="The area's own properties (from import).")
    ancestors: list[AreaRefOut] = Field(description="Parent first, up to the city.")
    children: dict[str, int] = Field(description="Direct children per level.")
    descendants: dict[str, int] = Field(description="All areas below it, per level.")


class AreaDetail(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    bbox: list[float]
    geometry: dict[str, Any]
    properties: AreaDetailProperties
