from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from cityos import events


def test_an_event_held_for_commit_is_published_after_the_commit_and_dropped_on_rollback() -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    unsubscribe = events.subscribe("test.held", lambda topic, payload: got.append((topic, payload)))
    engine = create_engine("sqlite://")
    try:
        with Session(engine) as db_session:
            db_session.execute(text("SELECT 1"))
            events.publish_after_commit(db_session, "test.held", {"n": 1})
            assert got == []
            db_session.commit()
            assert got == [("test.held", {"n": 1})]
            db_session.execute(text("SELECT 1"))
            events.publish_after_commit(db_session, "test.held", {"n": 2})
            db_session.rollback()
            db_session.execute(text("SELECT 1"))
            db_session.commit()
            assert got == [("test.held", {"n": 1})]
    finally:
        unsubscribe()
        engine.dispose()


def test_a_failing_subscriber_does_not_undo_or_break_the_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_topic: str, _payload: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")

    unsubscribe = events.subscribe("test.broken", broken)
    engine = create_engine("sqlite://")
    try:
        with Session(engine) as db_session:
            db_session.execute(text("SELECT 1"))
            events.publish_after_commit(db_session, "test.broken", {})
            db_session.commit()
    finally:
        unsubscribe()
        engine.dispose()
    assert "a subscriber of test.broken failed" in caplog.text


def test_a_subscriber_to_every_topic_hears_each_event_once() -> None:
    got: list[str] = []
    unsubscribe = events.subscribe_all(lambda topic, _payload: got.append(topic))
    try:
        events.publish("test.a", {})
        events.publish("test.b", {})
    finally:
        unsubscribe()
    events.publish("test.c", {})
    assert got == ["test.a", "test.b"]


@pytest.fixture
def heard() -> Iterator[list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []
    unsubscribe = events.subscribe("test.saved", lambda _topic, payload: got.append(payload))
    yield got
    unsubscribe()


def test_an_event_queued_in_a_rolled_back_savepoint_is_not_published(
    db: Session, heard: list[dict[str, Any]]
) -> None:
    db.execute(text("SELECT 1"))
    events.publish_after_commit(db, "test.saved", {"n": "before"})
    savepoint = db.begin_nested()
    events.publish_after_commit(db, "test.saved", {"n": "undone"})
    inner = db.begin_nested()
    events.publish_after_commit(db, "test.saved", {"n": "undone inside"})
    inner.commit()  # released, but inside the savepoint that is rolled back
    savepoint.rollback()
    events.publish_after_commit(db, "test.saved", {"n": "after"})
    db.commit()
    assert heard == [{"n": "before"}, {"n": "after"}]


def test_an_event_queued_in_a_released_savepoint_is_published_after_the_outer_commit(
    db: Session, heard: list[dict[str, Any]]
) -> None:
    db.execute(text("SELECT 1"))
    with db.begin_nested():
        events.publish_after_commit(db, "test.saved", {"n": "kept"})
    assert heard == []  # released: the outer transaction may still roll back

    def fail_in_a_savepoint() -> None:
        with db.begin_nested():
            events.publish_after_commit(db, "test.saved", {"n": "failed"})
            raise RuntimeError("the nested work failed")

    with pytest.raises(RuntimeError, match="nested work failed"):
        fail_in_a_savepoint()
    db.commit()
    assert heard == [{"n": "kept"}]
    db.execute(text("SELECT 1"))
    with db.begin_nested():
        events.publish_after_commit(db, "test.saved", {"n": "rolled back with the whole"})
    db.rollback()
    db.execute(text("SELECT 1"))
    db.commit()
    assert heard == [{"n": "kept"}]
