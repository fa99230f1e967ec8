"""The province's public pages for citizens: a ticket's status at ``/t/{token}``, with no sign-in.

The QR code on a ticket points here when the site sets ``[province] public_url`` (the citizen's
phone is on 4G, not on the centre's Wi-Fi). A link is the ticket's unguessable token; the page shows
the number, the service, the people ahead and the estimated wait, the call ("Mời số B004 đến Quầy
5"), and the end, and nothing personal. From it a citizen may subscribe to a Web Push
notification, or give a phone number for the centre's SMS/Zalo gateway (when it has one).

Every client address has a budget (a token bucket per node): page and status reads, and, much
smaller, unknown links and subscriptions. Over it: 429 with ``Retry-After``. Behind a load
balancer or nginx, uvicorn takes the client's address from ``X-Forwarded-For`` for the proxies
named in ``FORWARDED_ALLOW_IPS`` (loopback by default).
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from onestop.ticket_links import looks_like_token
from province import citizens
from province.store import Store

log = logging.getLogger("onestop.province.public")

STATIC = Path(__file__).resolve().parent / "static"
HUB_TICKET_CSS = Path(__file__).resolve().parents[1] / "hub_api" / "static" / "ticket.css"
NO_CACHE = {"Cache-Control": "no-store"}
#: The page's own files only; no inline script, no framing, no referrer (the link is the secret).
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MAX_BODY = 4096
PHONE_RE = re.compile(r"^(?:\+?84|0)([35789][0-9]{8}|2[0-9]{9})$")


class Buckets:
    """Token buckets per client address: ``rate`` per second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._b: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            level, last = self._b.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level < 1:
                self._b[key] = (level, now)
                return (1 - level) / self.rate
            if len(self._b) >= self.max_keys and key not in self._b:
                self._b.clear()  # a flood of addresses: start over rather than grow without end
            self._b[key] = (level - 1, now)
            return 0.0


def normalise_phone(text: str) -> str | None:
    """A Vietnamese mobile or landline number as ``+84…``, or None."""
    digits = re.sub(r"[\s.()-]", "", text or "")
    m = PHONE_RE.match(digits)
    return f"+84{m.group(1)}" if m else None


_NOT_FOUND = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Không tìm thấy phiếu — onestop</title><link rel="stylesheet" href="/citizen/ticket.css">
<link rel="stylesheet" href="/citizen/citizen.css"></head>
<body><header class="bar"><h1 class="centre">Tra cứu số thứ tự</h1></header>
<main class="card notfound"><h1>Không tìm thấy phiếu</h1>
<p>Đường dẫn <code>{ticket}</code> không đúng hoặc đã hết hạn (phiếu chỉ xem được trong ngày cấp).
Nếu vừa lấy số, xin chờ một phút rồi tải lại trang; hoặc hỏi cán bộ hướng dẫn tại sảnh.</p>
<p class="en">Ticket not found: this link is wrong or has expired (a ticket can be followed on the day it is
issued). If you have just taken your number, wait a minute and reload, or ask at the help desk.</p>
</main></body></html>
"""

_SLOW_DOWN = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Xin thử lại sau</title><link rel="stylesheet" href="/citizen/ticket.css"></head>
<body><main class="card notfound"><h1>Xin thử lại sau ít phút</h1>
<p>Có quá nhiều yêu cầu từ thiết bị của bạn.</p>
<p class="en">Too many requests: please try again in a minute.</p>
</main></body></html>
"""


def add_public_routes(
    app: FastAPI, store: Store, *, push_hosts: tuple[str, ...] = citizens.PUSH_HOSTS,
    read_rate: tuple[float, float] = (1.0, 60.0), miss_rate: tuple[float, float] = (0.05, 20.0),
    write_rate: tuple[float, float] = (0.05, 10.0),
) -> None:  # fmt: skip
    """``/t/{token}``, its JSON, its service worker and the subscriptions (public: no token)."""
    reads, misses, writes = Buckets(*read_rate), Buckets(*miss_rate), Buckets(*write_rate)
    vapid: dict[str, str] = {}

    def client(request: Request) -> str:
        return request.client.host if request.client else "?"

    def limited(bucket: Buckets, request: Request, page: bool = False) -> Response | None:
        wait = bucket.take(client(request))
        if not wait:
            return None
        headers = {**HEADERS, "Retry-After": str(max(1, round(wait)))}
        if page:
            return HTMLResponse(_SLOW_DOWN, status_code=429, headers=headers)
        return JSONResponse({"error": "too many requests"}, status_code=429, headers=headers)

    def unavailable() -> JSONResponse:
        return JSONResponse(
            {"error": "unavailable, retry later"}, status_code=503, headers={"Retry-After": "5"}
        )

    async def db(fn: Any, *args: Any) -> Any:
        def run() -> Any:
            with store.pool.connection() as conn:
                return fn(conn, *args)

        return await run_in_threadpool(run)

    def exists(conn: psycopg.Connection, token: str) -> bool:
        return conn.execute("SELECT 1 FROM public_tickets WHERE token = %s", (token,)).fetchone() is not None

    async def known(token: str) -> bool:
        return looks_like_token(token) and bool(await db(exists, token))

    @app.get("/citizen/sw.js", include_in_schema=False)
    def service_worker() -> FileResponse:
        return FileResponse(
            STATIC / "sw.js", media_type="text/javascript",
            headers={**HEADERS, **NO_CACHE, "Service-Worker-Allowed": "/t/"},
        )  # fmt: skip

    @app.get("/citizen/ticket.css", include_in_schema=False)
    def ticket_css() -> FileResponse:
        return FileResponse(HUB_TICKET_CSS, media_type="text/css", headers=HEADERS)

    @app.get("/citizen/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in ("citizen.css", "citizen.js", "icon.svg"):
            return Response(status_code=404)
        kind = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
        return FileResponse(STATIC / name, media_type=kind, headers=HEADERS)

    @app.get("/t/{token:path}", include_in_schema=False)
    async def page(token: str, request: Request) -> Response:
        """The status page; a friendly 404 page for an unknown or expired link."""
        if slow := limited(reads, request, page=True):
            return slow
        try:
            found = await known(token)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return unavailable()
        if not found:
            if slow := limited(misses, request, page=True):
                return slow
            body = _NOT_FOUND.format(ticket=html.escape(token[:64]))
            return HTMLResponse(body, status_code=404, headers={**HEADERS, **NO_CACHE})
        return FileResponse(STATIC / "ticket.html", headers={**HEADERS, **NO_CACHE})

    @app.get("/api/v1/public/tickets/{token}")
    async def status(token: str, request: Request) -> Response:
        if slow := limited(reads, request):
            return slow
        try:
            st = await db(citizens.public_status, token)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return unavailable()
        if st is None:
            if slow := limited(misses, request):
                return slow
            return JSONResponse({"error": "no ticket with this link"}, status_code=404, headers=HEADERS)
        return JSONResponse(st, headers={**HEADERS, **NO_CACHE})

    @app.get("/api/v1/public/push-key")
    async def push_key(request: Request) -> Response:
        """The VAPID public key a browser subscribes with (``applicationServerKey``)."""
        if slow := limited(reads, request):
            return slow
        if "key" not in vapid:
            try:
                vapid["key"] = citizens.vapid_public_key(await db(citizens.vapid_private_key))
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
                return unavailable()
        return JSONResponse({"key": vapid["key"]}, headers=HEADERS)

    async def body_of(request: Request) -> dict[str, Any] | None:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                return None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return doc if isinstance(doc, dict) else None

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=HEADERS)

    @app.post("/api/v1/public/tickets/{token}/push")
    async def subscribe_push(token: str, request: Request) -> Response:
        """Store a browser's push subscription for this ticket (``PushSubscription.toJSON()``)."""
        if slow := limited(writes, request):
            return slow
        doc = await body_of(request)
        keys = doc.get("keys") if doc else None
        endpoint = doc.get("endpoint") if doc else None
        if not isinstance(keys, dict) or not isinstance(endpoint, str):
            return refuse(400, "expected {endpoint, keys: {p256dh, auth}}")
        p256dh, auth = keys.get("p256dh"), keys.get("auth")
        if not (isinstance(p256dh, str) and re.fullmatch(r"[A-Za-z0-9_-]{80,100}=*", p256dh)):
            return refuse(400, "keys.p256dh: expected a base64url P-256 point")
        if not (isinstance(auth, str) and re.fullmatch(r"[A-Za-z0-9_-]{16,32}=*", auth)):
            return refuse(400, "keys.auth: expected 16 bytes, base64url")
        if not citizens.push_endpoint_allowed(endpoint, push_hosts):
            return refuse(400, "endpoint: not a known push service")

        def put(conn: psycopg.Connection) -> bool:
            cur = conn.execute(
                """INSERT INTO push_subscriptions (token, endpoint, p256dh, auth)
                   SELECT %s, %s, %s, %s WHERE EXISTS
                       (SELECT 1 FROM public_tickets
                        WHERE token = %s AND status IN ('waiting', 'called', 'skipped'))
                   AND (SELECT count(*) FROM push_subscriptions WHERE token = %s) < 5
                   ON CONFLICT (token, endpoint)
                   DO UPDATE SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth""",
                (token, endpoint, p256dh, auth, token, token),
            )
            return cur.rowcount == 1

        try:
            ok = looks_like_token(token) and await db(put)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return unavailable()
        if not ok:
            return refuse(404, "no ticket waiting with this link")
        return JSONResponse({"subscribed": True}, status_code=201, headers=HEADERS)

    @app.delete("/api/v1/public/tickets/{token}/push")
    async def unsubscribe_push(token: str, request: Request) -> Response:
        if slow := limited(writes, request):
            return slow
        doc = await body_of(request)
        endpoint = doc.get("endpoint") if doc else None
        if not isinstance(endpoint, str):
            return refuse(400, "expected {endpoint}")
        try:
            sql = "DELETE FROM push_subscriptions WHERE token = %s AND endpoint = %s"
            await db(lambda c: c.execute(sql, (token, endpoint)))
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return unavailable()
        return Response(status_code=204, headers=HEADERS)

    @app.post("/api/v1/public/tickets/{token}/phone")
    async def subscribe_phone(token: str, request: Request) -> Response:
        """A phone number for the centre's SMS/Zalo gateway, kept until the ticket ends. The number
        is personal data: it is never logged, and this answer does not repeat it."""
        if slow := limited(writes, request):
            return slow
        doc = await body_of(request)
        phone = normalise_phone(doc.get("phone", "")) if doc and isinstance(doc.get("phone"), str) else None
        if phone is None:
            return refuse(400, "phone: expected a Vietnamese phone number, such as 0912345678")

        def put(conn: psycopg.Connection) -> bool:
            cur = conn.execute(
                """INSERT INTO phone_subscriptions (token, phone)
                   SELECT t.token, %s FROM public_tickets t JOIN site_notify n ON n.site = t.site
                   WHERE t.token = %s AND t.status IN ('waiting', 'called', 'skipped')
                     AND n.gateway_url IS NOT NULL
                   ON CONFLICT (token) DO UPDATE SET phone = EXCLUDED.phone, near_sent = false""",
                (phone, token),
            )
            return cur.rowcount == 1

        try:
            ok = looks_like_token(token) and await db(put)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return unavailable()
        if not ok:
            return refuse(404, "no ticket waiting with this link at a centre with messages")
        return JSONResponse({"subscribed": True}, status_code=201, headers=HEADERS)

    @app.delete("/api/v1/public/tickets/{token}/phone")
    async def forget_phone(token: str, request: Request) -> Response:
        if slow := limited(writes, request):
            return slow
        try:
            await db(lambda c: c.execute("DELETE FROM phone_subscriptions WHERE token = %s", (token,)))
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return unavailable()
        return Response(status_code=204, headers=HEADERS)
