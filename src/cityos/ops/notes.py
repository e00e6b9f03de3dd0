"""Operator notes: what an operator wrote about an area, an alert or a case.

Adding a note checks its target exists, records an audit entry and, once the transaction
commits, publishes ``ops.note`` (the note's JSON) so every open screen shows it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos import events
from cityos.audit.service import Actor, record
from cityos.cases import service as cases_service
from cityos.db import utcnow
from cityos.errors import InvalidInput, NotFound
from cityos.geo import service as geo_service
from cityos.ops.filters import parse_id
from cityos.ops.models import NoteTarget, OperatorNote
from cityos.sensing import service as sensing_service

TOPIC = "ops.note"
MAX_TEXT = 2000
MAX_LIST = 200
TARGET_TYPES = tuple(target.value for target in NoteTarget)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def note_dict(note: OperatorNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "target_type": note.target_type,
        "target_ref": note.target_ref,
        "text": note.text,
        "author": note.author_label,
        "created_at": note.created_at.isoformat(),
    }


def parse_target_type(value: str | None) -> NoteTarget:
    try:
        return NoteTarget((value or "").strip().lower())
    except ValueError:
        raise InvalidInput(
            f"target_type {value!r} is not something a note can be about; use one of "
            f"{', '.join(TARGET_TYPES)}.",
            details={"field": "target_type", "allowed": list(TARGET_TYPES)},
        ) from None


def _number(target: NoteTarget, ref: str) -> int:
    article = "an" if target.value[0] in "aeiou" else "a"
    number = parse_id(
        ref, name="target_ref", what=f"{article} {target.value} id", hint="give its number"
    )
    assert number is not None  # ref is not empty
    return number


def check_target(db_session: Session, target: NoteTarget, ref: str) -> str:
    """The target's canonical reference; InvalidInput when there is no such thing."""
    text = (ref or "").strip()
    if not text:
        raise InvalidInput(
            "target_ref is required: the area's code, or the alert's or case's number.",
            details={"field": "target_ref"},
        )
    try:
        if target is NoteTarget.AREA:
            return geo_service.get_area(db_session, code=text).code
        number = _number(target, text)
        if target is NoteTarget.ALERT:
            return str(sensing_service.get_alert(db_session, alert_id=number).id)
        return str(cases_service.get_case(db_session, case_id=number).id)
    except NotFound as error:
        raise InvalidInput(
            f"The note's target does not exist: {error.message}",
            details={"field": "target_ref"},
        ) from None


def clean_text(text: str | None) -> str:
    cleaned = CONTROL_CHARACTERS.sub("", text or "").strip()
    if not cleaned:
        raise InvalidInput(
            "text is empty: write what the note should say.", details={"field": "text"}
        )
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput(
            f"text is {len(cleaned):,} characters long; at most {MAX_TEXT:,} are accepted. "
            "Shorten it.",
            details={"field": "text"},
        )
    return cleaned


def add_note(
    db_session: Session,
    *,
    target_type: str | None,
    target_ref: str | None,
    text: str | None,
    actor: Actor,
) -> OperatorNote:
    """Check and store a note, audited; ``ops.note`` is published after commit."""
    target = parse_target_type(target_type)
    body = clean_text(text)
    ref = check_target(db_session, target, target_ref or "")
    note = OperatorNote(
        target_type=target.value,
        target_ref=ref,
        text=body,
        author_user_id=actor.user_id,
        author_label=actor.label,
        created_at=utcnow(),
    )
    db_session.add(note)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="ops.note.create",
        entity_type="ops_note",
        entity_id=note.id,
        summary=f"Note on {target.value} {ref}: {body[:200]}",
        after={"target_type": target.value, "target_ref": ref},
    )
    events.publish_after_commit(db_session, TOPIC, note_dict(note))
    return note


def list_notes(
    db_session: Session,
    *,
    target_type: str | None = None,
    target_ref: str | None = None,
    limit: int = 50,
) -> list[OperatorNote]:
    """Notes, newest first; optionally those about one kind of target or one target."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, not {limit}.")
    query = select(OperatorNote)
    if target_type is not None and target_type.strip():
        query = query.where(OperatorNote.target_type == parse_target_type(target_type).value)
    if target_ref is not None and target_ref.strip():
        if target_type is None or not target_type.strip():
            raise InvalidInput(
                "target_ref needs target_type too (area, alert or case).",
                details={"field": "target_type"},
            )
        query = query.where(OperatorNote.target_ref == target_ref.strip())
    query = query.order_by(OperatorNote.created_at.desc(), OperatorNote.id.desc()).limit(limit)
    return list(db_session.scalars(query))
