"""A small thread-safe cache of the operations center's figures, dropped by bus events.

Entries are keyed by ``(part, key)``: ``part`` names one separately computed figure
(``"cases.counts"``, ``"alerts.board"`` …) and ``key`` the filters it was computed for. Each
part belongs to a *group*, the text before its first dot, and each bus event drops the
groups it can change (:data:`GROUPS_BY_TOPIC`): a new reading drops the sensor figures and
leaves the case figures alone, so the summary stays cheap while readings stream in.

Entries also expire after ``ttl`` seconds (figures such as "open now" or "today" move with
the clock); ``ttl`` 0 turns the cache off. A figure being computed while an event drops its
group is returned to its caller but not stored, so a stale value never outlives the event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from cityos import events

T = TypeVar("T")

CASES = "cases"
ALERTS = "alerts"
SENSORS = "sensors"
NOTES = "notes"
DATAHUB = "datahub"
GEO = "geo"

# Which groups each bus topic can change.
GROUPS_BY_TOPIC: dict[str, tuple[str, ...]] = {
    "cases.changed": (CASES,),
    "sensing.alert": (ALERTS,),
    "sta.changed": (SENSORS,),
    "ops.note": (NOTES,),
}
MAX_ENTRIES = 2000


def group_of(part: str) -> str:
    return part.split(".", 1)[0]


class FigureCache:
    """Computed figures by ``(part, key)``, each kept ``ttl`` seconds at most."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = float(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, Hashable], tuple[float, Any]] = {}
        self._generations: dict[str, int] = {}
        self._unsubscribes: list[Callable[[], None]] = []

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, part: str, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``(part, key)``, else ``compute()`` (stored when still fresh)."""
        if not self.enabled:
            return compute()
        group = group_of(part)
        with self._lock:
            found = self._entries.get((part, key))
            now = self._clock()
            if found is not None and found[0] > now:
                value: T = found[1]
                return value
            generation = self._generations.get(group, 0)
        value = compute()
        with self._lock:
            if self._generations.get(group, 0) == generation:
                if len(self._entries) >= MAX_ENTRIES:
                    self._evict(self._clock())
                self._entries[(part, key)] = (self._clock() + self.ttl, value)
        return value

    def _evict(self, now: float) -> None:
        """Drop expired entries; if that is not enough, drop everything (rare: many keys)."""
        for entry_key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[entry_key]
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()

    def drop(self, groups: Iterable[str]) -> None:
        """Forget every figure of these groups (and any being computed now)."""
        wanted = set(groups)
        with self._lock:
            for group in wanted:
                self._generations[group] = self._generations.get(group, 0) + 1
            for entry_key in [k for k in self._entries if group_of(k[0]) in wanted]:
                del self._entries[entry_key]

    def clear(self) -> None:
        with self._lock:
            for group in {group_of(part) for part, _ in self._entries}:
                self._generations[group] = self._generations.get(group, 0) + 1
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # --- bus events ----------------------------------------------------------------------

    def on_event(self, topic: str, payload: dict[str, Any]) -> None:
        groups = GROUPS_BY_TOPIC.get(topic, ())
        if groups:
            self.drop(groups)

    def subscribe(self) -> None:
        """Listen to the bus (once); :meth:`unsubscribe` stops."""
        if self._unsubscribes:
            return
        self._unsubscribes = [events.subscribe(topic, self.on_event) for topic in GROUPS_BY_TOPIC]

    def unsubscribe(self) -> None:
        for unsubscribe in self._unsubscribes:
            unsubscribe()
        self._unsubscribes = []
