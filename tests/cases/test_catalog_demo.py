"""The demo city's catalog (src/cityos/demo/catalog.yaml) against the demo city's map."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases import catalog, catalog_file, routing
from cityos.cases.models import AttributeType, Priority
from cityos.demo.catalog import demo_catalog, seed_catalog
from cityos.demo.city import seed_areas
from cityos.demo.people import DEMO_ACTOR, seed_departments
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel


@pytest.fixture
def demo_city(db: Session) -> None:
    seed_departments(db)
    seed_areas(db)
    db.flush()


def test_the_demo_catalog_imports_cleanly_into_the_demo_city(db: Session, demo_city: None) -> None:
    report = catalog_file.import_document(db, demo_catalog(), actor=DEMO_ACTOR)
    assert 28 <= report.categories_created <= 36
    assert 8 <= report.groups <= 10
    assert report.rules_set >= 10
    categories = catalog.list_categories(db)
    types = {attribute.datatype for c in categories for attribute in c.attributes}
    assert types == {t.value for t in AttributeType}
    assert any(attribute.required for c in categories for attribute in c.attributes)
    assert sum(c.photo_required for c in categories) >= 5
    assert all(set(c.sla) <= {p.value for p in Priority} and c.sla for c in categories)
    assert all(c.keywords and c.description_zh and c.description_en for c in categories)
    flood = catalog.get_category(db, service_code="FLOOD-STREET")
    assert flood.group.code == "water"
    departments = catalog.department_codes(db)
    assert departments[flood.default_department_id or -1] == "WATER"
    without_default = [c.service_code for c in categories if c.default_department_id is None]
    assert len(without_default) >= 3
    levels = Counter(rule.area_level for rule in routing.list_rules(db))
    assert min(levels[level] for level in ("city", "district", "subdistrict")) > 0


def test_seeding_the_catalog_twice_changes_nothing(db: Session, demo_city: None) -> None:
    first = seed_catalog(db)
    assert first.startswith("catalog: 33 categories in 10 groups, 13 routing rules")
    exported = catalog_file.export_document(db)
    again = seed_catalog(db)
    assert again.endswith("(already seeded)")
    assert catalog_file.export_document(db) == exported


def point_in(db: Session, code: str) -> tuple[float, float]:
    area = geo_service.get_area(db, code=code)
    return area.label_lon, area.label_lat


@pytest.mark.parametrize(
    ("service_code", "area_code", "department"),
    [
        ("ROAD-POTHOLE", "MH-07-02", "TRANS"),  # district rule
        ("ROAD-POTHOLE", "MH-03-01", "CMB"),  # default department
        ("STREET-VENDOR", "MH-01-02", "GRID"),  # district rule
        ("STREET-VENDOR", "MH-01-03", "CMB"),  # the sub-district rule beats the district's
        ("MANHOLE-COVER", "MH-02-01", "WATER"),  # city rule, no default department
        ("MANHOLE-COVER", "MH-04-05", "CMB"),
        ("OTHER", "MH-05-01", None),  # triage
    ],
)
def test_demo_rules_route_by_the_finest_area(
    db: Session, demo_city: None, service_code: str, area_code: str, department: str | None
) -> None:
    seed_catalog(db)
    lon, lat = point_in(db, area_code)
    location = geo_service.locate(db, lon=lon, lat=lat)
    assert area_code in {area.code for area in location.areas}
    decision = routing.route(
        db, category=catalog.get_category(db, service_code=service_code), location=location
    )
    owner = (
        auth_service.get_department_by_id(db, department_id=decision.department_id).code
        if decision.department_id is not None
        else None
    )
    assert owner == department, decision.reason
    owners = {
        o.area_code: o.department_code
        for o in routing.ownership(db, service_code=service_code, level=AreaLevel.SUBDISTRICT)
    }
    assert owners[area_code] == department
