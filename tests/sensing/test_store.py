"""The store: idempotent batched inserts and what follows from new observations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos import events
from cityos.errors import InvalidInput
from cityos.sensing import deadletters, notices
from cityos.sensing.deadletters import Letter
from cityos.sensing.models import (
    Datastream,
    FeatureOfInterest,
    LatestValue,
    MultiDatastream,
    Observation,
    ObservationType,
    Rollup,
)
from cityos.sensing.readings import Reading, check_result, parse_period, parse_time
from cityos.sensing.retention import prune
from cityos.sensing.store import store_readings
from tests.sensing.ingest_support import make_datastreams, make_multi_datastream, make_thing

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def reading(ds: int, minutes: float, value: Any, **extra: Any) -> Reading:
    return replace(Reading(ds, None, T0 + timedelta(minutes=minutes), None, value), **extra)


def count(db: Session, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_stored_readings_get_ids_and_a_redelivery_stores_nothing_twice(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    batch = [reading(ds.id, i, float(i)) for i in range(5)]
    first = store_readings(db, batch)
    db.commit()
    assert all(isinstance(i, int) for i in first.ids)
    assert first.stored == 5
    again = store_readings(db, [*batch, reading(ds.id, 10, 1.0)])
    db.commit()
    assert again.ids[:5] == [None] * 5
    assert again.ids[5] is not None
    assert count(db, Observation) == 6


def test_a_duplicate_inside_one_batch_is_stored_once(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    result = store_readings(db, [reading(ds.id, 0, 1.0), reading(ds.id, 0, 2.0)])
    db.commit()
    assert result.stored == 1
    assert result.ids[1] is None
    assert db.scalar(select(Observation.result_number)) == 1.0


def test_a_missing_feature_of_interest_is_made_once_from_the_things_location(
    db: Session,
) -> None:
    a, b = make_datastreams(db, make_thing(db), 2)
    store_readings(db, [reading(a.id, 0, 1.0), reading(b.id, 0, 2.0)])
    store_readings(db, [reading(a.id, 1, 1.0)])
    db.commit()
    features = db.scalars(select(FeatureOfInterest)).all()
    assert len(features) == 1
    assert features[0].feature["type"] == "Point"
    assert set(db.scalars(select(Observation.feature_id))) == {features[0].id}


def test_a_thing_without_location_and_no_feature_is_refused(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db, with_location=False))
    with pytest.raises(InvalidInput, match="no Location"):
        store_readings(db, [reading(ds.id, 0, 1.0)])


def test_an_unknown_datastream_is_refused(db: Session) -> None:
    make_datastreams(db, make_thing(db))
    with pytest.raises(InvalidInput, match="no Datastream with id 999"):
        store_readings(db, [reading(999, 0, 1.0)])


def test_latest_value_keeps_the_newest_phenomenon_time(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    store_readings(db, [reading(ds.id, 5, 50.0), reading(ds.id, 3, 30.0)])
    store_readings(db, [reading(ds.id, 1, 10.0)])  # late, older reading
    db.commit()
    latest = db.get(LatestValue, ds.id)
    assert latest is not None
    assert latest.result_number == 50.0
    assert latest.phenomenon_time == T0 + timedelta(minutes=5)
    store_readings(db, [reading(ds.id, 9, 90.0)])
    db.commit()
    db.expire_all()
    assert db.get(LatestValue, ds.id).result_number == 90.0  # type: ignore[union-attr]


def test_rollups_merge_batches_per_minute_hour_and_day(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    store_readings(db, [reading(ds.id, 0, 4.0), reading(ds.id, 0.5, 2.0)])
    store_readings(db, [reading(ds.id, 0.25, 9.0), reading(ds.id, 61, 1.0)])
    db.commit()
    rows = {
        (r.interval_s, r.bucket): r
        for r in db.scalars(select(Rollup).where(Rollup.datastream_id == ds.id))
    }
    minute = rows[(60, T0)]
    assert (minute.count, minute.min, minute.max, minute.sum) == (3, 2.0, 9.0, 15.0)
    assert minute.last == 2.0
    assert minute.last_time == T0 + timedelta(seconds=30)
    hour = rows[(3600, T0)]
    assert (hour.count, hour.sum) == (3, 15.0)
    assert rows[(3600, T0 + timedelta(hours=1))].count == 1
    day = rows[(86400, T0.replace(hour=0))]
    assert (day.count, day.min, day.max, day.last) == (4, 1.0, 9.0, 1.0)


def test_the_datastreams_time_ranges_grow_to_cover_new_readings(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    rt = T0 + timedelta(hours=2)
    store_readings(db, [reading(ds.id, 10, 1.0, result_time=rt)])
    store_readings(db, [reading(ds.id, 0, 1.0), reading(ds.id, 20, 1.0)])
    db.commit()
    db.expire_all()
    stream = db.get(Datastream, ds.id)
    assert stream is not None
    assert stream.phenomenon_time_start == T0
    assert stream.phenomenon_time_end == T0 + timedelta(minutes=20)
    assert stream.result_time_start == rt
    assert stream.result_time_end == rt


def test_non_numeric_results_are_kept_as_json_without_rollups(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db), observation_type=ObservationType.CATEGORY)
    store_readings(db, [reading(ds.id, 0, "dry"), reading(ds.id, 1, "flooded")])
    db.commit()
    assert set(db.scalars(select(Observation.result_json))) == {"dry", "flooded"}
    assert db.scalar(select(Observation.result_number)) is None
    assert db.get(LatestValue, ds.id).result_json == "flooded"  # type: ignore[union-attr]
    assert count(db, Rollup) == 0


def test_multi_datastream_readings_store_their_array(db: Session) -> None:
    multi = make_multi_datastream(db, make_thing(db))
    start = T0 + timedelta(minutes=1)
    result = store_readings(db, [Reading(None, multi.id, start, None, [21.5, 3.0])])
    store_readings(db, [Reading(None, multi.id, start, None, [21.5, 3.0])])
    db.commit()
    assert result.stored == 1
    assert count(db, Observation) == 1
    assert db.scalar(select(Observation.result_json)) == [21.5, 3.0]
    db.expire_all()
    assert db.get(MultiDatastream, multi.id).phenomenon_time_start == start  # type: ignore[union-attr]


def test_optional_fields_are_stored(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    end = T0 + timedelta(minutes=5)
    store_readings(
        db,
        [
            reading(
                ds.id,
                0,
                3.5,
                phenomenon_end=end,
                result_quality={"grade": "A"},
                valid_start=T0,
                valid_end=end,
                parameters={"battery": 0.9},
            )
        ],
    )
    db.commit()
    row = db.scalars(select(Observation)).one()
    assert (row.phenomenon_time_end, row.valid_time_start, row.valid_time_end) == (end, T0, end)
    assert row.result_quality == {"grade": "A"}
    assert row.parameters == {"battery": 0.9}


def test_change_notices_are_published_after_commit_and_never_after_rollback(
    db: Session,
) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    db.commit()
    heard: list[dict[str, Any]] = []
    unsubscribe = events.subscribe(notices.TOPIC, lambda _t, p: heard.append(p))
    try:
        store_readings(db, [reading(ds.id, 0, 1.0)])
        assert heard == []
        db.rollback()
        assert heard == []
        result = store_readings(db, [reading(ds.id, 0, 1.0)])
        db.commit()
    finally:
        unsubscribe()
    observations = [p for p in heard if p["entity"] == "Observation"]
    assert observations == [
        {
            "entity": "Observation",
            "op": "create",
            "ids": result.ids,
            "fields": None,
            "datastreams": [ds.id],
        }
    ]


def test_prune_removes_old_observations_and_keeps_rollups(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    store_readings(db, [reading(ds.id, 0, 1.0), reading(ds.id, 60 * 24 * 10, 2.0)])
    db.commit()
    removed = prune(db, older_than_days=5, now=T0 + timedelta(days=11))
    assert removed == 1
    assert count(db, Observation) == 1
    assert count(db, Rollup) == 6


def test_dead_letters_keep_the_payload_and_reason(db: Session) -> None:
    deadletters.record(db, [Letter("mqtt", "v1.1/Observations", b"\xff{garbage", "malformed")])
    db.commit()
    assert deadletters.count(db) == 1


@pytest.mark.parametrize(
    "text", ["2024-05-01T08:00:00Z", "2024-05-01T16:00:00+08:00", "2024-05-01T08:00:00.000+00:00"]
)
def test_parse_time_accepts_zoned_iso_times(text: str) -> None:
    assert parse_time(text, what="phenomenonTime") == T0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-05-01T08:00:00", "no time zone"),
        ("yesterday", "not an ISO 8601 time"),
        (12345, "expected an ISO 8601 time string"),
        ("0001-01-01T00:00:00+08:00", "out of range"),
    ],
)
def test_parse_time_refuses_times_without_zone_or_out_of_range(value: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_time(value, what="phenomenonTime")


def test_parse_period_reads_intervals_and_refuses_backwards_ones() -> None:
    start, end = parse_period("2024-05-01T08:00:00Z/2024-05-01T09:00:00Z", what="validTime")
    assert (start, end) == (T0, T0 + timedelta(hours=1))
    with pytest.raises(InvalidInput, match="ends before it starts"):
        parse_period("2024-05-01T09:00:00Z/2024-05-01T08:00:00Z", what="validTime")


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        ("12", ObservationType.MEASUREMENT),
        (True, ObservationType.MEASUREMENT),
        (float("nan"), ObservationType.MEASUREMENT),
        (1.5, ObservationType.COUNT),
        (3, ObservationType.CATEGORY),
        ("yes", ObservationType.TRUTH),
        ([1], ObservationType.COMPLEX),
        (None, ObservationType.OBSERVATION),
    ],
)
def test_check_result_refuses_results_of_the_wrong_type(result: Any, kind: str) -> None:
    with pytest.raises(InvalidInput, match="result"):
        check_result(result, kind, what="result")


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        (12, ObservationType.MEASUREMENT),
        (1.5, ObservationType.MEASUREMENT),
        (3, ObservationType.COUNT),
        ("wet", ObservationType.CATEGORY),
        (False, ObservationType.TRUTH),
        ({"a": 1}, ObservationType.COMPLEX),
        ([1, "x"], ObservationType.OBSERVATION),
    ],
)
def test_check_result_accepts_results_of_the_right_type(result: Any, kind: str) -> None:
    check_result(result, kind, what="result")


def test_times_far_from_the_epoch_are_stored_to_the_microsecond(db: Session) -> None:
    (ds,) = make_datastreams(db, make_thing(db))
    times = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1950, 6, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 5, 1, 8, 0, 0, 123457, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    late = times[3] + timedelta(microseconds=3)
    store_readings(
        db,
        [
            Reading(ds.id, None, t, None, float(i), result_time=late if i == 3 else None)
            for i, t in enumerate(times)
        ],
    )
    db.commit()
    assert sorted(db.scalars(select(Observation.phenomenon_time_start))) == times
    db.refresh(ds)
    assert (ds.phenomenon_time_start, ds.phenomenon_time_end) == (times[0], times[-1])
    assert (ds.result_time_start, ds.result_time_end) == (late, late)
    latest = db.get(LatestValue, ds.id)
    assert latest is not None
    assert (latest.phenomenon_time, latest.result_number) == (times[-1], 4.0)
    days = db.scalars(select(Rollup).where(Rollup.interval_s == 86400)).all()
    assert sorted((r.bucket, r.last_time) for r in days) == [
        (t.replace(hour=0, minute=0, second=0, microsecond=0), t) for t in times
    ]
