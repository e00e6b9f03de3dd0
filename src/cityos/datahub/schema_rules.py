"""The rules a Table Schema field obeys: formats, constraints, typed values, narrowing.

Shared by :mod:`cityos.datahub.schema_parse` (schemas) and :mod:`cityos.datahub.elements`
(data elements), so both accept and refuse the same things. Problems are collected in a
:class:`Problems` with their place (``fields[2].constraints.maximum``) and raised together.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import polars as pl

from cityos.datahub.tableschema import CONSTRAINT_KEYS, Check, Constraints, FieldType
from cityos.errors import Unprocessable

MASKS = ("partial",)
STRING_FORMATS = ("default", "email", "uri", "uuid")
TEMPORAL_TYPES = frozenset({FieldType.DATE, FieldType.DATETIME, FieldType.TIME})

LENGTH_TYPES = frozenset({FieldType.STRING, FieldType.ARRAY, FieldType.LIST, FieldType.OBJECT})
RANGE_TYPES = frozenset(
    {
        FieldType.INTEGER,
        FieldType.NUMBER,
        FieldType.DATE,
        FieldType.DATETIME,
        FieldType.TIME,
        FieldType.YEAR,
        FieldType.YEARMONTH,
    }
)
ENUM_TYPES = RANGE_TYPES | {FieldType.STRING, FieldType.BOOLEAN, FieldType.DURATION}
# Types stored as JSON text: no keys, no indexes.
UNKEYED_TYPES = frozenset(
    {FieldType.OBJECT, FieldType.ARRAY, FieldType.LIST, FieldType.GEOJSON, FieldType.ANY}
)
KEY_REFUSED_TYPES = UNKEYED_TYPES | {FieldType.GEOPOINT}

_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEARMONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

KIND: dict[FieldType, str] = {
    FieldType.INTEGER: "an integer",
    FieldType.YEAR: "a year like 2024",
    FieldType.NUMBER: "a number",
    FieldType.BOOLEAN: "true or false",
    FieldType.STRING: "a string",
    FieldType.DATE: "a date like 2024-01-31",
    FieldType.DATETIME: "a date and time like 2024-01-31T08:00:00",
    FieldType.TIME: "a time like 08:30:00",
    FieldType.YEARMONTH: "a year and month like 2024-01",
    FieldType.DURATION: "an ISO 8601 duration like P1DT2H",
}


class Problems:
    """Problems found so far, each with its place in the descriptor."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, where: str, message: str) -> None:
        self.items.append({"where": where, "message": message})

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self, subject: str = "schema") -> None:
        if not self.items:
            return
        count = len(self.items)
        first = self.items[0]
        text = f"{first['where']}: {first['message']}" if first["where"] else first["message"]
        plural = "problem" if count == 1 else "problems"
        more = f" (and {count - 1} more, see details)" if count > 1 else ""
        raise Unprocessable(
            f"The {subject} has {count} {plural}: {text}{more}", details=list(self.items)
        )


def show(value: Any) -> str:
    """A value as JSON text, for messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def join_where(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# --- typed values (constraint bounds, enum members) -----------------------------------------


def typed_value(value: Any, kind: FieldType) -> tuple[bool, Any]:
    """``(True, normalised)`` when ``value`` is a valid descriptor value of ``kind``.

    Integers and years stay ints, numbers floats or ints, dates and times ISO text.
    """
    if kind in (FieldType.INTEGER, FieldType.YEAR):
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return False, None
    if kind is FieldType.NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return (True, value) if ok and math.isfinite(value) else (False, None)
    if kind is FieldType.BOOLEAN:
        return (True, value) if isinstance(value, bool) else (False, None)
    if not isinstance(value, str):
        return False, None
    try:
        if kind is FieldType.DATE:
            if not _DATE.match(value):
                return False, None
            return True, date.fromisoformat(value).isoformat()
        if kind is FieldType.DATETIME:
            return True, datetime.fromisoformat(value).isoformat()
        if kind is FieldType.TIME:
            return True, time.fromisoformat(value).isoformat()
    except ValueError:
        return False, None
    if kind is FieldType.YEARMONTH:
        return (True, value) if _YEARMONTH.match(value) else (False, None)
    if kind is FieldType.DURATION:
        return (True, value) if _DURATION.match(value) else (False, None)
    return True, value


def comparable(value: Any, kind: FieldType) -> Any:
    """A value ordered as its type orders (datetimes compare in UTC when zoned)."""
    if kind is FieldType.DATE:
        return date.fromisoformat(value)
    if kind is FieldType.TIME:
        return time.fromisoformat(value)
    if kind is FieldType.DATETIME:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return value


def _less(a: Any, b: Any, kind: FieldType) -> bool:
    try:
        return bool(comparable(a, kind) < comparable(b, kind))
    except (TypeError, ValueError):
        return False


# --- patterns and formats -----------------------------------------------------------------


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` can't be used, or None when Python and polars both compile it."""
    try:
        re.compile(pattern)
    except re.error as error:
        return f"is not a valid regular expression ({error})"
    try:
        pl.Series(["x"]).str.contains(pattern)
    except Exception as error:  # polars raises ComputeError for what its engine refuses
        reason = str(error).strip().splitlines()
        detail = next((line.strip() for line in reason if line.strip().startswith("error:")), "")
        return (
            "uses regular-expression syntax the validator can't run "
            f"(look-around and back-references are not supported){': ' + detail if detail else ''}"
        )
    return None


_SAMPLE_MOMENT = datetime(2024, 3, 5, 13, 4, 5, tzinfo=UTC)


def _format_reads_back(kind: FieldType, fmt: str) -> bool:
    """True when polars parses what Python writes with the strptime pattern ``fmt``."""
    try:
        text = _SAMPLE_MOMENT.strftime(fmt)
        series = pl.Series([text])
        if kind is FieldType.DATE:
            parsed = series.str.to_date(fmt, strict=False)
        elif kind is FieldType.TIME:
            parsed = series.str.to_time(fmt, strict=False)
        else:
            parsed = series.str.to_datetime(fmt, strict=False)
    except Exception:  # an unknown directive fails in Python or in polars
        return False
    return parsed.null_count() == 0


def check_format(kind: FieldType, fmt: Any, *, where: str, problems: Problems) -> str:
    """The field's format, checked for its type ("default" when absent or wrong)."""
    if fmt is None or fmt == "default":
        return "default"
    if not isinstance(fmt, str) or not fmt:
        problems.add(where, f"must be a non-empty string (got {show(fmt)})")
        return "default"
    if kind in TEMPORAL_TYPES:
        if fmt == "any":
            return fmt
        if "%" not in fmt:
            problems.add(
                where,
                f'{show(fmt)} is not a format for a {kind}: use "default" (ISO 8601), '
                '"any" or a strptime pattern such as "%Y/%m/%d"',
            )
            return "default"
        if not _format_reads_back(kind, fmt):
            problems.add(
                where,
                f"the strptime pattern {show(fmt)} can't read a {kind} "
                '(check its directives; e.g. "%Y/%m/%d", "%d.%m.%Y %H:%M")',
            )
            return "default"
        return fmt
    if kind is FieldType.STRING:
        if fmt in STRING_FORMATS:
            return fmt
        problems.add(
            where, f"unknown string format {show(fmt)}; use one of {listing(STRING_FORMATS)}"
        )
        return "default"
    problems.add(where, f'a {kind} field has no formats; leave "format" out or use "default"')
    return "default"


def listing(values: Sequence[str]) -> str:
    return ", ".join(values)


# --- constraints ----------------------------------------------------------------------------


def allowed_constraints(kind: FieldType) -> list[str]:
    """The constraint keys a field of type ``kind`` may have."""
    keys = ["required", "unique"]
    if kind in LENGTH_TYPES:
        keys += ["minLength", "maxLength"]
    if kind in RANGE_TYPES:
        keys += ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
    if kind is FieldType.STRING:
        keys += ["pattern", "check"]
    if kind in ENUM_TYPES:
        keys.append("enum")
    return keys


def parse_constraints(
    raw: Any, *, kind: FieldType, where: str, problems: Problems
) -> tuple[Constraints, set[str]]:
    """The constraints in ``raw`` for a field of type ``kind``, and the keys it sets.

    Problems land in ``problems`` under ``<where>.<key>``; bad values are left out.
    """
    if raw is None:
        return Constraints(), set()
    if not isinstance(raw, Mapping):
        problems.add(where, f"must be an object of constraints (got {show(raw)})")
        return Constraints(), set()
    allowed = allowed_constraints(kind)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        place = join_where(where, str(key))
        if key not in CONSTRAINT_KEYS:
            problems.add(place, f"unknown constraint; a {kind} field accepts {listing(allowed)}")
            continue
        if key not in allowed:
            problems.add(
                place, f"{key} doesn't apply to a {kind} field; it accepts {listing(allowed)}"
            )
            continue
        parsed = _constraint_value(key, value, kind=kind, where=place, problems=problems)
        if parsed is not None:
            values[CONSTRAINT_KEYS[key]] = parsed
    _check_bounds(values, kind=kind, where=where, problems=problems)
    return Constraints(**values), {key for key in raw if CONSTRAINT_KEYS.get(key) in values}


def _constraint_value(
    key: str, value: Any, *, kind: FieldType, where: str, problems: Problems
) -> Any:
    if key in ("required", "unique"):
        if isinstance(value, bool):
            return value
        problems.add(where, f"must be true or false (got {show(value)})")
        return None
    if key in ("minLength", "maxLength"):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        problems.add(where, f"must be a whole number ≥ 0 (got {show(value)})")
        return None
    if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        ok, normalised = typed_value(value, kind)
        if ok:
            return normalised
        problems.add(where, f"must be {KIND[kind]} (got {show(value)})")
        return None
    if key == "pattern":
        if not isinstance(value, str) or not value:
            problems.add(where, f"must be a regular expression as a string (got {show(value)})")
            return None
        reason = pattern_problem(value)
        if reason:
            problems.add(where, f"{show(value)} {reason}")
            return None
        return value
    if key == "enum":
        return _enum_value(value, kind=kind, where=where, problems=problems)
    # check
    if value in set(Check):
        return Check(value)
    problems.add(
        where, f"unknown check {show(value)}; use one of {listing([str(c) for c in Check])}"
    )
    return None


def _enum_value(
    value: Any, *, kind: FieldType, where: str, problems: Problems
) -> tuple[Any, ...] | None:
    if not isinstance(value, list) or not value:
        problems.add(where, f"must be a non-empty list of allowed values (got {show(value)})")
        return None
    members: list[Any] = []
    bad = False
    for position, member in enumerate(value):
        ok, normalised = typed_value(member, kind)
        if not ok:
            problems.add(f"{where}[{position}]", f"must be {KIND[kind]} (got {show(member)})")
            bad = True
        elif normalised in members:
            problems.add(f"{where}[{position}]", f"{show(member)} is listed twice")
            bad = True
        else:
            members.append(normalised)
    return None if bad else tuple(members)


def _check_bounds(
    values: Mapping[str, Any], *, kind: FieldType, where: str, problems: Problems
) -> None:
    low, high = values.get("min_length"), values.get("max_length")
    if low is not None and high is not None and low > high:
        problems.add(
            join_where(where, "minLength"), f"minLength {low} is greater than maxLength {high}"
        )
    for low_key, high_key in (
        ("minimum", "maximum"),
        ("exclusive_minimum", "exclusive_maximum"),
        ("minimum", "exclusive_maximum"),
        ("exclusive_minimum", "maximum"),
    ):
        low, high = values.get(low_key), values.get(high_key)
        if low is None or high is None:
            continue
        if _less(high, low, kind):
            low_name = _camel(low_key)
            problems.add(
                join_where(where, low_name),
                f"{low_name} {show(low)} is greater than {_camel(high_key)} {show(high)}",
            )


def _camel(attribute: str) -> str:
    return next(key for key, name in CONSTRAINT_KEYS.items() if name == attribute)


def narrow(
    base: Constraints,
    own: Constraints,
    present: set[str],
    *,
    kind: FieldType,
    element: str,
    where: str,
    problems: Problems,
) -> Constraints:
    """The element's constraints ``base`` narrowed by the field's ``own`` (keys ``present``).

    A field may only tighten what its element says; loosening is a problem.
    """
    values = {name: getattr(base, name) for name in CONSTRAINT_KEYS.values()}
    for key in sorted(present):
        name = CONSTRAINT_KEYS[key]
        mine, theirs = getattr(own, name), getattr(base, name)
        place = join_where(where, key)
        if theirs is None or mine == theirs:
            values[name] = mine
            continue
        loosened = False
        if name in ("required", "unique"):
            loosened = bool(theirs) and not mine
            values[name] = bool(mine) or bool(theirs)
            if loosened:
                problems.add(
                    place, f"the data element {element} sets {key}; a field can't unset it"
                )
            continue
        if name in ("min_length", "minimum", "exclusive_minimum"):
            loosened = _less(mine, theirs, kind)
        elif name in ("max_length", "maximum", "exclusive_maximum"):
            loosened = _less(theirs, mine, kind)
        elif name == "enum":
            extra = [member for member in mine if member not in theirs]
            if extra:
                problems.add(
                    place,
                    f"{show(extra)} are not allowed by the data element {element} "
                    f"(its enum is {show(list(theirs))}); a field can only remove values",
                )
                continue
        else:  # pattern, check: can't be combined
            problems.add(
                place,
                f"the data element {element} already has {key} {show(str(theirs))}; "
                "a field can't replace it",
            )
            continue
        if loosened:
            problems.add(
                place,
                f"the data element {element} sets {key} {show(theirs)}; "
                f"a field can only narrow it (got {show(mine)})",
            )
            continue
        values[name] = mine
    _check_bounds(values, kind=kind, where=where, problems=problems)
    return Constraints(**values)
