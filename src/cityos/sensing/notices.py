"""Change notices: what a transaction created, updated or deleted, published on the in-process
bus (``sta.changed``) only after the transaction commits, so no one hears of rolled-back work.

The payload is ``{"entity": <STA entity name>, "op": "create"|"update"|"delete",
"ids": [...], "fields": [...] | None}`` (``fields``: the wire names an update changed); new
readings (``Observation`` creates by the store) also carry ``"datastreams": [...]``, the
distinct ids of the datastreams they belong to, for live screens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.orm import Session

from cityos import events

TOPIC = "sta.changed"
Op = Literal["create", "update", "delete"]

_PENDING = "cityos.sensing.notices"
_OWNERS = "cityos.sensing.notices.datastreams"

Key = tuple[str, str, tuple[str, ...] | None]


def queue(
    db_session: Session,
    entity_name: str,
    entity_id: int,
    op: Op,
    *,
    fields: Iterable[str] | None = None,
) -> None:
    """Announce one change of ``entity_name`` ``entity_id`` once ``db_session`` commits."""
    queue_many(db_session, entity_name, (entity_id,), op, fields=fields)


def queue_many(
    db_session: Session,
    entity_name: str,
    entity_ids: Iterable[int],
    op: Op,
    *,
    fields: Iterable[str] | None = None,
    datastreams: Iterable[int] | None = None,
) -> None:
    """Announce changes of many entities of one kind once ``db_session`` commits
    (``datastreams``: for readings, the datastreams they belong to)."""
    pending: dict[Key, list[int]] | None = db_session.info.get(_PENDING)
    if pending is None:
        pending = {}
        db_session.info[_PENDING] = pending
        if not event.contains(db_session, "after_commit", _after_commit):
            event.listen(db_session, "after_commit", _after_commit)
            event.listen(db_session, "after_rollback", _after_rollback)
    key: Key = (entity_name, op, tuple(sorted(fields)) if fields is not None else None)
    pending.setdefault(key, []).extend(entity_ids)
    if datastreams is not None:
        owners: dict[Key, set[int]] = db_session.info.setdefault(_OWNERS, {})
        owners.setdefault(key, set()).update(datastreams)


def _after_commit(db_session: Session) -> None:
    pending: dict[Key, list[int]] | None = db_session.info.pop(_PENDING, None)
    owners: dict[Key, set[int]] = db_session.info.pop(_OWNERS, None) or {}
    if not pending:
        return
    for key, ids in pending.items():
        entity_name, op, fields = key
        payload: dict[str, Any] = {
            "entity": entity_name,
            "op": op,
            "ids": ids,
            "fields": list(fields) if fields is not None else None,
        }
        if key in owners:
            payload["datastreams"] = sorted(owners[key])
        events.publish(TOPIC, payload)


def _after_rollback(db_session: Session) -> None:
    db_session.info.pop(_PENDING, None)
    db_session.info.pop(_OWNERS, None)
