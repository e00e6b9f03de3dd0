"""Compiled ``$filter`` / ``$orderby`` operands and the constants folded at compile time.

A :class:`Val` is what an expression compiles to: SQL of a known kind, a value read as the
kind the other side asks for (JSON, ``result``), a geometry, or a Python constant. Numbers
outside 64-bit integers or finite doubles, and times outside years 1–9999, are refused with
a 400 here, before they reach the database.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry

from cityos.db import UTCDateTime
from cityos.errors import InvalidInput
from cityos.sensing.sta import query_dialect as qd
from cityos.sensing.sta.entities import EntityType
from cityos.sensing.sta.query_ast import BinOp, Call, Expr, Literal
from cityos.sensing.sta.query_parse import Resolved

_INT32 = 2**31 - 1
_INT64 = 2**63 - 1


def at(node: Expr) -> str:
    return f"at position {node.pos + 1}"


@dataclass
class Scope:
    """Where the paths below a navigation prefix are read from: an entity type and the
    (aliased) model standing for it in the statement."""

    entity: EntityType
    alias: Any


@dataclass
class Val:
    """A compiled operand. Fixed kinds (number, string, boolean, datetime, date, time,
    null) carry ``sql``; ``dynamic`` values (inside JSON, or ``result``) are read as the
    kind the other operand asks for through ``read``; ``geometry`` is a path to GeoJSON;
    ``shape`` a literal geometry; ``measure`` a geo.distance/geo.length of a path."""

    kind: str
    sql: Any = None
    read: Callable[[str], Any] | None = None
    literal: Any = None  # the Python value of a constant operand
    is_literal: bool = False
    geo: tuple[Resolved, Scope] | None = None
    measure: Callable[[BaseGeometry], float] | None = None
    node: Expr | None = field(default=None, repr=False)
    nullable: bool = True  # False: a NOT NULL column of the row itself

    def as_kind(self, kind: str) -> Any:
        if self.kind == "dynamic":
            assert self.read is not None
            return self.read(kind)
        return self.sql


# --- helpers -------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def literal_value(node: Literal) -> Val:
    value = node.value
    kind = node.kind
    if kind == "string":
        return Val("string", sa.literal(value, sa.String()), literal=value, is_literal=True)
    if kind == "number":
        return constant_number(value, node)
    if kind == "boolean":
        return Val("boolean", sa.literal(value, sa.Boolean()), literal=value, is_literal=True)
    if kind == "null":
        return Val("null", sa.null(), literal=None, is_literal=True)
    if kind == "datetime":
        assert isinstance(value, datetime)
        return constant_time(value)
    if kind == "date":
        return Val("date", sa.literal(value, qd.DateValue()), literal=value, is_literal=True)
    if kind == "time":
        return Val("time", sa.literal(value, qd.TimeValue()), literal=value, is_literal=True)
    if kind == "duration":
        return Val("duration", literal=value, is_literal=True)
    return Val("shape", literal=value, is_literal=True, node=node)


def constant_number(value: Any, node: Expr | None = None) -> Val:
    """A number constant; 400 when the database could not hold it (beyond 64-bit
    integers, or not a finite double)."""
    where = f" {at(node)}" if node is not None else ""
    type_: Any
    if isinstance(value, int):
        if abs(value) > _INT64:
            raise InvalidInput(
                f"$filter: the number{where} is out of range; whole numbers must lie "
                f"between -{_INT64} and {_INT64}"
            )
        type_ = sa.Integer() if abs(value) <= _INT32 else sa.BigInteger()
    else:
        if not math.isfinite(value):
            raise InvalidInput(
                f"$filter: the number{where} is out of range; use a finite number "
                "(at most about 1.8e308)"
            )
        type_ = sa.Float()
    return Val("number", sa.literal(value, type_), literal=value, is_literal=True)


def constant_time(value: datetime) -> Val:
    return Val("datetime", sa.literal(value, UTCDateTime()), literal=value, is_literal=True)


def _shifted(node: BinOp, moment: datetime, span: Any, op: str) -> Val:
    try:
        moved = moment + span if op == "add" else moment - span
        moved.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"$filter: the time computed {at(node)} falls outside the years 1 to 9999; "
            "use a shorter duration"
        ) from None
    return constant_time(moved)


def fold(node: BinOp, left: Val, right: Val) -> Val:
    """Arithmetic on two constants, done here (so ``now() sub duration'P1D'`` works)."""
    a, b = left.literal, right.literal
    kinds = (left.kind, right.kind)
    if kinds == ("datetime", "duration") and node.op in ("add", "sub"):
        return _shifted(node, a, b, node.op)
    if kinds == ("duration", "datetime") and node.op == "add":
        return _shifted(node, b, a, "add")
    if kinds == ("datetime", "datetime") and node.op == "sub":
        return Val("duration", literal=a - b, is_literal=True)
    if kinds == ("duration", "duration") and node.op in ("add", "sub"):
        try:
            span = a + b if node.op == "add" else a - b
        except OverflowError:
            raise InvalidInput(f"$filter: the duration {at(node)} is too long") from None
        return Val("duration", literal=span, is_literal=True)
    if kinds != ("number", "number"):
        raise InvalidInput(f"$filter: cannot {node.op} a {left.kind} and a {right.kind} {at(node)}")
    if node.op in ("div", "mod") and b == 0:
        return Val("null", sa.null(), literal=None, is_literal=True)
    result = {
        "add": operator.add,
        "sub": operator.sub,
        "mul": operator.mul,
        "div": operator.truediv,
        "mod": operator.mod,
    }[node.op](a, b)
    return constant_number(result, node)


def literal_part(node: Call, moment: datetime) -> Val:
    moment = moment.astimezone(UTC)
    name = node.name
    if name == "date":
        day = moment.date()
        return Val("date", sa.literal(day, qd.DateValue()), literal=day, is_literal=True)
    if name == "time":
        clock = moment.time()
        return Val("time", sa.literal(clock, qd.TimeValue()), literal=clock, is_literal=True)
    if name == "totaloffsetminutes":
        return constant_number(0)
    if name == "fractionalseconds":
        return constant_number(moment.microsecond / 1_000_000)
    return constant_number(int(getattr(moment, name)))


__all__ = [
    "Scope",
    "Val",
    "at",
    "constant_number",
    "constant_time",
    "fold",
    "iso",
    "literal_part",
    "literal_value",
]
