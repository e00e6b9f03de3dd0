"""The data-element library: the city's field standard (``district_code``, ``uscc``, …).

Elements are checked with the same rules as schema fields
(:mod:`cityos.datahub.schema_rules`): a known Table Schema type, a format of that type and
constraints that apply to it. Every write is audited. Changing an element does not change
the schemas that already reference it: schema versions store resolved fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.datahub import checks
from cityos.datahub.builtin_elements import BUILTIN_ELEMENTS
from cityos.datahub.models import DataElement, Sensitivity
from cityos.datahub.schema_rules import (
    MASKS,
    Problems,
    check_format,
    listing,
    parse_constraints,
    show,
)
from cityos.datahub.tableschema import Check, FieldType
from cityos.errors import Conflict, InvalidInput, NotFound

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
TEXT_LIMITS = {"name_zh": 200, "name_en": 200, "definition_zh": 4000, "definition_en": 4000}
EDITABLE = (
    "name_zh",
    "name_en",
    "definition_zh",
    "definition_en",
    "type",
    "format",
    "constraints",
    "sensitivity",
    "mask",
    "example",
)
KEYS = ("code", *EDITABLE)
SENSITIVITY_RANK = {
    Sensitivity.PUBLIC.value: 0,
    Sensitivity.INTERNAL.value: 1,
    Sensitivity.SENSITIVE.value: 2,
}


def list_elements(db_session: Session) -> Sequence[DataElement]:
    """Every data element, by code."""
    return db_session.scalars(select(DataElement).order_by(DataElement.code)).all()


def get_element(db_session: Session, *, code: str) -> DataElement:
    element = db_session.scalar(select(DataElement).where(DataElement.code == code))
    if element is None:
        raise NotFound(f"No data element {code!r}. GET /api/data-elements lists them.")
    return element


def elements_by_code(db_session: Session) -> dict[str, DataElement]:
    """Every data element keyed by code (what :func:`parse_schema` needs)."""
    return {element.code: element for element in list_elements(db_session)}


def summary(element: DataElement) -> dict[str, Any]:
    """The element as plain data (API responses, audit snapshots)."""
    return {
        "code": element.code,
        "name_zh": element.name_zh,
        "name_en": element.name_en,
        "definition_zh": element.definition_zh,
        "definition_en": element.definition_en,
        "type": element.type,
        "format": element.format,
        "constraints": dict(element.constraints or {}),
        "sensitivity": element.sensitivity,
        "mask": element.mask,
        "example": element.example,
        "builtin": element.builtin,
    }


def check_element(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (keys of :data:`KEYS`) checked and normalised; Unprocessable listing problems."""
    problems = Problems()
    for key in data:
        if key not in KEYS:
            problems.add(str(key), f"unknown key; a data element has {listing(KEYS)}")
    out: dict[str, Any] = {}
    code = data.get("code")
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        problems.add(
            "code",
            "must be 2–64 characters: a lowercase letter, then lowercase letters, digits or _ "
            f"(got {show(code)})",
        )
    out["code"] = code
    for key, limit in TEXT_LIMITS.items():
        value = data.get(key, "")
        required = key.startswith("name")
        if not isinstance(value, str) or (required and not value.strip()):
            problems.add(key, f"must be {'a non-empty' if required else 'a'} string")
        elif len(value) > limit:
            problems.add(key, f"is {len(value)} characters long; at most {limit} allowed")
        out[key] = value.strip() if isinstance(value, str) else value
    out["type"], out["format"], out["constraints"] = data.get("type"), None, {}
    try:
        kind = FieldType(str(data.get("type")))
    except ValueError:
        problems.add(
            "type",
            f"unknown type {show(data.get('type'))}; use one of "
            f"{listing([str(t) for t in FieldType])}",
        )
    else:
        out["type"] = str(kind)
        fmt = check_format(kind, data.get("format"), where="format", problems=problems)
        out["format"] = None if fmt == "default" else fmt
        constraints, _ = parse_constraints(
            data.get("constraints") or {}, kind=kind, where="constraints", problems=problems
        )
        out["constraints"] = constraints.to_descriptor()
    sensitivity = data.get("sensitivity") or Sensitivity.PUBLIC.value
    if sensitivity not in {s.value for s in Sensitivity}:
        problems.add(
            "sensitivity",
            f"must be one of {listing([s.value for s in Sensitivity])} (got {show(sensitivity)})",
        )
    out["sensitivity"] = sensitivity
    mask = data.get("mask")
    if mask is not None and mask not in MASKS:
        problems.add("mask", f'must be "partial" or null (remove the value); got {show(mask)}')
    elif mask is not None and sensitivity != Sensitivity.SENSITIVE.value:
        problems.add("mask", 'a mask applies to sensitive elements; set sensitivity "sensitive"')
    out["mask"] = mask
    example = data.get("example") or ""
    if not isinstance(example, str) or len(example) > 200:
        problems.add("example", "must be a string of at most 200 characters")
    else:
        _check_example(example, out["constraints"], problems=problems)
    out["example"] = example
    problems.raise_if_any("data element")
    return out


def _check_example(example: str, constraints: Mapping[str, Any], *, problems: Problems) -> None:
    """An example must obey its element's pattern and check (it is shown as a model)."""
    if not example:
        return
    pattern = constraints.get("pattern")
    if pattern and not re.fullmatch(pattern, example):
        problems.add("example", f"{show(example)} doesn't match the pattern {show(pattern)}")
    check = constraints.get("check")
    verdict: pl.Expr | None = None
    if check == Check.USCC:
        verdict = checks.uscc_valid(pl.col("x"))
    elif check == Check.ID_CARD_CN:
        verdict = checks.id_card_valid(pl.col("x"))
    if verdict is not None and not pl.DataFrame({"x": [example]}).select(verdict).item():
        problems.add("example", f"{show(example)} fails the {check} check")


def create_element(db_session: Session, *, data: Mapping[str, Any], actor: Actor) -> DataElement:
    """Add an element to the library (409 when the code is taken)."""
    values = check_element(data)
    if db_session.scalar(select(DataElement.id).where(DataElement.code == values["code"])):
        raise Conflict(f"A data element {values['code']!r} exists already; update it instead.")
    element = DataElement(**values, builtin=False)
    db_session.add(element)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="datahub.element.create",
        entity_type="data_element",
        entity_id=element.code,
        summary=f"data element {element.code} ({element.name_en})",
        after=summary(element),
    )
    return element


def update_element(
    db_session: Session, *, code: str, changes: Mapping[str, Any], actor: Actor
) -> DataElement:
    """Change an element's names, definitions, type, constraints or sensitivity.

    Schemas already set keep their resolved fields; the change applies to schemas set later.
    A built-in element's protection can't be lowered (409): not its sensitivity, and a
    sensitive one that is hidden can't become masked.
    """
    element = get_element(db_session, code=code)
    if "code" in changes and changes["code"] != code:
        raise InvalidInput("A data element's code can't change; create a new element instead.")
    before = summary(element)
    merged = {key: before[key] for key in KEYS}
    merged.update({key: value for key, value in changes.items() if key != "code"})
    values = check_element(merged)
    if element.builtin:
        _keep_protection(element, values)
    for key in EDITABLE:
        setattr(element, key, values[key])
    db_session.flush()
    after = summary(element)
    changed = sorted(key for key in EDITABLE if before[key] != after[key])
    record(
        db_session,
        actor=actor,
        action="datahub.element.update",
        entity_type="data_element",
        entity_id=code,
        summary=f"data element {code}: " + (", ".join(changed) or "no change"),
        before=before,
        after=after,
    )
    return element


def _keep_protection(element: DataElement, values: Mapping[str, Any]) -> None:
    old_rank = SENSITIVITY_RANK.get(element.sensitivity, 0)
    new_rank = SENSITIVITY_RANK.get(values["sensitivity"], 0)
    if new_rank < old_rank:
        raise Conflict(
            f"{element.code} is a built-in element: its sensitivity can't be lowered from "
            f"{element.sensitivity!r} to {values['sensitivity']!r} (every dataset that uses it "
            "relies on it). Leave sensitivity out, or create a new element for the looser "
            "standard."
        )
    sensitive = element.sensitivity == Sensitivity.SENSITIVE.value
    if sensitive and element.mask is None and values["mask"] is not None:
        raise Conflict(
            f"{element.code} is a built-in sensitive element that is hidden from other "
            "departments; it can't become masked (that shows part of it). Leave mask out."
        )


def seed_builtin(db_session: Session, *, actor: Actor | None = None) -> int:
    """Store the built-in elements that are missing; the number added (0 when all exist).

    Existing elements, also edited built-ins, are left as they are.
    """
    existing = set(db_session.scalars(select(DataElement.code)).all())
    added = []
    for data in BUILTIN_ELEMENTS:
        if data["code"] in existing:
            continue
        db_session.add(DataElement(**check_element(data), builtin=True))
        added.append(data["code"])
    if added:
        db_session.flush()
        record(
            db_session,
            actor=actor or Actor.system("datahub"),
            action="datahub.element.seed",
            entity_type="data_element",
            entity_id="builtin",
            summary=f"{len(added)} built-in data elements: {', '.join(added)}",
        )
    return len(added)
