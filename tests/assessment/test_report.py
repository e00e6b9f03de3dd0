"""The HTML report: self-contained, complete (every unit, step and choice), in zh and en."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from cityos.assessment import report
from cityos.assessment.benchmarking import compare
from cityos.assessment.report import render_report
from cityos.errors import InvalidInput
from tests.assessment.report_support import flat_result, hand_made_result, pipeline_result

WHEN = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
OUTSIDE = re.compile(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:|//)""", re.IGNORECASE)


def test_the_report_loads_nothing_from_outside() -> None:
    html = render_report(hand_made_result(), comparison=compare(hand_made_result(), unit="MIN"))
    assert not OUTSIDE.search(html)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "@import" not in html
    assert "url(" not in html
    assert "<svg" in html


def test_every_unit_is_in_the_ranking_best_first_with_its_coverage() -> None:
    html = render_report(hand_made_result(), generated_at=WHEN)
    for name in ("London", "Paris", "Minghu", "New York", "Tokyo", "Singapore"):
        assert name in html
    ranking = html[html.index('data-testid="ranking"') :]
    order = re.findall(r'data-unit="(\w+)"', ranking)
    assert order == ["TYO", "LON", "PAR", "MIN", "NYC", "SGP"]
    assert "computed from 1 of 5 indicators" in html  # Singapore
    assert "screened out" in html
    assert "76.7" in html  # Tokyo's index


def test_the_chinese_report_uses_chinese_names_and_labels() -> None:
    html = render_report(hand_made_result(), lang="zh-CN", generated_at=WHEN)
    assert '<html lang="zh-CN">' in html
    for name in ("伦敦", "巴黎", "明湖", "纽约", "东京", "新加坡", "惠民服务", "示例智慧城市指数"):
        assert name in html
    assert "排名" in html
    assert "基于 5 项指标中的 1 项计算" in html
    assert "Ranking" not in html


def test_both_languages_render_with_the_language_named_loosely() -> None:
    assert '<html lang="zh-CN">' in render_report(hand_made_result(), lang="zh")
    assert '<html lang="en">' in render_report(hand_made_result(), lang="en-GB")


def test_every_method_step_is_listed_with_its_parameters_and_notes() -> None:
    result = hand_made_result()
    html = render_report(result)
    for step in result.steps:
        row = re.search(rf'<tr data-step="{step.step}">(.*?)</tr>', html, re.DOTALL)
        assert row, step.step
        assert step.method in row.group(1)
        for key in step.params:
            assert f"<code>{key}</code>" in row.group(1)
        for note in step.notes:
            assert note in row.group(1)
    assert result.warnings[0] in html
    assert "min_unit_coverage: 0.65" in html  # the run configuration


def test_screening_outliers_coherence_and_uncertainty_are_reported() -> None:
    html = render_report(hand_made_result())
    screening = html[html.index('id="screening"') : html.index('id="outliers"')]
    assert "SGP" in screening
    assert "1 of 5 (20 %)" in screening
    outliers = html[html.index('id="outliers"') : html.index('id="coherence"')]
    assert "winsorised" in outliers
    assert "log-transformed" in outliers
    assert "3 other indicators needed no treatment" in outliers
    coherence = html[html.index('id="coherence"') : html.index('id="uncertainty"')]
    assert "a1 · a3" in coherence
    assert "negative correlation" in coherence
    assert "0.41" in coherence  # Cronbach's alpha of the index
    uncertainty = html[html.index('id="uncertainty"') : html.index('id="framework"')]
    assert "200 Monte Carlo runs" in uncertainty
    assert "0.400" in uncertainty  # the sensitivity index of the weights
    assert 'id="chart-uncertainty"' in html


def test_without_uncertainty_there_is_no_whisker_plot() -> None:
    html = render_report(hand_made_result(uncertainty=False))
    assert 'id="chart-uncertainty"' not in html
    assert 'id="uncertainty"' not in html
    assert "rank interval" not in html


def test_the_framework_tree_shows_effective_weights() -> None:
    html = render_report(hand_made_result())
    tree = html[html.index('data-testid="tree"') :]
    a1 = re.search(r"<td class=\"code\">a1</td>(.*?)</tr>", tree, re.DOTALL)
    assert a1
    assert "33.3 %" in a1.group(1)  # within services
    assert "20.0 %" in a1.group(1)  # of the whole index: 60 % × 1/3
    assert "lower is better" in tree  # b1


def test_the_data_table_holds_the_raw_values() -> None:
    html = render_report(hand_made_result())
    data = html[html.index('id="data"') :]
    assert "0.95" in data  # Tokyo's a3
    assert "µg/m³" not in data  # units of measure live in the tree
    assert data.count('<td class="num">–</td>') == 4  # Singapore's missing values


def test_names_are_escaped() -> None:
    html = render_report(hand_made_result())
    assert "Transit &lt;reach&gt;" in html
    assert "Transit <reach>" not in html


def test_a_comparison_adds_its_section_and_chart() -> None:
    result = hand_made_result()
    html = render_report(result, comparison=compare(result, unit="MIN"))
    section = html[html.index('id="comparison"') : html.index('id="method"')]
    assert "Minghu" in section
    assert "Environment" in section.split("Strengths")[1].split("Weaknesses")[0]
    assert "-65.5" in section  # Minghu's services: 9.5 against Tokyo's 75.0
    assert 'id="chart-comparison"' in html
    assert '<tr class="subject" data-unit="MIN">' in html


def test_a_comparison_on_three_or_more_dimensions_draws_a_radar() -> None:
    result = flat_result(["X", "Y", "Z"], ["d1", "d2", "d3"], [[1, 2, 3], [3, 2, 1], [2, 2, 2]])
    html = render_report(result, comparison=compare(result, unit="X"))
    figure = html[html.index('id="chart-comparison"') :].split("</figure>")[0]
    assert figure.count("<polygon") == 3


def test_a_title_and_the_time_of_generation_can_be_given() -> None:
    html = render_report(hand_made_result(), title="Minghu <2026>", generated_at=WHEN)
    assert "<title>Minghu &lt;2026&gt;</title>" in html
    assert "2026-03-01 08:30 UTC" in html
    assert html == render_report(hand_made_result(), title="Minghu <2026>", generated_at=WHEN)


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidInput, match="'fr'"):
        render_report(hand_made_result(), lang="fr")


def test_a_result_of_the_real_engine_renders() -> None:
    result = pipeline_result()
    html = render_report(result, comparison=compare(result, unit="LON"), lang="zh-CN")
    for unit in result.units:
        assert unit.name_zh in html
    for step in result.steps:
        assert f'data-step="{step.step}"' in html
    assert 'id="chart-uncertainty"' in html


def test_report_catalogs_hold_the_same_keys_and_every_key_used() -> None:
    folder = resources.files("cityos").joinpath("locales")
    en = json.loads(folder.joinpath("assessment_report.en.json").read_text("utf-8"))
    zh = json.loads(folder.joinpath("assessment_report.zh-CN.json").read_text("utf-8"))
    assert set(en) == set(zh)
    template = Path(str(resources.files("cityos").joinpath("web", "templates")))
    page = (template / "assessment/report.html").read_text("utf-8")
    used = set(re.findall(r"t\('assessment_report\.([\w.]+)'", page))
    for module in ("report.py", "workbook.py"):
        source = Path(report.__file__).with_name(module).read_text("utf-8")
        used |= set(re.findall(r'self\.t\(\s*"([\w.]+)"', source))
    assert "section.method" in used  # the template was read
    used |= {f"action.{a}" for a in ("none", "winsorised", "log")}
    used |= {"direction.higher", "direction.lower", "flag.redundant", "flag.negative"}
    missing = sorted(key for key in used if f"assessment_report.{key}" not in en)
    assert not missing
