"""A small catalog on the test city (see tests/geo/conftest.py for its map).

Services:
- ``POTHOLE`` (group roads): default department CMB; attributes ``size`` (required
  singlevaluelist small/medium/large), ``depth_cm`` (number), ``hazards`` (multivaluelist
  traffic/cyclists/pedestrians); photo required on resolution; SLA normal 4 h / 72 h,
  urgent 1 h / 12 h.
- ``FLOODING`` (group water): no default department; a rule sends it to WATER in the whole
  city TC, and a finer rule sends it to CMB in sub-district TC-E-N.
- ``NOISE`` (group noise): no default department and no rule → triage.

Points: ``WEST_POINT`` lies in TC-W-S, ``EAST_NORTH_POINT`` in TC-E-N, ``OUTSIDE`` outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth.models import User
from cityos.cases import catalog, routing
from tests.geo.conftest import CityFixture, city

__all__ = ["city"]

ACTOR = Actor.system("test")
WEST_POINT = (120.07, 30.17)
EAST_NORTH_POINT = (120.12, 30.22)
OUTSIDE = (121.5, 31.2)

CATALOG = {
    "groups": [
        {"code": "roads", "name_zh": "道路", "name_en": "Roads"},
        {"code": "water", "name_zh": "排水", "name_en": "Water and drainage"},
        {"code": "noise", "name_zh": "噪声", "name_en": "Noise"},
    ],
    "categories": [
        {
            "service_code": "POTHOLE",
            "group": "roads",
            "name_zh": "路面坑洞",
            "name_en": "Pothole",
            "description_en": "A hole in the road surface.",
            "keywords": ["pothole", "road damage", "坑", "路面"],
            "department": "CMB",
            "photo_required": True,
            "sla": {
                "normal": {"acknowledge_hours": 4, "resolve_hours": 72},
                "urgent": {"acknowledge_hours": 1, "resolve_hours": 12},
            },
            "attributes": [
                {
                    "code": "size",
                    "datatype": "singlevaluelist",
                    "required": True,
                    "description_zh": "大小",
                    "description_en": "How big is it?",
                    "values": [
                        {"key": "small", "name_zh": "小", "name_en": "Small"},
                        {"key": "medium", "name_zh": "中", "name_en": "Medium"},
                        {"key": "large", "name_zh": "大", "name_en": "Large"},
                    ],
                },
                {
                    "code": "depth_cm",
                    "datatype": "number",
                    "description_zh": "深度（厘米）",
                    "description_en": "Depth in cm",
                },
                {
                    "code": "hazards",
                    "datatype": "multivaluelist",
                    "description_zh": "危险对象",
                    "description_en": "Who is in danger?",
                    "values": [
                        {"key": "traffic", "name_zh": "车辆", "name_en": "Traffic"},
                        {"key": "cyclists", "name_zh": "骑车人", "name_en": "Cyclists"},
                        {"key": "pedestrians", "name_zh": "行人", "name_en": "Pedestrians"},
                    ],
                },
            ],
        },
        {
            "service_code": "FLOODING",
            "group": "water",
            "name_zh": "道路积水",
            "name_en": "Flooded street",
            "keywords": ["flood", "water", "积水"],
            "sla": {"normal": {"acknowledge_hours": 1, "resolve_hours": 24}},
        },
        {
            "service_code": "NOISE",
            "group": "noise",
            "name_zh": "噪声扰民",
            "name_en": "Noise",
            "keywords": ["noise", "loud", "噪音"],
            "sla": {"normal": {"acknowledge_hours": 24, "resolve_hours": 120}},
        },
    ],
}


@dataclass(frozen=True)
class CatalogFixture:
    city: CityFixture
    people: dict[str, User]


@pytest.fixture
def services(db: Session, city: CityFixture, people: dict[str, User]) -> CatalogFixture:
    """The test city, its people (admin, CMB and WATER staff) and the catalog, committed."""
    document = catalog.parse_document(CATALOG)
    catalog.save_categories(db, groups=document.groups, categories=document.categories, actor=ACTOR)
    routing.set_rule(
        db, service_code="FLOODING", area_code="TC", department_code="WATER", actor=ACTOR
    )
    routing.set_rule(
        db, service_code="FLOODING", area_code="TC-E-N", department_code="CMB", actor=ACTOR
    )
    db.commit()
    return CatalogFixture(city=city, people=people)
