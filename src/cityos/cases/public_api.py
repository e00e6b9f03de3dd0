"""The citizen-facing JSON API: find a service, see open cases nearby, follow a case.

No login is needed and no personal data (name, e-mail, phone, device id) is ever returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cityos.cases import service
from cityos.cases.intake_views import citizen_actor, excerpt, pick
from cityos.cases.models import Category
from cityos.config import Language
from cityos.deps import OptionalUser, SessionDep, SettingsDep
from cityos.i18n import negotiate, parse_language

router = APIRouter(prefix="/api/cases", tags=["cases"])


class ValueOut(BaseModel):
    key: str
    name: str
    name_zh: str
    name_en: str


class AttributeOut(BaseModel):
    code: str
    datatype: str = Field(description="string, number, datetime, text, singlevaluelist, …")
    required: bool
    variable: bool
    order: int
    description: str = Field(description="The question, in the chosen language.")
    description_zh: str
    description_en: str
    values: list[ValueOut]


class ServiceOut(BaseModel):
    service_code: str
    name: str = Field(description="In the chosen language.")
    name_zh: str
    name_en: str
    description: str
    group: str
    group_name: str
    keywords: list[str]
    duplicate_radius_m: float
    attributes: list[AttributeOut]


class GroupOut(BaseModel):
    code: str
    name: str
    name_zh: str
    name_en: str
    services: list[ServiceOut]


class ServicesOut(BaseModel):
    language: Language
    query: str
    results: list[ServiceOut] = Field(description="Services matching the query, best first.")
    groups: list[GroupOut] = Field(description="Every active service, by group.")


class NearbyCaseOut(BaseModel):
    id: int
    service_code: str
    status: str
    distance_m: float
    requested_at: datetime
    description: str = Field(description="The start of the description.")
    lat: float
    lon: float
    url: str = Field(description="The public tracking page.")


class NearbyOut(BaseModel):
    service_code: str
    radius_m: float
    cases: list[NearbyCaseOut]


class FollowIn(BaseModel):
    email: str = Field(max_length=320)


class FollowOut(BaseModel):
    case_id: int = Field(description="The case followed (the original when this is a duplicate).")
    following: bool


def _service_out(category: Category, language: str) -> ServiceOut:
    return ServiceOut(
        service_code=category.service_code,
        name=pick(language, category.name_zh, category.name_en),
        name_zh=category.name_zh,
        name_en=category.name_en,
        description=pick(language, category.description_zh, category.description_en),
        group=category.group.code,
        group_name=pick(language, category.group.name_zh, category.group.name_en),
        keywords=list(category.keywords),
        duplicate_radius_m=category.duplicate_radius_m,
        attributes=[
            AttributeOut(
                code=a.code,
                datatype=a.datatype,
                required=a.required,
                variable=a.variable,
                order=a.position,
                description=pick(language, a.description_zh, a.description_en),
                description_zh=a.description_zh,
                description_en=a.description_en,
                values=[
                    ValueOut(
                        key=v["key"],
                        name=pick(language, v.get("name_zh", ""), v.get("name_en", "")),
                        name_zh=v.get("name_zh", ""),
                        name_en=v.get("name_en", ""),
                    )
                    for v in a.values
                ],
            )
            for a in category.attributes
        ],
    )


def _groups(db: Session, language: str) -> list[GroupOut]:
    categories = service.list_categories(db)
    groups = []
    for group in service.list_groups(db):
        members = [_service_out(c, language) for c in categories if c.group_id == group.id]
        if members:
            groups.append(
                GroupOut(
                    code=group.code,
                    name=pick(language, group.name_zh, group.name_en),
                    name_zh=group.name_zh,
                    name_en=group.name_en,
                    services=members,
                )
            )
    return groups


@router.get("/services", summary="Find the service for a problem (search or browse)")
def services(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(description="Words in Chinese or English, e.g. 坑 or pothole.")] = "",
    language: Annotated[
        str, Query(description="zh-CN or en; default: the Accept-Language header.")
    ] = "",
) -> ServicesOut:
    """Search-as-you-type over names and keywords, and every active service by group."""
    chosen: Language = (
        parse_language(language)
        or negotiate(request.headers.get("accept-language"))
        or settings.default_language
    )
    found = service.search_categories(db, query=q) if q.strip() else []
    return ServicesOut(
        language=chosen,
        query=q,
        results=[_service_out(c, chosen) for c in found],
        groups=_groups(db, chosen),
    )


@router.get("/nearby", summary="Open cases of a service near a point")
def nearby(
    db: SessionDep,
    service_code: Annotated[str, Query(description="The service, e.g. POTHOLE.")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (WGS84).")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (WGS84).")],
) -> NearbyOut:
    """Open cases within the service's duplicate radius, nearest first: a citizen can follow
    one of them instead of reporting the same problem again."""
    category = service.get_category(db, service_code=service_code)
    found = service.nearby_open(db, service_code=service_code, lon=lon, lat=lat)
    return NearbyOut(
        service_code=category.service_code,
        radius_m=category.duplicate_radius_m,
        cases=[
            NearbyCaseOut(
                id=item.case.id,
                service_code=category.service_code,
                status=item.case.status,
                distance_m=round(item.distance_m, 1),
                requested_at=item.case.requested_at,
                description=excerpt(item.case.description),
                lat=item.case.lat,
                lon=item.case.lon,
                url=f"/track/{item.case.id}",
            )
            for item in found
        ],
    )


@router.post("/{case_id}/follow", summary="Get e-mail about a case's public updates")
def follow(
    request: Request, db: SessionDep, user: OptionalUser, case_id: str, body: FollowIn
) -> FollowOut:
    """Idempotent. Following a duplicate follows the original case."""
    case = service.get_case(db, case_id=case_id)
    follower = service.follow(db, case, email=body.email, actor=citizen_actor(request, user))
    return FollowOut(case_id=follower.case_id, following=True)
