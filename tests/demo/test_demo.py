from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import Role
from cityos.demo import DEMO_USERS, seed
from cityos.geo import service as geo_service
from cityos.geo.models import Area, AreaLevel


def test_demo_city_has_districts_subdistricts_a_grid_departments_and_every_role(
    db: Session,
) -> None:
    seed(db)
    db.commit()
    levels = Counter(db.scalars(select(Area.level)).all())
    assert levels["city"] == 1
    assert levels["district"] == 8
    assert levels["subdistrict"] == 40
    assert 900 <= levels["grid"] <= 1300
    assert len(auth_service.list_departments(db)) == 20
    roles = set().union(*(user.roles for user in auth_service.list_users(db)))
    assert roles == set(Role)

    centre = geo_service.locate(db, lon=120.16, lat=30.27)
    assert centre.inside
    assert [area.level for area in centre.areas] == ["grid", "subdistrict", "district", "city"]
    assert centre.areas[-1].code == "MH"


def test_seeding_twice_is_harmless(db: Session) -> None:
    seed(db)
    db.commit()
    counts = db.scalar(select(func.count()).select_from(Area))
    users = len(auth_service.list_users(db))
    report = seed(db)
    db.commit()
    assert db.scalar(select(func.count()).select_from(Area)) == counts
    assert len(auth_service.list_users(db)) == users == len(DEMO_USERS)
    assert "already seeded" in report.describe()


def test_every_grid_cell_hangs_under_a_subdistrict(db: Session) -> None:
    seed(db)
    db.commit()
    cells = geo_service.list_areas(db, level=AreaLevel.GRID)
    parents = {a.id: a.level for a in geo_service.list_areas(db)}
    assert {parents[cell.parent_id] for cell in cells if cell.parent_id} == {"subdistrict"}
    assert all(cell.parent_id for cell in cells)
