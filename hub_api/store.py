"""The hub's own SQLite store, fed by the controller's event stream.

Each event is applied in one transaction together with everything it implies: the event row, the
ticket or rating row, the outbox records for the one-stop back end, and the consumer position
(``last_seq``). So the hub's view, its position in the stream and what it owes the back end can
never disagree, whatever moment the process dies at (eventsourcing's "tracking" pattern).
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from onestop.durable import fsync_dir
from onestop.protocol import CONTROLLER_ID
from onestop.sqlite_errors import explain

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta    (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events  (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, ts TEXT NOT NULL,
                                    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (id TEXT PRIMARY KEY, day TEXT NOT NULL, number TEXT NOT NULL,
                                    service TEXT NOT NULL, origin_service TEXT, priority INTEGER NOT NULL,
                                    status TEXT NOT NULL, counter TEXT, officer TEXT,
                                    issued_at TEXT NOT NULL, first_called_at TEXT, called_at TEXT,
                                    finished_at TEXT, wait_s REAL, service_s REAL, ahead INTEGER,
                                    est_wait_s INTEGER, updated_seq INTEGER NOT NULL);
DROP INDEX IF EXISTS tickets_day;
-- The ticket list (/api/tickets) filters by these and pages newest first: measured on a 30-day,
-- 1M-ticket history, offset 500,000 went from 920 to 55 ms and day+counter+status from 601 to 6 ms.
DROP INDEX IF EXISTS tickets_status;
CREATE INDEX IF NOT EXISTS tickets_list ON tickets(day, issued_at, id);
CREATE INDEX IF NOT EXISTS tickets_by_service ON tickets(service, day, issued_at, id);
CREATE INDEX IF NOT EXISTS tickets_by_counter ON tickets(counter, day, issued_at, id);
CREATE INDEX IF NOT EXISTS tickets_by_status ON tickets(status, day, issued_at, id);
-- The unguessable token of each ticket's status page (queue_controller/links.py), from ticket.issued.
CREATE TABLE IF NOT EXISTS ticket_links (token TEXT PRIMARY KEY, ticket TEXT NOT NULL UNIQUE) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ratings (seq INTEGER PRIMARY KEY, ticket TEXT NOT NULL, number TEXT NOT NULL,
                                    service TEXT NOT NULL, counter TEXT NOT NULL, officer TEXT,
                                    score INTEGER NOT NULL, level TEXT NOT NULL, satisfied INTEGER NOT NULL,
                                    reasons TEXT NOT NULL, comment TEXT NOT NULL, rated_at TEXT NOT NULL,
                                    day TEXT);
CREATE INDEX IF NOT EXISTS ratings_officer ON ratings(officer, rated_at);
DROP INDEX IF EXISTS ratings_day;
CREATE TABLE IF NOT EXISTS outbox  (id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,
                                    record TEXT NOT NULL, seq INTEGER NOT NULL, created TEXT NOT NULL,
                                    delivered_at TEXT);
CREATE INDEX IF NOT EXISTS outbox_stream ON outbox(stream, id);
CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, online INTEGER, role TEXT, version TEXT,
                                    status_ts TEXT, last_seen TEXT, health TEXT);
"""

#: Created after the migrations below. The reports read only these (covering) indexes: on a 30-day,
#: 1M-ticket history a 30-day report went from 3-5 s to about 1 s. A ticket's business day is the
#: date in its id, and a rating's that of the ticket it rates.
REPORT_INDEXES = """
CREATE INDEX IF NOT EXISTS tickets_report ON tickets(day, service, counter, officer, status, wait_s,
                                                     service_s);
CREATE INDEX IF NOT EXISTS ratings_report ON ratings(day, service, counter, officer, level, satisfied);
"""

#: Read-only connections for the web handlers (reports, lists, pages). In WAL mode readers and the
#: writer do not wait for each other, so a 30-day report never holds up the event ingest.
READERS = 4
#: A device's health that only repeats itself (the same content, a newer ``ts``: the periodic health
#: of a kiosk, a rating terminal, an agent) is written at most this often. Each write is an fsynced
#: commit: 20 devices every 30 s came to ~0.5 GB a day on the hub's SD card (docs/operations.md, "SD
#: cards"). A change is written at once, and so is the controller's health (its figures feed /metrics).
HEALTH_REFRESH_S = 300.0

#: Outbox streams (ARCHITECTURE §4): the path suffix each is posted to.
STREAMS = ("queue-records", "ratings")


def _seconds(a: str | None, b: str | None, scale: float = 1.0) -> float | None:
    if not a or not b:
        return None
    return round((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() * scale, 3)


def queue_record(
    ticket: dict[str, Any], outcome: str, flags: list[str] | None = None, time_scale: float = 1.0
) -> dict[str, Any]:
    """The back end's queue record of a ticket that ended (ARCHITECTURE §4), with the event's
    ``flags`` (e.g. ``short_service``: the service time is not a real one; docs/backend.md). Its
    durations count ``time_scale`` seconds per second (a simulated day; 1 on a real site)."""
    first = ticket.get("first_called_at")
    return {
        "ticket_id": ticket["id"],
        "number": ticket["number"],
        "service": ticket["service"],
        "counter": ticket.get("counter"),
        "officer": ticket.get("officer"),
        "priority": bool(ticket.get("priority")),
        "issued_at": ticket["issued_at"],
        "called_at": first,
        "finished_at": ticket.get("finished_at"),
        "wait_s": _seconds(ticket["issued_at"], first, time_scale),
        "service_s": _seconds(ticket.get("called_at"), ticket.get("finished_at"), time_scale)
        if outcome == "done"
        else None,
        "outcome": outcome,
        "flags": list(flags or []),
        # Added (docs/backend.md): whether the citizen came with a booking (never its code: the back
        # end knows its bookings; nothing personal leaves the site), and a result pickup's dossier.
        "booked": ticket.get("booking") is not None,
        "dossier": ticket.get("dossier"),
    }


def _booking_column(booking: Any) -> str | None:
    """What the hub keeps of a ticket's booking: its code, slot, how the arrival fitted, the line it
    waits in and when it is due (JSON)."""
    if not isinstance(booking, dict):
        return None
    keep = ("code", "slot_start", "slot_end", "status", "line", "due_at")
    return json.dumps({k: booking.get(k) for k in keep}, ensure_ascii=False)


def rating_record(rating: dict[str, Any]) -> dict[str, Any]:
    """The back end's rating record (ARCHITECTURE §4)."""
    return {
        "ticket_id": rating["ticket"],
        "number": rating.get("number"),
        "service": rating.get("service"),
        "counter": rating["counter"],
        "officer": rating.get("officer"),
        "score": rating["score"],
        "level": rating["level"],
        "satisfied": bool(rating.get("satisfied")),
        "reasons": list(rating.get("reasons") or []),
        "comment": rating.get("comment") or "",
        "rated_at": rating["rated_at"],
    }


class HubStore:
    """The hub's database. Thread-safe: one writing connection behind a lock (ingest, devices), and a
    small pool of read-only connections for :meth:`query` and :meth:`rows` (the web handlers)."""

    def __init__(self, path: str | Path, *, time_scale: float = 1.0) -> None:
        self.path = Path(path)
        #: Simulated seconds per real second (``onestop up --traffic``; 1 on a real site): the waits
        #: and service times it stores, which the reports and the dashboard show, are the simulated
        #: day's, as the controller's estimates are (queue_controller.engine.Engine.time_scale).
        self.time_scale = time_scale
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise explain(self.path, exc) from exc
        try:
            self._open()
        except (sqlite3.Error, OSError) as exc:
            # No quick_check here: on a 1M-ticket history it would cost seconds at every start; a
            # file that is not a database, or a damaged schema, fails right here with one line.
            self.db.close()
            raise explain(self.path, exc) from exc
        self.lock = threading.RLock()
        row = self.db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        self.last_seq = int(row[0]) if row else 0
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._readers = threading.BoundedSemaphore(READERS)
        self._opened: list[sqlite3.Connection] = []
        self._closed = False
        #: device -> (its health without ``ts``, when that was written: time.monotonic())
        self._health_written: dict[str, tuple[str, float]] = {}

    def _open(self) -> None:
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(outbox)")}
        if "delivered_at" not in columns:  # a database from before outbox pruning
            self.db.execute("ALTER TABLE outbox ADD COLUMN delivered_at TEXT")
        ticket_columns = {r[1] for r in self.db.execute("PRAGMA table_info(tickets)")}
        for column in ("booking", "dossier"):  # from before bookings and result pickups
            if column not in ticket_columns:
                self.db.execute(f"ALTER TABLE tickets ADD COLUMN {column} TEXT")
        if "day" not in {r[1] for r in self.db.execute("PRAGMA table_info(ratings)")}:
            self.db.execute("ALTER TABLE ratings ADD COLUMN day TEXT")  # from before ratings had a day
        self.db.executescript(REPORT_INDEXES)
        # Idempotent, and cheap once done (the index starts with day): a migration cut short is
        # finished at the next start.
        self.db.execute("UPDATE ratings SET day = substr(ticket, 1, 8) WHERE day IS NULL")
        fsync_dir(self.path.parent)  # its name survives a power cut from the first start (docs/operations.md)

    def close(self) -> None:
        """Close the database (the reading connections too)."""
        with self.lock:
            self._closed = True
            for conn in self._opened:
                conn.close()
            self._opened.clear()
            self.db.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for the time of the block (at most ``READERS`` at once; more wait).

        Each statement sees the database as last committed; nothing written through it is possible
        (``query_only``), so a handler bug cannot bypass the ingest's transactions."""
        with self._readers:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._open_reader()
            try:
                yield conn
            finally:
                if conn.in_transaction:  # never keep a read snapshot open: it would pin the WAL
                    conn.rollback()
                if self._closed:
                    conn.close()
                else:
                    self._idle.put(conn)

    def _open_reader(self) -> sqlite3.Connection:
        with self.lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the hub store is closed")
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=1")
            conn.execute("PRAGMA busy_timeout=5000")
            self._opened.append(conn)
            return conn

    # -- applying events -------------------------------------------------------------------
    def apply(self, events: list[dict[str, Any]]) -> int:
        """Apply consecutive events after ``last_seq`` in one transaction; return how many were new.

        Events at or below ``last_seq`` are duplicates and skipped; the caller guarantees there is
        no gap (it replays missing ranges first)."""
        fresh = [e for e in events if e["seq"] > self.last_seq]
        if not fresh:
            return 0
        expected = self.last_seq + 1
        for e in fresh:
            if e["seq"] != expected:
                raise ValueError(f"gap in events: expected seq {expected}, got {e['seq']}")
            expected += 1
        with self.lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                for e in fresh:
                    self._apply_one(e)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(fresh[-1]["seq"]),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self.last_seq = fresh[-1]["seq"]
        return len(fresh)

    def _apply_one(self, e: dict[str, Any]) -> None:
        seq, kind, data = e["seq"], e["type"], e.get("data") or {}
        self.db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (seq, kind, e["ts"], json.dumps(data)))
        t = data.get("ticket")
        if isinstance(t, dict) and kind != "rating.recorded":
            self._upsert_ticket(seq, t, data)
            if isinstance(t.get("token"), str) and t["token"]:
                self.db.execute("INSERT OR IGNORE INTO ticket_links VALUES (?, ?)", (t["token"], t["id"]))
            if kind in ("ticket.done", "ticket.skipped", "ticket.expired"):
                self._outbox(
                    "queue-records",
                    queue_record(t, kind.split(".")[1], data.get("flags"), self.time_scale),
                    seq,
                    e["ts"],
                )
        if kind == "rating.recorded":
            r = data["rating"]
            self.db.execute(
                """INSERT INTO ratings (seq, ticket, number, service, counter, officer, score, level,
                                        satisfied, reasons, comment, rated_at, day)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    seq,
                    r["ticket"],
                    r.get("number", ""),
                    r.get("service", ""),
                    r["counter"],
                    r.get("officer"),
                    r["score"],
                    r["level"],
                    int(bool(r.get("satisfied"))),
                    json.dumps(r.get("reasons") or [], ensure_ascii=False),
                    r.get("comment") or "",
                    r["rated_at"],
                    str(r["ticket"])[:8],
                ),
            )
            self._outbox("ratings", rating_record(r), seq, e["ts"])

    def _upsert_ticket(self, seq: int, t: dict[str, Any], data: dict[str, Any]) -> None:
        first, finished = t.get("first_called_at"), t.get("finished_at")
        real = t["status"] == "done" and "short_service" not in (data.get("flags") or ())
        service_s = (
            _seconds(t.get("called_at"), finished, self.time_scale) if real else None
        )  # reports skip a flagged one
        self.db.execute(
            """INSERT INTO tickets (id, day, number, service, origin_service, priority, status, counter,
                   officer, issued_at, first_called_at, called_at, finished_at, wait_s, service_s, ahead,
                   est_wait_s, updated_seq, booking, dossier)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET service=excluded.service, status=excluded.status,
                   counter=excluded.counter, officer=excluded.officer,
                   first_called_at=excluded.first_called_at, called_at=excluded.called_at,
                   finished_at=excluded.finished_at, wait_s=excluded.wait_s,
                   service_s=COALESCE(excluded.service_s, tickets.service_s),
                   updated_seq=excluded.updated_seq, booking=excluded.booking""",
            (
                t["id"],
                t["id"].split("-")[0],
                t["number"],
                t["service"],
                t.get("origin_service") or t["service"],
                int(bool(t.get("priority"))),
                t["status"],
                t.get("counter"),
                t.get("officer"),
                t["issued_at"],
                first,
                t.get("called_at"),
                finished,
                _seconds(t["issued_at"], first, self.time_scale),
                service_s,
                data.get("ahead"),
                data.get("est_wait_s"),
                seq,
                _booking_column(t.get("booking")),
                t.get("dossier"),
            ),
        )

    def _outbox(self, stream: str, record: dict[str, Any], seq: int, ts: str) -> None:
        self.db.execute(
            "INSERT INTO outbox (stream, record, seq, created) VALUES (?, ?, ?, ?)",
            (stream, json.dumps(record, ensure_ascii=False), seq, ts),
        )

    # -- the controller's log rewound (docs/operations.md) ------------------------------------
    def same_event(self, ev: dict[str, Any]) -> bool | None:
        """Whether an event at or below ``last_seq`` is the one stored under its seq (None: not stored)."""
        with self.lock:
            row = self.db.execute("SELECT type, ts, data FROM events WHERE seq = ?", (ev["seq"],)).fetchone()
        if row is None:
            return None
        return bool(
            row[0] == ev.get("type") and row[1] == ev.get("ts") and json.loads(row[2]) == ev.get("data")
        )

    def note_rewind(self, detail: str, at: str) -> None:
        """Remember that the controller's log went back (``meta`` ``controller_rewound``: the alert)."""
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('controller_rewound', ?)",
                (json.dumps({"at": at, "detail": detail}, ensure_ascii=False),),
            )

    def rewind_note(self) -> dict[str, Any] | None:
        """The last rewind noted, if any: ``{"at", "detail"}``."""
        rows = self.query("SELECT value FROM meta WHERE key = 'controller_rewound'")
        if not rows:
            return None
        note = json.loads(rows[0]["value"])
        return note if isinstance(note, dict) else None

    def skip_to(self, seq: int) -> None:
        """Continue after ``seq``: the events between ``last_seq`` and it are lost in the controller's
        log for good (a rewound store that the operator accepted). Kept in ``meta`` ``gaps``."""
        with self.lock:
            if seq <= self.last_seq:
                return
            row = self.db.execute("SELECT value FROM meta WHERE key = 'gaps'").fetchone()
            gaps = json.loads(row[0]) if row else []
            gaps.append([self.last_seq + 1, seq])
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('gaps', ?)", (json.dumps(gaps[-100:]),))
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(seq),))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.last_seq = seq

    # -- devices ---------------------------------------------------------------------------
    def device_status(self, device: str, payload: dict[str, Any], seen: str) -> None:
        """Record a device's presence message."""
        with self.lock:
            self.db.execute(
                """INSERT INTO devices (id, online, role, version, status_ts, last_seen)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET online=excluded.online, role=excluded.role,
                   version=excluded.version, status_ts=excluded.status_ts, last_seen=excluded.last_seen""",
                (
                    device,
                    int(bool(payload.get("online"))),
                    str(payload.get("role", "")),
                    str(payload.get("version", "")),
                    str(payload.get("ts", "")),
                    seen,
                ),
            )

    def device_health(self, device: str, payload: dict[str, Any], seen: str) -> None:
        """Record a device's health message; one that repeats the stored one (a newer ``ts`` only) is
        written again only after :data:`HEALTH_REFRESH_S`."""
        content = json.dumps(
            {k: v for k, v in payload.items() if k != "ts"}, sort_keys=True, ensure_ascii=False
        )
        now = time.monotonic()
        with self.lock:
            last = self._health_written.get(device)
            if (
                device != CONTROLLER_ID
                and last is not None
                and last[0] == content
                and now - last[1] < HEALTH_REFRESH_S
            ):
                return
            self._health_written[device] = (content, now)
            self.db.execute(
                """INSERT INTO devices (id, health, last_seen) VALUES (?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET health=excluded.health, last_seen=excluded.last_seen""",
                (device, json.dumps(payload, ensure_ascii=False), seen),
            )

    # -- reading ---------------------------------------------------------------------------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read query on a reading connection; rows as dicts."""
        with self.reading() as conn:
            return [dict(r) for r in conn.execute(sql, params)]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read query on a reading connection; rows as plain tuples (for large results)."""
        with self.reading() as conn:
            cur = conn.execute(sql, params)
            cur.row_factory = None
            return cur.fetchall()

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """One ticket as the hub knows it."""
        rows = self.query("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return rows[0] if rows else None

    def ticket_by_token(self, token: str) -> dict[str, Any] | None:
        """The ticket whose status page link carries ``token`` (None when no ticket has it)."""
        rows = self.query(
            "SELECT t.* FROM ticket_links l JOIN tickets t ON t.id = l.ticket WHERE l.token = ?", (token,)
        )
        return rows[0] if rows else None
