"""The parsed form of a SensorThings request's query options.

:func:`cityos.sensing.sta.query_parse.parse_options` builds these from the query string;
:mod:`cityos.sensing.sta.query_sql` compiles a ``$filter`` expression and ``$orderby`` keys
to SQL. Every node is immutable; ``pos`` (0-based offset in the option's text) is kept for
error messages and ignored by equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

# --- $filter expressions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant. ``kind`` is one of: string, number, boolean, null, datetime, date, time,
    duration, geography (``value`` is then the WKT text, SRID prefix removed)."""

    value: str | int | float | bool | datetime | date | time | timedelta | None
    kind: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Path:
    """A property path such as ``name``, ``properties/owner`` or ``Datastream/Thing/name``."""

    segments: tuple[str, ...]
    pos: int = field(default=0, compare=False)

    @property
    def text(self) -> str:
        return "/".join(self.segments)


@dataclass(frozen=True, slots=True)
class BinOp:
    """A binary operator: eq ne gt ge lt le and or add sub mul div mod."""

    op: str
    left: Expr
    right: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus."""

    operand: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``name`` is lower case (``substringof``, ``geo.intersects``, …)."""

    name: str
    args: tuple[Expr, ...]
    pos: int = field(default=0, compare=False)


Expr = Literal | Path | BinOp | Not | Neg | Call

COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
LOGICAL = frozenset({"and", "or"})
ARITHMETIC = frozenset({"add", "sub", "mul", "div", "mod"})


def walk(expr: Expr) -> list[Expr]:
    """Every node of ``expr``, parents before children."""
    out: list[Expr] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, BinOp):
            stack.extend((node.right, node.left))
        elif isinstance(node, Not | Neg):
            stack.append(node.operand)
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
    return out


def paths(expr: Expr) -> list[Path]:
    """The property paths ``expr`` refers to, in order."""
    return [node for node in walk(expr) if isinstance(node, Path)]


# --- the options ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Server limits on queries (from ``Settings.sta_*``)."""

    max_top: int = 1000
    default_top: int = 100
    max_expand_depth: int = 5
    max_filter_nodes: int = 300

    @classmethod
    def from_settings(cls, settings: Any) -> QueryLimits:
        """Limits from a :class:`cityos.config.Settings`."""
        return cls(
            max_top=settings.sta_max_top,
            default_top=settings.sta_default_top,
            max_expand_depth=settings.sta_max_expand_depth,
            max_filter_nodes=settings.sta_max_filter_nodes,
        )


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One ``$orderby`` key. ``path`` is set when the key is a plain property path; ``expr``
    is always the parsed key (a :class:`Path` or an expression such as ``year(time)``)."""

    path: tuple[str, ...]
    descending: bool = False
    expr: Expr | None = None


@dataclass(frozen=True, slots=True)
class Expand:
    """One expanded navigation property with its own options; ``A/B`` is ``Expand("A")``
    whose options expand ``B``. ``nav`` is the wire name on the parent entity type."""

    nav: str
    options: QueryOptions


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """The query options of one request (or of one ``$expand`` level).

    ``top`` is the client's ``$top`` as given (``None`` when absent); cap it with
    :meth:`page_size`. ``select`` is ``None`` when every property is wanted; its entries
    are wire names (``id`` for ``@iot.id``), navigation names included.
    """

    filter: Expr | None = None
    orderby: tuple[OrderItem, ...] = ()
    select: tuple[str, ...] | None = None
    expand: tuple[Expand, ...] = ()
    top: int | None = None
    skip: int = 0
    count: bool = False
    result_format: str | None = None  # "dataArray"

    def page_size(self, limits: QueryLimits) -> int:
        """How many entities one response holds: ``$top`` (or the default), at most the
        server maximum."""
        wanted = limits.default_top if self.top is None else self.top
        return min(wanted, limits.max_top)
