from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.cases import service
from cityos.cases.models import Case
from cityos.db import utcnow
from cityos.errors import Conflict, Forbidden, InvalidInput
from tests.cases.conftest import EAST_NORTH_POINT, WEST_POINT, CatalogFixture

POLICY = service.CasePolicy(base_url="http://testserver")
CITIZEN = Actor(user_id=None, label="citizen", ip="203.0.113.9")


def _open(db: Session, code: str = "POTHOLE", point: tuple[float, float] = WEST_POINT) -> Case:
    attributes = {"size": "large"} if code == "POTHOLE" else {}
    return service.open_case(
        db,
        service.CaseInput(
            service_code=code,
            lon=point[0],
            lat=point[1],
            description="Deep hole",
            attributes=attributes,
            contact_email="reporter@example.org",
        ),
        actor=CITIZEN,
        policy=POLICY,
    )


def test_an_opened_case_is_routed_timed_and_has_its_first_public_update(
    db: Session, services: CatalogFixture
) -> None:
    case = _open(db, "FLOODING", EAST_NORTH_POINT)
    assert case.status == "submitted"
    assert case.department_id == services.people["cmb"].department_id
    assert "TC-E-N" in case.routing_reason
    assert case.acknowledge_due_at == case.requested_at + timedelta(hours=1)
    assert case.resolve_due_at == case.requested_at + timedelta(hours=24)
    assert case.next_due_at == case.acknowledge_due_at
    updates = service.history(db, case=case, public_only=True)
    assert [u.kind for u in updates] == ["submitted"]


def test_resolving_needs_a_note_and_a_photo_where_the_category_demands_it(
    db: Session, services: CatalogFixture
) -> None:
    case = _open(db)
    staff = services.people["cmb"]
    actor = Actor(user_id=staff.id, label=staff.email)
    with pytest.raises(InvalidInput, match="resolution note"):
        service.change_status(db, case, to="resolved", user=staff, actor=actor, policy=POLICY)
    with pytest.raises(InvalidInput, match="photo"):
        service.change_status(
            db, case, to="resolved", note="Filled", user=staff, actor=actor, policy=POLICY
        )


def test_illegal_transitions_name_the_legal_ones(db: Session, services: CatalogFixture) -> None:
    case = _open(db)
    staff = services.people["cmb"]
    actor = Actor(user_id=staff.id, label=staff.email)
    service.change_status(
        db,
        case,
        to="closed",
        close_reason="no_further_action",
        note="Private land",
        user=staff,
        actor=actor,
        policy=POLICY,
    )
    with pytest.raises(Conflict, match="can move to: reopened"):
        service.change_status(db, case, to="in_progress", user=staff, actor=actor, policy=POLICY)


def test_staff_of_another_department_cannot_act(db: Session, services: CatalogFixture) -> None:
    case = _open(db)
    water = services.people["water"]
    with pytest.raises(Forbidden):
        service.change_status(
            db,
            case,
            to="acknowledged",
            user=water,
            actor=Actor(user_id=water.id, label=water.email),
            policy=POLICY,
        )


def test_a_citizen_reopens_within_the_window_but_not_after(
    db: Session, services: CatalogFixture
) -> None:
    case = _open(db, "NOISE")
    admin = services.people["admin"]
    actor = Actor(user_id=admin.id, label=admin.email)
    service.change_status(
        db,
        case,
        to="closed",
        close_reason="no_further_action",
        note="Checked, quiet",
        user=admin,
        actor=actor,
        policy=POLICY,
    )
    later = utcnow() + timedelta(days=15)
    key = case.token or ""
    with pytest.raises(Conflict, match="no longer be reopened"):
        service.citizen_reopen(
            db, case, reason="Still loud", key=key, actor=CITIZEN, policy=POLICY, now=later
        )
    with pytest.raises(Forbidden, match="Only the person who reported"):
        service.citizen_reopen(
            db, case, reason="Still loud", key="guess", actor=CITIZEN, policy=POLICY
        )
    service.citizen_reopen(db, case, reason="Still loud", key=key, actor=CITIZEN, policy=POLICY)
    assert case.status == "reopened"
    assert case.reopen_count == 1
    assert case.next_due_at is not None


def test_sla_breaches_are_escalated_once(db: Session, services: CatalogFixture) -> None:
    case = _open(db)
    late = case.requested_at + timedelta(hours=5)
    first = service.check_sla(db, policy=POLICY, now=late)
    second = service.check_sla(db, policy=POLICY, now=late)
    assert (first.breached, second.breached) == (1, 0)
    kinds = [u.kind for u in service.history(db, case=case, public_only=False)]
    assert "escalation" in kinds


def test_duplicate_moves_followers_to_the_original(db: Session, services: CatalogFixture) -> None:
    original = _open(db)
    copy = service.open_case(
        db,
        service.CaseInput(
            service_code="POTHOLE",
            lon=WEST_POINT[0],
            lat=WEST_POINT[1],
            attributes={"size": "small"},
            contact_email="second@example.org",
        ),
        actor=CITIZEN,
        policy=POLICY,
    )
    near = service.nearby_open(db, service_code="POTHOLE", lon=WEST_POINT[0], lat=WEST_POINT[1])
    assert {item.case.id for item in near} == {original.id, copy.id}
    admin = services.people["admin"]
    service.mark_duplicate(
        db,
        copy,
        original_id=original.id,
        user=admin,
        actor=Actor(user_id=admin.id, label=admin.email),
        policy=POLICY,
    )
    assert copy.status == "closed"
    assert copy.close_reason == "duplicate"
    followed = service.follow(db, copy, email="second@example.org", actor=CITIZEN)
    assert followed.case_id == original.id


def test_other_systems_open_cases_through_the_same_function_with_their_source(
    db: Session, services: CatalogFixture
) -> None:
    case = service.open_case(
        db,
        service.CaseInput(
            service_code="FLOODING",
            lon=WEST_POINT[0],
            lat=WEST_POINT[1],
            description="Water level 32 cm over threshold 20 cm",
            priority="urgent",
            source=service.CaseSource.SENSOR,
            source_ref="alert-rule:7/datastream:12",
        ),
        actor=Actor.system("sensing"),
        policy=POLICY,
    )
    assert (case.source, case.source_ref, case.priority) == (
        "sensor",
        "alert-rule:7/datastream:12",
        "urgent",
    )
    assert case.department_id == services.people["water"].department_id
