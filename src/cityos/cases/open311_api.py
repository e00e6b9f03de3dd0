"""Open311 GeoReport v2 at ``/open311/v2``: the thin web router over :mod:`cases.open311`.

Every call ends in ``.xml`` or ``.json``. Handlers read the raw query string and form (so an
empty parameter counts as absent and no framework validation error can escape), run the
service in their own transaction, and answer every error — bad input, a bad key, an unknown
path, an unexpected failure — in the Open311 error format with its HTTP status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityos.audit.service import Actor
from cityos.cases import catalog_cache, open311, open311_params, open311_search
from cityos.cases.catalog import get_category, list_categories
from cityos.cases.intake import CaseInput, CasePolicy, open_case
from cityos.cases.models import CaseSource
from cityos.cases.open311 import BASE_PATH, Format
from cityos.cases.photos import PhotoUpload
from cityos.cases.workflow import get_case
from cityos.config import Settings
from cityos.db import serial_writes, transaction, utcnow
from cityos.errors import CityOSError, InvalidInput, NotFound, RateLimited

logger = logging.getLogger(__name__)
router = APIRouter(tags=["open311"])

CALLS = (
    "GET discovery, GET services, GET services/{service_code}, POST requests, "
    "GET tokens/{token}, GET requests, GET requests/{service_request_id}"
)
Build = Callable[[Session, Settings, Mapping[str, str]], tuple[Any, str, str | None]]


def _read(
    path: str, *, summary: str
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a read call for GET (documented) and HEAD."""

    def register(handler: Callable[..., Response]) -> Callable[..., Response]:
        router.head(path, include_in_schema=False)(handler)
        return router.get(path, summary=summary)(handler)

    return register


def _format_of_path(path: str) -> Format:
    return Format.JSON if path.lower().endswith(".json") else Format.XML


def error_response(error: CityOSError, fmt: Format, *, status: int | None = None) -> Response:
    status = status or open311.error_status(error)
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return Response(
        open311.render_errors(open311.error_records(error, status), fmt),
        status_code=status,
        media_type=fmt.media_type,
        headers=headers,
    )


def _failure(fmt: Format) -> Response:
    logger.exception("Open311 call failed")
    problem = CityOSError("The server failed to answer this call; please try again later.")
    return error_response(problem, fmt, status=500)


def query_params(request: Request) -> dict[str, str]:
    """Query parameters; empty ones dropped, repeated ones joined with commas."""
    found: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if not value.strip():
            continue
        found[key] = f"{found[key]},{value}" if key in found else value
    return found


def _serve(request: Request, fmt_text: str, build: Build) -> Response:
    """Run ``build`` in a transaction; it returns (data, XML root, XML item or None)."""
    fmt = _format_of_path(request.url.path)
    try:
        fmt = open311.parse_format(fmt_text)
        params = query_params(request)
        settings: Settings = request.app.state.settings
        with transaction(request.app.state.session_factory) as db_session:
            open311_search.check_jurisdiction(db_session, params.get("jurisdiction_id"))
            data, root, item = build(db_session, settings, params)
            body = open311.render(data, fmt, root=root, item=item)
    except CityOSError as error:
        return error_response(error, fmt)
    except Exception:
        return _failure(fmt)
    return Response(body, media_type=fmt.media_type)


# --- discovery and services --------------------------------------------------------------


@_read(f"{BASE_PATH}/discovery.{{fmt}}", summary="Open311 discovery")
def discovery(request: Request, fmt: str) -> Response:
    def build(db_session: Session, settings: Settings, _: Mapping[str, str]) -> Any:
        categories = list_categories(db_session, include_inactive=True)
        zone = open311.city_zone(settings.timezone)
        changeset = open311_search.catalog_changeset(categories)
        data = open311.discovery(base_url=settings.base_url, changeset=changeset, zone=zone)
        return data, "discovery", None

    return _serve(request, fmt, build)


@_read(f"{BASE_PATH}/services.{{fmt}}", summary="Open311 service list")
def services(request: Request, fmt: str) -> Response:
    def build(db_session: Session, _settings: Settings, _: Mapping[str, str]) -> Any:
        data = [open311.service_record(c) for c in list_categories(db_session)]
        return data, "services", "service"

    return _serve(request, fmt, build)


@_read(f"{BASE_PATH}/services/{{service_code}}.{{fmt}}", summary="Open311 service definition")
def service_definition(request: Request, service_code: str, fmt: str) -> Response:
    def build(db_session: Session, _settings: Settings, _: Mapping[str, str]) -> Any:
        category = get_category(db_session, service_code=service_code)
        return open311.service_definition(category), "service_definition", None

    return _serve(request, fmt, build)


# --- requests ----------------------------------------------------------------------------


@_read(f"{BASE_PATH}/requests.{{fmt}}", summary="Open311 search requests")
def search_requests(request: Request, fmt: str) -> Response:
    def build(db_session: Session, settings: Settings, params: Mapping[str, str]) -> Any:
        zone = open311.city_zone(settings.timezone)
        search = open311_params.parse_search(params, now=utcnow(), zone=zone)
        cases = open311_search.search_page(
            db_session, search, now=utcnow(), extensions=search.extensions
        )
        context = open311_search.load_context(
            db_session,
            cases,
            zone=zone,
            base_url=settings.base_url,
            notes=search.notes,
            extensions=search.extensions,
        )
        data = [open311.request_record(case, context) for case in cases]
        return data, "service_requests", "request"

    return _serve(request, fmt, build)


@_read(f"{BASE_PATH}/requests/{{request_id}}.{{fmt}}", summary="Open311 one request")
def one_request(request: Request, request_id: str, fmt: str) -> Response:
    def build(db_session: Session, settings: Settings, params: Mapping[str, str]) -> Any:
        problems: list[dict[str, str]] = []
        extensions = open311_params.parse_bool(
            params.get("extensions"), name="extensions", problems=problems
        )
        notes = open311_params.parse_bool(params.get("notes"), name="notes", problems=problems)
        if problems:
            raise InvalidInput(problems[0]["message"], details=problems)
        case = get_case(db_session, case_id=request_id)
        view = open311.CaseView.of(case)
        context = open311_search.load_context(
            db_session,
            [view],
            zone=open311.city_zone(settings.timezone),
            base_url=settings.base_url,
            notes=notes or extensions,
            extensions=extensions,
            categories={case.category_id: case.category},
        )
        return [open311.request_record(view, context)], "service_requests", "request"

    return _serve(request, fmt, build)


@_read(f"{BASE_PATH}/tokens/{{token}}.{{fmt}}", summary="Open311 request id from a token")
def token(request: Request, token: str, fmt: str) -> Response:
    def build(db_session: Session, _settings: Settings, _: Mapping[str, str]) -> Any:
        case_id = open311_search.case_for_token(db_session, token)
        data = [{"service_request_id": str(case_id), "token": token}]
        return data, "service_requests", "request"

    return _serve(request, fmt, build)


@router.post(f"{BASE_PATH}/requests.{{fmt}}", summary="Open311 create a request")
async def create_request(request: Request, fmt: str) -> Response:
    """Form-encoded or multipart (``media`` file parts are photos, as the web form's)."""
    chosen = _format_of_path(request.url.path)
    try:
        chosen = open311.parse_format(fmt)
        settings: Settings = request.app.state.settings
        limit = int(settings.max_photo_mb * 1_000_000) + 1_000_000
        try:
            form = await request.form(max_part_size=limit)
        except StarletteHTTPException as error:
            raise InvalidInput(f"The request body could not be read: {error.detail}") from None
        pairs: list[tuple[str, str]] = []
        uploads: list[PhotoUpload] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key in ("media", "media[]"):
                    data = await value.read()
                    uploads.append(PhotoUpload(filename=value.filename or "media", data=data))
            else:
                pairs.append((key, value))
        await form.close()
        fields: dict[str, str] = {}
        for key, value in pairs:
            if value.strip() and key not in fields:
                fields[key] = value.strip()
        for key, value in query_params(request).items():
            fields.setdefault(key, value)  # some clients send api_key in the query string
        ip = request.client.host if request.client else None
        body = await run_in_threadpool(
            _create, request, chosen, fields, open311_params.parse_attributes(pairs), uploads, ip
        )
    except CityOSError as error:
        return error_response(error, chosen)
    except Exception:
        return _failure(chosen)
    return Response(body, media_type=chosen.media_type)


def _float(fields: Mapping[str, str], name: str) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be a number (WGS84 degrees), not {value!r}.",
            details=[{"field": name, "message": f"{name} must be a number, not {value!r}."}],
        ) from None


def _create(
    request: Request,
    fmt: Format,
    fields: Mapping[str, str],
    attributes: Mapping[str, str | list[str]],
    uploads: list[PhotoUpload],
    ip: str | None,
) -> bytes:
    settings: Settings = request.app.state.settings
    names = [fields.get("first_name"), fields.get("last_name")]
    factory = request.app.state.session_factory
    # Reports with photos spend most of their time re-encoding them: they need not queue.
    writer = nullcontext() if uploads else serial_writes(request.app.state.engine)
    with writer, transaction(factory) as db_session:
        key = open311_search.api_key_for(db_session, fields.get("api_key"))
        open311_search.check_jurisdiction(db_session, fields.get("jurisdiction_id"))
        data = CaseInput(
            service_code=fields.get("service_code"),
            lat=_float(fields, "lat"),
            lon=_float(fields, "long"),
            address=fields.get("address_string", ""),
            address_id=fields.get("address_id"),
            description=fields.get("description", ""),
            attributes=attributes,
            contact_name=" ".join(name for name in names if name) or None,
            contact_email=fields.get("email"),
            contact_phone=fields.get("phone"),
            device_id=fields.get("device_id"),
            account_id=fields.get("account_id"),
            photos=uploads,
            media_url=fields.get("media_url"),
            source=CaseSource.OPEN311,
            api_key_id=key.id,
        )
        actor = Actor(user_id=key.user_id, label=f"open311:{key.name}", ip=ip)
        case = open_case(db_session, data, actor=actor, policy=CasePolicy.from_settings(settings))
        # The category as intake saw it (its per-process snapshot): no ORM load of the category.
        category = catalog_cache.snapshot(db_session).by_code[(data.service_code or "").strip()]
        record = open311.created_record(case, category)
    return open311.render([record], fmt, root="service_requests", item="request")


# --- anything else under /open311 --------------------------------------------------------


@router.api_route(
    "/open311/{rest:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
def unknown_call(request: Request, rest: str) -> Response:
    fmt = _format_of_path(request.url.path)
    if not rest.startswith("v2/"):
        message = (
            f"Open311 GeoReport v2 lives at {BASE_PATH}/ (for example {BASE_PATH}/discovery.xml)."
        )
    else:
        message = (
            f"There is no Open311 call {request.method} /open311/{rest}. The calls are: {CALLS}, "
            "each ending in .xml or .json."
        )
    return error_response(NotFound(message), fmt)
