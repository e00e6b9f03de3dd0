"""What the assessment pages compute before rendering: shares of the weights, the weights an
editor changed, the new-run form's choices and stage targets typed as text."""

from __future__ import annotations

import pytest

from cityos.assessment.framework import parse_framework
from cityos.assessment.verification import Stage
from cityos.assessment.views_data import (
    parse_stages,
    run_overrides,
    tree_rows,
    unit_set_from,
    weight_changes,
)
from cityos.errors import InvalidInput
from tests.assessment.conftest import small_document


def test_shares_multiply_down_the_tree_and_sums_are_reported_per_group() -> None:
    rows = {row.code: row for row in tree_rows(parse_framework(small_document()), "zh-CN")}
    assert rows["T.A"].share == pytest.approx(0.6)
    assert rows["T.A1"].share == pytest.approx(0.5)
    assert rows["T.A1"].share_of_total == pytest.approx(0.3)
    assert rows["T.B1"].share_of_total == pytest.approx(0.4)
    assert (rows["T"].child_sum, rows["T"].expected) == (100, 100)
    assert (rows["T.A"].child_sum, rows["T.A"].expected) == (60, 60)
    assert rows["T.A2"].name == "办结时长"
    assert rows["T.A2"].direction == "lower"


def test_children_without_weights_share_their_group_equally() -> None:
    document = small_document()
    for child in document["root"]["children"][0]["children"]:
        del child["weight"]
    rows = {row.code: row for row in tree_rows(parse_framework(document), "en")}
    assert rows["T.A1"].share == pytest.approx(0.5)
    assert rows["T.A"].child_sum is None


def test_only_changed_weights_are_sent_and_bad_ones_are_all_named() -> None:
    framework = parse_framework(small_document())
    typed = {"T.A": "60", "T.A1": "35", "T.A2": " 25,0 ", "T.B": "40", "T.B1": ""}
    assert weight_changes(framework, typed) == {"T.A1": 35.0, "T.A2": 25.0, "T.B1": None}
    with pytest.raises(InvalidInput) as refused:
        weight_changes(framework, {"T.A1": "lots", "T.A2": "-3", "T": "100", "X": "1"})
    assert len(refused.value.details) == 4


def test_the_run_form_becomes_a_unit_set_and_a_run_config() -> None:
    assert unit_set_from({"units_kind": "areas"}) == "areas:district"
    assert unit_set_from({"units_kind": "peers", "peer_group": "leading"}) == "peers:leading"
    assert unit_set_from({"units_kind": "list", "unit_codes": "a, b，c\nd"}) == "a,b,c,d"
    form = {"year": "2025", "normalise": "zscore", "impute": "", "mc_runs": "200"}
    assert run_overrides(form) == {
        "year": 2025,
        "normalise": {"method": "zscore"},
        "uncertainty": {"runs": 200},
    }
    with pytest.raises(InvalidInput, match="between 0 and 1000"):
        run_overrides({"mc_runs": "100000"})


def test_stage_targets_are_read_as_year_value_pairs() -> None:
    assert parse_stages("2026: 80, 2028：85\n2030=90.5") == [
        Stage(2026, 80.0),
        Stage(2028, 85.0),
        Stage(2030, 90.5),
    ]
    with pytest.raises(InvalidInput, match="'soon' is not 'year: value'"):
        parse_stages("2026: 80, soon")
    with pytest.raises(InvalidInput, match="at least one stage"):
        parse_stages(" ")
