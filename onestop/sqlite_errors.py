"""One-line reasons for SQLite files that cannot be used: corrupt, not a database, or a full disk.

The controller and the hub open their databases through :func:`check_open`; whatever SQLite raises
there, or later on a commit, is turned into a :class:`StoreUnusable` (or its :class:`DiskFull`) whose
text is one line an operator can act on. The command line prints it and exits with status 2.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from onestop.errors import OnestopError


class StoreUnusable(OnestopError):
    """A database that cannot be opened or written; the message is one line."""


class DiskFull(StoreUnusable):
    """SQLite (or the file system) said the disk is full (SQLITE_FULL, ENOSPC)."""


def _free(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path.parent if path.parent.exists() else Path(".")).free
    except OSError:
        return None


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLite's SQLITE_FULL and for the system's ENOSPC."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def explain(path: Path, exc: BaseException) -> StoreUnusable:
    """The one-line reason for an error raised while opening or writing ``path``."""
    free = _free(path)
    nearly_full = free is not None and free < 64 * 1024  # an I/O error on a full disk says so too
    if is_disk_full(exc) or (nearly_full and isinstance(exc, (sqlite3.Error, OSError))):
        room = f"; {free} bytes free" if free is not None else ""
        return DiskFull(f"disk full: cannot write {path} ({exc}{room}); free some space, then start again")
    return StoreUnusable(f"{path} is not a usable database ({exc}); restore it from a backup or move it away")


def quick_check(db: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check``: raise :class:`StoreUnusable` with its first finding unless it says ok."""
    rows = db.execute("PRAGMA quick_check(100)").fetchall()
    # A finding may span lines ("*** in database main ***" first): keep one line for the operator.
    lines = [ln for r in rows for ln in str(r[0]).splitlines() if ln.strip() and not ln.startswith("***")]
    first = lines[0] if lines else "no answer"
    if first != "ok":
        more = f" (and {len(lines) - 1} more findings)" if len(lines) > 1 else ""
        raise StoreUnusable(
            f"{path} is not a usable database (quick_check: {first}{more}); restore it from a backup "
            "or move it away"
        )
