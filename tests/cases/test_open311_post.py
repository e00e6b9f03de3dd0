"""POST /open311/v2/requests: what Open311 client apps send, as they send it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.cases.models import Case, CasePhoto, CaseUpdate
from tests.cases.conftest import EAST_NORTH_POINT
from tests.cases.open311_support import (
    APP_NAME,
    BASE,
    Open311City,
    assert_no_personal_data,
    created_id,
    open311_city,
    photo_bytes,
    post,
    pothole,
    texts,
    xml,
)

__all__ = ["open311_city"]


def test_plain_form_encoding_with_multi_value_attributes_opens_a_case(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    lat, lon = EAST_NORTH_POINT[1], EAST_NORTH_POINT[0]
    body = (
        f"api_key={open311_city.api_key}&service_code=POTHOLE&lat={lat}&long={lon}"
        "&attribute[size]=medium&attribute[depth_cm]=12"
        "&attribute[hazards][]=traffic&attribute[hazards][]=cyclists"
        "&description=Hole+near+the+school+%E5%AD%A6%E6%A0%A1"
        "&email=lina.zhoujiang%40example.net&first_name=Lina&last_name=Zhoujiang"
    )
    response = client.post(
        f"{BASE}/requests.json",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    case_id = created_id(response)
    answer = response.json()[0]
    assert set(answer) == {"service_request_id", "token", "service_notice", "account_id"}
    assert answer["account_id"] is None
    assert answer["service_notice"] == "The city aims to resolve Pothole reports within 3 days."
    assert_no_personal_data(response.content)
    case = db.get(Case, int(case_id))
    assert case is not None
    assert case.attributes == {"size": "medium", "depth_cm": 12, "hazards": ["traffic", "cyclists"]}
    assert case.description == "Hole near the school 学校"
    assert case.source == "open311"
    assert case.api_key_id == open311_city.api_key_id
    assert case.contact_email == "lina.zhoujiang@example.net"  # kept for notifications
    assert case.token == answer["token"]
    first = db.scalars(select(CaseUpdate).where(CaseUpdate.case_id == case.id)).one()
    assert first.actor_label == f"open311:{APP_NAME}"
    assert first.actor_user_id == open311_city.owner_id
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "cases.case.open")).one()
    assert audit.actor_label == f"open311:{APP_NAME}"


def test_post_answers_in_xml_when_asked(client: TestClient, open311_city: Open311City) -> None:
    response = post(client, pothole(open311_city), fmt="xml")

    assert response.status_code == 200
    root = xml(response)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert (request.findtext("service_request_id") or "").isdigit()
    assert request.findtext("token")
    assert texts(request, "account_id") == [""]
    assert_no_personal_data(response.content)


def test_multipart_post_with_a_photo_sets_media_url(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        data=dict(pothole(open311_city)),
        files={"media": ("hole.jpg", photo_bytes(), "image/jpeg")},
    )

    case_id = created_id(response)
    photo = db.scalars(select(CasePhoto).where(CasePhoto.case_id == int(case_id))).one()
    record = client.get(f"{BASE}/requests/{case_id}.json").json()[0]
    assert record["media_url"] == f"http://testserver/track/{case_id}/photos/{photo.id}"


def test_media_url_sent_by_the_client_is_returned(
    client: TestClient, open311_city: Open311City
) -> None:
    url = "https://img.example.com/reports/hole-1.jpg"
    case_id = created_id(post(client, pothole(open311_city, media_url=url)))

    assert client.get(f"{BASE}/requests/{case_id}.json").json()[0]["media_url"] == url
    listed = client.get(f"{BASE}/requests.json").json()
    assert [r["media_url"] for r in listed if r["service_request_id"] == case_id] == [url]


def test_address_string_alone_locates_the_request(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    pairs = [(name, value) for name, value in pothole(open311_city) if name not in ("lat", "long")]
    pairs.append(("address_string", "东北街道 88号"))

    case_id = created_id(post(client, pairs))

    case = db.get(Case, int(case_id))
    assert case is not None
    assert case.address == "东北街道 88号"
    record = client.get(f"{BASE}/requests/{case_id}.json").json()[0]
    assert record["address"] == "东北街道 88号"
    assert 120.10 < record["long"] < 120.15
    assert 30.195 < record["lat"] < 30.24


def test_empty_fields_count_as_absent(client: TestClient, open311_city: Open311City) -> None:
    pairs = [(name, value) for name, value in pothole(open311_city) if name != "email"]
    pairs += [("address_string", ""), ("media_url", ""), ("email", ""), ("jurisdiction_id", "")]

    case_id = created_id(post(client, pairs))

    assert client.get(f"{BASE}/requests/{case_id}.json").json()[0]["media_url"] is None


def test_api_key_in_the_query_string_is_accepted(
    client: TestClient, open311_city: Open311City
) -> None:
    pairs = [(n, v) for n, v in pothole(open311_city) if n != "api_key"]
    response = client.post(
        f"{BASE}/requests.json",
        params={"api_key": open311_city.api_key},
        data=dict(pairs),
    )

    created_id(response)


def test_token_leads_to_the_request_id(client: TestClient, open311_city: Open311City) -> None:
    answer = post(client, pothole(open311_city)).json()[0]

    by_json = client.get(f"{BASE}/tokens/{answer['token']}.json")
    by_xml = client.get(f"{BASE}/tokens/{answer['token']}.xml")

    assert by_json.json() == [
        {"service_request_id": answer["service_request_id"], "token": answer["token"]}
    ]
    assert texts(xml(by_xml), "request/service_request_id") == [answer["service_request_id"]]
