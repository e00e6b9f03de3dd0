"""The JSON API under /api/assess: who may read and write, and every route's answers."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.assessment.models import AssessRun, IndicatorValue, Plan
from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from tests.assessment.api_support import ANALYST, analyst, sign_in
from tests.assessment.conftest import AssessFixture, small_document
from tests.live_server import need_chromium

__all__ = ["analyst"]

SYSTEM = Actor.system("test")


def _count(db: Session, model: type) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def as_analyst(client: TestClient, analyst: User) -> dict[str, str]:
    return sign_in(client, ANALYST)


# --- access ------------------------------------------------------------------------------


def test_anonymous_callers_mustsign_in(client: TestClient) -> None:
    response = client.get("/api/assess/frameworks")
    assert response.status_code == 401
    assert "Sign in" in response.json()["error"]["message"]
    assert client.post("/api/assess/runs", json={}).status_code in (401, 403)


def test_staff_read_but_only_analysts_write(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    headers = sign_in(client, "staff.cmb@example.org")
    listed = client.get("/api/assess/frameworks")
    assert listed.status_code == 200
    assert {"cityos-live", "un-habitat-cpi"} <= {f["code"] for f in listed.json()["frameworks"]}
    refused = client.post("/api/assess/frameworks", json=small_document(), headers=headers)
    assert refused.status_code == 403
    assert "analyst" in refused.json()["error"]["message"]


def test_a_browser_write_needs_the_csrf_header(client: TestClient, analyst: User) -> None:
    headers = sign_in(client, ANALYST)
    assert client.post("/api/assess/frameworks", json=small_document()).status_code == 403
    created = client.post("/api/assess/frameworks", json=small_document(), headers=headers)
    assert created.status_code == 201


def test_an_api_key_writes_without_a_csrf_token(
    client: TestClient, db: Session, analyst: User
) -> None:
    _, raw = auth_service.create_api_key(db, user=analyst, name="tests", actor=SYSTEM)
    db.commit()
    response = client.post(
        "/api/assess/frameworks",
        json=small_document(),
        headers={"authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 201


# --- frameworks --------------------------------------------------------------------------


def test_frameworks_are_created_read_as_json_and_yaml_and_deleted(
    client: TestClient, as_analyst: dict[str, str]
) -> None:
    created = client.post("/api/assess/frameworks", json=small_document(), headers=as_analyst)
    assert created.status_code == 201
    body = created.json()
    assert (body["code"], body["builtin"], body["name_zh"]) == ("T", False, "测试指数")
    again = client.post("/api/assess/frameworks", json=small_document(), headers=as_analyst)
    assert again.status_code == 409
    text = client.get("/api/assess/frameworks/T", params={"format": "yaml"})
    assert text.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(text.text)["root"]["children"][0]["code"] == "T.A"
    assert client.get("/api/assess/frameworks/T").json()["document"]["code"] == "T"
    assert client.delete("/api/assess/frameworks/T", headers=as_analyst).status_code == 204
    missing = client.get("/api/assess/frameworks/T")
    assert missing.status_code == 404
    assert "cityos-live" in missing.json()["error"]["message"]


def test_a_framework_is_put_as_yaml(client: TestClient, as_analyst: dict[str, str]) -> None:
    text = yaml.safe_dump(small_document(), allow_unicode=True)
    response = client.put(
        "/api/assess/frameworks/T",
        content=text.encode(),
        headers={**as_analyst, "content-type": "application/yaml"},
    )
    assert response.status_code == 200
    assert response.json()["document"]["root"]["children"][1]["code"] == "T.B"


def test_bad_framework_documents_say_what_to_fix(
    client: TestClient, as_analyst: dict[str, str]
) -> None:
    document = small_document()
    document["root"]["children"][1]["weight"] = 50
    unbalanced = client.post("/api/assess/frameworks", json=document, headers=as_analyst)
    assert unbalanced.status_code == 400
    assert "sum to 110" in unbalanced.json()["error"]["message"]
    assert unbalanced.json()["error"]["details"]
    wrong_code = client.put(
        "/api/assess/frameworks/OTHER", json=small_document(), headers=as_analyst
    )
    assert wrong_code.status_code == 400
    broken = client.put(
        "/api/assess/frameworks/T",
        content=b"code: T\nroot: [unclosed",
        headers={**as_analyst, "content-type": "application/yaml"},
    )
    assert broken.status_code == 400
    assert "line" in broken.json()["error"]["message"]
    not_json = client.post(
        "/api/assess/frameworks",
        content=b"{not json",
        headers={**as_analyst, "content-type": "application/json"},
    )
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error"]["message"]
    assert client.get("/api/assess/frameworks/T").status_code == 404


def test_weights_are_patched_or_refused(client: TestClient, as_analyst: dict[str, str]) -> None:
    client.post("/api/assess/frameworks", json=small_document(), headers=as_analyst)
    url = "/api/assess/frameworks/T/weights"
    refused = client.patch(url, json={"weights": {"T.B": 50}}, headers=as_analyst)
    assert refused.status_code == 400
    assert "renormalise" in refused.json()["error"]["message"]
    done = client.patch(url, json={"weights": {"T.B": 60}, "renormalise": True}, headers=as_analyst)
    assert done.status_code == 200
    children = done.json()["document"]["root"]["children"]
    assert [child["weight"] for child in children] == [50, 50]


def test_builtin_frameworks_cannot_be_deleted(
    client: TestClient, as_analyst: dict[str, str]
) -> None:
    response = client.delete("/api/assess/frameworks/cityos-live", headers=as_analyst)
    assert response.status_code == 409


# --- units, peers, values ----------------------------------------------------------------


def test_units_and_values_are_written_and_read(
    client: TestClient, db: Session, as_analyst: dict[str, str]
) -> None:
    units = {
        "units": [
            {
                "code": "alpha",
                "name_en": "Alpha",
                "is_home": True,
                "attributes": {"population": 1e6},
            },
            {"code": "beta", "name_en": "Beta"},
        ]
    }
    assert client.put("/api/assess/units", json=units, headers=as_analyst).json() == {
        "created": 2,
        "updated": 0,
    }
    listed = client.get("/api/assess/units").json()["units"]
    assert [(u["code"], u["is_home"]) for u in listed] == [("alpha", True), ("beta", False)]
    values = {
        "values": [
            {"unit": "alpha", "indicator": "X.1", "year": 2025, "value": 3.5},
            {"unit": "beta", "indicator": "X.1", "year": 2025, "value": 4},
        ]
    }
    written = client.post("/api/assess/values", json=values, headers=as_analyst)
    assert written.status_code == 200
    assert written.json()["written"] == 2
    read = client.get("/api/assess/values", params={"unit": "alpha"}).json()["values"]
    assert [(v["indicator"], v["value"], v["source"]) for v in read] == [("X.1", 3.5, "entered")]
    peers = client.put(
        "/api/assess/peers/near", json={"name_en": "Near", "members": ["beta"]}, headers=as_analyst
    )
    assert peers.json()["members"] == ["beta"]
    assert client.get("/api/assess/peers").json()["groups"][0]["code"] == "near"


def test_bad_values_write_nothing(
    client: TestClient, db: Session, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    before = _count(db, IndicatorValue)
    not_a_number = client.post(
        "/api/assess/values",
        json={"values": [{"unit": "alpha", "indicator": "X.1", "year": 2025, "value": "lots"}]},
        headers=as_analyst,
    )
    assert not_a_number.status_code == 422
    assert "values.0.value" in not_a_number.json()["error"]["message"]
    unknown = client.post(
        "/api/assess/values",
        json={
            "values": [
                {"unit": "alpha", "indicator": "X.1", "year": 2025, "value": 1},
                {"unit": "nowhere", "indicator": "X.1", "year": 2025, "value": 1},
            ]
        },
        headers=as_analyst,
    )
    assert unknown.status_code == 404
    assert "nowhere" in unknown.json()["error"]["message"]
    bad_year = client.post(
        "/api/assess/values",
        json={"values": [{"unit": "alpha", "indicator": "X.1", "year": 20250, "value": 1}]},
        headers=as_analyst,
    )
    assert bad_year.status_code == 400
    assert bad_year.json()["error"]["details"][0]["row"] == 1
    assert _count(db, IndicatorValue) == before


def test_coverage_and_live_answer_for_the_units_asked(
    client: TestClient, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    matrix = client.get(
        "/api/assess/coverage", params={"framework": "T", "units": "alpha,delta", "year": 2025}
    ).json()
    assert [u["pct"] for u in matrix["units"]] == [100.0, 66.7]
    unknown = client.get("/api/assess/coverage", params={"framework": "T", "units": "nope"})
    assert unknown.status_code == 404
    live = client.get("/api/assess/live", params={"units": "alpha,beta"}).json()
    assert live["units"] == ["alpha", "beta"]
    outside = live["values"]["beta"]["cases.resolved_within_sla_pct"]
    assert outside == {
        "value": None,
        "reason": "live metrics exist only for this city and its districts",
    }


# --- runs --------------------------------------------------------------------------------


def _run(client: TestClient, headers: dict[str, str], **extra: Any) -> Any:
    body = {"framework": "T", "units": ["alpha", "beta", "gamma", "delta"], **extra}
    return client.post("/api/assess/runs", json=body, headers=headers)


def test_a_run_is_created_listed_read_and_reported(
    client: TestClient, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    created = _run(client, as_analyst, title="Four", config={"year": 2025})
    assert created.status_code == 201
    run = created.json()
    assert created.headers["location"] == f"/api/assess/runs/{run['id']}"
    assert (run["title"], run["year"], run["framework"]) == ("Four", 2025, "T")
    assert [r["id"] for r in client.get("/api/assess/runs").json()["runs"]] == [run["id"]]
    detail = client.get(f"/api/assess/runs/{run['id']}").json()
    assert detail["result"]["year"] == 2025
    html = client.get(f"/api/assess/runs/{run['id']}/report.html", params={"lang": "zh-CN"})
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "甲市" in html.text
    # self-contained: its own policy allows the inline styles and nothing from outside
    assert html.headers["content-security-policy"].startswith("default-src 'none'")
    xlsx = client.get(f"/api/assess/runs/{run['id']}/results.xlsx")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    compared = client.get(
        f"/api/assess/runs/{run['id']}/compare", params={"unit": "alpha", "peers": "beta,gamma"}
    ).json()
    assert compared["unit"]["code"] == "alpha"
    assert [p["code"] for p in compared["peers"]] == ["beta", "gamma"]


def test_bad_runs_say_what_to_fix_and_store_nothing(
    client: TestClient, db: Session, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    unknown_method = _run(client, as_analyst, config={"normalise": {"method": "magic"}})
    assert unknown_method.status_code == 400
    assert "minmax" in unknown_method.json()["error"]["message"]
    no_year = _run(client, as_analyst, config={"year": 1999})
    assert no_year.status_code == 422
    unknown_framework = client.post(
        "/api/assess/runs", json={"framework": "NOPE", "units": ["alpha"]}, headers=as_analyst
    )
    assert unknown_framework.status_code == 404
    missing_units = client.post("/api/assess/runs", json={"framework": "T"}, headers=as_analyst)
    assert missing_units.status_code == 422
    assert _count(db, AssessRun) == 0
    assert client.get("/api/assess/runs/42").status_code == 404
    assert client.get("/api/assess/runs/42/report.html").status_code == 404


def test_an_unknown_report_language_is_refused(
    client: TestClient, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    run = _run(client, as_analyst).json()
    response = client.get(f"/api/assess/runs/{run['id']}/report.html", params={"lang": "fr"})
    assert response.status_code == 400
    compare = client.get(f"/api/assess/runs/{run['id']}/compare", params={"unit": "omega"})
    assert compare.status_code == 404


# --- plans -------------------------------------------------------------------------------


def test_a_plan_with_targets_and_countermeasures_shows_its_progress(
    client: TestClient, db: Session, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    created = client.post(
        "/api/assess/plans",
        json={
            "title": "Faster services",
            "unit": "alpha",
            "framework": "T",
            "targets": [
                {
                    "indicator": "T.A2",
                    "baseline_year": 2024,
                    "stages": [{"year": 2026, "value": 20}],
                    "problem": "Cases take too long",
                    "goal": "20 hours by 2026",
                }
            ],
        },
        headers=as_analyst,
    )
    assert created.status_code == 201
    plan = created.json()
    target = plan["targets"][0]
    assert target["baseline_value"] == 30.0  # the stored 2024 value
    measure = client.post(
        f"/api/assess/plans/{plan['id']}/countermeasures",
        json={"title": "Night shift", "department": "CMB", "target_id": target["id"]},
        headers=as_analyst,
    )
    assert measure.status_code == 201
    measure_id = measure.json()["countermeasures"][0]["id"]
    moved = client.patch(
        f"/api/assess/plans/{plan['id']}/countermeasures/{measure_id}",
        json={"status": "in_progress"},
        headers=as_analyst,
    )
    assert moved.json()["countermeasures"][0]["status"] == "in_progress"
    progress = client.get(f"/api/assess/plans/{plan['id']}/progress").json()
    row = progress["targets"][0]
    # 2025: 25 h; expected half-way from 30 to 20 = 25: on track (lower is better)
    assert (row["status"], row["latest"]["value"], row["expected"]) == ("on_track", 25.0, 25.0)
    assert row["direction"] == "lower"
    assert progress["counts"]["on_track"] == 1


def test_bad_plans_and_countermeasures_are_refused(
    client: TestClient, db: Session, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    no_baseline = client.post(
        "/api/assess/plans",
        json={
            "title": "P",
            "unit": "alpha",
            "targets": [
                {
                    "indicator": "T.A1",
                    "baseline_year": 2020,
                    "stages": [{"year": 2026, "value": 90}],
                }
            ],
        },
        headers=as_analyst,
    )
    assert no_baseline.status_code == 400
    assert "no stored value of T.A1 for 2020" in no_baseline.json()["error"]["message"]
    assert _count(db, Plan) == 0
    plan = client.post(
        "/api/assess/plans", json={"title": "P", "unit": "alpha"}, headers=as_analyst
    ).json()
    stages_back = client.post(
        f"/api/assess/plans/{plan['id']}/targets",
        json={
            "indicator": "T.A1",
            "baseline_year": 2024,
            "baseline_value": 80,
            "stages": [{"year": 2028, "value": 90}, {"year": 2026, "value": 85}],
        },
        headers=as_analyst,
    )
    assert stages_back.status_code == 400
    assert "stage years must rise" in stages_back.json()["error"]["message"]
    department = client.post(
        f"/api/assess/plans/{plan['id']}/countermeasures",
        json={"title": "X", "department": "NOPE"},
        headers=as_analyst,
    )
    assert department.status_code == 404
    assert "CMB" in department.json()["error"]["message"]
    status = client.post(
        f"/api/assess/plans/{plan['id']}/countermeasures",
        json={"title": "X", "status": "finished"},
        headers=as_analyst,
    )
    assert status.status_code == 400
    assert "planned, in_progress, done" in status.json()["error"]["message"]
    unit = client.post(
        "/api/assess/plans", json={"title": "P", "unit": "omega"}, headers=as_analyst
    )
    assert unit.status_code == 404
    assert client.get("/api/assess/plans/999/progress").status_code == 404
    assert client.delete(f"/api/assess/plans/{plan['id']}", headers=as_analyst).status_code == 204
    assert client.get("/api/assess/plans").json() == {"plans": []}


def test_a_pdf_without_a_browser_is_a_clear_503(
    client: TestClient, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    run = _run(client, as_analyst).json()
    settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"chromium_path": "no-such-chromium-browser"}
    )
    response = client.get(f"/api/assess/runs/{run['id']}/report.pdf")
    assert response.status_code == 503
    assert "no-such-chromium-browser" in response.json()["error"]["message"]


@pytest.mark.browser
def test_the_report_prints_to_pdf_with_headless_chromium(
    client: TestClient, as_analyst: dict[str, str], assessed: AssessFixture
) -> None:
    need_chromium()
    run = _run(client, as_analyst).json()
    response = client.get(f"/api/assess/runs/{run['id']}/report.pdf", params={"lang": "zh-CN"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert len(response.content) > 10_000
