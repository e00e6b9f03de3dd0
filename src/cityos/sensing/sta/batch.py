"""``POST /$batch`` in the JSON batch format of SensorThings 1.1 (from OData 4.01).

The body is ``{"requests": [{"id", "method", "url", "body"?, "headers"?, "atomicityGroup"?,
"dependsOn"?}, …]}``; the answer ``{"responses": [{"id", "status", "headers"?, "body"?}]}``.
Requests sharing an ``atomicityGroup`` (they must be adjacent) commit together or not at all;
every other request commits on its own, in order. A later request may use an earlier one's
new entity: ``"url": "$1/Observations"`` or ``{"@iot.id": "$1"}`` in its body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cityos.errors import CityOSError, Conflict, InvalidInput

METHODS = ("get", "post", "patch", "put", "delete")
MAX_REQUESTS = 1000
SERVICE_ROOT = "/sta/v1.1"
log = logging.getLogger(__name__)
_REFERENCE = re.compile(r"^\$([A-Za-z0-9_.:-]+)(.*)$")


@dataclass(frozen=True, slots=True)
class SubRequest:
    id: str
    method: str  # lower case
    url: str  # relative to the service root, maybe with a query string
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    group: str | None = None
    depends_on: tuple[str, ...] = ()


@dataclass(slots=True)
class Outcome:
    """What one request answered: status, headers and body (the wire format)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    created: tuple[str, int] | None = None  # ("Things", 5) for a create


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": status, "type": "error", "message": message}


def parse_batch(body: Any) -> list[SubRequest]:
    """The requests of a JSON batch body, checked."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise InvalidInput('A JSON batch body is {"requests": [{"id", "method", "url"}, …]}.')
    items = body["requests"]
    if len(items) > MAX_REQUESTS:
        raise InvalidInput(f"A batch holds at most {MAX_REQUESTS} requests (got {len(items)}).")
    requests: list[SubRequest] = []
    seen: set[str] = set()
    closed_groups: set[str] = set()
    for number, item in enumerate(items):
        what = f"requests[{number}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{what} must be an object.")
        ident = str(item.get("id", number))
        if ident in seen:
            raise InvalidInput(f"{what}: the id {ident!r} is used twice.")
        method = str(item.get("method", "")).lower()
        if method not in METHODS:
            raise InvalidInput(f"{what}.method must be one of {', '.join(METHODS)}.")
        url = item.get("url")
        if not isinstance(url, str) or not url:
            raise InvalidInput(f"{what}.url must be a string, e.g. 'Things'.")
        url = service_relative(url, what=f"{what}.url")
        group = item.get("atomicityGroup")
        if group is not None:
            group = str(group)
            if group in closed_groups:
                raise InvalidInput(
                    f"{what}: the requests of atomicityGroup {group!r} must be adjacent."
                )
            if method == "get":
                raise InvalidInput(f"{what}: a GET cannot be part of an atomicityGroup.")
        previous = requests[-1].group if requests else None
        if previous is not None and previous != group:
            closed_groups.add(previous)
        depends = item.get("dependsOn") or []
        if not isinstance(depends, list) or any(str(d) not in seen for d in depends):
            raise InvalidInput(f"{what}.dependsOn must list ids of earlier requests.")
        headers = item.get("headers") or {}
        if not isinstance(headers, dict):
            raise InvalidInput(f"{what}.headers must be an object.")
        requests.append(
            SubRequest(
                ident,
                method,
                url,
                item.get("body"),
                {str(k).lower(): str(v) for k, v in headers.items()},
                group,
                tuple(str(d) for d in depends),
            )
        )
        seen.add(ident)
    return requests


def service_relative(url: str, *, what: str) -> str:
    """``url`` relative to the service root.

    OData 4.01 allows a request's URL relative to the service root (``Things``), as an
    absolute path (``/sta/v1.1/Things``) or as an absolute URL (``https://host/sta/v1.1/Things``).
    """
    if not url.startswith("/") and "://" not in url.split("?")[0]:
        return url
    parts = urlsplit(url)
    if "://" in url.split("?")[0] and parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(f"{what}: {url[:80]!r} is not an http(s) URL of this service.")
    path = parts.path
    marker = SERVICE_ROOT + "/"
    if marker not in path:
        raise InvalidInput(
            f"{what}: {url[:80]!r} is outside this service; give a URL under {SERVICE_ROOT}/ "
            "or relative to it, e.g. 'Things'."
        )
    relative = path[path.index(marker) + len(marker) :]
    if not relative:
        raise InvalidInput(f"{what}: {url[:80]!r} names no resource, e.g. 'Things'.")
    return relative + (f"?{parts.query}" if parts.query else "")


def units(requests: list[SubRequest]) -> list[list[SubRequest]]:
    """The requests grouped into what commits together (an atomicity group, or one request)."""
    result: list[list[SubRequest]] = []
    for request in requests:
        if request.group is not None and result and result[-1][0].group == request.group:
            result[-1].append(request)
        else:
            result.append([request])
    return result


@dataclass
class References:
    """New entities of earlier requests, for ``$id`` references."""

    created: dict[str, tuple[str, int]] = field(default_factory=dict)

    def resolve(self, request: SubRequest) -> SubRequest:
        url = request.url
        match = _REFERENCE.match(url)
        if match:
            found = self.created.get(match.group(1))
            if found is None:
                raise InvalidInput(f"{url!r}: ${match.group(1)} names no entity created earlier.")
            url = f"{found[0]}({found[1]}){match.group(2)}"
        return replace(request, url=url, body=self._body(request.body))

    def _body(self, value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key == "@iot.id" and isinstance(item, str) and item.startswith("$"):
                    found = self.created.get(item[1:])
                    if found is None:
                        raise InvalidInput(f"@iot.id {item!r} names no entity created earlier.")
                    out[key] = found[1]
                else:
                    out[key] = self._body(item)
            return out
        if isinstance(value, list):
            return [self._body(item) for item in value]
        return value


Perform = Callable[[Session, SubRequest], Outcome]


def run_unit(
    factory: sessionmaker[Session],
    unit: list[SubRequest],
    references: References,
    failed: set[str],
    perform: Perform,
) -> list[tuple[SubRequest, Outcome]]:
    """Run the write requests of one unit in one transaction; commit, or roll all back."""
    blocked = [r for r in unit if any(d in failed for d in r.depends_on)]
    if blocked:
        failed.update(r.id for r in unit)
        message = f"Not run: request {blocked[0].id} depends on a request that failed."
        return [(r, Outcome(424, error_body(424, message))) for r in unit]
    session = factory()
    done: list[tuple[SubRequest, Outcome]] = []
    try:
        for request in unit:
            outcome = perform(session, references.resolve(request))
            done.append((request, outcome))
        session.commit()
    except Exception as error:  # any failure rolls the whole unit back; the batch goes on
        session.rollback()
        failed.update(r.id for r in unit)
        culprit = unit[min(len(done), len(unit) - 1)]  # all done: the commit failed
        problem = _problem(error, culprit)
        answers: list[tuple[SubRequest, Outcome]] = []
        for position, request in enumerate(unit):
            if request is culprit:
                status, message = problem.status_code, problem.message
            elif position < len(done):
                status = 424
                message = f"Rolled back: request {culprit.id} of its atomicityGroup failed."
            else:
                status = 424
                message = f"Not run: request {culprit.id} of its atomicityGroup failed."
            answers.append((request, Outcome(status, error_body(status, message))))
        return answers
    finally:
        session.close()
    for request, outcome in done:
        if outcome.created is not None:
            references.created[request.id] = outcome.created
    return done


def _problem(error: Exception, request: SubRequest) -> CityOSError:
    """What to answer for the request that raised ``error``."""
    if isinstance(error, CityOSError):
        return error
    if isinstance(error, IntegrityError):
        first = str(error.orig).splitlines()[0]
        return Conflict(f"The change conflicts with existing data: {first}.")
    if isinstance(error, DataError):
        first = str(error.orig).splitlines()[0]
        return InvalidInput(f"A value does not fit its column: {first}. Check the body.")
    log.error("batch request %s failed", request.id, exc_info=error)
    return ServerFailure("The request failed on the server; nothing of its unit was stored.")


class ServerFailure(CityOSError):
    """A request of a batch that failed for a reason other than its input."""

    status_code = 500
    code = "server_error"


def response_item(request: SubRequest, outcome: Outcome) -> dict[str, Any]:
    item: dict[str, Any] = {"id": request.id, "status": outcome.status}
    if outcome.headers:
        item["headers"] = outcome.headers
    if outcome.body is not None:
        item["body"] = outcome.body
    return item
