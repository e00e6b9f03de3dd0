from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.cases import service
from cityos.config import Settings
from cityos.db import make_session_factory
from cityos.notify.models import OutboxMessage
from cityos.worker import run_once
from tests.cases.conftest import WEST_POINT, CatalogFixture


def test_a_worker_pass_escalates_a_late_case_to_supervisors_and_sends_the_mail(
    db: Session, engine: Engine, settings: Settings, services: CatalogFixture
) -> None:
    auth_service.create_user(
        db,
        email="boss.cmb@example.org",
        password="correct horse battery",
        roles=["staff", "supervisor"],
        department_code="CMB",
        actor=Actor.system("test"),
    )
    case = service.open_case(
        db,
        service.CaseInput(
            service_code="POTHOLE",
            lon=WEST_POINT[0],
            lat=WEST_POINT[1],
            attributes={"size": "large"},
        ),
        actor=Actor.system("test"),
        policy=service.CasePolicy.from_settings(settings),
    )
    db.commit()
    late = case.requested_at + timedelta(hours=5)  # the 4-hour acknowledge target passed

    report = run_once(make_session_factory(engine), settings, now=late)

    assert report.escalated == 1
    assert report.notified == 1
    db.expire_all()
    mail = db.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == "boss.cmb@example.org")
    ).one()
    assert f"case {case.id}" in mail.subject
    assert mail.status == "logged"  # no SMTP server in the tests: written to the log
