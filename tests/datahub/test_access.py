"""Who reads which dataset and which fields: the access matrix and field-level rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import access, service, sharing
from cityos.datahub.models import Dataset, SharingRequest
from cityos.db import utcnow
from cityos.errors import Forbidden, Unauthorized
from tests.datahub.access_support import SYSTEM, Hub, hub, make_user
from tests.datahub.conftest import MakeDataset

__all__ = ["hub"]

PURPOSE = "Planning the flood response in the west district"


def _read(db: Session, dataset: Dataset, user: User | None) -> access.ReadAccess:
    schema = service.current_schema(db, dataset=dataset)
    return access.require_read(db, dataset=dataset, schema=schema, user=user)


def _grant(db: Session, hub: Hub, *, days: int | None = None) -> SharingRequest:
    request = sharing.request_access(
        db,
        dataset=hub.register,
        user=hub.people["water"],
        purpose=PURPOSE,
        actor=SYSTEM,
    )
    decided = sharing.decide_request(
        db,
        request_id=request.id,
        approve=True,
        user=hub.stewards["cmb"],
        expires_at=utcnow() + timedelta(days=days) if days else None,
        actor=SYSTEM,
    )
    db.commit()
    return decided


def test_anyone_reads_open_data_even_anonymous(db: Session, hub: Hub) -> None:
    seen = _read(db, hub.plain, None)
    assert seen.allowed
    assert not seen.is_owner
    assert seen.visible == {"id", "name", "beds"}


def test_anonymous_reader_of_shared_data_is_told_to_sign_in(db: Session, hub: Hub) -> None:
    with pytest.raises(Unauthorized) as caught:
        _read(db, hub.shared, None)
    assert "sign in" in caught.value.message
    assert _read(db, hub.shared, hub.people["water"]).allowed


def test_other_department_without_grant_is_told_how_to_ask(db: Session, hub: Hub) -> None:
    with pytest.raises(Forbidden) as caught:
        _read(db, hub.register, hub.people["water"])
    message = caught.value.message
    assert message.startswith("Register is restricted to City Management (CMB).")
    assert 'POST /api/data/register/requests {"purpose": …}' in message
    assert "'Request access' on /data/register" in message
    with pytest.raises(Unauthorized):
        _read(db, hub.register, None)


def test_owner_department_and_admin_read_every_field(db: Session, hub: Hub) -> None:
    for who in ("cmb", "admin"):
        seen = _read(db, hub.register, hub.people[who])
        assert seen.is_owner
        assert seen.visible == {"id", "district", "mobile", "owner_name"}
        assert not seen.masked
        assert not seen.hidden


def test_granted_department_reads_a_restricted_dataset(db: Session, hub: Hub) -> None:
    _grant(db, hub)
    seen = _read(db, hub.register, hub.people["water"])
    assert seen.allowed
    assert not seen.is_owner
    assert seen.visible == {"id", "district", "mobile", "owner_name"}  # granted: all fields
    # a third department is still refused
    analyst = make_user(db, "analyst@example.org", ["analyst"])
    with pytest.raises(Forbidden) as caught:
        _read(db, hub.register, analyst)
    assert "ask an admin to set yours" in caught.value.message


def test_expired_grant_no_longer_opens_the_dataset(db: Session, hub: Hub) -> None:
    grant = _grant(db, hub, days=10)
    later = utcnow() + timedelta(days=11)
    schema = service.current_schema(db, dataset=hub.register)
    seen = access.read_access(
        db, dataset=hub.register, schema=schema, user=hub.people["water"], now=later
    )
    assert not seen.allowed
    assert "access expired on" in seen.reason
    assert sharing.request_state(grant, later) == "expired"
    assert (
        access.active_grant(
            db, dataset=hub.register, department_id=hub.people["water"].department_id, now=later
        )
        is None
    )


def test_revoked_grant_no_longer_opens_the_dataset(db: Session, hub: Hub) -> None:
    grant = _grant(db, hub)
    sharing.revoke_grant(db, request_id=grant.id, user=hub.stewards["cmb"], actor=SYSTEM)
    db.commit()
    with pytest.raises(Forbidden) as caught:
        _read(db, hub.register, hub.people["water"])
    assert "access was revoked" in caught.value.message


def test_sensitive_fields_are_masked_or_hidden_for_other_departments(db: Session, hub: Hub) -> None:
    for dataset, user in ((hub.open, None), (hub.open, hub.people["water"])):
        seen = _read(db, dataset, user)
        assert seen.visible == {"id", "district"}
        assert seen.masked == {"mobile"}  # mask: partial
        assert seen.hidden == {"owner_name"}  # no mask: removed
        assert seen.shows("mobile")
        assert not seen.shows("owner_name")


def test_asking_for_a_hidden_field_is_refused_by_name(db: Session, hub: Hub) -> None:
    schema = service.current_schema(db, dataset=hub.open)
    with pytest.raises(Forbidden) as caught:
        access.require_read(
            db,
            dataset=hub.open,
            schema=schema,
            user=hub.people["water"],
            fields=["id", "owner_name"],
        )
    assert "'owner_name'" in caught.value.message
    assert '"fields": ["owner_name"]' in caught.value.message
    assert caught.value.details == [{"field": "owner_name", "reason": "hidden"}]
    # a masked field may be asked for: it comes back masked
    access.require_read(
        db, dataset=hub.open, schema=schema, user=hub.people["water"], fields=["mobile"]
    )


def test_a_grant_listing_sensitive_fields_shows_them(db: Session, hub: Hub) -> None:
    water = hub.people["water"]
    request = sharing.request_access(
        db, dataset=hub.shared, user=water, purpose=PURPOSE, fields=["owner_name"], actor=SYSTEM
    )
    sharing.decide_request(
        db, request_id=request.id, approve=True, user=hub.stewards["cmb"], actor=SYSTEM
    )
    db.commit()
    seen = _read(db, hub.shared, water)
    assert seen.visible == {"id", "district", "owner_name"}
    assert seen.masked == {"mobile"}  # not in the grant
    # another dataset with the same fields is not covered by this grant
    assert _read(db, hub.open, water).hidden == {"owner_name"}


def test_a_grant_of_some_fields_of_a_restricted_dataset_shows_only_those(
    db: Session, hub: Hub
) -> None:
    water = hub.people["water"]
    request = sharing.request_access(
        db,
        dataset=hub.register,
        user=water,
        purpose=PURPOSE,
        fields=["id", "district", "mobile"],
        actor=SYSTEM,
    )
    sharing.decide_request(
        db,
        request_id=request.id,
        approve=True,
        user=hub.stewards["cmb"],
        fields=["id", "district"],
        actor=SYSTEM,
    )
    db.commit()
    seen = _read(db, hub.register, water)
    assert seen.visible == {"id", "district"}
    assert seen.hidden == {"mobile", "owner_name"}


def test_metadata_of_non_open_datasets_needs_signing_in(hub: Hub) -> None:
    assert access.can_see_metadata(hub.plain, None)
    assert not access.can_see_metadata(hub.register, None)
    assert access.can_see_metadata(hub.register, hub.people["water"])
    with pytest.raises(Unauthorized):
        access.require_metadata(hub.shared, None)


def test_stewards_and_staff_of_the_department_and_admins_manage(db: Session, hub: Hub) -> None:
    analyst = make_user(db, "analyst.cmb@example.org", ["analyst"], "CMB")
    assert access.can_manage(hub.register, hub.people["admin"])
    assert access.can_manage(hub.register, hub.people["cmb"])
    assert access.can_manage(hub.register, hub.stewards["cmb"])
    assert not access.can_manage(hub.register, hub.stewards["water"])
    assert not access.can_manage(hub.register, analyst)
    assert not access.can_manage(hub.register, None)
    with pytest.raises(Forbidden) as caught:
        access.require_manage(hub.register, hub.stewards["water"])
    assert "Only stewards and staff of City Management (CMB)" in caught.value.message
    with pytest.raises(Unauthorized):
        access.require_manage(hub.register, None)


def test_all_active_grants_of_a_department_add_up(db: Session, hub: Hub) -> None:
    """An older grant of every field and a newer one of two fields: every field stays."""
    water, steward = hub.people["water"], hub.stewards["cmb"]
    for fields in (None, ["id", "district"]):
        request = sharing.request_access(
            db, dataset=hub.register, user=water, purpose=PURPOSE, fields=fields, actor=SYSTEM
        )
        sharing.decide_request(db, request_id=request.id, approve=True, user=steward, actor=SYSTEM)
        db.commit()
    seen = _read(db, hub.register, water)
    assert seen.visible == {"id", "district", "mobile", "owner_name"}
    assert not seen.hidden
    assert seen.reason.startswith("granted by requests #")


def test_grants_listing_different_fields_show_them_all(db: Session, hub: Hub) -> None:
    water, steward = hub.people["water"], hub.stewards["cmb"]
    for fields in (["id", "mobile"], ["id", "district"]):
        request = sharing.request_access(
            db, dataset=hub.register, user=water, purpose=PURPOSE, fields=fields, actor=SYSTEM
        )
        sharing.decide_request(db, request_id=request.id, approve=True, user=steward, actor=SYSTEM)
        db.commit()
    seen = _read(db, hub.register, water)
    assert seen.visible == {"id", "district", "mobile"}
    assert seen.hidden == {"owner_name"}


def test_what_a_department_reads_follows_the_same_rules(db: Session, hub: Hub) -> None:
    schema = service.current_schema(db, dataset=hub.register)
    cmb, water = hub.people["cmb"].department_id, hub.people["water"].department_id
    own = access.department_access(db, dataset=hub.register, schema=schema, department_id=cmb)
    assert own.is_owner
    assert own.visible == {"id", "district", "mobile", "owner_name"}
    other = access.department_access(db, dataset=hub.register, schema=schema, department_id=water)
    assert not other.allowed
    assert other.hidden == {"id", "district", "mobile", "owner_name"}
    assert "POST /api/data/register/requests" in other.reason
    opened = access.department_access(
        db,
        dataset=hub.open,
        schema=service.current_schema(db, dataset=hub.open),
        department_id=water,
    )
    assert opened.visible == {"id", "district"}
    assert opened.masked == {"mobile"}
    assert opened.hidden == {"owner_name"}


RESIDENTS_SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "id_card", "type": "string", "sensitive": True},
        {"name": "district", "type": "string"},
    ],
    "primaryKey": ["id"],
}
DISTRICTS_SCHEMA = {
    "fields": [{"name": "code", "type": "string"}, {"name": "name", "type": "string"}],
    "primaryKey": ["code"],
}
CASES_SCHEMA = {
    "fields": [
        {"name": "case", "type": "integer"},
        {"name": "person", "type": "string"},
        {"name": "district", "type": "string"},
    ],
    "primaryKey": ["case"],
}


def _with_key(resource: str, own: str, theirs: str) -> dict[str, Any]:
    return {
        **CASES_SCHEMA,
        "foreignKeys": [{"fields": [own], "reference": {"resource": resource, "fields": [theirs]}}],
    }


@pytest.fixture
def civil(db: Session, make_dataset: MakeDataset) -> dict[str, Any]:
    """CIVIL publishes a restricted register (a hidden ``id_card``) and open districts; PSB
    publishes cases."""
    departments = (("PSB", "公安局", "Public Security"), ("CIVIL", "民政局", "Civil Affairs"))
    for code, zh, en in departments:
        auth_service.create_department(db, code=code, name_zh=zh, name_en=en, actor=SYSTEM)
    db.commit()
    return {
        "residents": make_dataset(
            name="residents", descriptor=RESIDENTS_SCHEMA, access="restricted", department="CIVIL"
        ),
        "districts": make_dataset(
            name="civil-districts", descriptor=DISTRICTS_SCHEMA, department="CIVIL"
        ),
        "cases": make_dataset(name="psb-cases", descriptor=CASES_SCHEMA, department="PSB"),
        "psb": make_user(db, "officer@example.org", ["staff"], "PSB"),
        "civil": make_user(db, "steward@example.org", ["steward"], "CIVIL"),
    }


def test_a_foreign_key_to_a_field_the_department_cant_read_is_refused(
    db: Session, civil: dict[str, Any]
) -> None:
    with pytest.raises(Forbidden) as caught:
        service.set_schema(
            db,
            name="psb-cases",
            descriptor=_with_key("residents", "person", "id_card"),
            actor=SYSTEM,
        )
    assert caught.value.status_code == 403
    message = caught.value.message
    assert message.startswith("The foreign key to residents (id_card) needs that PSB may read")
    assert 'POST /api/data/residents/requests {"purpose": …, "fields": ["id_card"]}' in message
    assert civil["cases"].schema_version == 1


def test_a_foreign_key_to_a_granted_field_is_accepted(db: Session, civil: dict[str, Any]) -> None:
    request = sharing.request_access(
        db,
        dataset=civil["residents"],
        user=civil["psb"],
        purpose=PURPOSE,
        fields=["id", "id_card"],
        actor=SYSTEM,
    )
    sharing.decide_request(
        db, request_id=request.id, approve=True, user=civil["civil"], actor=SYSTEM
    )
    db.commit()
    version = service.set_schema(
        db, name="psb-cases", descriptor=_with_key("residents", "person", "id_card"), actor=SYSTEM
    )
    assert version.version == 2


def test_a_foreign_key_to_an_open_plain_field_is_accepted(
    db: Session, civil: dict[str, Any]
) -> None:
    version = service.set_schema(
        db,
        name="psb-cases",
        descriptor=_with_key("civil-districts", "district", "code"),
        actor=SYSTEM,
    )
    assert version.version == 2
