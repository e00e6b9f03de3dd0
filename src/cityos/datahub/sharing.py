"""Sharing requests: a department asks for a dataset, the owner approves or refuses.

An approved request is a *grant* (optionally limited to some fields and until a date); the
owner can revoke it. Every step is audited (``datahub.request``, ``datahub.grant``,
``datahub.refuse``, ``datahub.revoke``) and the other side gets an e-mail through the
notify outbox. This is the data-sharing record the assessment metrics count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.datahub import service
from cityos.datahub.access import (
    active_grant,
    as_utc,
    is_admin,
    is_owner,
    require_manage,
    title_of,
)
from cityos.datahub.models import Access, Dataset, RequestStatus, SharingRequest
from cityos.datahub.tableschema import TableSchema
from cityos.db import utcnow
from cityos.errors import Conflict, Forbidden, InvalidInput, NotFound
from cityos.notify import service as notify_service

__all__ = [
    "MIN_PURPOSE",
    "active_grant",
    "decide_request",
    "get_request",
    "list_requests",
    "request_access",
    "request_state",
    "revoke_grant",
]

MIN_PURPOSE = 10
MAX_PURPOSE = 2000
ROLES = ("incoming", "outgoing", "all")
EXPIRED = "expired"  # shown, never stored: an approved request past its expires_at


def request_state(request: SharingRequest, now: datetime | None = None) -> str:
    """The stored status, or ``expired`` for an approved request past its expiry."""
    moment = as_utc(now or utcnow())
    if (
        request.status == RequestStatus.APPROVED.value
        and request.expires_at is not None
        and request.expires_at <= moment
    ):
        return EXPIRED
    return request.status


def get_request(db_session: Session, *, request_id: int) -> SharingRequest:
    found = db_session.get(SharingRequest, request_id)
    if found is None:
        raise NotFound(f"There is no sharing request #{request_id}.")
    return found


def _dataset_of(db_session: Session, request: SharingRequest) -> Dataset:
    dataset = db_session.get(Dataset, request.dataset_id)
    if dataset is None:  # pragma: no cover - the foreign key cascades
        raise NotFound(f"The dataset of request #{request.id} is gone.")
    return dataset


def _check_fields(
    names: Sequence[str] | None, schema: TableSchema | None, *, dataset: Dataset
) -> list[str] | None:
    if names is None:
        return None
    chosen = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not chosen:
        return None
    known = schema.names if schema is not None else []
    unknown = [name for name in chosen if name not in known]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise InvalidInput(
            f"{dataset.name} has no field {listed}; its fields are: "
            f"{', '.join(known) or '(none yet: the dataset has no schema)'}.",
            details=[{"field": name, "reason": "unknown field"} for name in unknown],
        )
    return chosen


def _asks_sensitive(fields: list[str] | None, schema: TableSchema | None) -> bool:
    if schema is None:
        return False
    sensitive = {f.name for f in schema.sensitive_fields}
    return bool(sensitive if fields is None else sensitive & set(fields))


def _payload(request: SharingRequest, dataset: Dataset) -> dict[str, Any]:
    return {
        "request": request.id,
        "dataset": dataset.name,
        "department": request.department.code if request.department else None,
        "status": request.status,
        "fields": request.fields,
        "granted_fields": request.granted_fields,
        "expires_at": request.expires_at,
    }


def _mail(
    db_session: Session, users: Sequence[User], *, subject: str, body: str, topic: str
) -> None:
    for person in users:
        if person.is_active:
            notify_service.queue_email(
                db_session, to=person.email, subject=subject, body=body, topic=topic
            )


def _stewards(db_session: Session, department_id: int) -> list[User]:
    """Who hears about requests for a department's data: its stewards, else all its users."""
    stewards = auth_service.list_department_users(
        db_session, department_id=department_id, role=Role.STEWARD
    )
    return stewards or auth_service.list_department_users(db_session, department_id=department_id)


def request_access(
    db_session: Session,
    *,
    dataset: Dataset,
    user: User,
    purpose: str,
    fields: Sequence[str] | None = None,
    actor: Actor,
) -> SharingRequest:
    """Ask, for the user's department, to read ``dataset`` (or some of its fields)."""
    if is_owner(dataset, user):
        why = "admins read every dataset" if is_admin(user) else "your department publishes it"
        raise InvalidInput(f"You already read all of {dataset.name}: {why}.")
    if user.department_id is None:
        raise Forbidden(
            "Data is shared with departments and your account has none: ask an admin to set "
            "your department, then ask again."
        )
    text = (purpose or "").strip()
    if len(text) < MIN_PURPOSE:
        raise InvalidInput(
            f"Say what you need the data for (purpose: at least {MIN_PURPOSE} characters); "
            "the owner decides on it and it is kept in the sharing record."
        )
    if len(text) > MAX_PURPOSE:
        raise InvalidInput(f"The purpose is too long: at most {MAX_PURPOSE} characters.")
    schema = service.current_schema(db_session, dataset=dataset)
    chosen = _check_fields(fields, schema, dataset=dataset)
    if dataset.access != Access.RESTRICTED.value and not _asks_sensitive(chosen, schema):
        whom = "anyone" if dataset.access == Access.OPEN.value else "every signed-in user"
        raise InvalidInput(
            f"{dataset.name} is already readable by {whom} "
            f"(access: {dataset.access}); a request is needed only for restricted datasets "
            "or sensitive fields."
        )
    pending = db_session.scalars(
        select(SharingRequest).where(
            SharingRequest.dataset_id == dataset.id,
            SharingRequest.department_id == user.department_id,
            SharingRequest.status == RequestStatus.PENDING.value,
        )
    ).first()
    if pending is not None:
        raise Conflict(
            f"Your department already asked for {dataset.name} on "
            f"{pending.created_at:%Y-%m-%d} (request #{pending.id}); wait for the decision."
        )
    request = SharingRequest(
        dataset_id=dataset.id,
        department_id=user.department_id,
        requested_by_id=user.id,
        purpose=text,
        fields=chosen,
        status=RequestStatus.PENDING.value,
        created_at=utcnow(),
    )
    db_session.add(request)
    db_session.flush()
    db_session.refresh(request)
    department = request.department
    record(
        db_session,
        actor=actor,
        action="datahub.request",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"{department.code} asked for {dataset.name} (request #{request.id})",
        after=_audit(request),
    )
    asked = ", ".join(chosen) if chosen else "all fields"
    _mail(
        db_session,
        _stewards(db_session, dataset.department_id),
        subject=f"Data request #{request.id}: {department.code} asks for {dataset.name}",
        body=(
            f"{user.display_name or user.email} ({department.name_en}) asks for "
            f"{title_of(dataset)} ({asked}).\n\nPurpose: {text}\n\n"
            f"Decide on /data/steward#incoming or POST /api/data-requests/{request.id}/decision."
        ),
        topic="datahub.request",
    )
    notify_service.emit(db_session, event="datahub.request", payload=_payload(request, dataset))
    return request


def _audit(request: SharingRequest) -> dict[str, Any]:
    return {
        "status": request.status,
        "department": request.department.code if request.department else None,
        "fields": request.fields,
        "granted_fields": request.granted_fields,
        "expires_at": request.expires_at.isoformat() if request.expires_at else None,
        "note": request.decision_note,
    }


def decide_request(
    db_session: Session,
    *,
    request_id: int,
    approve: bool,
    user: User,
    fields: Sequence[str] | None = None,
    expires_at: datetime | None = None,
    note: str = "",
    actor: Actor,
    now: datetime | None = None,
) -> SharingRequest:
    """Approve (optionally fewer fields, until ``expires_at``) or refuse a pending request.

    Only the dataset's managers decide; a request is decided once.
    """
    moment = as_utc(now or utcnow())
    request = get_request(db_session, request_id=request_id)
    dataset = _dataset_of(db_session, request)
    require_manage(dataset, user)
    if request.status != RequestStatus.PENDING.value:
        when = f" on {request.decided_at:%Y-%m-%d}" if request.decided_at else ""
        raise Conflict(f"Request #{request.id} was already decided: {request.status}{when}.")
    note = (note or "").strip()
    if approve:
        schema = service.current_schema(db_session, dataset=dataset)
        granted = _check_fields(fields, schema, dataset=dataset) if fields is not None else None
        if granted is not None and request.fields is not None:
            extra = [name for name in granted if name not in request.fields]
            if extra:
                raise InvalidInput(
                    f"Grant only fields that were asked for: {', '.join(extra)} "
                    f"{'was' if len(extra) == 1 else 'were'} not (asked: "
                    f"{', '.join(request.fields)}).",
                    details=[{"field": name, "reason": "not requested"} for name in extra],
                )
        if expires_at is not None:
            expires_at = as_utc(expires_at)
            if expires_at <= moment:
                raise InvalidInput(
                    f"expires_at must be in the future (it is {expires_at.isoformat()}); "
                    "leave it out for a grant without end."
                )
        request.status = RequestStatus.APPROVED.value
        request.granted_fields = granted if granted is not None else request.fields
        request.expires_at = expires_at
    else:
        request.status = RequestStatus.REFUSED.value
    request.decided_by_id = user.id
    request.decided_at = moment
    request.decision_note = note
    db_session.flush()
    action = "datahub.grant" if approve else "datahub.refuse"
    verb = "granted" if approve else "refused"
    record(
        db_session,
        actor=actor,
        action=action,
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"{verb} request #{request.id} of {request.department.code} for {dataset.name}",
        after=_audit(request),
    )
    _tell_requester(db_session, request, dataset, verb=verb)
    notify_service.emit(db_session, event=action, payload=_payload(request, dataset))
    return request


def _tell_requester(
    db_session: Session, request: SharingRequest, dataset: Dataset, *, verb: str
) -> None:
    requester = db_session.get(User, request.requested_by_id) if request.requested_by_id else None
    if requester is None:
        return
    lines = [f"Your request #{request.id} for {title_of(dataset)} was {verb}."]
    if verb == "granted":
        fields = ", ".join(request.granted_fields) if request.granted_fields else "all fields"
        lines.append(f"Fields: {fields}.")
        if request.expires_at is not None:
            lines.append(f"Until: {request.expires_at:%Y-%m-%d %H:%M} UTC.")
    if request.decision_note:
        lines.append(f"Note: {request.decision_note}")
    lines.append(f"Dataset: /data/{dataset.name}")
    _mail(
        db_session,
        [requester],
        subject=f"Data request #{request.id} {verb}: {dataset.name}",
        body="\n".join(lines),
        topic=f"datahub.{verb}",
    )


def revoke_grant(
    db_session: Session,
    *,
    request_id: int,
    user: User,
    note: str = "",
    actor: Actor,
) -> SharingRequest:
    """End an approved request now (only the dataset's managers)."""
    request = get_request(db_session, request_id=request_id)
    dataset = _dataset_of(db_session, request)
    require_manage(dataset, user)
    if request.status != RequestStatus.APPROVED.value:
        raise Conflict(
            f"Only approved requests can be revoked; request #{request.id} is {request.status}."
        )
    request.status = RequestStatus.REVOKED.value
    if note.strip():
        request.decision_note = note.strip()
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="datahub.revoke",
        entity_type="dataset",
        entity_id=dataset.name,
        summary=f"revoked request #{request.id} of {request.department.code} for {dataset.name}",
        after=_audit(request),
    )
    _tell_requester(db_session, request, dataset, verb="revoked")
    notify_service.emit(db_session, event="datahub.revoke", payload=_payload(request, dataset))
    return request


def list_requests(
    db_session: Session,
    *,
    user: User,
    role: str = "all",
    status: str | None = None,
    dataset: Dataset | None = None,
    now: datetime | None = None,
) -> list[SharingRequest]:
    """Requests the user's department received (``incoming``: for its datasets; all of them
    for admins), sent (``outgoing``), or both; newest first.

    ``status`` is pending, approved, refused, revoked or expired.
    """
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}.")
    statuses = [s.value for s in RequestStatus] + [EXPIRED]
    if status is not None and status not in statuses:
        raise InvalidInput(f"status must be one of {', '.join(statuses)}, not {status!r}.")
    query = select(SharingRequest).join(Dataset, Dataset.id == SharingRequest.dataset_id)
    admin = is_admin(user)
    incoming = Dataset.department_id == user.department_id
    outgoing = SharingRequest.department_id == user.department_id
    if role == "incoming" and not admin:
        query = query.where(incoming)
    elif role == "outgoing":
        query = query.where(outgoing)
    elif role == "all" and not admin:
        query = query.where(or_(incoming, outgoing))
    if dataset is not None:
        query = query.where(SharingRequest.dataset_id == dataset.id)
    if status is not None:
        stored = RequestStatus.APPROVED.value if status == EXPIRED else status
        query = query.where(SharingRequest.status == stored)
    found = db_session.scalars(
        query.order_by(SharingRequest.created_at.desc(), SharingRequest.id.desc())
    ).all()
    if status in (EXPIRED, RequestStatus.APPROVED.value):
        found = [r for r in found if request_state(r, now) == status]
    return list(found)


def dataset_of(db_session: Session, request: SharingRequest) -> Dataset:
    """The dataset a request is about."""
    return _dataset_of(db_session, request)
