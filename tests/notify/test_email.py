from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from cityos.config import Settings
from cityos.errors import InvalidInput
from cityos.notify import service
from cityos.notify.models import MessageStatus, OutboxMessage
from tests.notify.conftest import SmtpServer, free_port, soon

SUBJECT = "您的报修已受理 — Case 12 received"
BODY = "感谢您的反映，受理编号 12。\nThank you — we will look at it (café, Straße).\n"


def queue(db: Session, to: str = "resident@example.org") -> OutboxMessage:
    message = service.queue_email(db, to=to, subject=SUBJECT, body=BODY, topic="case.created")
    db.commit()
    return message


def test_email_arrives_at_a_real_smtp_server_with_utf8_subject_and_body(
    db: Session, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    message = queue(db)
    now = soon()
    counts = service.deliver_email(db, settings=smtp_settings, now=now)
    db.commit()
    assert (counts.sent, counts.retrying, counts.failed) == (1, 0, 0)

    [mail] = smtp_server.mailbox.received
    assert mail["Subject"] == SUBJECT
    assert mail["To"] == "resident@example.org"
    assert mail["From"].addresses[0].display_name == "城市平台"
    assert mail["From"].addresses[0].addr_spec == "no-reply@city.example.org"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"].endswith("@city.example.org>")
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content().replace("\r\n", "\n") == BODY
    assert smtp_server.mailbox.envelopes[0].rcpt_tos == ["resident@example.org"]

    db.refresh(message)
    assert message.status == MessageStatus.SENT
    assert message.sent_at == now
    assert message.attempts == 1
    assert message.last_error is None
    again = service.deliver_email(db, settings=smtp_settings, now=now + timedelta(hours=1))
    assert again.total == 0
    assert len(smtp_server.mailbox.received) == 1


def test_without_smtp_host_the_message_is_logged_instead(
    db: Session, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.smtp_host is None
    message = queue(db)
    with caplog.at_level(logging.INFO, logger="cityos.notify"):
        counts = service.deliver_email(db, settings=settings, now=soon())
    db.commit()
    assert (counts.logged, counts.sent) == (1, 0)
    db.refresh(message)
    assert message.status == MessageStatus.LOGGED
    assert message.sent_at is not None
    logged = caplog.text
    assert "resident@example.org" in logged
    assert SUBJECT in logged
    assert "感谢您的反映" in logged


def test_unreachable_smtp_server_is_retried_with_back_off_then_the_message_fails(
    db: Session, settings: Settings
) -> None:
    down = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "smtp_starttls": False}
    )
    message = queue(db)
    now = soon()
    waits = []
    for attempt in range(1, 6):
        counts = service.deliver_email(db, settings=down, now=now, timeout=5)
        db.commit()
        db.refresh(message)
        assert message.attempts == attempt
        assert "cannot reach SMTP server 127.0.0.1" in (message.last_error or "")
        if attempt < 5:
            assert counts.retrying == 1
            assert message.status == MessageStatus.PENDING
            waits.append(message.next_attempt_at - now)
            early = service.deliver_email(
                db, settings=down, now=message.next_attempt_at - timedelta(seconds=1)
            )
            assert early.total == 0, "a message is not retried before its back-off is over"
            now = message.next_attempt_at
    assert waits == [timedelta(minutes=m) for m in (1, 5, 30, 120)]
    assert counts.failed == 1
    assert message.status == MessageStatus.FAILED
    later = service.deliver_email(db, settings=down, now=now + timedelta(days=1))
    assert later.total == 0


def test_message_refused_by_the_server_is_retried_and_sent_when_it_accepts(
    db: Session, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    message = queue(db)
    smtp_server.mailbox.refuse = "451 4.3.0 Mailbox temporarily unavailable"
    now = soon()
    counts = service.deliver_email(db, settings=smtp_settings, now=now)
    db.commit()
    assert counts.retrying == 1
    db.refresh(message)
    assert message.last_error is not None
    assert "SMTP 451" in message.last_error
    assert "temporarily unavailable" in message.last_error

    smtp_server.mailbox.refuse = None
    counts = service.deliver_email(db, settings=smtp_settings, now=message.next_attempt_at)
    db.commit()
    assert counts.sent == 1
    db.refresh(message)
    assert (message.status, message.attempts, message.last_error) == (MessageStatus.SENT, 2, None)
    assert [m["Subject"] for m in smtp_server.mailbox.received] == [SUBJECT]


def test_several_messages_go_out_over_one_pass_in_order(
    db: Session, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    for n in range(3):
        service.queue_email(db, to=f"r{n}@example.org", subject=f"n{n}", body="x")
    db.commit()
    counts = service.deliver_email(db, settings=smtp_settings, now=soon())
    db.commit()
    assert counts.sent == 3
    assert [m["Subject"] for m in smtp_server.mailbox.received] == ["n0", "n1", "n2"]


@pytest.mark.parametrize("address", ["", "no-at-sign", "two@@example.org", "a b@example.org"])
def test_queue_email_refuses_what_is_not_an_address(db: Session, address: str) -> None:
    with pytest.raises(InvalidInput, match="is not an e-mail address"):
        service.queue_email(db, to=address, subject="s", body="b")


def test_line_breaks_in_a_subject_cannot_add_headers(
    db: Session, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    service.queue_email(
        db, to="resident@example.org", subject="Hello\r\nBcc: victim@example.org", body="b"
    )
    db.commit()
    service.deliver_email(db, settings=smtp_settings, now=soon())
    db.commit()
    [mail] = smtp_server.mailbox.received
    assert mail["Subject"] == "Hello Bcc: victim@example.org"
    assert mail["Bcc"] is None
    assert smtp_server.mailbox.envelopes[0].rcpt_tos == ["resident@example.org"]
