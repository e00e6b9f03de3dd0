"""Shared by the Open311 tests: an API key for a client app, a reporter with personal data,
and helpers to call the endpoint and read its XML.

Import the ``open311_city`` fixture into a test module with
``from tests.cases.open311_support import open311_city``.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.cases.intake import CaseInput, CasePolicy, open_case
from cityos.cases.models import Case, CaseSource
from cityos.cases.photos import PhotoUpload
from tests.cases.conftest import ACTOR, EAST_NORTH_POINT, WEST_POINT, CatalogFixture

BASE = "/open311/v2"
APP_NAME = "Pothole Reporter App"
REPORTER: dict[str, str] = {
    "first_name": "Lina",
    "last_name": "Zhoujiang",
    "email": "lina.zhoujiang@example.net",
    "phone": "+86 138 0013 8000",
    "device_id": "device-7f3a9c2e",
    "account_id": "acct-447100912",
}
# Strings that must never appear in any Open311 response.
PERSONAL = (
    "Lina",
    "Zhoujiang",
    "lina.zhoujiang",
    "138 0013",
    "device-7f3a9c2e",
    "acct-447100912",
    "testclient",  # the test client's address, stored as submitted_ip
)


@dataclass(frozen=True)
class Open311City:
    catalog: CatalogFixture
    api_key: str
    api_key_id: int
    owner_id: int


@pytest.fixture
def open311_city(db: Session, services: CatalogFixture) -> Open311City:
    """The test city and catalog, and an API key for a client app (owned by the admin)."""
    owner = services.people["admin"]
    key, raw = auth_service.create_api_key(db, user=owner, name=APP_NAME, actor=ACTOR)
    db.commit()
    return Open311City(services, raw, key.id, owner.id)


def form(
    open311: Open311City | None = None, **fields: str | Sequence[str]
) -> list[tuple[str, str]]:
    """A POST body as (name, value) pairs; list values become repeated fields."""
    pairs: list[tuple[str, str]] = [("api_key", open311.api_key)] if open311 else []
    for name, value in fields.items():
        if isinstance(value, str):
            pairs.append((name, value))
        else:
            pairs.extend((name, item) for item in value)
    return pairs


def pothole(
    open311: Open311City, *, point: tuple[float, float] = WEST_POINT, **extra: str
) -> list[tuple[str, str]]:
    """A valid POTHOLE report with the reporter's personal data."""
    fields: dict[str, str] = {
        "service_code": "POTHOLE",
        "lat": str(point[1]),
        "long": str(point[0]),
        "description": "Deep hole in the bike lane outside No. 12",
        "attribute[size]": "large",
        **REPORTER,
    }
    fields.update(extra)
    return form(open311, **fields)


def post(client: TestClient, pairs: Sequence[tuple[str, str]], fmt: str = "json") -> Response:
    return client.post(
        f"{BASE}/requests.{fmt}",
        content=encode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def encode(pairs: Sequence[tuple[str, str]]) -> str:
    return urlencode(list(pairs))


def created_id(response: Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body[0]["service_request_id"], str)
    return str(body[0]["service_request_id"])


def xml(response: Response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    return ET.fromstring(response.content)  # noqa: S314 - our own server's answer


def texts(element: ET.Element, path: str) -> list[str]:
    return [found.text or "" for found in element.findall(path)]


def errors_of(response: Response) -> list[dict[str, str]]:
    """The Open311 error list of a response in either format."""
    if response.headers["content-type"].startswith("text/xml"):
        root = xml(response)
        assert root.tag == "errors"
        return [
            {"code": e.findtext("code") or "", "description": e.findtext("description") or ""}
            for e in root.findall("error")
        ]
    body = response.json()
    assert isinstance(body, list)
    return [dict(item) for item in body]


def assert_no_personal_data(body: str | bytes) -> None:
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    for secret in PERSONAL:
        assert secret not in text, f"{secret!r} leaked into a response"


def photo_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(out, format="JPEG")
    return out.getvalue()


def make_case(
    db: Session,
    *,
    service_code: str = "NOISE",
    point: tuple[float, float] = EAST_NORTH_POINT,
    requested_at: datetime | None = None,
    attributes: Mapping[str, Any] | None = None,
    photos: Sequence[PhotoUpload] = (),
    description: str = "Loud music after midnight",
) -> Case:
    """A case opened through the service (as the web form does), with personal data."""
    case = open_case(
        db,
        CaseInput(
            service_code=service_code,
            lon=point[0],
            lat=point[1],
            description=description,
            attributes=dict(attributes or {}),
            contact_name=f"{REPORTER['first_name']} {REPORTER['last_name']}",
            contact_email=REPORTER["email"],
            contact_phone=REPORTER["phone"],
            device_id=REPORTER["device_id"],
            account_id=REPORTER["account_id"],
            photos=photos,
            source=CaseSource.WEB,
            requested_at=requested_at,
        ),
        actor=ACTOR,
        policy=CasePolicy(),
    )
    db.commit()
    return case


def case_count(db: Session) -> int:
    db.rollback()
    return int(db.scalar(select(func.count(Case.id))) or 0)
