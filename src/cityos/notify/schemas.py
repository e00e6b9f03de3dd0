"""JSON shapes of the notify API. A webhook's secret appears only in ``WebhookCreated``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cityos.notify.models import OutboxMessage, Webhook, WebhookDelivery


class WebhookCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Work-order system"])
    url: str = Field(min_length=1, max_length=2000, examples=["https://example.org/hooks/cityos"])
    events: list[str] = Field(
        default_factory=lambda: ["*"],
        description="fnmatch patterns of the events to receive, e.g. case.* (default: all).",
        examples=[["case.*"]],
    )


class WebhookUpdate(BaseModel):
    is_active: bool = Field(description="false pauses the webhook; queued events wait.")


class WebhookRead(BaseModel):
    id: int
    name: str
    url: str
    events: list[str]
    is_active: bool
    created_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookRead:
        return cls(
            id=hook.id,
            name=hook.name,
            url=hook.url,
            events=list(hook.events),
            is_active=hook.is_active,
            created_at=hook.created_at,
        )


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="Signs every delivery (X-CityOS-Signature). Shown only this once."
    )


class DeliveryRead(BaseModel):
    id: int
    webhook_id: int
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryRead:
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event=delivery.event,
            payload=delivery.payload,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
        )


class OutboxRead(BaseModel):
    id: int
    to: str
    subject: str
    body: str
    topic: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, message: OutboxMessage) -> OutboxRead:
        return cls(
            id=message.id,
            to=message.to_address,
            subject=message.subject,
            body=message.body,
            topic=message.topic,
            status=message.status,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at,
            last_error=message.last_error,
            created_at=message.created_at,
            sent_at=message.sent_at,
        )
