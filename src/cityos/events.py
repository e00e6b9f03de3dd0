"""In-process publish/subscribe. Handlers run synchronously in the publisher's thread.

:func:`publish_after_commit` holds an event until the database transaction that made the
change commits, so no one hears of work that was rolled back (events queued inside a
savepoint that is rolled back are dropped). Live pages (the operations center) listen
through :mod:`cityos.ops.live`; :mod:`cityos.relay` carries events between processes over
MQTT when a broker is configured.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

Handler = Callable[[str, dict[str, Any]], None]

log = logging.getLogger("cityos.events")
_lock = threading.Lock()
_handlers: dict[str, list[Handler]] = defaultdict(list)
_any: list[Handler] = []
_PENDING = "cityos.events.pending"
_Pending = tuple[SessionTransaction | None, str, dict[str, Any]]  # (savepoint, topic, payload)


def subscribe(topic: str, handler: Handler) -> Callable[[], None]:
    """Call ``handler(topic, payload)`` for each event on ``topic``; returns an unsubscribe."""
    with _lock:
        _handlers[topic].append(handler)

    def unsubscribe() -> None:
        with _lock:
            if handler in _handlers[topic]:
                _handlers[topic].remove(handler)

    return unsubscribe


def subscribe_all(handler: Handler) -> Callable[[], None]:
    """Call ``handler(topic, payload)`` for every event on any topic; returns an unsubscribe."""
    with _lock:
        _any.append(handler)

    def unsubscribe() -> None:
        with _lock:
            if handler in _any:
                _any.remove(handler)

    return unsubscribe


def publish(topic: str, payload: dict[str, Any]) -> None:
    with _lock:
        handlers = list(_handlers[topic]) + list(_any)
    for handler in handlers:
        handler(topic, payload)


def publish_after_commit(db_session: Session, topic: str, payload: dict[str, Any]) -> None:
    """Publish ``payload`` on ``topic`` once ``db_session``'s transaction commits.

    Dropped if the transaction rolls back, and so is an event queued inside a savepoint
    (``begin_nested``) that is rolled back, even when the outer transaction commits; releasing
    a savepoint publishes nothing yet. A failing subscriber is logged, never raised into the
    committing code: the change is already stored.
    """
    pending: list[_Pending] | None = db_session.info.get(_PENDING)
    if pending is None:
        pending = []
        db_session.info[_PENDING] = pending
        if not event.contains(db_session, "after_commit", _after_commit):
            event.listen(db_session, "after_commit", _after_commit)
            event.listen(db_session, "after_soft_rollback", _after_soft_rollback)
            event.listen(db_session, "after_transaction_end", _after_transaction_end)
    pending.append((db_session.get_nested_transaction(), topic, payload))


def _after_commit(db_session: Session) -> None:
    if db_session.in_nested_transaction():
        return  # a savepoint was released: the outer transaction may still roll back
    pending: list[_Pending] = db_session.info.pop(_PENDING, None) or []
    for _savepoint, topic, payload in pending:
        try:
            publish(topic, payload)
        except Exception:  # a subscriber's failure is not the writer's
            log.exception("a subscriber of %s failed", topic)


def _within(savepoint: SessionTransaction | None, outer: SessionTransaction) -> bool:
    """True when ``savepoint`` is ``outer`` or was begun inside it."""
    while savepoint is not None:
        if savepoint is outer:
            return True
        savepoint = savepoint.parent
    return False


def _after_soft_rollback(db_session: Session, previous: SessionTransaction) -> None:
    # A savepoint rolled back: forget what was queued inside it (or inside savepoints
    # released within it). The whole transaction's rollback is handled below.
    pending: list[_Pending] | None = db_session.info.get(_PENDING)
    if previous.nested and pending:
        pending[:] = [entry for entry in pending if not _within(entry[0], previous)]


def _after_transaction_end(db_session: Session, transaction: SessionTransaction) -> None:
    # After a commit the list is already gone; after a rollback of the whole transaction
    # (not a savepoint) the changes it announced never happened.
    if transaction.parent is None and transaction.nested is False:
        db_session.info.pop(_PENDING, None)
