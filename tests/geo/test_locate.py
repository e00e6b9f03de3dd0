from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.errors import InvalidInput
from cityos.geo import service
from cityos.geo.grid import generate_grid
from cityos.geo.index import RASTER_MIN_POINTS
from cityos.geo.models import Area, AreaLevel, GeoRevision
from tests.geo.conftest import ACTOR, EQUATOR, MIDDLE, CityFixture, box


def codes(location: service.Location) -> list[str]:
    return [area.code for area in location.areas]


def test_point_gets_its_finest_area_and_every_ancestor(db: Session, city: CityFixture) -> None:
    location = service.locate(db, lon=120.07, lat=30.22)
    assert location.inside
    assert codes(location) == ["TC-W-N", "TC-W", "TC"]
    assert [area.level for area in location.areas] == [
        AreaLevel.SUBDISTRICT,
        AreaLevel.DISTRICT,
        AreaLevel.CITY,
    ]
    assert location.finest is not None
    assert location.finest.code == "TC-W-N"
    district = location.by_level(AreaLevel.DISTRICT)
    assert district is not None
    assert district.name_zh == "西区"
    assert location.by_level(AreaLevel.GRID) is None
    assert location.to_dict()["areas"][0]["level"] == "subdistrict"


def test_point_in_a_grid_cell_gets_the_cell_first(db: Session, city: CityFixture) -> None:
    generate_grid(db, within_code="TC", cell_size_m=1000, actor=ACTOR)
    location = service.locate(db, lon=120.13, lat=30.17)
    assert [area.level for area in location.areas] == ["grid", "subdistrict", "district", "city"]
    assert codes(location)[1:] == ["TC-E-S", "TC-E", "TC"]


def test_point_outside_the_city_is_not_inside_and_not_an_error(
    db: Session, city: CityFixture
) -> None:
    location = service.locate(db, lon=121.5, lat=31.2)
    assert location == service.Location(inside=False, areas=())
    assert location.finest is None
    assert location.to_dict() == {"inside": False, "areas": []}


def test_point_on_a_shared_boundary_is_located_deterministically(
    db: Session, city: CityFixture
) -> None:
    west_east = {area.code: area.id for area in service.list_areas(db, level=AreaLevel.SUBDISTRICT)}
    on_border = (MIDDLE, 30.22)  # between TC-W-N and TC-E-N
    at_corner = (MIDDLE, EQUATOR)  # where all four sub-districts meet
    expected_border = min(("TC-W-N", "TC-E-N"), key=west_east.__getitem__)
    expected_corner = min(west_east, key=west_east.__getitem__)  # the lowest id wins

    for lon, lat, expected in (*on_border, expected_border), (*at_corner, expected_corner):
        answers = {codes(service.locate(db, lon=lon, lat=lat))[0] for _ in range(5)}
        assert answers == {expected}
        bulk = service.locate_many(db, lons=[lon] * 3, lats=[lat] * 3)
        assert set(bulk.codes_at(AreaLevel.SUBDISTRICT)) == {expected}


def test_bulk_answers_equal_single_point_answers_on_random_points(
    db: Session, city: CityFixture
) -> None:
    generate_grid(db, within_code="TC-W", cell_size_m=700, actor=ACTOR)
    rng = np.random.default_rng(7)
    west, south, east, north = city.bounds
    count = RASTER_MIN_POINTS + 5_000  # large enough for the lookup-raster path
    lons = rng.uniform(west - 0.02, east + 0.02, count)
    lats = rng.uniform(south - 0.02, north + 0.02, count)
    # Points exactly on cell corners and area borders too.
    corners = shapely.get_coordinates(
        shapely.from_wkb([a.geometry_wkb for a in service.list_areas(db)])
    )
    lons[: len(corners)] = corners[:, 0]
    lats[: len(corners)] = corners[:, 1]

    bulk = service.locate_many(db, lons=lons, lats=lats)
    # Below the raster threshold the same question goes straight to the trees.
    small = np.concatenate(
        [
            service.locate_many(db, lons=lons[i : i + 5_000], lats=lats[i : i + 5_000]).area_ids
            for i in range(0, count, 5_000)
        ]
    )
    assert np.array_equal(bulk.area_ids, small)
    assert 0 < bulk.inside.mean() < 1

    for i in [*range(len(corners)), *rng.choice(count, 400, replace=False)]:
        single = service.locate(db, lon=float(lons[i]), lat=float(lats[i]))
        assert bulk.location(int(i)) == single
        expected_id = single.finest.id if single.finest else -1
        assert bulk.area_ids[i] == expected_id


def test_bulk_gives_codes_per_level_and_lineage_per_area(db: Session, city: CityFixture) -> None:
    bulk = service.locate_many(
        db, lons=np.array([120.07, 120.12, 122.0]), lats=np.array([30.16, 30.23, 30.2])
    )
    assert bulk.area_ids.dtype == np.int64
    assert bulk.area_ids[2] == -1
    assert list(bulk.inside) == [True, True, False]
    assert list(bulk.codes_at(AreaLevel.DISTRICT)) == ["TC-W", "TC-E", None]
    assert list(bulk.codes_at(AreaLevel.SUBDISTRICT)) == ["TC-W-S", "TC-E-N", None]
    assert list(bulk.codes_at(AreaLevel.GRID)) == [None, None, None]
    assert bulk.ids_at(AreaLevel.CITY)[0] == bulk.ids_at(AreaLevel.CITY)[1] != -1
    assert bulk.ids_at(AreaLevel.CITY)[2] == -1
    lineage = bulk.lineage(int(bulk.area_ids[1]))
    assert [area.code for area in lineage] == ["TC-E-N", "TC-E", "TC"]
    assert bulk.lineage(-1) == ()


def test_index_refreshes_after_a_write(db: Session, city: CityFixture) -> None:
    def token() -> str:
        return db.scalars(select(GeoRevision.token)).one()

    before = token()
    assert codes(service.locate(db, lon=120.14, lat=30.23)) == ["TC-E-N", "TC-E", "TC"]
    smaller = service.AreaInput(
        code="TC-E-N",
        name_zh="东北街道",
        name_en="North-east",
        level=AreaLevel.SUBDISTRICT,
        geometry=box(MIDDLE, EQUATOR, 120.13, 30.24),
    )
    report = service.upsert_areas(db, areas=[smaller], actor=ACTOR)
    assert report == service.UpsertReport(created=0, updated=1)
    assert token() != before
    # The same session (uncommitted) and, after commit, a fresh index both see the change.
    assert codes(service.locate(db, lon=120.14, lat=30.23)) == ["TC-E", "TC"]
    db.commit()
    assert codes(service.locate(db, lon=120.14, lat=30.23)) == ["TC-E", "TC"]
    area = db.scalars(select(Area).where(Area.code == "TC-E-N")).one()
    assert area.max_lon == pytest.approx(120.13)


def test_index_is_not_stale_after_a_rolled_back_write(db: Session, city: CityFixture) -> None:
    extra = service.AreaInput(
        code="TC-X",
        name_zh="新区",
        name_en="New",
        level=AreaLevel.CITY,
        geometry=box(121.0, 31.0, 121.1, 31.1),
    )
    service.upsert_areas(db, areas=[extra], actor=ACTOR)
    assert service.locate(db, lon=121.05, lat=31.05).inside
    db.rollback()
    assert not service.locate(db, lon=121.05, lat=31.05).inside


@pytest.mark.parametrize(
    ("lon", "lat", "swap_hint"),
    [
        (30.2, 120.1, True),  # latitude, longitude
        (10.0, -95.0, True),  # swapped, -95 is a fine longitude
        (200.0, 100.0, False),  # wrong either way
        (math.nan, 30.0, False),
        (120.0, math.inf, False),
    ],
)
def test_invalid_coordinates_get_a_clear_error(
    db: Session, city: CityFixture, lon: float, lat: float, swap_hint: bool
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.locate(db, lon=lon, lat=lat)
    message = caught.value.message
    assert "longitude" in message
    assert "latitude" in message
    assert ("GeoJSON/our API order is longitude, latitude" in message) is swap_hint
    assert caught.value.status_code == 400


def test_bulk_refuses_invalid_points_and_mismatched_arrays(db: Session, city: CityFixture) -> None:
    with pytest.raises(InvalidInput, match=r"2 of 3 points .* first is point 1.*swapped"):
        service.locate_many(db, lons=[120.1, 30.2, 30.1], lats=[30.2, 120.1, 120.2])
    with pytest.raises(InvalidInput, match="same length"):
        service.locate_many(db, lons=[120.1, 120.2], lats=[30.2])


def test_locating_with_no_areas_at_all_is_outside(db: Session) -> None:
    assert service.locate(db, lon=120.1, lat=30.2) == service.Location(inside=False, areas=())
    assert list(service.locate_many(db, lons=[120.1], lats=[30.2]).area_ids) == [-1]
