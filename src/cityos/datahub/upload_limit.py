"""Refuse data uploads over the size limit before the application reads them.

FastAPI parses a multipart body — spooling the file to disk — before the endpoint runs, so an
endpoint's own size check comes too late. :class:`UploadLimit` is a plain ASGI middleware
(no ``BaseHTTPMiddleware``) in front of the upload routes only:

- a ``Content-Length`` over the limit is answered 413 at once, the body left unread;
- a body of unknown length (chunked) is counted as it streams to the application; the chunk
  that would pass the limit is never handed over: the application's reading fails, whatever it
  answers is dropped, and the client gets 413.

The limit is ``datahub_max_upload_mb`` (``max_upload_mb`` for attached files), plus
:data:`FORM_OVERHEAD` for the multipart framing and the form's other fields; the endpoints
still check the file itself against the exact limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityos.config import Settings

MiB = 1024 * 1024
FORM_OVERHEAD = 64 * 1024
METHODS = frozenset({"POST", "PUT"})
# loads and schema inference (API), the upload form and the new-dataset form (pages)
DATA_FILES = re.compile(
    r"^(?:/api/data/[^/]+/loads|/api/data/infer|/data/[^/]+/loads|/data/new)/?$"
)
ATTACHED_FILES = re.compile(r"^(?:/api/data/[^/]+/resources|/data/[^/]+/manage/files)/?$")


@dataclass(frozen=True, slots=True)
class Limit:
    """The largest body accepted on a path, and what to say past it."""

    megabytes: float
    advice: str

    @property
    def bytes(self) -> int:
        return int(self.megabytes * MiB) + FORM_OVERHEAD

    def message(self) -> str:
        return f"The upload is too large: the limit is {self.megabytes:g} MB; {self.advice}."


class BodyTooLarge(Exception):
    """Raised into the application when the streamed body passes the limit."""


def limit_for(settings: Settings, *, method: str, path: str) -> Limit | None:
    """The limit that applies to a request (None: not an upload route)."""
    if method not in METHODS:
        return None
    if DATA_FILES.match(path):
        return Limit(
            settings.datahub_max_upload_mb, "load bigger files with `cityos data load` instead"
        )
    if ATTACHED_FILES.match(path):
        return Limit(settings.max_upload_mb, "attach a smaller (compressed or split) file")
    return None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(send: Send, limit: Limit) -> None:
    body = json.dumps(
        {"error": {"code": "payload_too_large", "message": limit.message()}},
        ensure_ascii=False,
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class UploadLimit:
    """ASGI middleware: 413 for data uploads over the configured limit (see the module)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = (
            limit_for(self.settings, method=scope["method"], path=scope["path"])
            if scope["type"] == "http"
            else None
        )
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > limit.bytes:
            await _refuse(send, limit)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: Limit) -> None:
        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            if over:
                raise BodyTooLarge(limit.message())
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.bytes:
                    over = True
                    raise BodyTooLarge(limit.message())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the application's answer to a cut-off body: replaced by 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # the cut-off body surfaces as whatever error the application's parser raises
            if not over or started:
                raise
        if over and not started:
            await _refuse(send, limit)
