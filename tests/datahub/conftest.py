"""Fixtures of the data hub's tests: stewards, and datasets loaded through the real path."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import elements, ingest, service
from cityos.datahub.models import Dataset, LoadStatus
from cityos.geo import service as geo_service
from tests.conftest import PASSWORD

TEST_ACTOR = Actor.system("test")

MakeDataset = Callable[..., Dataset]


@pytest.fixture
def stewards(db: Session, people: dict[str, User]) -> dict[str, User]:
    """A steward of CMB and one of WATER (besides ``people``)."""
    made = {
        code.lower(): auth_service.create_user(
            db,
            email=f"steward.{code.lower()}@example.org",
            password=PASSWORD,
            roles=["steward"],
            department_code=code,
            actor=TEST_ACTOR,
        )
        for code in ("CMB", "WATER")
    }
    db.commit()
    return made


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], header: Sequence[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return path


@pytest.fixture
def make_dataset(db: Session, people: dict[str, User], tmp_path: Path) -> MakeDataset:
    """``make_dataset(name=…, descriptor=…, rows=[…], access=…, department=…, **metadata)``.

    Creates the dataset with its schema and loads ``rows`` (dicts by field name) through
    the real ingest path; commits.
    """
    elements.seed_builtin(db)
    counter = iter(range(1_000_000))

    def make(
        *,
        name: str,
        descriptor: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]] = (),
        access: str = "open",
        department: str = "CMB",
        **metadata: Any,
    ) -> Dataset:
        data: dict[str, Any] = {
            "name": name,
            "title_en": metadata.pop("title_en", name.replace("-", " ").title()),
            "title_zh": metadata.pop("title_zh", ""),
            "access": access,
            "schema": dict(descriptor),
            **metadata,
        }
        dataset = service.create_dataset(
            db, data=data, department_code=department, actor=TEST_ACTOR
        )
        if rows:
            schema = service.current_schema(db, dataset=dataset)
            assert schema is not None
            path = write_csv(tmp_path / f"rows-{next(counter)}.csv", rows, schema.names)
            load = ingest.load_file(
                db,
                dataset=dataset,
                schema=schema,
                version=dataset.schema_version or 1,
                path=path,
                filename=path.name,
                options=ingest.LoadOptions(),
                actor=TEST_ACTOR,
                area_codes=geo_service.area_codes(db),
            )
            assert load.status == LoadStatus.COMMITTED.value, load.report
        db.commit()
        return dataset

    return make
