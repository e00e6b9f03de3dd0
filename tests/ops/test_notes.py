"""Operator notes: stored, audited, listed newest first, announced on ``ops.note`` after
commit; every bad note is refused with what to fix and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos import events
from cityos.ops.models import OperatorNote
from tests.cases.conftest import city, services
from tests.ops.ops_support import audit_actions, error_of, get, operator, seed_cases

__all__ = ["city", "operator", "services"]


@pytest.fixture
def heard() -> Iterator[list[dict[str, Any]]]:
    payloads: list[dict[str, Any]] = []
    stop = events.subscribe("ops.note", lambda _topic, payload: payloads.append(payload))
    yield payloads
    stop()


def test_a_note_on_an_area_is_stored_audited_announced_and_listed_newest_first(
    client: TestClient, operator: dict[str, str], db: Session, heard: list[dict[str, Any]]
) -> None:
    first = client.post(
        "/api/ops/notes",
        json={"target_type": "area", "target_ref": "TC-W", "text": "  Road works on Main St  "},
        headers=operator,
    )
    assert first.status_code == 201, first.text
    note = first.json()
    assert (note["target_type"], note["target_ref"], note["text"]) == (
        "area",
        "TC-W",
        "Road works on Main St",
    )
    assert note["author"] == "operator@example.org"
    assert heard == [note]
    [case_id] = seed_cases(db, west=1, east=0).west
    second = client.post(
        "/api/ops/notes",
        json={"target_type": "case", "target_ref": case_id, "text": "Crew on its way"},
        headers=operator,
    )
    assert second.status_code == 201, second.text
    listed = get(client, operator, "/api/ops/notes")["items"]
    assert [n["text"] for n in listed] == ["Crew on its way", "Road works on Main St"]
    only = get(client, operator, "/api/ops/notes?target_type=area&target_ref=TC-W")["items"]
    assert [n["id"] for n in only] == [note["id"]]
    assert audit_actions(db, "ops.note") == ["ops.note.create", "ops.note.create"]


BAD_NOTES = [
    ({"target_type": "area", "target_ref": "TC-W", "text": "   "}, "text is empty"),
    (
        {"target_type": "area", "target_ref": "TC-W", "text": "x" * 2001},
        "2,001 characters long; at most 2,000",
    ),
    ({"target_type": "street", "target_ref": "TC-W", "text": "Hi"}, "use one of area, alert"),
    ({"target_type": "area", "target_ref": "NOWHERE", "text": "Hi"}, "no area with the code"),
    ({"target_type": "alert", "target_ref": "77", "text": "Hi"}, "There is no alert 77"),
    ({"target_type": "case", "target_ref": "abc", "text": "Hi"}, "'abc' is not a case id"),
    ({"target_type": "alert", "target_ref": "2147483648", "text": "Hi"}, "not an alert id"),
    ({"target_type": "case", "text": "Hi"}, "target_ref is required"),
]


def test_each_bad_note_is_refused_with_what_to_fix_and_nothing_is_written(
    client: TestClient, operator: dict[str, str], db: Session, heard: list[dict[str, Any]]
) -> None:
    for body, message in BAD_NOTES:
        response = client.post("/api/ops/notes", json=body, headers=operator)
        assert message in error_of(response, 400), body
    assert db.scalar(select(func.count()).select_from(OperatorNote)) == 0
    assert heard == []
    assert audit_actions(db, "ops.note") == []
    listing = client.get("/api/ops/notes?target_ref=TC-W", headers=operator)
    assert "target_ref needs target_type" in error_of(listing, 400)
