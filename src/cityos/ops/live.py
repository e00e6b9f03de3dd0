"""Live events of the operations center: ``GET /api/ops/events`` (Server-Sent Events).

The in-process bus (:mod:`cityos.events`) runs its handlers in the publishing thread (a
request's worker thread, the ingest worker, the MQTT relay of :mod:`cityos.relay`). One hub,
subscribed while at least one stream is open, hands each event to every open stream with
``loop.call_soon_threadsafe``: the publisher never waits for a browser.

Each stream has a bounded queue. A client that falls :data:`QUEUE_SIZE` events behind loses
its backlog and gets one ``resync`` event (``{"reason": "overflow", "dropped": n}``): its page
reloads the figures instead of showing a screen with a silent gap. A reconnecting client
(``Last-Event-ID`` header) starts with ``resync`` (``{"reason": "reconnected"}``) too: events
are not kept for replay.

Events: ``cases.changed``, ``sensing.alert``, ``ops.note`` (the bus payloads as they are) and
``readings``: ``sta.changed`` Observation creations, coalesced to at most one event per
:data:`READINGS_SECONDS` as ``{"observations": n, "datastreams": [ids] | null}``
(``datastreams`` is null while the notices carry only observation ids).

uvicorn waits for open responses before it shuts down and an event stream never ends on its
own: the server calls :func:`close_streams` first.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cityos import events
from cityos.auth.models import Role, User
from cityos.deps import require_role
from cityos.relay import OBSERVATION_ENTITIES

router = APIRouter(tags=["ops"])

TOPICS = ("cases.changed", "sensing.alert", "ops.note")
STA_TOPIC = "sta.changed"
READINGS = "readings"
RESYNC = "resync"
RETRY_MS = 2000
PING_SECONDS = 15.0  # module settings, changed by tests
READINGS_SECONDS = 0.5
QUEUE_SIZE = 256

_ids = itertools.count(1)  # event ids, increasing across the process

OperatorUser = Annotated[User, Depends(require_role(Role.OPERATOR), scope="function")]


@dataclass(frozen=True, slots=True)
class _Event:
    id: int
    name: str
    data: dict[str, Any]

    def frame(self) -> str:
        data = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"), default=str)
        return f"id: {self.id}\nevent: {self.name}\ndata: {data}\n\n"


class _Stream:
    """One client's queue. :meth:`offer` and :meth:`end` may be called from any thread; the
    rest runs on the stream's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, size: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[_Event | None] = asyncio.Queue(size)
        self.closed = False
        self._observations = 0
        self._datastreams: set[int] | None = set()
        self._flush: asyncio.TimerHandle | None = None
        self._last_flush = -READINGS_SECONDS

    # --- any thread
    def offer(self, topic: str, payload: dict[str, Any]) -> None:
        self._call(self._take, topic, payload)

    def end(self) -> None:
        self._call(self._end)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: so is the stream
            self.closed = True

    # --- the loop's thread
    def put(self, name: str, data: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.queue.full():
            dropped = self._drain() + 1
            name, data = RESYNC, {"reason": "overflow", "dropped": dropped}
        self.queue.put_nowait(_Event(next(_ids), name, data))

    def close(self) -> None:
        self.closed = True
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def _take(self, topic: str, payload: dict[str, Any]) -> None:
        if self.closed:
            return
        if topic == STA_TOPIC:
            self._add_readings(payload)
        else:
            self.put(topic, payload)

    def _end(self) -> None:
        if self.closed:
            return
        self.close()
        self._drain()
        self.queue.put_nowait(None)

    def _drain(self) -> int:
        dropped = 0
        while not self.queue.empty():
            self.queue.get_nowait()
            dropped += 1
        return dropped

    def _add_readings(self, payload: dict[str, Any]) -> None:
        if payload.get("entity") not in OBSERVATION_ENTITIES or payload.get("op") != "create":
            return
        ids = payload.get("ids")
        # relayed from another process, a large creation carries its count instead of ids
        count = len(ids) if isinstance(ids, list) else payload.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            return
        self._observations += count
        datastreams = payload.get("datastreams")
        if self._datastreams is not None and isinstance(datastreams, list):
            self._datastreams.update(int(ident) for ident in datastreams)
        else:
            self._datastreams = None
        if self._flush is None:
            wait = max(0.0, self._last_flush + READINGS_SECONDS - self.loop.time())
            self._flush = self.loop.call_later(wait, self._send_readings)

    def _send_readings(self) -> None:
        self._flush = None
        self._last_flush = self.loop.time()
        datastreams = sorted(self._datastreams) if self._datastreams is not None else None
        data = {"observations": self._observations, "datastreams": datastreams}
        self._observations, self._datastreams = 0, set()
        self.put(READINGS, data)


class _Hub:
    """The bus subscription shared by every open stream of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: set[_Stream] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def add(self, stream: _Stream) -> None:
        with self._lock:
            if not self._streams:
                self._unsubscribe = [
                    events.subscribe(topic, self._heard) for topic in (*TOPICS, STA_TOPIC)
                ]
            self._streams.add(stream)

    def remove(self, stream: _Stream) -> None:
        with self._lock:
            self._streams.discard(stream)
            if not self._streams:
                for unsubscribe in self._unsubscribe:
                    unsubscribe()
                self._unsubscribe = []

    def count(self) -> int:
        with self._lock:
            return len(self._streams)

    def close_all(self) -> int:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.end()
        return len(streams)

    def _heard(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.offer(topic, payload)


_hub = _Hub()


def open_streams() -> int:
    """How many event streams are open in this process."""
    return _hub.count()


def close_streams() -> int:
    """End every open event stream (at server shutdown); returns how many there were.
    Browsers reconnect by themselves (to another server, or to this one once it is back)."""
    return _hub.close_all()


async def _frames(stream: _Stream, *, reconnected: bool) -> AsyncGenerator[str, None]:
    yield f"retry: {RETRY_MS}\n\n"
    if reconnected:
        stream.put(RESYNC, {"reason": "reconnected"})
    while True:
        try:
            async with asyncio.timeout(PING_SECONDS):
                event = await stream.queue.get()
        except TimeoutError:
            yield ": ping\n\n"
            continue
        if event is None:
            return
        yield event.frame()


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` of one :class:`_Stream`, registered with the hub exactly while
    the response runs (the client's disconnect or :func:`close_streams` ends it)."""

    def __init__(self, stream: _Stream, *, reconnected: bool) -> None:
        self.stream = stream
        self.frames = _frames(stream, reconnected=reconnected)
        super().__init__(
            self.frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _hub.add(self.stream)
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.close()
            _hub.remove(self.stream)
            await self.frames.aclose()


@router.get(
    "/api/ops/events",
    summary="Live events of the operations center (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_events(request: Request, _user: OperatorUser) -> StreamingResponse:
    """``cases.changed``, ``sensing.alert``, ``ops.note`` and coalesced ``readings`` as they
    happen; ``resync`` when the page should reload its figures; ``: ping`` comments every
    15 s. Operators and admins only."""
    stream = _Stream(asyncio.get_running_loop(), size=QUEUE_SIZE)
    reconnected = request.headers.get("last-event-id") is not None
    return EventStreamResponse(stream, reconnected=reconnected)
