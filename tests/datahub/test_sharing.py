"""Sharing requests: asking, deciding once, revoking, listing; audited and notified."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.datahub import sharing
from cityos.datahub.models import SharingRequest
from cityos.db import utcnow
from cityos.errors import Conflict, Forbidden, InvalidInput
from cityos.notify.models import OutboxMessage
from tests.conftest import login
from tests.datahub.access_support import SYSTEM, Hub, audit_actions, hub

__all__ = ["hub"]

PURPOSE = "Planning the flood response in the west district"


def _ask(db: Session, hub: Hub, **changes: object) -> SharingRequest:
    arguments: dict[str, object] = {
        "dataset": hub.register,
        "user": hub.people["water"],
        "purpose": PURPOSE,
        "fields": None,
        "actor": SYSTEM,
    }
    arguments.update(changes)
    request = sharing.request_access(db, **arguments)  # type: ignore[arg-type]
    db.commit()
    return request


def _outbox(db: Session) -> list[tuple[str, str]]:
    db.expire_all()
    return [
        (m.to_address, m.subject)
        for m in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
    ]


def test_a_request_is_recorded_audited_and_sent_to_the_owners_stewards(
    db: Session, hub: Hub
) -> None:
    request = _ask(db, hub, fields=["id", "district"])
    assert request.status == "pending"
    assert request.department.code == "WATER"
    assert request.fields == ["id", "district"]
    assert request.requested_by_id == hub.people["water"].id
    assert audit_actions(db, "register")[-1] == "datahub.request"
    mail = _outbox(db)
    assert mail == [
        ("steward.cmb@example.org", f"Data request #{request.id}: WATER asks for register")
    ]


def test_the_request_mail_links_to_the_stewards_inbox(
    db: Session, hub: Hub, client: TestClient
) -> None:
    request = _ask(db, hub)
    body = db.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id.desc())).first()
    assert body is not None
    assert f"Decide on /data/steward#incoming or POST /api/data-requests/{request.id}/decision" in (
        body
    )
    login(client, hub.stewards["cmb"].email)
    page = client.get("/data/steward")
    assert page.status_code == 200
    assert '<section id="incoming">' in page.text


def test_approving_a_subset_grants_it_and_tells_the_requester(db: Session, hub: Hub) -> None:
    request = _ask(db, hub, fields=["id", "district", "mobile"])
    until = utcnow() + timedelta(days=30)
    decided = sharing.decide_request(
        db,
        request_id=request.id,
        approve=True,
        user=hub.stewards["cmb"],
        fields=["id", "district"],
        expires_at=until,
        note="No phone numbers, sorry.",
        actor=SYSTEM,
    )
    db.commit()
    assert decided.status == "approved"
    assert decided.granted_fields == ["id", "district"]
    assert decided.expires_at == until
    assert decided.decided_by_id == hub.stewards["cmb"].id
    assert decided.decision_note == "No phone numbers, sorry."
    assert audit_actions(db, "register")[-1] == "datahub.grant"
    assert _outbox(db)[-1] == (
        "staff.water@example.org",
        f"Data request #{request.id} granted: register",
    )
    active = sharing.active_grant(
        db, dataset=hub.register, department_id=hub.people["water"].department_id
    )
    assert active is not None
    assert active.id == request.id


def test_refusing_records_the_decision(db: Session, hub: Hub) -> None:
    request = _ask(db, hub)
    sharing.decide_request(
        db,
        request_id=request.id,
        approve=False,
        user=hub.people["cmb"],
        note="Personal data: use the open summary instead.",
        actor=SYSTEM,
    )
    db.commit()
    assert request.status == "refused"
    assert audit_actions(db, "register")[-1] == "datahub.refuse"
    assert _outbox(db)[-1][1] == f"Data request #{request.id} refused: register"
    assert (
        sharing.active_grant(
            db, dataset=hub.register, department_id=hub.people["water"].department_id
        )
        is None
    )


def test_a_request_is_decided_only_once(db: Session, hub: Hub) -> None:
    request = _ask(db, hub)
    sharing.decide_request(
        db, request_id=request.id, approve=True, user=hub.stewards["cmb"], actor=SYSTEM
    )
    with pytest.raises(Conflict) as caught:
        sharing.decide_request(
            db, request_id=request.id, approve=False, user=hub.stewards["cmb"], actor=SYSTEM
        )
    assert caught.value.status_code == 409
    assert f"Request #{request.id} was already decided: approved" in caught.value.message


def test_only_the_owners_decide(db: Session, hub: Hub) -> None:
    request = _ask(db, hub)
    for who in (hub.people["water"], hub.stewards["water"]):
        with pytest.raises(Forbidden) as caught:
            sharing.decide_request(db, request_id=request.id, approve=True, user=who, actor=SYSTEM)
        assert "Only stewards and staff of City Management (CMB)" in caught.value.message
    sharing.decide_request(
        db, request_id=request.id, approve=True, user=hub.people["admin"], actor=SYSTEM
    )


def test_a_purpose_of_a_few_characters_is_refused(db: Session, hub: Hub) -> None:
    for purpose in ("", "   ", "need it"):
        with pytest.raises(InvalidInput) as caught:
            _ask(db, hub, purpose=purpose)
        assert caught.value.status_code == 400
        assert "at least 10 characters" in caught.value.message


def test_unknown_fields_are_named_with_the_known_ones(db: Session, hub: Hub) -> None:
    with pytest.raises(InvalidInput) as caught:
        _ask(db, hub, fields=["id", "salary"])
    assert "register has no field 'salary'" in caught.value.message
    assert "id, district, mobile, owner_name" in caught.value.message


def test_the_owning_department_does_not_ask(db: Session, hub: Hub) -> None:
    with pytest.raises(InvalidInput) as caught:
        _ask(db, hub, user=hub.people["cmb"])
    assert "your department publishes it" in caught.value.message


def test_a_second_pending_request_of_a_department_conflicts(db: Session, hub: Hub) -> None:
    first = _ask(db, hub)
    with pytest.raises(Conflict) as caught:
        _ask(db, hub, user=hub.stewards["water"])
    assert f"request #{first.id}" in caught.value.message
    assert "wait for the decision" in caught.value.message


def test_readable_data_needs_no_request_unless_sensitive_fields_are_asked(
    db: Session, hub: Hub
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _ask(db, hub, dataset=hub.plain)
    assert "hospitals is already readable by anyone (access: open)" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        _ask(db, hub, dataset=hub.shared, fields=["id", "district"])
    assert "already readable by every signed-in user" in caught.value.message
    asked = _ask(db, hub, dataset=hub.shared, fields=["owner_name"])
    assert asked.status == "pending"


def test_grants_cover_only_fields_asked_for_and_end_in_the_future(db: Session, hub: Hub) -> None:
    request = _ask(db, hub, fields=["id", "district"])
    with pytest.raises(InvalidInput) as caught:
        sharing.decide_request(
            db,
            request_id=request.id,
            approve=True,
            user=hub.stewards["cmb"],
            fields=["id", "mobile"],
            actor=SYSTEM,
        )
    assert "Grant only fields that were asked for: mobile was not" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        sharing.decide_request(
            db,
            request_id=request.id,
            approve=True,
            user=hub.stewards["cmb"],
            expires_at=utcnow() - timedelta(days=1),
            actor=SYSTEM,
        )
    assert "expires_at must be in the future" in caught.value.message


def test_only_approved_requests_are_revoked(db: Session, hub: Hub) -> None:
    request = _ask(db, hub)
    with pytest.raises(Conflict) as caught:
        sharing.revoke_grant(db, request_id=request.id, user=hub.stewards["cmb"], actor=SYSTEM)
    assert "request #" in caught.value.message
    assert "is pending" in caught.value.message
    sharing.decide_request(
        db, request_id=request.id, approve=True, user=hub.stewards["cmb"], actor=SYSTEM
    )
    sharing.revoke_grant(
        db, request_id=request.id, user=hub.stewards["cmb"], note="Project over", actor=SYSTEM
    )
    db.commit()
    assert request.status == "revoked"
    assert audit_actions(db, "register")[-3:] == [
        "datahub.request",
        "datahub.grant",
        "datahub.revoke",
    ]


def test_requests_are_listed_incoming_and_outgoing(db: Session, hub: Hub) -> None:
    request = _ask(db, hub)
    water, cmb = hub.people["water"], hub.stewards["cmb"]
    assert [r.id for r in sharing.list_requests(db, user=water, role="outgoing")] == [request.id]
    assert sharing.list_requests(db, user=water, role="incoming") == []
    assert [r.id for r in sharing.list_requests(db, user=cmb, role="incoming")] == [request.id]
    assert [r.id for r in sharing.list_requests(db, user=cmb, role="all")] == [request.id]
    assert sharing.list_requests(db, user=cmb, role="incoming", status="approved") == []
    admin = hub.people["admin"]
    assert [r.id for r in sharing.list_requests(db, user=admin, role="incoming")] == [request.id]
    with pytest.raises(InvalidInput) as caught:
        sharing.list_requests(db, user=cmb, role="mine")
    assert "role must be one of incoming, outgoing, all" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        sharing.list_requests(db, user=cmb, status="lost")
    assert "pending, approved, refused, revoked, expired" in caught.value.message
