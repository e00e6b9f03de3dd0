"""The data-element library: built-ins, creating and updating elements, audit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.audit.service import Actor
from cityos.datahub import elements
from cityos.datahub.builtin_elements import BUILTIN_ELEMENTS
from cityos.datahub.schema_parse import parse_schema
from cityos.datahub.tableschema import Check
from cityos.errors import Conflict, InvalidInput, NotFound, Unprocessable

ACTOR = Actor(user_id=None, label="steward@example.org")

BRIDGE: dict[str, Any] = {
    "code": "bridge_id",
    "name_zh": "桥梁编号",
    "name_en": "Bridge number",
    "definition_zh": "城市桥梁的编号，BR 加 4 位数字。",
    "definition_en": "The number of a city bridge: BR and four digits.",
    "type": "string",
    "constraints": {"pattern": r"^BR\d{4}$"},
    "example": "BR0012",
}


def audit_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- built-ins (no database) ----------------------------------------------------------------


def test_there_are_at_least_fifteen_builtins_each_named_and_defined_in_both_languages() -> None:
    assert len(BUILTIN_ELEMENTS) >= 15
    codes = [data["code"] for data in BUILTIN_ELEMENTS]
    assert len(set(codes)) == len(codes)
    for data in BUILTIN_ELEMENTS:
        for key in ("name_zh", "name_en", "definition_zh", "definition_en", "example"):
            assert data[key], f"{data['code']} has no {key}"
        assert re.search(r"[\u4e00-\u9fff]", data["name_zh"]), data["code"]


def test_every_builtin_passes_the_element_checks_including_its_example() -> None:
    for data in BUILTIN_ELEMENTS:
        elements.check_element(data)


@pytest.mark.parametrize(
    ("code", "type_", "check", "sensitivity", "mask"),
    [
        ("district_code", "string", "area_code", "public", None),
        ("grid_code", "string", "area_code", "public", None),
        ("uscc", "string", "uscc", "public", None),
        ("id_card_cn", "string", "id_card_cn", "sensitive", "partial"),
        ("mobile_cn", "string", None, "sensitive", "partial"),
        ("person_name", "string", None, "sensitive", None),
        ("plate_number_cn", "string", None, "sensitive", "partial"),
        ("geopoint", "geopoint", None, "public", None),
        ("date", "date", None, "public", None),
        ("amount_cny", "number", None, "public", None),
        ("population_count", "integer", None, "public", None),
    ],
)
def test_builtin_elements_carry_their_type_check_and_sensitivity(
    code: str, type_: str, check: str | None, sensitivity: str, mask: str | None
) -> None:
    data = elements.check_element(next(d for d in BUILTIN_ELEMENTS if d["code"] == code))
    assert data["type"] == type_
    assert data["constraints"].get("check") == check
    assert (data["sensitivity"], data["mask"]) == (sensitivity, mask)


@pytest.mark.parametrize(
    ("code", "good", "bad"),
    [
        ("mobile_cn", "13812345678", "12812345678"),
        ("postal_code", "100020", "10002"),
        ("uscc", "91350100M000100Y43", "91350100M000100I43"),
        ("plate_number_cn", "粤B12345", "XA12345"),
        ("station_code", "AQ-1001", "AQ 1001"),
    ],
)
def test_builtin_patterns_accept_good_values_and_refuse_bad_ones(
    code: str, good: str, bad: str
) -> None:
    pattern = next(d for d in BUILTIN_ELEMENTS if d["code"] == code)["constraints"]["pattern"]
    assert re.fullmatch(pattern, good)
    assert not re.fullmatch(pattern, bad)


# --- bad elements (no database) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        ({"code": "Bridge"}, "code", "lowercase letter"),
        ({"code": "b"}, "code", "2–64 characters"),
        ({"name_en": " "}, "name_en", "non-empty"),
        ({"type": "text"}, "type", "unknown type"),
        ({"format": "phone"}, "format", "email, uri, uuid"),
        ({"constraints": {"minimum": 1}}, "constraints.minimum", "doesn't apply to a string"),
        ({"constraints": {"pattern": "(?=x)"}}, "constraints.pattern", "look-around"),
        ({"constraints": {"check": "vin"}}, "constraints.check", "unknown check"),
        ({"sensitivity": "secret"}, "sensitivity", "public, internal, sensitive"),
        ({"mask": "partial"}, "mask", 'set sensitivity "sensitive"'),
        ({"example": "BR12"}, "example", "doesn't match the pattern"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)
def test_a_bad_element_is_refused_naming_the_key(
    changes: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(Unprocessable) as caught:
        elements.check_element({**BRIDGE, **changes})
    assert caught.value.message.startswith("The data element has")
    assert any(p["where"] == where and message in p["message"] for p in caught.value.details), (
        caught.value.details
    )


def test_an_example_failing_the_elements_check_is_refused() -> None:
    data = {**BRIDGE, "constraints": {"check": "uscc"}, "example": "91350100M000100Y44"}
    with pytest.raises(Unprocessable, match="fails the uscc check"):
        elements.check_element(data)


# --- the service ------------------------------------------------------------------------------


def test_seeding_stores_the_builtins_once_and_audits_it(db: Session) -> None:
    assert elements.seed_builtin(db) == len(BUILTIN_ELEMENTS)
    assert elements.seed_builtin(db) == 0
    db.commit()
    stored = elements.list_elements(db)
    assert [e.code for e in stored] == sorted(d["code"] for d in BUILTIN_ELEMENTS)
    assert all(e.builtin for e in stored)
    assert audit_actions(db) == ["datahub.element.seed"]
    id_card = elements.get_element(db, code="id_card_cn")
    assert (id_card.sensitivity, id_card.mask, id_card.constraints) == (
        "sensitive",
        "partial",
        {"check": "id_card_cn"},
    )


def test_seeding_keeps_an_edited_builtin_and_adds_a_missing_one(db: Session) -> None:
    elements.seed_builtin(db)
    elements.update_element(db, code="address", changes={"name_en": "Street address"}, actor=ACTOR)
    db.delete(elements.get_element(db, code="email"))
    db.flush()
    assert elements.seed_builtin(db) == 1
    assert elements.get_element(db, code="address").name_en == "Street address"
    assert elements.get_element(db, code="email").builtin


def test_schemas_resolve_against_the_stored_elements(db: Session) -> None:
    elements.seed_builtin(db)
    schema = parse_schema(
        {"fields": [{"name": "code", "element": "uscc"}, {"name": "id", "element": "id_card_cn"}]},
        elements=elements.elements_by_code(db),
    )
    assert schema.field("code").constraints.check is Check.USCC
    assert (schema.field("id").sensitive, schema.field("id").mask) == (True, "partial")


def test_creating_an_element_stores_and_audits_it(db: Session) -> None:
    created = elements.create_element(db, data=BRIDGE, actor=ACTOR)
    db.commit()
    stored = elements.get_element(db, code="bridge_id")
    assert stored.id == created.id
    assert not stored.builtin
    assert stored.constraints == {"pattern": r"^BR\d{4}$"}
    assert stored.sensitivity == "public"
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.entity_type, entry.entity_id, entry.actor_label) == (
        "datahub.element.create",
        "data_element",
        "bridge_id",
        "steward@example.org",
    )
    assert entry.after is not None
    assert entry.after["name_zh"] == "桥梁编号"


def test_creating_an_element_with_a_taken_code_is_a_conflict(db: Session) -> None:
    elements.seed_builtin(db)
    with pytest.raises(Conflict, match="'uscc' exists already"):
        elements.create_element(db, data={**BRIDGE, "code": "uscc"}, actor=ACTOR)


def test_a_bad_element_is_not_stored(db: Session) -> None:
    with pytest.raises(Unprocessable):
        elements.create_element(db, data={**BRIDGE, "type": "text"}, actor=ACTOR)
    assert elements.list_elements(db) == []
    assert audit_actions(db) == []


def test_updating_an_element_changes_it_and_audits_before_and_after(db: Session) -> None:
    elements.create_element(db, data=BRIDGE, actor=ACTOR)
    updated = elements.update_element(
        db,
        code="bridge_id",
        changes={
            "sensitivity": "internal",
            "constraints": {"pattern": r"^BR\d{5}$"},
            "example": "BR00012",
        },
        actor=ACTOR,
    )
    db.commit()
    assert updated.sensitivity == "internal"
    assert elements.get_element(db, code="bridge_id").constraints == {"pattern": r"^BR\d{5}$"}
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "datahub.element.update")
    ).one()
    assert entry.summary == "data element bridge_id: constraints, example, sensitivity"
    assert entry.before is not None
    assert entry.before["sensitivity"] == "public"
    assert entry.after is not None
    assert entry.after["sensitivity"] == "internal"


def test_an_update_that_breaks_the_element_is_refused_and_changes_nothing(db: Session) -> None:
    elements.create_element(db, data=BRIDGE, actor=ACTOR)
    with pytest.raises(Unprocessable) as caught:
        elements.update_element(db, code="bridge_id", changes={"type": "integer"}, actor=ACTOR)
    # the pattern doesn't apply to an integer: the message says which key
    assert caught.value.details[0]["where"] == "constraints.pattern"
    assert elements.get_element(db, code="bridge_id").type == "string"


def test_an_elements_code_cannot_change(db: Session) -> None:
    elements.create_element(db, data=BRIDGE, actor=ACTOR)
    with pytest.raises(InvalidInput, match="code can't change"):
        elements.update_element(db, code="bridge_id", changes={"code": "bridge"}, actor=ACTOR)


def test_an_unknown_element_is_not_found_with_a_hint(db: Session) -> None:
    with pytest.raises(NotFound, match=r"No data element 'nope'\. GET /api/data-elements"):
        elements.get_element(db, code="nope")
    with pytest.raises(NotFound):
        elements.update_element(db, code="nope", changes={}, actor=ACTOR)
