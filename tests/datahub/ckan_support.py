"""Shared by the CKAN and DCAT tests: a small catalogue of datasets, and an API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import service
from cityos.datahub.models import Dataset
from tests.datahub.conftest import TEST_ACTOR, MakeDataset

AIR_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "station", "type": "string"},
        {"name": "district", "type": "string"},
        {"name": "pm25", "type": "number"},
        {"name": "measured_on", "type": "date"},
        {"name": "location", "type": "geopoint"},
    ],
    "primaryKey": ["station", "measured_on"],
}
AIR_ROWS = [
    {
        "station": "North",
        "district": "Minghu",
        "pm25": 35.5,
        "measured_on": "2024-05-01",
        "location": "114.30,30.60",
    },
    {
        "station": "South",
        "district": "Minghu",
        "pm25": 12.0,
        "measured_on": "2024-05-01",
        "location": "114.31,30.55",
    },
    {
        "station": "East",
        "district": "Hexi",
        "pm25": 58.25,
        "measured_on": "2024-05-01",
        "location": "114.40,30.58",
    },
    {
        "station": "North",
        "district": "Minghu",
        "pm25": 41.0,
        "measured_on": "2024-05-02",
        "location": "114.30,30.60",
    },
]
HOSPITAL_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string"},
        {"name": "beds", "type": "integer"},
    ],
    "primaryKey": ["id"],
}
HOSPITAL_ROWS = [
    {"id": 1, "name": "North Hospital", "beds": 120},
    {"id": 2, "name": "South", "beds": 80},
]
PERMIT_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "permit", "type": "string"},
        {"name": "holder", "type": "string", "sensitive": True},
    ],
}


@dataclass
class Catalog:
    air: Dataset
    hospitals: Dataset
    permits: Dataset  # restricted to CMB
    budget: Dataset  # shared with signed-in users


def make_catalog(make_dataset: MakeDataset) -> Catalog:
    air = make_dataset(
        name="air-quality",
        descriptor=AIR_SCHEMA,
        rows=AIR_ROWS,
        title_en="Air quality by station",
        title_zh="空气质量站点监测",
        description_en="Daily PM2.5 at the city's monitoring stations.",
        description_zh="各监测站每日PM2.5浓度。",
        themes=["ENVI", "HEAL"],
        keywords=["air", "pm25"],
        licence="CC-BY-4.0",
        frequency="daily",
        spatial="Minghu",
        temporal_start=date(2024, 5, 1),
        temporal_end=date(2024, 5, 2),
        contact_name="Air desk",
        contact_email="air@example.org",
    )
    hospitals = make_dataset(
        name="hospitals",
        descriptor=HOSPITAL_SCHEMA,
        rows=HOSPITAL_ROWS,
        department="WATER",
        title_en="Hospitals",
        title_zh="医院",
        description_en="Hospitals and their beds.",
        themes=["HEAL"],
        keywords=["health"],
        licence="CC0-1.0",
        frequency="annual",
    )
    permits = make_dataset(
        name="street-permits",
        descriptor=PERMIT_SCHEMA,
        rows=[{"permit": "P-1", "holder": "Zhang San"}],
        access="restricted",
        title_en="Street permits",
        themes=["GOVE"],
        keywords=["permits"],
        licence="GOV-RESTRICTED",
    )
    budget = make_dataset(
        name="budget",
        descriptor=HOSPITAL_SCHEMA,
        access="shared",
        department="WATER",
        title_en="Budget lines",
        themes=["ECON"],
    )
    return Catalog(air, hospitals, permits, budget)


def api_key(db: Session, user: User) -> str:
    _key, raw = auth_service.create_api_key(db, user=user, name="ckan client", actor=TEST_ACTOR)
    db.commit()
    return raw


def table_id(db: Session, dataset: Dataset) -> str:
    return service.table_resource(db, dataset=dataset).uuid
