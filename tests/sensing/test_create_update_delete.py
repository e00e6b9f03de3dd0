"""SensorThings conformance class *create-update-delete*: create (201 + Location), deep
insert, links by ``@iot.id``, PATCH, PUT, JSON Patch, DELETE with cascades, automatic
HistoricalLocations and FeaturesOfInterest, credentials and the audit trail."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.models import AuditEntry
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.sensing import models as m
from tests.conftest import PASSWORD
from tests.sensing.sta_write_support import (
    STA,
    auth,
    datastream_body,
    location_body,
    make_datastream,
    new_id,
    post,
    sta_error,
    thing_body,
    writer_key,
)

__all__ = ["auth", "writer_key"]  # fixtures


def count(db: Session, model: Any) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_create_thing_with_location_answers_201_with_location_header(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    response = post(client, "Things", thing_body(properties={"floor": 3}), auth)
    thing = new_id(response)
    assert response.headers["location"] == f"http://testserver{STA}/Things({thing})"
    body = response.json()
    assert body["@iot.id"] == thing
    assert body["properties"] == {"floor": 3}
    locations = client.get(f"{STA}/Things({thing})/Locations").json()["value"]
    assert [loc["name"] for loc in locations] == ["Corner"]
    history = client.get(f"{STA}/Things({thing})/HistoricalLocations").json()["value"]
    assert len(history) == 1
    row = db.get(m.Location, locations[0]["@iot.id"])
    assert row is not None
    assert (row.lon, row.lat) == (10.0, 50.0)  # placed; outside the city: no area codes
    assert row.grid_code is None


def test_deep_insert_of_datastream_with_sensor_and_property(
    client: TestClient, auth: dict[str, str]
) -> None:
    thing, stream = make_datastream(client, auth)
    body = client.get(f"{STA}/Datastreams({stream})?$expand=Thing,Sensor,ObservedProperty").json()
    assert body["Thing"]["@iot.id"] == thing
    assert body["Sensor"]["name"] == "TMP36"
    assert body["ObservedProperty"]["name"] == "Temperature"


def test_create_through_navigation_links_to_the_parent(
    client: TestClient, auth: dict[str, str]
) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    body = datastream_body()
    stream = new_id(post(client, f"Things({thing})/Datastreams", body, auth))
    assert client.get(f"{STA}/Datastreams({stream})/Thing").json()["@iot.id"] == thing


def test_observation_gets_feature_of_interest_from_the_things_location_reused(
    client: TestClient, auth: dict[str, str]
) -> None:
    _thing, stream = make_datastream(client, auth)
    first = new_id(
        post(
            client,
            f"Datastreams({stream})/Observations",
            {"phenomenonTime": "2024-05-01T08:00:00Z", "result": 21.5},
            auth,
        )
    )
    second = new_id(
        post(
            client,
            "Observations",
            {
                "phenomenonTime": "2024-05-01T09:00:00+02:00",
                "result": 22,
                "Datastream": {"@iot.id": stream},
            },
            auth,
        )
    )
    feature_one = client.get(f"{STA}/Observations({first})/FeatureOfInterest").json()
    feature_two = client.get(f"{STA}/Observations({second})/FeatureOfInterest").json()
    assert feature_one["@iot.id"] == feature_two["@iot.id"]
    assert feature_one["feature"] == {"type": "Point", "coordinates": [10.0, 50.0]}
    assert (
        client.get(f"{STA}/Observations({second})")
        .json()["phenomenonTime"]
        .startswith("2024-05-01T07:00:00")
    )


def test_observation_without_phenomenon_time_is_stamped_now(
    client: TestClient, auth: dict[str, str]
) -> None:
    _thing, stream = make_datastream(client, auth)
    made = post(client, f"Datastreams({stream})/Observations", {"result": 1.5}, auth)
    assert made.json()["phenomenonTime"] is not None


def test_observation_stored_updates_latest_value(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    _thing, stream = make_datastream(client, auth)
    for hour, value in ((8, 1.0), (9, 2.0)):
        body = {"phenomenonTime": f"2024-05-01T{hour:02d}:00:00Z", "result": value}
        post(client, f"Datastreams({stream})/Observations", body, auth)
    db.expire_all()
    latest = db.get(m.LatestValue, stream)
    assert latest is not None
    assert latest.result_number == 2.0


def test_failing_deep_insert_leaves_nothing_behind(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    body = thing_body(Datastreams=[datastream_body()])
    del body["Datastreams"][0]["Sensor"]["encodingType"]
    response = client.post(f"{STA}/Things", json=body, headers=auth)
    sta_error(response, 400, "Sensor", "encodingType")
    assert count(db, m.Thing) == 0
    assert count(db, m.Location) == 0
    assert count(db, m.ObservedProperty) == 0


def test_link_existing_location_by_id(client: TestClient, auth: dict[str, str]) -> None:
    location = new_id(post(client, "Locations", location_body("Depot"), auth))
    body = {"name": "Pump", "description": "a pump", "Locations": [{"@iot.id": location}]}
    thing = new_id(post(client, "Things", body, auth))
    locations = client.get(f"{STA}/Things({thing})/Locations").json()["value"]
    assert [loc["@iot.id"] for loc in locations] == [location]


def test_patch_merges_and_keeps_other_properties(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(properties={"a": 1}), auth))
    response = client.patch(f"{STA}/Things({thing})", json={"name": "Renamed"}, headers=auth)
    assert response.status_code == 200, response.text
    body = client.get(f"{STA}/Things({thing})").json()
    assert body["name"] == "Renamed"
    assert body["description"] == "on the roof"
    assert body["properties"] == {"a": 1}


def test_put_replaces_and_clears_what_is_left_out(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(properties={"a": 1}), auth))
    response = client.put(
        f"{STA}/Things({thing})",
        json={"@iot.id": thing, "name": "Replaced", "description": "new"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    body = client.get(f"{STA}/Things({thing})").json()
    assert (body["name"], body["description"], body.get("properties")) == (
        "Replaced",
        "new",
        None,
    )
    assert len(client.get(f"{STA}/Things({thing})/Locations").json()["value"]) == 1


def test_json_patch_changes_properties(client: TestClient, auth: dict[str, str]) -> None:
    thing = new_id(post(client, "Things", thing_body(properties={"a": 1}), auth))
    patch = [
        {"op": "replace", "path": "/name", "value": "Patched"},
        {"op": "add", "path": "/properties/b", "value": [1, 2]},
        {"op": "test", "path": "/properties/a", "value": 1},
    ]
    response = client.patch(
        f"{STA}/Things({thing})",
        content=json.dumps(patch),
        headers={**auth, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    body = client.get(f"{STA}/Things({thing})").json()
    assert body["name"] == "Patched"
    assert body["properties"] == {"a": 1, "b": [1, 2]}


def test_changing_a_things_location_adds_a_historical_location(
    client: TestClient, auth: dict[str, str]
) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    response = client.patch(
        f"{STA}/Things({thing})", json={"Locations": [location_body("Moved", 11, 51)]}, headers=auth
    )
    assert response.status_code == 200, response.text
    locations = client.get(f"{STA}/Things({thing})/Locations").json()["value"]
    assert [loc["name"] for loc in locations] == ["Moved"]
    history = client.get(f"{STA}/Things({thing})/HistoricalLocations?$expand=Locations").json()
    assert len(history["value"]) == 2
    names = sorted(h["Locations"][0]["name"] for h in history["value"])
    assert names == ["Corner", "Moved"]


def test_patch_or_put_with_unchanged_locations_adds_no_historical_location(
    client: TestClient, auth: dict[str, str]
) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    location = client.get(f"{STA}/Things({thing})/Locations").json()["value"][0]["@iot.id"]
    same = {"Locations": [{"@iot.id": location}]}
    assert client.patch(f"{STA}/Things({thing})", json=same, headers=auth).status_code == 200
    whole = {"name": "Weather station", "description": "on the roof", **same}
    assert client.put(f"{STA}/Things({thing})", json=whole, headers=auth).status_code == 200
    second = {"name": "Second", "description": "on the roof"}
    post(client, f"Locations({location})/Things", second, auth)
    patched = client.patch(
        f"{STA}/Locations({location})", json={"Things": [{"@iot.id": thing}]}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    history = client.get(f"{STA}/Things({thing})/HistoricalLocations").json()["value"]
    assert len(history) == 1


def test_create_location_under_a_thing_replaces_its_location(
    client: TestClient, auth: dict[str, str]
) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    post(client, f"Things({thing})/Locations", location_body("New place"), auth)
    locations = client.get(f"{STA}/Things({thing})/Locations").json()["value"]
    assert [loc["name"] for loc in locations] == ["New place"]
    assert len(client.get(f"{STA}/Things({thing})/HistoricalLocations").json()["value"]) == 2


def test_delete_thing_cascades_to_datastreams_and_observations_not_locations(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    thing, stream = make_datastream(client, auth)
    post(client, f"Datastreams({stream})/Observations", {"result": 3.0}, auth)
    response = client.delete(f"{STA}/Things({thing})", headers=auth)
    assert response.status_code == 200, response.text
    assert client.get(f"{STA}/Things({thing})").status_code == 404
    assert count(db, m.Datastream) == 0
    assert count(db, m.Observation) == 0
    assert count(db, m.HistoricalLocation) == 0
    assert count(db, m.Location) == 1
    assert count(db, m.Sensor) == 1


def test_delete_location_drops_history_left_without_location(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    location = client.get(f"{STA}/Things({thing})/Locations").json()["value"][0]["@iot.id"]
    assert client.delete(f"{STA}/Locations({location})", headers=auth).status_code == 200
    assert count(db, m.HistoricalLocation) == 0
    assert count(db, m.Thing) == 1


def test_delete_observed_property_deletes_its_datastreams(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    _thing, stream = make_datastream(client, auth)
    prop = client.get(f"{STA}/Datastreams({stream})/ObservedProperty").json()["@iot.id"]
    assert client.delete(f"{STA}/ObservedProperties({prop})", headers=auth).status_code == 200
    assert count(db, m.Datastream) == 0


def test_update_and_delete_of_observation_keep_latest_and_rollups_true(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    _thing, stream = make_datastream(client, auth)
    ids = [
        new_id(
            post(
                client,
                f"Datastreams({stream})/Observations",
                {"phenomenonTime": f"2024-05-01T08:0{minute}:00Z", "result": value},
                auth,
            )
        )
        for minute, value in ((0, 1.0), (1, 5.0))
    ]
    response = client.patch(f"{STA}/Observations({ids[1]})", json={"result": 7.0}, headers=auth)
    assert response.status_code == 200, response.text
    db.expire_all()
    assert db.get(m.LatestValue, stream).result_number == 7.0  # type: ignore[union-attr]
    hour = db.scalars(select(m.Rollup).where(m.Rollup.interval_s == 3600)).one()
    assert (hour.count, hour.sum, hour.max) == (2, 8.0, 7.0)
    assert client.delete(f"{STA}/Observations({ids[1]})", headers=auth).status_code == 200
    db.expire_all()
    assert db.get(m.LatestValue, stream).result_number == 1.0  # type: ignore[union-attr]
    hour = db.scalars(select(m.Rollup).where(m.Rollup.interval_s == 3600)).one()
    assert (hour.count, hour.sum) == (1, 1.0)


def test_delete_feature_of_interest_recomputes_latest_value_and_rollups(
    client: TestClient, auth: dict[str, str], db: Session
) -> None:
    _thing, stream = make_datastream(client, auth)
    post(
        client,
        f"Datastreams({stream})/Observations",
        {"phenomenonTime": "2024-05-01T08:00:00Z", "result": 1.0},
        auth,
    )
    feature = {
        "name": "River bank",
        "description": "where the sample was taken",
        "encodingType": "application/geo+json",
        "feature": {"type": "Point", "coordinates": [10.1, 50.1]},
    }
    later = new_id(
        post(
            client,
            f"Datastreams({stream})/Observations",
            {"phenomenonTime": "2024-05-01T08:30:00Z", "result": 9.0, "FeatureOfInterest": feature},
            auth,
        )
    )
    feature_id = client.get(f"{STA}/Observations({later})/FeatureOfInterest").json()["@iot.id"]
    db.expire_all()
    assert db.get(m.LatestValue, stream).result_number == 9.0  # type: ignore[union-attr]
    response = client.delete(f"{STA}/FeaturesOfInterest({feature_id})", headers=auth)
    assert response.status_code == 200, response.text
    assert client.get(f"{STA}/Observations({later})").status_code == 404
    db.expire_all()
    assert db.get(m.LatestValue, stream).result_number == 1.0  # type: ignore[union-attr]
    for interval in (3600, 86400):
        bucket = db.scalars(select(m.Rollup).where(m.Rollup.interval_s == interval)).one()
        assert (bucket.count, bucket.sum, bucket.max, bucket.last) == (1, 1.0, 1.0, 1.0)
    assert db.scalars(select(m.Rollup).where(m.Rollup.interval_s == 60)).all()[0].sum == 1.0
    assert count(db, m.Rollup) == 3


def test_writes_need_credentials(client: TestClient) -> None:
    response = client.post(f"{STA}/Things", json=thing_body())
    sta_error(response, 401, "credentials")


def test_writes_need_a_writing_role(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    analyst = auth_service.create_user(
        db,
        email="analyst@example.org",
        password=PASSWORD,
        roles=["analyst"],
        actor=Actor.system("test"),
    )
    db.commit()
    token = base64.b64encode(f"{analyst.email}:{PASSWORD}".encode()).decode()
    response = client.post(
        f"{STA}/Things", json=thing_body(), headers={"Authorization": f"Basic {token}"}
    )
    sta_error(response, 403, "analyst@example.org")


def test_basic_auth_with_email_and_password_or_api_key(
    client: TestClient, people: dict[str, User], writer_key: str
) -> None:
    for user, password in (("staff.cmb@example.org", PASSWORD), ("anything", writer_key)):
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        post(client, "Things", thing_body(name=user), headers)
    wrong = base64.b64encode(b"staff.cmb@example.org:wrong password").decode()
    response = client.post(
        f"{STA}/Things", json=thing_body(), headers={"Authorization": f"Basic {wrong}"}
    )
    sta_error(response, 401)


def test_writes_are_audited(client: TestClient, auth: dict[str, str], db: Session) -> None:
    thing = new_id(post(client, "Things", thing_body(), auth))
    client.patch(f"{STA}/Things({thing})", json={"name": "x"}, headers=auth)
    client.delete(f"{STA}/Things({thing})", headers=auth)
    db.expire_all()
    actions = db.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.startswith("sensing.sta."))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == [
        "sensing.sta.thing.create",
        "sensing.sta.thing.update",
        "sensing.sta.thing.delete",
    ]
    labels = set(
        db.scalars(
            select(AuditEntry.actor_label).where(AuditEntry.action.startswith("sensing.sta."))
        )
    )
    assert labels == {"staff.cmb@example.org"}


def test_a_thing_marked_restricted_in_its_properties_is_hidden_from_visitors(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = thing_body("Police camera 3", properties={"cityos:restricted": True})
    thing = new_id(post(client, "Things", body, auth))
    assert client.get(f"/sta/v1.1/Things({thing})").status_code == 404
    assert client.get(f"/sta/v1.1/Things({thing})", headers=auth).status_code == 200
    opened = client.patch(
        f"/sta/v1.1/Things({thing})",
        json={"properties": {"cityos:restricted": False}},
        headers=auth,
    )
    assert opened.status_code == 200, opened.text
    assert client.get(f"/sta/v1.1/Things({thing})").status_code == 200
    wrong = client.post(
        "/sta/v1.1/Things",
        json=thing_body("Camera", properties={"cityos:restricted": "yes"}),
        headers=auth,
    )
    sta_error(wrong, 400, "cityos:restricted", "true or false")
