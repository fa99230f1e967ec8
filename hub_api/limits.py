"""Request-body limits and security headers: pure ASGI middlewares of the hub's app.

**Bodies.** The hub's biggest legitimate request body is a few hundred bytes (a PIN, a counter
command, a token). A body over its route's cap is refused with **413** before it is read when its
``Content-Length`` says so, and as soon as the streamed (chunked) bytes pass the cap otherwise; a
body that takes longer than ``body_timeout_s`` to arrive is answered **408**. Nothing is buffered
past the cap.

**Headers.** Every answer carries a Content-Security-Policy that allows only the hub's own origin
(scripts from files, no inline script), ``X-Frame-Options: DENY``, ``X-Content-Type-Options:
nosniff`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub_api.server import RateLimitedLog

log = logging.getLogger("onestop.hub.limits")

#: Body caps by path prefix (first match wins), in bytes.
BODY_CAPS: tuple[tuple[str, int], ...] = (
    ("/api/caller/", 4 * 1024),  # a PIN, or a command with its id and arguments
    ("/api/session", 1024),  # an API token
)
#: The cap of every other route (none reads a body today).
DEFAULT_BODY_CAP = 16 * 1024
#: Seconds a request's whole body may take to arrive.
BODY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class BodyLimits:
    """The body caps and the body timeout of the app."""

    caps: tuple[tuple[str, int], ...] = BODY_CAPS
    default_cap: int = DEFAULT_BODY_CAP
    timeout_s: float = BODY_TIMEOUT_S

    def cap(self, path: str) -> int:
        """The cap of a request path."""
        for prefix, cap in self.caps:
            if path.startswith(prefix):
                return cap
        return self.default_cap


def _refusal(status: int, code: str, message: str) -> tuple[Message, Message]:
    body = orjson.dumps({"ok": False, "error": {"code": code, "message": message}, "detail": message})
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """Refuses request bodies over their route's cap (413) or slower than the body timeout (408)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.limits = limits or BodyLimits()
        self._say = RateLimitedLog(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limits.cap(scope["path"])
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None and (not declared.strip().isdigit() or int(declared) > cap):
            client = scope.get("client") or ("?", 0)
            self._say(
                "body cap", logging.WARNING,
                "refused a %s-byte body to %s %s from %s (cap %d)",
                declared[:20].decode("latin-1"), scope["method"], scope["path"], client[0], cap,
            )  # fmt: skip
            for message in _refusal(413, "too_large", f"request body over {cap} bytes"):
                await send(message)
            return

        received = 0
        deadline = time.monotonic() + self.limits.timeout_s
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.001))
            except TimeoutError:
                refused = True
                self._say(
                    "body time", logging.WARNING, "refused a body to %s %s from %s: not received within %g s",
                    scope["method"], scope["path"], (scope.get("client") or ("?",))[0], self.limits.timeout_s,
                )  # fmt: skip
                raise HTTPException(
                    408, f"request body not received within {self.limits.timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    refused = True
                    self._say(
                        "body cap", logging.WARNING, "refused a streamed body over %d bytes to %s %s from %s",
                        cap, scope["method"], scope["path"], (scope.get("client") or ("?",))[0],
                    )  # fmt: skip
                    raise HTTPException(413, f"request body over {cap} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if refused:  # the rest of the body is not wanted: close rather than read it all
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as exc:  # raised by limited_receive outside FastAPI's request handling
            if started or exc.status_code not in (408, 413):
                raise
            code = "too_large" if exc.status_code == 413 else "too_slow"
            for message in _refusal(exc.status_code, code, str(exc.detail)):
                await send(message)


#: Pages and API: own origin only; scripts from files (no inline script, no eval).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: Swagger UI and ReDoc (served by the hub itself) set inline styles and ReDoc runs a worker from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers of an answer to ``path``."""
    csp = DOCS_CSP if path in DOCS_PATHS else CSP
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


class SecurityHeadersMiddleware:
    """Adds :func:`security_headers` to every HTTP answer (keeping a header a route set itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: Sequence[tuple[bytes, bytes]] = message.get("headers", [])
                have = {name.lower() for name, _ in headers}
                message = {**message, "headers": [*headers, *(h for h in extra if h[0] not in have)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
