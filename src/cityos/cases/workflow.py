"""The life of a case after it is opened: statuses, notes, transfers, duplicates, SLA checks.

Every change is one ``CaseUpdate`` (who, when, what, public or internal), one audit entry
and, where it concerns them, notifications — all in the caller's transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.cases import notices, notifications, photos, sla
from cityos.cases.intake import CasePolicy, Problem, clean_text, new_follower, raise_problems
from cityos.cases.intake import validate_email_address as _validate_email
from cityos.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseFollower,
    CasePhoto,
    CaseStatus,
    CaseUpdate,
    CloseReason,
    Escalation,
    EscalationStage,
    PhotoKind,
)
from cityos.db import utcnow
from cityos.errors import Conflict, Forbidden, InvalidInput, NotFound

S = CaseStatus
_WORKING = {S.ACKNOWLEDGED, S.IN_PROGRESS, S.ACTION_SCHEDULED, S.RESOLVED, S.CLOSED}
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.SUBMITTED: frozenset(_WORKING),
    S.REOPENED: frozenset(_WORKING),
    S.ACKNOWLEDGED: frozenset(_WORKING - {S.ACKNOWLEDGED}),
    S.IN_PROGRESS: frozenset({S.ACTION_SCHEDULED, S.RESOLVED, S.CLOSED}),
    S.ACTION_SCHEDULED: frozenset({S.IN_PROGRESS, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
}
NOTE_LIMIT = 4000


def get_case(db_session: Session, *, case_id: int | str) -> Case:
    """The case with this id (the tracking number); NotFound otherwise."""
    try:
        number = int(str(case_id).strip())
    except ValueError:
        raise NotFound(
            f"{case_id!r} is not a tracking number: tracking numbers are whole numbers."
        ) from None
    case = db_session.get(Case, number) if 0 < number < 2**63 else None
    if case is None:
        raise NotFound(f"There is no case {number}. Check the tracking number.")
    return case


def is_reporter_key(case: Case, key: str | None) -> bool:
    """True when ``key`` is the case's secret reporter token."""
    return bool(key and case.token and secrets.compare_digest(key.encode(), case.token.encode()))


def can_handle(user: User, case: Case) -> bool:
    """Admins and operators handle every case; staff those of their department."""
    if user.has_role(Role.OPERATOR):
        return True
    if not user.has_role(Role.STAFF, Role.SUPERVISOR):
        return False
    return user.department_id is not None and user.department_id == case.department_id


def require_handler(user: User | None, case: Case) -> None:
    if user is not None and not can_handle(user, case):
        raise Forbidden(
            f"Case {case.id} belongs to another department; ask an operator to transfer it."
        )


def history(db_session: Session, *, case: Case, public_only: bool) -> Sequence[CaseUpdate]:
    """The case's updates, oldest first.

    Bulk-imported cases store no updates of their own (an import writes a million rows at
    once); their history is rebuilt from the imported times: submitted, then resolved or
    closed. These entries are not stored (their ``id`` is None).
    """
    query = select(CaseUpdate).where(CaseUpdate.case_id == case.id)
    if public_only:
        query = query.where(CaseUpdate.public.is_(True))
    stored = db_session.scalars(query.order_by(CaseUpdate.at, CaseUpdate.id)).all()
    return _with_imported_history(case, stored)


class HistoryCase(Protocol):
    """What rebuilding an imported case's history reads: a Case, or a lighter view of one."""

    @property
    def id(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def requested_at(self) -> datetime: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def resolution_note(self) -> str | None: ...
    @property
    def status_notes(self) -> str: ...
    @property
    def close_reason(self) -> str | None: ...


def public_histories(
    db_session: Session, *, cases: Sequence[HistoryCase]
) -> dict[int, list[CaseUpdate]]:
    """:func:`history` with ``public_only`` for a page of cases, in one query."""
    found: dict[int, list[CaseUpdate]] = {case.id: [] for case in cases}
    if not found:
        return found
    for update in db_session.scalars(
        select(CaseUpdate)
        .where(CaseUpdate.case_id.in_(list(found)), CaseUpdate.public.is_(True))
        .order_by(CaseUpdate.case_id, CaseUpdate.at, CaseUpdate.id)
    ):
        found[update.case_id].append(update)
    return {case.id: _with_imported_history(case, found[case.id]) for case in cases}


def _with_imported_history(case: HistoryCase, stored: Sequence[CaseUpdate]) -> list[CaseUpdate]:
    """``stored``, preceded by the rebuilt entries when the case was bulk-imported."""
    if case.source != "import" or any(u.kind == "submitted" for u in stored):
        return list(stored)
    return [*_imported_history(case), *stored]


def _imported_history(case: HistoryCase) -> list[CaseUpdate]:
    label = "import"
    made = [
        CaseUpdate(
            case_id=case.id,
            at=case.requested_at,
            actor_label=label,
            kind="submitted",
            status_to=CaseStatus.SUBMITTED.value,
            note="",
            public=True,
            details={},
        )
    ]
    if case.resolved_at is not None and not CaseStatus(case.status).is_open:
        made.append(
            CaseUpdate(
                case_id=case.id,
                at=case.resolved_at,
                actor_label=label,
                kind="status",
                status_from=CaseStatus.SUBMITTED.value,
                status_to=case.status,
                note=case.resolution_note or case.status_notes or "",
                public=True,
                details={"close_reason": case.close_reason} if case.close_reason else {},
            )
        )
    return made


def list_photos(db_session: Session, *, case: Case) -> Sequence[CasePhoto]:
    return db_session.scalars(
        select(CasePhoto).where(CasePhoto.case_id == case.id).order_by(CasePhoto.id)
    ).all()


def get_photo(db_session: Session, *, case: Case, photo_id: int) -> CasePhoto:
    photo = db_session.get(CasePhoto, photo_id)
    if photo is None or photo.case_id != case.id:
        raise NotFound(f"Case {case.id} has no photo {photo_id}.")
    return photo


def _add_update(
    db_session: Session,
    case: Case,
    *,
    actor: Actor,
    kind: str,
    note: str = "",
    public: bool = True,
    status_from: str | None = None,
    status_to: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
) -> CaseUpdate:
    update = CaseUpdate(
        case_id=case.id,
        at=now,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        kind=kind,
        status_from=status_from,
        status_to=status_to,
        note=note,
        public=public,
        details=details or {},
    )
    db_session.add(update)
    case.updated_at = now
    if public and note:
        case.status_notes = note
    db_session.flush()
    notices.announce(db_session, case, kind=kind, status_from=status_from)
    return update


def _note(text: str | None, *, required: str | None = None) -> str:
    problems: list[Problem] = []
    note = clean_text(text, limit=NOTE_LIMIT, name="note", problems=problems)
    if not note and required:
        problems.append({"field": "note", "message": required})
    if problems:
        raise_problems(problems)
    return note


def change_status(
    db_session: Session,
    case: Case,
    *,
    to: str,
    note: str = "",
    public: bool = True,
    close_reason: str | None = None,
    photo_uploads: Sequence[photos.PhotoUpload] = (),
    user: User | None,
    actor: Actor,
    policy: CasePolicy,
    now: datetime | None = None,
) -> CaseUpdate:
    """Move a case to status ``to``. Illegal moves get Conflict naming the legal ones."""
    now = now or utcnow()
    require_handler(user, case)
    try:
        target = CaseStatus(to)
    except ValueError:
        raise InvalidInput(
            f"{to!r} is not a status; statuses are {', '.join(s.value for s in CaseStatus)}."
        ) from None
    current = CaseStatus(case.status)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise Conflict(
            f"Case {case.id} is {current.value}; it cannot move to {target.value}. "
            f"From {current.value} it can move to: {allowed}."
        )
    reason: CloseReason | None = None
    if target is S.CLOSED:
        try:
            reason = CloseReason(close_reason or "")
        except ValueError:
            raise InvalidInput(
                "Closing a case needs a reason: "
                + ", ".join(r.value for r in CloseReason)
                + " (a fixed problem is resolved, not closed)."
            ) from None
        if reason is CloseReason.DUPLICATE:
            raise InvalidInput(
                "To close a case as a duplicate, mark it as a duplicate of the original case "
                "(so that its followers move there)."
            )
    required = {
        S.RESOLVED: "Resolving a case needs a resolution note saying what was done.",
        S.CLOSED: "Closing a case needs a note explaining the reason to the citizen.",
        S.REOPENED: "Reopening a case needs a reason.",
    }.get(target)
    text = _note(note, required=required)
    cleaned = [photos.clean(upload, max_bytes=policy.max_photo_bytes) for upload in photo_uploads]
    if target is S.RESOLVED and case.category.photo_required and not cleaned:
        raise InvalidInput(
            f"{case.category.name_en} cases need a photo of the fix to be resolved; attach one."
        )
    if target is S.REOPENED:
        case.reopen_count += 1
        case.resolved_at = None
        case.close_reason = None
        case.resolution_note = None
        sla.start_clocks(case, case.category, start=now, fraction=policy.sla_imminent_fraction)
    elif target in (S.RESOLVED, S.CLOSED):
        if case.acknowledged_at is None:
            case.acknowledged_at = now
        case.resolved_at = now
        case.close_reason = reason.value if reason else None
        if target is S.RESOLVED:
            case.resolution_note = text
        sla.stop_clocks(case)
    elif case.acknowledged_at is None:
        sla.on_acknowledged(case, case.category, now=now, fraction=policy.sla_imminent_fraction)
    case.status = target.value
    update = _add_update(
        db_session,
        case,
        actor=actor,
        kind="reopen" if target is S.REOPENED else "status",
        note=text,
        public=public or target in (S.RESOLVED, S.CLOSED, S.REOPENED),
        status_from=current.value,
        status_to=target.value,
        details={"close_reason": reason.value} if reason else None,
        now=now,
    )
    kind = PhotoKind.RESOLUTION if target is S.RESOLVED else PhotoKind.REPORT
    db_session.add_all(
        photos.as_row(photo, case_id=case.id, update_id=update.id, kind=kind) for photo in cleaned
    )
    record(
        db_session,
        actor=actor,
        action="cases.case.status",
        entity_type="cases_case",
        entity_id=case.id,
        summary=f"{current.value} → {target.value}",
        before={"status": current.value},
        after={"status": target.value, "close_reason": case.close_reason},
    )
    notifications.case_updated(db_session, case, update, base_url=policy.base_url)
    return update


def citizen_reopen(
    db_session: Session,
    case: Case,
    *,
    reason: str,
    key: str,
    actor: Actor,
    policy: CasePolicy,
    now: datetime | None = None,
) -> CaseUpdate:
    """The reporter reopens a resolved or closed case within the window.

    ``key`` is the case's secret token, given only to the reporter (on the confirmation page,
    in the confirmation e-mail and to the Open311 client that filed it): tracking numbers
    are public, so knowing one must not be enough to reopen a case.
    """
    now = now or utcnow()
    if not is_reporter_key(case, key):
        raise Forbidden(
            f"Only the person who reported case {case.id} can reopen it: use the link from the "
            "confirmation page or e-mail. Otherwise, please file a new report."
        )
    if CaseStatus(case.status).is_open:
        raise Conflict(f"Case {case.id} is still open ({case.status}); it needs no reopening.")
    if case.duplicate_of_id is not None:
        raise Conflict(
            f"Case {case.id} was closed as a duplicate of case {case.duplicate_of_id}; "
            "follow that case instead."
        )
    ended = case.resolved_at or case.updated_at
    if now - ended > policy.reopen_window:
        days = policy.reopen_window.total_seconds() / 86400
        raise Conflict(
            f"Case {case.id} ended more than {days:g} days ago and can no longer be reopened; "
            "please file a new report."
        )
    return change_status(
        db_session,
        case,
        to="reopened",
        note=reason,
        user=None,
        actor=actor,
        policy=policy,
        now=now,
    )


def add_note(
    db_session: Session,
    case: Case,
    *,
    note: str,
    public: bool,
    user: User | None,
    actor: Actor,
    policy: CasePolicy,
    now: datetime | None = None,
) -> CaseUpdate:
    now = now or utcnow()
    require_handler(user, case)
    text = _note(note, required="The note is empty; write what happened.")
    update = _add_update(
        db_session, case, actor=actor, kind="note", note=text, public=public, now=now
    )
    record(
        db_session,
        actor=actor,
        action="cases.case.note",
        entity_type="cases_case",
        entity_id=case.id,
        summary=("public" if public else "internal") + " note",
    )
    notifications.case_updated(db_session, case, update, base_url=policy.base_url)
    return update


def transfer(
    db_session: Session,
    case: Case,
    *,
    department_code: str,
    reason: str,
    user: User | None,
    actor: Actor,
    policy: CasePolicy,
    now: datetime | None = None,
) -> CaseUpdate:
    """Hand the case to another department, with a reason (kept internal)."""
    now = now or utcnow()
    require_handler(user, case)
    text = _note(reason, required="A transfer needs a reason for the receiving department.")
    department = auth_service.get_department(db_session, code=department_code)
    if department.id == case.department_id:
        raise Conflict(f"Case {case.id} is already with {department.code}.")
    if not CaseStatus(case.status).is_open:
        raise Conflict(f"Case {case.id} is {case.status}; reopen it before transferring it.")
    before = case.department_id
    case.department_id = department.id
    case.routing_rule_id = None
    case.routing_reason = f"transferred by {actor.label}: {text}"[:500]
    case.assignee_id = None
    update = _add_update(
        db_session,
        case,
        actor=actor,
        kind="transfer",
        note=f"Transferred to {department.name_en} / {department.name_zh}",
        public=True,
        details={"from_department_id": before, "to_department_id": department.id, "reason": text},
        now=now,
    )
    record(
        db_session,
        actor=actor,
        action="cases.case.transfer",
        entity_type="cases_case",
        entity_id=case.id,
        summary=f"→ {department.code}: {text}",
        before={"department_id": before},
        after={"department_id": department.id, "reason": text},
    )
    notifications.case_updated(db_session, case, update, base_url=policy.base_url)
    return update


def assign(
    db_session: Session,
    case: Case,
    *,
    assignee: User | None,
    user: User | None,
    actor: Actor,
    now: datetime | None = None,
) -> CaseUpdate:
    """Give the case to one person of its department (None: unassign)."""
    now = now or utcnow()
    require_handler(user, case)
    if assignee is not None and not can_handle(assignee, case):
        raise InvalidInput(
            f"{assignee.email} cannot work on case {case.id}: assign someone of its department."
        )
    before = case.assignee_id
    case.assignee_id = assignee.id if assignee else None
    update = _add_update(
        db_session,
        case,
        actor=actor,
        kind="assign",
        note=f"Assigned to {assignee.display_name}" if assignee else "Unassigned",
        public=False,
        details={"assignee_id": case.assignee_id},
        now=now,
    )
    record(
        db_session,
        actor=actor,
        action="cases.case.assign",
        entity_type="cases_case",
        entity_id=case.id,
        summary=assignee.email if assignee else "unassigned",
        before={"assignee_id": before},
        after={"assignee_id": case.assignee_id},
    )
    return update


def mark_duplicate(
    db_session: Session,
    case: Case,
    *,
    original_id: int | str,
    note: str = "",
    user: User | None,
    actor: Actor,
    policy: CasePolicy,
    now: datetime | None = None,
) -> CaseUpdate:
    """Close ``case`` as a duplicate of ``original``; its followers now follow the original."""
    now = now or utcnow()
    require_handler(user, case)
    original = get_case(db_session, case_id=original_id)
    while original.duplicate_of_id is not None:  # point at the root of a chain
        original = get_case(db_session, case_id=original.duplicate_of_id)
    if original.id == case.id:
        raise InvalidInput(f"Case {case.id} cannot be a duplicate of itself.")
    if not CaseStatus(case.status).is_open:
        raise Conflict(f"Case {case.id} is already {case.status}.")
    current = case.status
    case.status = CaseStatus.CLOSED.value
    case.close_reason = "duplicate"
    case.duplicate_of_id = original.id
    case.resolved_at = now
    sla.stop_clocks(case)
    moved = 0
    existing = {
        f.email
        for f in db_session.scalars(
            select(CaseFollower).where(CaseFollower.case_id == original.id)
        ).all()
    }
    for follower in db_session.scalars(
        select(CaseFollower).where(CaseFollower.case_id == case.id)
    ).all():
        if follower.email not in existing:
            db_session.add(new_follower(original.id, follower.email))
            existing.add(follower.email)
            moved += 1
    text = _note(note) or f"This problem is already reported as case {original.id}."
    update = _add_update(
        db_session,
        case,
        actor=actor,
        kind="duplicate",
        note=text,
        public=True,
        status_from=current,
        status_to=CaseStatus.CLOSED.value,
        details={"duplicate_of": original.id, "followers_moved": moved},
        now=now,
    )
    record(
        db_session,
        actor=actor,
        action="cases.case.duplicate",
        entity_type="cases_case",
        entity_id=case.id,
        summary=f"duplicate of {original.id}; {moved} follower(s) moved",
        before={"status": current},
        after={"status": "closed", "duplicate_of": original.id},
    )
    notifications.case_updated(db_session, case, update, base_url=policy.base_url)
    return update


def follow(db_session: Session, case: Case, *, email: str, actor: Actor) -> CaseFollower:
    """Get e-mail on this case's public updates (idempotent)."""
    problems: list[Problem] = []
    address = _validate_email(email.strip(), problems)
    if problems:
        raise_problems(problems)
    target = case
    while target.duplicate_of_id is not None:
        target = get_case(db_session, case_id=target.duplicate_of_id)
    found = db_session.scalar(
        select(CaseFollower).where(CaseFollower.case_id == target.id, CaseFollower.email == address)
    )
    if found:
        return found
    follower = new_follower(target.id, address)
    db_session.add(follower)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="cases.case.follow",
        entity_type="cases_case",
        entity_id=target.id,
        summary="a citizen follows the case",
    )
    return follower


def unfollow(db_session: Session, *, token: str, actor: Actor) -> Case:
    follower = db_session.scalar(
        select(CaseFollower).where(CaseFollower.unsubscribe_token == token)
    )
    if follower is None:
        raise NotFound("This unsubscribe link is not valid (perhaps it was already used).")
    case = get_case(db_session, case_id=follower.case_id)
    db_session.delete(follower)
    record(
        db_session,
        actor=actor,
        action="cases.case.unfollow",
        entity_type="cases_case",
        entity_id=case.id,
        summary="a citizen stopped following the case",
    )
    db_session.flush()
    return case


# --- SLA escalation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EscalationReport:
    imminent: int
    breached: int
    notified: int


def check_sla(
    db_session: Session, *, policy: CasePolicy, now: datetime | None = None
) -> EscalationReport:
    """Flag and escalate open cases whose running SLA clock is at risk or breached.

    Each (case, clock, stage) is escalated once: an Escalation row, an internal update, and
    e-mail to the department's supervisors (operators for the triage queue).
    """
    now = now or utcnow()
    actor = Actor.system("sla")
    cases = db_session.scalars(
        select(Case).where(
            Case.status.in_([s.value for s in OPEN_STATUSES]),
            Case.sla_warn_at.is_not(None),
            Case.sla_warn_at <= now,
        )
    ).all()
    counts = {EscalationStage.IMMINENT: 0, EscalationStage.BREACHED: 0}
    notified = 0
    for case in cases:
        state = sla.state(case, now)
        if state not in (sla.SlaState.AT_RISK, sla.SlaState.BREACHED):
            continue
        stage = (
            EscalationStage.BREACHED if state is sla.SlaState.BREACHED else EscalationStage.IMMINENT
        )
        clock = sla.clock_name(case)
        assert case.next_due_at is not None
        exists = db_session.scalar(
            select(Escalation.id).where(
                Escalation.case_id == case.id,
                Escalation.clock == clock,
                Escalation.stage == stage.value,
                Escalation.due_at == case.next_due_at,
            )
        )
        if exists:
            continue
        escalation = Escalation(
            case_id=case.id,
            clock=clock,
            stage=stage.value,
            department_id=case.department_id,
            due_at=case.next_due_at,
            at=now,
        )
        db_session.add(escalation)
        db_session.flush()
        escalation.notified = notifications.escalated(
            db_session, case, escalation, base_url=policy.base_url
        )
        notified += escalation.notified
        counts[stage] += 1
        words = "missed" if stage is EscalationStage.BREACHED else "at risk"
        _add_update(
            db_session,
            case,
            actor=actor,
            kind="escalation",
            note=f"SLA {clock} target {words} (due {case.next_due_at.isoformat()}); "
            "escalated to supervisors.",
            public=False,
            details={"clock": clock, "stage": stage.value},
            now=now,
        )
    return EscalationReport(
        counts[EscalationStage.IMMINENT], counts[EscalationStage.BREACHED], notified
    )
