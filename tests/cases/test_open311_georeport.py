"""The real ``georeport`` client from PyPI reads our Open311 endpoint over HTTP, in JSON and
XML: services, a service definition, the request list and one request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from georeport import GeoReport
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.cases.intake import CasePolicy
from cityos.cases.workflow import change_status
from tests.cases.conftest import ACTOR, WEST_POINT
from tests.cases.open311_support import (
    Open311City,
    assert_no_personal_data,
    make_case,
    open311_city,
)
from tests.live_server import live_server as serve

__all__ = ["open311_city"]


@pytest.fixture
def open311_root(database_url: str, engine: Engine, open311_city: Open311City) -> Iterator[str]:
    """Our app served by uvicorn in a thread; yields the Open311 root address."""
    with serve(database_url, engine) as url:
        yield f"{url}/open311/v2"


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_georeport_client_reads_services_definitions_and_requests(
    open311_root: str, db: Session, output_format: str
) -> None:
    pothole = make_case(db, service_code="POTHOLE", point=WEST_POINT, attributes={"size": "large"})
    noise = make_case(db)
    policy = CasePolicy()
    change_status(
        db, noise, to="in_progress", note="Inspector sent", user=None, actor=ACTOR, policy=policy
    )
    db.commit()
    client = GeoReport(open311_root, jurisdiction="TC", output_format=output_format)

    services = client.get_service_list()
    definition = client.get_service_definition("POTHOLE")
    requests = client.get_service_requests()
    some = client.get_service_requests(service_code="NOISE", status="open")
    by_ids = client.get_service_requests(service_request_id=f"{pothole.id},{noise.id}")
    one = client.get_service_request(str(noise.id))

    assert [s["service_code"] for s in services] == ["FLOODING", "NOISE", "POTHOLE"]
    pothole_service = next(s for s in services if s["service_code"] == "POTHOLE")
    assert str(pothole_service["metadata"]).lower() == "true"
    assert definition["service_code"] == "POTHOLE"
    attributes = definition["attributes"]
    if output_format == "xml":  # xmltodict keeps the container element
        attributes = attributes["attribute"]
    assert [a["code"] for a in attributes] == ["size", "depth_cm", "hazards"]
    assert [r["service_request_id"] for r in requests] == [str(noise.id), str(pothole.id)]
    if output_format == "xml":  # a single <request> comes back as a mapping, not a list
        some = [some] if isinstance(some, dict) else some
    assert [r["service_request_id"] for r in some] == [str(noise.id)]
    assert {r["service_request_id"] for r in by_ids} == {str(pothole.id), str(noise.id)}
    assert one["service_request_id"] == str(noise.id)
    assert one["status"] == "open"
    assert one["status_notes"] == "Inspector sent"
    assert one["service_code"] == "NOISE"
    assert one["requested_datetime"].endswith("+08:00")
    assert_no_personal_data(repr([services, definition, requests, some, by_ids, one]))
