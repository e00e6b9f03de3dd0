from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.errors import CityOSError, InvalidInput, PayloadTooLarge, Unprocessable
from cityos.geo import service
from cityos.geo.importer import ImportReport, import_geojson
from cityos.geo.models import Area, AreaLevel
from tests.geo.conftest import (
    ACTOR,
    EAST,
    EQUATOR,
    MIDDLE,
    NORTH,
    SOUTH,
    WEST,
    feature,
    geojson,
    polygon,
    rectangle,
)

MAX_BYTES = 1_000_000


def districts(**names: str) -> bytes:
    west = names.get("west", "西区")
    east = names.get("east", "东区")
    return geojson(
        feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="D-W", name=west, name_en="West"),
        feature(rectangle(MIDDLE, SOUTH, EAST, NORTH), code="D-E", name=east, name_en="East"),
    )


def run_import(db: Session, data: bytes, **options: Any) -> ImportReport:
    arguments: dict[str, Any] = {
        "level": AreaLevel.DISTRICT,
        "code_property": "code",
        "name_property": "name",
        "max_bytes": MAX_BYTES,
        "actor": ACTOR,
        **options,
    }
    return import_geojson(db, data=data, **arguments)


def snapshot(db: Session) -> tuple[int, int]:
    """How many areas and import audit entries there are."""
    areas = db.scalar(select(func.count()).select_from(Area)) or 0
    imports = db.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "geo.import")
    )
    return areas, imports or 0


def refused(db: Session, data: bytes, error: type[CityOSError], **options: Any) -> CityOSError:
    """Import ``data``, expect ``error``, and check that nothing at all was written."""
    before = snapshot(db)
    with pytest.raises(error) as caught:
        run_import(db, data, **options)
    assert snapshot(db) == before
    return caught.value


def reasons(error: CityOSError) -> list[str]:
    return [problem["reason"] for problem in error.details]


# --- good files --------------------------------------------------------------------------


def test_good_import_creates_the_areas_under_the_right_parent(db: Session, city_only: None) -> None:
    report = run_import(db, districts(), name_en_property="name_en")
    assert report == ImportReport(created=2, updated=0, repaired=[])
    areas = {a.code: a for a in service.list_areas(db, level=AreaLevel.DISTRICT)}
    assert set(areas) == {"D-W", "D-E"}
    city = service.get_area(db, code="TC")
    assert {a.parent_id for a in areas.values()} == {city.id}
    assert areas["D-W"].name_zh == "西区"
    assert areas["D-W"].name_en == "West"
    assert areas["D-W"].properties["name_en"] == "West"
    assert areas["D-W"].area_m2 == pytest.approx(city.area_m2 / 2, rel=1e-3)
    assert service.locate(db, lon=120.12, lat=30.2).by_level(AreaLevel.DISTRICT) is not None
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "geo.import")).one()
    assert entry.after is not None
    assert entry.after["created"] == 2


def test_next_level_finds_its_parents_by_largest_overlap(db: Session, city_only: None) -> None:
    run_import(db, districts())
    # A sub-district that pokes slightly into the east district still belongs to the west.
    data = geojson(
        feature(rectangle(WEST, EQUATOR, MIDDLE + 0.005, NORTH), code="S-1", name="一"),
        feature(rectangle(MIDDLE, SOUTH, EAST, EQUATOR), code="S-2", name="二"),
    )
    report = run_import(db, data, level=AreaLevel.SUBDISTRICT)
    assert report.created == 2
    detail = service.area_detail(db, code="S-1")
    assert detail["properties"]["parent_code"] == "D-W"
    assert [a["code"] for a in detail["properties"]["ancestors"]] == ["D-W", "TC"]
    assert service.area_detail(db, code="S-2")["properties"]["parent_code"] == "D-E"


def test_reimport_updates_areas_by_code(db: Session, city_only: None) -> None:
    run_import(db, districts())
    first = service.get_area(db, code="D-W").id
    report = run_import(db, districts(west="西湖区"))
    assert (report.created, report.updated) == (0, 2)
    area = service.get_area(db, code="D-W")
    assert area.id == first
    assert area.name_zh == "西湖区"
    assert snapshot(db)[0] == 3


def test_safely_repairable_geometry_is_repaired_and_reported(db: Session, city_only: None) -> None:
    # The west half with a zero-width spike sticking out of its east edge.
    spiky = polygon(
        [
            (WEST, SOUTH),
            (MIDDLE, SOUTH),
            (MIDDLE, 30.19),
            (MIDDLE + 0.01, 30.19),
            (MIDDLE, 30.19),
            (MIDDLE, NORTH),
            (WEST, NORTH),
            (WEST, SOUTH),
        ]
    )
    # The east half with an unclosed ring.
    unclosed = polygon([(MIDDLE, SOUTH), (EAST, SOUTH), (EAST, NORTH), (MIDDLE, NORTH)])
    data = geojson(
        feature(spiky, code="D-W", name="西区"), feature(unclosed, code="D-E", name="东区")
    )
    report = run_import(db, data)
    assert report.created == 2
    assert [(index, code) for index, code, _ in report.repaired] == [(0, "D-W"), (1, "D-E")]
    assert "Self-intersection" in report.repaired[0][2]
    assert "make_valid" in report.repaired[0][2]
    assert "closed an unclosed ring" in report.repaired[1][2]
    west = service.get_area(db, code="D-W")
    assert west.max_lon == pytest.approx(MIDDLE)  # the spike is gone


# --- broken files: a clear message, nothing imported --------------------------------------


def test_bow_tie_polygon_is_refused_with_the_place_it_crosses(db: Session, city_only: None) -> None:
    bow_tie = polygon(
        [(120.06, 30.16), (120.09, 30.19), (120.09, 30.16), (120.06, 30.19), (120.06, 30.16)]
    )
    data = geojson(
        feature(rectangle(MIDDLE, SOUTH, EAST, NORTH), code="D-E", name="东区"),
        feature(bow_tie, code="D-W", name="西区"),
    )
    error = refused(db, data, Unprocessable)
    assert error.status_code == 422
    assert error.message.startswith("1 of 2 features cannot be imported; nothing was imported")
    assert error.details == [
        {"index": 1, "code": "D-W", "reason": error.details[0]["reason"]},
    ]
    reason = reasons(error)[0]
    assert "Self-intersection at longitude 120.075, latitude 30.175" in reason
    assert "cannot be repaired safely" in reason


def test_point_features_are_refused(db: Session, city_only: None) -> None:
    data = geojson(
        feature({"type": "Point", "coordinates": [120.07, 30.2]}, code="P1", name="点"),
        feature(
            {"type": "LineString", "coordinates": [[120.07, 30.2], [120.08, 30.21]]},
            code="L1",
            name="线",
        ),
    )
    error = refused(db, data, Unprocessable)
    assert reasons(error) == [
        "is a Point; only Polygon and MultiPolygon areas can be imported",
        "is a LineString; only Polygon and MultiPolygon areas can be imported",
    ]
    assert "2 of 2 features" in error.message


def test_latitude_longitude_swapped_is_refused_with_a_hint(db: Session, city_only: None) -> None:
    ring = [(WEST, SOUTH), (MIDDLE, SOUTH), (MIDDLE, NORTH), (WEST, NORTH), (WEST, SOUTH)]
    swapped = polygon([(lat, lon) for lon, lat in ring])
    error = refused(db, geojson(feature(swapped, code="D-W", name="西区")), Unprocessable)
    reason = reasons(error)[0]
    assert "outside the WGS84 range" in reason
    assert "latitude/longitude swapped" in reason
    assert "GeoJSON order is longitude, latitude" in reason


def test_non_utf8_file_is_refused_with_the_byte_offset(db: Session, city_only: None) -> None:
    text = districts().decode("utf-8")
    data = text.encode("gbk")
    offset = data.index("西区".encode("gbk"))
    error = refused(db, data, InvalidInput)
    assert f"byte offset {offset:,}" in error.message
    assert "GeoJSON must be UTF-8 (RFC 7946)" in error.message
    assert "re-save" in error.message
    assert error.details == {"byte_offset": offset}


def test_utf8_file_with_a_byte_order_mark_is_accepted(db: Session, city_only: None) -> None:
    assert run_import(db, b"\xef\xbb\xbf" + districts()).created == 2


def test_truncated_json_is_refused_with_line_and_column(db: Session, city_only: None) -> None:
    data = json.dumps(json.loads(districts()), indent=2).encode("utf-8")
    cut = data[: len(data) // 2]
    error = refused(db, cut, InvalidInput)
    line = cut.count(b"\n") + 1  # the end of the text is where the JSON stops making sense
    assert "not valid JSON" in error.message
    assert f"at line {line}, column" in error.message
    assert "truncated" in error.message
    assert error.details["line"] == line


def test_file_over_the_size_limit_is_refused_before_reading_it(
    db: Session, city_only: None
) -> None:
    data = districts()
    error = refused(db, data, PayloadTooLarge, max_bytes=len(data) - 1)
    assert error.status_code == 413
    assert "CITYOS_MAX_UPLOAD_MB" in error.message
    assert f"{len(data):,} bytes" in error.message
    assert f"{len(data) - 1:,} bytes" in error.message


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([1, 2, 3], "not GeoJSON"),
        ({"type": "Polygon", "coordinates": []}, "bare Polygon geometry"),
        ({"type": "Topology"}, 'needs a "FeatureCollection"'),
        ({"type": "FeatureCollection", "features": []}, "has no features"),
        (
            {
                "type": "FeatureCollection",
                "crs": {"properties": {"name": "EPSG:3857"}},
                "features": [],
            },
            "must be WGS84",
        ),
    ],
)
def test_file_that_is_not_a_feature_collection_is_refused(
    db: Session, city_only: None, document: object, expected: str
) -> None:
    error = refused(db, json.dumps(document).encode(), InvalidInput)
    assert expected in error.message


def test_missing_code_property_lists_the_properties_the_feature_has(
    db: Session, city_only: None
) -> None:
    data = geojson(
        feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), name="西区", adcode=330106, pop=1)
    )
    error = refused(db, data, Unprocessable)
    assert reasons(error) == [
        "has no 'code' property; the feature's properties are: adcode, name, pop. Pick the "
        "property holding the area codes."
    ]
    # Numeric codes are fine once the right property is named.
    assert run_import(db, data, code_property="adcode").created == 1
    assert service.get_area(db, code="330106").name_zh == "西区"


def test_feature_outside_every_parent_area_is_refused(db: Session, city_only: None) -> None:
    data = geojson(
        feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="D-W", name="西区"),
        feature(rectangle(121.0, 31.0, 121.1, 31.1), code="FAR", name="远区"),
    )
    error = refused(db, data, Unprocessable)
    assert error.details == [
        {
            "index": 1,
            "code": "FAR",
            "reason": "lies outside every city (it overlaps none of the 1); check its "
            "coordinates, or import the city that contains it first",
        }
    ]


def test_level_without_its_parent_level_is_refused(db: Session, city_only: None) -> None:
    data = geojson(feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="S-1", name="一"))
    error = refused(db, data, Unprocessable, level=AreaLevel.SUBDISTRICT)
    assert reasons(error) == [
        "has no parent: there are no district areas yet; import the district level first"
    ]


def test_every_problem_of_the_file_is_reported_at_once(db: Session, city_only: None) -> None:
    good = rectangle(WEST, SOUTH, MIDDLE, NORTH)
    data = geojson(
        feature(good, code="D-1", name="一"),
        feature(None, code="D-2", name="二"),
        feature(good, code="D-1", name="三"),
        feature(good, code="D-4"),
        feature(rectangle(MIDDLE, SOUTH, EAST, NORTH), code="D-5", name="五"),
    )
    error = refused(db, data, Unprocessable)
    assert error.message.startswith("3 of 5 features cannot be imported; nothing was imported")
    assert [(p["index"], p["code"]) for p in error.details] == [(1, "D-2"), (2, "D-1"), (3, "D-4")]
    assert "has no geometry" in reasons(error)[0]
    assert "repeats the code 'D-1' of feature 0" in reasons(error)[1]
    assert "has no 'name' property" in reasons(error)[2]


def test_code_of_another_level_is_refused(db: Session, city_only: None) -> None:
    data = geojson(feature(rectangle(WEST, SOUTH, MIDDLE, NORTH), code="TC", name="西区"))
    error = refused(db, data, Unprocessable)
    assert "uses the code 'TC' of an existing city" in reasons(error)[0]


def test_empty_or_unusable_code_is_refused(db: Session, city_only: None) -> None:
    good = rectangle(WEST, SOUTH, MIDDLE, NORTH)
    flagged = feature(good, name="二")
    flagged["properties"]["code"] = True
    data = geojson(feature(good, code="  ", name="一"), flagged)
    error = refused(db, data, Unprocessable)
    assert reasons(error) == [
        "has an empty or unusable 'code' property ('  '); area codes must be non-empty text "
        "or whole numbers",
        "has an empty or unusable 'code' property (True); area codes must be non-empty text "
        "or whole numbers",
    ]
