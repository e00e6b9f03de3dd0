"""Admin pages: webhooks with their recent deliveries, and the e-mail outbox."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cityos.deps import ActorDep, AdminUser, SessionDep
from cityos.errors import CityOSError, InvalidInput
from cityos.notify import service
from cityos.notify.models import DeliveryStatus, MessageStatus
from cityos.web.render import PageDep

router = APIRouter(include_in_schema=False)

RECENT = 50


def _optional_id(value: str, what: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise InvalidInput(f"{what} must be a number, not {value!r}.")
    return int(value)


def _webhooks_context(
    db: Session, *, webhook_id: int | None = None, status: str = ""
) -> dict[str, Any]:
    return {
        "webhooks": service.list_webhooks(db),
        "deliveries": service.list_deliveries(
            db, webhook_id=webhook_id, status=status or None, limit=RECENT
        ),
        "statuses": [s.value for s in DeliveryStatus],
        "chosen_webhook": webhook_id,
        "chosen_status": status,
        "form": {"name": "", "url": "", "events": ""},
    }


@router.get("/admin/webhooks", response_class=HTMLResponse)
def webhooks_page(
    page: PageDep,
    db: SessionDep,
    _admin: AdminUser,
    webhook: str = "",
    status: str = "",
    redelivered: str = "",
) -> HTMLResponse:
    context = _webhooks_context(db, webhook_id=_optional_id(webhook, "webhook"), status=status)
    if redelivered.isdigit():
        context["notice"] = page.t("notify.deliveries.redelivered", id=redelivered)
    return page.render("notify/webhooks.html", context)


@router.post("/admin/webhooks", response_class=HTMLResponse)
def add_webhook(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    name: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    events: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        hook, secret = service.create_webhook(
            db, name=name, url=url, events=service.split_patterns(events), actor=actor
        )
    except CityOSError as error:
        db.rollback()
        context = {
            **_webhooks_context(db),
            "error": error.message,
            "form": {"name": name, "url": url, "events": events},
        }
        return page.render("notify/webhooks.html", context, status_code=error.status_code)
    context = {
        **_webhooks_context(db),
        "new_secret": secret,
        "notice": page.t("notify.webhooks.added", name=hook.name),
    }
    return page.render("notify/webhooks.html", context)


@router.post("/admin/webhooks/{webhook_id}/active")
def set_active(
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    webhook_id: int,
    active: Annotated[str, Form()] = "",
) -> Response:
    service.set_webhook_active(db, webhook_id=webhook_id, active=active == "true", actor=actor)
    return RedirectResponse("/admin/webhooks", status_code=303)


@router.post("/admin/webhooks/{webhook_id}/delete")
def delete_webhook(db: SessionDep, actor: ActorDep, _admin: AdminUser, webhook_id: int) -> Response:
    service.delete_webhook(db, webhook_id=webhook_id, actor=actor)
    return RedirectResponse("/admin/webhooks", status_code=303)


@router.post("/admin/deliveries/{delivery_id}/redeliver")
def redeliver(db: SessionDep, actor: ActorDep, _admin: AdminUser, delivery_id: int) -> Response:
    service.redeliver(db, delivery_id=delivery_id, actor=actor)
    return RedirectResponse(f"/admin/webhooks?redelivered={delivery_id}", status_code=303)


@router.get("/admin/outbox", response_class=HTMLResponse)
def outbox_page(page: PageDep, db: SessionDep, _admin: AdminUser, status: str = "") -> HTMLResponse:
    messages = service.list_outbox(db, status=status or None, limit=200)
    context = {
        "messages": messages,
        "statuses": [s.value for s in MessageStatus],
        "chosen_status": status,
    }
    return page.render("notify/outbox.html", context)
