"""The JSON the operations center's actions accept and return.

Inputs are lenient on purpose (every field optional, text as text): the services check
them and say what to fix with a 400, instead of a generic validation error. Only ids are
checked here: a database id is a whole number from 1 to 2**31 - 1 (422 naming the field).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cityos.sensing.service import Alert

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database


class DispatchIn(BaseModel):
    """Open a case from an alert (``alert_id``) or at a place on the map (``lon``, ``lat``,
    ``service_code``). ``description``, ``priority`` and ``attributes`` are optional; from
    an alert, ``service_code`` defaults to its rule's case category and the place to the
    sensor's."""

    model_config = ConfigDict(extra="forbid")

    alert_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    lon: float | None = None
    lat: float | None = None
    service_code: str | None = None
    description: str | None = None
    priority: str | None = None
    attributes: dict[str, str | list[str]] | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: str | None = None
    target_ref: str | int | None = None
    text: str | None = None


def alert_dict(alert: Alert) -> dict[str, Any]:
    """An alert as the sensing API shows it."""
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "datastream_id": alert.datastream_id,
        "state": str(alert.state),
        "severity": str(alert.severity),
        "message": alert.message,
        "started_at": alert.started_at.isoformat(),
        "ended_at": alert.ended_at.isoformat() if alert.ended_at else None,
        "lon": alert.lon,
        "lat": alert.lat,
        "grid_code": alert.grid_code,
        "district_code": alert.district_code,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "case_id": alert.case_id,
    }
