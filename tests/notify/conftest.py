"""Real local servers for the notify tests: an SMTP server (aiosmtpd) and a webhook receiver.

Both listen on 127.0.0.1 in a thread of the test process, so delivery goes over real sockets.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from cityos.config import Settings
from cityos.db import utcnow
from cityos.notify import service


def free_port() -> int:
    """A port nothing listens on (the OS picked it; we closed it again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def soon() -> datetime:
    """A moment just after everything queued so far: it is all due."""
    return utcnow() + timedelta(seconds=1)


# --- SMTP ------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received; ``refuse`` makes it answer DATA with that reply."""

    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    refuse: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            return self.refuse
        self.envelopes.append(envelope)
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_starttls": False,
            "mail_from": "城市平台 <no-reply@city.example.org>",
        }
    )


# --- webhooks --------------------------------------------------------------------------


@dataclass
class Received:
    """One request; header names lower-cased (HTTP header names are case-insensitive)."""

    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An integration's endpoint: checks the signature, answers ``status`` (401 if forged)."""

    url: str
    secret: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = service.verify_signature(
                receiver.secret,
                self.headers.get("X-CityOS-Timestamp", ""),
                body,
                self.headers.get("X-CityOS-Signature"),
            )
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.received.append(Received(headers, body, ok))
            status = receiver.status if ok else 401
            answer = b"ok" if 200 <= status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class ReceiverServer:
    """Starts and stops the receiver on one fixed port (stopped: connection refused)."""

    def __init__(self, receiver: Receiver, port: int) -> None:
        self.receiver = receiver
        self.port = port
        self.server: HTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server = HTTPServer(("127.0.0.1", self.port), _handler(self.receiver))
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
        self.server = self.thread = None


@pytest.fixture
def receiver_server() -> Iterator[ReceiverServer]:
    """A receiver that is not started yet (start it in the test)."""
    port = free_port()
    server = ReceiverServer(Receiver(url=f"http://127.0.0.1:{port}/hooks/cityos"), port)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver(receiver_server: ReceiverServer) -> Receiver:
    """A running receiver."""
    receiver_server.start()
    return receiver_server.receiver
