"""Cases opened and worked through cases.service in the test city, for live metrics.

West district TC-W: a flooding case resolved in 10 h (SLA 24 h: met) and one in 30 h
(missed). East district TC-E: one resolved in 5 h (met) and one still open. So: west 50 %
within SLA, median 20 h; east 100 %, median 5 h; the city 66.7 %, median 10 h; nothing
reopened; two cases per district, four in the city. ``NOW`` is 2026-03-11.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.cases import service as cases_service
from cityos.cases.models import Case
from cityos.db import utcnow
from tests.cases.conftest import EAST_NORTH_POINT, WEST_POINT, CatalogFixture

POLICY = cases_service.CasePolicy(base_url="http://testserver")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
H = timedelta(hours=1)
D = timedelta(days=1)


def _open(db: Session, point: tuple[float, float], at: datetime) -> Case:
    return cases_service.open_case(
        db,
        cases_service.CaseInput(service_code="FLOODING", lon=point[0], lat=point[1]),
        actor=Actor.system("test"),
        policy=POLICY,
        now=at,
    )


def _resolve(db: Session, case: Case, people: Any, at: datetime) -> None:
    admin = people["admin"]
    for status, when in (("acknowledged", at - H / 2), ("resolved", at)):
        cases_service.change_status(
            db,
            case,
            to=status,
            note=f"{status} by the test",
            user=admin,
            actor=Actor(user_id=admin.id, label=admin.email),
            policy=POLICY,
            now=when,
        )


def work_cases(db: Session, services: CatalogFixture, start: datetime) -> None:
    """The four cases, from ``start`` + 1 day to ``start`` + 5 days, committed."""
    people = services.people
    a = _open(db, WEST_POINT, start + D)
    _resolve(db, a, people, start + D + 10 * H)
    b = _open(db, WEST_POINT, start + 2 * D)
    _resolve(db, b, people, start + 2 * D + 30 * H)
    _open(db, EAST_NORTH_POINT, start + 3 * D)
    d = _open(db, EAST_NORTH_POINT, start + 4 * D)
    _resolve(db, d, people, start + 4 * D + 5 * H)
    db.commit()


@pytest.fixture
def worked(db: Session, services: CatalogFixture) -> CatalogFixture:
    """The cases from T0 (2026-03-01); use ``now=NOW``."""
    work_cases(db, services, T0)
    return services


@pytest.fixture
def worked_lately(db: Session, services: CatalogFixture) -> CatalogFixture:
    """The cases from ten days ago: for code that measures up to the real now (the CLI)."""
    work_cases(db, services, utcnow() - 10 * D)
    return services
