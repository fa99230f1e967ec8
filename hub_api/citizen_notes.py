"""Citizen notes: the name a kiosk read from an identity card, for the clerk who serves that ticket.

With ``[citizen_id] prefill_name`` on, a kiosk publishes ``{root}/dev/{device}/citizen``
``{"ticket_id", "name"}`` after it issued the ticket (docs/privacy.md). The hub

- accepts it only from a device whose role in site.toml is ``kiosk`` (others: logged by device id
  and dropped) and only in that exact shape, with bounded lengths;
- keeps it **encrypted at rest**: AES-256-GCM under a key of the business day (a file under
  ``{data_dir}/secrets/citizen/``), with the ticket id as associated data, in its own small SQLite
  file (``citizen-notes.db`` beside the hub's database, with ``secure_delete``);
- gives the plain name only to :meth:`CitizenNotes.name_for`, which the soft caller's API calls for
  the ticket its signed-in counter serves now;
- deletes the rows **and** the day's key when the controller closes the day (``day.closed``), and at
  start for any day that is over, so that a copy of the disk taken afterwards holds nothing readable.

Nothing here logs a name, an id number or a ticket's note; a log line names at most the device.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onestop.config import SiteConfig
from onestop.credentials import ensure_secret_file, secrets_dir

log = logging.getLogger("onestop.hub.citizen")

#: Bytes of a note's payload at most (a name is short; anything bigger is not a note).
MAX_PAYLOAD = 1024
#: Characters of a name at most (after NFC and collapsing blanks).
MAX_NAME = 100
#: Notes kept for one day at most: a misbehaving kiosk cannot fill the disk.
MAX_NOTES_PER_DAY = 50_000
_TICKET_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_KEY_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.key")

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (ticket TEXT PRIMARY KEY, day TEXT NOT NULL, nonce BLOB NOT NULL,
                                  sealed BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notes_day ON notes(day);
"""


class BadNote(ValueError):
    """A note that is not ``{"ticket_id": str, "name": str}`` within bounds (the reason, no content)."""


def business_day(cfg: SiteConfig, when: datetime) -> date:
    """The business day of an instant: the local date shifted back by ``[site] day_starts`` (as the
    controller counts it)."""
    start = cfg.site.day_start_time
    local = when.astimezone(cfg.site.tz)
    return (local - timedelta(hours=start.hour, minutes=start.minute)).date()


def parse_note(payload: bytes) -> tuple[str, str]:
    """``(ticket_id, name)`` of a note's payload; raises :class:`BadNote`."""
    if len(payload) > MAX_PAYLOAD:
        raise BadNote(f"payload of {len(payload)} bytes (at most {MAX_PAYLOAD})")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BadNote("not JSON") from None
    if not isinstance(data, dict) or set(data) != {"ticket_id", "name"}:
        raise BadNote('expected exactly {"ticket_id", "name"}')
    ticket, name = data["ticket_id"], data["name"]
    if not isinstance(ticket, str) or not _TICKET_ID.fullmatch(ticket):
        raise BadNote("ticket_id: expected 1-64 letters, digits, '.', '-' or '_'")
    if not isinstance(name, str):
        raise BadNote("name: expected a text")
    name = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", name)).split())
    if not name or len(name) > MAX_NAME:
        raise BadNote(f"name: expected 1-{MAX_NAME} characters")
    return ticket, name


class CitizenNotes:
    """The encrypted store of citizen notes: ``put``, ``name_for``, ``close_day``, ``purge_past``."""

    def __init__(
        self,
        cfg: SiteConfig,
        db_path: Path,
        *,
        key_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cfg = cfg
        self.path = db_path
        self.key_dir = key_dir or secrets_dir(cfg) / "citizen"
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, AESGCM] = {}
        self._dropped_logged: dict[str, float] = {}
        self.stats = {"stored": 0, "dropped": 0, "purged": 0}
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        os.chmod(db_path, 0o600)
        # Deleted rows are overwritten with zeros in the file, and no journal keeps them.
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    # -- keys ------------------------------------------------------------------------------------
    def _key(self, day: str, create: bool) -> AESGCM | None:
        aead = self._keys.get(day)
        if aead is not None:
            return aead
        path = self.key_dir / f"{day}.key"
        if create:
            text = ensure_secret_file(path, lambda: base64.b64encode(os.urandom(32)).decode())
        else:
            try:
                text = path.read_text(encoding="ascii").strip()
            except (FileNotFoundError, UnicodeDecodeError):
                return None
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            log.error("the citizen note key of %s is damaged: its notes cannot be read", day)
            return None
        aead = self._keys[day] = AESGCM(raw)
        return aead

    def today(self) -> str:
        """The current business day (ISO date)."""
        return business_day(self.cfg, self.clock()).isoformat()

    # -- writing ---------------------------------------------------------------------------------
    def receive(self, device: str, payload: bytes) -> bool:
        """A note published by ``device``: stored when the device is a kiosk and the note is well
        formed; else logged (device id and reason only) and dropped. True when stored."""
        try:
            role = self.cfg.device(device).role
        except KeyError:
            role = None
        if role != "kiosk":
            self._drop(device, f"from a device whose role is {role or 'unknown'}, not kiosk")
            return False
        try:
            ticket, name = parse_note(payload)
        except BadNote as exc:
            self._drop(device, str(exc))
            return False
        try:
            return self.put(ticket, name, device=device)
        except (sqlite3.Error, OSError) as exc:  # a full or failing disk: the note is lost, nothing else
            self._drop(device, f"cannot store it ({type(exc).__name__}: {exc})")
            return False

    def put(self, ticket: str, name: str, *, device: str = "?") -> bool:
        """Store ``name`` for ``ticket`` (replacing an earlier note of that ticket), encrypted."""
        day = self.today()
        with self._lock:
            self._purge_before(day)
            count = self.db.execute("SELECT count(*) FROM notes WHERE day = ?", (day,)).fetchone()[0]
            if count >= MAX_NOTES_PER_DAY:
                self._drop(device, f"the day already holds {MAX_NOTES_PER_DAY} notes")
                return False
            aead = self._key(day, create=True)
            if aead is None:
                self._drop(device, "no usable key for the day")
                return False
            nonce = os.urandom(12)
            sealed = aead.encrypt(nonce, name.encode("utf-8"), ticket.encode("ascii"))
            self.db.execute(
                "INSERT OR REPLACE INTO notes (ticket, day, nonce, sealed) VALUES (?, ?, ?, ?)",
                (ticket, day, nonce, sealed),
            )
            self.stats["stored"] += 1
        return True

    def _drop(self, device: str, why: str) -> None:
        self.stats["dropped"] += 1
        now = time.monotonic()
        key = f"{device}:{why}"
        if now - self._dropped_logged.get(key, -1e9) >= 60.0:
            if len(self._dropped_logged) > 1000:
                self._dropped_logged.clear()
            self._dropped_logged[key] = now
            log.warning("citizen note from device %s dropped: %s", device, why)

    # -- reading ---------------------------------------------------------------------------------
    def name_for(self, ticket: str) -> str | None:
        """The name noted for ``ticket`` (decrypted), or None. Only the soft caller's API of the
        counter serving that ticket calls this."""
        try:
            with self._lock:
                row = self.db.execute(
                    "SELECT day, nonce, sealed FROM notes WHERE ticket = ?", (ticket,)
                ).fetchone()
                if row is None:
                    return None
                day, nonce, sealed = row
                aead = self._key(day, create=False)
        except (sqlite3.Error, OSError) as exc:
            log.error("citizen notes cannot be read: %s", exc)
            return None
        if aead is None:
            return None
        try:
            return aead.decrypt(nonce, sealed, ticket.encode("ascii")).decode("utf-8")
        except Exception:  # a tampered row, or a row moved to another ticket: unreadable, never wrong
            log.warning("a citizen note could not be decrypted (tampered or its key replaced)")
            return None

    def count(self) -> int:
        """Notes held now."""
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM notes").fetchone()[0])

    # -- purging ---------------------------------------------------------------------------------
    def close_day(self, day: str) -> None:
        """``day.closed`` for ``day``: delete its notes and those of any earlier day, and their keys."""
        with self._lock:
            self._purge_through(day)

    def purge_past(self) -> None:
        """Delete the notes and keys of every business day before today (at start, and whenever a
        note arrives on a new day: a day that closed while the hub was down is purged too)."""
        with self._lock:
            self._purge_before(self.today())

    def _purge_before(self, today: str) -> None:
        yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
        self._purge_through(yesterday)

    def _purge_through(self, day: str) -> None:
        n = self.db.execute("DELETE FROM notes WHERE day <= ?", (day,)).rowcount
        if n:
            self.db.execute("VACUUM")  # no free page keeps an old row's bytes
        removed = 0
        if self.key_dir.is_dir():
            for path in self.key_dir.iterdir():
                m = _KEY_FILE.fullmatch(path.name)
                if m and m.group(1) <= day:
                    path.unlink(missing_ok=True)
                    removed += 1
        for k in [k for k in self._keys if k <= day]:
            del self._keys[k]
        if n or removed:
            self.stats["purged"] += n
            log.info("citizen notes of days up to %s deleted: %d note(s), %d key(s)", day, n, removed)

    def close(self) -> None:
        """Close the database (keys are forgotten from memory)."""
        with self._lock:
            self._keys.clear()
            self.db.close()

    def on_events(self, events: list[dict[str, Any]]) -> None:
        """The ingest's hook: purge at each ``day.closed``."""
        for ev in events:
            if ev.get("type") == "day.closed":
                day = (ev.get("data") or {}).get("day")
                if isinstance(day, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                    self.close_day(day)


def forget_all_notes(cfg: SiteConfig, db_path: Path, key_dir: Path | None = None) -> None:
    """Delete every note and key left by an earlier run (``prefill_name`` is off now)."""
    folder = key_dir or secrets_dir(cfg) / "citizen"
    removed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if _KEY_FILE.fullmatch(path.name):
                path.unlink(missing_ok=True)
                removed += 1
    for path in (db_path, db_path.with_name(db_path.name + "-journal")):
        if path.exists():
            path.unlink()
            removed += 1
    if removed:
        log.info("citizen notes are off: %d file(s) of notes and keys deleted", removed)
