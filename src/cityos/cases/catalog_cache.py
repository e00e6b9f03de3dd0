"""An in-memory snapshot of the catalog and routing rules, for the hot intake path.

Opening a case needs its category (attributes, SLA targets, default department) and the
routing rules. Loading them through the ORM for every report costs more than writing the
case, so each process keeps a snapshot keyed on a revision token that every change to
categories, attributes, groups or rules replaces (a ``before_flush`` hook, in the same
transaction as the change). A process never routes with a stale catalog: it reads the token
(one primary-key lookup) and rebuilds when it changed — also when another process wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cityos import instance
from cityos.auth import service as auth_service
from cityos.cases.models import Category, CategoryAttribute, CategoryGroup, RoutingRule

REVISION_KEY = "cases.catalog_revision"
_WATCHED = (Category, CategoryAttribute, CategoryGroup, RoutingRule)


@dataclass(frozen=True, slots=True)
class AttributeInfo:
    code: str
    datatype: str
    required: bool
    description_en: str
    values: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """What intake needs of a category, detached from any session."""

    id: int
    service_code: str
    name_zh: str
    name_en: str
    is_active: bool
    default_department_id: int | None
    default_priority: str
    sla: dict[str, dict[str, float]]
    duplicate_radius_m: float
    photo_required: bool
    attributes: tuple[AttributeInfo, ...]


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    token: str | None
    by_code: dict[str, CategoryInfo]
    rules: dict[tuple[int, int], tuple[int, int]]  # (category, area) → (rule id, department)
    department_codes: dict[int, str]


def _info(category: Category) -> CategoryInfo:
    return CategoryInfo(
        id=category.id,
        service_code=category.service_code,
        name_zh=category.name_zh,
        name_en=category.name_en,
        is_active=category.is_active,
        default_department_id=category.default_department_id,
        default_priority=category.default_priority,
        sla={key: dict(value) for key, value in category.sla.items()},
        duplicate_radius_m=category.duplicate_radius_m,
        photo_required=category.photo_required,
        attributes=tuple(
            AttributeInfo(
                code=attribute.code,
                datatype=attribute.datatype,
                required=attribute.required,
                description_en=attribute.description_en,
                values=tuple(dict(value) for value in attribute.values),
            )
            for attribute in category.attributes
        ),
    )


def _build(db_session: Session, token: str | None) -> CatalogSnapshot:
    categories = db_session.scalars(select(Category)).unique().all()
    return CatalogSnapshot(
        token=token,
        by_code={category.service_code: _info(category) for category in categories},
        rules={
            (rule.category_id, rule.area_id): (rule.id, rule.department_id)
            for rule in db_session.scalars(select(RoutingRule)).all()
        },
        department_codes={d.id: d.code for d in auth_service.list_departments(db_session)},
    )


_lock = threading.Lock()
_cached: CatalogSnapshot | None = None


def snapshot(db_session: Session) -> CatalogSnapshot:
    """The catalog as this session sees it (cached per revision token)."""
    global _cached
    token = instance.read_token(db_session, REVISION_KEY)
    cached = _cached
    if token is not None and cached is not None and cached.token == token:
        return cached
    built = _build(db_session, token)
    if token is not None and not db_session.new and not db_session.dirty:
        with _lock:
            _cached = built
    return built


def _touches_catalog(objects: Iterable[Any]) -> bool:
    return any(isinstance(item, _WATCHED) for item in objects)


@event.listens_for(Session, "before_flush")
def _bump_on_catalog_change(session: Session, _context: Any, _instances: Any) -> None:
    if (
        _touches_catalog(session.new)
        or _touches_catalog(session.dirty)
        or _touches_catalog(session.deleted)
    ):
        instance.bump_token(session, REVISION_KEY)
