"""Datasets and helpers of the access, sharing, quality and API tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub.models import Dataset
from tests.conftest import PASSWORD
from tests.datahub.conftest import MakeDataset

SYSTEM = Actor.system("test")

# A register of people: two sensitive fields (one masked, one removed for non-owners).
PEOPLE_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "district", "type": "string"},
        {"name": "mobile", "type": "string", "sensitive": True, "mask": "partial"},
        {"name": "owner_name", "type": "string", "sensitive": True},
    ],
    "primaryKey": ["id"],
}
PEOPLE_ROWS = [
    {"id": 1, "district": "West", "mobile": "13800138000", "owner_name": "Li Lei"},
    {"id": 2, "district": "East", "mobile": "13900139000", "owner_name": "Han Meimei"},
    {"id": 3, "district": "East", "mobile": "", "owner_name": "Wang Wu"},
]
PLAIN_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string"},
        {"name": "beds", "type": "integer"},
    ],
    "primaryKey": ["id"],
}
PLAIN_ROWS = [
    {"id": 1, "name": "North", "beds": 120},
    {"id": 2, "name": "South", "beds": None},
]


@dataclass
class Hub:
    """Datasets of CMB: ``register`` (restricted, sensitive fields), ``shared`` (shared),
    ``open`` (open, with the same sensitive fields) and ``plain`` (open, nothing sensitive)."""

    register: Dataset
    shared: Dataset
    open: Dataset
    plain: Dataset
    people: dict[str, User]
    stewards: dict[str, User]


@pytest.fixture
def hub(
    db: Session, make_dataset: MakeDataset, people: dict[str, User], stewards: dict[str, User]
) -> Hub:
    return Hub(
        register=make_dataset(
            name="register", descriptor=PEOPLE_SCHEMA, rows=PEOPLE_ROWS, access="restricted"
        ),
        shared=make_dataset(
            name="shared-register", descriptor=PEOPLE_SCHEMA, rows=PEOPLE_ROWS, access="shared"
        ),
        open=make_dataset(
            name="open-register", descriptor=PEOPLE_SCHEMA, rows=PEOPLE_ROWS, access="open"
        ),
        plain=make_dataset(name="hospitals", descriptor=PLAIN_SCHEMA, rows=PLAIN_ROWS),
        people=people,
        stewards=stewards,
    )


def make_user(db: Session, email: str, roles: list[str], department: str | None = None) -> User:
    user = auth_service.create_user(
        db, email=email, password=PASSWORD, roles=roles, department_code=department, actor=SYSTEM
    )
    db.commit()
    return user


def bearer(db: Session, user: User) -> dict[str, str]:
    """Headers with a fresh API key of ``user``."""
    _, raw = auth_service.create_api_key(db, user=user, name="tests", actor=SYSTEM)
    db.commit()
    return {"authorization": f"Bearer {raw}"}


def audit_actions(db: Session, entity_id: str) -> list[str]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_id == entity_id, AuditEntry.action.startswith("datahub."))
            .order_by(AuditEntry.id)
        )
    )
