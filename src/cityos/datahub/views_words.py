"""Schemas and validation reports in words a steward understands, in the page's language.

Pure functions: they get the page's ``t`` (translate) function and domain objects, and give
text. ``12 cells in column 'mobile' are not valid mobile phone numbers, e.g. row 5:
'1380013'`` instead of ``pattern mobile 12``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cityos.datahub.models import DataElement
from cityos.datahub.tableschema import Constraints, Field, TableSchema

Translate = Callable[..., str]

KNOWN_ERRORS = frozenset(
    {
        "missing-column",
        "extra-column",
        "extra-cell",
        "missing-cell",
        "blank-row",
        "cell-too-large",
        "type-error",
        "required",
        "min-length",
        "max-length",
        "minimum",
        "maximum",
        "pattern",
        "enum",
        "unique",
        "primary-key",
        "foreign-key",
    }
)
KNOWN_CHECKS = frozenset({"uscc", "id_card_cn", "area_code"})
KNOWN_TYPES = frozenset(
    {
        "string",
        "number",
        "integer",
        "boolean",
        "object",
        "array",
        "list",
        "datetime",
        "date",
        "time",
        "year",
        "yearmonth",
        "duration",
        "geopoint",
        "geojson",
        "any",
    }
)
MAX_EXAMPLES_SHOWN = 3
MAX_ENUM_SHOWN = 8


def type_word(t: Translate, type_name: str) -> str:
    """``date (YYYY-MM-DD)`` for ``date``; the code itself for an unknown type."""
    return t(f"datahub.type.{type_name}") if type_name in KNOWN_TYPES else type_name


def _value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _enum(values: tuple[Any, ...]) -> str:
    shown = ", ".join(_value(v) for v in values[:MAX_ENUM_SHOWN])
    return shown + (" …" if len(values) > MAX_ENUM_SHOWN else "")


def constraint_words(
    t: Translate, data_field: Field, schema: TableSchema | None = None
) -> list[str]:
    """The field's constraints (and keys) as short phrases: required, unique, 1–100, …"""
    c: Constraints = data_field.constraints
    words: list[str] = []
    if schema is not None and data_field.name in schema.primary_key:
        words.append(t("datahub.c.primary_key"))
    if c.required:
        words.append(t("datahub.c.required"))
    if c.unique:
        words.append(t("datahub.c.unique"))
    if c.min_length is not None:
        words.append(t("datahub.c.min_length", n=c.min_length))
    if c.max_length is not None:
        words.append(t("datahub.c.max_length", n=c.max_length))
    if c.minimum is not None:
        words.append(t("datahub.c.minimum", v=_value(c.minimum)))
    if c.exclusive_minimum is not None:
        words.append(t("datahub.c.exclusive_minimum", v=_value(c.exclusive_minimum)))
    if c.maximum is not None:
        words.append(t("datahub.c.maximum", v=_value(c.maximum)))
    if c.exclusive_maximum is not None:
        words.append(t("datahub.c.exclusive_maximum", v=_value(c.exclusive_maximum)))
    if c.pattern:
        words.append(t("datahub.c.pattern", pattern=c.pattern))
    if c.enum:
        words.append(t("datahub.c.enum", values=_enum(c.enum)))
    if c.check is not None and str(c.check) in KNOWN_CHECKS:
        words.append(t(f"datahub.c.check.{c.check}"))
    if data_field.format not in ("default", ""):
        words.append(t("datahub.c.format", format=data_field.format))
    if schema is not None:
        for key in schema.foreign_keys:
            if data_field.name in key.fields:
                target = key.resource or t("datahub.c.this_dataset")
                words.append(
                    t("datahub.c.foreign_key", target=f"{target}.{','.join(key.reference_fields)}")
                )
    return words


def _units(t: Translate, count: int) -> dict[str, str]:
    one = count == 1
    return {
        "cells": t("datahub.unit.cell" if one else "datahub.unit.cells"),
        "rows": t("datahub.unit.row" if one else "datahub.unit.rows"),
        "are": t("datahub.unit.is" if one else "datahub.unit.are"),
        "have": t("datahub.unit.has" if one else "datahub.unit.have"),
    }


def _element_name(element: DataElement | None, lang: str) -> str:
    if element is None:
        return ""
    if lang == "zh-CN":
        return element.name_zh or element.name_en
    name = element.name_en or element.name_zh
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def _limit(group_type: str, data_field: Field | None, schema: TableSchema | None) -> str:
    if data_field is None:
        return ""
    c = data_field.constraints
    values: dict[str, Any] = {
        "min-length": c.min_length,
        "max-length": c.max_length,
        "minimum": c.minimum if c.minimum is not None else c.exclusive_minimum,
        "maximum": c.maximum if c.maximum is not None else c.exclusive_maximum,
        "pattern": c.pattern,
        "enum": _enum(c.enum) if c.enum else None,
    }
    if group_type == "foreign-key" and schema is not None:
        for key in schema.foreign_keys:
            if data_field.name in key.fields:
                return f"{key.resource or '·'}.{','.join(key.reference_fields)}"
    value = values.get(group_type)
    return "" if value is None else _value(value)


def example_words(t: Translate, examples: list[Mapping[str, Any]]) -> str:
    """``e.g. row 5: '1380013'; row 9: 'abc'`` (empty without examples)."""
    parts = []
    for example in examples[:MAX_EXAMPLES_SHOWN]:
        value = example.get("value")
        shown = t("datahub.err.empty") if value in (None, "") else repr(str(value))
        if example.get("row") is not None:
            parts.append(t("datahub.err.example", row=example["row"], value=shown))
        else:
            parts.append(shown)
    if not parts:
        return ""
    return t("datahub.err.eg", examples="; ".join(parts))


def error_sentence(
    t: Translate,
    group: Mapping[str, Any],
    *,
    schema: TableSchema | None,
    elements: Mapping[str, DataElement],
    lang: str,
) -> str:
    """One error group of a report (``{"type", "field", "count", "message", "examples"}``)
    as a sentence in the page's language."""
    kind = str(group.get("type", ""))
    field_name = group.get("field") or ""
    count = int(group.get("count") or 0)
    data_field = (
        schema.field(field_name) if schema is not None and schema.has_field(field_name) else None
    )
    values: dict[str, Any] = {
        "count": f"{count:,}",
        "field": field_name,
        "limit": _limit(kind, data_field, schema),
        **_units(t, count),
    }
    if kind == "type-error":
        values["what"] = type_word(t, str(data_field.type)) if data_field else "?"
    if kind == "check" and data_field is not None and data_field.constraints.check is not None:
        check = str(data_field.constraints.check)
        if check in KNOWN_CHECKS:
            return t(f"datahub.err.check.{check}", **values)
    element = elements.get(data_field.element or "") if data_field is not None else None
    if kind == "pattern" and element is not None:
        values["what"] = _element_name(element, lang)
        return t("datahub.err.pattern_element", **values)
    if kind in KNOWN_ERRORS:
        return t(f"datahub.err.{kind}", **values)
    return t("datahub.err.other", type=kind, message=str(group.get("message", "")), **values)


def report_lines(
    t: Translate,
    report: Mapping[str, Any],
    *,
    schema: TableSchema | None,
    elements: Mapping[str, DataElement],
    lang: str,
) -> list[dict[str, Any]]:
    """The report's error groups, each with its sentence and its examples in words."""
    lines = []
    for group in report.get("errors") or []:
        examples = list(group.get("examples") or [])
        lines.append(
            {
                "type": group.get("type"),
                "field": group.get("field"),
                "count": group.get("count", 0),
                "message": group.get("message", ""),
                "sentence": error_sentence(t, group, schema=schema, elements=elements, lang=lang),
                "examples_text": example_words(t, examples),
                "examples": examples,
            }
        )
    return lines
