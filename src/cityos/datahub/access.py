"""Who may read a dataset, which of its fields, and who may manage it.

Rules (see docs and the issue):

- admins and users of the owning department are *owners*: they read every field;
- ``open`` datasets are readable by anyone (also anonymous), ``shared`` ones by any
  signed-in user, ``restricted`` ones only by owners and departments with an active grant
  (an approved request that has not expired and was not revoked);
- sensitive fields (``Field.sensitive``) are hidden from non-owners — or shown masked when
  ``Field.mask == "partial"`` — unless an active grant of the reader's department lists the
  field (a grant without a field list covers every field); all active grants add up;
- grants with field lists on a ``restricted`` dataset show only the fields they list.

What a *department* may read (:func:`department_access`) also guards foreign keys: a
dataset may only reference fields its department can read.

The sharing requests themselves live in :mod:`cityos.datahub.sharing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.auth.models import Role, User
from cityos.datahub.models import Access, Dataset, RequestStatus, SharingRequest
from cityos.datahub.tableschema import TableSchema
from cityos.db import utcnow
from cityos.errors import Forbidden, Unauthorized

PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class ReadAccess:
    """What one user may read of one dataset (field names of its current schema)."""

    allowed: bool
    reason: str  # why (allowed) or what to do (refused)
    is_owner: bool
    visible: frozenset[str]  # shown as stored
    masked: frozenset[str]  # shown partially masked (138****5678)
    hidden: frozenset[str]  # removed

    def shows(self, name: str) -> bool:
        """Whether the field appears at all (plainly or masked)."""
        return name in self.visible or name in self.masked


def is_admin(user: User | None) -> bool:
    return user is not None and Role.ADMIN in user.roles


def is_owner(dataset: Dataset, user: User | None) -> bool:
    """Admins and the users of the publishing department."""
    if user is None:
        return False
    return is_admin(user) or (
        user.department_id is not None and user.department_id == dataset.department_id
    )


def title_of(dataset: Dataset) -> str:
    return dataset.title_en or dataset.title_zh or dataset.name


def department_label(dataset: Dataset) -> str:
    department = dataset.department
    return f"{department.name_en or department.name_zh} ({department.code})"


def how_to_ask(dataset: Dataset, *, fields: Iterable[str] = ()) -> str:
    """The sentence that tells a reader how to ask for access (to some fields)."""
    asked = list(fields)
    body = '{"purpose": …'
    if asked:
        body += ', "fields": [' + ", ".join(f'"{name}"' for name in asked) + "]"
    body += "}"
    return (
        f"Ask for access: POST /api/data/{dataset.name}/requests {body}, "
        f"or use 'Request access' on /data/{dataset.name}."
    )


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken to be UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def active_grants(
    db_session: Session, *, dataset: Dataset, department_id: int | None, now: datetime | None = None
) -> list[SharingRequest]:
    """The department's approved, unexpired, unrevoked requests for ``dataset``, newest
    first."""
    if department_id is None:
        return []
    moment = as_utc(now or utcnow())
    grants = db_session.scalars(
        select(SharingRequest)
        .where(
            SharingRequest.dataset_id == dataset.id,
            SharingRequest.department_id == department_id,
            SharingRequest.status == RequestStatus.APPROVED.value,
        )
        .order_by(SharingRequest.decided_at.desc(), SharingRequest.id.desc())
    ).all()
    return [grant for grant in grants if grant.expires_at is None or grant.expires_at > moment]


def active_grant(
    db_session: Session, *, dataset: Dataset, department_id: int | None, now: datetime | None = None
) -> SharingRequest | None:
    """The newest of :func:`active_grants` (None: the department has no grant)."""
    grants = active_grants(db_session, dataset=dataset, department_id=department_id, now=now)
    return grants[0] if grants else None


def _last_grant(
    db_session: Session, *, dataset: Dataset, department_id: int | None
) -> SharingRequest | None:
    """The department's newest approved (so: expired) or revoked request, if any."""
    if department_id is None:
        return None
    return db_session.scalars(
        select(SharingRequest)
        .where(
            SharingRequest.dataset_id == dataset.id,
            SharingRequest.department_id == department_id,
            SharingRequest.status.in_([RequestStatus.APPROVED.value, RequestStatus.REVOKED.value]),
        )
        .order_by(SharingRequest.decided_at.desc(), SharingRequest.id.desc())
        .limit(1)
    ).first()


def _refusal(
    db_session: Session, *, dataset: Dataset, department_id: int | None, signed_in: bool
) -> str:
    title = title_of(dataset)
    if not signed_in:
        kind = "shared with signed-in users" if dataset.access == Access.SHARED else "restricted"
        return f"{title} is {kind}: sign in (or send 'Authorization: Bearer <API key>') to read it."
    message = f"{title} is restricted to {department_label(dataset)}."
    previous = _last_grant(db_session, dataset=dataset, department_id=department_id)
    if previous is not None and previous.status == RequestStatus.REVOKED.value:
        message += " Your department's access was revoked."
    elif previous is not None and previous.expires_at is not None:
        message += f" Your department's access expired on {previous.expires_at:%Y-%m-%d}."
    if department_id is None:
        return message + " Only departments can be granted access; ask an admin to set yours."
    return f"{message} {how_to_ask(dataset)}"


def _everything(schema: TableSchema | None, reason: str) -> ReadAccess:
    names = frozenset(schema.names) if schema is not None else frozenset()
    return ReadAccess(True, reason, True, names, frozenset(), frozenset())


def _refused(schema: TableSchema | None, reason: str) -> ReadAccess:
    names = frozenset(schema.names) if schema is not None else frozenset()
    return ReadAccess(False, reason, False, frozenset(), frozenset(), names)


def _grant_reason(grants: Sequence[SharingRequest]) -> str:
    numbers = ", ".join(f"#{grant.id}" for grant in grants)
    return f"request{'s' if len(grants) > 1 else ''} {numbers}"


def _with_fields(
    dataset: Dataset,
    schema: TableSchema | None,
    *,
    grants: Sequence[SharingRequest],
    reason: str,
) -> ReadAccess:
    """A reader who is not an owner: sensitive fields hidden or masked unless a grant lists
    them; on a restricted dataset, grants that all list fields show only those."""
    names = frozenset(schema.names) if schema is not None else frozenset()
    every_field = any(grant.granted_fields is None for grant in grants)
    if every_field:
        granted = names
    else:
        granted = frozenset(
            name for grant in grants for name in grant.granted_fields or () if name in names
        )
    subset = dataset.access == Access.RESTRICTED.value and bool(grants) and not every_field
    visible: set[str] = set()
    masked: set[str] = set()
    hidden: set[str] = set()
    for data_field in schema.fields if schema is not None else ():
        name = data_field.name
        if subset and name not in granted:
            hidden.add(name)
        elif not data_field.sensitive or name in granted:
            visible.add(name)
        elif data_field.mask == PARTIAL:
            masked.add(name)
        else:
            hidden.add(name)
    return ReadAccess(True, reason, False, frozenset(visible), frozenset(masked), frozenset(hidden))


def department_access(
    db_session: Session,
    *,
    dataset: Dataset,
    schema: TableSchema | None,
    department_id: int | None,
    now: datetime | None = None,
) -> ReadAccess:
    """What a department's signed-in users may read of ``dataset`` under ``schema``.

    The publishing department reads everything; open and shared datasets are readable with
    sensitive fields masked or hidden unless an active grant lists them; restricted ones only
    with an active grant. Every active grant counts (a grant without a field list covers
    every field).
    """
    if department_id is not None and department_id == dataset.department_id:
        return _everything(schema, "publishing department")
    grants = active_grants(db_session, dataset=dataset, department_id=department_id, now=now)
    if dataset.access == Access.OPEN.value:
        reason = "open data"
    elif dataset.access == Access.SHARED.value:
        reason = "shared with signed-in users"
    elif grants:
        return _with_fields(
            dataset, schema, grants=grants, reason=f"granted by {_grant_reason(grants)}"
        )
    else:
        refusal = _refusal(db_session, dataset=dataset, department_id=department_id, signed_in=True)
        return _refused(schema, refusal)
    if grants:
        reason = f"{reason}; sensitive fields granted by {_grant_reason(grants)}"
    return _with_fields(dataset, schema, grants=grants, reason=reason)


def read_access(
    db_session: Session,
    *,
    dataset: Dataset,
    schema: TableSchema | None,
    user: User | None,
    now: datetime | None = None,
) -> ReadAccess:
    """What ``user`` (None: anonymous) may read of ``dataset`` under ``schema``: admins
    everything, anonymous visitors open datasets (sensitive fields masked or hidden), anyone
    else what their department may read (:func:`department_access`)."""
    if is_admin(user):
        return _everything(schema, "admin")
    if user is None:
        if dataset.access == Access.OPEN.value:
            return _with_fields(dataset, schema, grants=(), reason="open data")
        return _refused(
            schema, _refusal(db_session, dataset=dataset, department_id=None, signed_in=False)
        )
    return department_access(
        db_session, dataset=dataset, schema=schema, department_id=user.department_id, now=now
    )


def require_read(
    db_session: Session,
    *,
    dataset: Dataset,
    schema: TableSchema | None,
    user: User | None,
    fields: Iterable[str] | None = None,
    now: datetime | None = None,
) -> ReadAccess:
    """:func:`read_access`, raising when the dataset — or a field asked for — is not readable.

    Anonymous readers of a shared or restricted dataset get 401 (sign in); signed-in readers
    without a grant get 403 saying how to ask. A field in ``fields`` that is hidden from
    the reader is refused with 403 naming it (masked fields may be asked for: they come back
    masked). Unknown names are left to the query parser, which lists the fields.
    """
    access = read_access(db_session, dataset=dataset, schema=schema, user=user, now=now)
    if not access.allowed:
        if user is None:
            raise Unauthorized(access.reason)
        raise Forbidden(access.reason)
    if fields is not None:
        refused = [name for name in fields if name in access.hidden]
        if refused:
            listed = ", ".join(repr(name) for name in refused)
            noun = "field" if len(refused) == 1 else "fields"
            raise Forbidden(
                f"The {noun} {listed} of {title_of(dataset)} "
                f"{'is' if len(refused) == 1 else 'are'} not shown to your department "
                f"(sensitive or not granted). {how_to_ask(dataset, fields=refused)}",
                details=[{"field": name, "reason": "hidden"} for name in refused],
            )
    return access


def can_see_metadata(dataset: Dataset, user: User | None) -> bool:
    """Anonymous visitors see open datasets only; signed-in users see every catalogue entry."""
    return user is not None or dataset.access == Access.OPEN.value


def require_metadata(dataset: Dataset, user: User | None) -> None:
    """401 for anonymous visitors on datasets that are not open."""
    if not can_see_metadata(dataset, user):
        raise Unauthorized(
            f"{dataset.name} is only listed for signed-in users: sign in "
            "(or send 'Authorization: Bearer <API key>')."
        )


def can_manage(dataset: Dataset, user: User | None) -> bool:
    """Admins, and stewards or staff of the publishing department."""
    if user is None:
        return False
    if is_admin(user):
        return True
    return user.department_id == dataset.department_id and user.has_role(Role.STEWARD, Role.STAFF)


def require_manage(dataset: Dataset, user: User | None) -> None:
    if user is None:
        raise Unauthorized("Sign in first (or send 'Authorization: Bearer <API key>').")
    if not can_manage(dataset, user):
        raise Forbidden(
            f"Only stewards and staff of {department_label(dataset)} (or an admin) may "
            f"manage {dataset.name}."
        )
