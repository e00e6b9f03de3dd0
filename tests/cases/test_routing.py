from __future__ import annotations

from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases import catalog, routing
from cityos.geo import service as geo_service
from tests.cases.conftest import EAST_NORTH_POINT, WEST_POINT, CatalogFixture


def _route(db: Session, service_code: str, point: tuple[float, float]) -> routing.RoutingDecision:
    category = catalog.get_category(db, service_code=service_code)
    location = geo_service.locate(db, lon=point[0], lat=point[1])
    return routing.route(db, category=category, location=location)


def _code(db: Session, department_id: int | None) -> str | None:
    if department_id is None:
        return None
    return auth_service.get_department_by_id(db, department_id=department_id).code


def test_the_rule_of_the_finest_area_wins(db: Session, services: CatalogFixture) -> None:
    east = _route(db, "FLOODING", EAST_NORTH_POINT)
    west = _route(db, "FLOODING", WEST_POINT)
    assert _code(db, east.department_id) == "CMB"
    assert "TC-E-N" in east.reason
    assert _code(db, west.department_id) == "WATER"
    assert "in TC →" in west.reason


def test_without_a_rule_the_category_default_then_triage(
    db: Session, services: CatalogFixture
) -> None:
    pothole = _route(db, "POTHOLE", WEST_POINT)
    assert _code(db, pothole.department_id) == "CMB"
    assert pothole.rule_id is None
    assert "default department" in pothole.reason
    noise = _route(db, "NOISE", WEST_POINT)
    assert noise.department_id is None
    assert noise.reason.startswith("triage")


def test_bulk_routing_agrees_with_single_routing(db: Session, services: CatalogFixture) -> None:
    codes = ["FLOODING", "FLOODING", "POTHOLE", "NOISE"]
    points = [EAST_NORTH_POINT, WEST_POINT, WEST_POINT, EAST_NORTH_POINT]
    ids = [catalog.get_category(db, service_code=code).id for code in codes]
    bulk = routing.route_many(
        db,
        category_ids=ids,
        locations=geo_service.locate_many(
            db, lons=[p[0] for p in points], lats=[p[1] for p in points]
        ),
    )
    for i, (code, point) in enumerate(zip(codes, points, strict=True)):
        single = _route(db, code, point)
        assert (single.department_id or -1) == bulk.department_ids[i]
        assert (single.rule_id or -1) == bulk.rule_ids[i]
        assert single.reason == bulk.reasons[i]
