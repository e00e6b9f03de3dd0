"""The filters every ``/api/ops`` data endpoint takes: a time range and an area.

``range`` is one of :data:`RANGES`:

- ``today`` (the default): from the city's local midnight to now; the previous period is
  yesterday's same span (yesterday's midnight to the same time of day yesterday);
- ``24h``, ``7d``, ``30d``: the span ending now; the previous period is the span just before.

``area`` is an area code of any level, or absent for the whole city (the city-level area's
own code means the whole city too). The "SLA window" (SLA compliance, median time to
resolve, reopen rate) is the last 7 days when the range is shorter than that, else the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cityos.cases import service as cases_service
from cityos.errors import InvalidInput, NotFound
from cityos.geo import service as geo_service
from cityos.geo.service import AreaLevel

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
RANGES: tuple[str, ...] = ("today", "24h", "7d", "30d")
DEFAULT_RANGE = "today"
SLA_WINDOW = timedelta(days=7)
_SPANS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# The levels cases and sensors are filtered by (the city level means "everywhere").
FILTER_LEVELS = (AreaLevel.DISTRICT, AreaLevel.SUBDISTRICT, AreaLevel.GRID)


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in aware UTC instants."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def before(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - self.length, self.start)

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True, slots=True)
class AreaScope:
    """The area the screen is narrowed to."""

    id: int
    code: str
    level: AreaLevel
    name_en: str
    name_zh: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level.value,
            "name_en": self.name_en,
            "name_zh": self.name_zh,
        }


@dataclass(frozen=True, slots=True)
class Filters:
    """One request's parsed filters and the periods they stand for."""

    range: str
    area: AreaScope | None
    now: datetime
    period: Period
    previous: Period
    sla_window: Period

    @property
    def key(self) -> tuple[str, str]:
        """What cached figures are keyed by (the periods follow from it and the clock)."""
        return (self.range, self.area.code if self.area else "")

    @property
    def area_code(self) -> str | None:
        return self.area.code if self.area else None


def parse_id(value: str | None, *, name: str, what: str, hint: str) -> int | None:
    """A database id (a whole number from 1 to :data:`MAX_ID`) from text; None when empty.

    Otherwise InvalidInput "``name`` 'x' is not ``what``; ``hint``." (e.g. what "a case
    id", hint "give its number")."""
    text = (value or "").strip()
    if not text:
        return None
    number = int(text) if text.isascii() and text.isdigit() else 0
    if not 1 <= number <= MAX_ID:
        raise InvalidInput(
            f"{name} {text[:40]!r} is not {what}; {hint}.",
            details={"field": name, "value": text[:40]},
        )
    return number


def parse_range(value: str | None) -> str:
    text = (value or DEFAULT_RANGE).strip().lower() or DEFAULT_RANGE
    if text not in RANGES:
        raise InvalidInput(
            f"range {text[:40]!r} is not a range; use one of {', '.join(RANGES)}.",
            details={"allowed": list(RANGES)},
        )
    return text


def periods(range_: str, *, now: datetime, timezone: str) -> tuple[Period, Period, Period]:
    """The period, the previous period and the SLA window of ``range_`` at ``now``."""
    if range_ == "today":
        zone = cases_service.city_zone(timezone)
        local = now.astimezone(zone)
        midnight = datetime.combine(local.date(), time(), zone).astimezone(UTC)
        yesterday = datetime.combine(local.date() - timedelta(days=1), time(), zone)
        start_before = yesterday.astimezone(UTC)
        period = Period(midnight, now)
        previous = Period(start_before, start_before + (now - midnight))
    else:
        period = Period(now - _SPANS[range_], now)
        previous = period.before()
    sla = period if period.length >= SLA_WINDOW else Period(now - SLA_WINDOW, now)
    return period, previous, sla


def parse_area(db_session: Session, code: str | None) -> AreaScope | None:
    """The area with this code; None for no code or the city itself."""
    text = (code or "").strip()
    if not text:
        return None
    try:
        area = geo_service.get_area(db_session, code=text)
    except NotFound:
        raise InvalidInput(
            f"There is no area {text[:64]!r}; give the code of a district, sub-district or "
            "grid cell (GET /api/geo/areas lists them), or leave area out for the whole city.",
            details={"area": text[:64]},
        ) from None
    level = AreaLevel(area.level)
    if level is AreaLevel.CITY:
        return None
    return AreaScope(
        id=area.id, code=area.code, level=level, name_en=area.name_en, name_zh=area.name_zh
    )


def parse_filters(
    db_session: Session,
    *,
    range_: str | None,
    area: str | None,
    now: datetime,
    timezone: str,
) -> Filters:
    """Check and resolve the filters; InvalidInput saying what to fix otherwise."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    parsed = parse_range(range_)
    scope = parse_area(db_session, area)
    period, previous, sla = periods(parsed, now=now, timezone=timezone)
    return Filters(parsed, scope, now, period, previous, sla)
