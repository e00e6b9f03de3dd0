"""Shared set-up of the ops API tests: an operator with an API key, cases and sensors on the
test city (tests/geo/conftest.py: districts TC-W and TC-E, four sub-districts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.cases.models import Case
from cityos.db import utcnow
from tests.cases.conftest import EAST_NORTH_POINT, WEST_POINT, CatalogFixture
from tests.cases.staff_support import open_case
from tests.conftest import PASSWORD

ACTOR = Actor.system("test")
OPERATOR_EMAIL = "operator@example.org"


def api_key(db: Session, email: str) -> dict[str, str]:
    user = auth_service.get_user_by_email(db, email=email)
    _, raw = auth_service.create_api_key(db, user=user, name="tests", actor=ACTOR)
    db.commit()
    return {"authorization": f"Bearer {raw}"}


@pytest.fixture
def operator(db: Session, services: CatalogFixture) -> dict[str, str]:
    """The test city with its catalog and people, plus an operator; their API key header."""
    auth_service.create_user(
        db, email=OPERATOR_EMAIL, password=PASSWORD, roles=["operator"], actor=ACTOR
    )
    db.commit()
    return api_key(db, OPERATOR_EMAIL)


@dataclass(frozen=True)
class Seeded:
    west: list[int]
    east: list[int]


def seed_cases(db: Session, *, west: int = 2, east: int = 1, now: datetime | None = None) -> Seeded:
    """Noise reports opened just now: ``west`` in TC-W-S, ``east`` in TC-E-N."""
    at = now or utcnow() - timedelta(seconds=5)
    made_west = [open_case(db, "NOISE", WEST_POINT, now=at, email=None).id for _ in range(west)]
    made_east = [
        open_case(db, "NOISE", EAST_NORTH_POINT, now=at, email=None).id for _ in range(east)
    ]
    return Seeded(made_west, made_east)


def get(client: TestClient, headers: dict[str, str], url: str, status: int = 200) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


def case_count(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Case)) or 0)


def audit_actions(db: Session, prefix: str) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.startswith(prefix))
            .order_by(AuditEntry.id)
        )
    )
