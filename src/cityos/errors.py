"""Domain errors. Each carries its HTTP status; one handler in ``app.py`` maps them."""

from __future__ import annotations

from typing import Any


class CityOSError(Exception):
    """Base of every error a user can cause. ``message`` says what to fix."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(CityOSError):
    status_code = 400
    code = "invalid_input"


class Unauthorized(CityOSError):
    status_code = 401
    code = "unauthorized"


class Forbidden(CityOSError):
    status_code = 403
    code = "forbidden"


class NotFound(CityOSError):
    status_code = 404
    code = "not_found"


class Conflict(CityOSError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(CityOSError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(CityOSError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(CityOSError):
    status_code = 422
    code = "unprocessable"


class RateLimited(CityOSError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotImplementedFeature(CityOSError):
    """A part of a standard that this server does not offer (HTTP 501)."""

    status_code = 501
    code = "not_implemented"


class SchemaOutOfDate(CityOSError):
    status_code = 503
    code = "schema_out_of_date"
