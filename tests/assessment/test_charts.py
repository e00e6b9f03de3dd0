"""The SVG charts: well-formed, escaped, deterministic, drawing what they are given."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from cityos.assessment import charts

SVG = "{http://www.w3.org/2000/svg}"
TRICKY = 'Rock & <Roll> "Ltd"'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def visible_texts(root: ET.Element) -> list[str]:
    """The text of <text> elements without their <title> hints."""
    out = []
    for node in root.iter(f"{SVG}text"):
        parts = [node.text or ""] + [child.tail or "" for child in node]
        out.append("".join(parts))
    return out


def test_radar_draws_one_polygon_per_series_and_escapes_labels() -> None:
    svg = charts.radar(
        ["Economy", TRICKY, "生态宜居", "Governance", "Mobility"],
        [
            charts.Series("Minghu <demo>", [10, 20, 30, 40, 50]),
            charts.Series("Peer median", [50, 50, 50, 50, 50]),
            charts.Series("Leader", [90, 80, 70, 60, 100]),
        ],
        title="Minghu & peers",
    )
    root = parse(svg)
    polygons = list(root.iter(f"{SVG}polygon"))
    assert len(polygons) == 3
    assert [p.get("data-series") for p in polygons] == ["Minghu <demo>", "Peer median", "Leader"]
    assert all(len(p.get("points", "").split()) == 5 for p in polygons)
    assert TRICKY in texts(root)
    assert "生态宜居" in texts(root)
    assert "<Roll>" not in svg  # escaped in the markup, restored by the parser
    assert root.find(f"{SVG}title") is not None
    assert root.find(f"{SVG}title").text == "Minghu & peers"  # type: ignore[union-attr]


def test_radar_puts_the_maximum_on_the_outer_ring_and_missing_values_at_the_centre() -> None:
    svg = charts.radar(
        ["a", "b", "c", "d"], [charts.Series("s", [100, math.nan, 0, 50])], lower=0, upper=100
    )
    polygon = next(parse(svg).iter(f"{SVG}polygon"))
    points = [tuple(map(float, p.split(","))) for p in polygon.get("points", "").split()]
    centre = points[1]  # NaN sits at the centre, like 0
    assert points[2] == pytest.approx(centre)
    assert math.dist(points[0], centre) == pytest.approx(150.0, abs=0.1)
    assert math.dist(points[3], centre) == pytest.approx(75.0, abs=0.1)


def test_radar_needs_three_axes() -> None:
    with pytest.raises(ValueError, match="three axes"):
        charts.radar(["a", "b"], [charts.Series("s", [1, 2])])


def test_bar_chart_orders_best_first_and_puts_missing_values_last() -> None:
    svg = charts.bar_chart(
        ["Paris", "London", TRICKY, "Tokyo"], [49.1, 63.5, math.nan, 76.7], title="Index"
    )
    root = parse(svg)
    labels = [t for t in visible_texts(root) if t in {"Paris", "London", TRICKY, "Tokyo"}]
    assert labels == ["Tokyo", "London", "Paris", TRICKY]
    assert len(list(root.iter(f"{SVG}rect"))) == 3  # no bar for the missing value
    assert "76.7" in visible_texts(root)


def test_bar_chart_grows_negative_bars_left_of_zero() -> None:
    root = parse(charts.bar_chart(["up", "down"], [1.5, -0.5]))
    up, down = list(root.iter(f"{SVG}rect"))
    assert float(down.get("x", 0)) + float(down.get("width", 0)) == pytest.approx(
        float(up.get("x", 0))
    )


def test_bar_chart_limit_keeps_the_best_and_the_highlighted_unit() -> None:
    labels = [f"City {i}" for i in range(10)]
    values = [float(i) for i in range(10)]
    root = parse(charts.bar_chart(labels, values, limit=3, highlight={0}))
    rects = list(root.iter(f"{SVG}rect"))
    assert len(rects) == 4
    assert rects[-1].get("fill") == charts.PALETTE[1]
    assert "City 0" in visible_texts(root)
    assert "City 5" not in visible_texts(root)


def test_whisker_plot_sorts_by_median_rank_with_one_interval_per_unit() -> None:
    svg = charts.whisker_plot(
        ["Paris", "Tokyo", "London"],
        [3.0, 1.0, 2.0],
        [2.0, 1.0, 1.0],
        [4.0, 2.0, 3.0],
        title="Ranks",
        axis_label="Rank (1 is best)",
    )
    root = parse(svg)
    names = [t for t in visible_texts(root) if t in {"Paris", "Tokyo", "London"}]
    assert names == ["Tokyo", "London", "Paris"]
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    groups = list(root.iter(f"{SVG}g"))
    assert groups[0].find(f"{SVG}title").text == "Tokyo: 1.0 (1.0–2.0)"  # type: ignore[union-attr]


def test_coverage_grid_has_one_cell_per_unit_and_column_with_its_percentage() -> None:
    svg = charts.coverage_grid(
        ["London", "明湖"], ["Services", TRICKY], [[1.0, 0.5], [0.25, math.nan]], title="Coverage"
    )
    root = parse(svg)
    assert len(list(root.iter(f"{SVG}rect"))) == 4
    shown = visible_texts(root)
    for text in ("100", "50", "25", "–"):
        assert text in shown
    assert TRICKY in texts(root)


def test_grouped_bars_draw_one_bar_per_series_and_category() -> None:
    root = parse(
        charts.grouped_bars(
            ["Services", "Environment"],
            [charts.Series("Minghu", [9.5, 100]), charts.Series("Leader", [75, math.nan])],
            title=TRICKY,
        )
    )
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 3


def test_long_labels_are_cut_with_an_ellipsis_and_kept_whole_in_a_title() -> None:
    long_zh = "新型智慧城市评价指标体系之惠民服务与政务服务一体化"
    root = parse(charts.bar_chart([long_zh], [10.0]))
    label = next(t for t in root.iter(f"{SVG}text") if (t.find(f"{SVG}title") is not None))
    assert label.find(f"{SVG}title").text == long_zh  # type: ignore[union-attr]
    assert any(t.endswith("…") and long_zh.startswith(t[:-1]) for t in visible_texts(root))
    assert charts.text_width("中文", 10) == pytest.approx(20.0)


def test_the_same_input_draws_the_same_bytes() -> None:
    def draw() -> str:
        return charts.radar(
            ["a", "b", "c"], [charts.Series("s", [1 / 3, 2 / 3, 0.1])], title="t"
        ) + charts.bar_chart(["x", "y"], [1 / 7, 2 / 7])

    assert draw() == draw()
    assert "-0.0" not in draw()


def test_charts_carry_no_script_and_no_style_attribute() -> None:
    svg = charts.radar(["a", "b", "c"], [charts.Series("s", [1, 2, 3])]) + charts.whisker_plot(
        ["a"], [1.0], [1.0], [1.0]
    )
    assert "<script" not in svg
    assert "style=" not in svg
