"""Browser protections: the CSRF cookie and check, and security headers on every response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import Response

from cityos.auth.security import csrf_matches, csrf_token, new_token, sign, unsign
from cityos.config import Settings
from cityos.errors import Forbidden

CSRF_COOKIE = "cityos_csrf"
CSRF_SALT = "cityos-csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def tile_origin(tile_url: str) -> str | None:
    """The origin to allow images from for a tile URL template (``{s}`` → wildcard)."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(settings: Settings) -> str:
    images = " ".join(filter(None, ["'self'", "data:", tile_origin(settings.map_tile_url)]))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
    }
    if settings.cookie_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def make_browser_middleware(
    settings: Settings, secret_key: str
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Middleware: give every browser a CSRF seed cookie and every response our headers."""
    headers = security_headers(settings)

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        cookie = request.cookies.get(CSRF_COOKIE)
        seed = unsign(secret_key, cookie, salt=CSRF_SALT) if cookie else None
        fresh = seed is None
        request.state.csrf_seed = seed or new_token(16)
        request.state.csrf_token = csrf_token(secret_key, request.state.csrf_seed)
        response = await call_next(request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                sign(secret_key, request.state.csrf_seed, salt=CSRF_SALT),
                httponly=True,
                samesite="lax",
                secure=settings.cookie_secure,
                path="/",
            )
        return response

    return middleware


async def csrf_protect(request: Request) -> None:
    """Refuse unsafe requests made with the browser's cookies but without our CSRF token.

    Machine clients that authenticate with ``Authorization: Bearer`` are exempt, and so are
    path prefixes a domain registers in ``app.state.csrf_exempt`` (standards whose clients
    send their own key, such as Open311's ``api_key``).
    """
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if any(request.url.path.startswith(prefix) for prefix in request.app.state.csrf_exempt):
        return
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    seed: str | None = getattr(request.state, "csrf_seed", None)
    if not token or seed is None or not csrf_matches(request.app.state.secret_key, seed, token):
        raise Forbidden(
            "The form's security token is missing or out of date (CSRF check). "
            "Reload the page and submit it again."
        )
