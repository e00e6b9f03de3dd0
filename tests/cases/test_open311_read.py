"""The read calls of Open311 GeoReport v2, in XML and JSON: discovery, services, service
definitions, the request list with every filter, one request, notes and extensions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.cases import catalog
from cityos.cases.intake import CasePolicy
from cityos.cases.models import Case
from cityos.cases.photos import PhotoUpload
from cityos.cases.workflow import add_note, change_status, mark_duplicate
from cityos.db import utcnow
from tests.cases.conftest import ACTOR, WEST_POINT
from tests.cases.open311_support import (
    BASE,
    Open311City,
    assert_no_personal_data,
    created_id,
    make_case,
    open311_city,
    photo_bytes,
    post,
    pothole,
    texts,
    xml,
)

__all__ = ["open311_city"]

OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def ids_of(client: TestClient, query: str) -> list[str]:
    response = client.get(f"{BASE}/requests.json?{query}")
    assert response.status_code == 200, response.text
    return [record["service_request_id"] for record in response.json()]


# --- discovery and services --------------------------------------------------------------


def test_discovery_names_the_endpoint_in_both_formats(
    client: TestClient, open311_city: Open311City
) -> None:
    body = client.get(f"{BASE}/discovery.json").json()
    root = xml(client.get(f"{BASE}/discovery.xml"))

    endpoint = body["endpoints"][0]
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert OFFSET.match(body["changeset"])
    assert root.tag == "discovery"
    assert texts(root, "endpoints/endpoint/url") == ["http://testserver/open311/v2"]
    assert texts(root, "endpoints/endpoint/formats/format") == ["text/xml", "application/json"]
    assert root.findtext("changeset") == body["changeset"]


def test_service_list_in_both_formats_with_codes_as_strings(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    document = catalog.parse_document(
        {
            "categories": [
                {
                    "service_code": "001",
                    "group": "roads",
                    "name_zh": "其他",
                    "name_en": "Other road problem",
                }
            ]
        }
    )
    catalog.save_categories(db, groups=[], categories=document.categories, actor=ACTOR)
    db.commit()

    listed = client.get(f"{BASE}/services.json")
    root = xml(client.get(f"{BASE}/services.xml"))

    assert listed.headers["content-type"] == "application/json; charset=utf-8"
    assert '"service_code":"001"' in listed.text
    by_code = {service["service_code"]: service for service in listed.json()}
    assert list(by_code) == ["001", "FLOODING", "NOISE", "POTHOLE"]
    assert by_code["POTHOLE"] == {
        "service_code": "POTHOLE",
        "service_name": "Pothole",
        "description": "A hole in the road surface.",
        "metadata": True,
        "type": "realtime",
        "keywords": "pothole, road damage, 坑, 路面",
        "group": "Roads",
    }
    assert by_code["NOISE"]["metadata"] is False
    assert root.tag == "services"
    assert texts(root, "service/service_code") == ["001", "FLOODING", "NOISE", "POTHOLE"]
    assert texts(root, "service/metadata") == ["false", "false", "false", "true"]


def test_service_definition_lists_attributes_in_order_in_both_formats(
    client: TestClient, open311_city: Open311City
) -> None:
    body = client.get(f"{BASE}/services/POTHOLE.json").json()
    root = xml(client.get(f"{BASE}/services/POTHOLE.xml"))

    assert body["service_code"] == "POTHOLE"
    size, depth, hazards = body["attributes"]
    assert size == {
        "variable": True,
        "code": "size",
        "datatype": "singlevaluelist",
        "required": True,
        "datatype_description": None,
        "order": 1,
        "description": "How big is it?",
        "values": [
            {"key": "small", "name": "Small"},
            {"key": "medium", "name": "Medium"},
            {"key": "large", "name": "Large"},
        ],
    }
    assert (depth["code"], depth["datatype"], depth["required"], depth["order"]) == (
        "depth_cm",
        "number",
        False,
        2,
    )
    assert "values" not in depth
    assert hazards["datatype"] == "multivaluelist"
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "POTHOLE"
    assert texts(root, "attributes/attribute/code") == ["size", "depth_cm", "hazards"]
    assert texts(root, "attributes/attribute/order") == ["1", "2", "3"]
    assert texts(root, "attributes/attribute/required") == ["true", "false", "false"]
    assert texts(root, "attributes/attribute[1]/values/value/key") == ["small", "medium", "large"]


# --- request records ---------------------------------------------------------------------


def test_one_request_has_every_field_of_the_specification_in_both_formats(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    case_id = created_id(post(client, pothole(open311_city)))

    record = client.get(f"{BASE}/requests/{case_id}.json").json()[0]
    root = xml(client.get(f"{BASE}/requests/{case_id}.xml"))

    case = db.get(Case, int(case_id))
    assert case is not None
    requested = case.requested_at.astimezone(SHANGHAI).isoformat(timespec="seconds")
    expected = (case.requested_at + timedelta(hours=72)).astimezone(SHANGHAI)
    assert record == {
        "service_request_id": case_id,
        "status": "open",
        "status_notes": None,
        "service_name": "Pothole",
        "service_code": "POTHOLE",
        "description": "Deep hole in the bike lane outside No. 12",
        "agency_responsible": "City Management",
        "service_notice": "The city aims to resolve Pothole reports within 3 days.",
        "requested_datetime": requested,
        "updated_datetime": record["updated_datetime"],
        "expected_datetime": expected.isoformat(timespec="seconds"),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": WEST_POINT[1],
        "long": WEST_POINT[0],
        "media_url": None,
    }
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert OFFSET.match(record[name]), record[name]
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert [child.tag for child in request] == list(record)
    assert request.findtext("service_request_id") == case_id
    assert request.findtext("requested_datetime") == requested
    assert request.findtext("lat") == str(WEST_POINT[1])
    assert request.findtext("long") == str(WEST_POINT[0])
    assert request.findtext("media_url") == ""


def test_triage_requests_have_no_agency_and_no_sla_no_notice(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    case = make_case(db)  # NOISE goes to triage
    record = client.get(f"{BASE}/requests/{case.id}.json").json()[0]

    assert record["agency_responsible"] is None
    assert record["service_notice"] == "The city aims to resolve Noise reports within 5 days."
    assert record["status"] == "open"


def test_html_in_text_is_returned_as_text(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    script = '<script>alert("x")</script> & <b>bold</b>'
    case = make_case(db, description=script)

    record = client.get(f"{BASE}/requests/{case.id}.json").json()[0]
    raw = client.get(f"{BASE}/requests/{case.id}.xml")

    assert record["description"] == script
    assert "<script>" not in raw.text
    assert xml(raw).findtext("request/description") == script


def test_no_response_of_any_call_carries_personal_data(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    posted = post(client, pothole(open311_city, media_url="https://img.example.com/a.jpg"))
    case_id = created_id(posted)
    made = make_case(db, photos=[PhotoUpload("a.jpg", photo_bytes())])
    change_status(
        db, made, to="in_progress", note="Crew booked", user=None, actor=ACTOR, policy=CasePolicy()
    )
    db.commit()
    token = posted.json()[0]["token"]
    calls = [
        "discovery",
        "services",
        "services/POTHOLE",
        "requests",
        "requests?extensions=true",
        f"requests/{case_id}",
        f"requests/{made.id}?extensions=true",
        f"tokens/{token}",
    ]
    assert_no_personal_data(posted.content)
    for call in calls:
        path, _, query = call.partition("?")
        for fmt in ("json", "xml"):
            response = client.get(f"{BASE}/{path}.{fmt}" + (f"?{query}" if query else ""))
            assert response.status_code == 200, (call, response.text)
            assert_no_personal_data(response.content)


# --- notes and extensions ----------------------------------------------------------------


def test_notes_show_the_public_history_only(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    case = make_case(db)
    policy = CasePolicy()
    change_status(db, case, to="acknowledged", user=None, actor=ACTOR, policy=policy)
    internal = "Neighbour dispute, call back"
    add_note(db, case, note=internal, public=False, user=None, actor=ACTOR, policy=policy)
    change_status(
        db, case, to="resolved", note="Spoke to the venue", user=None, actor=ACTOR, policy=policy
    )
    db.commit()

    plain = client.get(f"{BASE}/requests/{case.id}.json").json()[0]
    with_notes = client.get(f"{BASE}/requests/{case.id}.json?notes=true").json()[0]
    root = xml(client.get(f"{BASE}/requests/{case.id}.xml?notes=true"))

    assert "notes" not in plain
    assert with_notes["status"] == "closed"
    assert with_notes["status_notes"] == "Spoke to the venue"
    notes = with_notes["notes"]
    assert [(n["type"], n["description"]) for n in notes] == [
        ("submitted", "Request received."),
        ("status", "Status changed to acknowledged."),
        ("status", "Spoke to the venue"),
    ]
    assert all(OFFSET.match(n["datetime"]) for n in notes)
    assert "Neighbour dispute" not in client.get(f"{BASE}/requests.json?notes=true").text
    assert texts(root, "request/notes/note/type") == ["submitted", "status", "status"]


def test_extensions_add_answers_detailed_status_and_areas(
    client: TestClient, db: Session, open311_city: Open311City
) -> None:
    pairs = [
        *pothole(open311_city),
        ("attribute[depth_cm]", "15"),
        ("attribute[hazards][]", "traffic"),
        ("attribute[hazards][]", "cyclists"),
    ]
    case_id = created_id(post(client, pairs))
    case = db.get(Case, int(case_id))
    assert case is not None
    original = make_case(db, service_code="POTHOLE", point=WEST_POINT, attributes={"size": "small"})
    change_status(db, case, to="in_progress", user=None, actor=ACTOR, policy=CasePolicy())
    db.commit()

    record = client.get(f"{BASE}/requests/{case_id}.json?extensions=true").json()[0]
    listed = client.get(f"{BASE}/requests.json?extensions=true&service_request_id={case_id}")
    root = xml(client.get(f"{BASE}/requests/{case_id}.xml?extensions=true"))

    assert record["attributes"] == [
        {"code": "size", "value": "large"},
        {"code": "depth_cm", "value": "15"},
        {"code": "hazards", "value": ["traffic", "cyclists"]},
    ]
    assert record["extended_attributes"] == {
        "detailed_status": "in_progress",
        "close_reason": None,
        "duplicate_of": None,
        "priority": "normal",
        "channel": "open311",
        "reopen_count": 0,
        "closed_datetime": None,
        "area_code": "TC-W-S",
        "district_code": "TC-W",
        "subdistrict_code": "TC-W-S",
        "grid_code": None,
    }
    assert [n["type"] for n in record["notes"]] == ["submitted", "status"]
    assert listed.json() == [record]
    attributes = root.findall("request/attributes/attribute")
    assert [a.findtext("code") for a in attributes] == ["size", "depth_cm", "hazards"]
    assert texts(attributes[2], "value") == ["traffic", "cyclists"]
    assert root.findtext("request/extended_attributes/detailed_status") == "in_progress"

    mark_duplicate(db, case, original_id=original.id, user=None, actor=ACTOR, policy=CasePolicy())
    db.commit()
    record = client.get(f"{BASE}/requests/{case_id}.json?extensions=true").json()[0]
    assert record["status"] == "closed"
    extended = record["extended_attributes"]
    assert (extended["detailed_status"], extended["close_reason"]) == ("closed", "duplicate")
    assert extended["duplicate_of"] == str(original.id)
    assert OFFSET.match(extended["closed_datetime"])


# --- filters -----------------------------------------------------------------------------


@pytest.fixture
def spread(db: Session, open311_city: Open311City) -> dict[str, Case]:
    """Cases at known times (days ago): pothole 2 (closed), flooding 10, noise 40 and 120."""
    now = utcnow()
    made = {
        "pothole": make_case(
            db,
            service_code="POTHOLE",
            attributes={"size": "small"},
            requested_at=now - timedelta(days=2),
        ),
        "flooding": make_case(db, service_code="FLOODING", requested_at=now - timedelta(days=10)),
        "noise": make_case(db, requested_at=now - timedelta(days=40)),
        "old_noise": make_case(db, requested_at=now - timedelta(days=120)),
    }
    change_status(
        db,
        made["pothole"],
        to="closed",
        close_reason="not_our_responsibility",
        note="Private road",
        user=None,
        actor=ACTOR,
        policy=CasePolicy(),
    )
    db.commit()
    return made


def test_default_window_is_the_last_90_days_newest_first(
    client: TestClient, spread: dict[str, Case]
) -> None:
    assert ids_of(client, "") == [str(spread[k].id) for k in ("pothole", "flooding", "noise")]
    root = xml(client.get(f"{BASE}/requests.xml"))
    assert texts(root, "request/service_request_id") == ids_of(client, "")


def test_service_request_id_list_overrides_every_other_filter(
    client: TestClient, spread: dict[str, Case]
) -> None:
    wanted = f"{spread['old_noise'].id},{spread['flooding'].id}"
    found = ids_of(client, f"service_request_id={wanted}&service_code=POTHOLE&status=closed")

    assert sorted(found) == sorted(wanted.split(","))


def test_service_code_list_and_status_filters(client: TestClient, spread: dict[str, Case]) -> None:
    ids = {key: str(case.id) for key, case in spread.items()}

    assert ids_of(client, "service_code=POTHOLE,FLOODING") == [ids["pothole"], ids["flooding"]]
    assert ids_of(client, "service_code=NOISE") == [ids["noise"]]
    assert ids_of(client, "status=closed") == [ids["pothole"]]
    assert ids_of(client, "status=open") == [ids["flooding"], ids["noise"]]
    assert ids_of(client, "status=open,closed") == ids_of(client, "")
    assert ids_of(client, "service_code=POTHOLE&status=open") == []


def test_date_filters_select_by_requested_datetime(
    client: TestClient, spread: dict[str, Case]
) -> None:
    ids = {key: str(case.id) for key, case in spread.items()}
    now = datetime.now(UTC)

    def day(days_ago: int) -> str:
        return (now - timedelta(days=days_ago)).astimezone(SHANGHAI).isoformat(timespec="seconds")

    assert ids_of(client, f"start_date={day(130)}&end_date={day(50)}") == [ids["old_noise"]]
    assert ids_of(client, f"start_date={day(45)}&end_date={day(5)}") == [
        ids["flooding"],
        ids["noise"],
    ]
    # One bound alone spans 90 days from (or to) it.
    assert ids_of(client, f"start_date={day(125)}") == [ids["noise"], ids["old_noise"]]
    assert ids_of(client, f"end_date={day(35)}") == [ids["noise"], ids["old_noise"]]
    # UTC with Z, a bare date, and an offset whose "+" arrived unencoded as a space.
    utc = (now - timedelta(days=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids_of(client, f"start_date={utc}&end_date={day(9)}") == [ids["flooding"]]
    date_only = (now - timedelta(days=3)).astimezone(SHANGHAI).date().isoformat()
    assert ids["pothole"] in ids_of(client, f"start_date={date_only}")
    unencoded = day(11).replace("+", " ")
    assert ids_of(client, f"start_date={unencoded}&end_date={day(9)}") == [ids["flooding"]]


def test_page_and_page_size_walk_through_the_results(
    client: TestClient, spread: dict[str, Case]
) -> None:
    everything = ids_of(client, "")

    pages = [ids_of(client, f"page_size=2&page={page}") for page in (1, 2, 3)]

    assert pages == [everything[:2], everything[2:], []]
    assert ids_of(client, "page_size=1&page=2&service_code=POTHOLE,NOISE") == [
        str(spread["noise"].id)
    ]


def test_empty_parameters_count_as_absent(client: TestClient, spread: dict[str, Case]) -> None:
    empty = "service_code=&status=&start_date=&end_date=&page=&page_size=&jurisdiction_id="

    assert ids_of(client, empty) == ids_of(client, "")
    assert client.get(f"{BASE}/services.json?jurisdiction_id=").status_code == 200


def test_jurisdiction_id_is_optional_and_must_be_the_city(
    client: TestClient, spread: dict[str, Case]
) -> None:
    assert ids_of(client, "jurisdiction_id=TC") == ids_of(client, "")
    assert client.get(f"{BASE}/services.xml?jurisdiction_id=TC").status_code == 200


def test_the_calls_are_in_the_openapi_document_and_answer_head(
    client: TestClient, open311_city: Open311City
) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert set(paths[f"{BASE}/requests.{{fmt}}"]) == {"get", "post"}
    for path in ("discovery", "services", "services/{service_code}", "tokens/{token}"):
        assert set(paths[f"{BASE}/{path}.{{fmt}}"]) == {"get"}
    head = client.head(f"{BASE}/services.xml")
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/xml; charset=utf-8"
