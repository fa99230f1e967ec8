"""The outbox forwarder: delivers the hub's outbox to the one-stop back end, in order, forever.

One worker thread per stream (``queue-records``, ``ratings``), so that one stream's outage never
holds up the other. A worker takes the next batch of outbox rows after the stream's delivered
position, records it as the stream's **in-flight batch** (first id, last id, idempotency key) and
only then hands it to the adapter. When the back end acknowledges it (2xx or 409), the new
position is stored and the next batch claimed in the same transaction. Until then, the very same
batch (same rows, same key) is sent again, with exponential backoff and full jitter, also after a
crash or a restart, even if new records have arrived since: the back end may de-duplicate on the key
alone (ARCHITECTURE §4, STYLE §10).

The forwarder has its own SQLite connection to the hub's database and its own table
(``forwarder``); a lock file next to the database makes sure only one forwarder (the hub's, or
``onestop forward``) works on it at a time.

Each worker beats a :class:`~onestop.sdnotify.Heartbeat` on every turn, while it waits (idle or
backing off) and before each request (allowing the back end's ``timeout_s``): the hub pings
systemd's watchdog only while both workers and its ingest loop make progress.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from hub_api.backends import (
    Adapter,
    AdapterFactory,
    BackendConfigError,
    Outcome,
    adapter_factory,
    read_token,
)
from hub_api.store import STREAMS
from onestop import sdnotify
from onestop.config import BackendSection, SiteConfig
from onestop.errors import OnestopError

log = logging.getLogger("onestop.hub.forwarder")

SCHEMA = """
CREATE TABLE IF NOT EXISTS forwarder (
    stream            TEXT PRIMARY KEY,
    delivered         INTEGER NOT NULL DEFAULT 0,  -- last outbox id the back end acknowledged
    inflight_first    INTEGER,                     -- the batch being sent: written before the POST
    inflight_last     INTEGER,
    inflight_key      TEXT,
    inflight_since    TEXT,
    delivered_records INTEGER NOT NULL DEFAULT 0,
    last_success      TEXT
);
"""


class ForwarderBusy(OnestopError, RuntimeError):
    """Another forwarder (the hub's, or ``onestop forward``) already works on this database."""


def batch_key(site: str, stream: str, first: int, last: int) -> str:
    """The idempotency key of a batch (ARCHITECTURE §4): ``{site}:{stream}:{first}-{last}``."""
    return f"{site}:{stream}:{first}-{last}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Batch:
    """Outbox rows ``first``..``last`` of one stream, and the key they are always sent under."""

    stream: str
    first: int
    last: int
    key: str
    records: list[dict[str, Any]]

    def describe(self) -> str:
        """``ids 12-211 (200 records, key …)`` for log lines."""
        return f"ids {self.first}-{self.last} ({len(self.records)} records, key {self.key})"


@dataclass
class Backoff:
    """Exponential backoff with full jitter: a random delay in ``[0, min(cap, base · 2^(n-1))]``."""

    base_s: float = 0.5
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1 = the first)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(max(failures - 1, 0), 62))
        return self.rng.uniform(0.0, ceiling)


class OutboxCursor:
    """The forwarder's side of the hub database: the outbox (read) and the ``forwarder`` table."""

    def __init__(self, path: str | Path, site: str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise OnestopError(f"no hub database at {self.path} (start the hub once, or give --db)")
        self.site = site
        self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.db.executemany("INSERT OR IGNORE INTO forwarder (stream) VALUES (?)", [(s,) for s in STREAMS])
        if self.db.execute("SELECT name FROM sqlite_master WHERE name='outbox'").fetchone() is None:
            raise OnestopError(f"{self.path} is not a hub database (it has no outbox)")
        self.lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.db.close()

    def row(self, stream: str) -> dict[str, Any]:
        """The stream's row of the ``forwarder`` table."""
        with self.lock:
            cur = self.db.execute("SELECT * FROM forwarder WHERE stream = ?", (stream,))
            names = [d[0] for d in cur.description]
            found = cur.fetchone()
        return dict(zip(names, found, strict=True))

    def in_flight(self, stream: str) -> Batch | None:
        """The batch that was sent and not acknowledged (exactly as it was sent), if any."""
        with self.lock:
            return self._in_flight(stream)

    def _in_flight(self, stream: str) -> Batch | None:
        r = self.db.execute(
            "SELECT inflight_first, inflight_last, inflight_key FROM forwarder WHERE stream = ?", (stream,)
        ).fetchone()
        if r is None or r[0] is None:
            return None
        rows = self.db.execute(
            "SELECT id, record FROM outbox WHERE stream = ? AND id BETWEEN ? AND ? ORDER BY id",
            (stream, r[0], r[1]),
        ).fetchall()
        return Batch(stream, r[0], r[1], r[2], [orjson.loads(rec) for _, rec in rows])

    def claim(self, stream: str, limit: int) -> Batch | None:
        """The in-flight batch if there is one (it is never replaced before it is acknowledged), else
        the next batch after the delivered position, recorded as in flight."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                batch = self._in_flight(stream) or self._claim(stream, limit)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return batch

    def deliver(self, stream: str, batch: Batch, limit: int, now: datetime) -> Batch | None:
        """Store ``batch`` as delivered and claim the next one, in one transaction; return the next."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = self.db.execute(
                    """UPDATE forwarder SET delivered = ?, delivered_records = delivered_records + ?,
                           last_success = ?, inflight_first = NULL, inflight_last = NULL,
                           inflight_key = NULL, inflight_since = NULL
                       WHERE stream = ? AND inflight_key = ?""",
                    (batch.last, len(batch.records), now.isoformat(), stream, batch.key),
                )
                if cur.rowcount != 1:
                    raise OnestopError(f"{stream}: the in-flight batch is no longer {batch.key}")
                self.db.execute(
                    "UPDATE outbox SET delivered_at = ? WHERE stream = ? AND id BETWEEN ? AND ?",
                    (now.isoformat(timespec="milliseconds"), stream, batch.first, batch.last),
                )
                nxt = self._claim(stream, limit, now)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return nxt

    def _claim(self, stream: str, limit: int, now: datetime | None = None) -> Batch | None:
        (after,) = self.db.execute("SELECT delivered FROM forwarder WHERE stream = ?", (stream,)).fetchone()
        rows = self.db.execute(
            "SELECT id, record FROM outbox WHERE stream = ? AND id > ? ORDER BY id LIMIT ?",
            (stream, after, limit),
        ).fetchall()
        if not rows:
            return None
        first, last = rows[0][0], rows[-1][0]
        key = batch_key(self.site, stream, first, last)
        self.db.execute(
            """UPDATE forwarder SET inflight_first = ?, inflight_last = ?, inflight_key = ?,
                   inflight_since = ? WHERE stream = ?""",
            (first, last, key, (now or _now()).isoformat(), stream),
        )
        return Batch(stream, first, last, key, [orjson.loads(rec) for _, rec in rows])

    def prune(self, stream: str, before: datetime) -> int:
        """Delete the stream's records that the back end acknowledged before ``before`` (a record
        delivered today after a long outage stays its full time); nothing owed is ever deleted."""
        with self.lock:
            cur = self.db.execute(
                """DELETE FROM outbox WHERE stream = ? AND delivered_at IS NOT NULL AND delivered_at < ?
                   AND id <= (SELECT delivered FROM forwarder WHERE stream = ?)""",
                (stream, before.isoformat(timespec="milliseconds"), stream),
            )
        return int(cur.rowcount)

    def oldest_pending(self, stream: str) -> str | None:
        """When the stream's oldest record not yet acknowledged was made (its event's ts), or None."""
        with self.lock:
            row = self.db.execute(
                """SELECT created FROM outbox WHERE stream = ?
                   AND id > (SELECT delivered FROM forwarder WHERE stream = ?) ORDER BY id LIMIT 1""",
                (stream, stream),
            ).fetchone()
        return str(row[0]) if row else None

    def pending(self, stream: str) -> int:
        """Outbox records of the stream not yet acknowledged (the in-flight batch included)."""
        with self.lock:
            (n,) = self.db.execute(
                """SELECT COUNT(*) FROM outbox WHERE stream = ?
                   AND id > (SELECT delivered FROM forwarder WHERE stream = ?)""",
                (stream, stream),
            ).fetchone()
        return int(n)


def backlog(db_path: str | Path) -> dict[str, dict[str, Any]]:
    """Per stream: pending records, delivered position, in-flight batch, last success (read only)."""
    db = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, timeout=30)
    try:
        has_table = db.execute("SELECT 1 FROM sqlite_master WHERE name='forwarder'").fetchone()
        out: dict[str, dict[str, Any]] = {}
        for stream in STREAMS:
            row = (
                db.execute(
                    """SELECT delivered, inflight_first, inflight_last, inflight_key, inflight_since,
                              delivered_records, last_success FROM forwarder WHERE stream = ?""",
                    (stream,),
                ).fetchone()
                if has_table
                else None
            ) or (0, None, None, None, None, 0, None)
            (pending,) = db.execute(
                "SELECT COUNT(*) FROM outbox WHERE stream = ? AND id > ?", (stream, row[0])
            ).fetchone()
            out[stream] = {
                "pending": pending,
                "delivered_id": row[0],
                "delivered_records": row[5],
                "last_success": row[6],
                "in_flight": {"first": row[1], "last": row[2], "key": row[3], "since": row[4]}
                if row[1] is not None
                else None,
            }
        return out
    finally:
        db.close()


@dataclass
class StreamStatus:
    """Live figures of one stream's worker (in memory; the position itself is in the database)."""

    stream: str
    #: ``starting``, ``sending``, ``retrying`` (backing off), ``idle`` (nothing to send), ``stopped``.
    state: str = "starting"
    consecutive_failures: int = 0
    last_error: str | None = None
    last_failure: str | None = None
    last_success: str | None = None
    attempts: int = 0
    batches_delivered: int = 0
    records_delivered: int = 0
    duplicates: int = 0
    in_flight_key: str | None = None
    #: The kind of the current failure (status or error class): a new kind is logged again.
    fail_kind: str | None = field(default=None, repr=False)


def _kind(reason: str, status: int | None) -> str:
    if status is not None:
        return f"HTTP {status}"
    return reason.split(":")[0].split(" (")[0].strip() or "error"


class Forwarder:
    """Forwards the outbox of a hub database to ``[backend]``: ``start()``, ``stop()``, ``metrics()``."""

    def __init__(
        self,
        site: str,
        backend: BackendSection,
        db_path: str | Path,
        *,
        factory: AdapterFactory | None = None,
        environ: Mapping[str, str] | None = None,
        batch_size: int | None = None,
        backoff: Backoff | None = None,
        idle_poll_s: float = 1.0,
        clock: Callable[[], datetime] = _now,
        streams: tuple[str, ...] = STREAMS,
        liveness: sdnotify.Liveness | None = None,
    ) -> None:
        self.site = site
        self.liveness = liveness or sdnotify.Liveness.from_env()
        self._heartbeats: list[sdnotify.Heartbeat] = []
        self.backend = backend
        self.db_path = Path(db_path)
        self.factory = factory
        self.environ = environ
        self.batch_size = batch_size or backend.batch_size
        self.backoff = backoff or Backoff(backend.backoff_base_s, backend.backoff_max_s)
        self.idle_poll_s = idle_poll_s
        self.clock = clock
        self.streams = streams
        self.status = {s: StreamStatus(s) for s in streams}
        self.error: str | None = None
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._wake = {s: threading.Event() for s in streams}
        self._threads: list[threading.Thread] = []
        self._adapters: dict[str, Adapter] = {}
        self._cursor: OutboxCursor | None = None
        self._lock_file: IO[str] | None = None
        self._pruned: dict[str, datetime] = {}

    @classmethod
    def for_site(cls, cfg: SiteConfig, db_path: str | Path, **kw: Any) -> Forwarder | None:
        """The forwarder of a site, or None (said once, in the log) when it has no ``[backend]``."""
        if cfg.backend is None:
            log.info("no [backend] in %s: nothing is forwarded (records wait in the outbox)", cfg.source)
            return None
        return cls(cfg.site.id, cfg.backend, db_path, **kw)

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True between a successful ``start()`` and ``stop()``."""
        return bool(self._threads) and not self._stop.is_set()

    def start(self, *, fail_soft: bool = False) -> None:
        """Check the settings (token, adapter), take the database's forwarder lock, start the workers.

        Raises :class:`BackendConfigError` or :class:`ForwarderBusy`; with ``fail_soft`` (the hub,
        which must keep serving the site) it logs the error, keeps it in :meth:`metrics` and returns."""
        try:
            self._start()
        except OnestopError as exc:
            for adapter in self._adapters.values():
                with contextlib.suppress(Exception):
                    adapter.close()
            self._adapters.clear()
            if self._cursor is not None:
                self._cursor.close()
                self._cursor = None
            self._release()
            self.error = str(exc)
            if not fail_soft:
                raise
            log.error("not forwarding to the back end: %s", exc)

    def _start(self) -> None:
        factory = self.factory or adapter_factory(self.backend)
        token = read_token(self.backend, self.environ)
        lock_path = self.db_path.with_name(self.db_path.name + ".forward.lock")
        self._lock_file = open(lock_path, "a")  # noqa: SIM115 (held while forwarding)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ForwarderBusy(
                f"another forwarder already works on {self.db_path} (the hub, or onestop forward)"
            ) from None
        self._cursor = OutboxCursor(self.db_path, self.site)
        try:
            for s in self.streams:
                self._adapters[s] = factory(self.backend, token)
        except Exception as exc:
            raise BackendConfigError(f"[backend] adapter {self.backend.adapter!r}: {exc}") from exc
        self.error = None
        self._stop.clear()
        for s in self.streams:
            row = self._cursor.row(s)
            self.status[s].last_success = row["last_success"]
            hb = self.liveness.heartbeat(f"forwarder of {s}")
            self._heartbeats.append(hb)
            t = threading.Thread(target=self._run, args=(s, hb), name=f"forward-{s}", daemon=True)
            self._threads.append(t)
        log.info(
            "forwarding %s of %s to %s (batches of %d)",
            " and ".join(self.streams),
            self.site,
            self.backend.url,
            self.batch_size,
        )
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers (a request in progress is abandoned: its batch stays in flight)."""
        self._stop.set()
        for e in self._wake.values():
            e.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("left %s waiting for the back end; its batch is re-sent at the next start", alive)
        self._threads.clear()
        for hb in self._heartbeats:
            hb.close()
        self._heartbeats.clear()
        if not alive:
            for a in self._adapters.values():
                with contextlib.suppress(Exception):
                    a.close()
            if self._cursor is not None:
                self._cursor.close()
        self._adapters.clear()
        self._cursor = None
        self._release()
        with self.changed:
            for st in self.status.values():
                st.state = "stopped"
            self.changed.notify_all()

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file drops the flock
            self._lock_file = None

    def wake(self) -> None:
        """New records may be in the outbox: look now rather than at the next poll."""
        for e in self._wake.values():
            e.set()

    # -- the workers -----------------------------------------------------------------------------
    def _run(self, stream: str, heartbeat: sdnotify.Heartbeat) -> None:
        cursor, adapter = self._cursor, self._adapters[stream]
        assert cursor is not None
        batch: Batch | None = None
        try:
            batch = cursor.in_flight(stream)
            if batch is not None:
                log.info("%s: re-sending the batch that was in flight: %s", stream, batch.describe())
        except Exception:
            log.exception("%s: cannot read the in-flight batch", stream)
        while not self._stop.is_set():
            heartbeat.beat()
            try:
                if batch is None:
                    batch = cursor.claim(stream, self.batch_size)
                if batch is None:
                    self._set(stream, state="idle", in_flight_key=None)
                    heartbeat.wait(self._wake[stream], self.idle_poll_s)
                    self._wake[stream].clear()
                    continue
                self._set(stream, state="sending", in_flight_key=batch.key)
                heartbeat.expect(self.backend.timeout_s)  # the request ends by its deadline
                try:
                    outcome = adapter.send(stream, self.site, batch.records, batch.key)
                except Exception as exc:
                    log.debug("%s: adapter raised", stream, exc_info=True)
                    outcome = Outcome.retry(f"adapter error {type(exc).__name__}: {exc}")
                if self._stop.is_set() and not outcome.delivered:
                    break
                if outcome.delivered:
                    done = batch
                    batch = cursor.deliver(stream, done, self.batch_size, self.clock())
                    self._delivered(stream, done, outcome.duplicate)
                    continue
                self._failed(stream, batch, outcome.reason, outcome.status)
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.debug("%s: local error", stream, exc_info=True)
                self._failed(stream, batch, f"local error {type(exc).__name__}: {exc}", None)
                batch = None  # re-read the in-flight batch (or claim again) from the database
                with contextlib.suppress(Exception):
                    batch = cursor.in_flight(stream)
            delay = self.backoff.delay(self.status[stream].consecutive_failures)
            self._set(stream, state="retrying")
            heartbeat.wait(self._stop, delay)  # a backoff of a minute is not a wedged worker

    def _set(self, stream: str, **changes: Any) -> None:
        with self.changed:
            st = self.status[stream]
            for k, v in changes.items():
                setattr(st, k, v)
            self.changed.notify_all()

    def _delivered(self, stream: str, batch: Batch, duplicate: bool) -> None:
        with self.changed:
            st = self.status[stream]
            if st.consecutive_failures:
                log.info(
                    "%s: the back end acknowledged %s after %d failed attempt(s)",
                    stream,
                    batch.describe(),
                    st.consecutive_failures,
                )
            st.attempts += 1
            st.batches_delivered += 1
            st.records_delivered += len(batch.records)
            st.duplicates += int(duplicate)
            st.consecutive_failures = 0
            st.fail_kind = None
            st.last_success = self.clock().isoformat()
            self.changed.notify_all()
        self._maybe_prune(stream)

    def _maybe_prune(self, stream: str) -> None:
        """Once an hour per stream, delete acknowledged records older than ``[backend] keep_days``."""
        now = self.clock()
        last = self._pruned.get(stream)
        if self._cursor is None or (last is not None and now - last < timedelta(hours=1)):
            return
        self._pruned[stream] = now
        gone = self._cursor.prune(stream, now - timedelta(days=self.backend.keep_days))
        if gone:
            log.info(
                "%s: deleted %d delivered records older than %d days", stream, gone, self.backend.keep_days
            )

    def _failed(self, stream: str, batch: Batch | None, reason: str, status: int | None) -> None:
        kind = _kind(reason, status)
        with self.changed:
            st = self.status[stream]
            what = batch.describe() if batch is not None else "the next batch"
            if st.consecutive_failures == 0:
                hint = " (check the token in [backend] token_env)" if status in (401, 403) else ""
                log.warning("%s: not delivered: %s%s; retrying %s with backoff", stream, reason, hint, what)
            elif kind != st.fail_kind:
                log.warning("%s: still not delivered, now: %s (%s)", stream, reason, what)
            st.attempts += 1
            st.consecutive_failures += 1
            st.fail_kind = kind
            st.last_error = reason
            st.last_failure = self.clock().isoformat()
            self.changed.notify_all()

    # -- watching --------------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Per stream: pending records, last success, consecutive failures, state; for health pages."""
        cursor = self._cursor
        streams: dict[str, Any] = {}
        with self.changed:
            snapshot = {s: dict(vars(st)) for s, st in self.status.items()}
        for s, st in snapshot.items():
            st.pop("fail_kind", None)
            st.pop("stream", None)
            pending: int | None = None
            lag: float | None = None
            if cursor is not None:
                with contextlib.suppress(sqlite3.Error):
                    pending = cursor.pending(s)
                    oldest = cursor.oldest_pending(s)
                    lag = 0.0 if oldest is None else _age_s(oldest, self.clock())
            streams[s] = {"pending": pending, "lag_s": lag, **st}
        return {
            "running": self.running,
            "error": self.error,
            "backend": self.backend.url,
            "batch_size": self.batch_size,
            "streams": streams,
        }

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds (checked at every state change) or ``timeout`` passes."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def drained(self) -> bool:
        """Every stream found nothing left to send at its last look, and nothing has arrived since."""
        if not all(st.state == "idle" for st in self.status.values()):
            return False
        cursor = self._cursor
        return cursor is None or all(cursor.pending(s) == 0 for s in self.streams)

    def wait_drained(self, timeout: float) -> bool:
        """Block until every stream is idle with nothing left to send, or ``timeout`` passes."""
        self.wake()
        return self.wait_for(self.drained, timeout)


def check_backend(cfg: SiteConfig) -> BackendSection:
    """The site's ``[backend]`` section, or a clear error when it has none."""
    if cfg.backend is None:
        raise BackendConfigError(f"{cfg.source} has no [backend] section: there is nowhere to forward to")
    return cfg.backend


def _age_s(ts: str, now: datetime) -> float | None:
    """Seconds from ``ts`` (ISO 8601) to ``now``; None when ``ts`` cannot be read."""
    try:
        then = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())
