"""JSON API for admins: webhooks, their deliveries, and the e-mail outbox."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from cityos.deps import ActorDep, AdminUser, SessionDep
from cityos.notify import service
from cityos.notify.schemas import (
    DeliveryRead,
    OutboxRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/notify", tags=["notifications"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No webhook or delivery has this id."}
}
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first.")]


@router.get("/webhooks", response_model=list[WebhookRead], summary="The webhooks")
def webhooks(db: SessionDep, _admin: AdminUser) -> list[WebhookRead]:
    return [WebhookRead.of(hook) for hook in service.list_webhooks(db)]


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=201,
    summary="Add a webhook (its signing secret is returned only this once)",
)
def create_webhook(
    body: WebhookCreate, db: SessionDep, actor: ActorDep, _admin: AdminUser
) -> WebhookCreated:
    hook, secret = service.create_webhook(
        db, name=body.name, url=body.url, events=body.events, actor=actor
    )
    return WebhookCreated(**WebhookRead.of(hook).model_dump(), secret=secret)


@router.get(
    "/webhooks/{webhook_id}", response_model=WebhookRead, responses=NOT_FOUND, summary="A webhook"
)
def get_webhook(webhook_id: int, db: SessionDep, _admin: AdminUser) -> WebhookRead:
    return WebhookRead.of(service.get_webhook(db, webhook_id=webhook_id))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookRead,
    responses=NOT_FOUND,
    summary="Pause or resume a webhook",
)
def update_webhook(
    webhook_id: int, body: WebhookUpdate, db: SessionDep, actor: ActorDep, _admin: AdminUser
) -> WebhookRead:
    hook = service.set_webhook_active(db, webhook_id=webhook_id, active=body.is_active, actor=actor)
    return WebhookRead.of(hook)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Remove a webhook and its deliveries",
)
def delete_webhook(webhook_id: int, db: SessionDep, actor: ActorDep, _admin: AdminUser) -> Response:
    service.delete_webhook(db, webhook_id=webhook_id, actor=actor)
    return Response(status_code=204)


@router.get(
    "/deliveries",
    response_model=list[DeliveryRead],
    responses=NOT_FOUND,
    summary="Webhook deliveries, newest first",
)
def deliveries(
    db: SessionDep,
    _admin: AdminUser,
    webhook_id: Annotated[int | None, Query(description="Only this webhook's.")] = None,
    status: Annotated[str | None, Query(description="pending, delivered or failed.")] = None,
    limit: Limit = 100,
) -> list[DeliveryRead]:
    found = service.list_deliveries(db, webhook_id=webhook_id, status=status, limit=limit)
    return [DeliveryRead.of(delivery) for delivery in found]


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryRead,
    responses={**NOT_FOUND, 409: {"description": "The webhook is inactive."}},
    summary="Send a delivery again at the next pass",
)
def redeliver(delivery_id: int, db: SessionDep, actor: ActorDep, _admin: AdminUser) -> DeliveryRead:
    return DeliveryRead.of(service.redeliver(db, delivery_id=delivery_id, actor=actor))


@router.get("/outbox", response_model=list[OutboxRead], summary="E-mail sent or queued")
def outbox(
    db: SessionDep,
    _admin: AdminUser,
    status: Annotated[str | None, Query(description="pending, sent, logged or failed.")] = None,
    limit: Limit = 100,
) -> list[OutboxRead]:
    return [
        OutboxRead.of(message) for message in service.list_outbox(db, status=status, limit=limit)
    ]
