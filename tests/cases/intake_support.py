"""Shared by the citizen intake tests (``test_intake_*.py``): pictures, a fuller catalog,
a form poster and a client with its own settings.

Import fixtures into a test module with ``from tests.cases.intake_support import lighting``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from PIL import ExifTags, Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cityos.app import create_app
from cityos.cases import catalog
from cityos.cases.models import Case
from cityos.config import Settings
from tests.cases.conftest import ACTOR, WEST_POINT, CatalogFixture
from tests.conftest import csrf_from

HTML = {"accept": "text/html"}
REPORTER = {"name": "Zhang Sanfeng", "email": "zhang.sanfeng@example.net", "phone": "13912345678"}

LIGHTING = {
    "groups": [{"code": "lighting", "name_zh": "照明", "name_en": "Street lighting"}],
    "categories": [
        {
            "service_code": "STREETLIGHT",
            "group": "lighting",
            "name_zh": "路灯故障",
            "name_en": "Street light out",
            "keywords": ["lamp", "light", "路灯"],
            "attributes": [
                {
                    "code": "pole",
                    "datatype": "string",
                    "required": True,
                    "description_zh": "灯杆编号",
                    "description_en": "Pole number",
                },
                {
                    "code": "details",
                    "datatype": "text",
                    "description_zh": "补充说明",
                    "description_en": "Anything else?",
                },
                {
                    "code": "noticed",
                    "datatype": "datetime",
                    "description_zh": "发现时间",
                    "description_en": "When did you notice it?",
                },
                {
                    "code": "note",
                    "datatype": "string",
                    "variable": False,
                    "description_zh": "路灯夜间巡查",
                    "description_en": "Lights are checked every night.",
                },
            ],
        }
    ],
}


@pytest.fixture
def lighting(db: Session, services: CatalogFixture) -> CatalogFixture:
    """The test catalog plus STREETLIGHT: string, text, datetime and informational attributes."""
    document = catalog.parse_document(LIGHTING)
    catalog.save_categories(db, groups=document.groups, categories=document.categories, actor=ACTOR)
    db.commit()
    return services


@pytest.fixture
def make_client(settings: Settings, engine: Engine) -> Iterator[Callable[..., TestClient]]:
    """``make_client(intake_rate_limit=2)``: a client of an app with changed settings."""
    clients: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        app = create_app(settings.model_copy(update=changes), engine=engine)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG whose EXIF names a camera and holds a GPS position."""
    image = Image.new("RGB", size, (180, 90, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Model X-9000"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (30.0, 10.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (120.0, 4.0, 12.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the fixture really carries GPS data
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    return data


def png(size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def case_count(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count(Case.id))) or 0


def report_fields(
    service_code: str | None = "POTHOLE",
    point: tuple[float, float] | None = WEST_POINT,
    **fields: str | Sequence[str],
) -> dict[str, str | Sequence[str]]:
    """A complete, valid report of a pothole at WEST_POINT, changed by ``fields``."""
    values: dict[str, str | Sequence[str]] = {
        "description": "A deep hole in the cycle lane",
        "attribute[size]": "medium",
        "follow": "on",
    }
    if service_code is not None:
        values["service_code"] = service_code
    if point is not None:
        values["lon"], values["lat"] = str(point[0]), str(point[1])
    values.update(fields)
    return {name: value for name, value in values.items() if value is not None}


def post_report(
    client: TestClient,
    fields: Mapping[str, str | Sequence[str]],
    photos: Sequence[tuple[str, bytes, str]] = (),
    *,
    language: str = "en",
) -> Response:
    """Open the form, then post it as a browser does (multipart, with the CSRF token)."""
    page = client.get("/report?service_code=POTHOLE", headers={**HTML, "accept-language": language})
    data = {**fields, "csrf_token": csrf_from(page.text)}
    files = [("media", photo) for photo in photos] or [
        ("media", ("", b"", "application/octet-stream"))
    ]
    return client.post(
        "/report",
        data=data,
        files=files,
        headers={**HTML, "accept-language": language},
        follow_redirects=False,
    )


def case_id_from(response: Response) -> int:
    assert response.status_code == 303, response.text[:2000]
    location = response.headers["location"]
    assert location.startswith("/track/"), location
    path, _, query = location.partition("?")
    assert query.startswith("new=1&key="), location
    return int(path.removeprefix("/track/"))
