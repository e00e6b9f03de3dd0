"""``cityos notify``: webhooks for integrations, the e-mail outbox, a delivery pass."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from cityos.audit.service import Actor
from cityos.cli_support import console, fail, open_session
from cityos.config import get_settings
from cityos.errors import CityOSError
from cityos.notify import service
from cityos.notify.models import MessageStatus

CLI_ACTOR = Actor.system("cli")

app = typer.Typer(
    help="Notifications: webhooks for integrations and the e-mail outbox.", no_args_is_help=True
)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") + "Z" if value else ""


@app.command("webhook-add")
def webhook_add(
    name: Annotated[str, typer.Argument(help="What the receiver is, e.g. 'Work orders'.")],
    url: Annotated[str, typer.Argument(help="The http(s) URL the events are POSTed to.")],
    event: Annotated[
        list[str] | None,
        typer.Option(help="Event pattern such as case.*; repeat for several (default: all)."),
    ] = None,
) -> None:
    """Add a webhook and print its signing secret once."""
    try:
        with open_session() as db_session:
            hook, secret = service.create_webhook(
                db_session, name=name, url=url, events=event, actor=CLI_ACTOR
            )
            hook_id, patterns = hook.id, ", ".join(hook.events)
    except CityOSError as error:
        fail(error)
    console.print(f"Added webhook {hook_id} for {patterns}. Signing secret (shown only this once):")
    console.print(secret, highlight=False, soft_wrap=True)


@app.command("webhooks")
def webhooks() -> None:
    """List the webhooks."""
    try:
        with open_session() as db_session:
            hooks = service.list_webhooks(db_session)
            table = Table("id", "name", "url", "events", "active", "created")
            for hook in hooks:
                table.add_row(
                    str(hook.id),
                    hook.name,
                    hook.url,
                    ", ".join(hook.events),
                    "yes" if hook.is_active else "paused",
                    _when(hook.created_at),
                )
    except CityOSError as error:
        fail(error)
    if not hooks:
        console.print("No webhooks yet. Add one with `cityos notify webhook-add`.")
        return
    console.print(table)


@app.command("webhook-remove")
def webhook_remove(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id (see `webhooks`).")],
) -> None:
    """Remove a webhook and its deliveries."""
    try:
        with open_session() as db_session:
            service.delete_webhook(db_session, webhook_id=webhook_id, actor=CLI_ACTOR)
    except CityOSError as error:
        fail(error)
    console.print(f"Removed webhook {webhook_id}.")


@app.command("outbox")
def outbox(
    status: Annotated[
        MessageStatus | None, typer.Option(help="Only messages in this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
) -> None:
    """List recent e-mails (newest first)."""
    try:
        with open_session() as db_session:
            messages = service.list_outbox(
                db_session, status=status.value if status else None, limit=limit
            )
            table = Table("id", "created", "to", "subject", "status", "attempts", "last error")
            for message in messages:
                table.add_row(
                    str(message.id),
                    _when(message.created_at),
                    message.to_address,
                    message.subject,
                    message.status,
                    str(message.attempts),
                    message.last_error or "",
                )
    except CityOSError as error:
        fail(error)
    if not messages:
        console.print("The outbox is empty.")
        return
    console.print(table)


@app.command("deliver")
def deliver() -> None:
    """Send the e-mail and webhook deliveries that are due now (one pass)."""
    settings = get_settings()
    try:
        with open_session() as db_session:
            report = service.deliver_pending(db_session, settings=settings)
    except CityOSError as error:
        fail(error)
    console.print(report.describe(), highlight=False)
