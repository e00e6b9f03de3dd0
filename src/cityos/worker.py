"""The background worker: SLA checks, silent sensors, then e-mail and webhook delivery.

It runs inside the server (a daemon thread started by the app) unless
``CITYOS_WORKER_INTERVAL_SECONDS=0``, in which case ``cityos worker`` runs it as a process
of its own. Several workers may run at once: each pass is one short transaction, SLA
escalations are unique per (case, clock, stage, due time), and a delivery is marked before
the next pass can pick it up again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from cityos.cases import service as cases_service
from cityos.config import Settings
from cityos.db import transaction, utcnow
from cityos.notify import service as notify_service
from cityos.sensing import service as sensing_service

log = logging.getLogger("cityos.worker")


@dataclass(frozen=True, slots=True)
class PassReport:
    escalated: int
    notified: int
    delivered: str


def run_once(
    factory: sessionmaker[Session], settings: Settings, *, now: datetime | None = None
) -> PassReport:
    """One pass: escalate SLA risks and breaches, raise alerts for silent sensors, then
    deliver what is due."""
    now = now or utcnow()
    policy = cases_service.CasePolicy.from_settings(settings)
    with transaction(factory) as db_session:
        report = cases_service.check_sla(db_session, policy=policy, now=now)
    with transaction(factory) as db_session:
        sensing_service.check_silent(db_session, now=now)
    with transaction(factory) as db_session:
        delivered = notify_service.deliver_pending(db_session, settings=settings, now=now)
    return PassReport(report.imminent + report.breached, report.notified, delivered.describe())


class Worker:
    """Runs :func:`run_once` every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self._factory = factory
        self._settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cityos-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.worker_interval_seconds):
            try:
                run_once(self._factory, self._settings)
            except Exception:  # keep the worker alive; the next pass retries
                log.exception("worker pass failed")
