"""Versioned schema migrations, run once however many nodes start at the same moment.

Migrations are the files ``province/sql/NNNN_name.sql``, applied in order, each in its own
transaction together with its row in ``schema_migrations``. Every runner first takes a PostgreSQL
advisory lock held for its transaction, so two nodes that start together apply each file once: the
second waits, then finds the work done. A node whose code knows fewer migrations than the database
has (an older node after an upgrade elsewhere) refuses to start: it would misread a newer schema.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from onestop.errors import OnestopError

log = logging.getLogger("onestop.province.migrations")

#: pg_advisory_xact_lock key of the migration runner ("onestop-province" as a number).
LOCK_KEY = 0x6F6E6573_70726F76
NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(OnestopError, RuntimeError):
    """The database has migrations this code does not know."""


class SchemaNotReady(OnestopError, RuntimeError):
    """The database lacks migrations this code needs (run ``onestop province migrate``)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The migrations shipped with this code, in order."""
    found = []
    for entry in resources.files("province").joinpath("sql").iterdir():
        m = NAME_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda x: x.version)
    versions = [x.version for x in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"province/sql migrations must be numbered 1..n without gaps, found {versions}")
    return found


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY, name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def applied(conn: psycopg.Connection) -> list[int]:
    """The versions the database has (empty for a new database)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def migrate(dsn: str, target: int | None = None) -> list[int]:
    """Apply what is missing (up to ``target``, default all); returns the versions this call applied."""
    known = available()
    done: list[int] = []
    with psycopg.connect(dsn, autocommit=False) as conn:
        # One lock for the whole run: it serialises runners across nodes (CREATE TABLE IF NOT
        # EXISTS alone races on the catalogue).
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        _ensure_table(conn)
        have = set(applied(conn))
        newer = sorted(v for v in have if v > len(known))
        if newer:
            raise SchemaTooNew(
                f"the database has schema version {max(have)}, this code knows only {len(known)}: "
                "upgrade this node before starting it"
            )
        for mig in known:
            if mig.version in have or (target is not None and mig.version > target):
                continue
            log.info("applying migration %04d_%s", mig.version, mig.name)
            conn.execute(mig.sql)  # trusted file shipped with the code
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (mig.version, mig.name)
            )
            done.append(mig.version)
        conn.commit()
    return done


def check(conn: psycopg.Connection) -> int:
    """The schema version, after checking this code can serve it; raises otherwise."""
    known = len(available())
    have = applied(conn)
    version = max(have, default=0)
    if version > known:
        raise SchemaTooNew(
            f"the database has schema version {version}, this code knows only {known}: "
            "upgrade this node before starting it"
        )
    if version < known:
        raise SchemaNotReady(
            f"the database has schema version {version}, this code needs {known}: "
            "run `onestop province migrate` (or start with --migrate)"
        )
    return version
