"""The figure cache: one computation per figure however many screens ask at once, and readings
that drop the sensor figures at most once per READINGS_THROTTLE seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from itertools import count

from cityos.ops.cache import READINGS_THROTTLE, FigureCache

READINGS = {"entity": "Observation", "op": "create", "ids": [1], "datastreams": [4]}
THREADS = 6


def ask_at_once(cache: FigureCache, compute: Callable[[], object]) -> list[object]:
    """``cache.get`` of one figure from THREADS threads at once; their answers."""
    results: list[object] = []
    barrier = threading.Barrier(THREADS)

    def ask() -> None:
        barrier.wait(5)
        try:
            results.append(cache.get("cases.counts", "k", compute))
        except RuntimeError as error:
            results.append(error)

    threads = [threading.Thread(target=ask) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_concurrent_lookups_of_one_figure_compute_it_once_and_share_the_value() -> None:
    cache = FigureCache(60)
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)  # the other threads arrive while this computes
        return 42

    assert ask_at_once(cache, slow) == [42] * THREADS
    assert len(calls) == 1
    assert cache.get("cases.counts", "k", lambda: 0) == 42  # and it was kept


def test_when_the_shared_computation_fails_each_waiting_caller_computes_for_itself() -> None:
    cache = FigureCache(60)
    calls = count()

    def first_fails() -> int:
        if next(calls) == 0:
            time.sleep(0.2)
            raise RuntimeError("database went away")
        return 7

    results = ask_at_once(cache, first_fails)
    assert [r for r in results if isinstance(r, RuntimeError)] != []
    assert sorted(r for r in results if isinstance(r, int)) == [7] * (THREADS - 1)


def test_a_caller_arriving_after_a_drop_does_not_wait_for_the_stale_computation() -> None:
    cache = FigureCache(60)
    inside, release = threading.Event(), threading.Event()

    def stale() -> str:
        inside.set()
        release.wait(5)
        return "stale"

    answers: list[str] = []
    leader = threading.Thread(target=lambda: answers.append(cache.get("cases.x", "k", stale)))
    leader.start()
    assert inside.wait(5)
    cache.on_event("cases.changed", {"id": 1, "kind": "submitted"})
    assert cache.get("cases.x", "k", lambda: "fresh") == "fresh"  # did not block on it
    release.set()
    leader.join(5)
    assert answers == ["stale"]
    assert cache.get("cases.x", "k", lambda: "other") == "fresh"  # the stale one was not kept


def test_readings_drop_the_sensor_figures_at_most_once_per_throttle_period() -> None:
    clock = [100.0]
    cache = FigureCache(60, clock=lambda: clock[0])
    computed = count()

    def sensors() -> int:
        return cache.get("sensors.layer", "", lambda: next(computed))

    cases = cache.get("cases.counts", "", lambda: "cases")
    assert sensors() == 0
    cache.on_event("sta.changed", READINGS)  # the first readings drop them at once
    assert sensors() == 1
    clock[0] += 1
    cache.on_event("sta.changed", READINGS)  # marked stale, kept for now
    assert sensors() == 1
    clock[0] += READINGS_THROTTLE - 1.1
    assert sensors() == 1
    clock[0] += 0.1  # READINGS_THROTTLE after the last drop: the stale figures go
    assert sensors() == 2
    clock[0] += 1
    assert sensors() == 2  # no readings since
    cache.on_event("sta.changed", {"entity": "Things", "op": "update", "ids": [3]})
    assert sensors() == 3  # other SensorThings writes drop them at once
    clock[0] += READINGS_THROTTLE
    cache.on_event("sta.changed", READINGS)  # the last drop by readings is old enough
    assert sensors() == 4
    assert cache.get("cases.counts", "", lambda: "again") == cases  # readings leave cases


def test_a_figure_of_the_past_is_kept_past_the_cache_ttl_and_never_dropped_by_events() -> None:
    clock = [0.0]
    cache = FigureCache(10, clock=lambda: clock[0])
    numbers = count(1)
    past = lambda: cache.get("history.reporting", "k", lambda: next(numbers), ttl=3600)  # noqa: E731
    now = lambda: cache.get("sensors.reporting", "k", lambda: next(numbers))  # noqa: E731
    assert (past(), now()) == (1, 2)
    clock[0] = 60.0  # the cache's own ttl has passed
    cache.on_event("sta.changed", {"entity": "Datastream", "op": "update", "ids": [4]})
    assert (past(), now()) == (1, 3)
    clock[0] = 3601.0
    assert past() == 4


def test_with_the_cache_off_nothing_is_kept_whatever_the_ttl() -> None:
    cache = FigureCache(0)
    numbers = count(1)
    assert [cache.get("history.x", "k", lambda: next(numbers), ttl=3600) for _ in range(2)] == [
        1,
        2,
    ]
