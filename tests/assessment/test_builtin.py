"""The frameworks shipped with CityOS: their structure is the published one."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlrd

from cityos.assessment.builtin import (
    CITYOS_LIVE,
    GBT33356,
    ISO37120,
    UN_HABITAT_CPI,
    builtin_framework,
    builtin_frameworks,
)
from cityos.assessment.framework import Direction, Framework, Group, Indicator, SourceKind
from cityos.assessment.live_metrics import LIVE_METRICS
from cityos.assessment.runconfig import RunConfig
from cityos.errors import NotFound


def dimensions(framework: Framework) -> list[Group]:
    children = list(framework.root.children)
    assert all(isinstance(child, Group) for child in children)
    return [child for child in children if isinstance(child, Group)]


def test_the_four_frameworks_are_built_in_and_read_once() -> None:
    assert set(builtin_frameworks()) == {GBT33356, ISO37120, UN_HABITAT_CPI, CITYOS_LIVE}
    first, second = builtin_frameworks(), builtin_frameworks()
    assert all(first[code] is second[code] for code in first)  # read once
    first.clear()  # a caller's copy: the next caller still gets them all
    assert len(builtin_frameworks()) == 4


def test_an_unknown_builtin_framework_lists_the_ones_there_are() -> None:
    with pytest.raises(NotFound, match="built in: cityos-live, gbt33356-2016"):
        builtin_framework("iesE")


@pytest.mark.parametrize("code", sorted(builtin_frameworks()))
def test_every_builtin_is_described_in_both_languages_with_a_valid_method(code: str) -> None:
    framework = builtin_framework(code)
    assert framework.name_en
    assert framework.name_zh
    assert framework.version
    assert framework.description_en
    assert framework.description_zh
    RunConfig().merged(framework.method)  # raises if a key or method name is wrong
    for _, node in framework.root.walk():
        assert node.name_en, node.code
        assert node.name_zh, node.code


def test_indicator_codes_are_unique_across_the_builtin_frameworks() -> None:
    codes = [node.code for fw in builtin_frameworks().values() for _, node in fw.root.walk()]
    assert len(codes) == len(set(codes))
    prefixes = {"gbt33356-2016": "GBT", "iso37120": "ISO", "un-habitat-cpi": "CPI"}
    for code, prefix in prefixes.items():
        assert all(n.code.split(".")[0] == prefix for _, n in builtin_framework(code).root.walk())


# --- GB/T 33356-2016 ------------------------------------------------------------------------


def test_gbt_has_8_first_level_areas_weighing_100_points() -> None:
    framework = builtin_framework(GBT33356)
    first = dimensions(framework)
    assert [(g.name_zh, g.weight) for g in first] == [
        ("惠民服务", 37),
        ("精准治理", 9),
        ("生态宜居", 8),
        ("智能设施", 7),
        ("信息资源", 7),
        ("网络安全", 8),
        ("改革创新", 4),
        ("市民体验", 20),
    ]
    assert sum(g.weight or 0 for g in first) == framework.total == 100


def test_gbt_has_21_second_level_areas_summing_to_their_first_level_weight() -> None:
    first = dimensions(builtin_framework(GBT33356))
    second = [child for group in first for child in group.children]
    assert len(second) == 21
    assert all(isinstance(child, Group) for child in second)
    for group in first:
        assert sum(child.weight or 0 for child in group.children) == pytest.approx(group.weight)
    assert [c.name_zh for c in first[1].children] == ["城市管理", "公共安全"]
    assert [c.name_zh for c in first[5].children] == ["网络安全管理", "系统与数据安全"]


def test_gbt_citizen_services_carry_the_published_second_level_weights() -> None:
    citizen = dimensions(builtin_framework(GBT33356))[0]
    assert citizen.code == "GBT.L1.A"
    assert [(c.name_zh, c.weight) for c in citizen.children] == [
        ("政务服务", 8),
        ("交通服务", 3),
        ("社保服务", 3),
        ("医疗服务", 3),
        ("教育服务", 3),
        ("就业服务", 3),
        ("城市服务", 7),
        ("帮扶服务", 5),
        ("电子商务服务", 2),
    ]


def test_gbt_says_which_weights_are_placeholders() -> None:
    framework = builtin_framework(GBT33356)
    assert "only the 惠民服务 (citizen services) second-level weights" in framework.description_en
    assert "are published in our sources" in framework.description_en


def test_gbt_sub_items_are_entered_scores_on_0_to_100() -> None:
    framework = builtin_framework(GBT33356)
    second = [c for g in dimensions(framework) for c in g.children if isinstance(c, Group)]
    assert all(group.children for group in second)
    for indicator in framework.indicators():
        assert indicator.goalposts == (0.0, 100.0)
        assert indicator.unit in ("%", "score")
        assert indicator.source.kind is SourceKind.ENTERED
        assert indicator.code.startswith("GBT.")
        assert indicator.code.count(".") == 2


# --- ISO 37120:2014 --------------------------------------------------------------------------


def test_iso_has_the_17_themes_of_the_2014_edition() -> None:
    themes = dimensions(builtin_framework(ISO37120))
    assert [t.name_en for t in themes] == [
        "Economy",
        "Education",
        "Energy",
        "Environment",
        "Finance",
        "Fire and emergency response",
        "Governance",
        "Health",
        "Recreation",
        "Safety",
        "Shelter",
        "Solid waste",
        "Telecommunication and innovation",
        "Transportation",
        "Urban planning",
        "Wastewater",
        "Water and sanitation",
    ]
    assert all(t.weight is None for t in themes)  # equal weights


def test_iso_has_46_core_indicators_and_two_supporting_ones_for_recreation() -> None:
    framework = builtin_framework(ISO37120)
    kinds = [i.description_en.split(" indicator")[0] for i in framework.indicators()]
    assert kinds.count("Core") == 46
    assert kinds.count("Supporting") == 2
    recreation = framework.node("ISO.13")
    assert isinstance(recreation, Group)
    assert all(isinstance(i, Indicator) for i in recreation.children)
    assert all(i.description_en.startswith("Supporting") for i in recreation.indicators())


def test_iso_rates_per_100000_are_computed_from_raw_counts_and_population() -> None:
    framework = builtin_framework(ISO37120)
    per_100k = [i for i in framework.indicators() if "per 100 000 population" in i.name_en]
    assert len(per_100k) == 12
    for indicator in per_100k:
        assert indicator.denominator is not None
        assert (indicator.denominator.by, indicator.denominator.per) == ("population", 100000)
    mortality = framework.node("ISO.12.4")  # per 1 000 live births: entered as a rate
    assert isinstance(mortality, Indicator)
    assert mortality.denominator is None
    unemployment = framework.node("ISO.5.1")
    assert isinstance(unemployment, Indicator)
    assert unemployment.direction is Direction.LOWER


# --- UN-Habitat City Prosperity Index ---------------------------------------------------------

LOWER = {
    "Unemployment Rate",
    "Average Daily Travel Time",
    "Traffic Fatalities",
    "Under-Five Mortality Rate",
    "Homicide rate",
    "Gini Coefficient",
    "Poverty Rate",
    "Slum Households",
    "Youth Unemployment",
    "PM2.5 Concentration",
    "PM10 Concentration",
    "CO2 Emissions",
}


def test_cpi_has_6_dimensions_15_sub_dimensions_and_25_indicators() -> None:
    framework = builtin_framework(UN_HABITAT_CPI)
    dims = dimensions(framework)
    assert [d.code for d in dims] == ["CPI.P", "CPI.ID", "CPI.QOL", "CPI.ESI", "CPI.ES", "CPI.GI"]
    assert sum(len(d.children) for d in dims) == 15
    assert len(framework.indicators()) == 25
    assert all(node.weight is None for _, node in framework.root.walk())  # equal weights
    for indicator in framework.indicators():
        expected = Direction.LOWER if indicator.source_header in LOWER else Direction.HIGHER
        assert indicator.direction is expected, indicator.source_header


def test_cpi_matches_the_published_sheet_header_by_header(shared_dir: Path) -> None:
    sheet = xlrd.open_workbook(
        str(shared_dir / "data" / "cities" / "un-habitat-cpi-2016.xls")
    ).sheet_by_index(0)
    framework = builtin_framework(UN_HABITAT_CPI)
    indicators = framework.indicators()
    columns = [c for c in range(5, 35) if str(sheet.cell_value(4, c)).strip()]
    assert [str(sheet.cell_value(4, c)).strip() for c in columns] == [
        i.source_header for i in indicators
    ]
    assert [str(sheet.cell_value(5, c)).strip() for c in columns] == [i.unit for i in indicators]
    dimension_headers = [str(v).strip() for v in sheet.row_values(2)[5:35] if str(v).strip()]
    assert dimension_headers == [d.description_en for d in dimensions(framework)]
    sub_dimensions = [str(v).strip() for v in sheet.row_values(3)[5:35] if str(v).strip()]
    names = [s.name_en.casefold() for d in dimensions(framework) for s in d.children]
    assert [s.casefold().replace("strenght", "strength") for s in sub_dimensions] == names


# --- CityOS Live -------------------------------------------------------------------------------


def test_cityos_live_has_every_live_metric_once_grouped_in_three_dimensions() -> None:
    framework = builtin_framework(CITYOS_LIVE)
    assert [d.name_en for d in dimensions(framework)] == [
        "Citizen services",
        "Open data",
        "Sensing",
    ]
    metrics = [i.source.metric for i in framework.indicators()]
    assert sorted(m for m in metrics if m) == sorted(LIVE_METRICS)
    for indicator in framework.indicators():
        assert indicator.source.kind is SourceKind.LIVE
        assert indicator.denominator is None
        metric = LIVE_METRICS[indicator.source.metric or ""]
        assert (indicator.unit, indicator.direction) == (metric.unit, metric.direction)
        assert (indicator.name_en, indicator.name_zh) == (metric.name_en, metric.name_zh)
