"""Relays live events (the in-process bus of :mod:`cityos.events`) between CityOS processes
over MQTT, so an operations screen served by one ``cityos serve`` hears the readings stored
by a ``cityos ingest`` worker, the alerts they raise and the cases another server opened.

Every process has its own origin id. It publishes each event of :data:`RELAYED` to
``<prefix>cityos/bus/<topic>`` as ``{"origin", "topic", "payload"}`` and subscribes to
``<prefix>cityos/bus/#``; what other origins sent is published on its local bus, and never
relayed again (no loops). Its own messages are not even delivered back (MQTT 5 No Local) and
are ignored by origin if a broker echoes them anyway.

QoS 0: live events are hints for screens, not records. A lost one is healed by the next event
or the page's periodic reload; QoS 0 needs no acknowledgements and leaves no queue on the
broker for a process that is down (the session is not persistent: a restarted process does
not replay stale events). paho reconnects by itself.

``sta.changed`` carries only what screens and caches need: an Observation creation's list of
ids, when longer than :data:`MAX_RELAYED_IDS`, is replaced by its ``count`` (``entity``,
``op``, ``fields`` and ``datastreams`` stay). A message that is too big, not JSON or not a
CityOS event is dropped and counted (``rejected``), with a warning at most every
:data:`WARN_SECONDS` saying how many were dropped since the last one.

Restrict ``cityos/bus/#`` on the broker to CityOS processes, for **publishing** as well as
reading (the broker's ACL): a reader sees operator notes and every alert, and a publisher
could inject events (fake alerts, cases and notes) into every operations screen.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cityos import events
from cityos.config import Settings

log = logging.getLogger("cityos.relay")

RELAYED = ("cases.changed", "sensing.alert", "ops.note", "sta.changed")
BUS = "cityos/bus"
MAX_MESSAGE = 1_000_000  # bytes; a bigger message is not a CityOS event
MAX_RELAYED_IDS = 100  # an Observation creation's ids beyond this travel as a count
WARN_SECONDS = 60.0  # at most one warning this often about dropped messages
OBSERVATION_ENTITIES = frozenset({"Observation", "Observations"})

Subscribe = Callable[[str, events.Handler], Callable[[], None]]
Publish = Callable[[str, dict[str, Any]], None]

_local = threading.local()  # the payload a relay is re-publishing in this thread, if any


def new_origin() -> str:
    """An origin id unique to this process (host, pid and a random part)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def slimmed(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as relayed: a ``sta.changed`` Observation creation with more than
    :data:`MAX_RELAYED_IDS` ids carries their ``count`` instead (screens count readings and
    name datastreams; nobody across processes needs each id)."""
    ids = payload.get("ids")
    if (
        topic != "sta.changed"
        or payload.get("entity") not in OBSERVATION_ENTITIES
        or payload.get("op") != "create"
        or not isinstance(ids, list)
        or len(ids) <= MAX_RELAYED_IDS
    ):
        return payload
    kept = {
        key: payload[key] for key in ("entity", "op", "fields", "datastreams") if key in payload
    }
    return kept | {"count": len(ids)}


def relayed(payload: dict[str, Any]) -> bool:
    """True while ``payload`` is being re-published here after another process announced it.

    For bus subscribers that act on the outside world themselves (the SensorThings MQTT
    notifications): the other process already did.
    """
    return getattr(_local, "payload", None) is payload


@dataclass(frozen=True)
class RelayConfig:
    host: str
    port: int
    prefix: str = ""
    client_id: str = "cityos-relay"
    origin: str = field(default_factory=new_origin)
    topics: tuple[str, ...] = RELAYED

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayConfig:
        from cityos.sensing.ingest import broker_address

        host, port = broker_address(settings.mqtt_url or "")
        return cls(
            host=host,
            port=port,
            prefix=settings.mqtt_topic_prefix,
            client_id=f"{settings.mqtt_client_id}-relay",
        )

    @property
    def base(self) -> str:
        return f"{self.prefix}{BUS}"


class Relay:
    """One process's relay. ``subscribe`` and ``publish`` are the local bus (a seam for
    tests, which run two relays in one process)."""

    def __init__(
        self,
        config: RelayConfig,
        *,
        subscribe: Subscribe = events.subscribe,
        publish: Publish = events.publish,
    ) -> None:
        self.config = config
        self.sent = 0
        self.received = 0
        self.rejected = 0
        self._unreported = 0  # rejections since the last warning
        self._warned_at: float | None = None
        self._subscribe = subscribe
        self._publish = publish
        self._unsubscribe: list[Callable[[], None]] = []
        self._ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{config.client_id}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background (reconnecting by itself) and start relaying."""
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.connect_async(self.config.host, self.config.port, keepalive=30)
        self.client.loop_start()
        self._unsubscribe = [self._subscribe(topic, self._heard) for topic in self.config.topics]

    def wait_ready(self, timeout: float) -> bool:
        """Wait until connected and subscribed; False when ``timeout`` passed first."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.client.disconnect()
        self.client.loop_stop()

    # --- local bus → broker (the publisher's thread; paho only queues the packet)
    def _heard(self, topic: str, payload: dict[str, Any]) -> None:
        if relayed(payload):
            return  # it came from another process: never relay it back
        try:
            body = json.dumps(
                {"origin": self.config.origin, "topic": topic, "payload": slimmed(topic, payload)},
                separators=(",", ":"),
                default=str,
            )
        except (TypeError, ValueError):
            log.exception("a %s event cannot be relayed (not JSON)", topic)
            return
        self.client.publish(f"{self.config.base}/{topic}", body, qos=0)
        self.sent += 1

    # --- broker → local bus (paho's network thread)
    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("the event relay's MQTT connection was refused: %s", reason)
            return
        client.subscribe(f"{self.config.base}/#", options=SubscribeOptions(qos=0, noLocal=True))

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, codes: Any, _p: Any
    ) -> None:
        if any(code.is_failure for code in codes):
            log.error("the event relay's subscription was refused: %s", codes)
            return
        self._ready.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._ready.clear()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        event = self._decode(message)
        if event is None:
            return
        topic, payload = event
        self.received += 1
        _local.payload = payload
        try:
            self._publish(topic, payload)
        except Exception:  # a subscriber's failure must not stop the relay
            log.exception("a subscriber of the relayed %s event failed", topic)
        finally:
            _local.payload = None

    def _decode(self, message: mqtt.MQTTMessage) -> tuple[str, dict[str, Any]] | None:
        """The (topic, payload) of another origin's event; None for our own or a bad one."""
        if len(message.payload) > MAX_MESSAGE:
            self._reject(message.topic, f"{len(message.payload)} bytes, over {MAX_MESSAGE}")
            return None
        try:
            body = json.loads(message.payload)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._reject(message.topic, "not a JSON object")
            return None
        origin, topic, payload = body.get("origin"), body.get("topic"), body.get("payload")
        if origin == self.config.origin:
            return None
        if (
            not isinstance(origin, str)
            or topic not in self.config.topics
            or message.topic != f"{self.config.base}/{topic}"
            or not isinstance(payload, dict)
        ):
            self._reject(message.topic, "not a CityOS event")
            return None
        return topic, payload

    def _reject(self, topic: str, reason: str) -> None:
        """Count a dropped message; warn about the first, then at most every WARN_SECONDS."""
        self.rejected += 1
        self._unreported += 1
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < WARN_SECONDS:
            return
        log.warning(
            "the event relay dropped %d message(s) on %s since its last warning "
            "(%s rejected in all; the latest: %s). Only CityOS processes should publish on "
            "%s/#: restrict it with the broker's ACL.",
            self._unreported,
            topic,
            self.rejected,
            reason,
            self.config.base,
        )
        self._unreported = 0
        self._warned_at = now


def start_relay(settings: Settings) -> Callable[[], None]:
    """Relay this process's bus over MQTT when a broker is configured and ``ops_relay`` is on;
    returns the function that stops it (a no-op otherwise)."""
    if not settings.mqtt_url or not settings.ops_relay:
        return lambda: None
    relay = Relay(RelayConfig.from_settings(settings))
    relay.start()
    return relay.stop
