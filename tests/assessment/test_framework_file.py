"""Framework documents: both shapes, the round trip, and every kind of bad input."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.assessment.builtin import builtin_frameworks
from cityos.assessment.framework import (
    Direction,
    Framework,
    Group,
    Indicator,
    SourceKind,
    dump_framework,
    load_framework,
    parse_framework,
)
from cityos.assessment.framework_file import dumps
from cityos.errors import InvalidInput


def nested() -> dict[str, Any]:
    return {
        "code": "demo",
        "name": {"en": "Demo index", "zh": "示例指数"},
        "version": "1",
        "tiers": ["big", "small"],
        "method": {"normalise": {"method": "minmax"}},
        "root": {
            "code": "D",
            "name": {"en": "Demo", "zh": "示例"},
            "children": [
                {
                    "code": "A",
                    "name": {"en": "Citizen services", "zh": "惠民服务"},
                    "weight": 60,
                    "tier_weights": {"big": 50},
                    "children": [
                        {
                            "code": "A1",
                            "name": {"en": "Online services", "zh": "网上办理率"},
                            "weight": 40,
                            "tier_weights": {"big": 30},
                            "unit": "%",
                            "goalposts": [0, 100],
                        },
                        {
                            "code": "A2",
                            "name": {"en": "Resolved within SLA", "zh": "按时办结率"},
                            "weight": 20,
                            "source": {"kind": "live", "metric": "cases.resolved_within_sla_pct"},
                        },
                    ],
                },
                {
                    "code": "B",
                    "name_en": "Infrastructure",
                    "name_zh": "智能设施",
                    "weight": 40,
                    "tier_weights": {"big": 50},
                    "children": [
                        {
                            "code": "B1",
                            "name": {"en": "Firefighters", "zh": "消防员"},
                            "direction": "lower",
                            "denominator": {"by": "population", "per": 100000},
                            "target": 5,
                        }
                    ],
                },
            ],
        },
    }


def flat() -> dict[str, Any]:
    """The same framework as ``nested()``, as rows; parents given out of order on purpose."""
    return {
        "code": "demo",
        "name": {"en": "Demo index", "zh": "示例指数"},
        "version": "1",
        "tiers": ["big", "small"],
        "method": {"normalise": {"method": "minmax"}},
        "nodes": [
            {"code": "D", "name": {"en": "Demo", "zh": "示例"}},
            {
                "code": "A1",
                "parent": "A",
                "name_en": "Online services",
                "name_zh": "网上办理率",
                "weight": "40",
                "tier_weights": {"big": 30},
                "unit": "%",
                "goalposts": [0, 100],
            },
            {
                "code": "A",
                "parent": "D",
                "name": {"en": "Citizen services", "zh": "惠民服务"},
                "weight": 60,
                "tier_weights": {"big": 50},
            },
            {
                "code": "A2",
                "parent": "A",
                "name": {"en": "Resolved within SLA", "zh": "按时办结率"},
                "weight": 20,
                "source": {"kind": "live", "metric": "cases.resolved_within_sla_pct"},
            },
            {
                "code": "B",
                "parent": "D",
                "name": {"en": "Infrastructure", "zh": "智能设施"},
                "weight": 40,
                "tier_weights": {"big": 50},
            },
            {
                "code": "B1",
                "parent": "B",
                "name": {"en": "Firefighters", "zh": "消防员"},
                "direction": "lower",
                "denominator": {"by": "population", "per": 100000},
                "target": 5,
            },
        ],
    }


def problems_of(data: Any, **kwargs: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        parse_framework(data, **kwargs)
    details = caught.value.details
    assert isinstance(details, list)
    assert details
    return details


def messages(data: Any, **kwargs: Any) -> str:
    return "\n".join(f"{p['where']}: {p['message']}" for p in problems_of(data, **kwargs))


# --- shapes and round trips ------------------------------------------------------------------


def test_a_nested_document_becomes_groups_and_indicators() -> None:
    framework = parse_framework(nested())
    assert [child.code for child in framework.root.children] == ["A", "B"]
    a1 = framework.node("A1")
    assert isinstance(a1, Indicator)
    assert a1.goalposts == (0.0, 100.0)
    assert a1.tier_weights == {"big": 30.0}
    a2 = framework.node("A2")
    assert isinstance(a2, Indicator)
    assert a2.source.kind is SourceKind.LIVE
    b1 = framework.node("B1")
    assert isinstance(b1, Indicator)
    assert b1.direction is Direction.LOWER
    assert b1.denominator is not None
    assert b1.denominator.per == 100000
    assert isinstance(framework.node("B"), Group)
    assert framework.node("B").name_zh == "智能设施"


def test_nested_and_flat_documents_give_the_same_framework() -> None:
    assert parse_framework(flat()) == parse_framework(nested())


@pytest.mark.parametrize("code", sorted(builtin_frameworks()))
def test_every_builtin_framework_survives_a_round_trip(code: str) -> None:
    framework = builtin_frameworks()[code]
    assert parse_framework(dump_framework(framework)) == framework
    assert load_framework(dumps(framework)) == framework
    assert load_framework(dumps(framework, fmt="json")) == framework


def test_the_dumped_document_is_plain_json_data() -> None:
    framework = parse_framework(nested())
    document = dump_framework(framework)
    assert json.loads(json.dumps(document)) == document
    assert document["root"]["children"][0]["weight"] == 60  # written as 60, not 60.0


def test_the_root_takes_the_framework_code_and_names_when_it_gives_none() -> None:
    data = nested()
    del data["root"]["code"], data["root"]["name"]
    framework = parse_framework(data)
    assert framework.root.code == "demo"
    assert framework.root.name_zh == "示例指数"


def test_a_name_in_one_language_serves_both() -> None:
    data = nested()
    data["root"]["children"][1]["children"][0]["name"] = {"zh": "消防员"}
    node = parse_framework(data).node("B1")
    assert (node.name_en, node.name_zh) == ("消防员", "消防员")


def test_omitted_weights_everywhere_are_equal_weights_and_not_an_error() -> None:
    data = nested()
    del data["tiers"]
    for _, node in enumerate(_nodes(data["root"])):
        node.pop("weight", None)
        node.pop("tier_weights", None)
    framework = parse_framework(data)
    assert all(node.weight is None for _, node in framework.root.walk())


def test_a_group_without_a_weight_weighs_the_sum_of_its_children() -> None:
    data = nested()
    del data["root"]["children"][0]["weight"]  # A1 40 + A2 20 = 60, as before
    assert parse_framework(data).node("A").weight is None


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("children", []):
        out += _nodes(child)
    return out


# --- text --------------------------------------------------------------------------------------


def test_yaml_and_json_text_are_both_read() -> None:
    expected = parse_framework(nested())
    assert load_framework(yaml.safe_dump(nested(), allow_unicode=True)) == expected
    assert load_framework(json.dumps(nested(), ensure_ascii=False)) == expected
    assert load_framework(json.dumps(nested()).encode("utf-8")) == expected


def test_a_yaml_syntax_error_names_its_line_and_column() -> None:
    text = "code: demo\nname: {en: Demo\nroot:\n  children: []\n"
    with pytest.raises(InvalidInput, match=r"not valid YAML: .* at line \d+, column \d+"):
        load_framework(text)


def test_a_json_syntax_error_names_its_line_and_column() -> None:
    with pytest.raises(InvalidInput, match=r"not valid JSON: .* line 2, column"):
        load_framework('{"code": "demo",\n "name": }')


def test_an_empty_document_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        load_framework("# nothing here\n")


# --- bad input ----------------------------------------------------------------------------------


def test_duplicate_codes_name_both_places() -> None:
    data = nested()
    data["root"]["children"][1]["children"][0]["code"] = "A1"
    problems = problems_of(data)
    assert problems == [
        {
            "where": "root.children[1].children[0] (A1 消防员).code",
            "message": "the code 'A1' is used twice: here and at root.children[0].children[0] "
            "(A1 网上办理率); every group and indicator needs its own code",
        }
    ]


def test_a_cycle_in_the_flat_form_is_printed_as_a_path() -> None:
    data = flat()
    data["nodes"] += [
        {"code": "X", "parent": "Y", "name": "x"},
        {"code": "Y", "parent": "Z", "name": "y"},
        {"code": "Z", "parent": "X", "name": "z"},
    ]
    assert "cycle: X → Y → Z → X" in messages(data)


def test_a_node_that_is_its_own_parent_is_a_cycle() -> None:
    data = flat()
    data["nodes"].append({"code": "S", "parent": "S", "name": "self"})
    assert "cycle: S → S" in messages(data)


def test_an_orphan_names_its_unknown_parent() -> None:
    data = flat()
    data["nodes"].append({"code": "O", "parent": "NOPE", "name": "orphan"})
    text = messages(data)
    assert "nodes[6] (O orphan).parent: unknown parent 'NOPE'" in text


def test_two_roots_in_the_flat_form_are_refused() -> None:
    data = flat()
    data["nodes"].append({"code": "R2", "name": "second root", "unit": "%"})
    assert "more than one root: nodes[0] (D 示例) and nodes[6] (R2 second root)" in messages(data)


def test_a_list_of_roots_in_the_nested_form_is_refused() -> None:
    data = nested()
    data["root"] = [data["root"], copy.deepcopy(data["root"])]
    assert "root: more than one root (2)" in messages(data)


def test_no_root_at_all_is_refused() -> None:
    data = flat()
    data["nodes"][0]["parent"] = "A"
    assert "no root" in messages(data)


def test_unbalanced_weights_name_the_group_and_the_fix() -> None:
    data = nested()
    data["root"]["children"][0]["children"][0]["weight"] = 39  # 39 + 20 = 59, A is 60
    problems = problems_of(data)
    assert problems == [
        {
            "where": "root.children[0] (A 惠民服务).children",
            "message": "Weights of the children of A 惠民服务 sum to 59, but A's weight is 60: "
            "fix the weights or run with weights.renormalise: true",
        }
    ]


def test_the_root_children_must_sum_to_the_total() -> None:
    data = nested()
    data["total"] = 90
    assert "the framework's total is 90" in messages(data)


def test_unbalanced_weights_are_accepted_when_the_engine_will_renormalise() -> None:
    data = nested()
    data["root"]["children"][0]["children"][0]["weight"] = 39
    data["root"]["children"][0]["tier_weights"] = {"big": 55}
    framework = parse_framework(data, allow_unbalanced=True)
    assert framework.node("A1").weight == 39


def test_tier_weights_are_summed_per_tier() -> None:
    data = nested()
    data["root"]["children"][0]["tier_weights"] = {"big": 55}  # A1 30 + A2 20 = 50
    text = messages(data)
    assert "children of A 惠民服务 (tier big) sum to 50, but A's weight is 55" in text
    assert "children of D 示例 (tier big) sum to 105, but the framework's total is 100" in text


def test_tier_weights_need_a_declared_tier() -> None:
    data = nested()
    data["root"]["children"][1]["tier_weights"] = {"huge": 50}
    text = messages(data, allow_unbalanced=True)
    assert "tier_weights.huge: tier 'huge' is not declared (declared: big, small)" in text


def test_mixed_given_and_omitted_weights_are_refused_even_when_unbalanced_is_allowed() -> None:
    data = nested()
    del data["root"]["children"][0]["children"][1]["weight"]
    text = messages(data, allow_unbalanced=True)
    assert "mix given and omitted weights (A2 have none)" in text


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (-5, "the weight -5 is negative: weights must be >= 0"),
        ("heavy", "'heavy' is not a number (weights are numbers >= 0)"),
        (True, "True is not a number (weights are numbers >= 0)"),
    ],
)
def test_weights_must_be_numbers_of_zero_or_more(weight: Any, message: str) -> None:
    data = nested()
    data["root"]["children"][0]["children"][0]["weight"] = weight
    assert message in messages(data, allow_unbalanced=True)


def test_an_unknown_method_name_lists_the_valid_ones() -> None:
    data = nested()
    data["method"] = {"normalise": {"method": "minmaxx"}}
    problems = problems_of(data)
    assert problems[0]["where"] == "method.normalise.method"
    assert "'minmaxx' is not allowed" in problems[0]["message"]
    assert "'zscore'" in problems[0]["message"]
    assert "'goalposts'" in problems[0]["message"]


def test_an_unknown_method_key_lists_the_valid_keys() -> None:
    data = nested()
    data["method"] = {"weights": {"renormalize": True}, "speed": "fast"}
    text = messages(data)
    assert "method.weights.renormalize: unknown key 'renormalize'; valid keys: method, tier" in text
    valid = "valid keys: year, carry_forward, denominate, impute"
    assert f"method.speed: unknown key 'speed'; {valid}" in text


def test_goalposts_normalisation_needs_goalposts_on_every_indicator() -> None:
    data = nested()
    data["method"] = {"normalise": {"method": "goalposts"}}
    assert "goalposts needs goalposts on every indicator; 2 have none (A2, B1)" in messages(data)


def test_an_unknown_live_metric_is_refused_with_a_suggestion() -> None:
    data = nested()
    data["root"]["children"][0]["children"][1]["source"]["metric"] = "cases.resolved_in_sla"
    text = messages(data)
    assert "source.metric: unknown live metric 'cases.resolved_in_sla'" in text
    assert "did you mean 'cases.resolved_within_sla_pct'?" in text


def test_a_dataset_source_needs_its_dataset_and_value_field() -> None:
    data = nested()
    data["root"]["children"][0]["children"][1]["source"] = {"kind": "dataset", "metric": "x"}
    text = messages(data)
    assert "source.dataset: missing: kind: dataset needs dataset" in text
    assert "source.value_field: missing: kind: dataset needs value_field" in text
    assert "source.metric: metric is not used by kind: dataset" in text


@pytest.mark.parametrize(
    "goalposts",
    [[100, 0], [5, 5], [0], [0, 50, 100], ["low", 100], "0-100", [None, 100]],
)
def test_goalposts_must_be_two_increasing_numbers(goalposts: Any) -> None:
    data = nested()
    data["root"]["children"][0]["children"][0]["goalposts"] = goalposts
    assert ".goalposts" in messages(data)


def test_an_unknown_key_gets_a_hint_and_the_valid_keys() -> None:
    data = nested()
    data["root"]["children"][0]["children"][0]["wieght"] = 3
    problems = problems_of(data)
    assert problems[0]["where"] == "root.children[0].children[0] (A1 网上办理率).wieght"
    assert problems[0]["message"].startswith("unknown key 'wieght' (did you mean 'weight'?)")
    assert "valid keys: code, name" in problems[0]["message"]


def test_an_unknown_top_level_key_is_refused() -> None:
    data = nested()
    data["colour"] = "red"
    assert "colour: unknown key 'colour'" in messages(data)


def test_a_bad_direction_is_refused() -> None:
    data = nested()
    data["root"]["children"][0]["children"][0]["direction"] = "up"
    assert "'up' is not a direction: use higher or lower" in messages(data)


def test_missing_names_are_refused() -> None:
    data = nested()
    del data["root"]["children"][0]["children"][0]["name"]
    assert "(A1).name: missing name" in messages(data)


def test_a_group_without_children_is_refused() -> None:
    data = nested()
    data["root"]["children"][1]["children"] = []
    text = messages(data, allow_unbalanced=True)
    assert "(B 智能设施).children: a group needs at least one child" in text


def test_a_group_cannot_carry_indicator_keys() -> None:
    data = nested()
    data["root"]["children"][0]["unit"] = "%"
    assert "unit is for indicators, but this node has children (a group)" in messages(data)


def test_every_problem_is_reported_at_once() -> None:
    data = flat()
    data["nodes"][1]["direction"] = "sideways"
    data["nodes"][3]["weight"] = -1
    data["nodes"].append({"code": "O", "parent": "NOPE", "name": "orphan"})
    data["method"] = {"aggregate": {"method": "median"}}
    with pytest.raises(InvalidInput) as caught:
        parse_framework(data)
    assert len(caught.value.details) >= 4
    assert caught.value.message.startswith(f"The framework demo has {len(caught.value.details)}")
    assert "(see details)" in caught.value.message


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a mapping"):
        load_framework("- just\n- a list\n")


# --- property: any framework survives dump → parse ------------------------------------------

names = st.text(alphabet="abc 惠民服务", min_size=1, max_size=6).map(str.strip).filter(bool)


@st.composite
def trees(draw: st.DrawFn, depth: int = 0, weighted: bool = True) -> Group | Indicator:
    """A random tree: every node weighted (groups weigh their children's sum) or none."""
    code = f"N{draw(st.integers(0, 10**9))}"
    name_en, name_zh = draw(names), draw(names)
    weight = draw(st.floats(0.1, 100, allow_nan=False)) if weighted else None
    if depth >= 3 or (depth > 0 and draw(st.booleans())):
        return Indicator(
            code=code,
            name_en=name_en,
            name_zh=name_zh,
            weight=weight,
            direction=draw(st.sampled_from(list(Direction))),
            unit=draw(st.sampled_from(["", "%", "km²"])),
            goalposts=draw(st.none() | st.just((0.0, 100.0))),
            target=draw(st.none() | st.floats(-1e6, 1e6, allow_nan=False)),
        )
    children = draw(st.lists(trees(depth + 1, weighted), min_size=1, max_size=3))
    return Group(code=code, name_en=name_en, name_zh=name_zh, children=tuple(children))


@settings(max_examples=60, deadline=None)
@given(
    root=st.booleans().flatmap(lambda weighted: trees(0, weighted)),
    total=st.floats(1, 1000, allow_nan=False),
)
def test_any_framework_survives_dump_and_parse(root: Group | Indicator, total: float) -> None:
    assert isinstance(root, Group)
    seen = [node.code for _, node in root.walk()]
    if len(set(seen)) != len(seen):
        return
    framework = Framework(code="p", name_en="P", name_zh="P", root=root, total=total)
    assert parse_framework(dump_framework(framework), allow_unbalanced=True) == framework


def test_blank_spreadsheet_cells_in_flat_rows_count_as_not_given() -> None:
    data = flat()
    blank = {"unit": "", "direction": "", "goalposts": "", "source": "", "target": " "}
    data["nodes"][2].update(blank)  # the group A: an indicator's columns left empty
    data["nodes"][3]["tier_weights"] = ""
    data["nodes"][1]["goalposts"] = "0, 100"  # a cell holding both goalposts
    assert parse_framework(data) == parse_framework(nested())


def test_the_examples_in_the_documentation_are_valid_frameworks() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "assessment-frameworks.md"
    blocks = re.findall(r"```yaml\n(.*?)```", docs.read_text("utf-8"), re.S)
    assert len(blocks) == 2
    nested_example, flat_example = (load_framework(block) for block in blocks)
    assert nested_example.code == flat_example.code == "district-services"


# --- codes, filters and aliases -------------------------------------------------------------


@pytest.mark.parametrize("code", ["-lead", "a/b", "a:b", "x" * 65, "能源"])
def test_codes_are_letters_digits_dots_underscores_and_hyphens(code: str) -> None:
    data = nested()
    data["root"]["children"][0]["code"] = code
    assert "letters, digits, '.', '_' or '-'" in messages(data)


def test_dataset_filters_hold_single_values() -> None:
    data = nested()
    data["root"]["children"][0]["children"][1]["source"] = {
        "kind": "dataset",
        "dataset": "d",
        "value_field": "v",
        "filters": {"sex": "all", "age": 15, "urban": True, "bad": {"nested": 1}, "many": [1, 2]},
    }
    text = messages(data)
    assert "source.filters.bad: must be one value" in text
    assert "source.filters.many: must be one value" in text
    assert "filters.sex" not in text
    assert "filters.age" not in text
    assert "filters.urban" not in text


def test_yaml_aliases_are_refused() -> None:
    text = "a: &x [1, 2]\nb: *x\n"
    with pytest.raises(InvalidInput, match=r"aliases \(\*name\) are not allowed in a framework"):
        load_framework(text)
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n"
    with pytest.raises(InvalidInput, match=r"line 1, column 4"):
        load_framework(bomb)


def test_a_dumped_framework_with_shared_values_has_no_aliases() -> None:
    framework = builtin_frameworks()["iso37120"]
    assert "&id" not in dumps(framework)
    assert load_framework(dumps(framework)) == framework
