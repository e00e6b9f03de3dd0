"""The geo JSON API: where is a point, the areas as GeoJSON. Public (no login needed)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cityos.deps import SessionDep
from cityos.geo import service
from cityos.geo.schemas import AreaDetail, AreaFeatureCollection, LocateOut

router = APIRouter(prefix="/api/geo", tags=["geo"])

GEOJSON = "application/geo+json"


class GeoJSONResponse(Response):
    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@router.get("/locate", summary="Which areas contain a point?")
def locate(
    db: SessionDep,
    lon: Annotated[float, Query(description="Longitude (WGS84), e.g. 120.16.")],
    lat: Annotated[float, Query(description="Latitude (WGS84), e.g. 30.27.")],
) -> LocateOut:
    """The grid cell, sub-district, district and city containing the point, finest first.

    A point outside the city is not an error: ``inside`` is false and ``message`` says so.
    """
    location = service.locate(db, lon=lon, lat=lat)
    message = None
    if not location.inside:
        message = (
            f"This point is outside the city: no area contains longitude {lon:g}, latitude "
            f"{lat:g}. Check the coordinates (the order is longitude, latitude)."
        )
    return LocateOut.model_validate(
        {"lon": lon, "lat": lat, "message": message, **location.to_dict()}
    )


@router.get(
    "/areas",
    summary="The areas as a GeoJSON FeatureCollection",
    response_class=GeoJSONResponse,
    response_model=AreaFeatureCollection,
    responses={200: {"content": {GEOJSON: {}}}},
)
def list_areas(
    db: SessionDep,
    level: Annotated[str | None, Query(description="city, district, subdistrict or grid.")] = None,
    parent: Annotated[
        str | None, Query(description="Only the direct children of the area with this code.")
    ] = None,
    geometry: Annotated[
        bool, Query(description="false: properties only (smaller, faster).")
    ] = True,
) -> GeoJSONResponse:
    """Every area, or one level's, or one area's children; ``id`` of each feature is its code."""
    chosen = service.parse_level(level) if level else None
    areas = service.list_areas(db, level=chosen, parent_code=parent or None)
    return GeoJSONResponse(service.feature_collection(areas, include_geometry=geometry))


@router.get(
    "/areas/{code}",
    summary="One area as a GeoJSON Feature, with its ancestors and children counts",
    response_class=GeoJSONResponse,
    response_model=AreaDetail,
    responses={200: {"content": {GEOJSON: {}}}, 404: {"description": "No area has this code."}},
)
def get_area(db: SessionDep, code: str) -> GeoJSONResponse:
    return GeoJSONResponse(service.area_detail(db, code=code))
