"""Recording a load whose file could not be read at all.

A file the readers refuse (binary, empty, a repeated or empty column name, a huge cell, a
zip bomb, a wrong encoding, an unbalanced quote…) raises before anything is stored, and
the error usually ends the caller's transaction with a rollback (an API request does).
The load history must still show it — every load has its report — so the rejected
:class:`Load` and its audit entry are written in a transaction of their own:

* at once, in a new session on the caller's engine, when the caller's transaction has not
  written anything yet (an upload reads the dataset, then loads). A second transaction
  next to one that has written could wait on its locks — on SQLite for the one write
  lock, which the waiting thread itself holds;
* otherwise as soon as the caller's transaction ends (committed or rolled back), from the
  session's ``after_transaction_end`` event.

Writing the record never hides the reader's error: a failure is logged and the caller
re-raises the original error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from cityos.audit import service as audit
from cityos.audit.service import Actor
from cityos.datahub.models import Dataset, Load, LoadStatus
from cityos.datahub.report import FILE_ERROR, ErrorGroup, Report
from cityos.db import utcnow
from cityos.errors import CityOSError

log = logging.getLogger(__name__)


def refused_report(error: CityOSError, *, filename: str, format: str, encoding: str) -> Report:
    """The report of a file that could not be read: one ``file`` error with the reason."""
    group = ErrorGroup(type=FILE_ERROR, field=None, message=error.message, count=1)
    return Report(errors=[group], format=format, encoding=encoding, filename=filename)


def _format_of(filename: str, given: str | None) -> str:
    from cityos.datahub import readers

    try:
        return readers.resolve_format(filename, given)
    except CityOSError:
        return (given or PurePosixPath(filename).suffix.lstrip(".")).lower()[:16]


def has_written(db_session: Session) -> bool:
    """Whether the session's transaction has written to the database (holds write locks)."""
    connection = db_session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # the sqlite3 module opens a transaction before the first write only
        raw: Any = connection.connection.driver_connection
        return bool(raw.in_transaction)
    if dialect == "postgresql":
        xid = connection.exec_driver_sql("SELECT txid_current_if_assigned()").scalar()
        return xid is not None
    return True  # unknown: assume so, and wait for the transaction to end


def _write(bind: Engine | Connection, row: Mapping[str, Any], actor: Actor, name: str) -> None:
    """The rejected load and its audit entry, committed in a session of their own."""
    try:
        with Session(bind=bind) as own:
            load = Load(**row)
            own.add(load)
            own.flush()
            audit.record(
                own,
                actor=actor,
                action="datahub.load",
                entity_type="dataset",
                entity_id=name,
                summary=f"rejected ({row['mode']}) {row['filename']}: {row['report']['summary']}",
                after={"load_id": load.id, "status": LoadStatus.REJECTED.value, "rows_loaded": 0},
            )
            own.commit()
    except SQLAlchemyError:  # e.g. the dataset went with the caller's rollback
        log.warning("could not record the refused load of %s into %s", row["filename"], name)


def record_refusal(
    db_session: Session,
    *,
    dataset: Dataset,
    version: int,
    filename: str,
    mode: str,
    on_error: str,
    format: str | None,
    encoding: str | None,
    actor: Actor,
    started: datetime,
    error: CityOSError,
) -> None:
    """Record a rejected load of ``filename`` refused with ``error`` (see the module)."""
    report = refused_report(
        error,
        filename=filename,
        format=_format_of(filename, format),
        encoding=(encoding or "")[:32],
    )
    row: dict[str, Any] = {
        "dataset_id": dataset.id,
        "schema_version": version,
        "mode": mode,
        "on_error": on_error,
        "filename": filename,
        "format": report.format,
        "encoding": report.encoding,
        "status": LoadStatus.REJECTED.value,
        "rows_read": 0,
        "rows_loaded": 0,
        "rows_rejected": 0,
        "report": report.to_dict(),
        "actor": actor.label[:200],
        "started_at": started,
        "finished_at": utcnow(),
    }
    bind = db_session.get_bind()
    name = dataset.name
    if not has_written(db_session):
        _write(bind, row, actor, name)
        return
    done = False

    def after_end(session: Session, transaction: SessionTransaction) -> None:
        nonlocal done
        if done or transaction.parent is not None:
            return
        done = True
        _write(bind, row, actor, name)

    event.listen(db_session, "after_transaction_end", after_end)
