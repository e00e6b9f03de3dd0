"""``cityos ingest`` (the MQTT ingest worker) and ``cityos sensing …`` commands."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from cityos.cli_support import console, fail
from cityos.config import get_settings
from cityos.db import make_engine, make_session_factory
from cityos.errors import CityOSError
from cityos.relay import start_relay

app = typer.Typer(help="Sensors: observations, retention.", no_args_is_help=True)


@app.command("prune")
def prune(
    older_than_days: Annotated[
        float | None,
        typer.Option(help="Remove raw observations older than this (default: the setting)."),
    ] = None,
) -> None:
    """Remove raw observations past the retention age; rollups are kept."""
    from cityos.sensing.retention import prune as run_prune

    settings = get_settings()
    days = older_than_days if older_than_days is not None else settings.sensing_retention_days
    if days <= 0:
        fail(CityOSError("--older-than-days must be positive."))
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as db_session:
            removed = run_prune(db_session, older_than_days=days)
    finally:
        engine.dispose()
    console.print(f"Removed {removed} observations older than {days:g} days.")


def ingest(
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id (default: the mqtt_client_id setting).")
    ] = None,
    topic_prefix: Annotated[
        str | None, typer.Option(help="Prefix of every MQTT topic, e.g. 'city-a/'.")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Shared-subscription group (default: the setting).")
    ] = None,
    notify: Annotated[
        bool, typer.Option(help="Publish SensorThings change notifications to the broker.")
    ] = True,
) -> None:
    """Run an MQTT ingest worker until stopped (Ctrl-C or SIGTERM)."""
    from cityos.sensing.ingest import IngestConfig, Ingestor
    from cityos.sensing.mqtt_bridge import MqttBridge

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    try:
        config = IngestConfig.from_settings(
            settings, client_id=client_id, prefix=topic_prefix, group=group
        )
    except CityOSError as error:
        fail(error)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    bridge = MqttBridge(settings, factory, prefix=config.prefix) if notify else None
    worker = Ingestor(config, factory, on_client=bridge.attach if bridge else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    if bridge is not None:
        bridge.start()
    stop_relay = start_relay(settings)  # alerts and readings reach screens in other processes
    console.print(f"Ingesting from {config.host}:{config.port} as {config.client_id}.")
    stop.wait()
    stop_relay()
    worker.stop()
    if bridge is not None:
        bridge.stop()
    engine.dispose()
    console.print(f"Stopped: stored {worker.stored}, rejected {worker.rejected}.")
