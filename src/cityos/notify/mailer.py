"""Sending the outbox: through SMTP when a server is configured, to the log otherwise.

A failed message is retried with back-off (1, 5, 30, 120 minutes) and marked failed after
the fifth attempt. Delivery is at least once: a message handed to the server is sent again
if the caller's transaction then fails to commit.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.config import Settings
from cityos.notify.backoff import EMAIL_BACKOFF, aware
from cityos.notify.models import MessageStatus, OutboxMessage

log = logging.getLogger("cityos.notify")

SMTP_TIMEOUT_S = 30.0
IMPLICIT_TLS_PORT = 465  # SMTP over TLS from the first byte (RFC 8314); others use STARTTLS


@dataclass(slots=True)
class EmailCounts:
    """What one delivery pass did with the due messages."""

    sent: int = 0
    logged: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.logged + self.retrying + self.failed


def due_messages(db_session: Session, *, now: datetime, limit: int) -> Sequence[OutboxMessage]:
    """Pending messages whose time has come, oldest first.

    On PostgreSQL the rows are locked and rows locked by another worker are skipped, so
    several processes can deliver at once without sending a message twice.
    """
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return db_session.scalars(query).all()


def compose(message: OutboxMessage, *, sender: str, now: datetime) -> EmailMessage:
    """The message as MIME: UTF-8 where needed, with Date, Message-ID and Auto-Submitted."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "cityos.invalid"
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = make_msgid(idstring=f"outbox{message.id}", domain=domain)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    email.set_content(message.body)
    return email


def connect(settings: Settings, *, timeout: float) -> smtplib.SMTP:
    """An authenticated connection to the configured SMTP server."""
    host = settings.smtp_host or ""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if settings.smtp_port == IMPLICIT_TLS_PORT:
        client = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_starttls and settings.smtp_port != IMPLICIT_TLS_PORT:
            client.starttls(context=context)
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
    except BaseException:
        client.close()
        raise
    return client


def describe(error: BaseException) -> str:
    """A one-line reason for ``last_error``."""
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"SMTP {error.smtp_code}: {reason}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{address}: {code} {reason.decode('utf-8', 'replace')}"
            for address, (code, reason) in error.recipients.items()
        )
        return f"recipient refused: {refused}"
    return f"{type(error).__name__}: {error}".rstrip(": ")


def _log(message: OutboxMessage) -> None:
    log.info(
        "E-mail (no SMTP server configured, CITYOS_SMTP_HOST is unset) to %s\nSubject: %s\n\n%s",
        message.to_address,
        message.subject,
        message.body,
    )


def _done(message: OutboxMessage, status: MessageStatus, now: datetime) -> None:
    message.attempts += 1
    message.status = status
    message.sent_at = now
    message.last_error = None


def _retry_later(message: OutboxMessage, error: str, now: datetime, counts: EmailCounts) -> None:
    message.attempts += 1
    message.last_error = error[:2000]
    retry_at = EMAIL_BACKOFF.next_attempt(now, message.attempts)
    if retry_at is None:
        message.status = MessageStatus.FAILED
        counts.failed += 1
        log.warning(
            "Gave up e-mail %s to %s after %s attempts: %s",
            message.id,
            message.to_address,
            message.attempts,
            error,
        )
    else:
        message.next_attempt_at = retry_at
        counts.retrying += 1


def deliver_email(
    db_session: Session,
    *,
    settings: Settings,
    now: datetime | None = None,
    limit: int = 200,
    timeout: float = SMTP_TIMEOUT_S,
) -> EmailCounts:
    """Send the pending messages that are due at ``now`` (one SMTP connection per pass).

    Without ``settings.smtp_host`` each message is written to the ``cityos.notify`` log and
    marked ``logged`` (development). Changes are made in the caller's transaction.
    """
    now = aware(now)
    counts = EmailCounts()
    messages = due_messages(db_session, now=now, limit=limit)
    if not settings.smtp_host:
        for message in messages:
            _log(message)
            _done(message, MessageStatus.LOGGED, now)
            counts.logged += 1
        return counts
    client: smtplib.SMTP | None = None
    unreachable: str | None = None  # the server could not be reached: retry the rest later
    try:
        for message in messages:
            if client is None and unreachable is None:
                try:
                    client = connect(settings, timeout=timeout)
                except OSError as error:  # includes every smtplib.SMTPException
                    unreachable = f"cannot reach SMTP server {settings.smtp_host}: " + describe(
                        error
                    )
            if client is None:
                _retry_later(message, unreachable or "no SMTP connection", now, counts)
                continue
            try:
                client.send_message(compose(message, sender=settings.mail_from, now=now))
            except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as error:
                _retry_later(message, describe(error), now, counts)  # the connection is fine
            except (OSError, ValueError) as error:
                _retry_later(message, describe(error), now, counts)
                if not isinstance(error, ValueError):  # connection lost: reconnect for the next
                    _close(client)
                    client = None
            else:
                _done(message, MessageStatus.SENT, now)
                counts.sent += 1
    finally:
        if client is not None:
            _close(client)
    return counts


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
