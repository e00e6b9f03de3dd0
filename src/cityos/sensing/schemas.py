"""JSON of the sensing API: rule bodies, and dicts of rules, alerts and dead letters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cityos.sensing.models import Alert, AlertRule, DeadLetter


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleIn(Body):
    name: str = Field(description="What the rule watches for, e.g. 'Street flooding'.")
    kind: str = Field(description="above, below, rate or silent")
    severity: str = Field("warning", description="info, warning or critical")
    datastream_id: int | None = Field(None, description="One datastream …")
    observed_property_id: int | None = Field(
        None, description="… or every datastream of this observed property"
    )
    area_code: str | None = Field(
        None, description="With observed_property_id: only within this area (any level)"
    )
    threshold: float | None = Field(
        None, description="above/below: the value; rate: change per minute"
    )
    clear_threshold: float | None = Field(
        None, description="Hysteresis: the alert clears once back past this (default threshold)"
    )
    duration_minutes: float = Field(
        0.0, description="above/below/rate: for at least this long; silent: no data this long"
    )
    open_case: bool = Field(False, description="Open a citizen-services case on each alert")
    case_category: str | None = Field(None, description="The service code of those cases")
    notify_emails: list[str] = Field(default_factory=list)
    enabled: bool = True


class RulePatch(Body):
    """Any subset of :class:`RuleIn`'s fields."""

    name: str | None = None
    kind: str | None = None
    severity: str | None = None
    datastream_id: int | None = None
    observed_property_id: int | None = None
    area_code: str | None = None
    threshold: float | None = None
    clear_threshold: float | None = None
    duration_minutes: float | None = None
    open_case: bool | None = None
    case_category: str | None = None
    notify_emails: list[str] | None = None
    enabled: bool | None = None


def rule_dict(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": str(rule.kind),
        "severity": str(rule.severity),
        "datastream_id": rule.datastream_id,
        "observed_property_id": rule.observed_property_id,
        "area_code": rule.area_code,
        "threshold": rule.threshold,
        "clear_threshold": rule.clear_threshold,
        "duration_minutes": rule.duration_minutes,
        "open_case": rule.open_case,
        "case_category": rule.case_category,
        "notify_emails": list(rule.notify_emails or []),
        "enabled": rule.enabled,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "datastream_id": alert.datastream_id,
        "state": str(alert.state),
        "severity": str(alert.severity),
        "message": alert.message,
        "started_at": alert.started_at.isoformat(),
        "ended_at": alert.ended_at.isoformat() if alert.ended_at else None,
        "readings": alert.readings,
        "lon": alert.lon,
        "lat": alert.lat,
        "grid_code": alert.grid_code,
        "district_code": alert.district_code,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "case_id": alert.case_id,
    }


def dead_letter_dict(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "received_at": letter.received_at.isoformat(),
        "source": letter.source,
        "topic": letter.topic,
        "payload": letter.payload,
        "reason": letter.reason,
    }
