"""The assessment pages: who sees and changes what, every page in both languages, and forms
that are refused shown again with the service's message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.auth import service as auth_service
from cityos.auth.models import User
from tests.assessment.conftest import ACTOR, AssessFixture, small_document
from tests.conftest import PASSWORD, csrf_from, login
from tests.geo.conftest import CityFixture

HTML = {"accept": "text/html"}
ANALYST = "analyst@example.org"
STAFF = "staff.cmb@example.org"


@dataclass(frozen=True)
class Seeded:
    peers_run: int
    area_run: int
    plan: int
    measure: int


@pytest.fixture
def seeded(
    db: Session, assessed: AssessFixture, people: dict[str, User], city: CityFixture
) -> Seeded:
    """Framework T on four cities (a peer run with Monte Carlo), on the test city's two
    districts (a map run), a plan for alpha with a target and a countermeasure, an analyst."""
    service.save_peer_group(
        db,
        code="rivals",
        name_en="Rivals",
        name_zh="对手城市",
        members=["beta", "gamma", "delta"],
        actor=ACTOR,
    )
    peers_run = service.run_assessment(
        db,
        framework_code="T",
        unit_set="peers:rivals",
        overrides={"uncertainty": {"runs": 20}},
        actor=ACTOR,
    )
    service.refresh_area_units(db, level="district", actor=ACTOR)
    service.set_values(
        db,
        records=[
            service.ValueRecord(unit, code, 2025, value)
            for unit, code, value in (
                ("TC-W", "T.A1", 70.0),
                ("TC-W", "T.A2", 30.0),
                ("TC-W", "T.B1", 30.0),
                ("TC-E", "T.A1", 90.0),
                ("TC-E", "T.A2", 20.0),
                ("TC-E", "T.B1", 20.0),
            )
        ],
        source="entered",
        actor=ACTOR,
    )
    area_run = service.run_assessment(
        db, framework_code="T", unit_set="areas:district", actor=ACTOR
    )
    plan = service.create_plan(
        db,
        title="Faster services",
        unit_code="alpha",
        framework_code="T",
        targets=[
            service.TargetInput(
                "T.A1", 2024, [service.Stage(2026, 88.0), service.Stage(2028, 95.0)], 80.0
            )
        ],
        actor=ACTOR,
    )
    measure = service.add_countermeasure(
        db,
        plan_id=plan.id,
        measure=service.MeasureInput(
            "Hire two case officers", department_code="CMB", due_date=date(2026, 6, 30)
        ),
        actor=ACTOR,
    )
    auth_service.create_user(db, email=ANALYST, password=PASSWORD, roles=["analyst"], actor=ACTOR)
    db.commit()
    return Seeded(peers_run.id, area_run.id, plan.id, measure.id)


def sign_in(client: TestClient, email: str) -> str:
    """Sign in; the CSRF token the pages' forms carry."""
    token = csrf_from(client.get("/login").text)
    assert login(client, email).status_code == 303
    return token


def pages(seeded: Seeded) -> list[str]:
    return [
        "/assess",
        "/assess/frameworks/T",
        "/assess/frameworks/gbt33356-2016",
        "/assess/frameworks/T/coverage?units=alpha,beta,gamma,delta&year=2025",
        f"/assess/runs/{seeded.peers_run}",
        f"/assess/runs/{seeded.area_run}",
        "/assess/plans",
        f"/assess/plans/{seeded.plan}",
    ]


# --- who sees what -----------------------------------------------------------------------


def test_every_page_renders_in_english_and_chinese_for_a_signed_in_user(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, STAFF)
    for language, words in (("en", ("Assessment", "Ranking")), ("zh-CN", ("评估", "排名"))):
        for path in pages(seeded):
            page = client.get(path, headers={**HTML, "accept-language": language})
            assert page.status_code == 200, (path, language, page.text[:500])
            assert f'<html lang="{language}">' in page.text
            assert words[0] in page.text, (path, language)
            assert 'href="/assess"' in page.text  # the navigation entry
    run = client.get(f"/assess/runs/{seeded.peers_run}", headers={"accept-language": "zh-CN"})
    assert "甲市" in run.text
    assert "排名" in run.text
    assert "run-form" not in client.get("/assess").text  # staff read; they do not run


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, seeded: Seeded) -> None:
    for path in pages(seeded):
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


def test_staff_without_the_analyst_role_read_but_cannot_change_anything(
    client: TestClient, seeded: Seeded
) -> None:
    token = sign_in(client, STAFF)
    posts = {
        "/assess/runs": {"framework": "T", "units_kind": "list", "unit_codes": "alpha,beta"},
        "/assess/frameworks/T/weights": {"w.T.A1": "30"},
        "/assess/plans": {"title": "Mine", "unit": "alpha"},
        f"/assess/plans/{seeded.plan}/countermeasures": {"title": "More staff"},
        f"/assess/runs/{seeded.peers_run}/delete": {},
    }
    for path, data in posts.items():
        response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
        assert "analyst" in response.text
    assert client.get(f"/assess/runs/{seeded.peers_run}").status_code == 200


# --- runs --------------------------------------------------------------------------------


def test_the_new_run_form_runs_and_opens_the_results(client: TestClient, seeded: Seeded) -> None:
    token = sign_in(client, ANALYST)
    response = client.post(
        "/assess/runs",
        data={
            "csrf_token": token,
            "framework": "T",
            "units_kind": "list",
            "unit_codes": "alpha, beta, gamma",
            "year": "2024",
            "normalise": "zscore",
            "aggregate": "arithmetic",
            "mc_runs": "10",
            "title": "Three cities",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/assess/runs/\d+", location)
    page = client.get(location, headers=HTML)
    assert "Three cities" in page.text
    ranking = page.text.split('data-testid="ranking"')[1].split("</table>")[0]
    assert ranking.count("data-unit=") == 3
    assert 'id="whisker-chart"' in page.text
    assert 'id="radar-chart"' in page.text
    assert f"/api/assess/runs/{location.rsplit('/', 1)[1]}/report.pdf?lang=en" in page.text
    assert "Z-score" in page.text or "zscore" in page.text


def test_bad_run_input_is_shown_again_with_the_message(
    client: TestClient, seeded: Seeded, db: Session
) -> None:
    token = sign_in(client, ANALYST)
    typed = {"csrf_token": token, "framework": "T", "units_kind": "list", "title": "Kept"}
    cases = [
        ({"unit_codes": "alpha,beta", "year": "1999"}, 422, "There is no value for the year 1999"),
        ({"unit_codes": "alpha,omega"}, 404, "Unknown unit(s) omega"),
        ({"unit_codes": ""}, 400, "List the codes of the units"),
        ({"unit_codes": "alpha,beta", "mc_runs": "5000"}, 400, "between 0 and 1000"),
        ({"unit_codes": "alpha,beta", "year": "soon"}, 400, "is not a whole number"),
    ]
    for extra, status, message in cases:
        response = client.post("/assess/runs", data={**typed, **extra}, headers=HTML)
        assert response.status_code == status, (extra, response.text[:300])
        assert message in response.text.replace("&#39;", "'"), extra
        assert 'value="Kept"' in response.text  # what was typed stays in the form
    db.rollback()
    assert len(service.list_runs(db)) == 2  # nothing was stored


def test_the_benchmark_compares_the_chosen_unit(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, STAFF)
    page = client.get(f"/assess/runs/{seeded.peers_run}?unit=gamma", headers=HTML).text
    table = page.split('data-testid="benchmark"')[1].split("</table>")[0]
    assert "Services" in table
    assert "Environment" in table
    assert '<option value="gamma" selected>' in page
    assert client.get(
        f"/assess/benchmark?run={seeded.peers_run}&unit=gamma", follow_redirects=False
    ).headers["location"] == (f"/assess/runs/{seeded.peers_run}?unit=gamma#benchmark")
    unknown = client.get(f"/assess/runs/{seeded.peers_run}?unit=omega", headers=HTML)
    assert unknown.status_code == 200
    assert "Unit &#39;omega&#39; is not in this assessment" in unknown.text


# --- frameworks --------------------------------------------------------------------------


def test_the_weights_editor_saves_and_refuses_sums_that_do_not_fit(
    client: TestClient, seeded: Seeded, db: Session
) -> None:
    token = sign_in(client, ANALYST)
    page = client.get("/assess/frameworks/T", headers=HTML).text
    assert 'data-testid="sum-T.A">Σ 60 / 60' in page
    unfit = client.post(
        "/assess/frameworks/T/weights",
        data={"csrf_token": token, "w.T.A1": "40", "w.T.A2": "30"},
        headers=HTML,
    )
    assert unfit.status_code == 400
    assert "sum to 70, but T.A&#39;s weight is 60" in unfit.text
    assert 'value="40"' in unfit.text  # the typed weight is shown again
    not_number = client.post(
        "/assess/frameworks/T/weights", data={"csrf_token": token, "w.T.A1": "lots"}
    )
    assert not_number.status_code == 400
    assert "is not a number" in not_number.text
    saved = client.post(
        "/assess/frameworks/T/weights",
        data={"csrf_token": token, "w.T.A1": "40", "w.T.A2": "20"},
        follow_redirects=False,
    )
    assert saved.headers["location"] == "/assess/frameworks/T?notice=saved"
    scaled = client.post(
        "/assess/frameworks/T/weights",
        data={"csrf_token": token, "w.T.B1": "80", "renormalise": "on"},
        follow_redirects=False,
    )
    assert scaled.status_code == 303
    db.rollback()
    framework = service.get_framework(db, code="T")
    assert [framework.node(c).weight for c in ("T.A1", "T.A2", "T.B1")] == [40, 20, 40]
    assert "Weights saved." in client.get("/assess/frameworks/T?notice=saved").text


def test_a_framework_downloads_as_yaml_and_uploads_list_every_problem(
    client: TestClient, seeded: Seeded
) -> None:
    token = sign_in(client, ANALYST)
    download = client.get("/assess/frameworks/T/download.yaml")
    assert download.headers["content-disposition"] == 'attachment; filename="T.yaml"'
    document = yaml.safe_load(download.text)
    assert document["root"]["children"][0]["code"] == "T.A"
    broken = small_document()
    broken["root"]["children"][0]["children"][0]["direction"] = "sideways"
    broken["root"]["children"][1]["children"][0]["code"] = "T.A1"
    upload = client.post(
        "/assess/frameworks/T/upload",
        data={"csrf_token": token},
        files={"file": ("T.yaml", yaml.safe_dump(broken, allow_unicode=True), "application/yaml")},
        headers=HTML,
    )
    assert upload.status_code == 400
    problems = upload.text.split('data-testid="problems"')[1].split("</ul>")[0]
    assert problems.count("<li>") >= 2
    assert "root.children[0]" in problems
    assert "sideways" in problems
    assert "twice" in problems
    renamed = small_document()
    renamed["code"] = "T2"
    created = client.post(
        "/assess/frameworks",
        data={"csrf_token": token},
        files={"file": ("t2.yaml", yaml.safe_dump(renamed), "application/yaml")},
        follow_redirects=False,
    )
    assert created.headers["location"] == "/assess/frameworks/T2?notice=uploaded"
    again = client.post(
        "/assess/frameworks",
        data={"csrf_token": token},
        files={"file": ("t2.yaml", yaml.safe_dump(renamed), "application/yaml")},
    )
    assert again.status_code == 409
    assert "exists already" in again.text


def test_the_coverage_matrix_marks_what_falls_under_the_screening_threshold(
    client: TestClient, seeded: Seeded, db: Session
) -> None:
    service.upsert_units(db, units=[service.UnitInput("epsilon", "Epsilon")], actor=ACTOR)
    service.set_values(
        db,
        records=[service.ValueRecord("epsilon", "T.A1", 2025, 50.0)],
        source="import:x.csv",
        actor=ACTOR,
    )
    db.commit()
    sign_in(client, STAFF)
    page = client.get(
        "/assess/frameworks/T/coverage",
        params={"units": "alpha,beta,gamma,delta,epsilon", "year": "2025"},
        headers=HTML,
    ).text
    matrix = page.split('data-testid="coverage-matrix"')[1].split("</table>")[0]
    found = re.findall(r'<tr class="([^"]*)" data-indicator="([^"]+)"', matrix)
    rows = {code: css for css, code in found}
    assert rows == {"T.A1": "", "T.A2": "", "T.B1": "under"}  # T.B1: 3 of 5 units = 60 %
    assert 'class="unit-col under" title="epsilon"' in matrix
    assert "cell cell-import" in matrix
    assert "cell cell-entered" in matrix
    assert 'data-unit-pct="epsilon">33.3' in matrix
    bad = client.get("/assess/frameworks/T/coverage?units=nowhere", headers=HTML)
    assert bad.status_code == 404
    assert "Unknown unit(s) nowhere" in bad.text


# --- plans -------------------------------------------------------------------------------


def test_plans_are_created_given_targets_and_countermeasures_from_the_pages(
    client: TestClient, seeded: Seeded, db: Session
) -> None:
    token = sign_in(client, ANALYST)
    page = client.get(f"/assess/plans/{seeded.plan}", headers=HTML).text
    assert 'data-status="on_track"' in page  # 85 in 2025: the path 80 → 88 by 2026 asks 84
    assert "Hire two case officers" in page
    assert "2026-06-30" in page
    created = client.post(
        "/assess/plans",
        data={"csrf_token": token, "title": "Greener", "unit": "beta", "framework": "T"},
        follow_redirects=False,
    )
    plan_url = created.headers["location"].split("?")[0]
    bad_stages = client.post(
        f"{plan_url}/targets",
        data={
            "csrf_token": token,
            "indicator": "T.B1",
            "baseline_year": "2024",
            "stages": "2028 is 50",
        },
        headers=HTML,
    )
    assert bad_stages.status_code == 400
    assert "year: value" in bad_stages.text
    assert 'value="2028 is 50"' in bad_stages.text
    added = client.post(
        f"{plan_url}/targets",
        data={
            "csrf_token": token,
            "indicator": "T.B1",
            "baseline_year": "2024",
            "stages": "2026: 50, 2028: 60",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    measure = client.post(
        f"{plan_url}/countermeasures",
        data={
            "csrf_token": token,
            "title": "Plant trees",
            "department": "WATER",
            "status": "planned",
            "due_date": "2027-03-31",
        },
        follow_redirects=False,
    )
    assert measure.status_code == 303
    db.rollback()
    plan = service.get_plan(db, plan_id=int(plan_url.rsplit("/", 1)[1]))
    assert [t.baseline_value for t in plan.targets] == [40.0]  # the stored 2024 value
    changed = client.post(
        f"{plan_url}/countermeasures/{plan.countermeasures[0].id}",
        data={"csrf_token": token, "status": "in_progress", "department": "CMB", "due_date": ""},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    shown = client.get(plan_url, headers={**HTML, "accept-language": "zh-CN"}).text
    assert "进行中" in shown
    assert "Plant trees" in shown
    assert "偏离计划" in shown  # 41 in 2025 where the path 40 → 50 by 2026 asks 45
    bad_date = client.post(
        f"{plan_url}/countermeasures",
        data={"csrf_token": token, "title": "Later", "due_date": "next spring"},
    )
    assert bad_date.status_code == 400
    assert "is not a date" in bad_date.text
