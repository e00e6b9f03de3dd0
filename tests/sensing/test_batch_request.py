"""SensorThings conformance class *batch-request*: ``POST /$batch`` in the JSON format,
atomicity groups, references to earlier requests and GETs in a batch."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.sensing import models as m
from cityos.sensing.sta import write_update
from tests.sensing.sta_write_support import (
    STA,
    auth,
    datastream_body,
    location_body,
    sta_error,
    thing_body,
    writer_key,
)

__all__ = ["auth", "writer_key"]  # fixtures


def run(client: TestClient, auth: dict[str, str], requests: list[dict[str, Any]]) -> Any:
    response = client.post(f"{STA}/$batch", json={"requests": requests}, headers=auth)
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["responses"]}


def count(db: Session, model: Any) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_batch_runs_creates_and_gets_in_order_with_references(
    client: TestClient, auth: dict[str, str]
) -> None:
    answers = run(
        client,
        auth,
        [
            {"id": "t", "method": "post", "url": "Things", "body": thing_body()},
            {"id": "d", "method": "post", "url": "$t/Datastreams", "body": datastream_body()},
            {
                "id": "o",
                "method": "post",
                "url": "Observations",
                "body": {
                    "phenomenonTime": "2024-01-01T00:00:00Z",
                    "result": 4.5,
                    "Datastream": {"@iot.id": "$d"},
                },
            },
            {"id": "g", "method": "get", "url": "Datastreams?$expand=Observations"},
        ],
    )
    assert [answers[k]["status"] for k in "tdog"] == [201, 201, 201, 200]
    assert answers["t"]["headers"]["location"].startswith(f"http://testserver{STA}/Things(")
    listed = answers["g"]["body"]["value"]
    assert [o["result"] for o in listed[0]["Observations"]] == [4.5]


def test_atomicity_group_commits_all_or_nothing(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    answers = run(
        client,
        auth,
        [
            {"id": "1", "method": "post", "url": "Things", "body": thing_body("A"),
             "atomicityGroup": "g"},
            {"id": "2", "method": "post", "url": "Things", "body": {"name": "no description"},
             "atomicityGroup": "g"},
            {"id": "3", "method": "post", "url": "Locations", "body": location_body("Alone")},
        ],
    )  # fmt: skip
    assert answers["1"]["status"] == 424
    assert answers["2"]["status"] == 400
    assert "description" in answers["2"]["body"]["message"]
    assert answers["3"]["status"] == 201
    assert count(db, m.Thing) == 0
    assert count(db, m.Location) == 1  # committed on its own


def test_request_depending_on_a_failed_one_is_not_run(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    answers = run(
        client,
        auth,
        [
            {"id": "1", "method": "post", "url": "Things", "body": {"name": "x"}},
            {"id": "2", "method": "post", "url": "Locations", "body": location_body(),
             "dependsOn": ["1"]},
        ],
    )  # fmt: skip
    assert (answers["1"]["status"], answers["2"]["status"]) == (400, 424)
    assert count(db, m.Location) == 0


def test_patch_and_delete_in_a_batch(client: TestClient, auth: dict[str, str]) -> None:
    answers = run(
        client,
        auth,
        [
            {"id": "t", "method": "post", "url": "Things", "body": thing_body()},
            {"id": "p", "method": "patch", "url": "$t", "body": {"name": "Renamed"}},
            {"id": "g", "method": "get", "url": "$t"},
            {"id": "x", "method": "delete", "url": "$t"},
        ],
    )
    assert [answers[k]["status"] for k in "tpgx"] == [201, 200, 200, 200]
    assert answers["g"]["body"]["name"] == "Renamed"


def test_batch_of_gets_needs_no_credentials(client: TestClient) -> None:
    response = client.post(
        f"{STA}/$batch", json={"requests": [{"id": "1", "method": "get", "url": "Things"}]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["responses"][0]["body"] == {"value": []}


def test_batch_with_writes_needs_credentials(client: TestClient) -> None:
    body = {"requests": [{"id": "1", "method": "post", "url": "Things", "body": thing_body()}]}
    sta_error(client.post(f"{STA}/$batch", json=body), 401)


def test_malformed_batch_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    sta_error(client.post(f"{STA}/$batch", json={"reqs": []}, headers=auth), 400, "requests")
    body = {"requests": [{"id": "1", "method": "fetch", "url": "Things"}]}
    sta_error(client.post(f"{STA}/$batch", json=body, headers=auth), 400, "method")
    split = {
        "requests": [
            {"id": "1", "method": "post", "url": "Things", "body": {}, "atomicityGroup": "g"},
            {"id": "2", "method": "post", "url": "Things", "body": {}},
            {"id": "3", "method": "post", "url": "Things", "body": {}, "atomicityGroup": "g"},
        ]
    }
    sta_error(client.post(f"{STA}/$batch", json=split, headers=auth), 400, "adjacent")


def test_multipart_batch_is_not_offered(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        f"{STA}/$batch",
        content=b"--b\r\n\r\n--b--",
        headers={**auth, "Content-Type": "multipart/mixed; boundary=b"},
    )
    sta_error(response, 501, "JSON batch")


def test_batch_accepts_absolute_paths_and_absolute_urls(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    answers = run(
        client,
        auth,
        [
            {"id": "a", "method": "post", "url": f"{STA}/Things", "body": thing_body("A")},
            {
                "id": "b",
                "method": "post",
                "url": f"http://testserver{STA}/Things",
                "body": thing_body("B"),
            },
            {"id": "g", "method": "get", "url": f"http://testserver{STA}/Things?$orderby=name"},
        ],
    )
    assert [answers[k]["status"] for k in "abg"] == [201, 201, 200]
    assert [t["name"] for t in answers["g"]["body"]["value"]] == ["A", "B"]
    assert count(db, m.Thing) == 2


def test_batch_url_outside_the_service_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    for url in ("/api/sensing/rules", "ftp://testserver/sta/v1.1/Things"):
        request = {"id": "1", "method": "post", "url": url, "body": {}}
        response = client.post(f"{STA}/$batch", json={"requests": [request]}, headers=auth)
        sta_error(response, 400, "requests[0].url")


def test_nan_in_a_batch_body_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    raw = (
        '{"requests": [{"id": "1", "method": "post", "url": "Things", "body": '
        '{"name": "x", "description": "", "properties": {"x": NaN}}}]}'
    )
    response = client.post(
        f"{STA}/$batch", content=raw.encode(), headers={**auth, "Content-Type": "application/json"}
    )
    sta_error(response, 400, "NaN")


def test_unexpected_failure_rolls_back_its_group_answers_500_and_the_batch_goes_on(
    client: TestClient, auth: dict[str, str], db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = write_update.update

    def failing(db_session: Session, entity_type: Any, ident: int, body: Any, **kw: Any) -> None:
        if body.get("name") == "boom":
            raise RuntimeError("a bug")
        original(db_session, entity_type, ident, body, **kw)

    monkeypatch.setattr(write_update, "update", failing)
    existing = client.post(f"{STA}/Things", json=thing_body("Old"), headers=auth)
    thing = existing.headers["location"].rsplit("(", 1)[1].rstrip(")")
    answers = run(
        client,
        auth,
        [
            {
                "id": "new",
                "method": "post",
                "url": "Things",
                "body": thing_body("New"),
                "atomicityGroup": "g",
            },
            {
                "id": "bad",
                "method": "patch",
                "url": f"Things({thing})",
                "body": {"name": "boom"},
                "atomicityGroup": "g",
            },
            {
                "id": "never",
                "method": "post",
                "url": "Things",
                "body": thing_body("Never"),
                "atomicityGroup": "g",
            },
            {"id": "after", "method": "post", "url": "Things", "body": thing_body("After")},
        ],
    )
    assert [answers[k]["status"] for k in ("new", "bad", "never", "after")] == [424, 500, 424, 201]
    assert "Rolled back" in answers["new"]["body"]["message"]
    assert "Not run" in answers["never"]["body"]["message"]
    db.expire_all()
    assert sorted(db.scalars(select(m.Thing.name))) == ["After", "Old"]


def test_value_the_database_refuses_fails_only_its_request(
    client: TestClient, auth: dict[str, str], db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = write_update.update

    def unchecked(db_session: Session, entity_type: Any, ident: int, body: Any, **kw: Any) -> None:
        original(db_session, entity_type, ident, body, **kw)
        if body.get("name") == "too big":  # a value past what the column holds, unchecked
            row = db_session.get(m.Thing, ident)
            assert row is not None
            row.name = "x" * 300
            db_session.flush()

    monkeypatch.setattr(write_update, "update", unchecked)
    existing = client.post(f"{STA}/Things", json=thing_body("Old"), headers=auth)
    thing = existing.headers["location"].rsplit("(", 1)[1].rstrip(")")
    answers = run(
        client,
        auth,
        [
            {
                "id": "bad",
                "method": "patch",
                "url": f"Things({thing})",
                "body": {"name": "too big"},
            },
            {"id": "after", "method": "post", "url": "Things", "body": thing_body("After")},
        ],
    )
    assert answers["after"]["status"] == 201
    assert answers["bad"]["status"] in (200, 400)  # SQLite stores any integer
    if answers["bad"]["status"] == 400:
        assert "does not fit" in answers["bad"]["body"]["message"]
        db.expire_all()
        assert sorted(db.scalars(select(m.Thing.name))) == ["After", "Old"]
