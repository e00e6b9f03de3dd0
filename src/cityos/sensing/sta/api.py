"""The SensorThings API 1.1 read side at ``/sta/v1.1``: the service root and every GET
resource path (collections, ``Entity(id)``, navigation, ``/property``,
``/property/$value``, ``/$ref``, ``/$count``) with the query options, server-side paging
through ``@iot.nextLink`` and ``$resultFormat=dataArray``.

Links are absolute and built from the request's own base URL, so they work behind any
host name the client used. Errors answer in the SensorThings shape (:mod:`.errors`).
Reads need no credentials; with them (Bearer API key, HTTP Basic or the browser session)
restricted Things become visible too (:mod:`.access`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.config import Settings
from cityos.deps import SessionDep, SettingsDep, client_ip, session_token
from cityos.errors import InvalidInput
from cityos.sensing.sta import api_write, read, serialize
from cityos.sensing.sta.auth import API_KEY_START, basic_credentials
from cityos.sensing.sta.entities import ENTITY_TYPES, OBSERVATION
from cityos.sensing.sta.errors import StaRoute
from cityos.sensing.sta.paths import ResourcePath, parse_path
from cityos.sensing.sta.query_ast import QueryLimits, QueryOptions
from cityos.sensing.sta.query_parse import parse_options
from cityos.sensing.sta.serialize import row_id

PREFIX = "/sta/v1.1"
router = APIRouter(prefix=PREFIX, route_class=StaRoute, tags=["sensorthings"])

REQ = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
MQTT_CREATE = REQ + "create-observations-via-mqtt/observations-creation"
MQTT_RECEIVE = REQ + "receive-updates-via-mqtt/receive-updates"
CONFORMANCE = (
    REQ + "datamodel",
    REQ + "resource-path/resource-path-to-entities",
    REQ + "request-data",
    REQ + "create-update-delete",
    REQ + "batch-request/batch-request",
    REQ + "multi-datastream",
    REQ + "data-array/data-array",
)


def service_base(request: Request) -> str:
    """The absolute URL of the service root as this client reached it."""
    return str(request.base_url).rstrip("/") + PREFIX


def _basic_user(request: Request, db_session: Session, credentials: str) -> User:
    username, password = basic_credentials(credentials)
    if password.startswith(API_KEY_START):
        return auth_service.user_for_api_key(db_session, raw_key=password)
    return auth_service.authenticate(
        db_session,
        email=username,
        password=password,
        ip=client_ip(request),
        policy=auth_service.LoginPolicy(),
    )


def reader(request: Request, db_session: SessionDep) -> User | None:
    """Who reads: a Bearer API key, HTTP Basic, the browser session, or nobody (None)."""
    authorization = request.headers.get("authorization", "").strip()
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return auth_service.user_for_api_key(db_session, raw_key=credentials)
    if scheme.lower() == "basic":
        return _basic_user(request, db_session, credentials)
    token = session_token(request)
    return auth_service.user_for_session(db_session, token=token) if token else None


Reader = Annotated[User | None, Depends(reader, scope="function")]


def _public_endpoint(url: str) -> str:
    """``url`` without user name and password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def service_root(settings: Settings, base: str) -> dict[str, Any]:
    """The service root document: entity sets and ``serverSettings``."""
    value = [{"name": e.set_name, "url": f"{base}/{e.set_name}"} for e in ENTITY_TYPES]
    conformance = list(CONFORMANCE)
    server: dict[str, Any] = {"conformance": conformance}
    if settings.mqtt_url:
        conformance += [MQTT_CREATE, MQTT_RECEIVE]
        endpoints = {"endpoints": [_public_endpoint(settings.mqtt_url)]}
        server[MQTT_CREATE] = endpoints
        server[MQTT_RECEIVE] = endpoints
    else:
        unavailable = {
            "endpoints": [],
            "available": False,
            "reason": "No MQTT broker is configured (CITYOS_MQTT_URL is unset).",
        }
        server[MQTT_CREATE] = unavailable
        server[MQTT_RECEIVE] = unavailable
    return {"value": value, "serverSettings": server}


@router.get("", summary="SensorThings service root", include_in_schema=False)
@router.get("/", summary="SensorThings service root: entity sets and conformance classes")
def root(request: Request, settings: SettingsDep) -> JSONResponse:
    return JSONResponse(service_root(settings, service_base(request)))


def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params.items())


def _next_link(request: Request, page: read.Page) -> str | None:
    """The link to the next page whenever more entities match (as FROST-Server and the
    official clients expect): ``$top`` is the page size, capped at the server's maximum,
    and ``$skip`` moves on by one page."""
    if not page.more or page.top == 0:  # $top=0 asks for no entities: nothing follows
        return None
    params = _params(request)
    params["$skip"] = str(page.skip + page.top)
    params["$top"] = str(page.top)
    url = request.url.remove_query_params(["$skip", "$top"])
    return str(url.include_query_params(**params))


def _collection_body(
    count: int | None, next_link: str | None, value: list[dict[str, Any]]
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if count is not None:
        body["@iot.count"] = count
    if next_link is not None:
        body["@iot.nextLink"] = next_link
    body["value"] = value
    return body


@router.get("/{resource:path}", summary="Any SensorThings resource path")
def get_resource(
    resource: str,
    request: Request,
    db_session: SessionDep,
    settings: SettingsDep,
    user: Reader,
) -> Response:
    path = parse_path(resource)
    limits = QueryLimits.from_settings(settings)
    options = parse_options(_params(request), entity=path.target, limits=limits)
    with read.out_of_range(db_session):
        return _read(request, db_session, user, path, limits, options)


def _read(
    request: Request,
    db_session: Session,
    user: User | None,
    path: ResourcePath,
    limits: QueryLimits,
    options: QueryOptions,
) -> Response:
    target = read.resolve(db_session, path, user)
    base = service_base(request)
    public = user is None
    if path.count:
        count = read.count_only(db_session, target, options, public=public)
        return PlainTextResponse(str(count))
    if path.property is not None:
        return _property(db_session, target, path, base)
    if options.result_format == "dataArray" and (target.row is not None or path.ref):
        raise InvalidInput(
            "$resultFormat=dataArray applies to collections of Observations, "
            f"not to '{path.text()}'."
        )
    if target.row is not None:
        if path.ref:
            link = serialize.self_link(base, target.entity, row_id(target.row))
            return JSONResponse({"@iot.selfLink": link})
        body = serialize.entity_json(
            db_session,
            target.entity,
            [target.row],
            base=base,
            options=options,
            public=public,
            default_top=limits.default_top,
            max_top=limits.max_top,
        )[0]
        return JSONResponse(body)
    page = read.page(
        db_session,
        target,
        options,
        default_top=limits.default_top,
        max_top=limits.max_top,
        public=public,
    )
    next_link = _next_link(request, page)
    if path.ref:
        refs = [
            {"@iot.selfLink": serialize.self_link(base, target.entity, row_id(row))}
            for row in page.rows
        ]
        return JSONResponse(_collection_body(page.count, next_link, refs))
    if options.result_format == "dataArray":
        if target.entity is not OBSERVATION:
            raise InvalidInput(
                f"$resultFormat=dataArray applies to Observations, not to {target.entity.set_name}."
            )
        value = serialize.data_array_json(
            db_session,
            page.rows,  # type: ignore[arg-type]
            base=base,
            select_names=options.select,
        )
        return JSONResponse(_collection_body(page.count, next_link, value))
    value = serialize.entity_json(
        db_session,
        target.entity,
        page.rows,
        base=base,
        options=options,
        public=public,
        default_top=limits.default_top,
        max_top=limits.max_top,
    )
    return JSONResponse(_collection_body(page.count, next_link, value))


def _property(db_session: Session, target: read.Target, path: ResourcePath, base: str) -> Response:
    if target.row is None:  # the parser only allows a property after a single entity
        raise InvalidInput(f"'{path.text()}': a property belongs to one entity.")
    assert path.property is not None
    prop = target.entity.props[path.property]
    types = serialize.observation_types(db_session, [target.row])
    stream = getattr(target.row, "datastream_id", None)
    value = serialize.prop_value(
        target.row, prop, observation_type=types.get(stream) if stream else None
    )
    if value is None:
        return Response(status_code=204)
    if path.value:
        if isinstance(value, str):
            return PlainTextResponse(value)
        return Response(json.dumps(value), media_type="text/plain; charset=utf-8")
    return JSONResponse({path.property: value})


router.include_router(api_write.router)  # the write side (POST, PATCH, PUT, DELETE, $batch)
