"""The service catalog as one document: import it (all-or-nothing), export it, read and write
it as YAML or JSON.

``import_document`` checks everything before it writes anything: the document's shape
(:func:`cityos.cases.catalog.parse_document`) and what it refers to (groups, departments,
areas and services of the routing rules). Every problem is listed with its place in the file
(``routing[4].area``), and nothing is written unless there are none. ``export_document``
writes what ``import_document`` reads: export → import → export gives the same document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.auth import service as auth_service
from cityos.cases import catalog, routing
from cityos.cases.catalog import CatalogDocument, CategoryDoc, GroupDoc, RuleDoc
from cityos.errors import InvalidInput, Unprocessable
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)

Problem = dict[str, str]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import changed (unchanged categories and rules are not written again)."""

    groups: int
    categories_created: int
    categories_updated: int
    categories_unchanged: int
    rules_set: int
    rules_unchanged: int
    rules_deleted: int

    def describe(self) -> str:
        text = (
            f"{self.groups} groups; categories: {self.categories_created} new, "
            f"{self.categories_updated} updated, {self.categories_unchanged} unchanged; "
            f"routing rules: {self.rules_set} set, {self.rules_unchanged} unchanged"
        )
        return text + (f", {self.rules_deleted} deleted" if self.rules_deleted else "")

    def to_dict(self) -> dict[str, int]:
        return {
            "groups": self.groups,
            "categories_created": self.categories_created,
            "categories_updated": self.categories_updated,
            "categories_unchanged": self.categories_unchanged,
            "rules_set": self.rules_set,
            "rules_unchanged": self.rules_unchanged,
            "rules_deleted": self.rules_deleted,
        }


# --- checking ----------------------------------------------------------------------------


def _items(data: Any, section: str) -> list[tuple[int, Mapping[str, Any]]]:
    """The mappings of a list section of the raw document, with their index."""
    items = data.get(section) if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        return []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, Mapping)]


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _place(section: str, index: int, item: Mapping[str, Any], field: str = "") -> str:
    """``categories[3] (ROAD-POTHOLE).group``: a place a person can find in the file."""
    name = _text(item, "service_code") or _text(item, "code")
    label = f"{section}[{index}]" + (f" ({name})" if name else "")
    return f"{label}.{field}" if field else label


def _duplicates(
    section: str, field: str, rows: Iterable[tuple[int, Mapping[str, Any]]], what: str
) -> list[Problem]:
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for index, item in rows:
        code = _text(item, field)
        if code is None:
            continue
        if code in first:
            problems.append(
                {
                    "where": _place(section, index, item, field),
                    "message": f"{what} {code!r} appears twice (first at {section}[{first[code]}])",
                }
            )
        else:
            first[code] = index
    return problems


def _reference_problems(db_session: Session, data: Any) -> list[Problem]:
    """Duplicate codes, and groups, departments, services and areas that do not exist."""
    groups = _items(data, "groups")
    categories = _items(data, "categories")
    rules = _items(data, "routing")
    problems = _duplicates("groups", "code", groups, "the group code")
    problems += _duplicates("categories", "service_code", categories, "the service_code")

    group_codes = {g.code for g in catalog.list_groups(db_session)}
    group_codes |= {code for _, item in groups if (code := _text(item, "code"))}
    departments = {d.code for d in auth_service.list_departments(db_session)}
    services = {c.service_code for c in catalog.list_categories(db_session, include_inactive=True)}
    services |= {code for _, item in categories if (code := _text(item, "service_code"))}
    area_codes = {area.code for area in geo_service.list_areas(db_session)} if rules else set()

    def unknown_department(section: str, index: int, item: Mapping[str, Any]) -> None:
        code = _text(item, "department")
        if code is not None and code not in departments:
            problems.append(
                {
                    "where": _place(section, index, item, "department"),
                    "message": f"unknown department code {code!r} (see /admin/departments)",
                }
            )

    for index, item in categories:
        group = _text(item, "group")
        if group is not None and group not in group_codes:
            problems.append(
                {
                    "where": _place("categories", index, item, "group"),
                    "message": f"unknown group {group!r}; known groups: "
                    + (", ".join(sorted(group_codes)) or "none (add them under groups:)"),
                }
            )
        unknown_department("categories", index, item)

    seen_rules: dict[tuple[str, str], int] = {}
    for index, item in rules:
        service_code, area = _text(item, "service_code"), _text(item, "area")
        where = _place("routing", index, item)
        if service_code is not None and service_code not in services:
            problems.append(
                {
                    "where": f"{where}.service_code",
                    "message": f"unknown service_code {service_code!r}: it is neither in this "
                    "file nor in the catalog",
                }
            )
        if area is not None and area not in area_codes:
            problems.append(
                {
                    "where": f"{where}.area",
                    "message": f"unknown area code {area!r} (list them with `cityos areas list`)",
                }
            )
        unknown_department("routing", index, item)
        if service_code is not None and area is not None:
            key = (service_code, area)
            if key in seen_rules:
                problems.append(
                    {
                        "where": where,
                        "message": f"a second rule for {service_code} in {area} "
                        f"(first at routing[{seen_rules[key]}])",
                    }
                )
            else:
                seen_rules[key] = index
    return problems


def check_document(db_session: Session, data: Any) -> CatalogDocument:
    """The parsed document if it can be imported whole; Unprocessable listing every problem
    (``details``: ``[{"where", "message"}]``) otherwise."""
    problems: list[Problem] = []
    document: CatalogDocument | None = None
    try:
        document = catalog.parse_document(data)
    except Unprocessable as error:
        problems += list(error.details or [])
    problems += _reference_problems(db_session, data)
    if problems or document is None:
        first = problems[0] if problems else {"where": "document", "message": "not a catalog"}
        raise Unprocessable(
            f"The catalog has {len(problems)} problem(s); nothing was imported. First: "
            f"{first['where']}: {first['message']}.",
            details=problems,
        )
    return document


# --- import and export -------------------------------------------------------------------


def import_document(
    db_session: Session, data: Any, *, actor: Actor, replace_rules: bool = False
) -> ImportReport:
    """Import a parsed YAML/JSON catalog: groups and categories by code, rules by
    (service, area). All-or-nothing: every problem is found before anything is written.

    ``replace_rules``: also delete the routing rules the document does not list.
    """
    document = check_document(db_session, data)
    departments = catalog.department_codes(db_session)
    current = {
        c.service_code: catalog.category_to_doc(c, departments).model_dump(mode="json")
        for c in catalog.list_categories(db_session, include_inactive=True)
    }
    changed = [
        doc
        for doc in document.categories
        if current.get(doc.service_code) != doc.model_dump(mode="json")
    ]
    counts = catalog.save_categories(
        db_session, groups=document.groups, categories=changed, actor=actor
    )
    existing = {
        (rule.service_code, rule.area_code): rule for rule in routing.list_rules(db_session)
    }
    rules_set = rules_unchanged = 0
    for rule in document.routing:
        before = existing.pop((rule.service_code, rule.area), None)
        if before and (before.department_code, before.note) == (rule.department, rule.note):
            rules_unchanged += 1
            continue
        routing.set_rule(
            db_session,
            service_code=rule.service_code,
            area_code=rule.area,
            department_code=rule.department,
            note=rule.note,
            actor=actor,
        )
        rules_set += 1
    deleted = 0
    if replace_rules:
        for stale in existing.values():
            routing.delete_rule(db_session, rule_id=stale.id, actor=actor)
            deleted += 1
    report = ImportReport(
        groups=counts["groups"],
        categories_created=counts["categories_created"],
        categories_updated=counts["categories_updated"],
        categories_unchanged=len(document.categories) - len(changed),
        rules_set=rules_set,
        rules_unchanged=rules_unchanged,
        rules_deleted=deleted,
    )
    if changed or rules_set or deleted:
        record(
            db_session,
            actor=actor,
            action="cases.catalog.import",
            entity_type="cases_catalog",
            entity_id="catalog",
            summary=report.describe(),
            after=report.to_dict(),
        )
    return report


def export_document(db_session: Session) -> dict[str, Any]:
    """The whole catalog (inactive categories included) as a plain, JSON-ready document."""
    departments = catalog.department_codes(db_session)
    level_rank = {level.value: level.rank for level in AreaLevel}
    rules = sorted(
        routing.list_rules(db_session),
        key=lambda r: (r.service_code, level_rank.get(r.area_level, 99), r.area_code),
    )
    document = CatalogDocument(
        groups=[
            GroupDoc(code=g.code, name_zh=g.name_zh, name_en=g.name_en)
            for g in catalog.list_groups(db_session)
        ],
        categories=[
            catalog.category_to_doc(category, departments)
            for category in catalog.list_categories(db_session, include_inactive=True)
        ],
        routing=[
            RuleDoc(
                service_code=r.service_code,
                area=r.area_code,
                department=r.department_code,
                note=r.note,
            )
            for r in rules
        ],
    )
    return document.model_dump(mode="json")


def save_category(
    db_session: Session, data: Mapping[str, Any], *, actor: Actor, create: bool
) -> CategoryDoc:
    """Create (``create``) or update one category from a form; problems are listed with the
    field they concern (``attributes[1] (size).values``)."""
    problems: list[Problem] = []
    document: CatalogDocument | None = None
    try:
        document = catalog.parse_document({"categories": [dict(data)]})
    except Unprocessable as error:
        problems += [
            {**problem, "where": _strip_prefix(problem["where"])} for problem in error.details
        ]
    problems += [
        {**problem, "where": _strip_prefix(problem["where"])}
        for problem in _reference_problems(db_session, {"categories": [dict(data)]})
    ]
    code = _text(data, "service_code")
    if code is not None:
        exists = code in {
            c.service_code for c in catalog.list_categories(db_session, include_inactive=True)
        }
        if create and exists:
            problems.append(
                {"where": "service_code", "message": f"a service with code {code!r} exists"}
            )
        elif not create and not exists:
            problems.append({"where": "service_code", "message": f"no service has code {code!r}"})
    if problems or document is None:
        first = problems[0] if problems else {"where": "form", "message": "empty"}
        raise Unprocessable(
            f"The category has {len(problems)} problem(s); nothing was saved. First: "
            f"{first['where']}: {first['message']}.",
            details=problems,
        )
    doc = document.categories[0]
    catalog.save_categories(db_session, groups=[], categories=[doc], actor=actor)
    return doc


def save_group(
    db_session: Session, *, code: str, name_zh: str, name_en: str, actor: Actor
) -> GroupDoc:
    """Add a group at the end of the list, or rename the group with this code."""
    try:
        doc = GroupDoc(code=code, name_zh=name_zh, name_en=name_en)
    except ValidationError as error:
        problems = [
            {"where": ".".join(str(part) for part in problem["loc"]), "message": problem["msg"]}
            for problem in error.errors()
        ]
        raise Unprocessable(
            f"The group has {len(problems)} problem(s): "
            + "; ".join(f"{p['where']}: {p['message']}" for p in problems),
            details=problems,
        ) from None
    groups = [
        GroupDoc(code=group.code, name_zh=group.name_zh, name_en=group.name_en)
        for group in catalog.list_groups(db_session)
    ]
    before = next((group for group in groups if group.code == doc.code), None)
    groups = [doc if group.code == doc.code else group for group in groups]
    if before is None:
        groups.append(doc)
    catalog.save_categories(db_session, groups=groups, categories=[], actor=actor)
    record(
        db_session,
        actor=actor,
        action="cases.group.create" if before is None else "cases.group.update",
        entity_type="cases_group",
        entity_id=doc.code,
        summary=f"{doc.code} {doc.name_en}",
        before=before.model_dump() if before else None,
        after=doc.model_dump(),
    )
    return doc


def _strip_prefix(where: str) -> str:
    """``categories[0] (X).attributes[1]`` → ``attributes[1]`` (a form holds one category)."""
    return _FORM_PREFIX.sub("", where) or where


_FORM_PREFIX = re.compile(r"^categories\[0\](?: \([^)]*\))?\.")


# --- files -------------------------------------------------------------------------------


def format_for(name: str) -> str:
    """``yaml`` or ``json`` from a file name's suffix; InvalidInput for anything else."""
    suffix = Path(name).suffix.lower()
    if suffix in YAML_SUFFIXES:
        return "yaml"
    if suffix in JSON_SUFFIXES:
        return "json"
    raise InvalidInput(
        f"Cannot tell the format of {Path(name).name!r}: name the file *.yaml, *.yml or *.json."
    )


def loads(data: bytes | str, *, fmt: str, name: str = "the file") -> Any:
    """Parse YAML (safe_load) or JSON text; InvalidInput naming the line of a syntax error."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"{name} is not UTF-8 text (byte {error.start}): save it as UTF-8."
        ) from None
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"{name} is not valid JSON: {error.msg} at line {error.lineno}, column "
                f"{error.colno}."
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "syntax error"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidInput(f"{name} is not valid YAML: {problem}{where}.") from None


def dumps(data: Any, *, fmt: str) -> str:
    """YAML (block style, Chinese kept readable, keys in document order) or indented JSON."""
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    text: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return text


def load_file(path: Path | str) -> Any:
    """Read a catalog file, choosing YAML or JSON by its suffix."""
    path = Path(path)
    fmt = format_for(path.name)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"Cannot read {path.name}: {error.strerror}.") from None
    return loads(raw, fmt=fmt, name=path.name)


def dump_file(data: Any, path: Path | str) -> None:
    """Write a catalog file, choosing YAML or JSON by its suffix (UTF-8)."""
    path = Path(path)
    text = dumps(data, fmt=format_for(path.name))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"Cannot write {path.name}: {error.strerror}.") from None


__all__ = [
    "ImportReport",
    "check_document",
    "dump_file",
    "dumps",
    "export_document",
    "format_for",
    "import_document",
    "load_file",
    "loads",
    "save_category",
    "save_group",
]
