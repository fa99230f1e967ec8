"""The controller's SQLite store: queue state, the event log and command replies.

WAL mode with ``synchronous=FULL``: a batch of decisions is committed (and fsynced) in one
transaction before any reply or event leaves the process, so a power cut loses nothing that a
device was told. Events get their ``seq`` here, gapless for the life of the database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from queue_controller.model import Decision, Ticket

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
"""
SCHEMA_VERSION = 1
UPSERT_TICKET = (
    "INSERT INTO tickets VALUES (?, ?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET status = excluded.status, data = excluded.data"
)
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


@dataclass
class Pending:
    """One decision to persist, with the reply to remember for its command (if any)."""

    decision: Decision
    device: str | None = None
    command_id: str | None = None
    reply: dict[str, Any] | None = None


def _j(obj: Any) -> str:
    return orjson.dumps(obj).decode("utf-8")


class Store:
    """The controller's database. Used by one thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} was written by a newer onestop (schema {row[0]})")
        self.last_seq = int(self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- reading ---------------------------------------------------------------------------
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
        return Loaded(meta, tickets, counters, services, self.last_seq)

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
    ) -> list[dict[str, Any]]:
        """Persist a batch in one transaction; return its events with their ``seq``.

        ``counters`` and ``services`` hold the records of those that changed in the batch.
        """
        events: list[dict[str, Any]] = []
        seq = self.last_seq
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            tickets: dict[str, Ticket] = {}
            for p in batch:
                for kind, ts, data in p.decision.events:
                    seq += 1
                    events.append({"seq": seq, "type": kind, "ts": ts, "data": data})
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
            # An upsert changes the row in place; INSERT OR REPLACE would delete and re-insert it,
            # rewriting its index entries too (more pages in every fsynced commit).
            db.executemany(
                UPSERT_TICKET,
                [(t.id, t.day, t.status, _j(t.record())) for t in tickets.values()],
            )
            db.executemany(UPSERT_COUNTER, [(k, _j(v)) for k, v in counters.items()])
            db.executemany(UPSERT_SERVICE, [(k, _j(v)) for k, v in services.items()])
            db.execute(UPSERT_META, ("engine", _j(meta)))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.last_seq = seq
        return events

    def secret(self, name: str, make: Callable[[], bytes]) -> bytes:
        """A secret kept in the store (e.g. the ticket link key), made with ``make`` on first use."""
        key = f"secret:{name}"
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return bytes.fromhex(row[0])
        value = make()
        self.db.execute("INSERT INTO meta VALUES (?, ?)", (key, value.hex()))
        return value

    def prune_commands(self, before_ts: str) -> int:
        """Forget command replies older than ``before_ts`` (devices retry within minutes, not days)."""
        cur = self.db.execute("DELETE FROM commands WHERE ts < ?", (before_ts,))
        return cur.rowcount
