"""An indicator framework: index → dimensions → … → indicators, as plain immutable data.

A framework is data, not code: it is read from a YAML document (see docs/assessment.md),
edited in the UI and stored in the database. Groups hold children (groups or indicators, any
depth); indicators are the leaves. Weights are relative within a group: a group's children
must sum to the group's own weight (GB/T 33356 publishes weights this way), and the root's
children to the framework's ``total`` (100 by default). Omitted weights mean equal weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    HIGHER = "higher"  # higher is better
    LOWER = "lower"  # lower is better


class SourceKind(StrEnum):
    ENTERED = "entered"  # values entered or imported by users
    DATASET = "dataset"  # a data-hub dataset query
    LIVE = "live"  # a live platform metric (see assessment/live.py)


@dataclass(frozen=True, slots=True)
class Source:
    kind: SourceKind = SourceKind.ENTERED
    metric: str | None = None  # live: the metric code, e.g. "cases.resolved_within_sla_pct"
    dataset: str | None = None  # dataset: the data-hub dataset name
    value_field: str | None = None  # dataset: the value column
    unit_field: str | None = None  # dataset: the column holding the unit (area) code
    year_field: str | None = None  # dataset: the column holding the year
    filters: dict[str, Any] = field(default_factory=dict)  # dataset: eq filters


@dataclass(frozen=True, slots=True)
class Denominator:
    """Divide the raw value by ``by`` (a unit attribute such as ``population`` or
    ``area_km2``, or another indicator's code) and multiply by ``per``."""

    by: str
    per: float = 1.0


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    name_en: str
    name_zh: str
    direction: Direction = Direction.HIGHER
    unit: str = ""
    weight: float | None = None  # None: equal share within its group
    tier_weights: dict[str, float] = field(default_factory=dict)
    goalposts: tuple[float, float] | None = None  # (worst-ish low, best-ish high) in raw units
    target: float | None = None
    denominator: Denominator | None = None
    source: Source = field(default_factory=Source)
    description_en: str = ""
    description_zh: str = ""
    source_header: str = ""  # the column header of this indicator in a published sheet


@dataclass(frozen=True, slots=True)
class Group:
    code: str
    name_en: str
    name_zh: str
    children: tuple[Group | Indicator, ...]
    weight: float | None = None  # None: the sum of its children's weights, or equal share
    tier_weights: dict[str, float] = field(default_factory=dict)
    description_en: str = ""
    description_zh: str = ""

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Group | Indicator]]:
        """Every node under this group (itself first) with its depth, depth-first in order."""
        yield depth, self
        for child in self.children:
            if isinstance(child, Group):
                yield from child.walk(depth + 1)
            else:
                yield depth + 1, child

    def indicators(self) -> list[Indicator]:
        return [node for _, node in self.walk() if isinstance(node, Indicator)]

    def groups(self) -> list[Group]:
        return [node for _, node in self.walk() if isinstance(node, Group)]


@dataclass(frozen=True, slots=True)
class Framework:
    code: str
    name_en: str
    name_zh: str
    root: Group  # the index itself
    version: str = ""
    description_en: str = ""
    description_zh: str = ""
    total: float = 100.0  # what the root's children's weights sum to
    tiers: tuple[str, ...] = ()  # names of the city tiers with their own weights
    method: dict[str, Any] = field(default_factory=dict)  # default run config (RunConfig)

    def indicators(self) -> list[Indicator]:
        return self.root.indicators()

    def groups(self) -> list[Group]:
        return self.root.groups()

    def node(self, code: str) -> Group | Indicator:
        for _, node in self.root.walk():
            if node.code == code:
                return node
        raise KeyError(code)


# --- documents: the functions live in framework_file.py (imported when called, because that
# module builds these classes) -----------------------------------------------------------------


def parse_framework(data: Mapping[str, Any], *, allow_unbalanced: bool = False) -> Framework:
    """Read and check a framework document (nested ``root:`` or flat ``nodes:``).

    Raises InvalidInput listing every problem (``details``: ``[{where, message}]``). Weight
    sums that miss are problems unless ``allow_unbalanced`` (then ``weights.renormalise`` of
    the run decides)."""
    from cityos.assessment import framework_file

    return framework_file.parse(data, allow_unbalanced=allow_unbalanced)


def load_framework(text: str | bytes, *, allow_unbalanced: bool = False) -> Framework:
    """Parse YAML or JSON text; syntax errors name the line and column."""
    from cityos.assessment import framework_file

    return framework_file.load(text, allow_unbalanced=allow_unbalanced)


def dump_framework(framework: Framework) -> dict[str, Any]:
    """The framework as a nested document; ``parse_framework(dump_framework(f)) == f``."""
    from cityos.assessment import framework_file

    return framework_file.dump(framework)
