"""Entities as SensorThings JSON, with ``$select`` and nested ``$expand``.

:func:`entity_json` is the one way rows become wire JSON — for reads, for the answers of
writes and for MQTT messages. Expansions are loaded one query per level and navigation
property for all parents at once, never one query per entity: on PostgreSQL a ``LATERAL``
subquery with ``LIMIT`` per parent applies each parent's ``$top`` / ``$skip`` (so an index
stops after the rows needed), elsewhere a window function numbers the children per parent.

One response carries at most :data:`BUDGET_FACTOR` × ``max_top`` entities, counting every
expanded entity where it appears; a request asking for more answers 400.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, aliased

from cityos.db import Base
from cityos.errors import InvalidInput
from cityos.sensing import models as m
from cityos.sensing.sta import access
from cityos.sensing.sta.entities import OBSERVATION, EntityType, Kind, Link, Nav, Prop, entity
from cityos.sensing.sta.query_ast import Expand, QueryOptions
from cityos.sensing.sta.query_sql import filter_clause, order_clauses

BUDGET_FACTOR = 10  # a response carries at most this many times max_top entities
ID_NAMES = frozenset({"id", "@iot.id"})
SELF_NAMES = frozenset({"selfLink", "@iot.selfLink"})


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``: seconds, or milli/microseconds when there are any."""
    if value is None:
        return None
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if value.microsecond == 0:
        spec = "seconds"
    elif value.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def format_period(start: datetime | None, end: datetime | None) -> str | None:
    """An instant (``start``) or an interval (``start/end``)."""
    if start is None:
        return None
    if end is None or end == start:
        return format_time(start)
    return f"{format_time(start)}/{format_time(end)}"


def row_id(row: Base) -> int:
    """The primary key of an entity row."""
    value: int = cast(Any, row).id
    return value


def self_link(base: str, entity_type: EntityType, entity_id: int) -> str:
    return f"{base}/{entity_type.set_name}({entity_id})"


def observation_result(row: m.Observation, observation_type: str | None) -> Any:
    """The result as sent: a number (an integer for count observations) or the JSON value."""
    if row.result_number is not None:
        if observation_type == m.ObservationType.COUNT and float(row.result_number).is_integer():
            return int(row.result_number)
        return row.result_number
    return row.result_json


def prop_value(row: Base, prop: Prop, *, observation_type: str | None = None) -> Any:
    """The wire value of ``prop`` on ``row`` (None when unset)."""
    if prop.kind is Kind.ID:
        return row_id(row)
    if prop.kind is Kind.TIME:
        return format_time(getattr(row, prop.column))
    if prop.kind is Kind.PERIOD:
        assert prop.end_column is not None
        return format_period(getattr(row, prop.column), getattr(row, prop.end_column))
    if prop.kind is Kind.RESULT:
        assert isinstance(row, m.Observation)
        return observation_result(row, observation_type)
    return getattr(row, prop.column)


def observation_types(db_session: Session, rows: Iterable[Base]) -> dict[int, str]:
    """The observationType of the Datastream of each Observation in ``rows`` (by stream id)."""
    stream_ids = {
        row.datastream_id
        for row in rows
        if isinstance(row, m.Observation) and row.datastream_id is not None
    }
    if not stream_ids:
        return {}
    found = db_session.execute(
        select(m.Datastream.id, m.Datastream.observation_type).where(
            m.Datastream.id.in_(stream_ids)
        )
    )
    return {row[0]: row[1] for row in found}


@dataclass(slots=True)
class _Budget:
    """How many more entities the response may carry."""

    left: int
    total: int

    def take(self, amount: int, what: str) -> None:
        if amount > self.left:
            raise InvalidInput(
                f"$expand: the response would carry more than {self.total} entities "
                f"(at {what}); lower $top in the $expand, e.g. {what}($top=10), or the "
                "page's $top."
            )
        self.left -= amount


@dataclass(frozen=True, slots=True)
class _Context:
    db_session: Session
    base: str
    public: bool  # hide what anonymous readers may not see (in expansions)
    default_top: int
    max_top: int
    budget: _Budget


def entity_json(
    db_session: Session,
    entity_type: EntityType,
    rows: Sequence[Base] | Sequence[int],
    *,
    base: str,
    options: QueryOptions | None = None,
    public: bool = False,
    default_top: int = 100,
    max_top: int = 1000,
) -> list[dict[str, Any]]:
    """The SensorThings JSON of ``rows`` (model instances or ids, in that order).

    ``base`` is the service root URL (``https://host/sta/v1.1``); links are absolute.
    ``options`` gives ``$select`` and ``$expand`` (its filter/order/paging apply to nested
    expansions only: the caller chose ``rows``). ``public`` hides restricted entities from
    expansions, as for an anonymous reader. Ids that do not exist are left out.
    """
    loaded = _rows(db_session, entity_type, rows)
    total = BUDGET_FACTOR * max_top
    budget = _Budget(max(total - len(loaded), 0), total)
    context = _Context(db_session, base.rstrip("/"), public, default_top, max_top, budget)
    by_id = _render(context, entity_type, loaded, options)
    return [by_id[row_id(row)] for row in loaded]


def _rows(
    db_session: Session, entity_type: EntityType, rows: Sequence[Base] | Sequence[int]
) -> list[Base]:
    if not rows or not isinstance(rows[0], int):
        return list(rows)  # type: ignore[arg-type]
    ids = [int(value) for value in rows]  # type: ignore[arg-type]
    model: Any = entity_type.model
    found = {row.id: row for row in db_session.scalars(select(model).where(model.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def _wanted(options: QueryOptions | None, name: str) -> bool:
    return options is None or options.select is None or name in options.select


def _render(
    context: _Context,
    entity_type: EntityType,
    rows: Sequence[Base],
    options: QueryOptions | None,
) -> dict[int, dict[str, Any]]:
    """JSON per row id, expansions included."""
    types = observation_types(context.db_session, rows) if entity_type.name == "Observation" else {}
    select_all = options is None or options.select is None
    chosen = set(options.select or ()) if options is not None else set()
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        entity_id = row_id(row)
        body: dict[str, Any] = {}
        if select_all or chosen & SELF_NAMES:
            body["@iot.selfLink"] = self_link(context.base, entity_type, entity_id)
        if select_all or chosen & ID_NAMES:
            body["@iot.id"] = entity_id
        for name, prop in entity_type.props.items():
            if prop.kind is Kind.ID or not (select_all or name in chosen):
                continue
            stream = getattr(row, "datastream_id", None)
            value = prop_value(row, prop, observation_type=types.get(stream) if stream else None)
            if value is not None or prop.kind is Kind.RESULT:
                body[name] = value
        expanded = {item.nav for item in options.expand} if options is not None else set()
        for name, nav in entity_type.navs.items():
            if name in expanded or not (select_all or name in chosen):
                continue
            if nav.link is Link.HERE and getattr(row, nav.column) is None:
                continue  # nothing there: a link would answer 404
            body[f"{name}@iot.navigationLink"] = (
                f"{self_link(context.base, entity_type, entity_id)}/{name}"
            )
        out[entity_id] = body
    if options is not None:
        for item in options.expand:
            _expand_into(context, entity_type, rows, item, out)
    return out


def _nav_of(entity_type: EntityType, name: str) -> Nav:
    nav = entity_type.nav(name)
    if nav is None:
        choices = ", ".join(entity_type.navs)
        raise InvalidInput(
            f"$expand: '{name}' is not a navigation property of {entity_type.name} "
            f"(choose from {choices})."
        )
    return nav


def _where(
    context: _Context, target: EntityType, options: QueryOptions
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if context.public:
        visible = access.visible_clause(target, None)
        if visible is not None:
            clauses.append(visible)
    if options.filter is not None:
        clauses.append(
            filter_clause(context.db_session, options.filter, target, public=context.public)
        )
    return clauses


def _expand_into(
    context: _Context,
    entity_type: EntityType,
    rows: Sequence[Base],
    item: Expand,
    out: dict[int, dict[str, Any]],
) -> None:
    nav = _nav_of(entity_type, item.nav)
    target = entity(nav.target)
    if not rows:
        return
    if nav.many:
        _expand_many(context, entity_type, rows, nav, target, item.options, out)
    else:
        _expand_one(context, rows, nav, target, item.options, out)


def _expand_one(
    context: _Context,
    rows: Sequence[Base],
    nav: Nav,
    target: EntityType,
    options: QueryOptions,
    out: dict[int, dict[str, Any]],
) -> None:
    links = {row_id(row): getattr(row, nav.column) for row in rows}
    wanted = {value for value in links.values() if value is not None}
    model: Any = target.model
    found: list[Base] = []
    if wanted:
        statement = select(model).where(model.id.in_(wanted), *_where(context, target, options))
        found = list(context.db_session.scalars(statement))
    present = {row_id(row) for row in found}
    context.budget.take(sum(1 for child in links.values() if child in present), nav.name)
    rendered = _render(context, target, found, options)
    for parent_id, child_id in links.items():
        child = rendered.get(child_id) if child_id is not None else None
        if child is not None:
            out[parent_id][nav.name] = child


def _parent_key(nav: Nav, model: Any) -> tuple[ColumnElement[Any], Any]:
    """The column holding the parent's id, and the join (if any) that brings it in."""
    if nav.link is Link.THERE:
        return getattr(model, nav.column), None
    assert nav.link is Link.TABLE
    assert nav.table is not None
    return nav.table.c[nav.source_col], nav.table


def _expand_many(
    context: _Context,
    entity_type: EntityType,
    rows: Sequence[Base],
    nav: Nav,
    target: EntityType,
    options: QueryOptions,
    out: dict[int, dict[str, Any]],
) -> None:
    model: Any = target.model
    parent_ids = [row_id(row) for row in rows]
    key, table = _parent_key(nav, model)
    filters = _where(context, target, options)
    top = min(options.top if options.top is not None else context.default_top, context.max_top)
    skip = options.skip
    if context.db_session.get_bind().dialect.name == "postgresql":
        statement = _per_parent_lateral(context, nav, target, options, parent_ids, filters)
    else:
        statement = _per_parent_window(context, nav, target, options, parent_ids, filters)
    # Never read more than the budget allows (+ one "more" marker per parent).
    cap = context.budget.left + len(parent_ids) + 1
    children: dict[int, list[Base]] = {parent: [] for parent in parent_ids}
    more: set[int] = set()
    unique: dict[int, Base] = {}
    fetched = 0
    for child, parent, number in context.db_session.execute(statement.limit(cap)):
        fetched += 1
        if number > skip + top:
            more.add(parent)
            continue
        children[parent].append(child)
        unique.setdefault(child.id, child)
    delivered = sum(len(found) for found in children.values())
    context.budget.take(delivered if fetched < cap else context.budget.left + 1, nav.name)
    rendered = _render(context, target, list(unique.values()), options)
    where = [key.in_(parent_ids), *filters]
    counts = _counts(context, key, table, nav, model, where) if options.count else {}
    plain = options.filter is None and not options.orderby and options.select is None
    plain = plain and not options.expand
    for parent in parent_ids:
        body = out[parent]
        if options.count:
            body[f"{nav.name}@iot.count"] = counts.get(parent, 0)
        body[nav.name] = [rendered[row_id(child)] for child in children[parent]]
        if parent in more and plain and options.top is None and top > 0:  # cut short here
            link = f"{self_link(context.base, entity_type, parent)}/{nav.name}"
            body[f"{nav.name}@iot.nextLink"] = f"{link}?$skip={skip + top}"


def _page_bounds(context: _Context, options: QueryOptions) -> tuple[int, int]:
    top = min(options.top if options.top is not None else context.default_top, context.max_top)
    return options.skip, top


def _per_parent_window(
    context: _Context,
    nav: Nav,
    target: EntityType,
    options: QueryOptions,
    parent_ids: list[int],
    filters: list[ColumnElement[bool]],
) -> Select[Any]:
    """Children of all parents, numbered per parent by a window function (portable)."""
    model: Any = target.model
    key, table = _parent_key(nav, model)
    skip, top = _page_bounds(context, options)
    numbered: Select[Any] = select(
        model,
        key.label("sta_parent"),
        func.row_number()
        .over(partition_by=key, order_by=_orders(context, target, nav, options))
        .label("sta_rn"),
    )
    if table is not None:
        numbered = numbered.join(table, table.c[nav.target_col] == model.id)
    inner = numbered.where(key.in_(parent_ids), *filters).subquery()
    alias: Any = aliased(model, inner)
    return (
        select(alias, inner.c.sta_parent, inner.c.sta_rn)
        .where(inner.c.sta_rn > skip, inner.c.sta_rn <= skip + top + 1)
        .order_by(inner.c.sta_parent, inner.c.sta_rn)
    )


def _per_parent_lateral(
    context: _Context,
    nav: Nav,
    target: EntityType,
    options: QueryOptions,
    parent_ids: list[int],
    filters: list[ColumnElement[bool]],
) -> Select[Any]:
    """Children of all parents: for each parent id a LATERAL subquery with its own
    ORDER BY … OFFSET … LIMIT, so only the rows shown (plus one) are read per parent."""
    model: Any = target.model
    key, table = _parent_key(nav, model)
    skip, top = _page_bounds(context, options)
    parents = sa.values(sa.column("sta_parent", sa.Integer), name="sta_parents").data(
        [(parent,) for parent in parent_ids]
    )
    order = _orders(context, target, nav, options)
    children: Select[Any] = select(
        model, func.row_number().over(order_by=order).label("sta_rn")
    ).where(key == parents.c.sta_parent, *filters)
    if table is not None:
        children = children.join(table, table.c[nav.target_col] == model.id)
    per_parent = children.order_by(*order).offset(skip).limit(top + 1).lateral("sta_children")
    alias: Any = aliased(model, per_parent)
    return (
        select(alias, parents.c.sta_parent, per_parent.c.sta_rn)
        .select_from(parents)
        .join(per_parent, sa.true())
        .order_by(parents.c.sta_parent, per_parent.c.sta_rn)
    )


def _orders(
    context: _Context, target: EntityType, nav: Nav, options: QueryOptions
) -> list[ColumnElement[Any]]:
    model: Any = target.model
    order = order_clauses(target, options.orderby, public=context.public) if options.orderby else []
    if not order and nav.order_col and nav.table is not None:
        order.append(nav.table.c[nav.order_col])
    order.append(model.id)
    return order


def _counts(
    context: _Context,
    key: ColumnElement[Any],
    table: Any,
    nav: Nav,
    model: Any,
    where: list[ColumnElement[bool]],
) -> dict[int, int]:
    statement: Select[Any] = select(key, func.count()).select_from(model)
    if table is not None:
        statement = statement.join(table, table.c[nav.target_col] == model.id)
    statement = statement.where(*where).group_by(key)
    return {row[0]: row[1] for row in context.db_session.execute(statement)}


def data_array_json(
    db_session: Session,
    rows: Sequence[m.Observation],
    *,
    base: str,
    select_names: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """Observations as ``$resultFormat=dataArray``: one block per (Multi)Datastream."""
    names = list(select_names) if select_names else ["id", *OBSERVATION.props]
    names = list(dict.fromkeys("id" if name in ID_NAMES else name for name in names))
    for name in names:
        if name != "id" and name not in OBSERVATION.props:
            raise InvalidInput(f"$select: '{name}' is not a property of Observation.")
    types = observation_types(db_session, rows)
    blocks: dict[tuple[str, int], dict[str, Any]] = {}
    root = base.rstrip("/")
    for row in rows:
        if row.datastream_id is not None:
            nav_name, stream_id = "Datastream", row.datastream_id
        else:
            nav_name, stream_id = "MultiDatastream", int(row.multi_datastream_id or 0)
        block = blocks.get((nav_name, stream_id))
        if block is None:
            link = self_link(root, entity(nav_name), stream_id)
            block = {
                f"{nav_name}@iot.navigationLink": link,
                "components": names,
                "dataArray@iot.count": 0,
                "dataArray": [],
            }
            blocks[(nav_name, stream_id)] = block
        kind = types.get(row.datastream_id) if row.datastream_id else None
        block["dataArray"].append(
            [
                row.id
                if name == "id"
                else prop_value(row, OBSERVATION.props[name], observation_type=kind)
                for name in names
            ]
        )
        block["dataArray@iot.count"] += 1
    return list(blocks.values())
