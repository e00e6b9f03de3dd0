"""The service catalog: groups, categories and their Open311 attributes.

The catalog is also a document (YAML or JSON, see ``CatalogDocument``) that can be imported
and exported whole: ``cityos cases catalog import/export FILE``. An import is all-or-nothing:
every problem is listed, and nothing is written unless there are none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.auth import service as auth_service
from cityos.cases.models import (
    AttributeType,
    Category,
    CategoryAttribute,
    CategoryGroup,
    Priority,
)
from cityos.errors import NotFound, Unprocessable

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
LIST_TYPES = (AttributeType.SINGLEVALUELIST, AttributeType.MULTIVALUELIST)


# --- the document ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SlaTarget(_Strict):
    acknowledge_hours: float = Field(gt=0)
    resolve_hours: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> SlaTarget:
        if self.resolve_hours < self.acknowledge_hours:
            raise ValueError("resolve_hours must not be less than acknowledge_hours")
        return self


class ValueDoc(_Strict):
    key: str = Field(min_length=1, max_length=100)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)

    @field_validator("key", mode="before")
    @classmethod
    def _key_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class AttributeDoc(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    datatype: AttributeType
    required: bool = False
    variable: bool = True
    description_zh: str = Field(min_length=1)
    description_en: str = Field(min_length=1)
    datatype_description: str = ""
    values: list[ValueDoc] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_for_lists(self) -> AttributeDoc:
        if self.datatype in LIST_TYPES and not self.values:
            raise ValueError(f"a {self.datatype.value} attribute needs a list of values")
        if self.datatype not in LIST_TYPES and self.values:
            raise ValueError(
                f"only list attributes have values (this one is {self.datatype.value})"
            )
        keys = [value.key for value in self.values]
        if len(keys) != len(set(keys)):
            raise ValueError("the value keys of an attribute must be unique")
        return self


class CategoryDoc(_Strict):
    service_code: str = Field(pattern=CODE_PATTERN)
    group: str = Field(min_length=1)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    description_zh: str = ""
    description_en: str = ""
    keywords: list[str] = Field(default_factory=list)
    department: str | None = None  # the default department's code
    priority: Priority = Priority.NORMAL
    photo_required: bool = False
    duplicate_radius_m: float = Field(50.0, ge=0, le=5000)
    sla: dict[Priority, SlaTarget] = Field(default_factory=dict)
    attributes: list[AttributeDoc] = Field(default_factory=list)
    active: bool = True

    @field_validator("service_code", mode="before")
    @classmethod
    def _code_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _unique_attributes(self) -> CategoryDoc:
        codes = [attribute.code for attribute in self.attributes]
        if len(codes) != len(set(codes)):
            raise ValueError("attribute codes must be unique within a category")
        return self


class GroupDoc(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)


class RuleDoc(_Strict):
    service_code: str
    area: str
    department: str
    note: str = ""


class CatalogDocument(_Strict):
    """The whole catalog as a file: groups, categories and routing rules."""

    version: Literal[1] = 1
    groups: list[GroupDoc] = Field(default_factory=list)
    categories: list[CategoryDoc] = Field(default_factory=list)
    routing: list[RuleDoc] = Field(default_factory=list)


def parse_document(data: Any) -> CatalogDocument:
    """Validate a parsed YAML/JSON catalog; Unprocessable lists every problem with its place."""
    try:
        return CatalogDocument.model_validate(data)
    except ValidationError as error:
        problems = [
            {"where": _where(problem["loc"], data), "message": problem["msg"]}
            for problem in error.errors()
        ]
        raise Unprocessable(
            f"The catalog has {len(problems)} problem(s); nothing was imported. First: "
            f"{problems[0]['where']}: {problems[0]['message']}.",
            details=problems,
        ) from None


def _where(location: Sequence[int | str], data: Any) -> str:
    """``categories[3] (ROAD-POTHOLE).sla.normal`` — a place a person can find in the file."""
    parts: list[str] = []
    node = data
    for part in location:
        if isinstance(part, int):
            label = f"[{part}]"
            try:
                node = node[part]
                name = (
                    node.get("service_code") or node.get("code") if isinstance(node, dict) else None
                )
            except (IndexError, KeyError, TypeError):
                name, node = None, None
            parts.append(f"{label} ({name})" if name else label)
        else:
            parts.append(f".{part}" if parts else str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts) or "document"


# --- reading -----------------------------------------------------------------------------


def list_groups(db_session: Session) -> Sequence[CategoryGroup]:
    return db_session.scalars(
        select(CategoryGroup).order_by(CategoryGroup.position, CategoryGroup.code)
    ).all()


def list_categories(db_session: Session, *, include_inactive: bool = False) -> Sequence[Category]:
    query = select(Category).order_by(Category.service_code)
    if not include_inactive:
        query = query.where(Category.is_active.is_(True))
    return db_session.scalars(query).unique().all()


def get_category(db_session: Session, *, service_code: str) -> Category:
    """The category with this code; NotFound (naming the code) otherwise."""
    category = db_session.scalar(select(Category).where(Category.service_code == service_code))
    if category is None:
        raise NotFound(unknown_service(service_code))
    return category


def unknown_service(service_code: str) -> str:
    return (
        f"There is no service with service_code {service_code!r}. The list of services is "
        "at /open311/v2/services.json."
    )


def search_categories(db_session: Session, *, query: str, limit: int = 10) -> list[Category]:
    """Active categories matching ``query`` in a name or keyword (zh or en), best first."""
    words = query.strip().lower().split()
    if not words:
        return []
    scored: list[tuple[int, str, Category]] = []
    for category in list_categories(db_session):
        names = [category.name_zh.lower(), category.name_en.lower()]
        keywords = [keyword.lower() for keyword in category.keywords]
        descriptions = [category.description_zh.lower(), category.description_en.lower()]
        score = 0
        for word in words:
            if any(name.startswith(word) for name in names):
                score += 8
            elif any(word in name for name in names):
                score += 6
            elif any(keyword.startswith(word) or word in keyword for keyword in keywords):
                score += 4
            elif any(word in text for text in descriptions):
                score += 1
            else:
                score = 0
                break
        if score:
            scored.append((-score, category.service_code, category))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [category for _, _, category in scored[:limit]]


# --- writing -----------------------------------------------------------------------------


def department_codes(db_session: Session) -> dict[int, str]:
    return {d.id: d.code for d in auth_service.list_departments(db_session)}


def category_to_doc(category: Category, departments: dict[int, str]) -> CategoryDoc:
    department_id = category.default_department_id
    department = departments.get(department_id) if department_id is not None else None
    return CategoryDoc(
        service_code=category.service_code,
        group=category.group.code,
        name_zh=category.name_zh,
        name_en=category.name_en,
        description_zh=category.description_zh,
        description_en=category.description_en,
        keywords=list(category.keywords),
        department=department,
        priority=Priority(category.default_priority),
        photo_required=category.photo_required,
        duplicate_radius_m=category.duplicate_radius_m,
        sla={Priority(key): SlaTarget(**value) for key, value in category.sla.items()},
        attributes=[
            AttributeDoc(
                code=attribute.code,
                datatype=AttributeType(attribute.datatype),
                required=attribute.required,
                variable=attribute.variable,
                description_zh=attribute.description_zh,
                description_en=attribute.description_en,
                datatype_description=attribute.datatype_description,
                values=[ValueDoc(**value) for value in attribute.values],
            )
            for attribute in category.attributes
        ],
        active=category.is_active,
    )


def _department_ids(db_session: Session, codes: set[str]) -> tuple[dict[str, int], list[str]]:
    known = {d.code: d.id for d in auth_service.list_departments(db_session)}
    return known, sorted(code for code in codes if code not in known)


def save_categories(
    db_session: Session,
    *,
    groups: Sequence[GroupDoc],
    categories: Sequence[CategoryDoc],
    actor: Actor,
) -> dict[str, int]:
    """Create or update groups and categories (by code). All-or-nothing."""
    existing_groups = {group.code: group for group in list_groups(db_session)}
    group_codes = set(existing_groups) | {group.code for group in groups}
    problems: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in categories:
        if item.service_code in seen:
            problems.append({"where": item.service_code, "message": "service_code appears twice"})
        seen.add(item.service_code)
        if item.group not in group_codes:
            problems.append(
                {
                    "where": item.service_code,
                    "message": f"unknown group {item.group!r}; known: {sorted(group_codes)}",
                }
            )
    wanted = {c.department for c in categories if c.department}
    departments, unknown = _department_ids(db_session, wanted)
    problems += [
        {"where": "department", "message": f"unknown department code {code!r}"} for code in unknown
    ]
    if problems:
        raise Unprocessable(
            f"The catalog has {len(problems)} problem(s); nothing was saved. First: "
            f"{problems[0]['where']}: {problems[0]['message']}.",
            details=problems,
        )
    counts = {"groups": 0, "categories_created": 0, "categories_updated": 0}
    for position, group_doc in enumerate(groups):
        group = existing_groups.get(group_doc.code)
        if group is None:
            group = CategoryGroup(code=group_doc.code)
            db_session.add(group)
            existing_groups[group_doc.code] = group
        group.name_zh, group.name_en = group_doc.name_zh, group_doc.name_en
        group.position = position
        counts["groups"] += 1
    db_session.flush()
    current = {c.service_code: c for c in list_categories(db_session, include_inactive=True)}
    codes = {department_id: code for code, department_id in departments.items()}
    for doc in categories:
        category = current.get(doc.service_code)
        before = category_to_doc(category, codes).model_dump(mode="json") if category else None
        if category is None:
            category = Category(service_code=doc.service_code)
            db_session.add(category)
            counts["categories_created"] += 1
        else:
            counts["categories_updated"] += 1
        _apply(category, doc, existing_groups[doc.group].id, departments)
        db_session.flush()
        record(
            db_session,
            actor=actor,
            action="cases.category.create" if before is None else "cases.category.update",
            entity_type="cases_category",
            entity_id=doc.service_code,
            summary=f"{doc.service_code} {doc.name_en}",
            before=before,
            after=doc.model_dump(mode="json"),
        )
    return counts


def _apply(
    category: Category, doc: CategoryDoc, group_id: int, departments: dict[str, int]
) -> None:
    category.group_id = group_id
    category.name_zh, category.name_en = doc.name_zh, doc.name_en
    category.description_zh, category.description_en = doc.description_zh, doc.description_en
    category.keywords = [keyword for keyword in doc.keywords if keyword]
    category.default_department_id = departments[doc.department] if doc.department else None
    category.default_priority = doc.priority.value
    category.photo_required = doc.photo_required
    category.duplicate_radius_m = doc.duplicate_radius_m
    category.sla = {key.value: target.model_dump() for key, target in doc.sla.items()}
    category.is_active = doc.active
    by_code = {attribute.code: attribute for attribute in category.attributes}
    kept: list[CategoryAttribute] = []
    for position, attribute_doc in enumerate(doc.attributes):
        attribute = by_code.get(attribute_doc.code) or CategoryAttribute(code=attribute_doc.code)
        attribute.datatype = attribute_doc.datatype.value
        attribute.required = attribute_doc.required
        attribute.variable = attribute_doc.variable
        attribute.position = position + 1
        attribute.description_zh = attribute_doc.description_zh
        attribute.description_en = attribute_doc.description_en
        attribute.datatype_description = attribute_doc.datatype_description
        attribute.values = [value.model_dump() for value in attribute_doc.values]
        kept.append(attribute)
    category.attributes = kept


def set_category_active(
    db_session: Session, *, service_code: str, active: bool, actor: Actor
) -> Category:
    category = get_category(db_session, service_code=service_code)
    if category.is_active != active:
        category.is_active = active
        record(
            db_session,
            actor=actor,
            action="cases.category.activate" if active else "cases.category.deactivate",
            entity_type="cases_category",
            entity_id=service_code,
            before={"active": not active},
            after={"active": active},
        )
    return category
