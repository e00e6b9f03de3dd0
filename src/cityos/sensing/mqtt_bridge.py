"""The SensorThings MQTT notifications: entities created or updated (heard as ``sta.changed``
after commit) are published to the broker for subscribers.

A creation goes to the entity set's topic (``v1.1/Observations``) and to the navigation
topics of the entities it belongs to (``v1.1/Datastreams(7)/Observations``); an update to
the set, the entity (``v1.1/Observations(9)``) and each changed property's topic
(``v1.1/Observations(9)/result``). Each set/navigation/entity topic is also published with
every ``?$select=`` list of ``settings.sta_mqtt_selects`` (the broker cannot tell us what is
subscribed). Anyone may subscribe, so what an anonymous reader may not see (restricted
Things and what belongs to them, :mod:`cityos.sensing.sta.access`) is never published.
Publishing is best effort (QoS 0) on a background thread with a bounded backlog: ingestion
never waits for it. Messages carry a user property so ingest workers skip them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityos import events
from cityos.config import Settings
from cityos.relay import relayed
from cityos.sensing import mqtt_topics, notices
from cityos.sensing.sta.access import visible_clause
from cityos.sensing.sta.entities import BY_NAME, EntityType, Link

log = logging.getLogger(__name__)

BACKLOG = 2000  # change events waiting; more are dropped (and counted)
CHUNK = 500


def _owner_topics(entity: EntityType) -> list[tuple[str, str, str]]:
    """(column on this entity, owner set name, owner's navigation name) per to-one link."""
    found = []
    for nav in entity.navs.values():
        if nav.link is not Link.HERE or nav.many or nav.column is None:
            continue
        owner = BY_NAME[nav.target]
        for back in owner.navs.values():
            if back.target == entity.name and back.link is Link.THERE and back.column == nav.column:
                found.append((nav.column, owner.set_name, back.name))
    return found


def topics_for(
    entity: EntityType,
    body: dict[str, Any],
    row_columns: dict[str, Any],
    op: str,
    fields: list[str] | None,
    *,
    prefix: str,
) -> list[tuple[str, Any, bool]]:
    """(topic, payload, takes ``$select`` variants) for one changed entity."""
    out: list[tuple[str, Any, bool]] = [
        (mqtt_topics.collection(entity.set_name, prefix), body, True)
    ]
    if op == "create":
        for column, owner_set, nav_name in _owner_topics(entity):
            owner_id = row_columns.get(column)
            if owner_id is not None:
                topic = mqtt_topics.navigation(owner_set, owner_id, nav_name, prefix)
                out.append((topic, body, True))
    elif op == "update":
        entity_id = body.get("@iot.id")
        if isinstance(entity_id, int):
            base = mqtt_topics.entity(entity.set_name, entity_id, prefix)
            out.append((base, body, True))
            for name in fields or [p for p in entity.props if p in body]:
                if name in body:
                    out.append((f"{base}/{name}", {name: body[name]}, False))
    return out


class MqttBridge:
    """Publishes ``sta.changed`` notices to MQTT. Attach it to an existing client (the ingest
    worker's) or let :meth:`start` connect one of its own."""

    def __init__(
        self, settings: Settings, factory: sessionmaker[Session], *, prefix: str | None = None
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.prefix = prefix if prefix is not None else settings.mqtt_topic_prefix
        self.selects = [
            [name.strip() for name in group.split(",") if name.strip()]
            for group in settings.sta_mqtt_selects.split(";")
            if group.strip()
        ]
        self.base = settings.base_url.rstrip("/") + "/sta/v1.1"
        self.dropped = 0
        self.published = 0
        self._client: mqtt.Client | None = None
        self._own_client = False
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(BACKLOG)
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self._properties.UserProperty = [mqtt_topics.NOTICE_PROPERTY]

    def attach(self, client: mqtt.Client) -> None:
        """Publish through ``client`` (connected and looped by its owner)."""
        self._client = client

    def start(self) -> None:
        if self._client is None:
            from cityos.sensing.ingest import broker_address

            host, port = broker_address(self.settings.mqtt_url or "")
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{self.settings.mqtt_client_id}-notify-{uuid.uuid4().hex[:8]}",
                protocol=mqtt.MQTTv5,
            )
            client.reconnect_delay_set(min_delay=1, max_delay=10)
            client.connect_async(host, port, keepalive=30)
            client.loop_start()
            self._client, self._own_client = client, True
        self._thread = threading.Thread(target=self._run, name="cityos-mqtt-notify", daemon=True)
        self._thread.start()
        self._unsubscribe = events.subscribe(notices.TOPIC, self._heard)

    def stop(self, timeout: float = 5.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._own_client and self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _heard(self, _topic: str, payload: dict[str, Any]) -> None:
        if relayed(payload):
            return  # the process that stored these already published their notifications
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.dropped += len(payload.get("ids") or ())

    def _run(self) -> None:
        while True:
            change = self._queue.get()
            if change is None:
                return
            try:
                self.publish_change(change)
            except Exception:  # a notification must never stop the bridge
                log.exception("publishing a SensorThings notification failed")

    def publish_change(self, change: dict[str, Any]) -> None:
        """Publish one ``sta.changed`` payload (created/updated entities; deletes are silent)."""
        from cityos.sensing.sta.serialize import entity_json

        entity = BY_NAME.get(str(change.get("entity")))
        op = change.get("op")
        if entity is None or op not in ("create", "update") or self._client is None:
            return
        ids = [int(i) for i in change.get("ids") or ()]
        fields = change.get("fields")
        columns = [c for c, _, _ in _owner_topics(entity)]
        model: Any = entity.model
        for first in range(0, len(ids), CHUNK):
            chunk = ids[first : first + CHUNK]
            with self.factory() as db_session:
                chunk = _visible(db_session, entity, chunk)
                if not chunk:
                    continue
                bodies = entity_json(db_session, entity, chunk, base=self.base)
                owners = _owner_values(db_session, model, chunk, columns)
            for body in bodies:
                row_columns = owners.get(int(body.get("@iot.id") or 0), {})
                for topic, payload, selectable in topics_for(
                    entity, body, row_columns, op, fields, prefix=self.prefix
                ):
                    self._send(topic, payload)
                    if not selectable:
                        continue
                    for names in self.selects:
                        picked = {n: body[n] for n in names if n in body}
                        self._send(mqtt_topics.with_select(topic, ",".join(names)), picked)

    def _send(self, topic: str, payload: Any) -> None:
        assert self._client is not None
        self._client.publish(
            topic, json.dumps(payload, default=str), qos=0, properties=self._properties
        )
        self.published += 1


def _visible(db_session: Session, entity: EntityType, ids: list[int]) -> list[int]:
    """Those of ``ids`` an anonymous reader may see (anyone can subscribe to the broker)."""
    clause = visible_clause(entity, None)
    if clause is None:
        return ids
    model: Any = entity.model
    query = select(model.id).where(model.id.in_(ids), clause)
    return list(db_session.scalars(query))


def _owner_values(
    db_session: Session, model: Any, ids: list[int], columns: list[str]
) -> dict[int, dict[str, Any]]:
    if not columns:
        return {}
    table = model.__table__
    query = select(table.c.id, *[table.c[c] for c in columns]).where(table.c.id.in_(ids))
    return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in db_session.execute(query)}
