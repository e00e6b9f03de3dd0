from __future__ import annotations

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
