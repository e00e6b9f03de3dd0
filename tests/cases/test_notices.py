from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.service import Actor
from cityos.cases import notices, service
from cityos.cases.models import Case
from tests.cases.conftest import WEST_POINT, CatalogFixture

POLICY = service.CasePolicy(base_url="http://testserver")
CITIZEN = Actor(user_id=None, label="citizen", ip="203.0.113.9")


@pytest.fixture
def heard() -> Iterator[list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []
    unsubscribe = events.subscribe(notices.TOPIC, lambda _topic, payload: got.append(payload))
    yield got
    unsubscribe()


def _open(db: Session) -> Case:
    return service.open_case(
        db,
        service.CaseInput(
            service_code="POTHOLE",
            lon=WEST_POINT[0],
            lat=WEST_POINT[1],
            description="Deep hole",
            attributes={"size": "large"},
            contact_email="reporter@example.org",
        ),
        actor=CITIZEN,
        policy=POLICY,
    )


def test_an_opened_case_is_announced_only_once_its_transaction_commits(
    db: Session, services: CatalogFixture, heard: list[dict[str, Any]]
) -> None:
    case = _open(db)
    assert heard == []
    db.commit()
    assert len(heard) == 1
    event = heard[0]
    assert event["id"] == case.id
    assert event["kind"] == "submitted"
    assert event["status"] == "submitted"
    assert event["category"] == "POTHOLE"
    assert event["category_name_en"] == case.category.name_en
    assert event["category_name_zh"] == case.category.name_zh
    assert event["district_id"] == case.district_id
    assert event["lon"] == case.lon
    assert "contact_email" not in event
    assert "reporter@example.org" not in str(event)


def test_a_rolled_back_case_is_never_announced(
    db: Session, services: CatalogFixture, heard: list[dict[str, Any]]
) -> None:
    _open(db)
    db.rollback()
    db.commit()
    assert heard == []


def test_a_status_change_is_announced_with_the_status_it_left(
    db: Session, services: CatalogFixture, heard: list[dict[str, Any]]
) -> None:
    case = _open(db)
    db.commit()
    staff = services.people["cmb"]
    service.change_status(
        db,
        case,
        to="acknowledged",
        user=staff,
        actor=Actor(user_id=staff.id, label=staff.email),
        policy=POLICY,
    )
    db.commit()
    assert [(e["kind"], e["status_from"], e["status"]) for e in heard] == [
        ("submitted", None, "submitted"),
        ("status", "submitted", "acknowledged"),
    ]
