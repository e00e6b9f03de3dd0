"""MQTT topic names: the SensorThings topics readings arrive on, the compact bulk topic, and
the topics change notifications are published to.

Every topic may carry a prefix (``settings.mqtt_topic_prefix``, e.g. ``city-a/``) so several
CityOS instances or test runs can share one broker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "v1.1"
BULK = "cityos/v1/observations"
# MQTT 5 user property marking this server's notifications, which ingestion skips.
NOTICE_PROPERTY = ("cityos", "notice")

_SEGMENT = re.compile(r"^(Datastreams|MultiDatastreams|FeaturesOfInterest)\((\d+)\)$")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a published message goes. ``bulk``: the compact array topic; otherwise a
    SensorThings Observation create, with the owner the topic names (if any)."""

    bulk: bool = False
    datastream_id: int | None = None
    multi_datastream_id: int | None = None
    feature_id: int | None = None


def parse(topic: str, prefix: str = "") -> Target | None:
    """The target of a message published on ``topic``; None when it is not an ingest topic."""
    if prefix:
        if not topic.startswith(prefix):
            return None
        topic = topic[len(prefix) :]
    if topic == BULK:
        return Target(bulk=True)
    parts = topic.split("/")
    if parts[0] != VERSION or parts[-1] != "Observations":
        return None
    if len(parts) == 2:
        return Target()
    if len(parts) != 3:
        return None
    match = _SEGMENT.match(parts[1])
    if match is None:
        return None
    kind, number = match.group(1), int(match.group(2))
    if kind == "Datastreams":
        return Target(datastream_id=number)
    if kind == "MultiDatastreams":
        return Target(multi_datastream_id=number)
    return Target(feature_id=number)


def subscriptions(prefix: str, group: str) -> list[str]:
    """The shared subscriptions of the ingest workers (plain ones when ``group`` is empty)."""
    share = f"$share/{group}/{prefix}" if group else prefix
    return [
        f"{share}{VERSION}/Observations",
        f"{share}{VERSION}/+/Observations",
        f"{share}{BULK}",
    ]


def collection(set_name: str, prefix: str = "") -> str:
    return f"{prefix}{VERSION}/{set_name}"


def navigation(owner_set: str, owner_id: int, set_name: str, prefix: str = "") -> str:
    return f"{prefix}{VERSION}/{owner_set}({owner_id})/{set_name}"


def entity(set_name: str, entity_id: int, prefix: str = "") -> str:
    return f"{prefix}{VERSION}/{set_name}({entity_id})"


def with_select(topic: str, select: str) -> str:
    return f"{topic}?$select={select}"
