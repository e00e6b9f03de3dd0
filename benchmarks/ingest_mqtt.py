"""MQTT ingestion: observations/s through Mosquitto into the store, against a bare subscriber.

A private Mosquitto (started for the run on a free port: no persistence, QoS 1 messages
queued without limit, and no broker cap on messages in flight, so the client's MQTT 5 Receive
Maximum decides — Mosquitto's default of 20 would starve a manual-ack worker that batches
1,000 readings) and a database with 1,000 datastreams
(``sensing_support.seed_sensors``; not timed). The real worker, ``cityos ingest``, runs as
its own process against both. One publisher (paho-mqtt, MQTT 3.1.1, QoS 1, up to 1,000
messages in flight) in this process publishes a prepared run of messages as fast as it can:

* single: one reading per message, ``v1.1/Datastreams(<id>)/Observations`` with
  ``{"phenomenonTime": …, "result": …}`` (the SensorThings MQTT create);
* bulk: ``cityos/v1/observations`` with a JSON array of 100 ``{"datastream", "t", "v"}``.

Ours: from the first publish until the last observation is stored (polling ``max(id)`` on the
observation table, which is emptied before each run); then every observation is counted and
the dead letters too. Baseline, alternating run by run (A, B, A, B …): a bare paho-mqtt
subscriber process (MQTT 5, QoS 1, one callback that counts) on the same broker, the same
publisher and the same payloads (topics prefixed ``bare/``, so the worker does not see
them), from the first publish until it has counted every message. Targets: single readings
>= 0.8 x the bare subscriber's messages/s; batches >= 100,000 observations/s.

``--database sqlite|postgresql|both`` (default: both when PostgreSQL answers at
``CITYOS_TEST_POSTGRES_URL``; a scratch schema, dropped afterwards).

Run: ``python benchmarks/ingest_mqtt.py`` or ``--quick``. A warm-up of 2,000 observations
sizes each kind's runs to about ``--seconds`` of ours (12; quick 3) within 10 … ``--singles``
(100,000; quick 3,000) single or ``--bulks`` (10,000; quick 200) bulk messages; 5 pairs of
each (quick 2): about 3 minutes per database, under a minute per database with ``--quick``.
``--no-notify`` runs the worker without SensorThings change notifications (for a diagnosis).
Results are appended to ``benchmarks/RESULTS.md`` after a full run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from cases_support import append_results, database_label, free_port, machine, versions
from cityos.db import make_engine
from data_query import database, postgres_reachable
from sensing_support import clear_observations, counts, iso, seed_sensors, stored

STREAMS = 1_000
BATCH = 100
TARGET_RATIO = 0.8
TARGET_BULK = 100_000
STALL_SECONDS = 60.0
WINDOW = 1_000
WARM_OBSERVATIONS = 2_000
MIN_MESSAGES = 10
INGEST = [sys.executable, "-m", "cityos", "ingest"]
BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
set_tcp_nodelay true
log_dest stderr
log_type error
"""

# The baseline: a subscriber that only counts. It reads "expect N" lines on stdin, answers
# "ok", and prints "done <monotonic clock>" once it has counted N more messages.
BARE = r"""
import sys, threading, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

port, topic = int(sys.argv[1]), sys.argv[2]
state = {"count": 0, "target": None}
subscribed = threading.Event()

def on_message(client, userdata, message):
    state["count"] += 1
    if state["count"] == state["target"]:
        print(f"done {time.monotonic()!r}", flush=True)

client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
client.on_message = on_message
client.on_subscribe = lambda *args: subscribed.set()
client.connect("127.0.0.1", port)
client.loop_start()
client.subscribe(topic, qos=1)
subscribed.wait(10)
print("ready", flush=True)
for line in sys.stdin:
    state["count"], state["target"] = 0, int(line.split()[1])
    print("ok", flush=True)
client.loop_stop()
"""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Measured:
    seconds: float
    observations: int
    messages: int
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.observations / self.seconds

    @property
    def message_rate(self) -> float:
        return self.messages / self.seconds


class Broker:
    """A private Mosquitto on a free port."""

    def __init__(self, folder: Path) -> None:
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(BROKER_CONF.format(port=self.port), encoding="utf-8")
        self.process = subprocess.Popen([executable, "-c", str(conf)])  # noqa: S603
        wait_port(self.port, self.process)

    def stop(self) -> None:
        stop(self.process)


def wait_port(port: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on port {port}") from None
            time.sleep(0.05)


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Publisher:
    """One paho-mqtt client (MQTT 3.1.1) publishing at QoS 1 from a network thread, with at
    most :data:`WINDOW` messages unacknowledged (paho's own queue of messages waiting for a
    slot is scanned on every acknowledgement, which would make the publisher the bottleneck)."""

    def __init__(self, port: int) -> None:
        self.window = threading.BoundedSemaphore(WINDOW)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-publisher", protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._acknowledged
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _acknowledged(self, *_: object) -> None:
        self.window.release()

    def publish(self, messages: list[Message], prefix: str = "") -> None:
        for message in messages:
            self.window.acquire()
            self.client.publish(prefix + message.topic, message.payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def single_messages(run: int, count: int, rng: np.random.Generator) -> list[Message]:
    """``count`` one-reading messages; run ``run``'s readings are an hour apart from others'."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=run)
    values = np.round(rng.uniform(0, 100, count), 2)
    return [
        Message(
            f"v1.1/Datastreams({i % STREAMS + 1})/Observations",
            json.dumps(
                {
                    "phenomenonTime": iso(start + timedelta(seconds=i // STREAMS)),
                    "result": float(values[i]),
                }
            ).encode(),
        )
        for i in range(count)
    ]


def bulk_messages(run: int, count: int, rng: np.random.Generator) -> list[Message]:
    """``count`` bulk messages of :data:`BATCH` readings each."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=run)
    values = np.round(rng.uniform(0, 100, count * BATCH), 2)
    messages = []
    for m in range(count):
        rows = []
        for j in range(BATCH):
            i = m * BATCH + j
            rows.append(
                {
                    "datastream": i % STREAMS + 1,
                    "t": iso(start + timedelta(seconds=i // STREAMS)),
                    "v": float(values[i]),
                }
            )
        messages.append(Message("cityos/v1/observations", json.dumps(rows).encode()))
    return messages


class Worker:
    """``cityos ingest`` in its own process."""

    def __init__(self, url: str, broker: Broker, folder: Path, *, notify: bool) -> None:
        env = {
            **os.environ,
            "CITYOS_DATABASE_URL": url,
            "CITYOS_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
            "CITYOS_SECRET_KEY": "benchmark-secret",
            "CITYOS_MQTT_CLIENT_ID": f"bench-ingest-{os.getpid()}",
            "CITYOS_WORKER_INTERVAL_SECONDS": "0",
        }
        self.log = (folder / "ingest.log").open("w+", encoding="utf-8")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*INGEST, "--notify" if notify else "--no-notify"],
            env=env,
            cwd=folder,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self) -> None:
        stop(self.process)
        self.log.close()


def wait_stored(
    engine: Engine, expected: int, worker: Worker, *, stall: float = STALL_SECONDS
) -> float:
    """Poll until ``expected`` observations are stored; the monotonic time they were."""
    last, last_change = -1, time.monotonic()
    with engine.connect() as connection:
        while True:
            now = time.monotonic()
            have = stored(connection)
            if have >= expected:
                return now
            if have != last:
                last, last_change = have, now
            if worker.process.poll() is not None:
                raise RuntimeError(f"cityos ingest stopped:\n{worker.tail()}")
            if now - last_change > stall:
                raise RuntimeError(
                    f"no progress for {stall:.0f} s at {have:,} of {expected:,} observations; "
                    f"cityos ingest says:\n{worker.tail()}"
                )
            time.sleep(0.01)


def wait_subscribed(engine: Engine, publisher: Publisher, worker: Worker) -> None:
    """Publish a probe reading every half second until the worker has stored one (messages
    published before it has subscribed are not kept for it)."""
    deadline = time.monotonic() + 120
    probe = 0
    with engine.connect() as connection:
        while stored(connection) == 0:
            if worker.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cityos ingest stores nothing:\n{worker.tail()}")
            moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=probe)
            payload = json.dumps({"phenomenonTime": iso(moment), "result": 0.0}).encode()
            publisher.publish([Message("v1.1/Datastreams(1)/Observations", payload)])
            probe += 1
            time.sleep(0.5)


def run_ours(
    engine: Engine, publisher: Publisher, worker: Worker, messages: list[Message], per: int
) -> Measured:
    clear_observations(engine)
    expected = len(messages) * per
    start = time.monotonic()
    publisher.publish(messages)
    done = wait_stored(engine, expected, worker)
    time.sleep(0.2)  # anything beyond the expected count would show now
    have, dead = counts(engine)
    errors = abs(have - expected) + dead
    if errors:
        print(f"  ours: {have:,} stored of {expected:,}, {dead:,} dead letters", file=sys.stderr)
    return Measured(done - start, expected, len(messages), errors)


class Bare:
    """The counting subscriber process."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", BARE, str(broker.port), topic],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        out: IO[str] | None = self.process.stdout
        assert out is not None
        return out.readline().strip()

    def run(self, publisher: Publisher, messages: list[Message], per: int) -> Measured:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(f"expect {len(messages)}\n")
        stdin.flush()
        assert self._line() == "ok"
        start = time.monotonic()
        publisher.publish(messages, prefix="bare/")
        answer = self._line()
        if not answer.startswith("done "):
            raise RuntimeError(f"the bare subscriber said {answer!r}")
        return Measured(float(answer.split()[1]) - start, len(messages) * per, len(messages))

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        stop(self.process)


# --- one database --------------------------------------------------------------------------


def run(
    kind: str, folder: Path, *, limits: dict[str, int], seconds: float, pairs: int, notify: bool
) -> dict[str, Any]:
    with database(kind, folder) as url:
        seeded = seed_sensors(url, datastreams=STREAMS)
        print(f"{kind}: {STREAMS:,} datastreams made in {seeded.seconds:.1f} s", file=sys.stderr)
        engine = make_engine(url)
        label = database_label(url, engine)
        rng = np.random.default_rng(20_261_208)
        broker = Broker(folder)
        worker = Worker(url, broker, folder, notify=notify)
        bare = Bare(broker, "bare/#")
        publisher = Publisher(broker.port)
        results: dict[str, Any] = {"single": [], "bulk": [], "sizes": {}}
        plans: list[tuple[str, int, Callable[[int, int, np.random.Generator], list[Message]]]] = [
            ("single", 1, single_messages),
            ("bulk", BATCH, bulk_messages),
        ]
        try:
            wait_subscribed(engine, publisher, worker)
            day = 1
            for name, per, make in plans:
                # warm-up, which also sizes the runs: about `seconds` each for ours
                warm = make(day, WARM_OBSERVATIONS // per, rng)
                day += 1
                rate = run_ours(engine, publisher, worker, warm, per).rate
                bare.run(publisher, warm, per)
                count = int(min(limits[name], max(MIN_MESSAGES, rate * seconds / per)))
                results["sizes"][name] = count
                for _ in range(pairs):
                    messages = make(day, count, rng)
                    day += 1
                    ours = run_ours(engine, publisher, worker, messages, per)
                    base = bare.run(publisher, messages, per)
                    print(
                        f"  {name} ({count:,} messages): ours {ours.rate:,.0f} obs/s | bare "
                        f"{base.message_rate:,.0f} msg/s ({base.rate:,.0f} obs/s)",
                        file=sys.stderr,
                    )
                    results[name].append((ours, base))
        finally:
            publisher.close()
            bare.stop()
            worker.stop()
            broker.stop()
            engine.dispose()
    return {"kind": kind, "label": label, "seconds": seeded.seconds, **results}


def summary(pairs: list[tuple[Measured, Measured]]) -> tuple[float, float, float, float]:
    """(our obs/s, baseline msg/s, baseline obs/s, median pair ratio of obs/s)."""
    ours = statistics.median(a.rate for a, _ in pairs)
    base_messages = statistics.median(b.message_rate for _, b in pairs)
    base = statistics.median(b.rate for _, b in pairs)
    ratio = statistics.median(a.rate / b.rate for a, b in pairs)
    return ours, base_messages, base, ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="Small runs, 2 pairs (< 1 min).")
    parser.add_argument(
        "--seconds", type=float, help="About how long each of our runs lasts (default 12)."
    )
    parser.add_argument(
        "--singles", type=int, help="At most this many single-reading messages per run."
    )
    parser.add_argument("--bulks", type=int, help="At most this many bulk messages per run.")
    parser.add_argument("--pairs", type=int, help="Alternating pairs (default 5).")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), help="Default: both if reachable."
    )
    parser.add_argument(
        "--no-notify",
        action="store_true",
        help="Run the worker with --no-notify (no SensorThings change notifications published).",
    )
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    notify = not args.no_notify
    singles = args.singles or (3_000 if args.quick else 100_000)
    bulks = args.bulks or (200 if args.quick else 10_000)
    seconds = args.seconds or (3.0 if args.quick else 12.0)
    pairs = args.pairs or (2 if args.quick else 5)
    kinds = ["sqlite", "postgresql"] if postgres_reachable() else ["sqlite"]
    if args.database in ("sqlite", "postgresql"):
        kinds = [args.database]
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as folder_name:
        for kind in kinds:
            results.append(
                run(
                    kind,
                    Path(folder_name),
                    limits={"single": singles, "bulk": bulks},
                    seconds=seconds,
                    pairs=pairs,
                    notify=notify,
                )
            )
    rows: list[tuple[str, ...]] = []
    ok = True
    for result in results:
        name = "SQLite" if result["kind"] == "sqlite" else "PostgreSQL"
        s_ours, s_base_msg, _, s_ratio = summary(result["single"])
        b_ours, b_base_msg, b_base, b_ratio = summary(result["bulk"])
        errors = sum(a.errors for a, _ in result["single"] + result["bulk"])
        print(
            f"ingest_mqtt ({result['kind']}): single readings {s_ours:,.0f} obs/s; baseline raw "
            f"paho subscriber {s_base_msg:,.0f} msg/s; ratio {s_ratio:.2f} (target >= "
            f"{TARGET_RATIO:.2f}); batches of {BATCH} {b_ours:,.0f} obs/s (target >= "
            f"{TARGET_BULK:,}; baseline {b_base_msg:,.0f} msg/s = {b_base:,.0f} obs/s)"
            + (f"; {errors} ERRORS (missing, extra or dead-lettered)" if errors else "")
        )
        ok = ok and s_ratio >= TARGET_RATIO and b_ours >= TARGET_BULK and not errors
        rows.append(
            (
                f"{name}: one reading per message, QoS 1 (obs/s)",
                f"**{s_ours:,.0f}**",
                f"{s_base_msg:,.0f} msg/s (bare paho subscriber)",
                f"{s_ratio:.2f}",
                f">= {TARGET_RATIO:.2f}",
            )
        )
        rows.append(
            (
                f"{name}: bulk topic, {BATCH} readings per message (obs/s)",
                f"**{b_ours:,.0f}**",
                f"{b_base_msg:,.0f} msg/s = {b_base:,.0f} obs/s (bare paho subscriber)",
                f"{b_ratio:.2f}",
                f">= {TARGET_BULK:,} obs/s",
            )
        )
    labels = "; ".join(
        f"{r['label']} ({STREAMS:,} datastreams made in {r['seconds']:.0f} s, not timed)"
        for r in results
    )
    sizes = "; ".join(
        f"{r['kind']}: {r['sizes']['single']:,} single, {r['sizes']['bulk']:,} bulk = "
        f"{r['sizes']['bulk'] * BATCH:,} observations per run"
        for r in results
    )
    extra = (
        f"Machine: {machine()}; {versions()}, paho-mqtt {paho.mqtt.__version__}, "
        f"{mosquitto_version()}; databases: {labels}. A private Mosquitto (no persistence, "
        f"QoS 1 queue unlimited, messages in flight capped by each client's Receive Maximum); "
        f"the `cityos ingest` worker in its own process"
        f"{'' if notify else ' (--no-notify: no SensorThings change notifications)'}; "
        f"one publisher (MQTT 3.1.1, QoS 1, "
        f"{WINDOW:,} in flight) in the benchmark process; the baseline a counting paho "
        f"subscriber (MQTT 5, QoS 1) in its own process on the same broker with the same "
        f"publisher and payloads. Per database, after a warm-up that sizes the runs to about "
        f"{seconds:g} s of ours: {pairs} alternating pairs of single-reading messages, then "
        f"{pairs} of bulk messages ({sizes}); timed from the first publish to "
        f"the last observation stored (ours) or counted (baseline); the observation tables "
        f"emptied before each run. Observations missing, extra or dead-lettered: "
        f"{sum(a.errors for r in results for a, _ in r['single'] + r['bulk'])}. Load average "
        f"at the start: {load:.1f}."
    )
    if not args.quick and not args.no_write:
        append_results(
            "ingest_mqtt",
            rows,
            mode="full",
            extra=extra,
            header=("figure", "ours", "baseline", "ratio", "target"),
        )
    return 0 if ok else 1


def mosquitto_version() -> str:
    executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    try:
        out = subprocess.run(  # noqa: S603
            [executable, "-h"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return "Mosquitto"
    first = out.splitlines()[0] if out else "mosquitto"
    return first.replace("mosquitto version", "Mosquitto").strip()


if __name__ == "__main__":
    sys.exit(main())
