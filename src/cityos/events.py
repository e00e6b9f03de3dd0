"""In-process publish/subscribe. Handlers run synchronously in the publisher's thread."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

Handler = Callable[[str, dict[str, Any]], None]

_lock = threading.Lock()
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(topic: str, handler: Handler) -> Callable[[], None]:
    """Call ``handler(topic, payload)`` for each event on ``topic``; returns an unsubscribe."""
    with _lock:
        _handlers[topic].append(handler)

    def unsubscribe() -> None:
        with _lock:
            if handler in _handlers[topic]:
                _handlers[topic].remove(handler)

    return unsubscribe


def publish(topic: str, payload: dict[str, Any]) -> None:
    with _lock:
        handlers = list(_handlers[topic])
    for handler in handlers:
        handler(topic, payload)
