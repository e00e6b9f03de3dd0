"""SensorThings conformance class *batch-request*: ``POST /$batch`` in the JSON format,
atomicity groups, references to earlier requests and GETs in a batch."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.sensing import models as m
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
