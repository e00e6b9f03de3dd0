"""The demo city's data hub: datasets with loads, history, a stale one, sharing and usage."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.auth import security
from cityos.auth import service as auth_service
from cityos.datahub import access, physical, service
from cityos.datahub.models import (
    FRESH_DAYS,
    DailyUsage,
    Dataset,
    Frequency,
    Load,
    QuarantinedRow,
    SharingRequest,
)
from cityos.demo import datahub as demo_datahub
from cityos.demo.catalog import seed_catalog
from cityos.demo.city import CITY_CODE, seed_areas
from cityos.demo.datahub import REQUESTS, USAGE_DAYS, seed_datahub
from cityos.demo.datahub_data import BIG, HISTORY, SPECS, STALE
from cityos.demo.people import seed_departments, seed_users
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

BIG_ROWS = 2_000
NAMES = [spec.name for spec in SPECS]


@pytest.fixture
def city(db: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The demo's departments, users and map (cheap password hashes: many users are made)."""
    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    for step in (seed_departments, seed_users, seed_areas, seed_catalog):
        step(db)
    db.commit()
    return db


def datasets(db: Session) -> dict[str, Dataset]:
    return {d.name: d for d in db.scalars(select(Dataset).where(Dataset.name.in_(NAMES)))}


def column(db: Session, name: str, *fields: str) -> set[tuple[Any, ...]]:
    """The distinct stored values of ``fields`` of dataset ``name``."""
    dataset = service.get_dataset(db, name=name)
    schema = service.current_schema(db, dataset=dataset)
    assert schema is not None
    assert dataset.schema_version is not None
    table = physical.table_for(schema, dataset_id=dataset.id, version=dataset.schema_version)
    columns = [table.c[c] for f in fields for c in schema.field(f).columns]
    return {tuple(row) for row in db.execute(select(*columns).distinct())}


def counts(db: Session) -> dict[str, int]:
    tables = (Dataset, Load, QuarantinedRow, SharingRequest, DailyUsage, AuditEntry)
    return {t.__name__: int(db.scalar(select(func.count()).select_from(t)) or 0) for t in tables}


def test_seeding_makes_41_datasets_with_rows_whose_keys_and_places_fit_the_city(
    city: Session,
) -> None:
    summary = seed_datahub(city, big_rows=BIG_ROWS)
    city.commit()

    made = datasets(city)
    assert sorted(made) == sorted(NAMES)
    assert len(made) == 41
    assert len({d.department.code for d in made.values()}) >= 15
    levels = Counter(d.access for d in made.values())
    assert levels["restricted"] == 5
    assert levels["shared"] == 4
    assert levels["open"] == 32
    assert made[BIG].row_count == BIG_ROWS
    assert all(d.row_count > 0 for d in made.values())
    total = sum(d.row_count for d in made.values())
    assert summary == (
        f"data hub: 41 datasets (5 restricted, 41 new), {total:,} rows, 5 sharing requests (5 new)"
    )
    for dataset in made.values():
        assert "demo" in dataset.description_en
        assert "演示" in dataset.description_zh
        assert dataset.themes
        assert dataset.keywords
        assert dataset.contact_email
        assert service.current_schema(city, dataset=dataset) is not None
    assert made["population-by-district"].temporal_start is not None
    restricted = [d for d in made.values() if d.access == "restricted"]
    for dataset in restricted:
        schema = service.current_schema(city, dataset=dataset)
        assert schema is not None
        assert any(f.sensitive for f in schema.fields), dataset.name

    # the foreign keys across datasets hold, and places lie in the city
    people = column(city, "population-by-district", "district_code", "year")
    beds = column(city, "hospital-beds-by-district", "district_code", "year")
    assert beds
    assert beds <= people
    assert column(city, HISTORY, "permit_no") <= column(city, "construction-permits", "permit_no")
    stations = column(city, "air-quality-stations", "station_code")
    assert column(city, BIG, "station_code") <= stations
    districts = {a.code for a in geo_service.list_areas(city, level=AreaLevel.DISTRICT)}
    assert {code for code, _year in people} == districts
    town = geo_service.get_area(city, code=CITY_CODE)
    for lon, lat in column(city, "public-toilets", "location"):
        assert town.min_lon <= lon <= town.max_lon
        assert town.min_lat <= lat <= town.max_lat


def test_seeding_records_load_history_one_stale_dataset_sharing_and_usage(
    city: Session,
) -> None:
    now = datetime.now(UTC)
    seed_datahub(city, big_rows=BIG_ROWS, now=now)
    city.commit()

    made = datasets(city)
    history = city.scalars(
        select(Load).where(Load.dataset_id == made[HISTORY].id).order_by(Load.id)
    ).all()
    assert [load.status for load in history] == ["committed", "rejected", "partial"]
    assert [load.rows_loaded for load in history[1:]] == [0, 25]
    assert history[2].rows_rejected == 5
    quarantined = city.scalar(
        select(func.count())
        .select_from(QuarantinedRow)
        .where(QuarantinedRow.load_id == history[2].id)
    )
    assert quarantined == 5
    kinds = {group["type"] for group in history[1].report["errors"]}
    assert {"foreign-key", "enum", "minimum"} <= kinds

    def stale(dataset: Dataset) -> bool:
        limit = FRESH_DAYS[Frequency(dataset.frequency)]
        updated = dataset.data_updated_at
        assert updated is not None
        return limit is not None and now - updated > timedelta(days=limit)

    assert [name for name, dataset in made.items() if stale(dataset)] == [STALE]
    assert made[STALE].frequency == "monthly"

    # sharing requests between departments: pending, approved (fewer fields), refused
    requests = city.scalars(select(SharingRequest)).all()
    assert Counter(r.status for r in requests) == {"approved": 2, "pending": 2, "refused": 1}
    assert len(requests) == len(REQUESTS)
    dataset = service.get_dataset(city, name="social-assistance-recipients")
    health = auth_service.get_user_by_email(city, email="steward.health@example.org")
    grant = next(r for r in requests if r.department.code == "HEALTH")
    assert grant.status == "approved"
    assert grant.expires_at is not None
    assert grant.granted_fields is not None
    assert "id_card" not in grant.granted_fields
    assert grant.decided_at is not None
    assert grant.decided_at > grant.created_at
    schema = service.current_schema(city, dataset=dataset)
    seen = access.read_access(city, dataset=dataset, schema=schema, user=health)
    assert seen.allowed
    assert "person_name" in seen.visible
    assert "id_card" in seen.hidden
    teacher = auth_service.get_user_by_email(city, email="staff.edu@example.org")
    assert not access.read_access(city, dataset=dataset, schema=schema, user=teacher).allowed

    # usage figures for the last 30 days of every dataset
    days = dict(
        city.execute(
            select(DailyUsage.dataset_id, func.count()).group_by(DailyUsage.dataset_id)
        ).all()
    )
    assert all(days.get(d.id) == USAGE_DAYS for d in made.values())
    downloads, calls = service.usage_totals(city, dataset=made[BIG])
    assert downloads > 0
    assert calls > downloads


def test_seeding_twice_adds_nothing(city: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_datahub, "BIG_ROWS", 1_000)  # read when big_rows is not given
    seed_datahub(city)
    city.commit()
    before = counts(city)
    stale_at = datasets(city)[STALE].data_updated_at
    assert datasets(city)[BIG].row_count == 1_000

    summary = seed_datahub(city)
    city.commit()

    assert counts(city) == before
    assert "41 datasets (5 restricted, 0 new)" in summary
    assert "sharing requests (0 new)" in summary
    assert datasets(city)[STALE].data_updated_at == stale_at


def test_seeding_without_a_map_skips_the_data_hub(db: Session) -> None:
    assert seed_datahub(db, big_rows=BIG_ROWS) == "data hub: skipped (the city map is not seeded)"
    assert counts(db)["Dataset"] == 0
