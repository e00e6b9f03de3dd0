"""The CKAN Action API at ``/api/3/action/{name}`` and ``/api/action/{name}``.

GET takes the action's parameters from the query string; POST from a JSON body (what
``ckanapi`` sends) or a form. Every answer is CKAN's envelope ``{"help", "success",
"result"}`` or ``{"help", "success": false, "error": {"__type", "message", …}}`` — also for
bad keys, bad parameters and unexpected failures, since CKAN clients read ``__type``.

Callers authenticate like CKAN's: the API key in ``X-CKAN-API-Key`` or ``Authorization``
(raw or ``Bearer``); without one, a browser's login session counts. The app exempts these
paths from the CSRF check (:data:`CSRF_EXEMPT`): clients send their key, not a cookie.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.config import Settings
from cityos.datahub import ckan
from cityos.datahub.ckan_actions import ACTIONS, Call
from cityos.db import transaction
from cityos.deps import session_token
from cityos.errors import CityOSError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["ckan"])

PREFIXES = ("/api/3/action", "/api/action")
CSRF_EXEMPT = tuple(f"{prefix}/" for prefix in PREFIXES)


class BadRequest(Exception):
    """A request CKAN refuses before running an action (400 ``Bad request - …``)."""


def caller(request: Request, db_session: Session) -> User | None:
    """The user of the API key sent (X-CKAN-API-Key, Authorization), else of the session."""
    key = request.headers.get("x-ckan-api-key", "").strip()
    if not key:
        authorization = request.headers.get("authorization", "").strip()
        key = (
            authorization[7:].strip()
            if authorization.lower().startswith("bearer ")
            else (authorization)
        )
    if key:
        return auth_service.user_for_api_key(db_session, raw_key=key)
    token = session_token(request)
    return auth_service.user_for_session(db_session, token=token) if token else None


async def read_params(request: Request) -> dict[str, Any]:
    """The action's parameters: query string (GET), JSON body or form (POST)."""
    if request.method == "GET":
        return _flatten(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        form = await request.form()
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        if len(items) == 1 and items[0][1] in {"", "1"} and items[0][0].lstrip().startswith("{"):
            body: Any = _json(items[0][0])  # CKAN's old style: the JSON as the only key
        else:
            return _flatten(items)
    else:
        raw = await request.body()
        if not raw.strip():
            return _flatten(request.query_params.multi_items())
        body = _json(raw.decode("utf-8", errors="replace"))
    if not isinstance(body, dict):
        raise BadRequest(
            f"Bad request data: Request data JSON decoded to {type(body).__name__} but it "
            "needs to be a dictionary."
        )
    return body


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"JSON Error: {error.msg} at character {error.pos} of the request body"
        ) from None


def _flatten(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Repeated keys become lists (as in CKAN)."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def _envelope(
    settings: Settings, action: str, *, result: Any = None, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"help": ckan.help_url(settings.base_url, action)}
    if error is None:
        body["success"] = True
        body["result"] = result
    else:
        body["success"] = False
        body["error"] = error
    return body


def _bad_request(settings: Settings, action: str, message: str) -> JSONResponse:
    error = {"__type": "Bad Request", "message": f"Bad request - {message}"}
    return JSONResponse(_envelope(settings, action, error=error), status_code=400)


def _run(request: Request, action: str, params: dict[str, Any]) -> JSONResponse:
    settings: Settings = request.app.state.settings
    try:
        with transaction(request.app.state.session_factory) as db_session:
            user = caller(request, db_session)
            request.state.user = user
            call = Call(db_session=db_session, user=user, base_url=settings.base_url)
            result = ACTIONS[action](call, params)
            body = _envelope(settings, action, result=result)
    except CityOSError as error:
        status, content = ckan.error_body(error)
        return JSONResponse(_envelope(settings, action, error=content), status_code=status)
    except Exception:
        logger.exception("CKAN action %s failed", action)
        failure = {"__type": "Internal Server Error", "message": "Internal Server Error"}
        return JSONResponse(_envelope(settings, action, error=failure), status_code=500)
    return JSONResponse(body)


async def _action(request: Request, action: str) -> JSONResponse:
    settings: Settings = request.app.state.settings
    if action not in ACTIONS:
        return _bad_request(settings, action, f"Action name not known: {action}")
    try:
        params = await read_params(request)
    except BadRequest as error:
        return _bad_request(settings, action, str(error))
    params.pop("callback", None)  # JSONP is not served
    return await run_in_threadpool(_run, request, action, params)


_DESCRIPTION = (
    "Actions: " + ", ".join(ACTIONS) + ". CKAN's envelope; errors carry __type (Not Found "
    "Error 404, Authorization Error 403, Validation Error 409). Also served at "
    "/api/action/{action}."
)
# One route per method on the documented path, so each OpenAPI operation has its own id;
# CKAN's short path is an alias left out of the schema.
for _method in ("GET", "POST"):
    router.add_api_route(
        f"{PREFIXES[0]}/{{action}}",
        _action,
        methods=[_method],
        operation_id=f"ckan_action_{_method.lower()}",
        summary="CKAN Action API (read actions)",
        description=_DESCRIPTION,
        response_class=JSONResponse,
    )
router.add_api_route(
    f"{PREFIXES[1]}/{{action}}",
    _action,
    methods=["GET", "POST"],
    include_in_schema=False,
    response_class=JSONResponse,
)
