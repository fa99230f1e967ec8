"""The controller's SQLite store: queue state, the event log and command replies.

WAL mode with ``synchronous=FULL``: a batch of decisions is committed (and fsynced) in one
transaction before any reply or event leaves the process, so a power cut loses nothing that a
device was told. Events get their ``seq`` here, gapless for the life of the database, except for a
jump over seqs the site saw and the store lost, when the operator accepts a rewound store
(``seq_floor``, docs/controller.md).

Opening runs ``PRAGMA quick_check`` and one small write: a corrupt file, a file that is no database and
a full disk each end in a :class:`~onestop.sqlite_errors.StoreUnusable` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from onestop.durable import fsync_dir
from onestop.sqlite_errors import StoreUnusable, explain, is_disk_full, quick_check
from queue_controller.model import Decision, Ticket

log = logging.getLogger("onestop.controller.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta     (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events   (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, ts TEXT NOT NULL,
                                     data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets  (id TEXT PRIMARY KEY, day TEXT NOT NULL, status TEXT NOT NULL,
                                     data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_day ON tickets(day);
DROP INDEX IF EXISTS tickets_status;
CREATE TABLE IF NOT EXISTS counters (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (device TEXT NOT NULL, id TEXT NOT NULL, reply TEXT NOT NULL,
                                     ts TEXT NOT NULL, PRIMARY KEY (device, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refusals (device TEXT NOT NULL, id TEXT NOT NULL, deadline TEXT NOT NULL,
                                     reply TEXT NOT NULL, until TEXT NOT NULL,
                                     PRIMARY KEY (device, id, deadline)) WITHOUT ROWID;
"""
SCHEMA_VERSION = 1
UPSERT_TICKET = (
    "INSERT INTO tickets VALUES (?, ?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET status = excluded.status, data = excluded.data"
)
INSERT_TICKET = "INSERT INTO tickets VALUES (?, ?, ?, ?)"
UPSERT_COUNTER = "INSERT INTO counters VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data"
UPSERT_SERVICE = "INSERT INTO services VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data"
UPSERT_META = "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"


@dataclass
class Loaded:
    """What a restart reads back."""

    meta: dict[str, Any]
    tickets: list[Ticket]
    counters: dict[str, dict[str, Any]]
    services: dict[str, dict[str, Any]]
    last_seq: int
    #: Booking codes that got a ticket in the stored business day (each may be used once a day).
    booking_codes: list[str] = field(default_factory=list)


@dataclass
class Pending:
    """One decision to persist, with the reply to remember for its command (if any)."""

    decision: Decision
    device: str | None = None
    command_id: str | None = None
    reply: dict[str, Any] | None = None


class DuplicateTicket(RuntimeError):
    """A decision issued a ticket id that the store already holds: it is refused, never overwritten."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(
            f"ticket {ticket_id} is already stored: refusing to issue it again "
            "(did the clock or the database go back?)"
        )
        self.ticket_id = ticket_id


def _j(obj: Any) -> str:
    return orjson.dumps(obj).decode("utf-8")


class Store:
    """The controller's database. Used by one thread."""

    def __init__(self, path: str | Path, *, check: bool = True) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise explain(self.path, exc) from exc
        try:
            self._open(check)
        except StoreUnusable:
            self.db.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            self.db.close()
            raise explain(self.path, exc) from exc

    def _open(self, check: bool) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=5000")
        if check:
            # About 0.1 s for a 100,000-ticket database (docs/controller.md): cheap enough at every start.
            quick_check(self.db, self.path)
        self.db.executescript(SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreUnusable(f"{self.path} was written by a newer onestop (schema {row[0]})")
        # One small write at every start: a full disk is reported now, not at the first ticket.
        self.db.execute(
            "INSERT INTO meta VALUES ('opens', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
        self.last_seq = max(
            int(self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]), self.seq_floor
        )
        # The database's name survives a power cut from its first start (SQLite syncs the folder when
        # it creates the WAL file; this makes it explicit, once per start). docs/operations.md.
        fsync_dir(self.path.parent)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- reading ---------------------------------------------------------------------------
    def meta_value(self, key: str) -> Any:
        """A JSON value of the meta table (None when absent)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    @property
    def seq_floor(self) -> int:
        """The seq the event log continues after even if its own events end lower (an accepted rewind)."""
        return int(self.meta_value("seq_floor") or 0)

    def load(self, today: date) -> Loaded:
        """Everything the engine needs after a restart: today's tickets and every open one."""
        meta = {}
        row = self.db.execute("SELECT value FROM meta WHERE key='engine'").fetchone()
        if row:
            meta = json.loads(row[0])
        day = meta.get("day", today.isoformat())
        counters = {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT id, data FROM counters")}
        # What the engine keeps in memory: the tickets that can still change (waiting, called,
        # skipped: all of the stored business day, since the daily reset ends them) and each
        # counter's last finished ticket (it can still be rated).
        last_done = [c["last_done"] for c in counters.values() if c.get("last_done")]
        marks = ",".join("?" * len(last_done))
        tickets = [
            Ticket.from_record(json.loads(r[0]))
            for r in self.db.execute(
                "SELECT data FROM tickets WHERE (day = ? AND status IN ('waiting', 'called', 'skipped'))"
                + (f" OR id IN ({marks})" if last_done else ""),
                (day, *last_done),
            )
        ]
        services = {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT id, data FROM services")}
        codes = [
            r[0]
            for r in self.db.execute(
                "SELECT json_extract(data, '$.booking.code') FROM tickets "
                "WHERE day = ? AND json_extract(data, '$.booking.code') IS NOT NULL",
                (day,),
            )
        ]
        return Loaded(meta, tickets, counters, services, self.last_seq, codes)

    def find_reply(self, device: str, command_id: str) -> dict[str, Any] | None:
        """The reply already given to a command id, if any."""
        row = self.db.execute(
            "SELECT reply FROM commands WHERE device = ? AND id = ?", (device, command_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def events(self, from_seq: int, limit: int) -> list[dict[str, Any]]:
        """Events from ``from_seq`` on, at most ``limit``."""
        rows = self.db.execute(
            "SELECT seq, type, ts, data FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (from_seq, limit)
        )
        return [{"seq": r[0], "type": r[1], "ts": r[2], "data": json.loads(r[3])} for r in rows]

    # -- writing ---------------------------------------------------------------------------
    def commit(
        self,
        batch: Iterable[Pending],
        meta: dict[str, Any],
        counters: dict[str, dict[str, Any]],
        services: dict[str, dict[str, Any]],
        now: str,
        *,
        rewind: tuple[int, dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Persist a batch in one transaction; return its events with their ``seq``.

        ``counters`` and ``services`` hold the records of those that changed in the batch. With
        ``rewind`` = (floor, note), the operator accepted a rewound store: in the same transaction
        the event log jumps to continue after ``floor`` (``seq_floor``), the note is kept in ``meta``
        ``rewinds`` and the pending decision is dropped."""
        events: list[dict[str, Any]] = []
        seq = self.last_seq if rewind is None else max(self.last_seq, rewind[0])
        db = self.db
        history = (self.meta_value("rewinds") or []) if rewind is not None else []
        db.execute("BEGIN IMMEDIATE")
        try:
            if rewind is not None:
                db.execute(UPSERT_META, ("seq_floor", _j(seq)))
                db.execute(UPSERT_META, ("rewinds", _j([*history, rewind[1]][-50:])))
                db.execute("DELETE FROM meta WHERE key = 'accept_rewind'")
            tickets: dict[str, Ticket] = {}
            issued: list[str] = []
            for p in batch:
                for kind, ts, data in p.decision.events:
                    seq += 1
                    events.append({"seq": seq, "type": kind, "ts": ts, "data": data})
                    if kind == "ticket.issued":
                        issued.append(data["ticket"]["id"])
                tickets.update(p.decision.tickets)
                if p.device is not None and p.command_id is not None and p.reply is not None:
                    db.execute(
                        "INSERT OR IGNORE INTO commands VALUES (?, ?, ?, ?)",
                        (p.device, p.command_id, _j(p.reply), now),
                    )
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?)",
                [(e["seq"], e["type"], e["ts"], _j(e["data"])) for e in events],
            )
            # A ticket id is issued once for the life of the site: a new ticket is inserted, never
            # upserted, so that nothing (a clock or a store that went back) can overwrite a stored one.
            fresh = set(issued)
            for tid in issued:
                t = tickets[tid]
                try:
                    db.execute(
                        "INSERT INTO tickets VALUES (?, ?, ?, ?)", (t.id, t.day, t.status, _j(t.record()))
                    )
                except sqlite3.IntegrityError:
                    raise DuplicateTicket(tid) from None
            # An upsert changes the row in place; INSERT OR REPLACE would delete and re-insert it,
            # rewriting its index entries too (more pages in every fsynced commit).
            db.executemany(
                UPSERT_TICKET,
                [(t.id, t.day, t.status, _j(t.record())) for t in tickets.values() if t.id not in fresh],
            )
            db.executemany(UPSERT_COUNTER, [(k, _j(v)) for k, v in counters.items()])
            db.executemany(UPSERT_SERVICE, [(k, _j(v)) for k, v in services.items()])
            db.execute(UPSERT_META, ("engine", _j(meta)))
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if is_disk_full(exc):
                full = explain(self.path, exc)
                log.critical("%s", full)
                raise full from exc
            raise
        self.last_seq = seq
        return events

    def _rollback(self) -> None:
        # Nothing to roll back when the failing statement already ended the transaction.
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")

    # -- a rewound store -------------------------------------------------------------------
    def request_accept(self, now: str) -> dict[str, Any]:
        """Record the operator's decision to serve from this store although the site saw more.

        The request names the store's last seq: it is honoured only while the store is exactly
        there, so an old request never accepts a later, different loss."""
        req = {"at": now, "store_seq": self.last_seq}
        self.db.execute(UPSERT_META, ("accept_rewind", _j(req)))
        return req

    def accept_request(self) -> dict[str, Any] | None:
        """The operator's pending decision (see :meth:`request_accept`), if it applies to this store."""
        req = self.meta_value("accept_rewind")
        if isinstance(req, dict) and req.get("store_seq") == self.last_seq:
            return req
        return None

    def drop_accept_request(self) -> None:
        """Forget a pending decision (it was applied, or it no longer applies)."""
        self.db.execute("DELETE FROM meta WHERE key = 'accept_rewind'")

    def secret(self, name: str, make: Callable[[], bytes]) -> bytes:
        """A secret kept in the store (e.g. the ticket link key), made with ``make`` on first use."""
        key = f"secret:{name}"
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return bytes.fromhex(row[0])
        value = make()
        self.db.execute("INSERT INTO meta VALUES (?, ?)", (key, value.hex()))
        return value

    def add_refusals(self, rows: list[tuple[str, str, str, dict[str, Any], str]]) -> None:
        """Keep refusals that decide nothing (``unavailable``, ``rate_limited``) until ``until``, as
        (device, command id, deadline, reply, until): in one transaction, before they are published,
        so that a copy of the same try arriving after a restart gets the same refusal."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO refusals VALUES (?, ?, ?, ?, ?)",
                [(d, c, dl, _j(r), u) for d, c, dl, r, u in rows],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def prune_refusals(self, now: str) -> int:
        """Forget the kept refusals no longer in force at ``now``."""
        return self.db.execute("DELETE FROM refusals WHERE until < ?", (now,)).rowcount

    def refusals(self, now: str) -> list[tuple[str, str, str, dict[str, Any], str]]:
        """The kept refusals still in force at ``now`` (older ones are deleted)."""
        self.prune_refusals(now)
        rows = self.db.execute("SELECT device, id, deadline, reply, until FROM refusals").fetchall()
        return [(d, c, dl, json.loads(r), u) for d, c, dl, r, u in rows]

    def prune_commands(self, before_ts: str) -> int:
        """Forget command replies older than ``before_ts`` (devices retry within minutes, not days)."""
        cur = self.db.execute("DELETE FROM commands WHERE ts < ?", (before_ts,))
        return cur.rowcount
