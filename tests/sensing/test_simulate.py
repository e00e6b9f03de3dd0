"""The sensor simulator: day patterns, faults, the fleet it creates, and where it sends
readings (the store, the MQTT bulk topic, the CreateObservations body)."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityos.cli import app
from cityos.db import make_session_factory
from cityos.errors import InvalidInput, Unprocessable
from cityos.sensing.models import (
    Datastream,
    FeatureOfInterest,
    HistoricalLocation,
    LatestValue,
    Location,
    Observation,
    Thing,
)
from cityos.sensing.simulate import (
    BULK_TOPIC,
    HttpSink,
    Member,
    MqttSink,
    Simulator,
    StoreSink,
    bulk_payload,
    create_observations_body,
    ensure_fleet,
    fleet,
    run,
)
from cityos.sensing.simulate_patterns import KINDS, Faults, local_hours, split, values, with_faults
from tests.conftest import need_service
from tests.sensing.sim_support import seed_fleet, seed_map

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
DAY = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday


def at_local(hour: float) -> float:
    """Epoch seconds of ``hour`` o'clock China time on DAY."""
    return (DAY + timedelta(hours=hour - 8)).timestamp()


def one(kind: str, hours: list[float], ident: int = 5) -> np.ndarray:
    times = np.array([at_local(h) for h in hours])
    return values(kind, np.array([ident]), times, np.random.default_rng(0))[0]


# --- patterns ------------------------------------------------------------------------------


def test_traffic_peaks_in_the_rush_hours_and_is_light_at_night() -> None:
    night, morning, evening = one("traffic_flow", [3.0, 8.0, 18.0])
    assert morning > 5 * night
    assert evening > 5 * night


def test_street_lights_burn_at_night_dim_after_midnight_and_are_off_by_day() -> None:
    evening, small_hours, noon = one("street_light", [21.0, 2.0, 12.0])
    assert noon == 0
    assert evening > 0
    assert 0 < small_hours < evening


def test_noise_is_louder_by_day_than_at_night() -> None:
    night, day = one("noise", [3.0, 14.0])
    assert day > night + 10


def test_every_kind_gives_non_negative_readings_rounded_to_its_decimals() -> None:
    times = np.arange(0, 86_400 * 3, 600, dtype=float) + DAY.timestamp()
    for code, kind in KINDS.items():
        grid = values(code, np.arange(1, 20), times, np.random.default_rng(1))
        assert grid.shape == (19, len(times))
        assert (grid >= 0).all()
        assert np.allclose(grid, np.round(grid, kind.decimals))


def test_the_same_device_keeps_its_character_across_calls() -> None:
    times = np.array([at_local(9.0)])
    first = values("pm25", np.array([7, 8]), times, np.random.default_rng(1))
    again = values("pm25", np.array([7, 8]), times, np.random.default_rng(1))
    assert (first == again).all()


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sensor kind"):
        values("radar", np.array([1]), np.array([0.0]), np.random.default_rng(0))


def test_local_hours_are_china_time() -> None:
    assert local_hours(np.array([at_local(8.5)]))[0] == pytest.approx(8.5)


def test_a_fleet_is_split_over_every_kind_and_adds_up() -> None:
    for total in (1, 6, 7, 100, 2000):
        counts = split(total)
        assert sum(counts.values()) == total
    assert all(count > 0 for count in split(100).values())
    assert split(0) == {}


def test_history_faults_silence_some_devices_and_stick_others() -> None:
    matrix = np.tile(np.arange(500, dtype=float), (200, 1))
    faulty, keep = with_faults(
        matrix, np.random.default_rng(3), 3600.0, Faults(0.0, stuck_share=0.1, silent_share=0.1)
    )
    silent_rows = (~keep).any(axis=1)
    stuck_rows = (np.diff(faulty, axis=1) == 0).any(axis=1)
    assert silent_rows.any()
    assert stuck_rows.any()
    assert keep.sum() > 0.8 * keep.size


# --- the fleet -----------------------------------------------------------------------------


def test_ensure_fleet_creates_located_things_with_datastreams_and_reuses_them(db: Session) -> None:
    seed_map(db)
    members = ensure_fleet(db, 8, rng=np.random.default_rng(2))
    db.commit()
    assert len(members) == 8
    assert {m.kind for m in members} <= set(KINDS)
    assert db.scalar(select(func.count()).select_from(Thing)) == 8
    assert db.scalar(select(func.count()).select_from(HistoricalLocation)) == 8
    assert db.scalar(select(func.count()).select_from(FeatureOfInterest)) == 8
    locations = db.scalars(select(Location)).all()
    assert all(loc.district_code in ("TC-W", "TC-E") for loc in locations)
    assert all(loc.location["type"] == "Point" for loc in locations)

    again = ensure_fleet(db, 10, rng=np.random.default_rng(2))
    assert again[:8] == members
    assert db.scalar(select(func.count()).select_from(Datastream)) == 10
    assert ensure_fleet(db, 3) == members[:3]
    assert fleet(db)[:8] == members


def test_ensure_fleet_needs_at_least_one_device(db: Session) -> None:
    with pytest.raises(InvalidInput, match="at least 1"):
        ensure_fleet(db, 0)


def test_ensure_fleet_without_a_city_map_says_how_to_get_one(db: Session) -> None:
    with pytest.raises(Unprocessable, match="areas"):
        ensure_fleet(db, 3)


# --- readings and sinks ----------------------------------------------------------------------


def test_a_tick_gives_one_reading_per_device_spread_over_the_second() -> None:
    members = [Member(i, kind) for i, kind in enumerate(KINDS, start=1)]
    now = datetime(2024, 5, 6, 12, tzinfo=UTC)
    readings = Simulator(members, seed=1, fault_chance=0.0).tick(now)
    assert [r.datastream_id for r in readings] == [m.datastream_id for m in members]
    assert all(now <= r.phenomenon_start < now + timedelta(seconds=1) for r in readings)
    assert len({r.phenomenon_start for r in readings}) == len(readings)


def test_live_faults_repeat_values_skip_devices_and_spike() -> None:
    members = [Member(1, "pm25")]
    simulator = Simulator(members, seed=4, fault_chance=1.0)
    start = datetime(2024, 5, 6, tzinfo=UTC)
    sent = [simulator.tick(start + timedelta(seconds=i)) for i in range(400)]
    assert any(not batch for batch in sent)  # silences
    values_sent = [batch[0].result for batch in sent if batch]
    assert any(a == b for a, b in itertools.pairwise(values_sent))  # stuck


def test_a_simulator_needs_devices() -> None:
    with pytest.raises(InvalidInput, match="at least one device"):
        Simulator([])


def test_run_refuses_a_rate_of_zero() -> None:
    simulator = Simulator([Member(1, "noise")])
    with pytest.raises(InvalidInput, match="--rate"):
        run(simulator, StoreSink.__new__(StoreSink), rate=0)


def test_readings_go_into_the_store_with_latest_values(db: Session, engine: Engine) -> None:
    members = seed_fleet(db, 6)
    sink = StoreSink(make_session_factory(engine), engine)
    stop = threading.Event()
    ticks: list[int] = []

    def count(report: object) -> None:
        ticks.append(1)
        if len(ticks) >= 2:
            stop.set()

    report = run(
        Simulator(members, seed=2, fault_chance=0.0), sink, rate=6, stop=stop, on_tick=count
    )
    assert report.sent == 12
    assert report.accepted == 12
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Observation)) == 12
    assert db.scalar(select(func.count()).select_from(LatestValue)) == 6


def test_the_bulk_payload_and_create_observations_body_have_the_wire_shapes() -> None:
    members = [Member(3, "noise"), Member(4, "pm25")]
    readings = Simulator(members, seed=1, fault_chance=0.0).tick(
        datetime(2024, 5, 6, 1, tzinfo=UTC), 4
    )
    bulk = json.loads(bulk_payload(readings))
    assert [item["datastream"] for item in bulk] == [3, 4, 3, 4]
    assert all(item["t"].endswith("Z") for item in bulk)
    body = create_observations_body(readings)
    assert [entry["Datastream"] for entry in body] == [{"@iot.id": 3}, {"@iot.id": 4}]
    assert body[0]["components"] == ["phenomenonTime", "result"]
    assert len(body[0]["dataArray"]) == 2  # type: ignore[arg-type]


def test_http_sending_needs_a_web_address_and_an_api_key() -> None:
    with pytest.raises(InvalidInput, match="http"):
        HttpSink("ftp://example.org", "key")
    with pytest.raises(InvalidInput, match="API key"):
        HttpSink("http://127.0.0.1:9", "")


def test_mqtt_sending_publishes_bulk_batches_to_the_bulk_topic() -> None:
    received: list[bytes] = []
    subscribed = threading.Event()
    arrived = threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    listener.on_subscribe = lambda *_args: subscribed.set()

    def on_message(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        received.append(message.payload)
        if len(received) >= 2:
            arrived.set()

    listener.on_message = on_message
    try:
        listener.connect(MQTT_HOST, MQTT_PORT)
    except OSError:
        need_service(f"Mosquitto is not reachable at {MQTT_HOST}:{MQTT_PORT}")
    listener.loop_start()
    try:
        listener.subscribe(BULK_TOPIC, qos=1)
        assert subscribed.wait(10)
        sink = MqttSink(f"mqtt://{MQTT_HOST}:{MQTT_PORT}", batch=3)
        members = [Member(1, "noise"), Member(2, "pm25")]
        readings = Simulator(members, seed=1, fault_chance=0.0).tick(datetime.now(UTC), 5)
        assert sink.send(readings) == 5
        sink.close()
        assert arrived.wait(10)
    finally:
        listener.loop_stop()
        listener.disconnect()
    batches = [json.loads(payload) for payload in received]
    assert [len(batch) for batch in batches] == [3, 2]
    assert {item["datastream"] for batch in batches for item in batch} == {1, 2}


def test_mqtt_sending_refuses_a_url_that_is_not_mqtt() -> None:
    with pytest.raises(InvalidInput, match="mqtt://"):
        MqttSink("http://127.0.0.1:1883")


# --- the command -----------------------------------------------------------------------------


def test_the_simulate_command_makes_devices_and_stores_readings(
    cli_database: str, db: Session
) -> None:
    seed_map(db)
    db.commit()
    result = CliRunner().invoke(
        app, ["simulate", "--things", "4", "--rate", "4", "--duration", "1.5", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "Simulating 4 devices" in result.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Datastream)) == 4
    assert (db.scalar(select(func.count()).select_from(Observation)) or 0) >= 4


def test_the_simulate_command_refuses_both_mqtt_and_http(cli_database: str, db: Session) -> None:
    seed_map(db)
    db.commit()
    result = CliRunner().invoke(app, ["simulate", "--things", "2", "--mqtt", "--http"])
    assert result.exit_code != 0
    assert "Choose one of --mqtt and --http" in result.output
