"""A Boston-shaped test city for the case import and export tests.

``boston`` (fixture): the ``people`` fixture's departments and users, the other departments
the demo catalog names, a city BOS (lon -71.2..-70.9, lat 42.2..42.45) split into districts
BOS-W and BOS-E at lon -71.08, the demo catalog's groups and categories (without its routing
rules, which name the demo city's areas) and one rule: STREET-CLEANING in BOS-E → CMB.
The mapping is ``docs/examples/boston311-mapping.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.cases import catalog, routing
from cityos.demo.catalog import demo_catalog
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

ACTOR = Actor.system("test")
ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "docs" / "examples" / "boston311-mapping.yaml"
SPLIT_LON = -71.08
EXTRA_DEPARTMENTS = ("TRANS", "HOUSING", "PARKS", "PSB", "LIGHT", "SAN", "ENV", "MARKET", "FIRE")


@dataclass(frozen=True)
class Boston:
    people: dict[str, User]
    csv: Path
    bad_tsv: Path


def boston_areas() -> list[geo_service.AreaInput]:
    def area(code: str, level: AreaLevel, box: tuple[float, float, float, float]) -> Any:
        return geo_service.AreaInput(
            code=code, name_zh=code, name_en=code, level=level, geometry=shapely.box(*box)
        )

    return [
        area("BOS", AreaLevel.CITY, (-71.2, 42.2, -70.9, 42.45)),
        area("BOS-W", AreaLevel.DISTRICT, (-71.2, 42.2, SPLIT_LON, 42.45)),
        area("BOS-E", AreaLevel.DISTRICT, (SPLIT_LON, 42.2, -70.9, 42.45)),
    ]


def seed_boston(db: Session) -> None:
    for code in EXTRA_DEPARTMENTS:
        auth_service.create_department(db, code=code, name_zh=code, name_en=code, actor=ACTOR)
    geo_service.upsert_areas(db, areas=boston_areas(), actor=ACTOR)
    document = demo_catalog()
    parsed = catalog.parse_document(
        {"groups": document["groups"], "categories": document["categories"]}
    )
    catalog.save_categories(db, groups=parsed.groups, categories=parsed.categories, actor=ACTOR)
    routing.set_rule(
        db, service_code="STREET-CLEANING", area_code="BOS-E", department_code="CMB", actor=ACTOR
    )
    db.commit()


@pytest.fixture
def boston(db: Session, people: dict[str, User], shared_dir: Path) -> Boston:
    seed_boston(db)
    data = shared_dir / "data" / "311"
    return Boston(people, data / "boston311-100.csv", data / "boston311-100-bad.tsv")
