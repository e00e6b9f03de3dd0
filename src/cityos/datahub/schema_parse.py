"""Reading a Table Schema descriptor into a resolved :class:`TableSchema`.

:func:`parse_schema` checks everything at once and raises one
:class:`~cityos.errors.Unprocessable` listing every problem with its place
(``fields[2].constraints.maximum``), so a steward fixes a schema in one round.

A field may reference a data element (``"element": "uscc"``): it inherits the element's
type, format, constraints, sensitivity and mask, and may only narrow the constraints.
Primary-key fields are required. Patterns use full-match semantics (as frictionless does)
and must compile both in Python and in polars (no look-around, no back-references).

The rules for formats and constraints live in :mod:`cityos.datahub.schema_rules`, shared
with the data-element service.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cityos.datahub.models import DataElement, Sensitivity
from cityos.datahub.schema_rules import (
    KEY_REFUSED_TYPES,
    MASKS,
    TEMPORAL_TYPES,
    UNKEYED_TYPES,
    Problems,
    check_format,
    listing,
    narrow,
    parse_constraints,
    show,
)
from cityos.datahub.tableschema import Field, FieldType, ForeignKey, TableSchema

MAX_FIELDS = 500
MAX_NAME_LENGTH = 100
MAX_MISSING_VALUES = 50

FIELD_KEYS = frozenset(
    {"name", "type", "format", "constraints", "title", "description", "example", "rdfType"}
)
EXTENSION_KEYS = frozenset({"element", "sensitive", "mask", "filterable"})
SCHEMA_KEYS = frozenset(
    {"fields", "primaryKey", "uniqueKeys", "foreignKeys", "missingValues", "indexes"}
    | {"$schema", "title", "description"}
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- fields -------------------------------------------------------------------------------


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        return f"did you mean {listing(close)}?"
    return f"known elements: {listing(sorted(known)[:20])}{'…' if len(known) > 20 else ''}"


def _check_name(raw: Any, *, where: str, problems: Problems) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        problems.add(where, f"every field needs a non-empty name (got {show(raw)})")
        return None
    if len(raw) > MAX_NAME_LENGTH:
        problems.add(where, f"is {len(raw)} characters long; at most {MAX_NAME_LENGTH} allowed")
        return None
    if _CONTROL.search(raw):
        problems.add(where, f"{show(raw)} contains control characters")
        return None
    if raw.startswith("__"):
        problems.add(where, f"{show(raw)}: names starting with '__' are reserved")
        return None
    return raw


def _element_type(element: DataElement, *, where: str, problems: Problems) -> FieldType | None:
    try:
        return FieldType(element.type)
    except ValueError:
        problems.add(where, f"the data element {element.code} has an unknown type {element.type}")
        return None


def _parse_field(
    raw: Any, index: int, *, elements: Mapping[str, DataElement], problems: Problems
) -> Field | None:
    where = f"fields[{index}]"
    if not isinstance(raw, Mapping):
        problems.add(where, f"must be an object with a name and a type (got {show(raw)})")
        return None
    for key in raw:
        if key not in FIELD_KEYS and key not in EXTENSION_KEYS:
            allowed = sorted(FIELD_KEYS | EXTENSION_KEYS)
            problems.add(f"{where}.{key}", f"unknown key; a field accepts {listing(allowed)}")
    before = len(problems)
    name = _check_name(raw.get("name"), where=f"{where}.name", problems=problems)

    element: DataElement | None = None
    element_type: FieldType | None = None
    code = raw.get("element")
    if code is not None:
        if not isinstance(code, str) or code not in elements:
            problems.add(
                f"{where}.element",
                f"no data element {show(code)}; {_suggest(str(code), list(elements))}",
            )
        else:
            element = elements[code]
            element_type = _element_type(element, where=f"{where}.element", problems=problems)

    kind = _field_type(raw.get("type"), element, element_type, where=where, problems=problems)
    fmt = check_format(kind, raw.get("format"), where=f"{where}.format", problems=problems)
    constraints_where = f"{where}.constraints"
    own, present = parse_constraints(
        raw.get("constraints"), kind=kind, where=constraints_where, problems=problems
    )
    sensitive = _flag(raw, "sensitive", where=where, problems=problems)
    filterable = _flag(raw, "filterable", where=where, problems=problems)
    mask = raw.get("mask")
    if mask is not None and mask not in MASKS:
        problems.add(
            f"{where}.mask",
            f'must be "partial" (show a masked value) or left out (remove the value); '
            f"got {show(mask)}",
        )
        mask = None
    constraints = own
    if element is not None and element_type is not None:
        element_fmt = element.format or "default"
        if fmt != element_fmt and (element_fmt != "default" or kind not in TEMPORAL_TYPES):
            if "format" in raw:
                problems.add(
                    f"{where}.format",
                    f"the data element {element.code} has format {show(element_fmt)}; "
                    "leave format out",
                )
            fmt = element_fmt
        base, _ = parse_constraints(
            element.constraints,
            kind=element_type,
            where=f"{where}.element({element.code}).constraints",
            problems=problems,
        )
        constraints = narrow(
            base,
            own,
            present,
            kind=kind,
            element=element.code,
            where=constraints_where,
            problems=problems,
        )
        if element.sensitivity == Sensitivity.SENSITIVE.value:
            if raw.get("sensitive") is False:
                problems.add(
                    f"{where}.sensitive",
                    f"the data element {element.code} is sensitive; a field can't make it public",
                )
            sensitive = True
            if "mask" not in raw:
                mask = element.mask
    if mask is not None and not sensitive:
        problems.add(f"{where}.mask", 'a mask applies to sensitive fields; add "sensitive": true')
    if filterable and kind in UNKEYED_TYPES:
        problems.add(f"{where}.filterable", f"a {kind} field can't be filterable")
    for key in ("title", "description", "rdfType"):
        if key in raw and not isinstance(raw[key], str):
            problems.add(f"{where}.{key}", f"must be a string (got {show(raw[key])})")
    if len(problems) > before or name is None:
        return None
    return Field(
        name=name,
        type=kind,
        index=index,
        format=fmt,
        title=str(raw.get("title") or ""),
        description=str(raw.get("description") or ""),
        constraints=constraints,
        element=element.code if element is not None else None,
        sensitive=sensitive,
        mask=mask if sensitive else None,
        filterable=filterable,
    )


def _field_type(
    raw: Any,
    element: DataElement | None,
    element_type: FieldType | None,
    *,
    where: str,
    problems: Problems,
) -> FieldType:
    if raw is None:
        return element_type or FieldType.STRING
    try:
        kind = FieldType(raw)
    except ValueError:
        problems.add(
            f"{where}.type",
            f"unknown type {show(raw)}; use one of {listing([str(t) for t in FieldType])}",
        )
        return element_type or FieldType.STRING
    if element is not None and element_type is not None and kind is not element_type:
        problems.add(
            f"{where}.type",
            f"the data element {element.code} is of type {element_type}; "
            f'leave type out or use "{element_type}"',
        )
        return element_type
    return kind


def _flag(raw: Mapping[str, Any], key: str, *, where: str, problems: Problems) -> bool:
    value = raw.get(key, False)
    if isinstance(value, bool):
        return value
    problems.add(f"{where}.{key}", f"must be true or false (got {show(value)})")
    return False


# --- keys ---------------------------------------------------------------------------------


def _key_names(
    raw: Any,
    *,
    fields: Mapping[str, Field],
    where: str,
    problems: Problems,
    allow_string: bool,
    declared: frozenset[str] = frozenset(),
) -> tuple[str, ...] | None:
    """Field names of a key; ``declared`` names fields whose own problems are reported."""
    if allow_string and isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        form = "a field name or a list of field names" if allow_string else "a list of field names"
        problems.add(where, f"must be {form} (got {show(raw)})")
        return None
    names: list[str] = []
    ok = True
    for position, name in enumerate(raw):
        place = f"{where}[{position}]"
        if name in names:
            problems.add(place, f"{show(name)} is listed twice")
            ok = False
        elif name not in fields and name in declared:
            ok = False
        elif name not in fields:
            close = [f for f in fields if f.casefold() == name.casefold()]
            close = close or difflib.get_close_matches(name, list(fields), n=1)
            hint = f"; did you mean {show(close[0])}?" if close else ""
            problems.add(place, f"no field named {show(name)} in this schema{hint}")
            ok = False
        elif fields[name].type in KEY_REFUSED_TYPES:
            problems.add(place, f"{show(name)} is a {fields[name].type} field; it can't be a key")
            ok = False
        names.append(name)
    return tuple(names) if ok else None


def _foreign_key(
    raw: Any,
    *,
    fields: Mapping[str, Field],
    declared: frozenset[str],
    other_datasets: Callable[[str], TableSchema | None] | None,
    where: str,
    problems: Problems,
) -> ForeignKey | None:
    if not isinstance(raw, Mapping):
        problems.add(where, f"must be an object with fields and reference (got {show(raw)})")
        return None
    for key in raw:
        if key not in ("fields", "reference"):
            problems.add(f"{where}.{key}", "unknown key; a foreign key has fields and reference")
    own = _key_names(
        raw.get("fields"),
        fields=fields,
        where=f"{where}.fields",
        problems=problems,
        allow_string=True,
        declared=declared,
    )
    reference = raw.get("reference")
    ref_where = f"{where}.reference"
    if not isinstance(reference, Mapping):
        problems.add(
            ref_where, f"must be an object with resource and fields (got {show(reference)})"
        )
        return None
    for key in reference:
        if key not in ("resource", "fields"):
            problems.add(f"{ref_where}.{key}", "unknown key; a reference has resource and fields")
    resource = reference.get("resource", "")
    target: Mapping[str, Field] | None = None
    if not isinstance(resource, str):
        problems.add(
            f"{ref_where}.resource", f'must be a dataset name or "" (got {show(resource)})'
        )
    elif resource == "":
        target = fields
    else:
        schema = other_datasets(resource) if other_datasets is not None else None
        if schema is None:
            problems.add(
                f"{ref_where}.resource",
                f"no dataset named {show(resource)} (with a schema) to reference",
            )
        else:
            target = {f.name: f for f in schema.fields}
    if target is None:
        return None
    theirs = _key_names(
        reference.get("fields"),
        fields=target,
        where=f"{ref_where}.fields",
        problems=problems,
        allow_string=True,
        declared=declared if target is fields else frozenset(),
    )
    if own is None or theirs is None:
        return None
    if len(own) != len(theirs):
        problems.add(
            f"{ref_where}.fields",
            f"names {len(theirs)} fields but the key has {len(own)}; give one per key field",
        )
        return None
    ok = True
    for position, (mine, other) in enumerate(zip(own, theirs, strict=True)):
        if fields[mine].type is not target[other].type:
            problems.add(
                f"{ref_where}.fields[{position}]",
                f"{show(other)} is a {target[other].type} field but {show(mine)} is a "
                f"{fields[mine].type}; the types must match",
            )
            ok = False
    return ForeignKey(fields=own, resource=resource, reference_fields=theirs) if ok else None


# --- the schema ---------------------------------------------------------------------------


def parse_schema(
    descriptor: Mapping[str, Any],
    *,
    elements: Mapping[str, DataElement],
    other_datasets: Callable[[str], TableSchema | None] | None = None,
) -> TableSchema:
    """The resolved schema of ``descriptor``; :class:`Unprocessable` listing every problem.

    ``other_datasets(name)`` gives another dataset's current schema (or None) for foreign
    keys to it; without it, such foreign keys are problems.
    """
    problems = Problems()
    if not isinstance(descriptor, Mapping):
        problems.add("", f"A schema must be an object with a fields list (got {show(descriptor)})")
        problems.raise_if_any()
    for key in descriptor:
        if key not in SCHEMA_KEYS:
            problems.add(str(key), f"unknown key; a schema accepts {listing(sorted(SCHEMA_KEYS))}")
    raw_fields = descriptor.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.add("fields", f"must be a non-empty list of fields (got {show(raw_fields)})")
        raw_fields = []
    elif len(raw_fields) > MAX_FIELDS:
        problems.add("fields", f"has {len(raw_fields)} fields; at most {MAX_FIELDS} allowed")
        raw_fields = []

    fields: dict[str, Field] = {}
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_fields):
        parsed = _parse_field(raw, index, elements=elements, problems=problems)
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if isinstance(name, str) and name in first_index:
            problems.add(
                f"fields[{index}].name",
                f"{show(name)} is already the name of fields[{first_index[name]}]; "
                "names must be unique",
            )
            continue
        if isinstance(name, str):
            first_index[name] = index
        if parsed is not None:
            fields[parsed.name] = parsed
    declared = frozenset(first_index)

    primary_key: tuple[str, ...] = ()
    if descriptor.get("primaryKey") not in (None, [], ""):
        primary_key = (
            _key_names(
                descriptor["primaryKey"],
                fields=fields,
                where="primaryKey",
                problems=problems,
                allow_string=True,
                declared=declared,
            )
            or ()
        )
    unique_keys = _unique_keys(
        descriptor.get("uniqueKeys"), fields=fields, declared=declared, problems=problems
    )
    indexes = _unique_keys(
        descriptor.get("indexes"),
        fields=fields,
        declared=declared,
        problems=problems,
        key="indexes",
    )
    foreign_keys: list[ForeignKey] = []
    raw_foreign = descriptor.get("foreignKeys")
    if raw_foreign is not None:
        if not isinstance(raw_foreign, list):
            problems.add("foreignKeys", f"must be a list of foreign keys (got {show(raw_foreign)})")
        else:
            for position, raw in enumerate(raw_foreign):
                foreign = _foreign_key(
                    raw,
                    fields=fields,
                    declared=declared,
                    other_datasets=other_datasets,
                    where=f"foreignKeys[{position}]",
                    problems=problems,
                )
                if foreign is not None:
                    foreign_keys.append(foreign)
    missing_values = _missing_values(descriptor.get("missingValues"), problems=problems)
    problems.raise_if_any()

    resolved = tuple(
        dataclasses.replace(f, constraints=dataclasses.replace(f.constraints, required=True))
        if f.name in primary_key
        else f
        for f in fields.values()
    )
    return TableSchema(
        fields=resolved,
        primary_key=primary_key,
        unique_keys=unique_keys,
        foreign_keys=tuple(foreign_keys),
        missing_values=missing_values,
        indexes=indexes,
    )


def _unique_keys(
    raw: Any,
    *,
    fields: Mapping[str, Field],
    declared: frozenset[str],
    problems: Problems,
    key: str = "uniqueKeys",
) -> tuple[tuple[str, ...], ...]:
    """Lists of field names: ``uniqueKeys``, or the CityOS extension ``indexes``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(key, f"must be a list of field-name lists (got {show(raw)})")
        return ()
    keys: list[tuple[str, ...]] = []
    for position, item in enumerate(raw):
        names = _key_names(
            item,
            fields=fields,
            where=f"{key}[{position}]",
            problems=problems,
            allow_string=True,
            declared=declared,
        )
        if names is not None:
            keys.append(names)
    return tuple(keys)


def _missing_values(raw: Any, *, problems: Problems) -> tuple[str, ...]:
    if raw is None:
        return ("",)
    if not isinstance(raw, list) or not all(isinstance(value, str) for value in raw):
        problems.add(
            "missingValues", f'must be a list of strings like ["", "NA"] (got {show(raw)})'
        )
        return ("",)
    if len(raw) > MAX_MISSING_VALUES:
        problems.add("missingValues", f"has {len(raw)} values; at most {MAX_MISSING_VALUES}")
        return ("",)
    return tuple(dict.fromkeys(raw))
