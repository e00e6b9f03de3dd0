"""The column mapping of a case import: which column of the file holds what, and how the
source's values translate to ours (service codes, statuses, close reasons, departments).

A mapping is a YAML (or JSON) document, checked here with pydantic; every problem is listed
with its place in the file (``statuses.map.Closed``). What the mapping refers to — service
codes, department codes, the file's columns — is checked against the database and the file
by :mod:`cityos.cases.importer` before any row is read. The format is documented in
``docs/cases-import.md``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cityos.cases.models import CaseStatus, CloseReason, Priority
from cityos.errors import Unprocessable

SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$"
DELIMITERS = {"auto": None, ",": ",", "\\t": "\t", "\t": "\t", "tab": "\t", ";": ";", "|": "|"}
ISO_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
ISO_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
MAX_MAPPING_BYTES = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FileOptions(_Strict):
    """How to read the file."""

    delimiter: str = "auto"
    encoding: str = "utf-8"
    sheet: str | None = None  # XLSX: the sheet's name; the first sheet by default

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in DELIMITERS:
            raise ValueError(
                f"unknown delimiter {value!r}; use auto, ',', '\\t' (or tab), ';' or '|'"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; e.g. utf-8, gb18030, latin-1") from None
        return value

    @property
    def separator(self) -> str | None:
        return DELIMITERS[self.delimiter]


class DatetimeOptions(_Strict):
    """How the file writes date-times, and in which time zone (when they carry no offset)."""

    formats: list[str] = Field(default_factory=list)
    timezone: str | None = None  # default: the city's time zone (settings.timezone)

    @field_validator("formats", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        for item in value:
            if "%" not in item:
                raise ValueError(
                    f"{item!r} is not a date-time format; write it with strftime codes, "
                    "e.g. '%Y-%m-%d %H:%M:%S' or '%d/%m/%Y %H:%M'"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            check_timezone(value)
        return value

    def all_formats(self) -> list[str]:
        """The mapping's formats, then ISO 8601 (also what XLSX date cells are turned into)."""
        return [*self.formats, *(f for f in ISO_FORMATS if f not in self.formats)]


def check_pattern(value: str) -> re.Pattern[str]:
    """A regular expression both Python and polars (Rust regex) understand."""
    try:
        compiled = re.compile(value)
        pl.Series([""]).str.contains(value)
    except (re.error, pl.exceptions.PolarsError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"{value!r} is not a regular expression the importer can use (no look-around or "
            f"back-references): {first}"
        ) from None
    return compiled


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai or "
            "America/New_York"
        ) from None


class Columns(_Strict):
    """The file's column for each field (header names, exactly as written in the file)."""

    external_id: str
    opened: str
    category: str
    lat: str
    lon: str
    closed: str | None = None
    acknowledged: str | None = None
    status: str | None = None
    close_reason: str | None = None
    resolution_note: str | None = None
    description: str | None = None
    address: str | None = None
    zipcode: str | None = None
    department: str | None = None
    priority: str | None = None

    def used(self) -> dict[str, str]:
        """field → column, for the fields that are mapped."""
        return {name: column for name, column in self.model_dump().items() if column}


class CategoryMap(_Strict):
    """The source's category values → our service codes."""

    map: dict[str, str] = Field(default_factory=dict)
    passthrough: bool = False  # a value that is one of our service codes is taken as is
    unmapped: Literal["reject", "default"] = "reject"
    default: str | None = None

    @field_validator("map", mode="before")
    @classmethod
    def _keys_text(cls, value: Any) -> Any:
        return _text_keys(value)

    @model_validator(mode="after")
    def _default_given(self) -> CategoryMap:
        if self.unmapped == "default" and not self.default:
            raise ValueError("unmapped: default needs a default service code")
        if not self.map and not self.passthrough and self.unmapped == "reject":
            raise ValueError("give a map (source value → service code), passthrough or a default")
        return self


class StatusMap(_Strict):
    """The source's status values → our statuses."""

    map: dict[str, CaseStatus] = Field(default_factory=dict)
    unmapped: Literal["reject", "default"] = "reject"
    default: CaseStatus | None = None

    @field_validator("map", mode="before")
    @classmethod
    def _keys_text(cls, value: Any) -> Any:
        return _text_keys(value)

    @model_validator(mode="after")
    def _default_given(self) -> StatusMap:
        if self.unmapped == "default" and self.default is None:
            raise ValueError("unmapped: default needs a default status")
        return self


class CloseRule(_Strict):
    """Ended rows whose close-reason text matches ``pattern`` are closed with ``reason``."""

    pattern: str = Field(min_length=1)
    reason: CloseReason | Literal["resolved"]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        check_pattern(value)
        return value


class CloseReasons(_Strict):
    """How an ended row becomes ``resolved`` or ``closed`` with a reason.

    The first rule whose pattern is found in the close-reason column decides (case
    insensitive). Rows whose status maps to ``closed`` and match no rule take ``default``.
    """

    rules: list[CloseRule] = Field(default_factory=list)
    default: CloseReason | None = None


class ValueMap(_Strict):
    map: dict[str, str] = Field(default_factory=dict)

    @field_validator("map", mode="before")
    @classmethod
    def _keys_text(cls, value: Any) -> Any:
        return _text_keys(value)


class PriorityMap(_Strict):
    map: dict[str, Priority] = Field(default_factory=dict)

    @field_validator("map", mode="before")
    @classmethod
    def _keys_text(cls, value: Any) -> Any:
        return _text_keys(value)


class ImportMapping(_Strict):
    """A whole mapping file."""

    version: Literal[1] = 1
    source: str = Field(pattern=SOURCE_PATTERN)
    file: FileOptions = Field(default_factory=FileOptions)
    datetimes: DatetimeOptions = Field(default_factory=DatetimeOptions)
    columns: Columns
    categories: CategoryMap
    statuses: StatusMap = Field(default_factory=StatusMap)
    close_reasons: CloseReasons = Field(default_factory=CloseReasons)
    resolution_note_pattern: str | None = None
    departments: ValueMap = Field(default_factory=ValueMap)
    priorities: PriorityMap = Field(default_factory=PriorityMap)

    @field_validator("resolution_note_pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if check_pattern(value).groups != 1:
            raise ValueError("the pattern needs exactly one group: (…) around the note")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ImportMapping:
        if self.statuses.map and not self.columns.status:
            raise ValueError("statuses.map is given but columns.status is not")
        if self.close_reasons.rules and not self.columns.close_reason:
            raise ValueError("close_reasons.rules are given but columns.close_reason is not")
        if self.departments.map and not self.columns.department:
            raise ValueError("departments.map is given but columns.department is not")
        if self.priorities.map and not self.columns.priority:
            raise ValueError("priorities.map is given but columns.priority is not")
        if self.resolution_note_pattern and not self.columns.resolution_note:
            raise ValueError("resolution_note_pattern is given but columns.resolution_note is not")
        return self

    def service_codes(self) -> set[str]:
        codes = set(self.categories.map.values())
        return codes | ({self.categories.default} if self.categories.default else set())


def _text_keys(value: Any) -> Any:
    """YAML reads ``2: x`` or ``yes: x`` as numbers and booleans; the file's values are text."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, bool):
            text = "true" if key else "false"
        elif key is None:
            text = ""
        else:
            text = str(key)
        out[text] = item
    return out


def parse_mapping(data: Any, *, name: str = "mapping") -> ImportMapping:
    """Validate a parsed mapping; Unprocessable lists every problem with its place."""
    if not isinstance(data, dict):
        raise Unprocessable(
            f"{name} must be a YAML mapping with source, columns and categories at the top "
            f"(see docs/cases-import.md); it holds a {type(data).__name__}."
        )
    try:
        return ImportMapping.model_validate(data)
    except ValidationError as error:
        problems = [
            {"where": _where(problem["loc"]), "message": _message(problem)}
            for problem in error.errors()
        ]
        raise Unprocessable(
            f"The mapping {name} has {len(problems)} problem(s); nothing was imported. First: "
            f"{problems[0]['where']}: {problems[0]['message']}.",
            details=problems,
        ) from None


def _where(location: Sequence[int | str]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif parts:
            parts.append(f".{part}")
        else:
            parts.append(str(part))
    return "".join(parts) or "mapping"


def _message(problem: Any) -> str:
    message = str(problem["msg"])
    if problem["type"] == "missing":
        return "is required"
    if problem["type"] == "extra_forbidden":
        return "is not a mapping setting (check the spelling; see docs/cases-import.md)"
    return message.removeprefix("Value error, ")


def load_mapping(path: Path) -> ImportMapping:
    """Read and check a mapping file (YAML; JSON is YAML too)."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise Unprocessable(f"Cannot read the mapping {path.name}: {error.strerror}.") from None
    if size > MAX_MAPPING_BYTES:
        raise Unprocessable(f"The mapping {path.name} is larger than 1 MB; is it the right file?")
    return loads_mapping(path.read_bytes(), name=path.name)


def loads_mapping(data: bytes | str, *, name: str = "mapping") -> ImportMapping:
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise Unprocessable(f"The mapping {name} is not UTF-8 text.") from None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise Unprocessable(
            f"The mapping {name} is not valid YAML{where}: {problem}. (Quote values that "
            "contain ':' or start with '%' or '*'.)"
        ) from None
    return parse_mapping(parsed, name=name)
