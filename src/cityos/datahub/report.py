"""A load's validation report: errors grouped by type and field, with counts and examples.

Every load (also a rejected one, also a dry run) ends in a :class:`Report`. Errors are
grouped per (type, field); each group keeps its count and the first
:data:`MAX_EXAMPLES` examples (spreadsheet row number and the cell as it was in the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

MAX_EXAMPLES = 5

# A file that could not be read at all (binary, empty, a repeated column name, a zip
# bomb, a wrong encoding…): the one error of its load's report.
FILE_ERROR = "file"

# Error types, in the order a report lists them.
ERROR_TYPES: tuple[str, ...] = (
    FILE_ERROR,
    "missing-column",
    "extra-column",
    "column-count",
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
    "check",
    "unique",
    "primary-key",
    "foreign-key",
)

# Errors about the file's shape: no row-level choice (quarantine) can rescue them.
HEADER_ERRORS = frozenset({"missing-column", "extra-column", "column-count"})


@dataclass(slots=True)
class ErrorGroup:
    type: str
    field: str | None  # None for errors about a whole row
    message: str
    count: int = 0
    examples: list[dict[str, Any]] = _field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "field": self.field,
            "message": self.message,
            "count": self.count,
            "examples": [dict(example) for example in self.examples],
        }


class ErrorCollector:
    """Counts errors per (type, field) and keeps the first few examples of each."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str | None], ErrorGroup] = {}

    def add(
        self,
        type: str,
        field: str | None,
        *,
        message: str,
        count: int,
        examples: list[dict[str, Any]] = [],  # noqa: B006 - never mutated
    ) -> None:
        if count <= 0:
            return
        key = (type, field)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = ErrorGroup(type=type, field=field, message=message)
        group.count += count
        room = MAX_EXAMPLES - len(group.examples)
        if room > 0:
            group.examples.extend(dict(example) for example in examples[:room])

    @property
    def groups(self) -> list[ErrorGroup]:
        order = {name: index for index, name in enumerate(ERROR_TYPES)}
        return sorted(
            self._groups.values(),
            key=lambda group: (order.get(group.type, len(order)), group.field or ""),
        )

    @property
    def total(self) -> int:
        return sum(group.count for group in self._groups.values())

    def has(self, types: frozenset[str]) -> bool:
        return any(group.type in types for group in self._groups.values())

    def __bool__(self) -> bool:
        return bool(self._groups)


@dataclass(slots=True)
class Report:
    rows: int = 0  # data rows read from the file (ragged ones included)
    valid_rows: int = 0
    invalid_rows: int = 0
    errors: list[ErrorGroup] = _field(default_factory=list)
    warnings: list[str] = _field(default_factory=list)
    format: str = ""
    encoding: str = ""
    columns: list[str] = _field(default_factory=list)
    filename: str = ""
    # field name → % of the stored rows with a value (a load that stored rows); see
    # :mod:`cityos.datahub.ingest`
    completeness: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_count(self) -> int:
        return sum(group.count for group in self.errors)

    @property
    def summary(self) -> str:
        """One line: what was read and what was wrong."""
        unread = next((group for group in self.errors if group.type == FILE_ERROR), None)
        if unread is not None:
            return f"The file was refused: {unread.message}"
        rows = f"{self.rows:,} row{'s' if self.rows != 1 else ''}"
        if self.ok:
            return f"{rows} read, all valid."
        worst = sorted(self.errors, key=lambda group: -group.count)[:3]
        parts = [
            f"{group.count:,} {group.type}" + (f" in {group.field!r}" if group.field else "")
            for group in worst
        ]
        more = len(self.errors) - len(worst)
        tail = f" and {more} more kind{'s' if more != 1 else ''}" if more > 0 else ""
        return (
            f"{rows} read, {self.valid_rows:,} valid, {self.invalid_rows:,} invalid: "
            f"{', '.join(parts)}{tail}."
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": self.summary,
            "ok": self.ok,
            "rows": self.rows,
            "valid_rows": self.valid_rows,
            "invalid_rows": self.invalid_rows,
            "error_count": self.error_count,
            "errors": [group.to_dict() for group in self.errors],
            "warnings": list(self.warnings),
            "format": self.format,
            "encoding": self.encoding,
            "columns": list(self.columns),
            "filename": self.filename,
        }
        if self.completeness is not None:
            out["completeness"] = dict(self.completeness)
        return out
