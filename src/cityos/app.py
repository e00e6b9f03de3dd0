"""The FastAPI application factory: settings, database, routers, static files, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

import cityos
from cityos import instance
from cityos.assessment import api as assessment_api
from cityos.assessment import views as assessment_views
from cityos.audit import api as audit_api
from cityos.audit import views as audit_views
from cityos.auth import api as auth_api
from cityos.auth import views as auth_views
from cityos.cases import web as cases_web
from cityos.config import Settings, get_settings
from cityos.datahub import api as datahub_api
from cityos.datahub import api_rows as datahub_rows
from cityos.datahub import ckan_api, dcat_api
from cityos.datahub import views as datahub_views
from cityos.db import current_revision, ensure_schema_current, make_engine, make_session_factory
from cityos.errors import CityOSError, RateLimited
from cityos.geo import api as geo_api
from cityos.geo import views as geo_views
from cityos.notify import api as notify_api
from cityos.notify import views as notify_views
from cityos.ops import api as ops_api
from cityos.ops import live as ops_live
from cityos.ops import views as ops_views
from cityos.relay import start_relay
from cityos.sensing import api as sensing_api
from cityos.sensing import ingest as sensing_ingest
from cityos.sensing import views as sensing_views
from cityos.sensing.sta import api as sta_api
from cityos.web import views as web_views
from cityos.web.render import Page
from cityos.web.security import BrowserMiddleware, csrf_protect
from cityos.worker import Worker


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app. Refuses to start when the database schema is not up to date."""
    settings = settings or get_settings()
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    ensure_schema_current(engine)
    session_factory = make_session_factory(engine)
    with session_factory() as db_session:
        secret_key = instance.secret_key(db_session, settings.secret_key)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = Worker(session_factory, settings) if settings.worker_interval_seconds else None
        if worker:
            worker.start()
        stop_mqtt = sensing_ingest.start_in_server(settings, session_factory)
        stop_relay = start_relay(settings)  # helper C: live events between processes
        yield
        stop_relay()
        stop_mqtt()
        if worker:
            worker.stop()
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="CityOS",
        version=cityos.__version__,
        summary="One platform for a city's services, sensors, data and assessment.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.secret_key = secret_key
    # Open311, CKAN and SensorThings clients authenticate with API keys, not the session cookie
    app.state.csrf_exempt = ["/open311/", "/api/3/action/", "/api/action/", "/sta/"]
    app.add_middleware(datahub_api.UploadLimit, settings=settings)
    app.add_middleware(BrowserMiddleware, settings=settings, secret_key=secret_key)
    static = resources.files("cityos").joinpath("web", "static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    routers = (
        web_views,
        auth_views,
        auth_api,
        audit_views,
        audit_api,
        geo_views,
        geo_api,
        notify_views,
        notify_api,
        assessment_api,
        assessment_views,
        datahub_rows,
        datahub_api,
        ckan_api,
        dcat_api,
        datahub_views,
        sensing_api,
        sensing_views,
        sta_api,
        ops_api,
        ops_live,
        ops_views,
    )
    for router in cases_web.ROUTERS:  # first: public intake APIs are the hottest paths
        app.include_router(router)
    for module in routers:
        app.include_router(module.router)
    _add_health(app)
    _add_error_handlers(app)
    return app


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["platform"], summary="Is the service up and its database reachable?")
    def healthz() -> JSONResponse:
        try:
            with app.state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            revision = current_revision(app.state.engine)
        except Exception as error:
            detail = f"database unreachable: {type(error).__name__}"
            return JSONResponse({"status": "error", "database": detail}, status_code=503)
        return JSONResponse(
            {"status": "ok", "database": "ok", "schema": revision, "version": cityos.__version__}
        )


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/healthz", "/openapi.json")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _page(request: Request) -> Page:
    return Page(request, getattr(request.state, "user", None))


def _error_page(request: Request, status: int, message: str, details: Any = None) -> Response:
    if status == 401:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return _page(request).render(
        "error.html", {"status": status, "message": message, "details": details}, status_code=status
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CityOSError)
    async def domain_error(request: Request, error: CityOSError) -> Response:
        headers = (
            {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
        )
        if wants_html(request):
            response = _error_page(request, error.status_code, error.message, error.details)
            if headers:
                response.headers.update(headers)
            return response
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.details is not None:
            body["details"] = error.details
        return JSONResponse({"error": body}, status_code=error.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = [
            {
                "field": ".".join(str(part) for part in problem["loc"][1:]) or "request",
                "message": problem["msg"],
            }
            for problem in error.errors()
        ]
        if wants_html(request):
            return _error_page(request, 400, "The form has problems.", problems)
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(
            {"error": {"code": "invalid_input", "message": message, "details": problems}},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = str(error.detail)
        if wants_html(request):
            return _error_page(request, error.status_code, message)
        return JSONResponse(
            {"error": {"code": "http_error", "message": message}},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )
