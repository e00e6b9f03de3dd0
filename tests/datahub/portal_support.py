"""Helpers of the portal page tests: sample datasets, posting forms with their CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.datahub import sharing
from cityos.datahub.models import Dataset
from tests.conftest import csrf_from
from tests.datahub.conftest import TEST_ACTOR, MakeDataset

HTML = {"accept": "text/html"}
ZH = {"accept": "text/html", "accept-language": "zh-CN,zh;q=0.9"}


STATIONS: dict[str, Any] = {
    "fields": [
        {"name": "code", "type": "string", "constraints": {"required": True}},
        {"name": "district", "type": "string", "title": "District"},
        {"name": "pm25", "type": "number", "constraints": {"minimum": 0}},
        {"name": "location", "type": "geopoint"},
    ],
    "primaryKey": ["code"],
}

STATION_ROWS = [
    {
        "code": f"S{i:02d}",
        "district": ("East", "West", "North")[i % 3],
        "pm25": 10 + i,
        "location": f"{114.30 + i * 0.01:.4f},{30.55 + i * 0.005:.4f}",
    }
    for i in range(12)
]

PEOPLE: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string", "element": "person_name"},
        {"name": "mobile", "type": "string", "element": "mobile_cn"},
    ],
    "primaryKey": ["id"],
}

PEOPLE_ROWS = [
    {"id": 1, "name": "张三", "mobile": "13800138000"},
    {"id": 2, "name": "李四", "mobile": "13912345678"},
]


def stations(make_dataset: MakeDataset, **metadata: object) -> Dataset:
    values: dict[str, object] = {
        "name": "air-stations",
        "title_en": "Air quality stations",
        "title_zh": "空气质量监测站",
        "description_en": "PM2.5 by station.",
        "description_zh": "各监测站的 PM2.5。",
        "themes": ["ENVI"],
        "keywords": ["air", "pm25"],
        "frequency": "daily",
        "contact_email": "air@example.org",
    }
    values.update(metadata)
    return make_dataset(descriptor=STATIONS, rows=STATION_ROWS, **values)


def people_dataset(make_dataset: MakeDataset, access: str = "restricted") -> Dataset:
    return make_dataset(
        name="residents",
        title_en="Residents",
        title_zh="居民",
        descriptor=PEOPLE,
        rows=PEOPLE_ROWS,
        access=access,
        themes=["SOCI"],
    )


def form_post(client: TestClient, page_url: str, url: str, data: dict[str, object]) -> Response:
    page = client.get(page_url, headers=HTML)
    return client.post(
        url, data={**data, "csrf_token": csrf_from(page.text)}, headers=HTML, follow_redirects=False
    )


BAD_PEOPLE = "id,name,mobile\n10,Wang,13800138000\n2,Li,1380013\n3,Zhao,abc\nx,Qian,13900000000\n"


def upload(client: TestClient, name: str, content: str, **fields: str) -> Response:
    page = client.get("/data/steward", headers=HTML)
    return client.post(
        f"/data/{name}/loads",
        data={"csrf_token": csrf_from(page.text), **fields},
        files={"file": ("people.csv", content.encode("utf-8"), "text/csv")},
        headers=HTML,
        follow_redirects=False,
    )


def ask(db: Session, dataset: Dataset, user: User, fields: list[str] | None = None) -> int:
    request = sharing.request_access(
        db,
        dataset=dataset,
        user=user,
        purpose="Water supply planning per household",
        fields=fields,
        actor=TEST_ACTOR,
    )
    db.commit()
    return request.id
