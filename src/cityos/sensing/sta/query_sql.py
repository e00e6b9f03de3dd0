"""Compilation of parsed ``$filter`` expressions and ``$orderby`` keys to SQLAlchemy.

Every literal becomes a bound parameter; nothing from the request is spliced into SQL text.
The same expressions run on SQLite and PostgreSQL: the operations that differ (JSON
sub-properties, substring search, date parts, ``mod``) are small SQL constructs compiled per
dialect (:mod:`sqlalchemy.ext.compiler`).

* A path through navigation properties (``Datastream/Thing/name``, ``Thing/Locations/name``)
  makes the comparison or function it is part of an ``EXISTS`` over the related rows; in
  ``$orderby`` such a path (to single entities only) becomes a correlated scalar subquery.
* ``properties/a/b`` reads inside JSON: compared with a number it is read as a number, with
  text as text, with a boolean as a boolean; values of another JSON type do not match.
* ``result`` compares numbers with ``result_number`` and anything else with ``result_json``.
* Time properties holding an interval (``phenomenonTime``) compare on their start.
* There is no PostGIS: geospatial functions are evaluated in Python with Shapely
  (:mod:`.query_geo`) and compile to ``id IN (…)``. ``geo.distance`` and ``geo.length``
  may only be compared with a number.
* For anonymous readers (``public``) every entity a path joins in is limited to what they
  may see (:func:`.access.visible_clause`), so a restricted Thing cannot be probed through
  the filter of another entity set.
* Numbers outside 64-bit integers or doubles, and times outside years 1–9999, are refused
  with a 400 instead of reaching the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, aliased

from cityos.errors import InvalidInput, NotImplementedFeature
from cityos.sensing.sta import access
from cityos.sensing.sta import query_dialect as qd
from cityos.sensing.sta import query_geo as geo
from cityos.sensing.sta.entities import EntityType, Kind, Link, Nav
from cityos.sensing.sta.entities import entity as entity_named
from cityos.sensing.sta.query_ast import (
    ARITHMETIC,
    COMPARISONS,
    BinOp,
    Call,
    Expr,
    Literal,
    Neg,
    Not,
    OrderItem,
    Path,
    paths,
)
from cityos.sensing.sta.query_parse import Resolved, resolve_path
from cityos.sensing.sta.query_values import Scope as _Scope
from cityos.sensing.sta.query_values import Val as _Val
from cityos.sensing.sta.query_values import at as _at
from cityos.sensing.sta.query_values import constant_number as _constant_number
from cityos.sensing.sta.query_values import constant_time as _constant_time
from cityos.sensing.sta.query_values import fold as _fold
from cityos.sensing.sta.query_values import iso as _iso
from cityos.sensing.sta.query_values import literal_part as _literal_part
from cityos.sensing.sta.query_values import literal_value as _literal

_STRING_TESTS = frozenset({"substringof", "contains", "startswith", "endswith"})
_TIME_PARTS = frozenset({"year", "month", "day", "hour", "minute", "second", "fractionalseconds"})
_MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class _Compiler:
    def __init__(
        self, db_session: Session | None, root: EntityType, base: Any, order: bool, public: bool
    ):
        self.root = root
        self.scopes: dict[tuple[str, ...], _Scope] = {(): _Scope(root, base)}
        self.order = order
        self.public = public
        self.geometries = geo.GeometryRows(db_session, public)

    # --- navigation -------------------------------------------------------------------

    def _join(
        self, start: Any, steps: Sequence[tuple[EntityType, Nav]]
    ) -> tuple[list[Any], list[ColumnElement[bool]], Any]:
        """FROM items and join conditions from ``start`` along ``steps``; the last alias."""
        froms: list[Any] = []
        conditions: list[ColumnElement[bool]] = []
        current = start
        for _, nav in steps:
            target: Any = aliased(entity_named(nav.target).model)
            if nav.link is Link.HERE:
                conditions.append(target.id == getattr(current, nav.column))
            elif nav.link is Link.THERE:
                conditions.append(getattr(target, nav.column) == current.id)
            else:
                assert nav.table is not None
                table = nav.table.alias()
                froms.append(table)
                conditions.append(table.c[nav.source_col] == current.id)
                conditions.append(table.c[nav.target_col] == target.id)
            froms.append(target)
            if self.public:
                visible = access.visible_clause(entity_named(nav.target), None, alias=target)
                if visible is not None:
                    conditions.append(visible)
            current = target
        return froms, conditions, current

    def _resolve(self, path: Path) -> tuple[Resolved, tuple[str, ...], _Scope | None]:
        resolved = resolve_path(self.root, path.segments, what="$filter")
        prefix = path.segments[: len(resolved.steps)]
        return resolved, prefix, self.scopes.get(prefix)

    def _within_navigation(self, node: Expr, build: Callable[[], ColumnElement[bool]]) -> Any:
        """``build()``, wrapped in EXISTS for each navigation prefix its paths use."""
        for path in paths(node):
            resolved, prefix, scope = self._resolve(path)
            if scope is not None:
                continue
            # the longest prefix already in scope, then join the rest
            known = max((p for p in self.scopes if prefix[: len(p)] == p), key=len)
            start = self.scopes[known]
            froms, conditions, alias = self._join(start.alias, resolved.steps[len(known) :])
            self.scopes[prefix] = _Scope(resolved.target, alias)
            try:
                inner = self._within_navigation(node, build)
            finally:
                del self.scopes[prefix]
            return select(sa.literal(1)).select_from(*froms).where(*conditions, inner).exists()
        return build()

    # --- predicates -------------------------------------------------------------------

    def predicate(self, node: Expr) -> Any:
        if isinstance(node, BinOp) and node.op in ("and", "or"):
            join = sa.and_ if node.op == "and" else sa.or_
            return join(self.predicate(node.left), self.predicate(node.right))
        if isinstance(node, Not):
            return sa.not_(self.predicate(node.operand))
        if isinstance(node, Literal) and node.kind == "boolean":
            return sa.true() if node.value else sa.false()
        if isinstance(node, BinOp) and node.op in COMPARISONS:
            return self._within_navigation(node, lambda: self._compare(node))
        if isinstance(node, Call | Path):
            return self._within_navigation(node, lambda: self._truth(node))
        raise InvalidInput(f"$filter: the expression {_at(node)} is not a condition")

    def _truth(self, node: Call | Path) -> Any:
        value = self.value(node)
        if value.kind == "dynamic":
            return value.as_kind("boolean") == sa.true()
        if value.kind != "boolean":
            raise InvalidInput(
                f"$filter: the {value.kind} {_at(node)} is not a condition; compare it "
                "with a value (eq, gt, …)"
            )
        return value.sql

    def _compare(self, node: BinOp) -> Any:
        left, right = self.value(node.left), self.value(node.right)
        op = node.op
        if left.kind == "measure" or right.kind == "measure":
            return self._compare_measure(node, left, right)
        for side in (left, right):
            if side.kind in ("geometry", "shape"):
                raise InvalidInput(
                    f"$filter: a geometry cannot be compared {_at(node)}; use geo.intersects, "
                    "st_within, geo.distance, …"
                )
        if left.is_literal and right.is_literal:
            return self._constant(node, left, right)
        if right.kind == "null" or left.kind == "null":
            other = left if right.kind == "null" else right
            if op not in ("eq", "ne"):
                raise InvalidInput(f"$filter: null can only be compared with eq or ne {_at(node)}")
            test = other.as_kind("null") if other.kind == "dynamic" else other.sql.is_(None)
            return test if op == "eq" else sa.not_(test)
        kind = self._common_kind(node, left, right)
        a, b = left.as_kind(kind), right.as_kind(kind)
        if op == "eq":
            return a == b
        if op == "ne":
            return a.is_distinct_from(b)
        return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]

    def _common_kind(self, node: BinOp, left: _Val, right: _Val) -> str:
        if left.kind == "dynamic" and right.kind == "dynamic":
            return "string"
        if left.kind == "dynamic" or right.kind == "dynamic":
            fixed = right if left.kind == "dynamic" else left
            if fixed.kind in ("number", "string", "boolean"):
                return fixed.kind
            if fixed.kind == "datetime" and fixed.is_literal:
                fixed.sql = sa.literal(_iso(fixed.literal), sa.String())
                fixed.kind = "string"
                return "string"
            raise InvalidInput(
                f"$filter: a JSON value cannot be compared with a {fixed.kind} {_at(node)}"
            )
        if left.kind != right.kind:
            raise InvalidInput(
                f"$filter: cannot compare a {left.kind} with a {right.kind} {_at(node)}"
            )
        if left.kind == "boolean" and node.op not in ("eq", "ne"):
            raise InvalidInput(f"$filter: booleans can only be compared with eq or ne {_at(node)}")
        return left.kind

    def _constant(self, node: BinOp, left: _Val, right: _Val) -> Any:
        if left.kind != right.kind and "null" not in (left.kind, right.kind):
            raise InvalidInput(
                f"$filter: cannot compare a {left.kind} with a {right.kind} {_at(node)}"
            )
        try:
            result = geo.COMPARE[node.op](left.literal, right.literal)
        except TypeError:
            result = False
        return sa.true() if result else sa.false()

    # --- operands ---------------------------------------------------------------------

    def value(self, node: Expr) -> _Val:
        if isinstance(node, Literal):
            return _literal(node)
        if isinstance(node, Path):
            return self._path(node)
        if isinstance(node, Neg):
            inner = self.value(node.operand)
            if inner.is_literal and inner.kind == "number":
                return _constant_number(-inner.literal, node)
            return _Val("number", -self._number(inner, node), node=node)
        if isinstance(node, BinOp) and node.op in ARITHMETIC:
            return self._arithmetic(node)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, BinOp | Not):
            if self.order:
                raise InvalidInput(f"$orderby: a condition cannot be a sort key {_at(node)}")
            return _Val("boolean", self.predicate(node), node=node)
        raise InvalidInput(f"$filter: unexpected expression {_at(node)}")

    def _path(self, path: Path) -> _Val:
        resolved, _prefix, scope = self._resolve(path)
        if scope is None:
            if not self.order:  # predicates wrap navigation before reading values
                raise InvalidInput(f"$filter: '{path.text}' cannot be used here")
            if resolved.to_many:
                raise InvalidInput(
                    f"$orderby: '{path.text}' goes through a to-many navigation property"
                )
            return self._scalar_path(path, resolved)
        return _column_value(resolved, scope, path)

    def _scalar_path(self, path: Path, resolved: Resolved) -> _Val:
        """A path through single related entities, read by a correlated subquery."""
        root = self.scopes[()]
        froms, conditions, alias = self._join(root.alias, resolved.steps)
        inner = _column_value(resolved, _Scope(resolved.target, alias), path)

        def wrap(sql: Any) -> Any:
            return select(sql).select_from(*froms).where(*conditions).scalar_subquery()

        if inner.kind == "dynamic":
            read = inner.read
            assert read is not None
            return _Val("dynamic", read=lambda kind: wrap(read(kind)), node=path)
        if inner.kind in ("geometry",):
            raise NotImplementedFeature("$orderby: sorting by a geometry is not supported")
        return _Val(inner.kind, wrap(inner.sql), node=path)

    def _number(self, value: _Val, node: Expr) -> Any:
        if value.kind == "dynamic":
            return value.as_kind("number")
        if value.kind != "number":
            raise InvalidInput(f"$filter: a number is needed {_at(node)}, not a {value.kind}")
        return value.sql

    def _string(self, value: _Val, node: Expr) -> Any:
        if value.kind == "dynamic":
            return value.as_kind("string")
        if value.kind != "string":
            raise InvalidInput(f"$filter: text is needed {_at(node)}, not a {value.kind}")
        return value.sql

    def _moment_of(self, value: _Val, node: Expr) -> Any:
        if value.kind != "datetime":
            raise InvalidInput(f"$filter: a time is needed {_at(node)}, not a {value.kind}")
        return value.sql

    def _arithmetic(self, node: BinOp) -> _Val:
        left, right = self.value(node.left), self.value(node.right)
        if left.is_literal and right.is_literal:
            return _fold(node, left, right)
        if "duration" in (left.kind, right.kind):
            raise NotImplementedFeature(
                f"$filter: time arithmetic on a property {_at(node)} is not supported; "
                "compute the bound in the literal (e.g. now() sub duration'P1D')"
            )
        a, b = self._number(left, node.left), self._number(right, node.right)
        if node.op == "add":
            return _Val("number", a + b, node=node)
        if node.op == "sub":
            return _Val("number", a - b, node=node)
        if node.op == "mul":
            return _Val("number", a * b, node=node)
        if node.op == "div":
            divisor = sa.func.nullif(b, 0)
            return _Val("number", sa.cast(a, sa.Float()).op("/")(divisor), node=node)
        return _Val("number", qd.Mod(a, b), node=node)

    # --- functions ---------------------------------------------------------------------

    def _call(self, node: Call) -> _Val:
        name = node.name
        if name in geo.GEO_FUNCTIONS:
            if self.order:
                raise NotImplementedFeature(f"$orderby: {name}() is not supported as a sort key")
            return self._geo(node)
        args = [self.value(arg) for arg in node.args]
        if name in _STRING_TESTS:
            first, second = (self._string(v, a) for v, a in zip(args, node.args, strict=True))
            hay, needle = (second, first) if name == "substringof" else (first, second)
            if name == "startswith":
                return _Val("boolean", qd.StrPos(hay, needle) == 1, node=node)
            if name == "endswith":
                length_h, length_n = sa.func.length(hay), sa.func.length(needle)
                tail = sa.func.substr(hay, length_h - length_n + 1)
                return _Val("boolean", sa.and_(length_n <= length_h, tail == needle), node=node)
            return _Val("boolean", qd.StrPos(hay, needle) > 0, node=node)
        if name == "indexof":
            hay, needle = (self._string(v, a) for v, a in zip(args, node.args, strict=True))
            return _Val("number", qd.StrPos(hay, needle) - 1, node=node)
        if name == "length":
            return _Val("number", sa.func.length(self._string(args[0], node.args[0])), node=node)
        if name in ("tolower", "toupper", "trim"):
            fn = {"tolower": sa.func.lower, "toupper": sa.func.upper, "trim": sa.func.trim}[name]
            return _Val("string", fn(self._string(args[0], node.args[0])), node=node)
        if name == "concat":
            a, b = (self._string(v, arg) for v, arg in zip(args, node.args, strict=True))
            return _Val("string", a.op("||", return_type=sa.String())(b), node=node)
        if name == "substring":
            text = self._string(args[0], node.args[0])
            start = sa.cast(self._number(args[1], node.args[1]), sa.Integer()) + 1
            if len(args) == 2:
                return _Val("string", sa.func.substr(text, start), node=node)
            count = sa.cast(self._number(args[2], node.args[2]), sa.Integer())
            return _Val("string", sa.func.substr(text, start, count), node=node)
        if name in ("round", "floor", "ceiling"):
            number = self._number(args[0], node.args[0])
            if name == "round":
                return _Val("number", qd.Round(number), node=node)
            if name == "floor":
                return _Val("number", qd.Floor(number), node=node)
            return _Val("number", qd.Ceiling(number), node=node)
        return self._time_call(node, args)

    def _time_call(self, node: Call, args: list[_Val]) -> _Val:
        name = node.name
        if name == "now":
            return _constant_time(datetime.now(UTC))
        if name in ("mindatetime", "maxdatetime"):
            if not args:
                return _constant_time(_MIN_TIME if name == "mindatetime" else _MAX_TIME)
            arg = node.args[0]
            if not isinstance(arg, Path):
                raise InvalidInput(f"$filter: {name}() takes a time property {_at(node)}")
            resolved, _, scope = self._resolve(arg)
            if resolved.prop.kind not in (Kind.TIME, Kind.PERIOD):
                raise InvalidInput(f"$filter: {name}() takes a time property {_at(node)}")
            alias = scope.alias if scope is not None else None
            if alias is None:
                return self._scalar_path(arg, resolved)
            start = getattr(alias, resolved.prop.column)
            if name == "mindatetime" or resolved.prop.end_column is None:
                return _Val("datetime", start, node=node)
            end = getattr(alias, resolved.prop.end_column)
            return _Val("datetime", sa.func.coalesce(end, start), node=node)
        moment = args[0]
        if moment.is_literal and moment.kind == "datetime":
            return _literal_part(node, moment.literal)
        sql = self._moment_of(moment, node.args[0])
        if name == "totaloffsetminutes":  # times are kept in UTC
            return _Val("number", sa.case((sql.is_(None), None), else_=0), node=node)
        if name == "date":
            return _Val("date", qd.DateOf(sql), node=node)
        if name == "time":
            return _Val("time", qd.TimeOf(sql), node=node)
        assert name in _TIME_PARTS
        return _Val("number", qd.time_part(name, sql), node=node)

    # --- geospatial --------------------------------------------------------------------

    def _geo_operand(self, node: Expr) -> _Val:
        if isinstance(node, Literal) and node.kind == "geography":
            assert isinstance(node.value, str)
            geometry = geo.parse_wkt(node.value, _at(node))
            return _Val("shape", literal=geometry, is_literal=True, node=node)
        if isinstance(node, Path):
            resolved, _, scope = self._resolve(node)
            if resolved.prop.kind is not Kind.GEOMETRY or resolved.keys:
                raise InvalidInput(f"$filter: '{node.text}' {_at(node)} is not a geometry property")
            assert scope is not None
            return _Val("geometry", geo=(resolved, scope), node=node)
        raise InvalidInput(
            f"$filter: a geometry property or a geography'…' literal is needed {_at(node)}"
        )

    def _rows(self, resolved: Resolved) -> tuple[list[int], Any]:
        return self.geometries.get(resolved.target, resolved.prop.column)

    def _geo(self, node: Call) -> _Val:
        name = node.name
        operands = [self._geo_operand(arg) for arg in node.args[:2]]
        if name in geo.MEASURES:
            if all(op.is_literal for op in operands):
                amount = geo.constant_measure(name, [op.literal for op in operands])
                return _constant_number(amount, node)
            if name == "geo.length":
                return _Val("measure", geo=operands[0].geo, measure=lambda g: g.length, node=node)
            path_side = next(op for op in operands if not op.is_literal)
            other = next((op for op in operands if op.is_literal), None)
            if other is None:
                raise NotImplementedFeature(
                    f"$filter: geo.distance between two properties {_at(node)} is not supported"
                )
            target: BaseGeometry = other.literal
            return _Val(
                "measure", geo=path_side.geo, measure=lambda g: g.distance(target), node=node
            )
        extra: list[Any] = []
        if name == "st_relate":
            pattern = node.args[2]
            if not (isinstance(pattern, Literal) and pattern.kind == "string"):
                raise InvalidInput(f"$filter: st_relate() needs a pattern text {_at(pattern)}")
            extra.append(pattern.value)
        if all(op.is_literal for op in operands):
            ok = geo.constant_test(name, operands[0].literal, operands[1].literal, extra)
            return _Val("boolean", sa.true() if ok else sa.false(), node=node)
        if not any(op.is_literal for op in operands):
            raise NotImplementedFeature(
                f"$filter: {name}() between two properties {_at(node)} is not supported"
            )
        path_side = next(op for op in operands if not op.is_literal)
        assert path_side.geo is not None
        resolved, scope = path_side.geo
        literal = next(op.literal for op in operands if op.is_literal)
        chosen = geo.matching_test(
            name, literal, self._rows(resolved), literal_first=operands[0].is_literal, extra=extra
        )
        return _Val("boolean", geo.id_in(scope.alias, chosen), node=node)

    def _compare_measure(self, node: BinOp, left: _Val, right: _Val) -> Any:
        flipped = left.kind != "measure"
        measure, bound = (right, left) if flipped else (left, right)
        if not (bound.is_literal and bound.kind == "number"):
            raise NotImplementedFeature(
                f"$filter: geo.distance/geo.length of a property can only be compared with a "
                f"number {_at(node)}"
            )
        assert measure.geo is not None
        assert measure.measure is not None
        resolved, scope = measure.geo
        chosen = geo.matching_measure(
            measure.measure, self._rows(resolved), node.op, bound.literal, flipped=flipped
        )
        return geo.id_in(scope.alias, chosen)


def _column_value(resolved: Resolved, scope: _Scope, path: Path) -> _Val:
    prop = resolved.prop
    alias = scope.alias
    column = getattr(alias, prop.column)
    if prop.kind is Kind.RESULT:
        result_json = alias.result_json
        if resolved.keys:
            return _dynamic(result_json, resolved.keys, path)

        def read(kind: str) -> Any:
            if kind == "number":
                return column
            if kind == "null":
                return sa.and_(column.is_(None), qd.json_read("null", result_json, ()))
            return qd.json_read(kind, result_json, ())

        return _Val("dynamic", read=read, node=path)
    if prop.kind is Kind.JSON:
        return _dynamic(column, resolved.keys, path)
    if prop.kind is Kind.GEOMETRY:
        return _Val("geometry", geo=(resolved, scope), node=path)
    nullable = _nullable(resolved.target, prop.column)
    if prop.kind is Kind.ID:
        return _Val("number", column, node=path, nullable=False)
    if prop.kind in (Kind.TIME, Kind.PERIOD):
        return _Val("datetime", column, node=path, nullable=nullable)
    return _Val("string", column, node=path, nullable=nullable)


def _nullable(entity: EntityType, attribute: str) -> bool:
    """Whether the column behind ``attribute`` of ``entity``'s model may hold NULL."""
    mapper: Any = sa.inspect(entity.model)
    columns = mapper.attrs[attribute].columns
    return bool(columns[0].nullable) if len(columns) == 1 else True


def _dynamic(column: Any, keys: tuple[str, ...], path: Path) -> _Val:
    return _Val("dynamic", read=lambda kind: qd.json_read(kind, column, keys), node=path)


# --- public ----------------------------------------------------------------------------------


def filter_clause(
    db_session: Session, expr: Expr, entity: EntityType, *, base: Any = None, public: bool = False
) -> ColumnElement[bool]:
    """The SQL condition for the ``$filter`` ``expr`` on ``entity``'s rows.

    ``base`` is what stands for the entity in the statement (its model, or an alias of
    it); the session is used to read geometry rows for geospatial functions. ``public``
    (an anonymous reader) limits every related entity a path reaches to what such a reader
    may see; the caller limits ``entity``'s own rows.
    """
    root = entity.model if base is None else base
    compiler = _Compiler(db_session, entity, root, False, public)
    clause: ColumnElement[bool] = compiler.predicate(expr)
    return clause


def order_clauses(
    entity: EntityType, orderby: Sequence[OrderItem], *, base: Any = None, public: bool = False
) -> list[ColumnElement[Any]]:
    """ORDER BY terms for ``$orderby``: nulls first ascending, last descending (said only
    for columns that may hold NULL, so that an index on a NOT NULL column can serve the
    sort). ``public`` as for :func:`filter_clause`.

    A JSON sub-property or ``result`` sorts by its number, then by its text.
    """
    compiler = _Compiler(None, entity, entity.model if base is None else base, True, public)
    terms: list[ColumnElement[Any]] = []
    for item in orderby:
        expr = item.expr if item.expr is not None else Path(item.path)
        value = compiler.value(expr)
        nullable = value.nullable
        if value.kind == "dynamic":
            keys = [value.as_kind("number"), value.as_kind("string")]
        elif value.kind in ("geometry", "shape", "measure"):
            raise InvalidInput(f"$orderby: a geometry cannot be a sort key {_at(expr)}")
        elif value.is_literal:
            continue  # a constant does not change the order
        else:
            keys = [value.sql]
        for key in keys:
            if not nullable:
                terms.append(key.desc() if item.descending else key.asc())
            elif item.descending:
                terms.append(key.desc().nulls_last())
            else:
                terms.append(key.asc().nulls_first())
    return terms


__all__ = ["filter_clause", "order_clauses"]
