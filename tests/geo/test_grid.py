from __future__ import annotations

import re
from typing import Any

import h3
import numpy as np
import pytest
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.errors import Conflict, InvalidInput, NotFound
from cityos.geo import service
from cityos.geo.grid import GridReport, generate_grid
from cityos.geo.models import Area, AreaLevel
from tests.geo.conftest import ACTOR, MIDDLE, CityFixture, box


def cells_of(db: Session) -> list[Area]:
    return service.list_areas(db, level=AreaLevel.GRID)


def shape(area: Area) -> Any:
    return shapely.from_wkb(area.geometry_wkb)


def test_square_grid_covers_the_area_exactly(db: Session, city: CityFixture) -> None:
    report = generate_grid(db, within_code="TC", cell_size_m=1000, actor=ACTOR)
    cells = cells_of(db)
    assert report == GridReport(created=len(cells), within_code="TC", kind="square")
    city_area = service.get_area(db, code="TC")
    # About 96 km² in cells of 1 km², plus the clipped ones along the edges.
    assert 96 <= len(cells) <= 130
    assert sum(cell.area_m2 for cell in cells) == pytest.approx(city_area.area_m2, rel=0.01)
    union = shapely.union_all([shape(cell) for cell in cells])
    assert union.area == pytest.approx(shape(city_area).area, rel=0.01)
    # Cells do not overlap: their areas add up to the union's.
    assert sum(shape(cell).area for cell in cells) == pytest.approx(union.area, rel=1e-6)


def test_full_interior_cells_have_the_requested_size(db: Session, city: CityFixture) -> None:
    generate_grid(db, within_code="TC", cell_size_m=1000, actor=ACTOR)
    cells = cells_of(db)
    rows = max(cell.properties["row"] for cell in cells)
    cols = max(cell.properties["col"] for cell in cells)
    interior = [
        cell
        for cell in cells
        if 0 < cell.properties["row"] < rows and 0 < cell.properties["col"] < cols
    ]
    assert interior
    for cell in interior:
        assert cell.area_m2 == pytest.approx(1_000_000, rel=0.02)
        assert cell.properties["kind"] == "square"
        assert cell.properties["cell_size_m"] == 1000


def test_cells_hang_under_the_finest_area_containing_them(db: Session, city: CityFixture) -> None:
    generate_grid(db, within_code="TC", cell_size_m=1000, actor=ACTOR)
    by_id = {area.id: area for area in service.list_areas(db)}
    for cell in cells_of(db):
        assert cell.parent_id is not None
        parent = by_id[cell.parent_id]
        assert parent.level == "subdistrict"
        centre = shape(cell).centroid
        assert shapely.covers(shape(parent), centre)


def test_cells_outside_every_finer_area_attach_to_the_within_area(db: Session) -> None:
    service.upsert_areas(
        db,
        areas=[
            service.AreaInput("XC", "X市", "X", AreaLevel.CITY, box(121.0, 31.0, 121.04, 31.03)),
            service.AreaInput(
                "XC-W", "西", "West", AreaLevel.DISTRICT, box(121.0, 31.0, 121.02, 31.03)
            ),
        ],
        actor=ACTOR,
    )
    generate_grid(db, within_code="XC", cell_size_m=500, actor=ACTOR)
    city_id = service.get_area(db, code="XC").id
    west_id = service.get_area(db, code="XC-W").id
    for cell in cells_of(db):
        x = shape(cell).centroid.x
        assert cell.parent_id == (west_id if x < 121.02 else city_id)


def test_square_cell_codes_are_unique_and_count_rows_from_the_north(
    db: Session, city: CityFixture
) -> None:
    generate_grid(db, within_code="TC-W", cell_size_m=800, actor=ACTOR)
    cells = cells_of(db)
    codes = [cell.code for cell in cells]
    assert len(set(codes)) == len(codes)
    for cell in cells:
        assert re.fullmatch(r"TC-W-G\d{3}\d{3}", cell.code)
        row, col = cell.properties["row"], cell.properties["col"]
        assert cell.code == f"TC-W-G{row:03d}{col:03d}"
    north = min(cells, key=lambda cell: cell.properties["row"])
    south = max(cells, key=lambda cell: cell.properties["row"])
    assert north.label_lat > south.label_lat


def test_h3_grid_covers_the_area_with_hexagons(db: Session, city: CityFixture) -> None:
    report = generate_grid(db, within_code="TC", h3_resolution=8, actor=ACTOR)
    cells = cells_of(db)
    assert report.kind == "h3"
    assert report.created == len(cells)
    city = service.get_area(db, code="TC")
    city_shape = shape(city)
    # Hexagons whose centre is inside cover about the area (some out, some missing at edges).
    assert sum(cell.area_m2 for cell in cells) == pytest.approx(city.area_m2, rel=0.05)
    for cell in cells:
        index = cell.properties["h3_index"]
        assert cell.code == f"H3-{index}"
        assert cell.properties == {"kind": "h3", "h3_resolution": 8, "h3_index": index}
        assert h3.get_resolution(index) == 8
        lat, lon = h3.cell_to_latlng(index)
        assert city_shape.contains(shapely.Point(lon, lat))
        assert len(shapely.get_coordinates(shape(cell))) == 7  # a closed hexagon
        assert cell.area_m2 == pytest.approx(h3.cell_area(index, "m^2"), rel=0.01)
    levels = {area.id: area.level for area in service.list_areas(db)}
    assert {levels.get(cell.parent_id or 0) for cell in cells} == {"subdistrict"}


def test_existing_grid_is_a_conflict_unless_replaced(db: Session, city: CityFixture) -> None:
    generate_grid(db, within_code="TC", cell_size_m=1000, actor=ACTOR)
    first = {cell.code: cell.id for cell in cells_of(db)}
    with pytest.raises(Conflict) as caught:
        generate_grid(db, within_code="TC-E", cell_size_m=1000, actor=ACTOR)
    east = sum(1 for cell in cells_of(db) if cell.label_lon > MIDDLE)
    assert f"TC-E already has {east:,} grid cells" in caught.value.message
    assert "--replace" in caught.value.message
    assert {cell.code: cell.id for cell in cells_of(db)} == first

    again = generate_grid(db, within_code="TC", cell_size_m=1000, replace=True, actor=ACTOR)
    assert (again.created, again.updated, again.deleted) == (0, len(first), 0)
    assert {cell.code: cell.id for cell in cells_of(db)} == first  # same cells, same ids

    coarser = generate_grid(db, within_code="TC", cell_size_m=2000, replace=True, actor=ACTOR)
    cells = cells_of(db)
    assert coarser.created + coarser.updated == len(cells)
    assert coarser.deleted == len(first) - coarser.updated
    assert all(cell.properties["cell_size_m"] == 2000 for cell in cells)
    actions = db.scalars(
        select(AuditEntry.action).where(AuditEntry.action == "geo.grid.generate")
    ).all()
    assert len(actions) == 3


def test_grid_of_one_district_leaves_the_others_alone(db: Session, city: CityFixture) -> None:
    generate_grid(db, within_code="TC-W", cell_size_m=1000, actor=ACTOR)
    west = len(cells_of(db))
    generate_grid(db, within_code="TC-E", h3_resolution=8, actor=ACTOR)
    generate_grid(db, within_code="TC-E", h3_resolution=7, replace=True, actor=ACTOR)
    cells = cells_of(db)
    assert sum(1 for cell in cells if cell.properties["kind"] == "square") == west
    assert {cell.properties.get("h3_resolution") for cell in cells} == {None, 7}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "Give exactly one of a cell size"),
        ({"cell_size_m": 500, "h3_resolution": 9}, "Give exactly one of a cell size"),
        ({"cell_size_m": 10}, "between 50 m and 10000 m (got 10 m)"),
        ({"cell_size_m": 20_000}, "between 50 m and 10000 m"),
        ({"h3_resolution": 4}, "from 5"),
        ({"h3_resolution": 13}, "got 13"),
        ({"h3_resolution": 12}, "the limit is 200,000. Use a coarser resolution"),
    ],
)
def test_bad_grid_arguments_get_a_clear_error(
    db: Session, city: CityFixture, options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        generate_grid(db, within_code="TC", actor=ACTOR, **options)
    assert expected in caught.value.message
    assert db.scalar(select(func.count()).select_from(Area).where(Area.level == "grid")) == 0


def test_too_many_square_cells_suggests_a_size(db: Session) -> None:
    big = box(119.0, 29.0, 121.0, 31.0)  # about 200 × 220 km
    service.upsert_areas(
        db, areas=[service.AreaInput("BIG", "大", "Big", AreaLevel.CITY, big)], actor=ACTOR
    )
    with pytest.raises(InvalidInput, match=r"would have [\d,]+ cells \(estimated\).*--cell-size"):
        generate_grid(db, within_code="BIG", cell_size_m=100, actor=ACTOR)


def test_grid_within_an_unknown_area_or_a_cell_is_refused(db: Session, city: CityFixture) -> None:
    with pytest.raises(NotFound, match="no area with the code 'NOPE'"):
        generate_grid(db, within_code="NOPE", cell_size_m=500, actor=ACTOR)
    generate_grid(db, within_code="TC", cell_size_m=5000, actor=ACTOR)
    cell = cells_of(db)[0]
    with pytest.raises(InvalidInput, match="is a grid cell"):
        generate_grid(db, within_code=cell.code, cell_size_m=500, actor=ACTOR)


def test_grid_writes_change_what_locate_answers(db: Session, city: CityFixture) -> None:
    generate_grid(db, within_code="TC", cell_size_m=1000, actor=ACTOR)
    lons = np.linspace(120.051, 120.149, 50)
    lats = np.full(50, 30.2)
    bulk = service.locate_many(db, lons=lons, lats=lats)
    assert all(code.startswith("TC-G") for code in bulk.codes_at(AreaLevel.GRID))
