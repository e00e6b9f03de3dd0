"""Open311 GeoReport v2: reading what clients send (query parameters and POST forms).

Empty parameters have already been dropped by the router; every problem is collected and
raised together as one InvalidInput (each becomes one ``<error>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from cityos.cases.intake import Problem, raise_problems
from cityos.cases.queries import MAX_PAGE_SIZE, CaseFilter

MAX_WINDOW = timedelta(days=90)  # the specification's longest start_date..end_date span
DEFAULT_PAGE_SIZE = 1000  # the specification's default: "the first 1000 requests"
MAX_IDS = 1000
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})
ATTRIBUTE_FIELD = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


def parse_bool(value: str | None, *, name: str, problems: list[Problem]) -> bool:
    if value is None:
        return False
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word not in FALSE_WORDS:
        problems.append({"field": name, "message": f"{name} must be true or false, not {value!r}."})
    return False


def _parse_int(
    value: str | None, *, name: str, default: int, low: int, high: int, problems: list[Problem]
) -> int:
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        problems.append(
            {
                "field": name,
                "message": f"{name} must be a whole number from {low:,} to {high:,}, "
                f"not {value!r}.",
            }
        )
        return default
    return number


def parse_datetime(
    value: str, *, name: str, zone: tzinfo, end: bool, problems: list[Problem]
) -> datetime | None:
    """A W3C/ISO 8601 datetime; without an offset it is the city's local time. A date alone
    is the start of that day (for ``end_date``: its end)."""
    text = value.strip()
    if "T" in text and " " in text:  # an unencoded "+" of the offset arrives as a space
        text = text.replace(" ", "+")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), tzinfo=zone)
            if end:
                moment += timedelta(days=1) - timedelta(microseconds=1)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        problems.append(
            {
                "field": name,
                "message": f"{name} must be an ISO 8601 datetime such as "
                f"2026-11-01T00:00:00+08:00 (or a date such as 2026-11-01), not {value!r}.",
            }
        )
        return None
    return moment.astimezone(UTC)


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class RequestSearch:
    selected: CaseFilter
    page: int
    page_size: int
    notes: bool
    extensions: bool


def parse_search(params: Mapping[str, str], *, now: datetime, zone: tzinfo) -> RequestSearch:
    """The GET requests parameters (empty ones already dropped) as a filter and a page.

    ``service_request_id`` overrides every other filter. Otherwise the window is
    ``start_date``..``end_date`` (at most 90 days; one alone spans 90 days from or to it;
    neither: the last 90 days).
    """
    problems: list[Problem] = []
    extensions = parse_bool(params.get("extensions"), name="extensions", problems=problems)
    notes = parse_bool(params.get("notes"), name="notes", problems=problems) or extensions
    page = _parse_int(
        params.get("page"), name="page", default=1, low=1, high=1_000_000, problems=problems
    )
    page_size = _parse_int(
        params.get("page_size"),
        name="page_size",
        default=DEFAULT_PAGE_SIZE,
        low=1,
        high=MAX_PAGE_SIZE,
        problems=problems,
    )
    selected = CaseFilter()
    if "service_request_id" in params:
        ids: list[int] = []
        for part in _comma_list(params["service_request_id"]):
            if part.isdigit() and 0 < int(part) < 2**63:
                ids.append(int(part))
            else:
                problems.append(
                    {
                        "field": "service_request_id",
                        "message": "service_request_id is a comma-separated list of request "
                        f"ids (whole numbers); {part!r} is not one.",
                    }
                )
        if len(ids) > MAX_IDS:
            problems.append(
                {
                    "field": "service_request_id",
                    "message": f"At most {MAX_IDS:,} service_request_id values per call.",
                }
            )
        selected.ids = ids
    else:
        _window(params, selected, now=now, zone=zone, problems=problems)
        if "service_code" in params:
            selected.service_codes = _comma_list(params["service_code"])
        if "status" in params:
            wanted = {word.lower() for word in _comma_list(params["status"])}
            wrong = sorted(wanted - {"open", "closed"})
            if wrong:
                problems.append(
                    {
                        "field": "status",
                        "message": f"status is open or closed (or both, comma-separated), "
                        f"not {', '.join(wrong)}.",
                    }
                )
            elif len(wanted) == 1:
                selected.is_open = wanted == {"open"}
    if problems:
        raise_problems(problems)
    return RequestSearch(selected, page, page_size, notes, extensions)


def _window(
    params: Mapping[str, str],
    selected: CaseFilter,
    *,
    now: datetime,
    zone: tzinfo,
    problems: list[Problem],
) -> None:
    start = end = None
    if "start_date" in params:
        start = parse_datetime(
            params["start_date"], name="start_date", zone=zone, end=False, problems=problems
        )
    if "end_date" in params:
        end = parse_datetime(
            params["end_date"], name="end_date", zone=zone, end=True, problems=problems
        )
    if any(p["field"] in ("start_date", "end_date") for p in problems):
        return
    if start is not None and end is not None:
        if end < start:
            problems.append(
                {"field": "end_date", "message": "end_date is before start_date; swap them."}
            )
            return
        if end - start > MAX_WINDOW + timedelta(seconds=1):
            problems.append(
                {
                    "field": "end_date",
                    "message": f"start_date and end_date are {(end - start).days} days apart; "
                    "at most 90 days can be searched at once (page through longer periods).",
                }
            )
            return
    elif start is not None:
        end = start + MAX_WINDOW
    elif end is not None:
        start = end - MAX_WINDOW
    else:
        start = now - MAX_WINDOW
    selected.requested_from = start
    selected.requested_to = end


def parse_attributes(form: Sequence[tuple[str, str]]) -> dict[str, str | list[str]]:
    """``attribute[CODE]=v`` and ``attribute[CODE][]=v`` (repeated) form fields by code."""
    found: dict[str, str | list[str]] = {}
    for key, value in form:
        match = ATTRIBUTE_FIELD.match(key)
        if match is None:
            continue
        code, many = match.group(1), match.group(2) is not None
        if not value.strip():
            continue
        current = found.get(code)
        if current is None:
            found[code] = [value] if many else value
        elif isinstance(current, list):
            current.append(value)
        else:
            found[code] = [current, value]
    return found
