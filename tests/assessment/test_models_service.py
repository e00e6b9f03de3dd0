"""The assessment facade on both databases: frameworks, units, peers, values, panels, runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.assessment import service
from cityos.assessment.builtin import builtin_frameworks
from cityos.assessment.models import AssessRun, IndicatorValue
from cityos.audit.models import AuditEntry
from cityos.errors import Conflict, InvalidInput, NotFound, Unprocessable
from tests.assessment.conftest import ACTOR, AssessFixture, small_document, store_cities
from tests.geo.conftest import CityFixture


def _count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


# --- frameworks ----------------------------------------------------------------------------


def test_listing_frameworks_stores_every_builtin_once(db: Session) -> None:
    first = service.list_frameworks(db)
    again = service.list_frameworks(db)
    builtins = set(builtin_frameworks())
    assert {row.code for row in first if row.builtin} == builtins
    assert [row.code for row in again] == [row.code for row in first]
    assert service.sync_builtin_frameworks(db) == []


def test_a_saved_framework_reads_back_equal(db: Session) -> None:
    row = service.save_framework(db, document=small_document(), actor=ACTOR)
    framework = service.get_framework(db, code="T")
    assert row.builtin is False
    assert [ind.code for ind in framework.indicators()] == ["T.A1", "T.A2", "T.B1"]
    assert framework.node("T.A").weight == 60
    assert db.scalar(select(AuditEntry.action).where(AuditEntry.entity_id == "T")) == (
        "assess.framework.create"
    )


def test_creating_a_framework_twice_is_a_conflict(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR, create=True)
    with pytest.raises(Conflict, match="exists already"):
        service.save_framework(db, document=small_document(), actor=ACTOR, create=True)


def test_saving_under_another_code_is_refused(db: Session) -> None:
    with pytest.raises(InvalidInput, match="'T' is not 'OTHER'"):
        service.save_framework(db, document=small_document(), actor=ACTOR, code="OTHER")


def test_a_framework_whose_weights_do_not_sum_is_refused_and_not_stored(db: Session) -> None:
    document = small_document()
    document["root"]["children"][0]["children"][0]["weight"] = 25  # A1 + A2 = 55, not 60
    with pytest.raises(InvalidInput, match=r"sum to 55, but T\.A's weight is 60"):
        service.save_framework(db, document=document, actor=ACTOR)
    with pytest.raises(NotFound):
        service.get_framework_row(db, code="T")


def test_a_framework_that_asks_to_renormalise_may_keep_uneven_weights(db: Session) -> None:
    document = small_document()
    document["root"]["children"][0]["children"][0]["weight"] = 25
    document["method"] = {"weights": {"renormalise": True}}
    service.save_framework(db, document=document, actor=ACTOR)
    assert service.get_framework(db, code="T").node("T.A1").weight == 25


def test_an_unknown_framework_lists_the_known_ones(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR)
    with pytest.raises(NotFound, match=r"the frameworks are: .*T") as caught:
        service.get_framework_row(db, code="NOPE")
    assert "T" in caught.value.details["known_frameworks"]


def test_weights_that_break_a_sum_are_refused_with_the_parsers_message(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR)
    with pytest.raises(InvalidInput, match=r"weights\.renormalise: true"):
        service.update_weights(db, code="T", weights={"T.A1": 40}, actor=ACTOR)
    assert service.get_framework(db, code="T").node("T.A1").weight == 30


def test_renormalising_scales_children_to_their_group(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR)
    service.update_weights(
        db, code="T", weights={"T.A1": 40, "T.A2": 20}, renormalise=True, actor=ACTOR
    )
    framework = service.get_framework(db, code="T")
    assert framework.node("T.A1").weight == pytest.approx(40)
    assert framework.node("T.A2").weight == pytest.approx(20)
    service.update_weights(db, code="T", weights={"T.A": 80}, renormalise=True, actor=ACTOR)
    framework = service.get_framework(db, code="T")
    # root children 80 + 40 scaled to 100, then A's children to A's new weight
    assert framework.node("T.A").weight == pytest.approx(100 * 80 / 120)
    assert framework.node("T.B").weight == pytest.approx(100 * 40 / 120)
    a1, a2 = framework.node("T.A1").weight, framework.node("T.A2").weight
    assert a1 is not None
    assert a2 is not None
    assert a1 + a2 == pytest.approx(100 * 80 / 120)
    assert a1 / a2 == pytest.approx(2.0)


def test_weights_of_unknown_nodes_or_negative_weights_are_refused(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR)
    with pytest.raises(InvalidInput, match=r"has no node T\.X"):
        service.update_weights(db, code="T", weights={"T.X": 1}, actor=ACTOR)
    with pytest.raises(InvalidInput, match="finite numbers >= 0"):
        service.update_weights(db, code="T", weights={"T.A1": -1}, actor=ACTOR)
    with pytest.raises(InvalidInput, match="finite numbers >= 0"):
        service.update_weights(db, code="T", weights={"T.A1": math.nan}, actor=ACTOR)
    with pytest.raises(InvalidInput, match="the index itself"):
        service.update_weights(db, code="T", weights={"T": 5}, actor=ACTOR)


def test_builtin_frameworks_cannot_be_deleted_but_users_can(db: Session) -> None:
    builtin = next(row for row in service.list_frameworks(db) if row.builtin)
    with pytest.raises(Conflict, match="built-in"):
        service.delete_framework(db, code=builtin.code, actor=ACTOR)
    service.save_framework(db, document=small_document(), actor=ACTOR)
    service.delete_framework(db, code="T", actor=ACTOR)
    with pytest.raises(NotFound):
        service.get_framework_row(db, code="T")


def test_the_yaml_export_reads_back_as_the_same_framework(db: Session) -> None:
    row = service.save_framework(db, document=small_document(), actor=ACTOR)
    text = service.framework_yaml(row)
    assert "测试指数" in text
    again = service.document_from_text(text)
    assert again == yaml.safe_load(text)
    assert service.framework_of(row) == service.get_framework(db, code="T")


# --- units and peers -----------------------------------------------------------------------


def test_units_upsert_merges_attributes_and_keeps_one_home(db: Session) -> None:
    store_cities(db)
    report = service.upsert_units(
        db,
        units=[service.UnitInput(code="beta", attributes={"area_km2": 120.0}, is_home=True)],
        actor=ACTOR,
    )
    assert report.to_dict() == {"created": 0, "updated": 1}
    beta = service.get_unit(db, code="beta")
    assert beta.attributes == {"population": 1_000_000.0, "area_km2": 120.0}
    assert beta.name_en == "Beta"
    assert [u.code for u in service.list_units(db) if u.is_home] == ["beta"]
    assert service.home_unit(db) is beta


def test_bad_units_are_refused_with_every_problem(db: Session) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.upsert_units(
            db,
            units=[
                service.UnitInput(code=" x", kind="planet"),
                service.UnitInput(code="y", attributes={"population": "many"}),  # type: ignore[dict-item]
                service.UnitInput(code="a", is_home=True),
                service.UnitInput(code="b", is_home=True),
            ],
            actor=ACTOR,
        )
    messages = [p["message"] for p in caught.value.details]
    assert any("spaces around it" in m for m in messages)
    assert any("kind 'planet'" in m for m in messages)
    assert any("must be a finite number" in m for m in messages)
    assert any("only one unit can be the home city" in m for m in messages)
    assert service.list_units(db) == []


@pytest.mark.parametrize("code", ["=1+1", "a b", "-north", "a/b", "x:y"])
def test_unit_codes_are_letters_digits_dots_underscores_and_hyphens(db: Session, code: str) -> None:
    with pytest.raises(InvalidInput, match=r"letters, digits, '\.', '_' or '-'"):
        service.upsert_units(db, units=[service.UnitInput(code=code)], actor=ACTOR)
    report = service.upsert_units(
        db, units=[service.UnitInput(code=c) for c in ("北京-中国", "CN.11_a")], actor=ACTOR
    )
    assert report.created == 2


def test_peer_groups_need_known_members(db: Session) -> None:
    store_cities(db)
    with pytest.raises(NotFound, match=r"Unknown unit.*zeta"):
        service.save_peer_group(
            db, code="near", name_en="Near", members=["beta", "zeta"], actor=ACTOR
        )
    group = service.save_peer_group(
        db, code="near", name_en="Near", members=["beta", "gamma", "beta"], actor=ACTOR
    )
    assert group.members == ["beta", "gamma"]
    with pytest.raises(InvalidInput, match="no members"):
        service.save_peer_group(db, code="empty", name_en="Empty", members=[], actor=ACTOR)


def test_the_default_peer_group_holds_the_five_leading_cities(db: Session) -> None:
    group = service.ensure_default_peers(db, actor=ACTOR)
    assert group.code == "leading"
    names = [service.get_unit(db, code=code).name_en for code in group.members]
    assert names == ["London", "New York", "Paris", "Tokyo", "Singapore"]
    assert service.ensure_default_peers(db, actor=ACTOR) is group


# --- values --------------------------------------------------------------------------------


def test_values_are_upserted_and_null_removes_one(db: Session) -> None:
    store_cities(db)
    first = service.set_values(
        db,
        records=[
            service.ValueRecord("alpha", "X.1", 2024, 1.0),
            service.ValueRecord("alpha", "X.1", 2025, 2.0),
        ],
        source="entered",
        actor=ACTOR,
    )
    assert first.to_dict()["written"] == 2
    second = service.set_values(
        db,
        records=[
            service.ValueRecord("alpha", "X.1", 2024, 5.0, note="revised"),
            service.ValueRecord("alpha", "X.1", 2025, None),
        ],
        source="import:fix.csv",
        actor=ACTOR,
    )
    assert (second.written, second.deleted) == (1, 1)
    rows = service.list_values(db, unit_code="alpha")
    assert [(r.year, r.value, r.source, r.note) for r in rows] == [
        (2024, 5.0, "import:fix.csv", "revised")
    ]


def test_a_later_record_for_the_same_cell_wins(db: Session) -> None:
    store_cities(db)
    service.set_values(
        db,
        records=[
            service.ValueRecord("alpha", "X.1", 2024, 1.0),
            service.ValueRecord("alpha", "X.1", 2024, 3.0),
        ],
        source="entered",
        actor=ACTOR,
    )
    assert [r.value for r in service.list_values(db)] == [3.0]


def test_bad_values_write_nothing(db: Session) -> None:
    store_cities(db)
    with pytest.raises(InvalidInput, match="nothing was written") as caught:
        service.set_values(
            db,
            records=[
                service.ValueRecord("alpha", "X.1", 2024, 1.0),
                service.ValueRecord("alpha", "X.1", 2025, math.inf),
                service.ValueRecord("alpha", "X.1", 1066, 1.0),
                service.ValueRecord("alpha", "", 2024, 1.0),
                service.ValueRecord("alpha", "X.2", 2024, "12a"),  # type: ignore[arg-type]
            ],
            source="entered",
            actor=ACTOR,
        )
    assert [p["row"] for p in caught.value.details] == [2, 3, 4, 5]
    assert _count(db, IndicatorValue) == 0


def test_values_of_unknown_units_write_nothing(db: Session) -> None:
    store_cities(db)
    with pytest.raises(NotFound, match=r"Unknown unit.*omega.*nothing was written"):
        service.set_values(
            db,
            records=[
                service.ValueRecord("alpha", "X.1", 2024, 1.0),
                service.ValueRecord("omega", "X.1", 2024, 1.0),
            ],
            source="entered",
            actor=ACTOR,
        )
    assert _count(db, IndicatorValue) == 0


def test_many_values_go_in_batches(db: Session) -> None:
    store_cities(db)
    records = [
        service.ValueRecord(unit, f"X.{i}", year, float(i))
        for unit in ("alpha", "beta")
        for year in (2023, 2024, 2025)
        for i in range(300)
    ]
    assert service.set_values(db, records=records, source="bulk", actor=ACTOR).written == 1800
    assert _count(db, IndicatorValue) == 1800


# --- unit sets, panels and coverage --------------------------------------------------------


def test_districts_become_units_with_their_area(db: Session, city: CityFixture) -> None:
    units = service.resolve_unit_set(db, unit_set="areas:district", actor=ACTOR)
    assert [u.code for u in units.units] == ["TC-E", "TC-W"]
    assert units.description == "areas:district"
    east = service.get_unit(db, code="TC-E")
    assert east.kind == "area"
    assert east.attributes["area_km2"] == pytest.approx(4.8 * 10, rel=0.05)


def test_a_map_without_districts_cannot_be_assessed_by_district(db: Session) -> None:
    with pytest.raises(Unprocessable, match="no district areas"):
        service.resolve_unit_set(db, unit_set="areas:district", actor=ACTOR)
    with pytest.raises(InvalidInput, match="Unknown level 'ward'"):
        service.resolve_unit_set(db, unit_set="areas:ward", actor=ACTOR)


def test_a_peer_set_is_the_home_city_and_the_group(db: Session) -> None:
    store_cities(db)
    service.save_peer_group(
        db, code="near", name_en="Near", members=["beta", "alpha", "gamma"], actor=ACTOR
    )
    units = service.resolve_unit_set(db, unit_set="peers:near", actor=None)
    assert [u.code for u in units.units] == ["alpha", "beta", "gamma"]
    assert units.home == "alpha"
    with pytest.raises(NotFound, match="no peer group 'far'"):
        service.resolve_unit_set(db, unit_set="peers:far", actor=None)


def test_a_list_of_units_names_every_unknown_one(db: Session) -> None:
    store_cities(db)
    assert [
        u.code for u in service.resolve_unit_set(db, unit_set="beta, gamma", actor=None).units
    ] == [
        "beta",
        "gamma",
    ]
    with pytest.raises(NotFound, match="x1, x2"):
        service.resolve_unit_set(db, unit_set=["alpha", "x1", "x2"], actor=None)
    with pytest.raises(InvalidInput, match="Name the units"):
        service.resolve_unit_set(db, unit_set=[], actor=None)


def test_the_panel_holds_the_stored_values(db: Session, assessed: AssessFixture) -> None:
    framework = service.get_framework(db, code="T")
    units = service.get_units(db, codes=["alpha", "delta"])
    panel = service.build_panel(db, framework=framework, units=units)
    assert panel.years == (2024, 2025)
    assert panel.indicators == ("T.A1", "T.A2", "T.B1")
    assert panel.at(2025)[0].tolist() == [85.0, 25.0, 36.0]
    assert np.isnan(panel.at(2025)[1, 2])
    assert panel.units[0].attributes["population"] == 2_000_000.0
    assert panel.units[0].group == "east"


def test_coverage_counts_values_per_indicator_and_unit(
    db: Session, assessed: AssessFixture
) -> None:
    matrix = service.coverage_of(
        db, framework_code="T", unit_set=list(assessed.units), year=2025
    ).to_dict()
    assert [u["code"] for u in matrix["units"]] == ["alpha", "beta", "gamma", "delta"]
    b1 = next(i for i in matrix["indicators"] if i["code"] == "T.B1")
    assert (b1["covered"], b1["pct"]) == (3, 75.0)
    delta = matrix["units"][3]
    assert (delta["covered"], delta["pct"]) == (2, 66.7)
    assert matrix["cells"][2] == [2025, 2025, 2025, None]
    assert matrix["pct"] == round(100 * 11 / 12, 1)


def test_coverage_shows_the_year_of_an_older_value(db: Session, assessed: AssessFixture) -> None:
    service.set_values(
        db,
        records=[service.ValueRecord("alpha", "T.A1", 2026, None)],
        source="entered",
        actor=ACTOR,
    )
    matrix = service.coverage_of(db, framework_code="T", unit_set=["alpha"], year=2026)
    assert matrix.cells[0] == [2025]  # a value, but not of 2026: not covered
    assert matrix.indicators[0]["covered"] == 0


# --- runs ----------------------------------------------------------------------------------


def test_a_run_stores_its_whole_result(db: Session, assessed: AssessFixture) -> None:
    run = service.run_assessment(
        db,
        framework_code="T",
        unit_set=list(assessed.units),
        overrides={"year": 2025},
        title="Four cities",
        actor=ACTOR,
    )
    db.commit()
    assert (run.title, run.units, run.year) == ("Four cities", "alpha, beta, gamma, delta", 2025)
    result = service.result_of(service.get_run(db, run_id=run.id))
    assert result.year == 2025
    assert [u.code for u in result.units] == list(assessed.units)
    assert run.config["year"] == 2025
    listed = service.list_runs(db, framework_code="T")
    assert [r.id for r in listed] == [run.id]
    assert service.run_summary(listed[0])["framework"] == "T"


def test_a_run_reports_its_progress(db: Session, assessed: AssessFixture) -> None:
    seen: list[tuple[int, int]] = []
    service.run_assessment(
        db,
        framework_code="T",
        unit_set=list(assessed.units),
        overrides={"uncertainty": {"runs": 20}},
        actor=ACTOR,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen
    assert seen[-1][0] == seen[-1][1]


def test_a_run_without_any_value_says_which_source_to_fill(db: Session) -> None:
    service.save_framework(db, document=small_document(), actor=ACTOR)
    store_cities(db)
    with pytest.raises(Unprocessable, match="enter or import values"):
        service.run_assessment(db, framework_code="T", unit_set=["alpha", "beta"], actor=ACTOR)
    assert _count(db, AssessRun) == 0


def test_a_run_for_a_year_without_values_lists_the_years_there_are(
    db: Session, assessed: AssessFixture
) -> None:
    with pytest.raises(
        Unprocessable, match="no value for the year 2019; years with values: 2024, 2025"
    ):
        service.run_assessment(
            db,
            framework_code="T",
            unit_set=list(assessed.units),
            overrides={"year": 2019},
            actor=ACTOR,
        )


def test_unknown_runs_and_bad_overrides_are_refused(db: Session, assessed: AssessFixture) -> None:
    with pytest.raises(NotFound, match="no assessment run 99"):
        service.get_run(db, run_id=99)
    with pytest.raises(InvalidInput, match="normalise"):
        service.run_assessment(
            db,
            framework_code="T",
            unit_set=list(assessed.units),
            overrides={"normalise": {"method": "magic"}},
            actor=ACTOR,
        )
    with pytest.raises(NotFound, match="no framework with the code 'NOPE'"):
        service.run_assessment(db, framework_code="NOPE", unit_set=["alpha"], actor=ACTOR)


def test_deleting_a_run_removes_it(db: Session, assessed: AssessFixture) -> None:
    run = service.run_assessment(db, framework_code="T", unit_set=list(assessed.units), actor=ACTOR)
    service.delete_run(db, run_id=run.id, actor=ACTOR)
    assert service.list_runs(db) == []
