"""The SensorThings write side: POST (create, deep insert), PATCH (merge or JSON Patch), PUT,
DELETE, ``POST /CreateObservations`` and ``POST /$batch``.

The router has no prefix: :mod:`.api` includes it under ``/sta/v1.1``. Every write needs
credentials (:mod:`.auth`) and is audited; bodies are JSON, at most :data:`MAX_BODY` bytes.

Each write runs in a transaction of its own (:func:`cityos.db.transaction`), rolled back
before the error becomes a response: the SensorThings error wrapper turns exceptions into
responses inside the route, so the request session would not see them.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth.models import User
from cityos.db import transaction, utcnow
from cityos.deps import SessionDep
from cityos.errors import (
    CityOSError,
    Conflict,
    InvalidInput,
    NotImplementedFeature,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from cityos.sensing.sta import batch, dataarray, read, serialize, write, write_delete, write_update
from cityos.sensing.sta.auth import Writer, writer
from cityos.sensing.sta.errors import StaRoute
from cityos.sensing.sta.paths import ResourcePath, parse_path

ROOT = "/sta/v1.1"
MAX_BODY = 16 * 1024 * 1024
MAX_DEPTH = 64  # nesting of arrays and objects in a body
JSON = "application/json"
JSON_PATCH = "application/json-patch+json"

log = logging.getLogger(__name__)

router = APIRouter(route_class=StaRoute, tags=["sensorthings"])


def service_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + ROOT


async def read_body(request: Request, *, allowed: tuple[str, ...] = (JSON,)) -> tuple[Any, str]:
    """The parsed JSON body and its media type; 415, 413 or 400 when it is not acceptable."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(allowed)} (got {media or 'no Content-Type'})."
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(_too_large())
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(_too_large())
        chunks.append(chunk)
    return parse_json(b"".join(chunks)), media


def _no_constant(name: str) -> Any:
    raise InvalidInput(
        f"The body is not valid JSON: {name} is not a JSON number; send a finite number, or "
        "null for a missing value."
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(
            f"The body holds the number {text[:40]}, too large for a double; send a smaller number."
        )
    return value


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no number too large for a double, bounded nesting."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except UnicodeDecodeError:
        raise InvalidInput("The body is not UTF-8 text.") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"The body is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except RecursionError:
        raise InvalidInput(_too_deep_message()) from None
    except ValueError as error:  # e.g. an integer with more than 4300 digits
        raise InvalidInput(f"The body is not acceptable JSON: {error}.") from None
    if _too_deep(value):
        raise InvalidInput(_too_deep_message())
    return value


def _too_deep_message() -> str:
    return f"The body nests arrays and objects more than {MAX_DEPTH} levels deep; flatten it."


def _too_deep(value: Any) -> bool:
    """True when ``value`` nests containers deeper than :data:`MAX_DEPTH` (no recursion)."""
    level: list[Any] = [value]
    for _depth in range(MAX_DEPTH + 1):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not any(isinstance(item, dict | list) for item in level):
            return False
    return True


def _too_large() -> str:
    return (
        f"The body is larger than {MAX_BODY // (1024 * 1024)} MiB; split it into several "
        "requests (e.g. CreateObservations batches of 10,000 rows)."
    )


def perform(
    db_session: Session,
    method: str,
    resource: str,
    body: Any,
    *,
    media: str,
    user: User,
    actor: Actor,
    base: str,
) -> batch.Outcome:
    """Do one write request (shared by the routes and ``$batch``)."""
    now = utcnow()
    path = parse_path(resource.split("?")[0])
    if path.property is not None or path.count:
        raise InvalidInput(f"'{path.text()}': write to an entity or collection, not to a property.")
    if path.ref:
        raise NotImplementedFeature(
            "Changing links through /$ref is not offered; send the link in the entity "
            'instead, e.g. PATCH Things(1) {"Locations": [{"@iot.id": 2}]}.'
        )
    try:
        if method == "post":
            return _create(db_session, path, body, user=user, actor=actor, now=now, base=base)
        target = read.resolve(db_session, path, user)
        if target.row is None:
            raise InvalidInput(f"'{path.text()}' is a collection: name one entity, e.g. (1).")
        ident = int(target.row.id)  # type: ignore[attr-defined]
        entity_type = target.entity
        if method == "delete":
            write_delete.delete_entity(db_session, entity_type, ident, actor=actor)
            return batch.Outcome(200)
        if media == JSON_PATCH:
            write_update.json_patch(db_session, entity_type, ident, body, actor=actor, now=now)
        else:
            replace = method == "put"
            write_update.update(
                db_session, entity_type, ident, body, actor=actor, now=now, replace=replace
            )
        db_session.flush()
        db_session.expire_all()
        answer = serialize.entity_json(db_session, entity_type, [ident], base=base)[0]
        return batch.Outcome(200, answer)
    except IntegrityError as error:
        raise Conflict(
            f"The change conflicts with existing data: {str(error.orig).splitlines()[0]}."
        ) from None


def _create(
    db_session: Session,
    path: ResourcePath,
    body: Any,
    *,
    user: User,
    actor: Actor,
    now: datetime,
    base: str,
) -> batch.Outcome:
    last = path.steps[-1]
    if last.id is not None or (last.nav is not None and not last.nav.many):
        raise InvalidInput(
            f"POST creates in a collection; '{path.text()}' is one entity (PATCH or PUT it)."
        )
    presets: dict[str, Any] = {}
    entity_type = path.target
    if len(path.steps) > 1:
        parent = read.resolve(db_session, ResourcePath(path.steps[:-1]), user)
        assert parent.row is not None
        assert last.nav is not None
        parent_id = int(parent.row.id)  # type: ignore[attr-defined]
        entity_type, presets = write.presets_for(
            db_session, parent.entity, parent_id, last.nav.name
        )
    ident = write.create(db_session, entity_type, body, actor=actor, now=now, presets=presets)
    db_session.flush()
    link = serialize.self_link(base, entity_type, ident)
    answer = serialize.entity_json(db_session, entity_type, [ident], base=base)[0]
    return batch.Outcome(201, answer, {"location": link}, (entity_type.set_name, ident))


def _respond(outcome: batch.Outcome) -> Response:
    if outcome.body is None:
        return Response(status_code=outcome.status)
    return JSONResponse(outcome.body, status_code=outcome.status, headers=outcome.headers)


def _user(request: Request) -> User:
    user: User = request.state.user
    return user


@router.post("/CreateObservations", status_code=201, summary="Create Observations (dataArray)")
async def create_observations(request: Request, db_session: SessionDep, actor: Writer) -> Any:
    body, _media = await read_body(request)
    base = service_base(request)

    db_session.commit()  # the API key's last use; the write runs in a transaction of its own

    def run() -> list[str]:
        with transaction(request.app.state.session_factory) as db:
            return dataarray.create_observations(
                db,
                body,
                actor=actor,
                now=utcnow(),
                self_link=lambda ident: f"{base}/Observations({ident})",
            )

    return JSONResponse(await run_in_threadpool(run), status_code=201)


@router.post("/$batch", summary="Several requests in one (JSON batch format)")
async def batch_request(request: Request, db_session: SessionDep) -> Any:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media.startswith("multipart/"):
        raise NotImplementedFeature(
            "Only the JSON batch format is offered: POST application/json "
            '{"requests": [...]} (multipart/mixed batches are not supported).'
        )
    body, _media = await read_body(request)
    requests = batch.parse_batch(body)
    user: User | None = None
    actor: Actor | None = None
    if any(r.method != "get" for r in requests):
        actor = await run_in_threadpool(writer, request, db_session)
        user = _user(request)
        db_session.commit()  # the key's last use; the batch runs in sessions of its own
    base = service_base(request)
    factory = request.app.state.session_factory
    references = batch.References()
    failed: set[str] = set()
    answers: list[dict[str, Any]] = []
    for unit in batch.units(requests):
        if unit[0].method == "get":
            answers.append(await _sub_get(request, unit[0], references, failed))
            continue
        assert user is not None
        assert actor is not None
        run_one = partial(_perform_sub, user=user, actor=actor, base=base)
        done = await run_in_threadpool(batch.run_unit, factory, unit, references, failed, run_one)
        answers.extend(batch.response_item(sub, outcome) for sub, outcome in done)
    return JSONResponse({"responses": answers})


def _perform_sub(
    db_session: Session, sub: batch.SubRequest, *, user: User, actor: Actor, base: str
) -> batch.Outcome:
    media = sub.headers.get("content-type", JSON).split(";")[0].strip().lower()
    return perform(
        db_session, sub.method, sub.url, sub.body, media=media, user=user, actor=actor, base=base
    )


async def _sub_get(
    request: Request, sub: batch.SubRequest, references: batch.References, failed: set[str]
) -> dict[str, Any]:
    """Answer a GET of a batch by running it through the application."""
    if any(d in failed for d in sub.depends_on):
        failed.add(sub.id)
        message = "Not run: it depends on a request that failed."
        return batch.response_item(sub, batch.Outcome(424, batch.error_body(424, message)))
    try:
        resolved = references.resolve(sub)
    except CityOSError as error:
        failed.add(sub.id)
        outcome = batch.Outcome(
            error.status_code, batch.error_body(error.status_code, error.message)
        )
        return batch.response_item(sub, outcome)
    path, _, query = resolved.url.lstrip("/").partition("?")
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.items()
        if name in ("authorization", "host", "cookie")
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": request.url.scheme,
        "server": request.scope.get("server"),
        "client": request.scope.get("client"),
        "root_path": "",
        "path": f"{ROOT}/{path}",
        "raw_path": f"{ROOT}/{path}".encode(),
        "query_string": query.encode(),
        "headers": headers,
    }
    status = 500
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await request.app(scope, receive, send)
    except Exception:  # the app has answered 500 (and re-raises): answer that, go on
        log.exception("batch GET %s failed", sub.id)
        status = 500
        chunks = [json.dumps(batch.error_body(500, "The request failed on the server.")).encode()]
    raw = b"".join(chunks)
    try:
        payload: Any = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    if status >= 400:
        failed.add(sub.id)
    return batch.response_item(sub, batch.Outcome(status, payload))


async def _write(
    request: Request, db_session: Session, resource: str, method: str, actor: Actor
) -> Response:
    allowed = (JSON, JSON_PATCH) if method == "patch" else (JSON,)
    body: Any = None
    media = JSON
    if method != "delete":
        body, media = await read_body(request, allowed=allowed)
    base = service_base(request)
    user = _user(request)
    db_session.commit()  # the API key's last use; the write runs in a transaction of its own

    def run() -> batch.Outcome:
        with transaction(request.app.state.session_factory) as db:
            return perform(
                db, method, resource, body, media=media, user=user, actor=actor, base=base
            )

    outcome = await run_in_threadpool(run)
    return _respond(outcome)


@router.post("/{resource:path}", status_code=201, summary="Create an entity (deep insert)")
async def create_entity(
    resource: str, request: Request, db_session: SessionDep, actor: Writer
) -> Response:
    return await _write(request, db_session, resource, "post", actor)


@router.patch("/{resource:path}", summary="Update an entity (merge, or JSON Patch)")
async def patch_entity(
    resource: str, request: Request, db_session: SessionDep, actor: Writer
) -> Response:
    return await _write(request, db_session, resource, "patch", actor)


@router.put("/{resource:path}", summary="Replace an entity")
async def put_entity(
    resource: str, request: Request, db_session: SessionDep, actor: Writer
) -> Response:
    return await _write(request, db_session, resource, "put", actor)


@router.delete("/{resource:path}", summary="Delete an entity and what depends on it")
async def delete_entity(
    resource: str, request: Request, db_session: SessionDep, actor: Writer
) -> Response:
    return await _write(request, db_session, resource, "delete", actor)
