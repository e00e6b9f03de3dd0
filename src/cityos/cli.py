"""The ``cityos`` command. Commands only wrap service functions."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import make_url

import cityos
from cityos.assessment import cli as assessment_cli
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.cases import cli as cases_cli
from cityos.cli_support import console, fail, open_session
from cityos.config import get_settings
from cityos.datahub import cli as datahub_cli
from cityos.db import (
    current_revision,
    ensure_schema_current,
    head_revision,
    make_engine,
    make_session_factory,
    upgrade,
)
from cityos.errors import CityOSError
from cityos.geo import cli as geo_cli
from cityos.notify import cli as notify_cli
from cityos.sensing import cli as sensing_cli
from cityos.sensing.cli_simulate import simulate as simulate_command

CLI_ACTOR = Actor.system("cli")

app = typer.Typer(
    name="cityos",
    help="CityOS: one platform for a city's services, sensors, data and assessment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
department_app = typer.Typer(help="Departments.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(department_app, name="department")
app.add_typer(apikey_app, name="apikey")
app.add_typer(geo_cli.app, name="areas")
app.add_typer(notify_cli.app, name="notify")
app.add_typer(cases_cli.app, name="cases")
app.add_typer(assessment_cli.app, name="assess")
app.add_typer(datahub_cli.app, name="data")
app.command("simulate")(simulate_command)
app.add_typer(sensing_cli.app, name="sensing")
app.command("ingest")(sensing_cli.ingest)


@app.command()
def version() -> None:
    """Print the CityOS version."""
    console.print(cityos.__version__)


# --- db --------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database to the newest schema."""
    engine = make_engine(get_settings().database_url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"The schema is already up to date ({after}).")
    else:
        console.print(f"Migrated the schema from {before or 'empty'} to {after}.")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the one this CityOS needs."""
    engine = make_engine(get_settings().database_url)
    try:
        current, head = current_revision(engine), head_revision(engine)
    finally:
        engine.dispose()
    state = "up to date" if current == head else "out of date: run `cityos db upgrade`"
    console.print(f"database: {current or 'empty'}; code: {head} ({state})")


# --- departments, users, API keys -------------------------------------------------------


@department_app.command("create")
def department_create(
    code: Annotated[str, typer.Option(help="Short unique code, e.g. WATER.")],
    name_zh: Annotated[str, typer.Option(help="Name in Chinese.")],
    name_en: Annotated[str, typer.Option(help="Name in English.")],
    parent: Annotated[str | None, typer.Option(help="Code of the parent department.")] = None,
) -> None:
    """Create a department."""
    try:
        with open_session() as db:
            auth_service.create_department(
                db, code=code, name_zh=name_zh, name_en=name_en, parent_code=parent, actor=CLI_ACTOR
            )
    except CityOSError as error:
        fail(error)
    console.print(f"Created department {code}.")


@department_app.command("list")
def department_list() -> None:
    """List the departments."""
    try:
        with open_session() as db:
            table = Table("code", "name (zh)", "name (en)", "parent")
            for d in auth_service.list_departments(db):
                table.add_row(d.code, d.name_zh, d.name_en, d.parent.code if d.parent else "")
    except CityOSError as error:
        fail(error)
    console.print(table)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in email address.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="At least 8 characters.")
    ],
    role: Annotated[
        list[str] | None,
        typer.Option(
            help="admin, operator, staff, supervisor, steward or analyst; repeat for several."
        ),
    ] = None,
    department: Annotated[str | None, typer.Option(help="Code of the user's department.")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create a user account."""
    try:
        with open_session() as db:
            auth_service.create_user(
                db,
                email=email,
                password=password,
                display_name=name,
                roles=role or [],
                department_code=department,
                actor=CLI_ACTOR,
            )
    except CityOSError as error:
        fail(error)
    console.print(f"Created user {email.strip().lower()}.")


@user_app.command("list")
def user_list() -> None:
    """List the users."""
    try:
        with open_session() as db:
            table = Table("email", "name", "department", "roles", "active")
            for u in auth_service.list_users(db):
                department = u.department.code if u.department else ""
                roles = ", ".join(sorted(u.roles))
                table.add_row(u.email, u.display_name, department, roles, str(u.is_active))
    except CityOSError as error:
        fail(error)
    console.print(table)


@apikey_app.command("create")
def apikey_create(
    email: Annotated[str, typer.Option(help="The user the key acts as.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "CLI key",
    days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    try:
        with open_session() as db:
            user = auth_service.get_user_by_email(db, email=email)
            key, raw = auth_service.create_api_key(
                db, user=user, name=name, expires_at=expires, actor=CLI_ACTOR
            )
            key_id = key.id
    except CityOSError as error:
        fail(error)
    console.print(f"API key {key_id} for {email} (shown only this once):")
    console.print(raw, highlight=False, soft_wrap=True)


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[int, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key."""
    try:
        with open_session() as db:
            auth_service.revoke_api_key(db, key_id=key_id, actor=CLI_ACTOR)
    except CityOSError as error:
        fail(error)
    console.print(f"Revoked API key {key_id}.")


# --- serve and demo ---------------------------------------------------------------------


def _serve(host: str, port: int) -> None:
    import socket

    import uvicorn

    from cityos.app import create_app
    from cityos.ops import live

    class _Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            live.close_streams()  # event streams never end by themselves
            await super().shutdown(sockets)

    try:
        application = create_app()
    except CityOSError as error:
        fail(error)
    _Server(uvicorn.Config(application, host=host, port=port, log_level="info")).run()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve CityOS on the configured database (refuses an out-of-date schema)."""
    _serve(host, port)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run one pass and exit.")] = False,
) -> None:
    """Run the background worker: SLA escalations, e-mail and webhook delivery."""
    import time

    from cityos.relay import start_relay
    from cityos.worker import run_once

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        ensure_schema_current(engine)
        factory = make_session_factory(engine)
        interval = settings.worker_interval_seconds or 30.0
        stop_relay = start_relay(settings)  # escalations reach screens in other processes
        try:
            while True:
                report = run_once(factory, settings)
                console.print(
                    f"escalated {report.escalated} case(s), notified {report.notified}; "
                    f"delivery: {report.delivered}"
                )
                if once:
                    return
                time.sleep(interval)
        finally:
            stop_relay()
    except CityOSError as error:
        fail(error)
    finally:
        engine.dispose()


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding (default) or only seed.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database: Annotated[
        str | None, typer.Option(help="Database URL (default: CITYOS_DATABASE_URL).")
    ] = None,
) -> None:
    """Create and seed the demo city (migrating first), then serve it."""
    from cityos.demo import DEMO_PASSWORD, DEMO_USERS, seed

    if database:
        os.environ["CITYOS_DATABASE_URL"] = database
        get_settings.cache_clear()
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    try:
        with console.status("Seeding the demo city…"), open_session() as db:
            report = seed(db)
    except CityOSError as error:
        fail(error)
    console.print(report.describe())
    url = f"http://{host}:{port}/"
    table = Table("email", "password", "roles", title="Demo logins")
    for email, roles, _department, _name in DEMO_USERS:
        table.add_row(email, DEMO_PASSWORD, ", ".join(roles))
    console.print(table)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    console.print(f"Database: {shown}")
    if serve_after:
        from cityos.demo.cases_stream import start_live_cases
        from cityos.demo.sensing import start_live_readings

        start_live_readings(settings.database_url)  # a daemon thread: live sensor readings
        start_live_cases(settings.database_url)  # and one for new citizen reports
        console.print(f"CityOS demo city at [bold]{url}[/bold] (API docs at {url}docs)")
        _serve(host, port)


def main() -> None:
    app()
