"""The JSON the operations center's actions accept and return.

Inputs are lenient on purpose (every field optional, text as text): the services check
them and say what to fix with a 400, instead of a generic validation error. Only ids are
checked here: a database id is a whole number from 1 to 2**31 - 1 (422 naming the field).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
