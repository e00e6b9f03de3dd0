from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cityos.app import create_app
from cityos.auth.models import User
from cityos.config import Settings
from cityos.geo.models import Area
from tests.conftest import csrf_from, login
from tests.geo.conftest import EAST, MIDDLE, NORTH, SOUTH, WEST, feature, geojson, rectangle

HTML = {"accept": "text/html"}


def upload(client: TestClient, data: bytes, level: str = "district") -> str:
    page = client.get("/admin/areas", headers=HTML)
    response = client.post(
        "/admin/areas/import",
        data={
            "level": level,
            "code_property": "code",
            "name_property": "name",
            "csrf_token": csrf_from(page.text),
        },
        files={"file": ("districts.geojson", data, "application/geo+json")},
        headers=HTML,
    )
    return f"{response.status_code} {response.text}"


def area_count(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Area)) or 0


def test_admin_imports_districts_by_uploading_geojson(
    client: TestClient, db: Session, people: dict[str, User], city_only: None
) -> None:
    login(client, "admin@example.org")
    data = geojson(
        feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="W", name="西区"),
        feature(rectangle(MIDDLE, SOUTH, EAST, NORTH), code="E", name="东区"),
    )
    result = upload(client, data)
    assert result.startswith("200 ")
    assert "Imported: 2 new, 0 updated, 0 repaired." in result
    assert area_count(db) == 3


def test_a_broken_upload_shows_each_problem_and_imports_nothing(
    client: TestClient, db: Session, people: dict[str, User], city_only: None
) -> None:
    login(client, "admin@example.org")
    data = geojson(
        feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="W", name="西区"),
        feature({"type": "Point", "coordinates": [WEST, SOUTH]}, code="P", name="点"),
    )
    result = upload(client, data)
    assert result.startswith("422 ")
    assert "nothing was imported" in result
    assert "is a Point" in result
    assert area_count(db) == 1


def test_a_non_utf8_upload_gets_a_clear_error(
    client: TestClient, db: Session, people: dict[str, User], city_only: None
) -> None:
    login(client, "admin@example.org")
    data = geojson(feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="W", name="西区"))
    result = upload(client, data.decode("utf-8").encode("gbk"))
    assert result.startswith("400 ")
    assert "UTF-8" in result
    assert area_count(db) == 1


def test_staff_see_the_map_but_cannot_import(
    client: TestClient, people: dict[str, User], city_only: None
) -> None:
    login(client, "staff.cmb@example.org")
    page = client.get("/admin/areas", headers=HTML)
    assert page.status_code == 200
    assert 'id="areas-map"' in page.text
    assert "/admin/areas/import" not in page.text
    result = upload(client, geojson(feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="W")))
    assert result.startswith("403 ")


def test_an_upload_over_the_size_limit_is_refused_with_the_setting_to_raise(
    settings: Settings, engine: Engine, db: Session, people: dict[str, User], city_only: None
) -> None:
    small = settings.model_copy(update={"max_upload_mb": 0.001})
    with TestClient(create_app(small, engine=engine)) as client:
        login(client, "admin@example.org")
        data = geojson(
            *(
                feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code=f"W{i}", name="西区")
                for i in range(20)
            )
        )
        result = upload(client, data)
    assert result.startswith("413 ")
    assert "CITYOS_MAX_UPLOAD_MB" in result
    assert area_count(db) == 1
