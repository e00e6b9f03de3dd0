"""MQTT ingestion: turn published messages into readings, store them in batches, and
acknowledge each message only after the batch holding it has committed.

A worker (``cityos ingest``, or the task embedded in ``cityos serve``) holds an MQTT 5
persistent session (clean start off, a session expiry) with shared subscriptions
(``$share/<group>/…``), so several workers split the load and a restarted worker gets what
it had not acknowledged. Storing is idempotent on (datastream, phenomenon time), so a
redelivered message stores nothing twice. Messages that do not fit become dead letters;
the worker never stops on bad input. Database outages are retried without acknowledging.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cityos.config import Settings
from cityos.db import transaction, utcnow
from cityos.errors import CityOSError
from cityos.sensing import deadletters, mqtt_topics
from cityos.sensing.deadletters import Letter
from cityos.sensing.readings import Reading, check_result, parse_period, parse_time
from cityos.sensing.store import invalidate_metadata, store_readings, stream_infos

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
REPORT_S = 10.0


@dataclass(frozen=True)
class IngestConfig:
    host: str
    port: int
    client_id: str
    group: str
    prefix: str = ""
    batch_size: int = 1000
    batch_ms: float = 50.0
    session_expiry_s: int = SESSION_EXPIRY_S

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        client_id: str | None = None,
        prefix: str | None = None,
        group: str | None = None,
    ) -> IngestConfig:
        if not settings.mqtt_url:
            raise CityOSError("No MQTT broker is configured; set CITYOS_MQTT_URL.")
        host, port = broker_address(settings.mqtt_url)
        return cls(
            host=host,
            port=port,
            client_id=client_id or settings.mqtt_client_id,
            group=group if group is not None else settings.mqtt_share_group,
            prefix=prefix if prefix is not None else settings.mqtt_topic_prefix,
            batch_size=settings.ingest_batch_size,
            batch_ms=settings.ingest_batch_ms,
        )


def broker_address(url: str) -> tuple[str, int]:
    """Host and port of an ``mqtt://host[:port]`` URL."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp"):
        raise CityOSError(f"CITYOS_MQTT_URL {url!r}: use mqtt://host:port (TLS is not supported).")
    return parts.hostname or "127.0.0.1", parts.port or 1883


# --- decoding ------------------------------------------------------------------------------


@dataclass
class Decoded:
    """Readings of one message (not yet checked against their datastreams) and letters."""

    topic: str = ""
    readings: list[Reading] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)


def _ref(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, dict):
        ref = value.get("@iot.id")
        if isinstance(ref, int) and not isinstance(ref, bool):
            return ref
    raise ValueError(f'{name} must be a reference like {{"@iot.id": 7}}')


def _observation(body: Any, target: mqtt_topics.Target, now: datetime) -> Reading:
    if not isinstance(body, dict):
        raise ValueError("the payload must be a JSON object (an Observation)")
    if "result" not in body:
        raise ValueError("the Observation has no result")
    datastream = target.datastream_id or _ref(body, "Datastream")
    multi = target.multi_datastream_id or _ref(body, "MultiDatastream")
    if (datastream is None) == (multi is None):
        raise ValueError("name exactly one Datastream or MultiDatastream (in the topic or body)")
    feature = target.feature_id or _ref(body, "FeatureOfInterest")
    raw_time = body.get("phenomenonTime")
    if raw_time is None:
        start, end = now, None
    else:
        start, end = parse_period(raw_time, what="phenomenonTime")
    result_time = body.get("resultTime")
    valid = body.get("validTime")
    valid_start, valid_end = (
        parse_period(valid, what="validTime") if valid is not None else (None, None)
    )
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise ValueError("parameters must be a JSON object")
    return Reading(
        datastream_id=datastream,
        multi_datastream_id=multi,
        phenomenon_start=start,
        phenomenon_end=end,
        result=body["result"],
        result_time=parse_time(result_time, what="resultTime") if result_time else None,
        result_quality=body.get("resultQuality"),
        valid_start=valid_start,
        valid_end=valid_end,
        parameters=parameters,
        feature_id=feature,
    )


MAX_DEPTH = 32  # nesting of arrays and objects a message may have


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send a finite number or null")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a double")
    return value


def _too_deep(value: Any) -> bool:
    """True when ``value`` nests arrays/objects deeper than :data:`MAX_DEPTH` (no recursion)."""
    level: list[Any] = [value]
    for _depth in range(MAX_DEPTH + 1):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return True


def strict_json(payload: bytes) -> Any:
    """Parse ``payload`` as strict JSON: UTF-8, no NaN/Infinity, finite numbers, nesting at
    most :data:`MAX_DEPTH` deep. ValueError (with the reason) otherwise."""
    try:
        body = json.loads(payload, parse_constant=_no_constant, parse_float=_finite)
    except UnicodeDecodeError:
        raise ValueError("the payload is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{error.msg} at line {error.lineno}, column {error.colno}") from None
    except RecursionError:
        raise ValueError(f"arrays and objects nest more than {MAX_DEPTH} levels deep") from None
    if _too_deep(body):
        raise ValueError(f"arrays and objects nest more than {MAX_DEPTH} levels deep")
    return body


def decode(topic: str, target: mqtt_topics.Target, payload: bytes, now: datetime) -> Decoded:
    """The readings a message carries, and a dead letter for each part that is unusable."""
    out = Decoded(topic)
    try:
        body = strict_json(payload)
    except ValueError as error:  # also too many digits in an integer
        out.letters.append(Letter("mqtt", topic, payload, f"malformed JSON: {error}"))
        return out
    if not target.bulk:
        try:
            out.readings.append(_observation(body, target, now))
        except (ValueError, CityOSError) as error:
            out.letters.append(Letter("mqtt", topic, payload, _reason(error)))
        return out
    if not isinstance(body, list):
        out.letters.append(
            Letter(
                "mqtt",
                topic,
                payload,
                'the bulk payload must be a JSON array of {"datastream", "t", "v"}',
            )
        )
        return out
    for item in body:
        try:
            if not isinstance(item, dict):
                raise ValueError(
                    'each item must be an object {"datastream": id, "t": time, "v": value}'
                )
            datastream, value = item.get("datastream"), item.get("v")
            if not isinstance(datastream, int) or isinstance(datastream, bool):
                raise ValueError("datastream must be an integer id")
            if value is None:
                raise ValueError("v (the result) is missing")
            start = parse_time(item.get("t"), what="t")
            out.readings.append(Reading(datastream, None, start, None, value))
        except (ValueError, CityOSError) as error:
            out.letters.append(Letter("mqtt", topic, json.dumps(item), _reason(error)))
    return out


def _reason(error: Exception) -> str:
    return error.message if isinstance(error, CityOSError) else str(error)


def check(
    db_session: Session, readings: list[Reading], topic_of: list[str]
) -> tuple[list[Reading], list[str], list[Letter]]:
    """Split readings into those that fit their (Multi)Datastream and dead letters."""
    infos = stream_infos(
        db_session,
        {r.datastream_id for r in readings if r.datastream_id is not None},
        {r.multi_datastream_id for r in readings if r.multi_datastream_id is not None},
    )
    good: list[Reading] = []
    good_topics: list[str] = []
    letters: list[Letter] = []
    for reading, topic in zip(readings, topic_of, strict=True):
        multi = reading.datastream_id is None
        owner = reading.multi_datastream_id if multi else reading.datastream_id
        kind = "MultiDatastream" if multi else "Datastream"
        info = infos.get((multi, owner or 0))
        try:
            if info is None:
                raise ValueError(f"there is no {kind} with id {owner}")
            if multi:
                result = reading.result
                if not isinstance(result, list) or len(result) != info.components:
                    raise ValueError(f"{kind} {owner} takes an array of {info.components} results")
                for position, (part, kind_uri) in enumerate(
                    zip(result, info.result_types, strict=True)
                ):
                    check_result(part, kind_uri, what=f"result[{position}]")
            else:
                check_result(reading.result, info.observation_type, what="result")
        except (ValueError, CityOSError) as error:
            letters.append(Letter("mqtt", topic, _reading_text(reading), _reason(error)))
            continue
        good.append(reading)
        good_topics.append(topic)
    return good, good_topics, letters


def _reading_text(reading: Reading) -> str:
    text: dict[str, Any] = {
        "datastream": reading.datastream_id,
        "multiDatastream": reading.multi_datastream_id,
        "t": reading.phenomenon_start.isoformat(),
        "v": reading.result,
    }
    if reading.feature_id is not None:
        text["featureOfInterest"] = reading.feature_id
    return json.dumps(text, default=str)


# --- the worker ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


class Ingestor:
    """One ingest worker: an MQTT session feeding batches into the store."""

    def __init__(
        self,
        config: IngestConfig,
        factory: sessionmaker[Session],
        *,
        on_client: Callable[[mqtt.Client], None] | None = None,
    ) -> None:
        self.config = config
        self.factory = factory
        self.received = 0
        self.stored = 0
        self.rejected = 0
        # bounded: when storing falls behind, paho's network thread waits here, the socket
        # fills and the broker keeps the rest; unacknowledged messages (at most the Receive
        # Maximum announced below) are redelivered to the session after a crash
        self._queue: queue.Queue[_Message] = queue.Queue(max(100, config.batch_size * 2))
        self._stop = threading.Event()
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        if on_client is not None:
            on_client(self.client)

    # MQTT callbacks run on paho's network thread: keep them short.
    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connect refused: %s", reason)
            return
        self._generation += 1
        options = SubscribeOptions(qos=1)
        client.subscribe([(topic, options) for topic in self._subscriptions()])
        self._connected.set()
        log.info(
            "ingest connected to %s:%s as %s",
            self.config.host,
            self.config.port,
            self.config.client_id,
        )

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, codes: Any, _p: Any
    ) -> None:
        if any(code.is_failure for code in codes):
            log.error("MQTT subscription refused: %s", codes)
            return
        log.info("ingest subscribed to %s", ", ".join(self._subscriptions()))
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = getattr(message, "properties", None)
        user = getattr(props, "UserProperty", None) if props is not None else None
        if user and mqtt_topics.NOTICE_PROPERTY in user:
            if message.qos:
                client.ack(message.mid, message.qos)
            return
        self._queue.put(
            _Message(
                message.topic, bytes(message.payload), message.mid, message.qos, self._generation
            )
        )

    def _subscriptions(self) -> list[str]:
        return mqtt_topics.subscriptions(self.config.prefix, self.config.group)

    # lifecycle
    def start(self) -> None:
        """Connect (in the background, reconnecting as needed) and start storing."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = min(65535, max(100, self.config.batch_size * 4))
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="cityos-ingest", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until connected and subscribed; False when ``timeout`` passed first."""
        return self._subscribed.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is queued, then disconnect (unstored messages stay unacknowledged)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        report = time.monotonic() + REPORT_S
        while not self._stop.is_set() or not self._queue.empty():
            batch = self._take()
            if batch:
                self.received += len(batch)
                self._handle(batch)
            if time.monotonic() > report:
                report = time.monotonic() + REPORT_S
                log.info(
                    "ingest: received %d, stored %d, rejected %d, waiting %d",
                    self.received,
                    self.stored,
                    self.rejected,
                    self._queue.qsize(),
                )

    def _take(self) -> list[_Message]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.batch_ms / 1000
        size = self.config.batch_size
        while len(batch) < size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[_Message]) -> None:
        now = utcnow()
        decoded = [self._decode(message, now) for message in batch]
        try:
            if not self._retrying(partial(self._store, decoded, now)):
                return  # stopping while the database is away: leave them unacknowledged
        except Exception as error:
            # bad input the checks missed (or a datastream changed under the cache):
            # store item by item so only the offenders become dead letters
            log.warning("a batch failed (%s); storing it item by item", _failure(error))
            invalidate_metadata()
            if not self._store_one_by_one(decoded, now):
                return
        for message in batch:
            if message.qos and message.generation == self._generation:
                self.client.ack(message.mid, message.qos)

    def _decode(self, message: _Message, now: datetime) -> Decoded:
        target = mqtt_topics.parse(message.topic, self.config.prefix)
        if target is None:
            reason = (
                "not an ingest topic: publish Observations to v1.1/Observations, "
                "v1.1/Datastreams(id)/Observations or the bulk topic"
            )
            return Decoded(
                message.topic, letters=[Letter("mqtt", message.topic, message.payload, reason)]
            )
        try:
            return decode(message.topic, target, message.payload, now)
        except Exception as error:  # a decoding gap must not stop the worker
            letter = Letter("mqtt", message.topic, message.payload, _failure(error))
            return Decoded(message.topic, letters=[letter])

    def _retrying(self, action: Callable[[], None]) -> bool:
        """Run ``action``, retrying while the database is unreachable; False when asked to
        stop first. Any other error (bad input) is raised."""
        while True:
            try:
                action()
                return True
            except Exception as error:
                if not unreachable(error):
                    raise
                if self._stop.is_set():
                    return False
                log.warning("the database is unreachable, retrying: %s", error)
                time.sleep(1.0)

    def _store(self, decoded: list[Decoded], now: datetime) -> None:
        readings = [r for d in decoded for r in d.readings]
        topics = [d.topic for d in decoded for _ in d.readings]
        letters = [letter for d in decoded for letter in d.letters]
        with transaction(self.factory) as db_session:
            good, _topics, bad = check(db_session, readings, topics)
            result = store_readings(db_session, good, now=now)
            deadletters.record(db_session, letters + bad, now=now)
        self.stored += result.stored
        self.rejected += len(letters) + len(bad)

    def _store_one_by_one(self, decoded: list[Decoded], now: datetime) -> bool:
        """Store each reading (and the letters) on its own; a reading that fails becomes a
        dead letter. False when asked to stop during a database outage."""
        for item in _units(decoded):
            try:
                if not self._retrying(partial(self._store, [item], now)):
                    return False
            except Exception as error:
                reason = _failure(error)
                letters = [
                    Letter("mqtt", item.topic, _reading_text(r), reason) for r in item.readings
                ]
                if not self._retrying(partial(self._record, letters, now)):
                    return False
                self.rejected += len(letters)
        return True

    def _record(self, letters: list[Letter], now: datetime) -> None:
        with transaction(self.factory) as db_session:
            deadletters.record(db_session, letters, now=now)


def _units(decoded: list[Decoded]) -> Iterator[Decoded]:
    """The letters of a batch, then each of its readings alone."""
    letters = [letter for d in decoded for letter in d.letters]
    if letters:
        yield Decoded("", letters=letters)
    for item in decoded:
        for reading in item.readings:
            yield Decoded(item.topic, readings=[reading])


def unreachable(error: BaseException) -> bool:
    """True for a database connection problem (worth retrying); False for an error that the
    input caused (a value out of range, a broken reference, a type the column refuses)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError)


def _failure(error: BaseException) -> str:
    """A dead letter's reason for ``error``."""
    if isinstance(error, CityOSError):
        return error.message
    if isinstance(error, DBAPIError):
        first = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else ""
        return f"the database refused it: {first or type(error.orig).__name__}"[:500]
    return f"could not be stored: {type(error).__name__}: {error}"[:500]


def start_in_server(settings: Settings, factory: sessionmaker[Session]) -> Callable[[], None]:
    """With a broker configured: the MQTT notification bridge and, when ``ingest_embedded``,
    an ingest task, for ``cityos serve``. Returns the function that stops them."""
    if not settings.mqtt_url:
        return lambda: None
    from cityos.sensing.mqtt_bridge import MqttBridge

    bridge = MqttBridge(settings, factory)
    worker: Ingestor | None = None
    if settings.ingest_embedded:
        config = IngestConfig.from_settings(settings)
        worker = Ingestor(config, factory, on_client=bridge.attach)
        worker.start()
    bridge.start()

    def stop() -> None:
        if worker is not None:
            worker.stop()
        bridge.stop()

    return stop
