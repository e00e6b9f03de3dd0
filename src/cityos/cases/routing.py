"""Who owns a case: (category × area) rules, the finest area winning, then the category's
default department, then the triage queue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.auth import service as auth_service
from cityos.cases import catalog_cache
from cityos.cases.catalog import get_category
from cityos.cases.catalog_cache import CategoryInfo
from cityos.cases.models import Category, RoutingRule
from cityos.errors import NotFound
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

TRIAGE_REASON = "triage: no routing rule and no default department for this category"


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """The department (None: triage), the rule that decided (if any) and why, in words."""

    department_id: int | None
    rule_id: int | None
    reason: str


def _rule_reason(rule_id: int, service_code: str, area_code: str, department_code: str) -> str:
    return f"rule #{rule_id}: {service_code} in {area_code} → {department_code}"


def route(
    db_session: Session,
    *,
    category: Category | CategoryInfo,
    location: geo_service.Location,
    catalog: catalog_cache.CatalogSnapshot | None = None,
) -> RoutingDecision:
    """Route one case: the rule of the finest area containing the point wins.

    Reads the rules from the catalog snapshot (no query beyond its revision check; none
    when the caller passes the snapshot it already holds).
    """
    current = catalog or catalog_cache.snapshot(db_session)
    departments = current.department_codes
    for area in location.areas:  # finest first
        found = current.rules.get((category.id, area.id))
        if found is not None:
            rule_id, department_id = found
            return RoutingDecision(
                department_id,
                rule_id,
                _rule_reason(
                    rule_id, category.service_code, area.code, departments.get(department_id, "?")
                ),
            )
    default = category.default_department_id
    if default is not None:
        return RoutingDecision(
            default,
            None,
            f"default department of {category.service_code}: {departments.get(default, '?')}",
        )
    return RoutingDecision(None, None, TRIAGE_REASON)


@dataclass(frozen=True, slots=True)
class BulkRouting:
    """Per case: department id (-1: triage), rule id (-1: none) and the reason."""

    department_ids: npt.NDArray[np.int64]
    rule_ids: npt.NDArray[np.int64]
    reasons: npt.NDArray[np.object_]


def route_many(
    db_session: Session,
    *,
    category_ids: npt.ArrayLike,
    locations: geo_service.BulkLocation,
) -> BulkRouting:
    """Vectorised :func:`route`: rules are matched level by level, finest first."""
    categories = np.asarray(category_ids, dtype=np.int64)
    count = len(categories)
    departments = np.full(count, -1, dtype=np.int64)
    rule_ids = np.full(count, -1, dtype=np.int64)
    reasons = np.full(count, TRIAGE_REASON, dtype=object)
    all_categories = db_session.scalars(select(Category)).unique().all()
    codes = {c.id: c.service_code for c in all_categories}
    department_codes = {d.id: d.code for d in auth_service.list_departments(db_session)}
    rules = db_session.scalars(select(RoutingRule)).all()
    decided = np.zeros(count, dtype=bool)
    if rules:
        keys = np.array([(r.category_id << 32) | r.area_id for r in rules], dtype=np.int64)
        order = np.argsort(keys)
        keys = keys[order]
        rule_table = np.array([r.id for r in rules], dtype=np.int64)[order]
        department_table = np.array([r.department_id for r in rules], dtype=np.int64)[order]
        areas = {a.id: a.code for a in geo_service.list_areas(db_session)}
        rule_by_id = {r.id: r for r in rules}
        reason_table = np.array(
            [
                _rule_reason(
                    rule_id,
                    codes.get(rule_by_id[rule_id].category_id, "?"),
                    areas.get(rule_by_id[rule_id].area_id, "?"),
                    department_codes.get(rule_by_id[rule_id].department_id, "?"),
                )
                for rule_id in rule_table
            ],
            dtype=object,
        )
        for level in reversed(list(AreaLevel)):  # grid first, city last
            area_ids = locations.ids_at(level)
            todo = ~decided & (area_ids >= 0)
            if not todo.any():
                continue
            wanted = (categories[todo] << 32) | area_ids[todo]
            slot = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            hit = keys[slot] == wanted
            rows = np.flatnonzero(todo)[hit]
            departments[rows] = department_table[slot[hit]]
            rule_ids[rows] = rule_table[slot[hit]]
            reasons[rows] = reason_table[slot[hit]]
            decided[rows] = True
    defaults = {
        c.id: c.default_department_id for c in all_categories if c.default_department_id is not None
    }
    for category_id, department_id in defaults.items():
        rows = ~decided & (categories == category_id)
        if rows.any():
            departments[rows] = department_id
            reasons[rows] = (
                f"default department of {codes[category_id]}: {department_codes[department_id]}"
            )
    return BulkRouting(departments, rule_ids, reasons)


# --- managing rules ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleView:
    id: int
    service_code: str
    area_code: str
    area_level: str
    department_code: str
    note: str


def list_rules(db_session: Session, *, service_code: str | None = None) -> list[RuleView]:
    query = select(RoutingRule).order_by(RoutingRule.category_id, RoutingRule.area_id)
    if service_code:
        category = get_category(db_session, service_code=service_code)
        query = query.where(RoutingRule.category_id == category.id)
    codes = {c.id: c.service_code for c in db_session.scalars(select(Category)).all()}
    areas = {a.id: a for a in geo_service.list_areas(db_session)}
    departments = {d.id: d.code for d in auth_service.list_departments(db_session)}
    return [
        RuleView(
            id=rule.id,
            service_code=codes[rule.category_id],
            area_code=areas[rule.area_id].code,
            area_level=areas[rule.area_id].level,
            department_code=departments[rule.department_id],
            note=rule.note,
        )
        for rule in db_session.scalars(query).all()
    ]


def set_rule(
    db_session: Session,
    *,
    service_code: str,
    area_code: str,
    department_code: str,
    note: str = "",
    actor: Actor,
) -> RoutingRule:
    """Create or replace the rule for (category, area)."""
    category = get_category(db_session, service_code=service_code)
    area = geo_service.get_area(db_session, code=area_code)
    department = auth_service.get_department(db_session, code=department_code)
    rule = db_session.scalar(
        select(RoutingRule).where(
            RoutingRule.category_id == category.id, RoutingRule.area_id == area.id
        )
    )
    before = None
    if rule is None:
        rule = RoutingRule(category_id=category.id, area_id=area.id)
        db_session.add(rule)
    else:
        before = {
            "department": auth_service.get_department_by_id(
                db_session, department_id=rule.department_id
            ).code,
            "note": rule.note,
        }
    rule.department_id = department.id
    rule.note = note.strip()[:500]
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="cases.rule.set",
        entity_type="cases_routing_rule",
        entity_id=rule.id,
        summary=f"{service_code} in {area_code} → {department_code}",
        before=before,
        after={
            "service_code": service_code,
            "area": area_code,
            "department": department_code,
            "note": rule.note,
        },
    )
    return rule


def delete_rule(db_session: Session, *, rule_id: int, actor: Actor) -> None:
    rule = db_session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"There is no routing rule #{rule_id}.")
    record(
        db_session,
        actor=actor,
        action="cases.rule.delete",
        entity_type="cases_routing_rule",
        entity_id=rule_id,
        summary=f"rule #{rule_id} deleted",
        before={
            "category_id": rule.category_id,
            "area_id": rule.area_id,
            "department_id": rule.department_id,
        },
    )
    db_session.delete(rule)
    db_session.flush()


@dataclass(frozen=True, slots=True)
class Ownership:
    area_code: str
    department_code: str | None  # None: triage
    rule_id: int | None
    rule_area_code: str | None  # the area whose rule decided (itself or an ancestor)


def ownership(db_session: Session, *, service_code: str, level: AreaLevel) -> list[Ownership]:
    """For each area at ``level``, who would receive a case of this category there."""
    category = get_category(db_session, service_code=service_code)
    areas = {a.id: a for a in geo_service.list_areas(db_session)}
    rules = {
        rule.area_id: rule
        for rule in db_session.scalars(
            select(RoutingRule).where(RoutingRule.category_id == category.id)
        ).all()
    }
    departments = {d.id: d.code for d in auth_service.list_departments(db_session)}
    default = (
        departments.get(category.default_department_id)
        if category.default_department_id is not None
        else None
    )
    owners: list[Ownership] = []
    for area in areas.values():
        if area.level != level.value:
            continue
        cursor: int | None = area.id
        found: RoutingRule | None = None
        while cursor is not None and found is None:
            found = rules.get(cursor)
            cursor = areas[cursor].parent_id if found is None else None
        owners.append(
            Ownership(
                area_code=area.code,
                department_code=departments[found.department_id] if found else default,
                rule_id=found.id if found else None,
                rule_area_code=areas[found.area_id].code if found else None,
            )
        )
    return sorted(owners, key=lambda owner: owner.area_code)
