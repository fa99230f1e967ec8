"""``onestop fake-backend``: a reference one-stop back end for tests, benchmarks and ``onestop up``.

It implements ARCHITECTURE §4 over real HTTP: ``POST {prefix}/queue-records`` and
``POST {prefix}/ratings`` (any path prefix), a bearer token (401 otherwise), a checked body (400 with
the reason), de-duplication on ``Idempotency-Key`` (a repeated key is answered 409, which the
contract counts as delivered) and records kept in SQLite (a file, or memory). It can be told to
misbehave, by flags at start and at run time by a small control API (no authentication: it only
listens on loopback):

- ``POST /_control`` ``{"mode": "up"|"down"|"fail"|"slow"|"timeout", "stream": optional, ...}``
  (``down``: 503, optional ``for_s``; ``fail``: ``rate`` (1.0), ``status`` (500); ``slow``: ``ms``;
  ``timeout``: ``rate`` (1.0), ``hold_s`` (3600), ``store`` (true: the batch arrives, the answer
  does not); ``up``: all clear, held requests are answered), or ``{"token": "..."}``;
- ``GET /_records?stream=&after=&limit=``, ``GET /_batches?stream=``, ``GET /_stats``, ``POST /_reset``.

It also answers the lookups of docs/backend.md "Lookups" (``GET {prefix}/bookings/{code}``,
``…/dossiers/{code}``, ``…/citizens/{id}/bookings?date=`` and ``…/citizens/{id}/dossiers``) from a
:class:`~onestop.fake_lookups.LookupBook`: a fixtures file (``--lookups FILE``), a day generated from a
site file (``--generate-from site.toml``), or ``POST /_lookups`` at run time. The control modes apply
to them as the stream ``lookups``, plus ``huge`` (a 200 whose body never ends).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import random
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from onestop.errors import OnestopError
from onestop.fake_lookups import CITIZEN_ID_RE, FixtureError, LookupBook

log = logging.getLogger("onestop.fake_backend")

STREAMS = ("queue-records", "ratings")
#: The control API's name for the GET lookups (bookings, dossiers, citizens).
LOOKUPS = "lookups"
LOOKUP_KINDS = ("bookings", "dossiers", "citizen_bookings", "citizen_dossiers")
#: The keys every record of a stream must have (ARCHITECTURE §4).
RECORD_KEYS: dict[str, frozenset[str]] = {
    "queue-records": frozenset(
        {"ticket_id", "number", "service", "counter", "officer", "priority", "issued_at", "called_at",
         "finished_at", "wait_s", "service_s", "outcome"}
    ),
    "ratings": frozenset(
        {"ticket_id", "number", "service", "counter", "officer", "score", "level", "satisfied", "reasons",
         "comment", "rated_at"}
    ),
}  # fmt: skip
KEY_RE = re.compile(r"(?P<site>[^:]+):(?P<stream>[^:]+):(?P<first>\d+)-(?P<last>\d+)")
DEFAULT_TOKEN_ENV = "ONESTOP_BACKEND_TOKEN"

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (key TEXT PRIMARY KEY, stream TEXT NOT NULL, site TEXT NOT NULL,
                                    first INTEGER NOT NULL, last INTEGER NOT NULL, count INTEGER NOT NULL,
                                    sha256 TEXT NOT NULL, received_at TEXT NOT NULL,
                                    repeats INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS records (n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,
                                    stream TEXT NOT NULL, site TEXT NOT NULL, record TEXT NOT NULL);
"""


class BadRequest(ValueError):
    """A request that does not follow ARCHITECTURE §4 (answered 400 with the message)."""


@dataclass
class Behaviour:
    """How one stream's endpoint misbehaves (all zero: it behaves)."""

    down: bool = False
    down_until: float = 0.0
    fail_rate: float = 0.0
    fail_status: int = 500
    slow_ms: float = 0.0
    timeout_rate: float = 0.0
    hold_s: float = 3600.0
    timeout_stores: bool = True
    #: Lookups only: answer 200 with a body of this many bytes that is never valid JSON (0: off).
    huge_bytes: int = 0

    def is_down(self) -> bool:
        """503 now?"""
        return self.down or time.monotonic() < self.down_until


def records_hash(records: list[Any]) -> str:
    """A digest of a batch's records that does not depend on key order or whitespace."""
    return hashlib.sha256(orjson.dumps(records, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_batch(stream: str, key: str | None, body: bytes) -> tuple[str, str, list[dict[str, Any]]]:
    """A §4 batch's key, site and records, checked (:class:`BadRequest` with the reason otherwise)."""
    if not key:
        raise BadRequest("missing Idempotency-Key header")
    m = KEY_RE.fullmatch(key)
    if not m:
        raise BadRequest(f"Idempotency-Key {key!r}: expected '{{site}}:{{stream}}:{{first}}-{{last}}'")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"site", "records"}:
        raise BadRequest('body: expected an object {"site": str, "records": [...]}')
    site, records = doc["site"], doc["records"]
    if not isinstance(site, str) or not site:
        raise BadRequest("site: expected a non-empty string")
    if not isinstance(records, list) or not records:
        raise BadRequest("records: expected a non-empty list")
    if m["site"] != site or m["stream"] != stream or int(m["first"]) > int(m["last"]):
        raise BadRequest(f"Idempotency-Key {key!r} does not match site {site!r} and stream {stream!r}")
    need = RECORD_KEYS[stream]
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise BadRequest(f"records[{i}]: expected an object")
        missing = need - set(r)
        if missing:
            raise BadRequest(f"records[{i}]: missing {', '.join(sorted(missing))}")
    return key, site, records


class FakeBackend:
    """The back end's state and behaviour; :func:`create_app` serves it. Thread-safe for test reads."""

    def __init__(
        self,
        token: str | None = None,
        db: str = ":memory:",
        *,
        seed: int | None = None,
        lookups: LookupBook | None = None,
        **behaviour: Any,
    ) -> None:
        self.token = token
        self.db_path = db
        self.db = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        if db != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        base = Behaviour(**behaviour)
        self.behaviour: dict[str, Behaviour] = {s: Behaviour(**asdict(base)) for s in (*STREAMS, LOOKUPS)}
        #: The bookings and dossiers the lookups answer from.
        self.book = lookups or LookupBook()
        #: Lookups asked, by kind; and each one in order as (kind, code, status), the code of a
        #: citizen's lookup left out (even here, an id number is not kept).
        self.lookups_by_kind: Counter[str] = Counter()
        self.lookup_log: list[tuple[str, str, int]] = []
        self.changed = threading.Condition(self.lock)
        self.by_status: Counter[int] = Counter()
        self.requests = 0
        self.conflicts = 0
        self.held = 0
        self.held_total = 0
        #: Every answered or held request in order: (stream, key, status, records hash).
        self.log: list[tuple[str, str, int, str]] = []
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the contract ----------------------------------------------------------------------------
    def check(self, stream: str, key: str | None, body: bytes) -> tuple[str, str, list[dict[str, Any]]]:
        """The batch's key, site and records, or :class:`BadRequest`."""
        return check_batch(stream, key, body)

    def store(
        self, stream: str, key: str, site: str, records: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        """Keep a batch once per key: (200, receipt), or (409, the original receipt) for a repeat."""
        digest = records_hash(records)
        m = KEY_RE.fullmatch(key)
        assert m is not None
        with self.lock:
            old = self.db.execute(
                "SELECT count, sha256, received_at FROM batches WHERE key = ?", (key,)
            ).fetchone()
            if old is not None:
                self.db.execute("UPDATE batches SET repeats = repeats + 1 WHERE key = ?", (key,))
                if old[1] != digest:
                    self.conflicts += 1
                    log.error("key %s repeated with different records: the client broke the contract", key)
                receipt = {"status": "duplicate", "key": key, "accepted": old[0], "received_at": old[2]}
                return 409, receipt
            now = datetime.now(UTC).isoformat()
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO batches (key, stream, site, first, last, count, sha256, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, stream, site, int(m["first"]), int(m["last"]), len(records), digest, now),
            )
            self.db.executemany(
                "INSERT INTO records (key, stream, site, record) VALUES (?, ?, ?, ?)",
                [(key, stream, site, orjson.dumps(r).decode()) for r in records],
            )
            self.db.execute("COMMIT")
        return 200, {"status": "accepted", "key": key, "accepted": len(records), "received_at": now}

    async def handle(self, stream: str, request: Request) -> Response:
        """One POST of a batch, with whatever misbehaviour is set for the stream."""
        b = self.behaviour[stream]
        body = await request.body()
        key = request.headers.get("idempotency-key", "")
        with self.lock:
            self.requests += 1
        if b.is_down():
            return self._answer(stream, key, 503, {"error": "down"}, "")
        if not self._authorised(request.headers.get("authorization", "")):
            return self._answer(
                stream, key, 401, {"error": "bad or missing bearer token"}, "", {"WWW-Authenticate": "Bearer"}
            )
        try:
            key, site, records = self.check(stream, key, body)
        except BadRequest as exc:
            return self._answer(stream, key, 400, {"error": str(exc)}, "")
        if b.slow_ms > 0:
            await asyncio.sleep(b.slow_ms / 1000)
        if b.fail_rate > 0 and self.rng.random() < b.fail_rate:
            return self._answer(stream, key, b.fail_status, {"error": "told to fail"}, records_hash(records))
        if b.timeout_rate > 0 and self.rng.random() < b.timeout_rate:
            status, receipt = self.store(stream, key, site, records) if b.timeout_stores else (503, {})
            await self._hold(stream, key, records_hash(records), b.hold_s)
            return self._answer(stream, key, status, receipt, records_hash(records), logged=True)
        status, receipt = self.store(stream, key, site, records)
        return self._answer(stream, key, status, receipt, records_hash(records))

    # -- lookups (docs/backend.md "Lookups") ----------------------------------------------------------
    async def lookup(self, path: str, request: Request) -> Response:
        """One GET of a booking, a dossier or a citizen's list, with the misbehaviour set for ``lookups``."""
        found = parse_lookup_path(path)
        if found is None:
            return JSONResponse({"error": f"no such endpoint /{path}"}, status_code=404)
        kind, code = found
        b = self.behaviour[LOOKUPS]
        with self.changed:
            self.requests += 1
            self.lookups_by_kind[kind] += 1
            self.changed.notify_all()
        if b.is_down():
            return self._looked(kind, code, 503, {"error": "down"})
        if not self._authorised(request.headers.get("authorization", "")):
            return self._looked(kind, code, 401, {"error": "bad or missing bearer token"})
        if b.slow_ms > 0:
            await asyncio.sleep(b.slow_ms / 1000)
        if b.fail_rate > 0 and self.rng.random() < b.fail_rate:
            return self._looked(kind, code, b.fail_status, {"error": "told to fail"})
        if b.timeout_rate > 0 and self.rng.random() < b.timeout_rate:
            await self._hold(LOOKUPS, kind, "", b.hold_s)
        if b.huge_bytes > 0:
            self._looked(kind, code, 200, {})
            return StreamingResponse(_endless(b.huge_bytes), media_type="application/json")
        status, body = self.answer_lookup(kind, code, request.query_params.get("date"))
        return self._looked(kind, code, status, body)

    def answer_lookup(self, kind: str, code: str, day: str | None = None) -> tuple[int, Any]:
        """The status and body a well-behaved back end gives a lookup."""
        book = self.book
        if kind in ("bookings", "dossiers"):
            item = book.booking(code) if kind == "bookings" else book.dossier(code)
            return (200, item) if item is not None else (404, {"error": f"no {kind[:-1]} {code}"})
        if not CITIZEN_ID_RE.match(code):
            return 400, {"error": "an id number has 9 or 12 digits"}
        if kind == "citizen_bookings":
            return 200, {"bookings": book.citizen_bookings(code, day) or []}
        return 200, {"dossiers": book.citizen_dossiers(code) or []}

    def _looked(self, kind: str, code: str, status: int, body: Any) -> Response:
        with self.changed:
            self.by_status[status] += 1
            self.lookup_log.append((kind, "" if kind.startswith("citizen") else code, status))
            self.changed.notify_all()
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    def load_lookups(self, doc: dict[str, Any]) -> LookupBook:
        """Replace the bookings and dossiers with a fixtures document (:class:`BadRequest` if wrong)."""
        try:
            book = LookupBook.from_doc(doc)
        except FixtureError as exc:
            raise BadRequest(str(exc)) from None
        with self.lock:
            self.book = book
        return book

    def lookup_stats(self) -> dict[str, Any]:
        """What ``GET /_lookups`` shows: sizes of the book, its sample codes, lookups asked by kind."""
        with self.lock:
            return {
                "bookings": len(self.book.bookings),
                "dossiers": len(self.book.dossiers),
                "citizens": len(self.book.citizens),
                "samples": self.book.samples,
                "asked": dict(self.lookups_by_kind),
                "behaviour": asdict(self.behaviour[LOOKUPS]),
            }

    def _authorised(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False
        return self.token is None or hmac.compare_digest(given.strip().encode(), self.token.encode())

    def _answer(
        self,
        stream: str,
        key: str,
        status: int,
        body: dict[str, Any],
        digest: str,
        headers: dict[str, str] | None = None,
        *,
        logged: bool = False,
    ) -> Response:
        with self.changed:
            self.by_status[status] += 1
            if not logged:
                self.log.append((stream, key, status, digest))
            self.changed.notify_all()
        return JSONResponse(body, status_code=status, headers=headers)

    async def _hold(self, stream: str, key: str, digest: str, hold_s: float) -> None:
        if self._release is None:
            self._release = asyncio.Event()
            self._loop = asyncio.get_running_loop()
        release = self._release
        with self.changed:
            self.held += 1
            self.held_total += 1
            self.log.append((stream, key, 0, digest))  # 0: held, no answer given (yet)
            self.changed.notify_all()
        try:
            await asyncio.wait_for(release.wait(), hold_s)
        except TimeoutError:
            pass
        finally:
            with self.changed:
                self.held -= 1
                self.changed.notify_all()

    def release_held(self) -> None:
        """Answer every held request now (thread-safe)."""
        release, loop = self._release, self._loop
        self._release = None
        if release is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(release.set)

    # -- control ---------------------------------------------------------------------------------
    def control(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Apply a ``/_control`` document; return the behaviour now in force."""
        if "token" in doc:
            self.token = str(doc["token"]) if doc["token"] else None
        mode = doc.get("mode")
        stream = doc.get("stream")
        if stream is not None and stream not in (*STREAMS, LOOKUPS):
            raise BadRequest(f"stream: expected one of {', '.join((*STREAMS, LOOKUPS))}")
        targets = [stream] if stream else [*STREAMS, LOOKUPS]
        for s in targets:
            b = self.behaviour[s]
            if mode == "up":
                self.behaviour[s] = Behaviour()
            elif mode == "down":
                if "for_s" in doc:
                    b.down_until = time.monotonic() + float(doc["for_s"])
                else:
                    b.down = True
            elif mode == "fail":
                b.fail_rate = float(doc.get("rate", 1.0))
                b.fail_status = int(doc.get("status", 500))
            elif mode == "slow":
                b.slow_ms = float(doc.get("ms", 500))
            elif mode == "timeout":
                b.timeout_rate = float(doc.get("rate", 1.0))
                b.hold_s = float(doc.get("hold_s", 3600))
                b.timeout_stores = bool(doc.get("store", True))
            elif mode == "huge":
                b.huge_bytes = int(doc.get("bytes", 3 * 1024**3))
            elif mode is not None:
                raise BadRequest(f"mode: expected up, down, fail, slow, timeout or huge, got {mode!r}")
        if mode == "up":
            self.release_held()
        return {s: asdict(b) for s, b in self.behaviour.items()}

    def reset(self) -> None:
        """Forget every batch, record and counter (not the behaviour)."""
        with self.changed:
            self.db.execute("DELETE FROM batches")
            self.db.execute("DELETE FROM records")
            self.by_status.clear()
            self.requests = self.conflicts = self.held_total = 0
            self.log.clear()
            self.lookups_by_kind.clear()
            self.lookup_log.clear()
            self.changed.notify_all()

    # -- looking -----------------------------------------------------------------------------------
    def records(
        self, stream: str | None = None, after: int = 0, limit: int = 1_000_000
    ) -> list[dict[str, Any]]:
        """Stored records in arrival order: ``{"n", "key", "stream", "site", "record"}``."""
        sql = "SELECT n, key, stream, site, record FROM records WHERE n > ?"
        params: list[Any] = [after]
        if stream:
            sql += " AND stream = ?"
            params.append(stream)
        sql += " ORDER BY n LIMIT ?"
        params.append(limit)
        with self.lock:
            rows = self.db.execute(sql, params).fetchall()
        return [
            {"n": n, "key": k, "stream": s, "site": site, "record": orjson.loads(r)}
            for n, k, s, site, r in rows
        ]

    def batches(self, stream: str | None = None) -> list[dict[str, Any]]:
        """Accepted batches in arrival order, with how often each key came again."""
        sql = "SELECT key, stream, site, first, last, count, sha256, received_at, repeats FROM batches"
        params: tuple[Any, ...] = ()
        if stream:
            sql += " WHERE stream = ?"
            params = (stream,)
        with self.lock:
            cur = self.db.execute(sql + " ORDER BY rowid", params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def stats(self) -> dict[str, Any]:
        """Counters: requests, answers by status, per-stream records and batches, repeats, held."""
        with self.lock:
            per = {s: {"records": 0, "batches": 0, "repeats": 0} for s in STREAMS}
            for s, recs, n, rep in self.db.execute(
                "SELECT stream, SUM(count), COUNT(*), SUM(repeats) FROM batches GROUP BY stream"
            ):
                per[s] = {"records": recs, "batches": n, "repeats": rep}
            return {
                "requests": self.requests,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "streams": per,
                "records": sum(p["records"] for p in per.values()),
                "conflicts": self.conflicts,
                "held": self.held,
                "held_total": self.held_total,
                "behaviour": {s: asdict(b) for s, b in self.behaviour.items()},
            }

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds (checked at every request) or ``timeout`` passes."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


def create_app(backend: FakeBackend) -> FastAPI:
    """The HTTP face of a :class:`FakeBackend`."""
    app = FastAPI(title="onestop reference back end", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend

    async def read_json(request: Request) -> dict[str, Any]:
        try:
            doc = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise BadRequest("expected a JSON object")
        return doc

    @app.exception_handler(BadRequest)
    async def bad_request(_request: Request, exc: BadRequest) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.post("/_control")
    async def control(request: Request) -> dict[str, Any]:
        return backend.control(await read_json(request))

    @app.post("/_reset")
    async def reset() -> dict[str, Any]:
        backend.reset()
        return {"ok": True}

    @app.get("/_stats")
    async def stats() -> dict[str, Any]:
        return backend.stats()

    @app.get("/_records")
    async def records(stream: str | None = None, after: int = 0, limit: int = 10000) -> dict[str, Any]:
        rows = backend.records(stream, after, limit)
        return {"records": rows, "next": rows[-1]["n"] if rows else after}

    @app.get("/_batches")
    async def batches(stream: str | None = None) -> dict[str, Any]:
        return {"batches": backend.batches(stream)}

    @app.get("/_lookups")
    async def lookups() -> dict[str, Any]:
        return backend.lookup_stats()

    @app.post("/_lookups")
    async def load_lookups(request: Request) -> dict[str, Any]:
        backend.load_lookups(await read_json(request))
        return backend.lookup_stats()

    @app.get("/{path:path}")
    async def get_lookup(path: str, request: Request) -> Response:
        return await backend.lookup(path, request)

    @app.post("/{path:path}")
    async def post_batch(path: str, request: Request) -> Response:
        stream = path.rstrip("/").rpartition("/")[2]
        if stream not in STREAMS:
            return JSONResponse({"error": f"no such endpoint /{path}"}, status_code=404)
        return await backend.handle(stream, request)

    return app


def parse_lookup_path(path: str) -> tuple[str, str] | None:
    """``(kind, code)`` of ``<prefix>/bookings/{code}``, ``…/dossiers/{code}``,
    ``…/citizens/{id}/bookings`` or ``…/citizens/{id}/dossiers``; None for any other path."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[-3] == "citizens" and parts[-1] in ("bookings", "dossiers"):
        return f"citizen_{parts[-1]}", parts[-2]
    if len(parts) >= 2 and parts[-2] in ("bookings", "dossiers"):
        return parts[-2], parts[-1]
    return None


async def _endless(size: int) -> AsyncIterator[bytes]:
    """A JSON-looking body of ``size`` bytes that never closes its array (a back end gone mad)."""
    chunk = b"[" + b"0," * (32 * 1024 - 1)
    sent = 0
    while sent < size:
        part = chunk[: size - sent]
        sent += len(part)
        yield part
        await asyncio.sleep(0)


# -- running it ------------------------------------------------------------------------------------


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` on loopback (the control API has no authentication)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise OnestopError(f"--listen: expected HOST:PORT, got {listen!r}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise OnestopError(f"--listen {listen}: the reference back end only listens on loopback")
    return host, int(port)


class BackendServer:
    """A :class:`FakeBackend` served by uvicorn in a thread (tests, benchmarks): ``start()``, ``stop()``."""

    def __init__(self, backend: FakeBackend, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.backend = backend
        self.host = host
        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(backend),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` (once started, with the port actually bound)."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackendServer:
        """Serve in a daemon thread; return once it listens."""
        self._thread = threading.Thread(target=self.server.run, name="fake-backend", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OnestopError(f"the reference back end did not start on {self.host}:{self.port}")
            pause.wait(0.01)
        servers = getattr(self.server, "servers", [])
        if self.port == 0 and servers:
            self.port = servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Answer held requests, stop serving, wait for the thread."""
        self.backend.release_held()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


def lookup_book(args: argparse.Namespace) -> LookupBook:
    """The bookings and dossiers of ``--lookups FILE`` or ``--generate-from site.toml`` (else none);
    with ``--samples FILE`` the sample codes are written there for the person at the demo kiosk."""
    from onestop.fake_lookups import generate_day

    book = LookupBook()
    if getattr(args, "lookups", None):
        try:
            book = LookupBook.from_doc(orjson.loads(Path(args.lookups).read_bytes()))
        except (OSError, orjson.JSONDecodeError, FixtureError) as exc:
            raise OnestopError(f"--lookups {args.lookups}: {exc}") from None
    elif getattr(args, "generate_from", None):
        from onestop.config import load

        book = generate_day(load(args.generate_from))
    if getattr(args, "samples", None):
        with open(args.samples, "w", encoding="utf-8") as out:
            out.write(book.samples_text())
    return book


def run_fake_backend(args: argparse.Namespace) -> int:
    """``onestop fake-backend``: serve until Ctrl-C."""
    import uvicorn

    host, port = parse_listen(args.listen)
    token = args.token or os.environ.get(args.token_env) or None
    if token is None:
        log.warning("no --token and %s is unset: any bearer token is accepted", args.token_env)
    book = lookup_book(args)
    backend = FakeBackend(
        token,
        args.db or ":memory:",
        seed=args.seed,
        fail_rate=args.fail_rate,
        slow_ms=args.slow_ms,
        timeout_rate=args.timeout_rate,
        hold_s=args.hold_s,
        down_until=time.monotonic() + args.down_for if args.down_for else 0.0,
        lookups=book,
    )
    log.info(
        "lookups: %d bookings, %d dossiers, %d citizens (GET <any prefix>/bookings/{code} | "
        "/dossiers/{code} | /citizens/{id}/bookings | /citizens/{id}/dossiers)",
        len(book.bookings),
        len(book.dossiers),
        len(book.citizens),
    )
    log.info(
        "reference back end on http://%s:%d (POST <any prefix>/queue-records | /ratings; "
        "control: /_control /_stats /_records /_batches /_reset), records in %s",
        host,
        port,
        args.db or "memory",
    )
    uvicorn.run(
        create_app(backend),
        host=host,
        port=port,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return 0
