"""Frictionless Table Schema, as the data hub uses it: fields, keys and constraints.

A :class:`TableSchema` is always *resolved*: a field that references a data element
carries the element's type, constraints and sensitivity already. Each field has a
physical column (or two, for a geopoint) in the dataset's table: ``f<index>`` and
``f<index>_lon`` / ``f<index>_lat``, so field names never reach SQL as identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    LIST = "list"
    DATETIME = "datetime"
    DATE = "date"
    TIME = "time"
    YEAR = "year"
    YEARMONTH = "yearmonth"
    DURATION = "duration"
    GEOPOINT = "geopoint"
    GEOJSON = "geojson"
    ANY = "any"


class Check(StrEnum):
    """CityOS checks beyond Table Schema's constraints, set by data elements."""

    USCC = "uscc"  # 统一社会信用代码: 18 characters with its check character
    ID_CARD_CN = "id_card_cn"  # 居民身份证号码: 18 characters, ISO 7064 MOD 11-2
    AREA_CODE = "area_code"  # a code of an area of the city map


@dataclass(frozen=True, slots=True)
class Constraints:
    required: bool = False
    unique: bool = False
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | str | None = None  # str for date/time types (ISO text)
    maximum: float | str | None = None
    exclusive_minimum: float | str | None = None
    exclusive_maximum: float | str | None = None
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None
    check: Check | None = None

    def to_descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, name in CONSTRAINT_KEYS.items():
            value = getattr(self, name)
            if value is None or value is False:
                continue
            if name == "enum":
                value = list(value)
            elif name == "check":
                value = str(value)
            out[key] = value
        return out


# Table Schema (camelCase) key → Constraints attribute
CONSTRAINT_KEYS: dict[str, str] = {
    "required": "required",
    "unique": "unique",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "pattern": "pattern",
    "enum": "enum",
    "check": "check",
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    index: int  # position in the schema; fixes the physical column name
    format: str = "default"
    title: str = ""
    description: str = ""
    constraints: Constraints = field(default_factory=Constraints)
    element: str | None = None  # the data element's code, when the field references one
    sensitive: bool = False
    mask: str | None = None  # "partial": show a masked value; None: remove the field
    filterable: bool = False  # indexed for the query API

    @property
    def column(self) -> str:
        """The physical column (for a geopoint, the prefix of its two columns)."""
        return f"f{self.index}"

    @property
    def columns(self) -> tuple[str, ...]:
        if self.type is FieldType.GEOPOINT:
            return (f"f{self.index}_lon", f"f{self.index}_lat")
        return (self.column,)

    def to_descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": str(self.type)}
        if self.format != "default":
            out["format"] = self.format
        if self.title:
            out["title"] = self.title
        if self.description:
            out["description"] = self.description
        constraints = self.constraints.to_descriptor()
        if constraints:
            out["constraints"] = constraints
        if self.element:
            out["element"] = self.element
        if self.sensitive:
            out["sensitive"] = True
        if self.mask:
            out["mask"] = self.mask
        if self.filterable:
            out["filterable"] = True
        return out


@dataclass(frozen=True, slots=True)
class ForeignKey:
    fields: tuple[str, ...]
    resource: str  # "" for this dataset, else another dataset's name
    reference_fields: tuple[str, ...]

    def to_descriptor(self) -> dict[str, Any]:
        return {
            "fields": list(self.fields),
            "reference": {"resource": self.resource, "fields": list(self.reference_fields)},
        }


@dataclass(frozen=True, slots=True)
class TableSchema:
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    missing_values: tuple[str, ...] = ("",)
    indexes: tuple[tuple[str, ...], ...] = ()  # CityOS: composite indexes for the query API

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError when there is none."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    def has_field(self, name: str) -> bool:
        return any(candidate.name == name for candidate in self.fields)

    @property
    def names(self) -> list[str]:
        return [candidate.name for candidate in self.fields]

    @property
    def geopoints(self) -> list[Field]:
        return [f for f in self.fields if f.type is FieldType.GEOPOINT]

    @property
    def sensitive_fields(self) -> list[Field]:
        return [f for f in self.fields if f.sensitive]

    def to_descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fields": [f.to_descriptor() for f in self.fields]}
        if self.primary_key:
            out["primaryKey"] = list(self.primary_key)
        if self.unique_keys:
            out["uniqueKeys"] = [list(key) for key in self.unique_keys]
        if self.foreign_keys:
            out["foreignKeys"] = [key.to_descriptor() for key in self.foreign_keys]
        if self.missing_values != ("",):
            out["missingValues"] = list(self.missing_values)
        if self.indexes:
            out["indexes"] = [list(index) for index in self.indexes]
        return out


def from_resolved(descriptor: dict[str, Any]) -> TableSchema:
    """Rebuild a stored, already validated and resolved descriptor (no checks, no lookups).

    Use :func:`cityos.datahub.schema_parse.parse_schema` for anything a user wrote.
    """
    fields: list[Field] = []
    for index, raw in enumerate(descriptor.get("fields", [])):
        given = raw.get("constraints", {})
        values: dict[str, Any] = {}
        for key, name in CONSTRAINT_KEYS.items():
            if key in given:
                value = given[key]
                if name == "enum":
                    value = tuple(value)
                elif name == "check":
                    value = Check(value)
                values[name] = value
        fields.append(
            Field(
                name=raw["name"],
                type=FieldType(raw.get("type", "string")),
                index=index,
                format=raw.get("format", "default"),
                title=raw.get("title", ""),
                description=raw.get("description", ""),
                constraints=Constraints(**values),
                element=raw.get("element"),
                sensitive=bool(raw.get("sensitive", False)),
                mask=raw.get("mask"),
                filterable=bool(raw.get("filterable", False)),
            )
        )
    primary = descriptor.get("primaryKey", [])
    return TableSchema(
        fields=tuple(fields),
        primary_key=(primary,) if isinstance(primary, str) else tuple(primary),
        unique_keys=tuple(tuple(key) for key in descriptor.get("uniqueKeys", [])),
        foreign_keys=tuple(
            ForeignKey(
                fields=tuple(key["fields"]),
                resource=key["reference"].get("resource", ""),
                reference_fields=tuple(key["reference"]["fields"]),
            )
            for key in descriptor.get("foreignKeys", [])
        ),
        missing_values=tuple(descriptor.get("missingValues", [""])),
        indexes=tuple(tuple(index) for index in descriptor.get("indexes", [])),
    )
