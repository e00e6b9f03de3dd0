"""A small thread-safe cache of the operations center's figures, dropped by bus events.

Entries are keyed by ``(part, key)``: ``part`` names one separately computed figure
(``"cases.counts"``, ``"alerts.board"`` …) and ``key`` the filters it was computed for. Each
part belongs to a *group*, the text before its first dot, and each bus event drops the
groups it can change (:data:`GROUPS_BY_TOPIC`): a new reading drops the sensor figures and
leaves the case figures alone, so the summary stays cheap while readings stream in.

Entries also expire after ``ttl`` seconds (figures such as "open now" or "today" move with
the clock); ``ttl`` 0 turns the cache off. A figure being computed while an event drops its
group is returned to its caller but not stored, so a stale value never outlives the event.

Single flight: while one caller computes ``(part, key)``, other callers asking for the same
wait for its result instead of computing it again (a burst of screens after an event costs
one query). Readings stream in many times a second, so a readings notice (``sta.changed``
creating Observations) only marks the sensor figures stale: they are dropped at once when the
last drop is :data:`READINGS_THROTTLE` seconds old, else when that much time has passed (at
the next lookup or notice). Other SensorThings writes drop them at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from cityos import events
from cityos.relay import OBSERVATION_ENTITIES

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
# Readings drop the sensor figures at most once per this many seconds.
READINGS_THROTTLE = 5.0


def group_of(part: str) -> str:
    return part.split(".", 1)[0]


def is_readings(topic: str, payload: dict[str, Any]) -> bool:
    """Whether a bus event announces new readings (Observations created)."""
    return (
        topic == "sta.changed"
        and payload.get("entity") in OBSERVATION_ENTITIES
        and payload.get("op") == "create"
    )


class _Flight:
    """One computation under way; callers asking for the same figure wait for it."""

    __slots__ = ("done", "failed", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failed = False
        self.value: Any = None


class FigureCache:
    """Computed figures by ``(part, key)``, each kept ``ttl`` seconds at most."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = float(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, Hashable], tuple[float, Any]] = {}
        self._generations: dict[str, int] = {}
        self._flights: dict[tuple[str, Hashable], _Flight] = {}
        self._readings_dropped_at: float | None = None  # when readings last dropped sensors
        self._readings_stale = False  # readings arrived since then
        self._unsubscribes: list[Callable[[], None]] = []

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(
        self, part: str, key: Hashable, compute: Callable[[], T], *, ttl: float | None = None
    ) -> T:
        """The cached value of ``(part, key)``, else ``compute()`` (stored when still fresh).

        When another caller is computing the same figure, wait for its value (if it fails,
        compute here). ``ttl`` keeps this figure longer than the cache's own (a figure of
        the past, which no clock moves); with the cache off nothing is kept."""
        if not self.enabled:
            return compute()
        group = group_of(part)
        entry_key = (part, key)
        with self._lock:
            now = self._clock()
            self._drop_stale_readings(now)
            found = self._entries.get(entry_key)
            if found is not None and found[0] > now:
                value: T = found[1]
                return value
            flight = self._flights.get(entry_key)
            leading = flight is None
            if flight is None:
                flight = self._flights[entry_key] = _Flight()
            generation = self._generations.get(group, 0)
        if not leading:
            flight.done.wait()
            if not flight.failed:
                waited: T = flight.value
                return waited
            return compute()
        try:
            value = compute()
        except BaseException:
            flight.failed = True
            raise
        else:
            flight.value = value
            with self._lock:
                if self._generations.get(group, 0) == generation:
                    if len(self._entries) >= MAX_ENTRIES:
                        self._evict(self._clock())
                    keep = self.ttl if ttl is None else max(ttl, self.ttl)
                    self._entries[entry_key] = (self._clock() + keep, value)
            return value
        finally:
            with self._lock:
                if self._flights.get(entry_key) is flight:
                    del self._flights[entry_key]
            flight.done.set()

    def _evict(self, now: float) -> None:
        """Drop expired entries; if that is not enough, drop everything (rare: many keys)."""
        for entry_key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[entry_key]
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()

    def drop(self, groups: Iterable[str]) -> None:
        """Forget every figure of these groups (and any being computed now)."""
        with self._lock:
            self._drop(set(groups))

    def _drop(self, wanted: set[str]) -> None:
        """:meth:`drop` with the lock held. Callers arriving later do not wait for a
        computation that began before (its value is not stored either)."""
        for group in wanted:
            self._generations[group] = self._generations.get(group, 0) + 1
        for entry_key in [k for k in self._entries if group_of(k[0]) in wanted]:
            del self._entries[entry_key]
        for entry_key in [k for k in self._flights if group_of(k[0]) in wanted]:
            del self._flights[entry_key]
        if SENSORS in wanted:
            self._readings_stale = False

    def _drop_stale_readings(self, now: float) -> None:
        """With the lock held: drop the sensor figures if readings made them stale and the
        last drop by readings is old enough."""
        last = self._readings_dropped_at
        if self._readings_stale and (last is None or now - last >= READINGS_THROTTLE):
            self._readings_dropped_at = now
            self._drop({SENSORS})

    def _readings_arrived(self) -> None:
        with self._lock:
            self._readings_stale = True
            self._drop_stale_readings(self._clock())

    def clear(self) -> None:
        with self._lock:
            self._drop({group_of(part) for part, _ in [*self._entries, *self._flights]})

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    # --- bus events ----------------------------------------------------------------------

    def on_event(self, topic: str, payload: dict[str, Any]) -> None:
        if is_readings(topic, payload):
            self._readings_arrived()
            return
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
