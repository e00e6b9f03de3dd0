"""Whether a new schema version keeps the stored rows valid.

:func:`breaking_changes` lists, in words a steward understands, every change that could
make a stored row invalid: a removed field, a changed type, a tighter constraint, a new
required field, a new or changed key. An empty list means the rows can be copied into the
new version's table by field name (so reordering fields is not a break, and an integer
field may become a number field).
"""

from __future__ import annotations

from typing import Any

from cityos.datahub.schema_rules import comparable, show
from cityos.datahub.tableschema import Field, FieldType, TableSchema

# (old type, new type) pairs whose stored values stay valid after a copy.
WIDENING = frozenset({(FieldType.INTEGER, FieldType.NUMBER)})
LOWER_BOUNDS = ("min_length", "minimum", "exclusive_minimum")
UPPER_BOUNDS = ("max_length", "maximum", "exclusive_maximum")
NAMES = {
    "min_length": "minLength",
    "max_length": "maxLength",
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusive_minimum": "exclusiveMinimum",
    "exclusive_maximum": "exclusiveMaximum",
}


def breaking_changes(old: TableSchema, new: TableSchema) -> list[str]:
    """Messages for every change from ``old`` to ``new`` that stored rows might not survive."""
    messages: list[str] = []
    added = [f for f in new.fields if not old.has_field(f.name)]
    for before in old.fields:
        if not new.has_field(before.name):
            messages.append(_removed(before, added))
            continue
        messages.extend(_field_changes(before, new.field(before.name)))
    for after in added:
        if after.constraints.required:
            messages.append(
                f"new field {show(after.name)} is required, but the stored rows have no value "
                "for it (make it optional, or start the new version empty)"
            )
    messages.extend(_key_changes(old, new))
    return messages


def _removed(before: Field, added: list[Field]) -> str:
    candidates = [f for f in added if f.type is before.type and f.index == before.index]
    hint = f" (renamed to {show(candidates[0].name)}?)" if candidates else ""
    return f"field {show(before.name)} was removed{hint}; its stored values would be lost"


def _field_changes(before: Field, after: Field) -> list[str]:
    name = show(before.name)
    if before.type is not after.type:
        if (before.type, after.type) in WIDENING:
            return []
        return [f"field {name} changes type from {before.type} to {after.type}"]
    messages: list[str] = []
    if (
        after.type is FieldType.STRING
        and after.format != before.format
        and after.format != "default"
    ):
        messages.append(f"field {name} now has format {after.format}")
    old, new = before.constraints, after.constraints
    if new.required and not old.required:
        messages.append(f"field {name} becomes required")
    if new.unique and not old.unique:
        messages.append(f"field {name} becomes unique")
    for attribute in LOWER_BOUNDS + UPPER_BOUNDS:
        was, now = getattr(old, attribute), getattr(new, attribute)
        if now is None or was == now:
            continue
        label = NAMES[attribute]
        if was is None:
            messages.append(f"field {name} gets {label} {show(now)}")
        elif _tighter(attribute, was, now, after.type):
            messages.append(f"field {name}: {label} tightened from {show(was)} to {show(now)}")
    if new.pattern is not None and new.pattern != old.pattern:
        messages.append(f"field {name} gets the pattern {show(new.pattern)}")
    if new.enum is not None:
        if old.enum is None:
            messages.append(f"field {name} gets an enum of allowed values")
        else:
            dropped = [value for value in old.enum if value not in new.enum]
            if dropped:
                messages.append(f"field {name} no longer allows {show(dropped)}")
    if new.check is not None and new.check != old.check:
        messages.append(f"field {name} gets the {new.check} check")
    return messages


def _tighter(attribute: str, was: Any, now: Any, kind: FieldType) -> bool:
    if attribute in ("min_length", "max_length"):
        kind = FieldType.INTEGER
    try:
        before, after = comparable(was, kind), comparable(now, kind)
        return bool(after > before) if attribute in LOWER_BOUNDS else bool(after < before)
    except (TypeError, ValueError):
        return True  # not comparable: assume the worst


def _key_changes(old: TableSchema, new: TableSchema) -> list[str]:
    messages: list[str] = []
    known = set(old.unique_keys)
    if old.primary_key:
        known.add(old.primary_key)
    known.update((f.name,) for f in old.fields if f.constraints.unique)

    def unique_already(key: tuple[str, ...]) -> bool:
        # a superset of a unique key stays unique
        return any(set(existing) <= set(key) for existing in known)

    if new.primary_key and not unique_already(new.primary_key):
        was = f"({', '.join(old.primary_key)})" if old.primary_key else "none"
        messages.append(
            f"the primary key changes from {was} to ({', '.join(new.primary_key)}); "
            "stored rows may repeat it"
        )
    for key in new.unique_keys:
        if unique_already(key):
            continue
        messages.append(f"new unique key ({', '.join(key)}): stored rows may repeat it")
    for foreign in new.foreign_keys:
        if foreign not in old.foreign_keys:
            target = foreign.resource or "this dataset"
            messages.append(
                f"new foreign key ({', '.join(foreign.fields)}) → {target} "
                f"({', '.join(foreign.reference_fields)}): stored rows may reference nothing"
            )
    return messages
