"""SensorThings error responses: ``{"code": <status>, "type": "error", "message": …}``.

Every router under ``/sta/`` uses :class:`StaRoute` as its ``route_class`` so that domain
errors, request-validation errors and HTTP errors all answer in that shape instead of the
application's general error envelope (or an HTML page for browsers).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityos.errors import CityOSError, RateLimited


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The SensorThings error body for ``status`` with ``message``."""
    return JSONResponse(
        {"code": status, "type": "error", "message": message},
        status_code=status,
        headers=headers,
    )


def response_for(error: Exception) -> JSONResponse | None:
    """The error response for ``error``, or None when it is not a user-facing error."""
    if isinstance(error, RateLimited):
        return error_response(
            error.status_code, error.message, headers={"Retry-After": str(error.retry_after)}
        )
    if isinstance(error, CityOSError):
        return error_response(error.status_code, error.message)
    if isinstance(error, RequestValidationError):
        problems = [
            f"{'.'.join(str(part) for part in problem['loc'][1:]) or 'request'}: {problem['msg']}"
            for problem in error.errors()
        ]
        return error_response(400, "; ".join(problems) or "The request is not valid.")
    if isinstance(error, StarletteHTTPException):
        return error_response(
            error.status_code, str(error.detail), headers=getattr(error, "headers", None)
        )
    return None


class StaRoute(APIRoute):
    """A route whose errors answer in the SensorThings error format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                response = response_for(error)
                if response is None:
                    raise
                return response

        return handle
