"""Sharing requests, data elements, quality and metrics through the JSON API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.db import utcnow
from tests.datahub.access_support import Hub, bearer, hub, make_user

__all__ = ["hub"]

PURPOSE = "Planning the flood response in the west district"


def _error(response: Any) -> str:
    message: str = response.json()["error"]["message"]
    return message


def test_request_approve_a_subset_then_read_it(client: TestClient, db: Session, hub: Hub) -> None:
    water = bearer(db, hub.people["water"])
    steward = bearer(db, hub.stewards["cmb"])
    refused = client.get("/api/data/register/rows", headers=water)
    assert refused.status_code == 403
    asked = client.post(
        "/api/data/register/requests",
        json={"purpose": PURPOSE, "fields": ["id", "district", "mobile"]},
        headers=water,
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["status"] == "pending"
    assert request["department"]["code"] == "WATER"
    assert request["dataset"]["name"] == "register"

    incoming = client.get("/api/data-requests?role=incoming", headers=steward).json()
    assert [r["id"] for r in incoming["requests"]] == [request["id"]]
    outgoing = client.get("/api/data-requests?role=outgoing", headers=water).json()
    assert [r["id"] for r in outgoing["requests"]] == [request["id"]]
    pending = client.get("/api/data-requests?status=pending", headers=steward).json()
    assert len(pending["requests"]) == 1

    until = (utcnow() + timedelta(days=90)).isoformat()
    decided = client.post(
        f"/api/data-requests/{request['id']}/decision",
        json={"decision": "approve", "fields": ["id", "district"], "expires_at": until},
        headers=steward,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    assert decided.json()["granted_fields"] == ["id", "district"]

    rows = client.get("/api/data/register/rows?sort=id", headers=water)
    assert rows.status_code == 200, rows.text
    assert rows.json()["fields"] == ["id", "district"]
    assert rows.json()["rows"][0] == {"id": 1, "district": "West"}
    hidden = client.get("/api/data/register/rows?fields=mobile", headers=water)
    assert hidden.status_code == 403

    twice = client.post(
        f"/api/data-requests/{request['id']}/decision",
        json={"decision": "refuse"},
        headers=steward,
    )
    assert twice.status_code == 409
    assert "already decided" in _error(twice)

    revoked = client.post(f"/api/data-requests/{request['id']}/revoke", headers=steward)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert client.get("/api/data/register/rows", headers=water).status_code == 403


def test_refusing_a_request(client: TestClient, db: Session, hub: Hub) -> None:
    water = bearer(db, hub.people["water"])
    asked = client.post(
        "/api/data/register/requests", json={"purpose": PURPOSE}, headers=water
    ).json()
    self_decided = client.post(
        f"/api/data-requests/{asked['id']}/decision", json={"decision": "approve"}, headers=water
    )
    assert self_decided.status_code == 403
    refused = client.post(
        f"/api/data-requests/{asked['id']}/decision",
        json={"decision": "refuse", "note": "Use the district summary."},
        headers=bearer(db, hub.people["cmb"]),
    )
    assert refused.status_code == 200
    assert refused.json()["status"] == "refused"
    assert refused.json()["decision_note"] == "Use the district summary."
    mine = client.get(f"/api/data-requests/{asked['id']}", headers=water).json()
    assert mine["status"] == "refused"


def test_bad_requests_say_what_to_fix(client: TestClient, db: Session, hub: Hub) -> None:
    water = bearer(db, hub.people["water"])
    short = client.post("/api/data/register/requests", json={"purpose": "data"}, headers=water)
    assert short.status_code == 400
    assert "at least 10 characters" in _error(short)
    missing = client.post("/api/data/register/requests", json={}, headers=water)
    assert missing.status_code == 422
    assert "purpose" in _error(missing)
    unknown = client.post(
        "/api/data/register/requests",
        json={"purpose": PURPOSE, "fields": ["salary"]},
        headers=water,
    )
    assert unknown.status_code == 400
    assert "no field 'salary'" in _error(unknown)
    readable = client.post("/api/data/hospitals/requests", json={"purpose": PURPOSE}, headers=water)
    assert readable.status_code == 400
    assert "already readable by anyone" in _error(readable)
    bad_decision = client.post(
        "/api/data-requests/1/decision",
        json={"decision": "maybe"},
        headers=bearer(db, hub.stewards["cmb"]),
    )
    assert bad_decision.status_code == 422
    nothing = client.post(
        "/api/data-requests/999999/decision",
        json={"decision": "approve"},
        headers=bearer(db, hub.stewards["cmb"]),
    )
    assert nothing.status_code == 404
    role = client.get("/api/data-requests?role=mine", headers=water)
    assert role.status_code == 400


def test_departments_not_involved_do_not_see_a_request(
    client: TestClient, db: Session, hub: Hub
) -> None:
    asked = client.post(
        "/api/data/register/requests",
        json={"purpose": PURPOSE},
        headers=bearer(db, hub.people["water"]),
    ).json()
    analyst = make_user(db, "analyst@example.org", ["analyst"])
    seen = client.get(f"/api/data-requests/{asked['id']}", headers=bearer(db, analyst))
    assert seen.status_code == 404
    assert client.get("/api/data-requests").status_code == 401


HYDRANT = {
    "code": "hydrant_code",
    "name_zh": "消火栓编码",
    "name_en": "Fire hydrant code",
    "type": "string",
    "constraints": {"pattern": "H[0-9]{3}"},
    "example": "H001",
}


def test_data_elements_are_listed_and_admins_add_and_change_them(
    client: TestClient, db: Session, hub: Hub
) -> None:
    listed = client.get("/api/data-elements").json()["elements"]
    codes = {e["code"] for e in listed}
    assert {"district_code", "uscc", "id_card_cn"} <= codes
    uscc = client.get("/api/data-elements/uscc").json()
    assert uscc["constraints"]["check"] == "uscc"
    assert uscc["builtin"] is True
    admin = bearer(db, hub.people["admin"])
    created = client.post("/api/data-elements", json=HYDRANT, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "hydrant_code"
    changed = client.put(
        "/api/data-elements/hydrant_code",
        json={"definition_en": "The code on the hydrant"},
        headers=admin,
    )
    assert changed.status_code == 200
    assert changed.json()["definition_en"] == "The code on the hydrant"
    bad = client.post(
        "/api/data-elements", json={**HYDRANT, "code": "x2", "type": "colour"}, headers=admin
    )
    assert bad.status_code == 422
    assert client.get("/api/data-elements/nope").status_code == 404


def test_only_admins_create_or_change_data_elements(
    client: TestClient, db: Session, hub: Hub
) -> None:
    for who in (bearer(db, hub.stewards["water"]), bearer(db, hub.people["cmb"])):
        created = client.post("/api/data-elements", json=HYDRANT, headers=who)
        assert created.status_code == 403
        assert _error(created) == "This needs the admin role."
        changed = client.put(
            "/api/data-elements/address", json={"name_en": "Anywhere"}, headers=who
        )
        assert changed.status_code == 403
    assert client.get("/api/data-elements/address").json()["name_en"] != "Anywhere"


def test_even_admins_may_not_lower_a_builtin_elements_protection(
    client: TestClient, db: Session, hub: Hub
) -> None:
    admin = bearer(db, hub.people["admin"])
    lowered = client.put(
        "/api/data-elements/person_name", json={"sensitivity": "public"}, headers=admin
    )
    assert lowered.status_code == 409
    message = _error(lowered)
    assert "person_name is a built-in element" in message
    assert "can't be lowered from 'sensitive' to 'public'" in message
    assert "create a new element" in message
    unmasked = client.put("/api/data-elements/person_name", json={"mask": "partial"}, headers=admin)
    assert unmasked.status_code == 409
    assert "can't become masked" in _error(unmasked)
    assert client.get("/api/data-elements/person_name").json()["sensitivity"] == "sensitive"
    # raising it, or other changes, are fine
    raised = client.put(
        "/api/data-elements/address", json={"sensitivity": "internal"}, headers=admin
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["sensitivity"] == "internal"
    renamed = client.put(
        "/api/data-elements/person_name", json={"name_en": "Full name"}, headers=admin
    )
    assert renamed.status_code == 200, renamed.text


def test_quality_and_metrics_endpoints(client: TestClient, db: Session, hub: Hub) -> None:
    figures = client.get("/api/data/hospitals/quality").json()
    assert figures["name"] == "hospitals"
    assert figures["completeness_pct"] == 83.3
    assert figures["freshness"] == "fresh"
    assert figures["validity_pct"] == 100.0
    assert client.get("/api/data/register/quality").status_code == 401
    water = bearer(db, hub.people["water"])
    assert client.get("/api/data-metrics").status_code == 401
    metrics = client.get("/api/data-metrics", headers=water).json()
    assert metrics["city"]["published"] == 4
    assert metrics["city"]["open"] == 2
    assert [d["code"] for d in metrics["departments"]] == ["CMB"]
    one = client.get("/api/data-metrics?department=WATER", headers=water).json()
    assert [d["code"] for d in one["departments"]] == ["WATER"]
    assert one["departments"][0]["published"] == 0
    unknown = client.get("/api/data-metrics?department=NOPE", headers=water)
    assert unknown.status_code == 404


def test_quality_per_field_leaves_out_fields_hidden_from_the_caller(
    client: TestClient, db: Session, hub: Hub
) -> None:
    anonymous = client.get("/api/data/open-register/quality").json()
    assert set(anonymous["field_completeness"]) == {"id", "district", "mobile"}  # masked shown
    owner = client.get(
        "/api/data/open-register/quality", headers=bearer(db, hub.people["cmb"])
    ).json()
    assert set(owner["field_completeness"]) == {"id", "district", "mobile", "owner_name"}
    assert anonymous["completeness_pct"] == owner["completeness_pct"]
    refused = client.get(
        "/api/data/register/quality", headers=bearer(db, hub.people["water"])
    ).json()
    assert refused["field_completeness"] == {}
