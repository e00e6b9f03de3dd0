"""Browser protections: the CSRF cookie and check, and security headers on every response."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityos.auth.security import csrf_matches, csrf_token, new_token, sign, unsign
from cityos.config import Settings
from cityos.errors import Forbidden

CSRF_COOKIE = "cityos_csrf"
CSRF_SALT = "cityos-csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NO_COOKIE_PREFIXES = ("/open311/", "/api/3/action/", "/api/action/", "/catalog")  # machine clients


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


class BrowserMiddleware:
    """Give every browser a CSRF seed cookie and every response our security headers.

    Plain ASGI (no ``BaseHTTPMiddleware``): it only reads the request's cookie header and
    adds headers to the response's start message, so it costs next to nothing per request.
    Open311 clients get no cookie (they never send one back).
    """

    def __init__(self, app: ASGIApp, *, settings: Settings, secret_key: str) -> None:
        self.app = app
        self.settings = settings
        self.secret_key = secret_key
        self.headers = list(security_headers(settings).items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = HTTPConnection(scope).cookies.get(CSRF_COOKIE)
        seed = unsign(self.secret_key, cookie, salt=CSRF_SALT) if cookie else None
        fresh = seed is None and not scope["path"].startswith(NO_COOKIE_PREFIXES)
        seed = seed or new_token(16)
        state = scope.setdefault("state", {})
        state["csrf_seed"] = seed
        state["csrf_token"] = csrf_token(self.secret_key, seed)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    if name not in headers:
                        headers[name] = value
                if fresh:
                    headers.append("set-cookie", self._cookie(seed))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cookie(self, seed: str) -> str:
        value = sign(self.secret_key, seed, salt=CSRF_SALT)
        secure = "; Secure" if self.settings.cookie_secure else ""
        return f"{CSRF_COOKIE}={value}; HttpOnly; Path=/; SameSite=lax{secure}"


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
