"""MQTT create (SensorThings MQTT extension) and the bulk topic: publishing creates
Observations through the ingest worker; bad messages become dead letters."""

# ruff: noqa: F811 - the MQTT fixtures are imported from mqtt_support by name

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm import Session

from cityos.db import make_session_factory
from cityos.sensing import deadletters
from cityos.sensing.ingest import Ingestor, unreachable
from cityos.sensing.models import (
    DeadLetter,
    FeatureOfInterest,
    Observation,
    ObservationType,
)
from tests.sensing.ingest_support import make_datastreams, make_multi_datastream, make_thing
from tests.sensing.mqtt_support import (  # noqa: F401 - fixtures
    broker,
    ingestor,
    prefix,
    publish,
    publisher,
    wait_for,
)


def stored(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Observation)) or 0


def letters(engine: Engine) -> list[DeadLetter]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def body(**fields: Any) -> str:
    return json.dumps(fields)


def test_publishing_to_a_datastreams_observations_creates_one(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    db.commit()
    topic = f"{prefix}v1.1/Datastreams({ds.id})/Observations"
    publish(publisher, topic, body(result=21.5, phenomenonTime="2024-05-01T08:00:00Z"))
    wait_for(lambda: stored(engine) == 1)
    db.expire_all()
    row = db.scalars(select(Observation)).one()
    assert row.datastream_id == ds.id
    assert row.result_number == 21.5
    assert row.feature_id == db.scalar(select(FeatureOfInterest.id))


def test_publishing_to_the_observations_collection_names_the_datastream_in_the_body(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    db.commit()
    publish(
        publisher,
        f"{prefix}v1.1/Observations",
        body(
            result=3,
            phenomenonTime="2024-05-01T08:00:00Z/2024-05-01T08:05:00Z",
            resultTime="2024-05-01T08:06:00Z",
            parameters={"battery": 0.8},
            Datastream={"@iot.id": ds.id},
        ),
    )
    wait_for(lambda: stored(engine) == 1)
    row = db.scalars(select(Observation)).one()
    assert row.phenomenon_time_end is not None
    assert row.result_time is not None
    assert row.parameters == {"battery": 0.8}


def test_publishing_to_a_features_observations_uses_that_feature(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    feature = FeatureOfInterest(name="canal", feature={"type": "Point", "coordinates": [1, 2]})
    db.add(feature)
    db.commit()
    publish(
        publisher,
        f"{prefix}v1.1/FeaturesOfInterest({feature.id})/Observations",
        body(result=1.0, phenomenonTime="2024-05-01T08:00:00Z", Datastream={"@iot.id": ds.id}),
    )
    wait_for(lambda: stored(engine) == 1)
    assert db.scalar(select(Observation.feature_id)) == feature.id


def test_publishing_to_a_multi_datastream_stores_the_result_array(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    multi = make_multi_datastream(db, make_thing(db))
    db.commit()
    publish(
        publisher,
        f"{prefix}v1.1/MultiDatastreams({multi.id})/Observations",
        body(result=[20.5, 4], phenomenonTime="2024-05-01T08:00:00Z"),
    )
    wait_for(lambda: stored(engine) == 1)
    assert db.scalar(select(Observation.result_json)) == [20.5, 4]


def test_the_bulk_topic_stores_many_readings_per_message(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    a, b = make_datastreams(db, make_thing(db), 2)
    db.commit()
    items = [
        {"datastream": ds.id, "t": f"2024-05-01T08:{minute:02d}:00Z", "v": minute}
        for ds in (a, b)
        for minute in range(50)
    ]
    publish(publisher, f"{prefix}cityos/v1/observations", json.dumps(items))
    wait_for(lambda: stored(engine) == 100)


def test_a_redelivered_message_is_stored_once(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    db.commit()
    topic = f"{prefix}v1.1/Datastreams({ds.id})/Observations"
    message = body(result=5.0, phenomenonTime="2024-05-01T08:00:00Z")
    publish(publisher, topic, message)
    publish(publisher, topic, message)
    publish(publisher, topic, body(result=6.0, phenomenonTime="2024-05-01T08:01:00Z"))
    wait_for(lambda: stored(engine) == 2)
    wait_for(lambda: ingestor.stored == 2)


def test_garbage_becomes_dead_letters_and_ingestion_goes_on(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    (counter,) = make_datastreams(db, make_thing(db), observation_type=ObservationType.COUNT)
    db.commit()
    topic = f"{prefix}v1.1/Datastreams({ds.id})/Observations"
    bad = [
        (topic, b"\xff\xfe not json"),
        (topic, b"{truncated"),
        (topic, body(result="high", phenomenonTime="2024-05-01T08:00:00Z")),
        (topic, body(result=1.0, phenomenonTime="2024-05-01T08:00:00")),
        (topic, body(phenomenonTime="2024-05-01T08:00:00Z")),
        (topic, "[1, 2]"),
        (f"{prefix}v1.1/Datastreams(999999)/Observations", body(result=1.0)),
        (f"{prefix}v1.1/Datastreams({counter.id})/Observations", body(result=1.5)),
        (f"{prefix}v1.1/Observations", body(result=1.0)),
        (f"{prefix}cityos/v1/observations", body(datastream=ds.id)),
    ]
    for bad_topic, payload in bad:
        publish(publisher, bad_topic, payload)
    bulk = [
        {"datastream": ds.id, "t": "2024-05-01T09:00:00Z", "v": 1.0},
        {"datastream": ds.id, "t": "not a time", "v": 1.0},
        {"datastream": "x", "t": "2024-05-01T09:00:00Z", "v": 1.0},
        "junk",
    ]
    publish(publisher, f"{prefix}cityos/v1/observations", json.dumps(bulk))
    publish(publisher, topic, body(result=2.0, phenomenonTime="2024-05-01T10:00:00Z"))
    wait_for(lambda: stored(engine) == 2 and len(letters(engine)) == len(bad) + 3)
    reasons = " | ".join(letter.reason for letter in letters(engine))
    for expected in (
        "malformed JSON",
        "OM_Measurement result must be a finite number",
        "no time zone",
        "no result",
        "must be a JSON object",
        "no Datastream with id 999999",
        "OM_CountObservation result must be an integer",
        "exactly one Datastream",
        "bulk payload must be a JSON array",
        "not an ISO 8601 time",
        "datastream must be an integer id",
    ):
        assert expected in reasons
    with make_session_factory(engine)() as session:
        assert deadletters.count(session) == len(bad) + 3


def test_nan_infinity_huge_numbers_and_deep_nesting_become_dead_letters(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    (anything,) = make_datastreams(db, make_thing(db), observation_type=ObservationType.OBSERVATION)
    db.commit()
    topic = f"{prefix}v1.1/Datastreams({ds.id})/Observations"
    loose = f"{prefix}v1.1/Datastreams({anything.id})/Observations"
    bad = [
        (topic, b'{"result": NaN, "phenomenonTime": "2024-05-01T08:00:00Z"}'),
        (loose, b'{"result": {"a": Infinity}, "phenomenonTime": "2024-05-01T08:00:00Z"}'),
        (loose, b'{"result": -Infinity}'),
        (loose, b'{"result": 1e999}'),
        (topic, b'{"result": 1' + b"0" * 400 + b"}"),
        (loose, b'{"result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        (loose, b'{"result": ' + b"[" * 40 + b"]" * 40 + b"}"),
        (loose, b'{"result": "nul \\u0000 inside"}\x00\x00'),
    ]
    for bad_topic, payload in bad:
        publish(publisher, bad_topic, payload)
    publish(publisher, topic, body(result=2.0, phenomenonTime="2024-05-01T10:00:00Z"))
    wait_for(lambda: stored(engine) == 1 and len(letters(engine)) == len(bad))
    found = letters(engine)
    reasons = " | ".join(letter.reason for letter in found)
    for expected in (
        "NaN is not a JSON number",
        "Infinity is not a JSON number",
        "-Infinity is not a JSON number",
        "too large for a double",
        "OM_Measurement result must be a finite number",
    ):
        assert expected in reasons
    assert reasons.count("nest more than 32 levels deep") == 2
    (nul,) = [letter for letter in found if "inside" in letter.payload]
    assert "malformed JSON" in nul.reason
    assert "\x00" not in nul.payload


def test_ids_out_of_the_columns_range_become_dead_letters_not_retries(
    db: Session, engine: Engine, ingestor: Ingestor, publisher: mqtt.Client, prefix: str
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    db.commit()
    good = f"{prefix}v1.1/Datastreams({ds.id})/Observations"
    bad = [
        (f"{prefix}v1.1/Datastreams(3000000000)/Observations", body(result=1.0)),
        (f"{prefix}v1.1/Datastreams({2**70})/Observations", body(result=1.0)),
        (
            f"{prefix}v1.1/FeaturesOfInterest(3000000000)/Observations",
            body(result=1.0, Datastream={"@iot.id": ds.id}),
        ),
        (
            f"{prefix}v1.1/Observations",
            body(result=1.0, Datastream={"@iot.id": 3000000000}),
        ),
        (
            f"{prefix}cityos/v1/observations",
            json.dumps([{"datastream": 3000000000, "t": "2024-05-01T09:00:00Z", "v": 1.0}]),
        ),
    ]
    # good readings around the offenders share their batches and must still be stored
    publish(publisher, good, body(result=1.0, phenomenonTime="2024-05-01T08:00:00Z"))
    for bad_topic, payload in bad:
        publish(publisher, bad_topic, payload)
    publish(publisher, good, body(result=2.0, phenomenonTime="2024-05-01T08:01:00Z"))
    wait_for(lambda: stored(engine) == 2 and len(letters(engine)) == len(bad))
    for letter in letters(engine):
        assert "3000000000" in letter.payload or str(2**70) in letter.payload
    # the worker goes on storing
    publish(publisher, good, body(result=3.0, phenomenonTime="2024-05-01T08:02:00Z"))
    wait_for(lambda: stored(engine) == 3)


def test_only_connection_problems_are_retried_other_database_errors_are_bad_input() -> None:
    cause = Exception("boom")
    assert unreachable(OperationalError("SELECT 1", {}, cause))
    assert unreachable(InterfaceError("SELECT 1", {}, cause))
    assert not unreachable(DataError("INSERT", {}, cause))
    assert not unreachable(IntegrityError("INSERT", {}, cause))
    assert not unreachable(ProgrammingError("INSERT", {}, cause))
    assert not unreachable(OverflowError("int too large"))
