"""Server-side SVG charts for reports and pages: radar, ranking bars, rank whiskers, coverage.

Each function returns one ``<svg>`` element as text: no script, no external font or image,
colours as presentation attributes (not ``style``), so a chart can sit inside a
self-contained report, print to PDF and live under a strict Content-Security-Policy. Every
label is escaped; numbers are written with fixed precision so the same input always gives
the same bytes. Sizes suit an A4 page (about 680 px of printable width at 96 dpi).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection, Sequence
from html import escape
from typing import NamedTuple

FONT = "'Noto Sans CJK SC','Noto Sans SC','PingFang SC','Microsoft YaHei',Arial,sans-serif"
PALETTE = ("#1f6feb", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285", "#5c940d")
INK, MUTED, LINE, EMPTY = "#1c2733", "#5b6b7a", "#d8e0e7", "#f1f3f5"
WIDTH = 680


class Series(NamedTuple):
    """One radar series: its legend label and one value per axis (NaN when missing)."""

    label: str
    values: Sequence[float]


def radar(
    axes: Sequence[str],
    series: Sequence[Series],
    *,
    title: str = "",
    lower: float | None = None,
    upper: float | None = None,
) -> str:
    """A radar (spider) chart: one axis per dimension, one closed polygon per series.

    The scale runs from ``lower`` (the centre) to ``upper``; by default 0–100 when every
    value fits, else a rounded range around the data. A missing value sits at the centre."""
    if len(axes) < 3:
        raise ValueError("a radar chart needs at least three axes")
    values = [v for s in series for v in s.values if _finite(v)]
    low = lower if lower is not None else min([0.0, *values])
    high = upper if upper is not None else _nice_upper(low, values)
    if high <= low:
        high = low + 1.0
    offset = 26.0 if title else 0.0
    cx, cy, radius = WIDTH / 2, 215.0 + offset, 150.0
    legend_rows = math.ceil(len(series) / 3)
    height = 440 + offset + 20 * legend_rows
    count = len(axes)

    def point(axis: int, value: float) -> tuple[float, float]:
        share = 0.0 if not _finite(value) else min(max((value - low) / (high - low), 0.0), 1.0)
        angle = -math.pi / 2 + 2 * math.pi * axis / count
        return cx + radius * share * math.cos(angle), cy + radius * share * math.sin(angle)

    parts = [_open(WIDTH, height, title)]
    if title:
        parts.append(_text(10, 20, title, 14, weight="bold"))
    for step in (0.25, 0.5, 0.75, 1.0):  # the rings: paths, so polygons are the series only
        ring = [point(i, low + step * (high - low)) for i in range(count)]
        path = "M" + " L".join(f"{_f(x)},{_f(y)}" for x, y in ring) + " Z"
        parts.append(f'<path d="{path}" fill="none" stroke="{LINE}" stroke-width="1"/>')
        lx, ly = point(0, low + step * (high - low))
        parts.append(_text(lx + 4, ly + 10, _num(low + step * (high - low)), 9, fill=MUTED))
    for i, name in enumerate(axes):
        x, y = point(i, high)
        parts.append(
            f'<line x1="{_f(cx)}" y1="{_f(cy)}" x2="{_f(x)}" y2="{_f(y)}" '
            f'stroke="{LINE}" stroke-width="1"/>'
        )
        angle = -math.pi / 2 + 2 * math.pi * i / count
        lx, ly = cx + (radius + 14) * math.cos(angle), cy + (radius + 14) * math.sin(angle)
        anchor = "middle" if abs(math.cos(angle)) < 0.3 else "start" if lx > cx else "end"
        lines = _wrap(name, 12, 150, 2)
        top = ly - (len(lines) - 1) * 14 if math.sin(angle) < -0.3 else ly + 4
        if abs(math.sin(angle)) <= 0.3:
            top = ly + 4 - (len(lines) - 1) * 7
        for k, line in enumerate(lines):
            parts.append(_text(lx, top + 14 * k, line, 12, anchor=anchor, full=name))
    for k, item in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        ring = [
            point(i, item.values[i] if i < len(item.values) else math.nan) for i in range(count)
        ]
        points = " ".join(f"{_f(x)},{_f(y)}" for x, y in ring)
        parts.append(
            f'<polygon points="{points}" fill="{colour}" fill-opacity="0.12" stroke="{colour}" '
            f'stroke-width="2" data-series="{escape(item.label)}"><title>{escape(item.label)}'
            "</title></polygon>"
        )
        for i, (x, y) in enumerate(ring):
            if i < len(item.values) and _finite(item.values[i]):
                parts.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3" fill="{colour}"/>')
    parts += _legend([s.label for s in series], 40, cy + radius + 45, WIDTH - 80)
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str = "",
    highlight: Collection[int] = (),
    digits: int = 1,
    limit: int | None = None,
) -> str:
    """Horizontal bars, best (largest) first; missing values last and drawn empty.

    ``highlight`` holds positions (in ``labels``) drawn in the accent colour; ``limit`` keeps
    the first bars (highlighted ones are kept too, after them)."""
    if len(labels) != len(values):
        raise ValueError("labels and values differ in length")
    order = sorted(
        range(len(values)),
        key=lambda i: (not _finite(values[i]), -values[i] if _finite(values[i]) else 0.0, i),
    )
    if limit is not None and len(order) > limit:
        order = order[:limit] + [i for i in order[limit:] if i in highlight]
    finite = [values[i] for i in order if _finite(values[i])]
    low, high = _domain(finite)
    label_w, value_w, row = 190.0, 60.0, 20.0
    plot_x, plot_w = label_w + 10, WIDTH - label_w - 10 - value_w
    top = 34.0 if title else 10.0
    height = top + row * len(order) + 28

    def x_of(value: float) -> float:
        return plot_x + (value - low) / (high - low) * plot_w

    parts = [_open(WIDTH, height, title)]
    if title:
        parts.append(_text(10, 20, title, 14, weight="bold"))
    for tick in _ticks(low, high):
        x = x_of(tick)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(top - 4)}" x2="{_f(x)}" '
            f'y2="{_f(top + row * len(order))}" stroke="{LINE}" stroke-width="1"/>'
        )
        parts.append(
            _text(x, top + row * len(order) + 16, _num(tick), 10, anchor="middle", fill=MUTED)
        )
    zero = x_of(0.0)
    for k, i in enumerate(order):
        y = top + row * k
        label = _fit(labels[i], 12, label_w)
        parts.append(_text(label_w, y + 14, label, 12, anchor="end", full=labels[i]))
        value = values[i]
        if not _finite(value):
            parts.append(_text(plot_x + 4, y + 14, "–", 12, fill=MUTED))
            continue
        colour = PALETTE[1] if i in highlight else PALETTE[0]
        x0, x1 = sorted((zero, x_of(value)))
        parts.append(
            f'<rect x="{_f(x0)}" y="{_f(y + 3)}" width="{_f(max(x1 - x0, 0.5))}" '
            f'height="{_f(row - 6)}" fill="{colour}"><title>{escape(labels[i])}: '
            f"{_num(value, digits)}</title></rect>"
        )
        parts.append(_text(max(x1, zero) + 4, y + 14, _num(value, digits), 11, fill=INK))
    parts.append(
        f'<line x1="{_f(zero)}" y1="{_f(top - 4)}" x2="{_f(zero)}" '
        f'y2="{_f(top + row * len(order))}" stroke="{MUTED}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str = "",
    digits: int = 1,
) -> str:
    """Horizontal bars per category, one per series (the radar's stand-in for < 3 axes)."""
    finite = [v for s in series for v in s.values if _finite(v)]
    low, high = _domain(finite)
    label_w, value_w, bar = 190.0, 60.0, 14.0
    plot_x, plot_w = label_w + 10, WIDTH - label_w - 10 - value_w
    block = bar * len(series) + 12
    top = 34.0 if title else 10.0
    bottom = top + block * len(categories)
    legend_rows = math.ceil(len(series) / 3)
    height = bottom + 30 + 20 * legend_rows

    def x_of(value: float) -> float:
        return plot_x + (value - low) / (high - low) * plot_w

    parts = [_open(WIDTH, height, title)]
    if title:
        parts.append(_text(10, 20, title, 14, weight="bold"))
    for tick in _ticks(low, high):
        x = x_of(tick)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(top - 4)}" x2="{_f(x)}" y2="{_f(bottom)}" '
            f'stroke="{LINE}" stroke-width="1"/>'
        )
        parts.append(_text(x, bottom + 14, _num(tick), 10, anchor="middle", fill=MUTED))
    zero = x_of(0.0)
    for c, name in enumerate(categories):
        y0 = top + block * c
        parts.append(
            _text(label_w, y0 + block / 2 + 2, _fit(name, 12, label_w), 12, anchor="end", full=name)
        )
        for k, item in enumerate(series):
            value = item.values[c] if c < len(item.values) else math.nan
            y = y0 + 6 + bar * k
            if not _finite(value):
                parts.append(_text(plot_x + 4, y + 11, "–", 11, fill=MUTED))
                continue
            colour = PALETTE[k % len(PALETTE)]
            x0, x1 = sorted((zero, x_of(value)))
            parts.append(
                f'<rect x="{_f(x0)}" y="{_f(y + 1)}" width="{_f(max(x1 - x0, 0.5))}" '
                f'height="{_f(bar - 2)}" fill="{colour}"><title>{escape(item.label)}, '
                f"{escape(name)}: {_num(value, digits)}</title></rect>"
            )
            parts.append(_text(max(x1, zero) + 4, y + 11, _num(value, digits), 10))
    parts += _legend([s.label for s in series], 40, bottom + 26, WIDTH - 80)
    parts.append("</svg>")
    return "".join(parts)


def whisker_plot(
    labels: Sequence[str],
    median: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    *,
    title: str = "",
    axis_label: str = "",
    highlight: Collection[int] = (),
    limit: int | None = None,
) -> str:
    """Median rank with its 5–95 % interval per unit, best (lowest rank) first, rank 1 left."""
    if not len(labels) == len(median) == len(low) == len(high):
        raise ValueError("labels, median, low and high differ in length")
    order = sorted(
        range(len(labels)),
        key=lambda i: (not _finite(median[i]), median[i] if _finite(median[i]) else 0.0, i),
    )
    if limit is not None and len(order) > limit:
        order = order[:limit] + [i for i in order[limit:] if i in highlight]
    finite = [v for seq in (median, low, high) for v in seq if _finite(v)]
    worst = max([float(len(labels)), *finite])
    label_w, row = 190.0, 18.0
    plot_x, plot_w = label_w + 10, WIDTH - label_w - 30
    top = 34.0 if title else 10.0
    height = top + row * len(order) + (44 if axis_label else 28)

    def x_of(rank: float) -> float:
        return plot_x + (rank - 1) / max(worst - 1, 1.0) * plot_w

    parts = [_open(WIDTH, height, title)]
    if title:
        parts.append(_text(10, 20, title, 14, weight="bold"))
    bottom = top + row * len(order)
    for tick in _ticks(1.0, worst, integers=True):
        x = x_of(tick)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(top - 4)}" x2="{_f(x)}" y2="{_f(bottom)}" '
            f'stroke="{LINE}" stroke-width="1"/>'
        )
        parts.append(_text(x, bottom + 16, _num(tick, 0), 10, anchor="middle", fill=MUTED))
    if axis_label:
        parts.append(_text(plot_x + plot_w / 2, bottom + 34, axis_label, 11, anchor="middle"))
    for k, i in enumerate(order):
        y = top + row * k + row / 2
        parts.append(
            _text(label_w, y + 4, _fit(labels[i], 12, label_w), 12, anchor="end", full=labels[i])
        )
        if not _finite(median[i]):
            continue
        colour = PALETTE[1] if i in highlight else PALETTE[0]
        lo = low[i] if _finite(low[i]) else median[i]
        hi = high[i] if _finite(high[i]) else median[i]
        x0, x1, xm = x_of(lo), x_of(hi), x_of(median[i])
        parts.append(
            f"<g><title>{escape(labels[i])}: {_num(median[i], 1)} "
            f"({_num(lo, 1)}–{_num(hi, 1)})</title>"
            f'<line x1="{_f(x0)}" y1="{_f(y)}" x2="{_f(x1)}" y2="{_f(y)}" stroke="{colour}" '
            'stroke-width="2"/>'
            f'<line x1="{_f(x0)}" y1="{_f(y - 4)}" x2="{_f(x0)}" y2="{_f(y + 4)}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{_f(x1)}" y1="{_f(y - 4)}" x2="{_f(x1)}" y2="{_f(y + 4)}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{_f(xm)}" cy="{_f(y)}" r="4" fill="{colour}"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def coverage_grid(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    shares: Sequence[Sequence[float]],
    *,
    title: str = "",
) -> str:
    """A heat grid of data coverage (0–1 per cell, NaN grey), the percentage in each cell."""
    if len(shares) != len(row_labels) or any(len(r) != len(column_labels) for r in shares):
        raise ValueError("shares must be rows × columns")
    label_w, cell_w, cell_h = 170.0, 44.0, 18.0
    head = 90.0
    top = head + (26 if title else 0)
    columns = len(column_labels)
    width = max(WIDTH, int(label_w + 10 + cell_w * columns + 60))
    height = top + cell_h * len(row_labels) + 10
    parts = [_open(width, height, title)]
    if title:
        parts.append(_text(10, 20, title, 14, weight="bold"))
    for j, name in enumerate(column_labels):
        x = label_w + 10 + cell_w * j + cell_w / 2
        shown = _fit(name, 11, head * 1.4)
        hint = f"<title>{escape(name)}</title>" if shown != name else ""
        parts.append(
            f'<text x="{_f(x)}" y="{_f(top - 6)}" font-size="11" fill="{INK}" '
            f'transform="rotate(-40 {_f(x)} {_f(top - 6)})">{hint}{escape(shown)}</text>'
        )
    for i, name in enumerate(row_labels):
        y = top + cell_h * i
        parts.append(_text(label_w, y + 13, _fit(name, 12, label_w), 12, anchor="end", full=name))
        for j in range(columns):
            share = float(shares[i][j])
            x = label_w + 10 + cell_w * j
            fill = _shade(share) if _finite(share) else EMPTY
            parts.append(
                f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(cell_w - 2)}" height="{_f(cell_h - 2)}" '
                f'fill="{fill}"/>'
            )
            text = f"{share * 100:.0f}" if _finite(share) else "–"
            ink = "#ffffff" if _finite(share) and share > 0.55 else INK
            parts.append(_text(x + cell_w / 2 - 1, y + 12, text, 10, anchor="middle", fill=ink))
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- helpers


def _open(width: float, height: float, title: str) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
        f'width="{_f(width)}" height="{_f(height)}" font-family="{FONT}" role="img"'
    )
    if title:
        return head + f' aria-label="{escape(title)}"><title>{escape(title)}</title>'
    return head + ">"


def _text(
    x: float,
    y: float,
    text: str,
    size: int,
    *,
    anchor: str = "start",
    fill: str = INK,
    weight: str = "normal",
    full: str | None = None,
) -> str:
    attrs = f'x="{_f(x)}" y="{_f(y)}" font-size="{size}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight != "normal":
        attrs += f' font-weight="{weight}"'
    hint = f"<title>{escape(full)}</title>" if full is not None and full != text else ""
    return f"<text {attrs}>{hint}{escape(text)}</text>"


def _legend(labels: Sequence[str], x: float, y: float, width: float) -> list[str]:
    parts: list[str] = []
    column = width / 3
    for k, label in enumerate(labels):
        lx = x + column * (k % 3)
        ly = y + 20 * (k // 3)
        colour = PALETTE[k % len(PALETTE)]
        parts.append(
            f'<rect x="{_f(lx)}" y="{_f(ly)}" width="14" height="10" fill="{colour}" '
            f'fill-opacity="0.6" stroke="{colour}"/>'
        )
        parts.append(_text(lx + 20, ly + 9, _fit(label, 12, column - 26), 12, full=label))
    return parts


def _char_width(char: str, size: float) -> float:
    return size * (1.0 if unicodedata.east_asian_width(char) in "WF" else 0.58)


def text_width(text: str, size: float) -> float:
    """An estimate of the rendered width (wide CJK characters count one em)."""
    return sum(_char_width(char, size) for char in text)


def _fit(text: str, size: float, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` (the full text goes in a <title>)."""
    if text_width(text, size) <= width:
        return text
    out, used = "", _char_width("…", size)
    for char in text:
        used += _char_width(char, size)
        if used > width:
            break
        out += char
    return out.rstrip() + "…"


def _wrap(text: str, size: float, width: float, max_lines: int) -> list[str]:
    """Lines of at most ``width``: break at spaces, else anywhere (CJK has no spaces)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return [_fit(line, size, width) for line in lines]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _f(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _num(value: float, digits: int = 0) -> str:
    if abs(value - round(value)) < 1e-9 and digits == 0:
        return str(round(value))
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _domain(values: Sequence[float]) -> tuple[float, float]:
    """From 0 (or the lowest negative value) to a round number above the largest value."""
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        return low, low + 1.0
    step = _nice_step(high - low, 5)
    return low, math.ceil(high / step - 1e-9) * step


def _nice_upper(low: float, values: Sequence[float]) -> float:
    top = max([low + 1.0, *values])
    if low >= 0 and top <= 100:
        return 100.0
    return _nice_step(top - low, 4) * math.ceil((top - low) / _nice_step(top - low, 4)) + low


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def _ticks(low: float, high: float, *, integers: bool = False) -> list[float]:
    step = _nice_step(high - low, 5)
    if integers:
        step = max(1.0, math.ceil(step))
    start = math.ceil(low / step) * step
    ticks = []
    value = start
    while value <= high + 1e-9:
        ticks.append(round(value, 9))
        value += step
    if integers and ticks and ticks[0] > 1:
        ticks.insert(0, 1.0)
    return ticks


def _shade(share: float) -> str:
    """White-ish for 0, the accent blue for 1."""
    share = min(max(share, 0.0), 1.0)
    start, end = (0xE7, 0xF0, 0xFB), (0x14, 0x32, 0x5C)
    rgb = [round(a + (b - a) * share) for a, b in zip(start, end, strict=True)]
    return "#" + "".join(f"{c:02x}" for c in rgb)
