from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityos.audit.models import AuditEntry
from cityos.audit.service import Actor
from cityos.cli import app
from cityos.notify import service
from cityos.notify.models import MessageStatus, OutboxMessage
from tests.notify.conftest import Receiver

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that tables do not wrap


def test_webhook_add_list_and_remove_from_the_command_line(cli_database: str, db: Session) -> None:
    added = runner.invoke(
        app,
        [
            "notify",
            "webhook-add",
            "Work orders",
            "https://wo.example.org/cityos",
            "--event",
            "case.*",
            "--event",
            "sensor.alert",
        ],
    )
    assert added.exit_code == 0, added.output
    secret = re.search(r"whsec_\S+", added.output)
    assert secret is not None
    [hook] = service.list_webhooks(db)
    assert (hook.secret, hook.events) == (secret.group(0), ["case.*", "sensor.alert"])
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "notify.webhook.create")).one()
    assert entry.actor_label == "system:cli"

    listed = runner.invoke(app, ["notify", "webhooks"])
    assert listed.exit_code == 0, listed.output
    assert "Work orders" in listed.output
    assert "case.*, sensor.alert" in listed.output
    assert secret.group(0) not in listed.output

    removed = runner.invoke(app, ["notify", "webhook-remove", str(hook.id)])
    assert removed.exit_code == 0, removed.output
    db.expire_all()
    assert service.list_webhooks(db) == []
    assert "No webhooks yet" in runner.invoke(app, ["notify", "webhooks"]).output


def test_cli_errors_are_clear_and_exit_with_status_1(cli_database: str) -> None:
    bad = runner.invoke(app, ["notify", "webhook-add", "x", "ftp://example.org/x"])
    assert bad.exit_code == 1
    assert "must start with http:// or https://" in bad.output
    missing = runner.invoke(app, ["notify", "webhook-remove", "999"])
    assert missing.exit_code == 1
    assert "No webhook has the id 999" in missing.output
    wrong = runner.invoke(app, ["notify", "outbox", "--status", "lost"])
    assert wrong.exit_code == 2


def test_deliver_runs_one_pass_and_outbox_shows_the_result(
    cli_database: str, db: Session, receiver: Receiver
) -> None:
    _hook, receiver.secret = service.create_webhook(
        db, name="R", url=receiver.url, actor=Actor.system("test")
    )
    service.emit(db, event="case.created", payload={"id": 1})
    service.queue_email(db, to="resident@example.org", subject="Case 1 received", body="Thanks")
    db.commit()
    assert "The outbox is empty" not in runner.invoke(app, ["notify", "outbox"]).output

    delivered = runner.invoke(app, ["notify", "deliver"])
    assert delivered.exit_code == 0, delivered.output
    assert "E-mail: 0 sent, 1 logged" in delivered.output
    assert "Webhooks: 1 delivered" in delivered.output
    assert [r.signature_ok for r in receiver.received] == [True]
    db.expire_all()
    assert db.scalars(select(OutboxMessage.status)).one() == MessageStatus.LOGGED

    outbox = runner.invoke(app, ["notify", "outbox", "--status", "logged"])
    assert outbox.exit_code == 0, outbox.output
    assert "resident@example.org" in outbox.output
    assert "Case 1 received" in outbox.output
    failed = runner.invoke(app, ["notify", "outbox", "--status", "failed"])
    assert "The outbox is empty" in failed.output
