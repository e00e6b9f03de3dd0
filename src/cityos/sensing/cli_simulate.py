"""``cityos simulate``: send realistic sensor readings, straight into the store, over MQTT or
over HTTP (SensorThings ``CreateObservations``)."""

from __future__ import annotations

import os
from typing import Annotated

import numpy as np
import typer

from cityos.cli_support import console, fail, open_session
from cityos.config import get_settings
from cityos.db import make_engine, make_session_factory
from cityos.errors import CityOSError, InvalidInput
from cityos.sensing.simulate import (
    HttpSink,
    MqttSink,
    RunReport,
    Simulator,
    Sink,
    StoreSink,
    ensure_fleet,
    run,
)


def simulate(
    things: Annotated[
        int, typer.Option(help="How many simulated devices (made when missing).")
    ] = 100,
    rate: Annotated[float, typer.Option(help="Readings per second, over all devices.")] = 10.0,
    mqtt: Annotated[bool, typer.Option("--mqtt", help="Publish to CITYOS_MQTT_URL.")] = False,
    http: Annotated[bool, typer.Option("--http", help="POST to the server's STA API.")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
    single: Annotated[
        bool, typer.Option("--single", help="MQTT: one message per reading, not the bulk topic.")
    ] = False,
    url: Annotated[
        str | None, typer.Option(help="HTTP: the server (default: CITYOS_BASE_URL).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="HTTP: an API key (default: CITYOS_API_KEY).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable runs.")] = None,
) -> None:
    """Simulate city sensors: water level, PM2.5, noise, traffic, smart meters, street lights.

    Without --mqtt or --http the readings go straight into the database's store.
    """
    settings = get_settings()
    try:
        if mqtt and http:
            raise InvalidInput("Choose one of --mqtt and --http (or neither: store directly).")
        with open_session() as db:
            members = ensure_fleet(db, things, rng=np.random.default_rng(seed))
        simulator = Simulator(members, seed=seed)
        engine = make_engine(settings.database_url)
        sink: Sink
        if mqtt:
            if not settings.mqtt_url:
                raise InvalidInput("--mqtt needs CITYOS_MQTT_URL (e.g. mqtt://127.0.0.1:1883).")
            sink, where = MqttSink(settings.mqtt_url, bulk=not single), settings.mqtt_url
        elif http:
            base = url or settings.base_url
            key = api_key or os.environ.get("CITYOS_API_KEY", "")
            sink, where = HttpSink(base, key), base
        else:
            sink, where = StoreSink(make_session_factory(engine), engine), "the database"
    except CityOSError as error:
        fail(error)
    console.print(f"Simulating {len(members)} devices at {rate:g} readings/s into {where}.")

    def progress(report: RunReport) -> None:
        if int(report.seconds) % 10 == 0:
            console.print(
                f"{report.seconds:6.0f}s: {report.sent:,} sent, {report.accepted:,} stored"
            )

    try:
        report = run(simulator, sink, rate=rate, duration=duration, on_tick=progress)
    except KeyboardInterrupt:
        console.print("Stopped.")
        return
    except CityOSError as error:
        fail(error)
    finally:
        sink.close()
        engine.dispose()
    console.print(
        f"Sent {report.sent:,} readings in {report.seconds:.0f}s ({report.accepted:,} accepted)."
    )
