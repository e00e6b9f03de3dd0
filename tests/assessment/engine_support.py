"""Small builders for the engine's tests: frameworks and panels written inline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cityos.assessment.framework import Direction, Framework, Group, Indicator
from cityos.assessment.panel import Panel, Unit
from cityos.assessment.result import FloatArray


def ind(
    code: str,
    weight: float | None = None,
    *,
    lower: bool = False,
    **extra: Any,
) -> Indicator:
    return Indicator(
        code=code,
        name_en=f"Indicator {code}",
        name_zh=f"指标{code}",
        direction=Direction.LOWER if lower else Direction.HIGHER,
        weight=weight,
        **extra,
    )


def grp(
    code: str,
    *children: Group | Indicator,
    weight: float | None = None,
    name_zh: str = "",
    name_en: str | None = None,
    **extra: Any,
) -> Group:
    return Group(
        code=code,
        name_en=name_en if name_en is not None else f"Group {code}",
        name_zh=name_zh,
        children=tuple(children),
        weight=weight,
        **extra,
    )


def framework(
    *children: Group | Indicator,
    total: float = 100.0,
    code: str = "FW",
    method: dict[str, Any] | None = None,
    tiers: tuple[str, ...] = (),
) -> Framework:
    return Framework(
        code=code,
        name_en="Test framework",
        name_zh="测试框架",
        root=Group(code="IDX", name_en="Index", name_zh="指数", children=tuple(children)),
        total=total,
        method=method or {},
        tiers=tiers,
    )


def units(n: int, **extra: Any) -> tuple[Unit, ...]:
    return tuple(Unit(code=f"u{i + 1}", name_en=f"Unit {i + 1}", **extra) for i in range(n))


def panel(
    matrix: Sequence[Sequence[float]] | FloatArray,
    codes: Sequence[str],
    *,
    unit_list: Sequence[Unit] | None = None,
    years: Sequence[int] = (2024,),
) -> Panel:
    """A panel from a units × indicators matrix (one year) or years × units × indicators."""
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim == 2:
        values = values[None, :, :]
    people = tuple(unit_list) if unit_list is not None else units(values.shape[1])
    return Panel(people, tuple(codes), tuple(years), values)


def simple(*weights: float | None, lower: Sequence[bool] = ()) -> Framework:
    """Index → one indicator per weight (codes a, b, c, …)."""
    flags = list(lower) + [False] * (len(weights) - len(lower))
    return framework(
        *(ind(chr(97 + k), w, lower=flags[k]) for k, w in enumerate(weights)),
        total=sum(w for w in weights if w is not None) or 100.0,
    )


# A configuration that only normalises and aggregates (no screening or outlier surprises).
PLAIN: dict[str, Any] = {
    "screen": {"min_unit_coverage": 0, "min_indicator_coverage": 0},
    "outliers": {"method": "none"},
}
