"""The citizen's report form (/report): choosing a service, filing, and every bad input."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.cases.models import Case, CaseFollower, CasePhoto
from tests.cases.conftest import OUTSIDE, CatalogFixture
from tests.cases.intake_support import (
    HTML,
    REPORTER,
    case_count,
    case_id_from,
    jpeg_with_gps,
    lighting,
    make_client,
    png,
    post_report,
    report_fields,
)

__all__ = ["lighting", "make_client"]


def test_the_picker_searches_names_and_keywords_in_chinese_and_english(
    client: TestClient, services: CatalogFixture
) -> None:
    page = client.get("/report", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="service-POTHOLE"' in page.text
    assert "Roads" in page.text
    assert "Water and drainage" in page.text
    english = client.get("/report/services?q=pothole", headers=HTML)
    assert 'data-testid="result-POTHOLE"' in english.text
    assert "result-NOISE" not in english.text
    chinese = client.get("/report/services?q=坑", headers={**HTML, "accept-language": "zh-CN"})
    assert 'href="/report?service_code=POTHOLE"' in chinese.text
    assert "路面坑洞" in chinese.text
    nothing = client.get("/report/services?q=volcano", headers=HTML)
    assert 'data-testid="service-results-none"' in nothing.text
    # without JavaScript the search is a plain GET form
    plain = client.get("/report?q=loud", headers=HTML)
    assert 'data-testid="result-NOISE"' in plain.text


def test_the_form_renders_each_attribute_by_its_datatype_in_the_page_language(
    client: TestClient, lighting: CatalogFixture
) -> None:
    page = client.get("/report?service_code=POTHOLE", headers=HTML).text
    assert re.search(r'type="radio" name="attribute\[size\]" value="small"[^>]* required', page)
    assert 'type="number" step="any" inputmode="decimal" name="attribute[depth_cm]"' in page
    assert page.count('type="checkbox" name="attribute[hazards]"') == 3
    assert "How big is it?" in page
    assert 'title="required"' in page
    assert 'accept="image/jpeg,image/png,image/webp" multiple' in page
    light = client.get(
        "/report?service_code=STREETLIGHT", headers={**HTML, "accept-language": "zh-CN"}
    ).text
    assert "灯杆编号" in light
    assert "补充说明" in light
    assert "路灯夜间巡查" in light
    assert '<input name="attribute[pole]" value="" maxlength="500" required>' in light
    assert '<textarea name="attribute[details]"' in light
    assert 'type="datetime-local" name="attribute[noticed]"' in light
    assert 'name="attribute[note]"' not in light  # not variable: information only


def test_an_unknown_service_in_the_link_shows_the_picker_with_a_404(
    client: TestClient, services: CatalogFixture
) -> None:
    page = client.get("/report?service_code=NOPE", headers=HTML)
    assert page.status_code == 404
    assert "There is no service with service_code &#39;NOPE&#39;" in page.text
    assert 'data-testid="service-POTHOLE"' in page.text


def test_a_report_with_attributes_and_a_photo_is_filed_and_gets_a_tracking_number(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    fields = report_fields(
        **{"attribute[hazards]": ["traffic", "cyclists"], "attribute[depth_cm]": "12"},
        **REPORTER,
    )
    response = post_report(client, fields, [("hole.jpg", jpeg_with_gps(), "image/jpeg")])
    case_id = case_id_from(response)

    case = db.get(Case, case_id)
    assert case is not None
    assert case.category.service_code == "POTHOLE"
    assert case.attributes == {"size": "medium", "depth_cm": 12, "hazards": ["traffic", "cyclists"]}
    assert case.source == "web"
    assert case.contact_email == REPORTER["email"]
    assert case.submitted_ip == "testclient"
    assert case.department_id == services.people["cmb"].department_id
    followers = db.scalars(select(CaseFollower).where(CaseFollower.case_id == case_id)).all()
    assert [f.email for f in followers] == [REPORTER["email"]]

    page = client.get(response.headers["location"], headers=HTML)
    assert page.status_code == 200
    assert f'data-testid="tracking-number-value">{case_id}<' in page.text
    assert "Your tracking number" in page.text
    assert "Traffic, Cyclists" in page.text
    assert "Medium" in page.text

    photo = db.scalars(select(CasePhoto).where(CasePhoto.case_id == case_id)).one()
    served = client.get(f"/track/{case_id}/photos/{photo.id}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == photo.data
    assert b"PhoneMaker" not in served.content
    assert b"Exif" not in served.content
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.format == "JPEG"
        assert not image.getexif()
        assert "exif" not in image.info
    assert f'src="/track/{case_id}/photos/{photo.id}"' in page.text


def test_a_report_without_email_updates_keeps_the_contact_but_adds_no_follower(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    fields = report_fields(email="quiet@example.net", follow="")
    case_id = case_id_from(post_report(client, fields, [("a.png", png(), "image/png")]))
    assert db.scalars(select(CaseFollower).where(CaseFollower.case_id == case_id)).all() == []
    case = db.get(Case, case_id)
    assert case is not None
    assert case.contact_email == "quiet@example.net"


def test_a_datetime_from_the_form_gets_the_city_time_zone(
    client: TestClient, db: Session, lighting: CatalogFixture
) -> None:
    fields = report_fields(
        "STREETLIGHT",
        **{
            "attribute[size]": [],
            "attribute[pole]": "L-0042",
            "attribute[noticed]": "2026-03-01T21:30",
        },
    )
    case_id = case_id_from(post_report(client, fields))
    case = db.get(Case, case_id)
    assert case is not None
    assert case.attributes == {"pole": "L-0042", "noticed": "2026-03-01T21:30:00+08:00"}


def test_an_address_alone_locates_the_report(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    fields = report_fields(point=None, address="西南街道 near the school gate")
    case = db.get(Case, case_id_from(post_report(client, fields)))
    assert case is not None
    assert case.address == "西南街道 near the school gate"


# --- bad input: a clear message next to the field, values kept, nothing written ----------


def test_missing_service_code_asks_to_choose_one_and_keeps_the_values(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    response = post_report(client, report_fields(None, description="Hole by the bakery"))
    assert response.status_code == 400
    assert 'data-testid="error-service_code"' in response.text
    assert "service_code is required" in response.text
    assert 'data-testid="service-select"' in response.text
    assert "Hole by the bakery</textarea>" in response.text
    assert case_count(db) == 0


def test_an_unknown_service_code_is_refused(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    response = post_report(client, report_fields("NO-SUCH-SERVICE"))
    assert response.status_code == 400
    assert "There is no service with service_code &#39;NO-SUCH-SERVICE&#39;" in response.text
    assert case_count(db) == 0


def test_a_missing_location_is_shown_at_the_map(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    response = post_report(client, report_fields(point=None, description="Somewhere"))
    assert response.status_code == 400
    assert re.search(r'data-testid="error-location">A location is required', response.text)
    assert "Somewhere</textarea>" in response.text
    assert case_count(db) == 0


def test_a_point_outside_the_city_is_refused(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    response = post_report(client, report_fields(point=OUTSIDE))
    assert response.status_code == 400
    assert (
        'data-testid="error-location">The point longitude 121.5, latitude 31.2 is outside the city'
        in response.text
    )
    assert f'name="lat" id="lat" value="{OUTSIDE[1]}"' in response.text
    assert case_count(db) == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"attribute[depth_cm]": "deep"}, "depth_cm", "attribute depth_cm must be a number"),
        ({"attribute[size]": "huge"}, "size", "&#39;huge&#39; is not a value of attribute size"),
        ({"attribute[hazards]": ["traffic", "ufo"]}, "hazards", "&#39;ufo&#39; is not a value"),
        ({"attribute[size]": ""}, "size", "attribute size (How big is it?) is required"),
    ],
    ids=["wrong-type", "not-in-list", "not-in-multi-list", "required-missing"],
)
def test_bad_attribute_values_are_explained_next_to_the_attribute(
    client: TestClient,
    db: Session,
    services: CatalogFixture,
    changes: dict[str, str | list[str]],
    field: str,
    message: str,
) -> None:
    response = post_report(client, report_fields(**changes))
    assert response.status_code == 400
    assert f'data-testid="error-attribute[{field}]">{message}' in response.text
    assert case_count(db) == 0


def test_a_description_over_4000_characters_is_refused(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    response = post_report(client, report_fields(description="x" * 4001))
    assert response.status_code == 400
    assert "description is 4,001 characters long; at most 4,000" in response.text
    assert 'data-testid="error-description"' in response.text
    assert case_count(db) == 0


def test_html_in_the_description_and_attributes_is_stored_as_text_and_escaped(
    client: TestClient, db: Session, lighting: CatalogFixture
) -> None:
    script = "<script>alert('x')</script>"
    image = '<img src=x onerror="alert(1)">'
    fields = report_fields(
        "STREETLIGHT",
        description=f"Dark {script}",
        **{"attribute[size]": [], "attribute[pole]": image, "attribute[details]": script},
    )
    case_id = case_id_from(post_report(client, fields))
    case = db.get(Case, case_id)
    assert case is not None
    assert case.description == f"Dark {script}"
    assert case.attributes["pole"] == image
    page = client.get(f"/track/{case_id}", headers=HTML).text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    # and on the form when it comes back with an error
    again = post_report(
        client, report_fields("STREETLIGHT", description=script, **{"attribute[size]": []})
    )
    assert again.status_code == 400
    assert "<script>alert" not in again.text


def test_a_file_that_is_not_an_image_is_refused(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    fake = ("hole.jpg", b"%PDF-1.7 this is not a picture", "image/jpeg")
    response = post_report(client, report_fields(), [fake])
    assert response.status_code == 400
    assert 'data-testid="error-media">hole.jpg is not a picture we can read' in response.text
    assert "Please attach your photos again." in response.text
    assert case_count(db) == 0


def test_a_photo_over_the_size_limit_gets_413(
    make_client: Callable[..., TestClient], db: Session, services: CatalogFixture
) -> None:
    client = make_client(max_photo_mb=0.05)
    big = ("big.png", png() + b"\0" * 60_000, "image/png")
    response = post_report(client, report_fields(), [big])
    assert response.status_code == 413
    assert (
        'data-testid="error-media">big.png is 0.1 MB; the largest accepted photo is 0.05 MB'
        in response.text
    )
    assert case_count(db) == 0


def test_more_photos_than_allowed_are_refused(
    make_client: Callable[..., TestClient], db: Session, services: CatalogFixture
) -> None:
    client = make_client(max_photos=2)
    photos = [(f"p{i}.png", png(), "image/png") for i in range(3)]
    response = post_report(client, report_fields(), photos)
    assert response.status_code == 400
    assert "3 photos sent; at most 2 are accepted with one report." in response.text
    assert case_count(db) == 0


def test_a_flood_of_anonymous_reports_from_one_address_gets_429_with_retry_after(
    make_client: Callable[..., TestClient], db: Session, services: CatalogFixture
) -> None:
    client = make_client(intake_rate_limit=2, intake_rate_window_minutes=10)
    for _ in range(2):
        case_id_from(post_report(client, report_fields()))
    response = post_report(client, report_fields(description="third"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "300"
    assert "Too many reports from your address" in response.text
    assert "third</textarea>" in response.text
    assert case_count(db) == 2


def test_the_report_form_needs_the_csrf_token(
    client: TestClient, db: Session, services: CatalogFixture
) -> None:
    response = client.post("/report", data=report_fields(), headers=HTML)
    assert response.status_code == 403
    assert case_count(db) == 0
