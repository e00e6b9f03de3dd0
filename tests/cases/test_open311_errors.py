"""Every bad Open311 call gets the Open311 error format, the right HTTP status and a message
that says what to fix — and a refused POST writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases import open311_search
from cityos.cases.open311 import Format, error_records
from cityos.cases.open311_api import error_response
from cityos.db import utcnow
from cityos.errors import InvalidInput, RateLimited
from tests.cases.conftest import ACTOR, OUTSIDE
from tests.cases.open311_support import (
    BASE,
    Open311City,
    case_count,
    errors_of,
    open311_city,
    post,
    pothole,
    xml,
)

__all__ = ["open311_city"]


def refused(
    client: TestClient, db: Session, pairs: list[tuple[str, str]], status: int, fmt: str = "json"
) -> list[str]:
    """POST ``pairs``; check the status, the format and that nothing was written."""
    before = case_count(db)
    response = post(client, pairs, fmt=fmt)
    assert response.status_code == status, response.text
    errors = errors_of(response)
    assert errors
    assert {error["code"] for error in errors} == {str(status)}
    assert case_count(db) == before
    return [error["description"] for error in errors]


def without(pairs: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    return [(name, value) for name, value in pairs if name not in names]


# --- api_key -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_missing_api_key_is_403(
    client: TestClient, db: Session, open311_city: Open311City, fmt: str
) -> None:
    messages = refused(client, db, without(pothole(open311_city), "api_key"), 403, fmt)

    assert "api_key is required" in messages[0]


def test_unknown_malformed_and_revoked_api_keys_are_403(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    pairs = without(pothole(open311_city), "api_key")
    prefix = open311_city.api_key.split("_")[1]

    wrong = refused(client, db, [*pairs, ("api_key", f"cos_{prefix}_wrongsecret")], 403)
    malformed = refused(client, db, [*pairs, ("api_key", "letmein")], 403)
    auth_service.revoke_api_key(db, key_id=open311_city.api_key_id, actor=ACTOR)
    db.commit()
    revoked = refused(client, db, pothole(open311_city), 403, "xml")

    assert "Unknown API key" in wrong[0]
    assert "cos_<prefix>_<secret>" in malformed[0]
    assert "revoked" in revoked[0]


# --- what is reported --------------------------------------------------------------------


def test_unknown_and_missing_service_code_are_400(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    unknown = refused(client, db, pothole(open311_city, service_code="UFO"), 400)
    missing = refused(client, db, without(pothole(open311_city), "service_code"), 400)

    assert "no service with service_code 'UFO'" in unknown[0]
    assert "service_code is required" in missing[0]


def test_missing_location_is_400(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    messages = refused(client, db, without(pothole(open311_city), "lat", "long"), 400, "xml")

    assert "A location is required" in messages[0]


def test_half_a_location_or_not_a_number_is_400(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    half = refused(client, db, without(pothole(open311_city), "long"), 400)
    words = refused(client, db, pothole(open311_city, lat="north"), 400)

    assert "Give both lat and long" in half[0]
    assert "lat must be a number" in words[0]


def test_point_outside_the_city_is_400(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    messages = refused(client, db, pothole(open311_city, point=OUTSIDE), 400)

    assert "outside the city" in messages[0]


def test_unknown_address_is_400(client: TestClient, db: Session, open311_city: Open311City) -> None:
    pairs = [*without(pothole(open311_city), "lat", "long"), ("address_string", "Atlantis")]

    messages = refused(client, db, pairs, 400)

    assert "could not find 'Atlantis'" in messages[0]


def test_attribute_of_the_wrong_type_or_not_in_the_list_is_400(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    wrong_type = refused(client, db, pothole(open311_city, **{"attribute[depth_cm]": "deep"}), 400)
    not_listed = refused(client, db, pothole(open311_city, **{"attribute[size]": "huge"}), 400)
    multi = [*pothole(open311_city), ("attribute[hazards][]", "traffic")]
    multi += [("attribute[hazards][]", "dragons")]
    bad_multi = refused(client, db, multi, 400)
    unknown = refused(client, db, pothole(open311_city, **{"attribute[colour]": "red"}), 400)
    missing = refused(client, db, without(pothole(open311_city), "attribute[size]"), 400)

    assert "depth_cm must be a number, not 'deep'" in wrong_type[0]
    assert "'huge' is not a value of attribute size" in not_listed[0]
    assert "'dragons' is not a value of attribute hazards" in bad_multi[0]
    assert "no attribute 'colour'" in unknown[0]
    assert "attribute size" in missing[0]
    assert "required" in missing[0]


def test_description_over_4000_characters_is_400(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    messages = refused(client, db, pothole(open311_city, description="x" * 4001), 400, "xml")

    assert "4,001 characters" in messages[0]
    assert "at most 4,000" in messages[0]


def test_every_problem_is_one_error_of_the_list(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    pairs = pothole(open311_city, description="x" * 4001, email="not-an-address")
    pairs = [*without(pairs, "attribute[size]"), ("attribute[size]", "huge")]

    messages = refused(client, db, pairs, 400, "xml")

    assert len(messages) == 3
    assert any("e-mail" in message for message in messages)


def test_wrong_jurisdiction_is_404_on_post(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    messages = refused(client, db, pothole(open311_city, jurisdiction_id="XX"), 404)

    assert "Unknown jurisdiction_id 'XX'" in messages[0]


def test_a_body_that_is_not_a_form_still_gets_a_clear_error(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        content=b"--x\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )

    assert response.status_code in (400, 403)
    assert errors_of(response)
    assert case_count(db) == 0


# --- reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_request_id_is_404(client: TestClient, open311_city: Open311City, fmt: str) -> None:
    for request_id in ("987654", "abc"):
        response = client.get(f"{BASE}/requests/{request_id}.{fmt}")
        assert response.status_code == 404
        assert errors_of(response)[0]["code"] == "404"


def test_unknown_service_code_and_token_are_404(
    client: TestClient, open311_city: Open311City
) -> None:
    definition = client.get(f"{BASE}/services/UFO.xml")
    token = client.get(f"{BASE}/tokens/no-such-token.json")

    assert definition.status_code == 404
    assert "UFO" in errors_of(definition)[0]["description"]
    assert token.status_code == 404


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("start_date=yesterday", "start_date must be an ISO 8601 datetime"),
        ("end_date=2026-13-45", "end_date must be an ISO 8601 datetime"),
        ("start_date=2026-03-01&end_date=2026-01-01", "end_date is before start_date"),
        ("start_date=2026-01-01T00:00:00Z&end_date=2026-04-15T00:00:00Z", "at most 90 days"),
        ("status=pending", "status is open or closed"),
        ("service_code=UFO", "Unknown service_code UFO"),
        ("page_size=5000", "page_size must be a whole number from 1 to 1,000"),
        ("page=0", "page must be a whole number"),
        ("service_request_id=12,abc", "'abc' is not one"),
        ("extensions=maybe", "extensions must be true or false"),
    ],
)
def test_bad_search_parameters_are_400(
    client: TestClient, open311_city: Open311City, query: str, words: str
) -> None:
    for fmt in ("json", "xml"):
        response = client.get(f"{BASE}/requests.{fmt}?{query}")
        assert response.status_code == 400, response.text
        errors = errors_of(response)
        assert errors[0]["code"] == "400"
        assert words in errors[0]["description"]


def test_exactly_90_days_apart_is_accepted(client: TestClient, open311_city: Open311City) -> None:
    end = utcnow()
    start = end - timedelta(days=90)
    query = {"start_date": start.isoformat(), "end_date": end.isoformat()}

    assert client.get(f"{BASE}/requests.json", params=query).status_code == 200


def test_unknown_format_is_400_in_the_xml_error_format(
    client: TestClient, open311_city: Open311City
) -> None:
    for path in ("services.csv", "requests.html", "discovery.yaml", "services/POTHOLE.txt"):
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 400
        root = xml(response)
        assert "end in .xml or .json" in (root.findtext("error/description") or "")

    posted = post(client, pothole(open311_city), fmt="csv")
    assert posted.status_code == 400


def test_unknown_paths_and_methods_under_open311_are_404_in_its_format(
    client: TestClient, open311_city: Open311City
) -> None:
    json_missing = client.get(f"{BASE}/frobnicate.json")
    xml_missing = client.get(f"{BASE}/services")
    wrong_method = client.delete(f"{BASE}/requests.json")
    outside_v2 = client.get("/open311/discovery.json")

    assert json_missing.status_code == 404
    assert "GET discovery" in errors_of(json_missing)[0]["description"]
    assert xml_missing.status_code == 404
    assert xml(xml_missing).tag == "errors"
    assert wrong_method.status_code == 404
    assert "DELETE" in errors_of(wrong_method)[0]["description"]
    assert "/open311/v2/" in errors_of(outside_v2)[0]["description"]


def test_unknown_jurisdiction_is_404_on_every_read(
    client: TestClient, open311_city: Open311City
) -> None:
    for path in ("discovery.json", "services.xml", "services/POTHOLE.json", "requests.xml"):
        response = client.get(f"{BASE}/{path}?jurisdiction_id=somewhere")
        assert response.status_code == 404
        assert "jurisdiction_id" in errors_of(response)[0]["description"]


def test_rate_limits_answer_429_with_retry_after() -> None:
    error = RateLimited("Too many reports from your address.", retry_after=300)

    for fmt in Format:
        response = error_response(error, fmt)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "300"
        assert b"Too many reports" in response.body


def test_error_records_list_each_problem() -> None:
    error = InvalidInput(
        "There are 2 problems.",
        details=[{"field": "a", "message": "first"}, {"field": "b", "message": "second"}],
    )

    assert error_records(error) == [
        {"code": "400", "description": "first"},
        {"code": "400", "description": "second"},
    ]


def test_an_unexpected_failure_is_a_500_in_the_open311_format(
    client: TestClient, open311_city: Open311City, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(open311_search, "search_page", broken)

    response = client.get(f"{BASE}/requests.xml")

    assert response.status_code == 500
    errors = errors_of(response)
    assert errors[0]["code"] == "500"
    assert "fire" not in errors[0]["description"]
