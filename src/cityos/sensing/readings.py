"""A reading ready to store, and the checks that make one: times with a zone, results that fit
the datastream's observation type."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from cityos.errors import InvalidInput
from cityos.sensing.models import ObservationType


@dataclass(frozen=True, slots=True, init=False)
class Reading:
    """One validated observation. Exactly one of ``datastream_id`` and
    ``multi_datastream_id`` is set; times are aware (UTC)."""

    datastream_id: int | None
    multi_datastream_id: int | None
    phenomenon_start: datetime
    phenomenon_end: datetime | None
    result: Any
    result_time: datetime | None = None
    result_quality: Any = None
    valid_start: datetime | None = None
    valid_end: datetime | None = None
    parameters: dict[str, Any] | None = None
    feature_id: int | None = None

    def __init__(
        self,
        datastream_id: int | None,
        multi_datastream_id: int | None,
        phenomenon_start: datetime,
        phenomenon_end: datetime | None,
        result: Any,
        result_time: datetime | None = None,
        result_quality: Any = None,
        valid_start: datetime | None = None,
        valid_end: datetime | None = None,
        parameters: dict[str, Any] | None = None,
        feature_id: int | None = None,
    ) -> None:
        # what the generated frozen __init__ does, through the slots directly: readings are
        # made per observation on ingest, and this takes a third of the time
        _set = _SLOT_SETTERS
        _set[0](self, datastream_id)
        _set[1](self, multi_datastream_id)
        _set[2](self, phenomenon_start)
        _set[3](self, phenomenon_end)
        _set[4](self, result)
        _set[5](self, result_time)
        _set[6](self, result_quality)
        _set[7](self, valid_start)
        _set[8](self, valid_end)
        _set[9](self, parameters)
        _set[10](self, feature_id)


_SLOT_SETTERS: tuple[Callable[[Reading, Any], None], ...] = tuple(
    Reading.__dict__[f.name].__set__ for f in fields(Reading)
)


def parse_time(value: Any, *, what: str) -> datetime:
    """An ISO 8601 instant with a time zone (or an aware datetime), as UTC.

    Raises :class:`InvalidInput` naming ``what`` for anything else.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                f"{what}: {value[:60]!r} is not an ISO 8601 time; "
                "write it like 2024-05-01T08:30:00Z."
            ) from None
    else:
        raise InvalidInput(f"{what}: expected an ISO 8601 time string, got {type(value).__name__}.")
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{what}: {value!s:.60} has no time zone; add one, e.g. Z or +08:00.")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{what}: {value!s:.60} is out of range.") from None


def parse_period(value: Any, *, what: str) -> tuple[datetime, datetime | None]:
    """An instant, or an ISO 8601 interval ``start/end``: ``(start, end or None)``."""
    if isinstance(value, str) and "/" in value:
        first, _, second = value.partition("/")
        start = parse_time(first, what=what)
        end = parse_time(second, what=what)
        if end < start:
            raise InvalidInput(f"{what}: the interval {value[:80]!r} ends before it starts.")
        return start, end
    return parse_time(value, what=what), None


_NUMBER_TYPES = (int, float)


def check_result(result: Any, observation_type: str, *, what: str) -> None:
    """Raise :class:`InvalidInput` unless ``result`` fits ``observation_type``.

    Measurement: a finite number; Count: an integer; Category: a string; Truth: a boolean;
    Complex: an object; Observation (and unknown types): anything but null.
    """
    if result is None:
        raise InvalidInput(f"{what}: the result is missing; give a value.")
    if observation_type == ObservationType.MEASUREMENT:
        if isinstance(result, bool) or not isinstance(result, _NUMBER_TYPES) or not _finite(result):
            raise InvalidInput(
                f"{what}: an OM_Measurement result must be a finite number, "
                f"got {_describe(result)}."
            )
    elif observation_type == ObservationType.COUNT:
        if isinstance(result, bool) or not isinstance(result, int):
            raise InvalidInput(
                f"{what}: an OM_CountObservation result must be an integer, "
                f"got {_describe(result)}."
            )
    elif observation_type == ObservationType.CATEGORY:
        if not isinstance(result, str):
            raise InvalidInput(
                f"{what}: an OM_CategoryObservation result must be a string (a category or "
                f"its URI), got {_describe(result)}."
            )
    elif observation_type == ObservationType.TRUTH:
        if not isinstance(result, bool):
            raise InvalidInput(
                f"{what}: an OM_TruthObservation result must be true or false, "
                f"got {_describe(result)}."
            )
    elif observation_type == ObservationType.COMPLEX and not isinstance(result, dict):
        raise InvalidInput(
            f"{what}: an OM_ComplexObservation result must be a JSON object, "
            f"got {_describe(result)}."
        )


def _finite(number: float) -> bool:
    """True when ``number`` is finite and fits a double (a huge int does not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"
