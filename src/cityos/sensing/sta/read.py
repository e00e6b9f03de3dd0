"""Reading SensorThings resources: resolve a :class:`~.paths.ResourcePath` to one entity or
to a collection, and fetch a page of a collection with ``$filter``, ``$count``,
``$orderby``, ``$skip`` and ``$top`` applied in that order.

Restricted entities are filtered out for anonymous readers (:mod:`.access`) at every step,
so a hidden Thing answers 404 just like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from cityos.auth.models import User
from cityos.db import Base
from cityos.errors import InvalidInput, NotFound
from cityos.sensing.sta import access
from cityos.sensing.sta.entities import EntityType, Link, Nav
from cityos.sensing.sta.paths import ResourcePath
from cityos.sensing.sta.query_ast import QueryOptions
from cityos.sensing.sta.query_sql import filter_clause, order_clauses
from cityos.sensing.sta.serialize import row_id


@dataclass(frozen=True, slots=True)
class Target:
    """What a path names: one entity (``row``), or a collection (``where`` on the model)."""

    entity: EntityType
    row: Base | None = None
    where: tuple[ColumnElement[bool], ...] = ()
    # The order a navigation keeps by default (MultiDatastream/ObservedProperties).
    default_order: tuple[ColumnElement[Any], ...] = ()


@dataclass(slots=True)
class Page:
    rows: list[Base]
    count: int | None  # with $count=true: every match, before $skip/$top
    more: bool  # more entities follow this page
    top: int  # the page size used
    skip: int


def _link_clause(
    nav: Nav, model: Any, parent: Base
) -> tuple[ColumnElement[bool], tuple[ColumnElement[Any], ...]]:
    parent_id = row_id(parent)
    if nav.link is Link.HERE:
        return model.id == getattr(parent, nav.column), ()
    if nav.link is Link.THERE:
        return getattr(model, nav.column) == parent_id, ()
    assert nav.table is not None
    table = nav.table
    clause = model.id.in_(
        select(table.c[nav.target_col]).where(table.c[nav.source_col] == parent_id)
    )
    order: tuple[ColumnElement[Any], ...] = ()
    if nav.order_col:
        position = (
            select(table.c[nav.order_col])
            .where(table.c[nav.source_col] == parent_id, table.c[nav.target_col] == model.id)
            .scalar_subquery()
        )
        order = (position,)
    return clause, order


def resolve(db_session: Session, path: ResourcePath, user: User | None) -> Target:
    """The entity or collection ``path`` names; 404 names the first step that is missing."""
    parent: Base | None = None
    for index, step in enumerate(path.steps):
        model: Any = step.entity.model
        where: list[ColumnElement[bool]] = []
        order: tuple[ColumnElement[Any], ...] = ()
        visible = access.visible_clause(step.entity, user)
        if visible is not None:
            where.append(visible)
        if step.nav is not None:
            assert parent is not None
            if step.nav.link is Link.HERE and getattr(parent, step.nav.column) is None:
                raise NotFound(f"'{_prefix(path, index)}': there is no such {step.entity.name}.")
            clause, order = _link_clause(step.nav, model, parent)
            where.append(clause)
        if step.id is not None:
            where.append(model.id == step.id)
        last = index == len(path.steps) - 1
        if last and not step.single:
            return Target(step.entity, where=tuple(where), default_order=order)
        row = db_session.scalars(select(model).where(*where).limit(1)).first()
        if row is None:
            raise NotFound(f"'{_prefix(path, index)}': there is no such {step.entity.name}.")
        parent = row
    assert parent is not None
    return Target(path.target, row=parent)


def _prefix(path: ResourcePath, index: int) -> str:
    return "/".join(step.segment for step in path.steps[: index + 1])


@contextmanager
def out_of_range(db_session: Session) -> Iterator[None]:
    """Turn the database refusing a value (a number or time overflowing while the query
    runs, e.g. ``result mul 1e308 mul 1e308``) into a 400; the transaction is rolled back."""
    try:
        yield
    except DataError as error:
        db_session.rollback()
        reason = str(error.orig).splitlines()[0] if error.orig is not None else "out of range"
        raise InvalidInput(
            f"The query computes a value the database cannot hold ({reason}); "
            "use smaller numbers or times in $filter."
        ) from None


def page(
    db_session: Session,
    target: Target,
    options: QueryOptions,
    *,
    default_top: int,
    max_top: int,
    public: bool = False,
) -> Page:
    """One page of the collection ``target`` under ``options``; ``public`` (an anonymous
    reader) hides restricted entities reached through ``$filter``/``$orderby`` paths."""
    entity_type = target.entity
    model: Any = entity_type.model
    where = list(target.where)
    if options.filter is not None:
        where.append(filter_clause(db_session, options.filter, entity_type, public=public))
    count = None
    if options.count:
        count = int(db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    order = order_clauses(entity_type, options.orderby, public=public) if options.orderby else []
    order = [*order, *target.default_order, model.id]
    top = min(options.top if options.top is not None else default_top, max_top)
    statement = select(model).where(*where).order_by(*order).offset(options.skip).limit(top + 1)
    rows = list(db_session.scalars(statement))
    more = len(rows) > top
    return Page(rows[:top], count, more, top, options.skip)


def count_only(
    db_session: Session, target: Target, options: QueryOptions, *, public: bool = False
) -> int:
    """How many entities of the collection match ``$filter`` (for ``…/$count``)."""
    model: Any = target.entity.model
    where = list(target.where)
    if options.filter is not None:
        where.append(filter_clause(db_session, options.filter, target.entity, public=public))
    return int(db_session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
