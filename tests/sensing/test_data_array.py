"""SensorThings conformance class *data-array* (creating): ``POST /CreateObservations``."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.sensing import models as m
from tests.sensing.sta_write_support import (
    STA,
    auth,
    make_datastream,
    sta_error,
    writer_key,
)

__all__ = ["auth", "writer_key"]  # fixtures


def rows(stream: int, data: list[list[Any]], components: list[str] | None = None) -> list[Any]:
    return [
        {
            "Datastream": {"@iot.id": stream},
            "components": components or ["phenomenonTime", "result"],
            "dataArray": data,
        }
    ]


def test_create_observations_answers_one_self_link_per_row(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    _thing, stream = make_datastream(client, auth)
    data = [[f"2024-02-01T00:0{i}:00Z", float(i)] for i in range(5)]
    response = client.post(f"{STA}/CreateObservations", json=rows(stream, data), headers=auth)
    assert response.status_code == 201, response.text
    links = response.json()
    assert len(links) == 5
    assert all(link.startswith(f"http://testserver{STA}/Observations(") for link in links)
    listed = client.get(f"{STA}/Datastreams({stream})/Observations?$orderby=phenomenonTime")
    assert [o["result"] for o in listed.json()["value"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    db.expire_all()
    audit = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "sensing.sta.observation.create_many")
    ).one()
    assert "stored 5 of 5" in audit.summary


def test_bad_rows_answer_error_and_the_rest_is_stored(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    _thing, stream = make_datastream(client, auth)
    data = [
        ["2024-02-01T00:00:00Z", 1.0],
        ["2024-02-01T00:01:00", 2.0],  # no time zone
        ["2024-02-01T00:02:00Z", "warm"],  # not a number
        ["2024-02-01T00:00:00Z", 9.0],  # a second reading at the same time
        ["2024-02-01T00:03:00Z"],  # too short
        ["2024-02-01T00:04:00Z", 5.0],
    ]
    response = client.post(f"{STA}/CreateObservations", json=rows(stream, data), headers=auth)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert [a == "error" for a in answer] == [False, True, True, True, True, False]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(m.Observation)) == 2


def test_optional_components_are_stored(client: TestClient, auth: dict[str, str]) -> None:
    _thing, stream = make_datastream(client, auth)
    body = rows(
        stream,
        [["2024-02-01T00:00:00Z", 1.5, "2024-02-01T00:00:05Z", {"battery": 0.9}]],
        ["phenomenonTime", "result", "resultTime", "parameters"],
    )
    response = client.post(f"{STA}/CreateObservations", json=body, headers=auth)
    assert response.status_code == 201, response.text
    observation = client.get(response.json()[0].replace(f"http://testserver{STA}", STA)).json()
    assert observation["parameters"] == {"battery": 0.9}
    assert observation["resultTime"].startswith("2024-02-01T00:00:05")


def test_unknown_datastream_refuses_the_whole_body(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    _thing, stream = make_datastream(client, auth)
    body = rows(stream, [["2024-02-01T00:00:00Z", 1.0]]) + rows(999, [])
    response = client.post(f"{STA}/CreateObservations", json=body, headers=auth)
    sta_error(response, 400, "CreateObservations[1].Datastream", "999")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(m.Observation)) == 0


def test_unknown_component_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    _thing, stream = make_datastream(client, auth)
    body = rows(stream, [["x", 1.0]], ["colour", "result"])
    response = client.post(f"{STA}/CreateObservations", json=body, headers=auth)
    sta_error(response, 400, "'colour'")


def test_body_must_be_an_array(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(f"{STA}/CreateObservations", json={"dataArray": []}, headers=auth)
    sta_error(response, 400, "JSON array")


def test_create_observations_needs_credentials(client: TestClient) -> None:
    sta_error(client.post(f"{STA}/CreateObservations", json=[]), 401)
