"""Comparing one unit with its peers: gaps, ranks, strengths and weaknesses, bad input."""

from __future__ import annotations

import json
import math

import pytest

from cityos.assessment.benchmarking import compare
from cityos.errors import InvalidInput, NotFound, Unprocessable
from tests.assessment.report_support import flat_result, hand_made_result

# Dimension A (services) of the hand-made result: the mean of three min-max scores.
A = {"LON": (75 + 40 + 600 / 7) / 3, "PAR": (50 + 80 + 400 / 7) / 3, "MIN": (200 / 7) / 3}
A |= {"NYC": (100 + 60 + 0) / 3, "TYO": (25 + 100 + 100) / 3}


def test_gap_to_leader_and_to_peer_median_follow_the_scores() -> None:
    comparison = compare(hand_made_result(), unit="MIN")
    services = comparison.dimension("A")
    assert services.score == pytest.approx(A["MIN"])
    assert services.leader is not None
    assert services.leader.code == "TYO"
    assert services.gap_to_leader == pytest.approx(A["MIN"] - 75)
    peer_median = (A["LON"] + A["PAR"]) / 2  # peers: 53.3, 62.4, 66.9, 75 → middle two
    assert services.peer_median == pytest.approx(peer_median)
    assert services.gap_to_median == pytest.approx(A["MIN"] - peer_median)
    assert (services.group_rank, services.group_size, services.rank) == (5, 5, 5.0)


def test_the_unit_that_leads_has_no_gap_to_the_leader() -> None:
    environment = compare(hand_made_result(), unit="MIN").dimension("B")
    assert environment.leader is not None
    assert environment.leader.code == "MIN"
    assert environment.gap_to_leader == 0
    assert environment.group_rank == 1
    assert environment.gap_to_median > 0


def test_named_peers_form_the_group_and_the_rest_are_ignored() -> None:
    comparison = compare(hand_made_result(), unit="MIN", peers=["LON", "PAR"])
    assert [peer.code for peer in comparison.peers] == ["LON", "PAR"]
    services = comparison.dimension("A")
    assert services.leader is not None
    assert services.leader.code == "LON"
    assert services.peer_median == pytest.approx((A["LON"] + A["PAR"]) / 2)
    assert (services.group_rank, services.group_size) == (3, 3)
    assert services.rank == 5  # the rank among every kept unit stays the run's


def test_default_peers_are_every_other_kept_unit() -> None:
    comparison = compare(hand_made_result(), unit="LON")
    assert [peer.code for peer in comparison.peers] == ["PAR", "MIN", "NYC", "TYO"]


def test_a_unit_can_be_named_by_its_english_or_chinese_name() -> None:
    assert compare(hand_made_result(), unit="minghu").unit.code == "MIN"
    assert compare(hand_made_result(), unit="明湖", peers=["伦敦"]).peers[0].code == "LON"


def test_the_unit_itself_and_repeats_in_the_peer_list_are_dropped() -> None:
    comparison = compare(hand_made_result(), unit="MIN", peers=["MIN", "LON", "LON"])
    assert [peer.code for peer in comparison.peers] == ["LON"]


def test_a_screened_out_peer_is_left_out_with_a_note() -> None:
    comparison = compare(hand_made_result(), unit="MIN", peers=["LON", "SGP"])
    assert [peer.code for peer in comparison.peers] == ["LON"]
    assert "SGP" in comparison.notes[0]
    assert "1 of 5" in comparison.notes[0]


def test_strengths_are_the_best_ranked_dimensions_ties_broken_by_the_gap() -> None:
    result = flat_result(
        ["X", "P1", "P2", "P3"],
        ["d1", "d2", "d3", "d4", "d5", "d6", "d7"],
        [
            [60, 90, 50, 40, 10, 20, 25],
            [50, 10, 60, 50, 50, 50, 50],
            [40, 20, 40, 45, 40, 40, 40],
            [30, 30, 30, 30, 30, 30, 30],
        ],
    )
    comparison = compare(result, unit="X")
    # ranks of X: d1 1 (+20), d2 1 (+70), d3 2, d4 3, d5 4 (−30), d6 4 (−20), d7 4 (−15)
    assert comparison.strengths == ("d2", "d1", "d3")
    assert comparison.weaknesses == ("d5", "d6", "d7")


def test_strengths_and_weaknesses_never_overlap_on_few_dimensions() -> None:
    comparison = compare(hand_made_result(), unit="MIN")
    assert comparison.strengths == ("B",)
    assert comparison.weaknesses == ("A",)
    three = flat_result(["X", "Y"], ["d1", "d2", "d3"], [[1, 2, 3], [3, 2, 1]])
    both = compare(three, unit="X")
    assert len(both.strengths) == len(both.weaknesses) == 1
    assert not set(both.strengths) & set(both.weaknesses)
    single = compare(flat_result(["X", "Y"], ["d1"], [[1], [2]]), unit="X")
    assert (single.strengths, single.weaknesses) == ((), ())


def test_radar_series_are_the_unit_the_peer_median_and_the_leader() -> None:
    comparison = compare(hand_made_result(), unit="MIN")
    radar = comparison.radar
    assert radar.axes == ("A", "B")
    assert radar.axis_names_zh == ("惠民服务", "生态宜居")
    by_key = {series.key: series.values for series in radar.series}
    assert by_key["unit"] == pytest.approx((A["MIN"], 100.0))
    assert by_key["leader"] == pytest.approx((75.0, 100.0))
    assert by_key["peer_median"][0] == pytest.approx((A["LON"] + A["PAR"]) / 2)


def test_a_missing_dimension_score_is_not_a_strength_and_is_null_in_json() -> None:
    nan = math.nan
    result = flat_result(["X", "Y", "Z"], ["d1", "d2", "d3"], [[nan, 5, 1], [1, 2, 3], [2, 3, 4]])
    comparison = compare(result, unit="X")
    assert "d1" not in comparison.strengths + comparison.weaknesses
    data = json.loads(json.dumps(comparison.as_dict(), allow_nan=False))
    first = data["dimensions"][0]
    assert first["score"] is None
    assert first["group_rank"] is None
    assert first["leader"]["code"] == "Z"
    assert data["unit"] == {"code": "X", "name_en": "City X", "name_zh": "城市X"}


def test_index_row_compares_the_composite_index() -> None:
    comparison = compare(hand_made_result(), unit="TYO")
    assert comparison.index.code == "IDX"
    assert comparison.index.group_rank == 1
    assert comparison.as_dict()["index"]["gap_to_leader"] == 0


def test_an_unknown_unit_is_not_found_and_the_known_units_are_listed() -> None:
    with pytest.raises(NotFound, match="Atlantis") as caught:
        compare(hand_made_result(), unit="Atlantis")
    assert "LON (London)" in caught.value.message
    assert caught.value.details["known_units"][0] == "LON"


def test_unknown_peers_are_invalid_input_naming_them() -> None:
    with pytest.raises(InvalidInput, match="'Gotham'") as caught:
        compare(hand_made_result(), unit="MIN", peers=["LON", "Gotham"])
    assert caught.value.details["unknown_peers"] == ["Gotham"]
    assert "PAR (Paris)" in caught.value.message


def test_a_screened_out_unit_cannot_be_compared_and_its_coverage_says_why() -> None:
    with pytest.raises(Unprocessable, match="screened out") as caught:
        compare(hand_made_result(), unit="SGP")
    assert "1 of 5" in caught.value.message
    assert "65%" in caught.value.message


def test_no_peer_left_is_unprocessable() -> None:
    with pytest.raises(Unprocessable, match="No peer"):
        compare(hand_made_result(), unit="MIN", peers=["SGP"])
