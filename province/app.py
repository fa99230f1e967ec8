"""The province node's HTTP API: the site-facing back-end contract (ARCHITECTURE §4) and health.

A site's hub forwards to ``{backend.url}/queue-records`` and ``{backend.url}/ratings``; for a
province, ``backend.url`` is ``https://{province host}/api/v1``. Each site has its own bearer token
(``onestop province site add``); the token decides the site, and a batch for another site is
refused (403). Answers follow §4: 200 stored, 409 the key was stored before (delivered), 400 a batch
that breaks the contract, 401/403 for tokens, 413 too large, 503 while the database is unreachable
(the hub retries later, with the same key).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from onestop.fake_backend import STREAMS, BadRequest, check_batch
from province import lookups
from province.store import Store

log = logging.getLogger("onestop.province.app")

#: The largest batch body accepted (a hub sends at most a few hundred records per batch).
MAX_BODY_BYTES = 8 * 1024 * 1024
PREFIX = "/api/v1"


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None when it is longer than ``cap`` (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(store: Store, *, push_hosts: tuple[str, ...] | None = None) -> FastAPI:
    app = FastAPI(title="onestop province", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store

    async def authenticate(request: Request) -> str | JSONResponse:
        """The site of the request's bearer token, or the answer that refuses it."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "bad or missing bearer token", **{"WWW-Authenticate": "Bearer"})
        try:
            site = await run_in_threadpool(store.site_of, token.strip())
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("database unreachable: %s", exc)
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        if site is None:
            return _error(401, "bad or missing bearer token", **{"WWW-Authenticate": "Bearer"})
        return site

    async def receive(stream: str, request: Request) -> JSONResponse:
        site = await authenticate(request)
        if isinstance(site, JSONResponse):
            return site
        body = await _read_capped(request, MAX_BODY_BYTES)
        if body is None:
            return _error(413, f"batch larger than {MAX_BODY_BYTES} bytes")
        try:
            key, batch_site, records = check_batch(stream, request.headers.get("idempotency-key"), body)
            if batch_site != site:
                log.warning("site %s sent a batch for site %s: refused", site, batch_site)
                return _error(403, f"this token belongs to site {site!r}, not {batch_site!r}")
            receipt = await run_in_threadpool(store.ingest, stream, key, site, records)
        except BadRequest as exc:
            log.info("site %s: batch refused: %s", site, exc)
            return _error(400, str(exc))
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("database unreachable: %s", exc)
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        return JSONResponse(receipt.body(), status_code=receipt.status)

    for stream in STREAMS:

        async def endpoint(request: Request, _stream: str = stream) -> JSONResponse:
            return await receive(_stream, request)

        app.add_api_route(f"{PREFIX}/{stream}", endpoint, methods=["POST"], name=f"receive {stream}")

    async def lookup(request: Request, find: Callable[[psycopg.Connection, str], Any]) -> JSONResponse:
        site = await authenticate(request)
        if isinstance(site, JSONResponse):
            return site

        def run() -> Any:
            with store.pool.connection() as conn:
                return find(conn, site)

        try:
            found = await run_in_threadpool(run)
        except BadRequest as exc:
            return _error(400, str(exc))
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("database unreachable: %s", exc)
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        if found is None:
            return _error(404, "not found")
        return JSONResponse(found)

    # Lookups (docs/backend.md). Paths carry codes and, for citizen_*, an id number: this service
    # writes no access log, and its own log lines never name them.
    @app.get(f"{PREFIX}/bookings/{{code}}")
    async def get_booking(code: str, request: Request) -> JSONResponse:
        return await lookup(request, lambda conn, _site: lookups.booking(conn, code))

    @app.get(f"{PREFIX}/dossiers/{{code}}")
    async def get_dossier(code: str, request: Request) -> JSONResponse:
        return await lookup(request, lambda conn, _site: lookups.dossier(conn, code))

    @app.get(f"{PREFIX}/citizens/{{number}}/bookings")
    async def get_citizen_bookings(number: str, request: Request, date: str | None = None) -> JSONResponse:
        try:
            day = dt.date.fromisoformat(date) if date else dt.datetime.now(lookups.VN).date()
        except ValueError:
            return _error(400, "date: expected YYYY-MM-DD")
        return await lookup(request, lambda conn, site: lookups.citizen_bookings(conn, site, number, day))

    @app.get(f"{PREFIX}/citizens/{{number}}/dossiers")
    async def get_citizen_dossiers(number: str, request: Request) -> JSONResponse:
        return await lookup(request, lambda conn, site: lookups.citizen_dossiers(conn, site, number))

    async def person(request: Request) -> tuple[str, str, str | None] | JSONResponse:
        """(name, role, site) of a person's bearer token, or the answer that refuses it."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "bad or missing bearer token", **{"WWW-Authenticate": "Bearer"})
        try:
            who = await run_in_threadpool(store.person, token.strip())
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        if who is None:
            return _error(401, "bad or missing bearer token", **{"WWW-Authenticate": "Bearer"})
        return who

    @app.get(f"{PREFIX}/live")
    async def live(request: Request) -> JSONResponse:
        """Every centre now: waiting, counters open, device alerts, the link and when last seen.
        A centre manager sees only their centre."""
        who = await person(request)
        if isinstance(who, JSONResponse):
            return who
        _name, role, site = who
        try:
            centres = await run_in_threadpool(store.live, site if role == "centre" else None)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        return JSONResponse({"centres": centres})

    # The province dashboard: its API (JSON, CSV, printable pages), sign-in session and page.
    from province.dashboard import add_dashboard

    add_dashboard(app, store)

    # Citizens on 4G: the public ticket pages and their notifications (province/public.py).
    from province.citizens import PUSH_HOSTS
    from province.public import add_public_routes

    add_public_routes(app, store, push_hosts=PUSH_HOSTS if push_hosts is None else push_hosts)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        body: dict[str, Any] = {"node": store.node}
        try:
            with store.pool.connection(timeout=2.0) as conn:
                conn.execute("SELECT 1")
            body["database"] = "ok"
            return JSONResponse(body)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            body["database"] = f"unreachable: {exc}"
            return JSONResponse(body, status_code=503)

    return app
