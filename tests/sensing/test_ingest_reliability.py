"""Reliability: 200,000 observations published over MQTT at QoS 1, one per message, while
the ``cityos ingest`` worker is killed with SIGKILL twice and restarted: exactly 200,000
are stored, none lost, none twice.

Mosquitto keeps at most ``max_queued_messages`` (1000 by default) QoS 1 messages for a
disconnected persistent session and drops the rest, so with default settings a worker that
is down while readings keep coming loses them, whatever the worker does. A deployment raises
that limit (docs/sensing.md); this test runs its own Mosquitto configured so
(``max_queued_messages 1000000``; 0, meant as no limit, misbehaves in some versions), or
the broker named by ``CITYOS_TEST_RELIABLE_MQTT`` (``host:port``) if that one is.

A broker drops what is published to a topic nobody has subscribed yet, so publishing starts
only once the first worker has subscribed (and its session exists).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cityos.db import make_engine, make_session_factory
from cityos.sensing.models import Observation
from tests.conftest import _empty_postgres, need_service
from tests.sensing.ingest_support import make_datastreams, make_thing
from tests.sensing.mqtt_support import broker_up

TOTAL = 200_000
STREAMS = 100
KILL_AT = (40_000, 110_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def reliable_broker(tmp_path: Path) -> Iterator[tuple[str, int]]:
    named = os.environ.get("CITYOS_TEST_RELIABLE_MQTT")
    if named:
        host, _, port = named.partition(":")
        yield host, int(port or 1883)
        return
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        need_service("the mosquitto binary is needed to run a broker configured for this test")
    port = _free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\n"
    )
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not broker_up("127.0.0.1", port):
            if time.monotonic() > deadline:
                pytest.fail("the test's Mosquitto did not start")
            time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(10)


def _worker(url: str, broker: tuple[str, int], tag: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CITYOS_DATABASE_URL": url,
        "CITYOS_MQTT_URL": f"mqtt://{broker[0]}:{broker[1]}",
        "CITYOS_INGEST_BATCH_SIZE": "2000",
    }
    command = [sys.executable, "-m", "cityos", "ingest", "--client-id", tag, "--group", tag]
    command += ["--topic-prefix", f"{tag}/", "--no-notify"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_subscribed(log: Path, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while b"ingest subscribed to" not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail("the ingest worker did not subscribe:\n" + log.read_text()[-3000:])
        time.sleep(0.1)


def test_no_observation_is_lost_or_stored_twice_when_the_worker_is_killed(
    postgres_url: str, reliable_broker: tuple[str, int], tmp_path: Path
) -> None:
    engine = make_engine(postgres_url)
    factory = make_session_factory(engine)
    tag = f"cityos-reliability-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    try:
        with factory() as db:
            streams = [ds.id for ds in make_datastreams(db, make_thing(db), STREAMS)]
            db.commit()

        def count() -> int:
            with factory() as session:
                return session.scalar(select(func.count()).select_from(Observation)) or 0

        worker = _worker(postgres_url, reliable_broker, tag, log)
        publisher = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{tag}-pub", protocol=mqtt.MQTTv5
        )
        # paho's default in-flight window (20) matches Mosquitto's receive maximum; a client
        # exceeding it gets its publishes refused, which the check below would catch
        refused: list[Any] = []

        def on_publish(_c: Any, _u: Any, _mid: int, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                refused.append(reason)

        publisher.on_publish = on_publish
        publisher.connect(*reliable_broker)
        publisher.loop_start()
        # the broker drops what is published before the first subscription exists; once the
        # worker has subscribed, its session keeps what it misses while it is down
        _wait_subscribed(log, worker)

        def publish_all() -> None:
            infos: list[mqtt.MQTTMessageInfo] = []
            for i in range(TOTAL):
                ds = streams[i % STREAMS]
                second = i // STREAMS
                payload = (
                    f'{{"result": {i}, "phenomenonTime": '
                    f'"2024-05-01T{second // 3600:02d}:{second // 60 % 60:02d}:'
                    f'{second % 60:02d}Z"}}'
                )
                topic = f"{tag}/v1.1/Datastreams({ds})/Observations"
                infos.append(publisher.publish(topic, payload, qos=1))
                if len(infos) == 2000:  # keep paho's outgoing queue short
                    for info in infos:
                        info.wait_for_publish(60)
                    infos.clear()
            for info in infos:
                info.wait_for_publish(60)

        sending = threading.Thread(target=publish_all)
        started = time.monotonic()
        sending.start()
        for threshold in KILL_AT:
            deadline = time.monotonic() + 120
            while count() < threshold and time.monotonic() < deadline:
                time.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            worker = _worker(postgres_url, reliable_broker, tag, log)
        sending.join(120)
        published = time.monotonic() - started
        # wait while the worker makes progress (a stall of 30 s ends the wait)
        last, still_since = -1, time.monotonic()
        while (now_count := count()) < TOTAL and time.monotonic() - still_since < 30:
            if now_count != last:
                last, still_since = now_count, time.monotonic()
            time.sleep(0.2)
        time.sleep(2)  # anything still redelivered must not add rows
        elapsed = time.monotonic() - started
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        publisher.disconnect()
        publisher.loop_stop()

        with factory() as session:
            total = session.scalar(select(func.count()).select_from(Observation))
            distinct = session.scalar(
                select(func.count()).select_from(
                    select(Observation.result_number).distinct().subquery()
                )
            )
        print(
            f"reliability: {TOTAL} observations published in {published:.1f} s, "
            f"stored in {elapsed:.1f} s, two SIGKILLs"
        )
        assert refused == []  # the broker took every message
        assert total == TOTAL, log.read_text()[-3000:]
        assert distinct == TOTAL
    finally:
        _empty_postgres(engine)
        engine.dispose()
