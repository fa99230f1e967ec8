"""The province's PostgreSQL store: sites and their tokens, batches, records and the onward outbox.

Every node of ``onestop province`` is stateless: all it knows is here. Exactly-once comes from the
database's constraints, not from a lock in one process:

- a batch is one row of ``batches`` keyed by its Idempotency-Key, inserted with ``ON CONFLICT DO
  NOTHING``; when two nodes receive the same batch at the same moment, the second insert waits for
  the first transaction and then finds the key (answered 409, "delivered");
- its records go into ``queue_records``/``ratings`` (a ticket's end and a rating are stored once,
  even if a site restored from a backup resends them under new keys), and only the records that
  were new are queued in ``onward_outbox``, in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from onestop.fake_backend import KEY_RE, BadRequest, records_hash
from province import migrations

log = logging.getLogger("onestop.province.store")

#: How long a token→site answer is trusted before the database is asked again (a removed token
#: stops working within this time on every node).
TOKEN_CACHE_S = 10.0

#: Seconds a request waits for a database connection before it is answered 503.
POOL_WAIT_S = 5.0

_ROWS = """
    rows AS (SELECT r FROM jsonb_array_elements(%(records)s::jsonb) WITH ORDINALITY AS t(r, n) ORDER BY n)"""
_OFFICERS = """
    officers_seen AS (
        INSERT INTO officers (site, officer, person, name)
        SELECT DISTINCT ON (officer) site, officer, officer, record->>'officer_name' FROM ins
        WHERE officer IS NOT NULL ORDER BY officer
        ON CONFLICT (site, officer) DO NOTHING)"""
_INSERT = {
    "queue-records": f"""
        WITH {_ROWS},
        ins AS (
            INSERT INTO queue_records (site, ticket_id, finished_at, number, service, counter, officer,
                                       priority, issued_at, called_at, wait_s, service_s, outcome,
                                       batch_key, record)
            SELECT %(site)s, r->>'ticket_id', (r->>'finished_at')::timestamptz, r->>'number', r->>'service',
                   r->>'counter', r->>'officer', (r->>'priority')::boolean, (r->>'issued_at')::timestamptz,
                   (r->>'called_at')::timestamptz, (r->>'wait_s')::double precision,
                   (r->>'service_s')::double precision, r->>'outcome', %(key)s, r
            FROM rows
            ON CONFLICT DO NOTHING
            RETURNING site, finished_at, service, officer, outcome, wait_s, service_s, record),
        onward AS (
            INSERT INTO onward_outbox (stream, site, record) SELECT 'queue-records', site, record FROM ins),
        {_OFFICERS},
        rollup AS (
            INSERT INTO day_queue
            SELECT site, (finished_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, service,
                   coalesce(officer, ''), count(*), count(*) FILTER (WHERE outcome = 'done'),
                   count(*) FILTER (WHERE outcome = 'skipped'),
                   count(*) FILTER (WHERE outcome = 'expired'), count(wait_s), coalesce(sum(wait_s), 0),
                   count(*) FILTER (WHERE wait_s <= 900), count(service_s), coalesce(sum(service_s), 0)
            FROM ins GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (site, day, service, officer) DO UPDATE SET
                n = day_queue.n + EXCLUDED.n, done = day_queue.done + EXCLUDED.done,
                skipped = day_queue.skipped + EXCLUDED.skipped,
                expired = day_queue.expired + EXCLUDED.expired,
                wait_n = day_queue.wait_n + EXCLUDED.wait_n,
                wait_sum_s = day_queue.wait_sum_s + EXCLUDED.wait_sum_s,
                within_15 = day_queue.within_15 + EXCLUDED.within_15,
                service_n = day_queue.service_n + EXCLUDED.service_n,
                service_sum_s = day_queue.service_sum_s + EXCLUDED.service_sum_s),
        month_rollup AS (
            INSERT INTO month_queue
            SELECT site, date_trunc('month', (finished_at AT TIME ZONE 'Asia/Ho_Chi_Minh'))::date,
                   count(*), count(*) FILTER (WHERE outcome = 'done'),
                   count(*) FILTER (WHERE outcome = 'skipped'), count(*) FILTER (WHERE outcome = 'expired'),
                   count(wait_s), coalesce(sum(wait_s), 0), count(*) FILTER (WHERE wait_s <= 900),
                   count(service_s), coalesce(sum(service_s), 0)
            FROM ins GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (site, month) DO UPDATE SET
                n = month_queue.n + EXCLUDED.n, done = month_queue.done + EXCLUDED.done,
                skipped = month_queue.skipped + EXCLUDED.skipped,
                expired = month_queue.expired + EXCLUDED.expired,
                wait_n = month_queue.wait_n + EXCLUDED.wait_n,
                wait_sum_s = month_queue.wait_sum_s + EXCLUDED.wait_sum_s,
                within_15 = month_queue.within_15 + EXCLUDED.within_15,
                service_n = month_queue.service_n + EXCLUDED.service_n,
                service_sum_s = month_queue.service_sum_s + EXCLUDED.service_sum_s)
        SELECT count(*) FROM ins
    """,
    "ratings": f"""
        WITH {_ROWS},
        ins AS (
            INSERT INTO ratings (site, ticket_id, rated_at, number, service, counter, officer, score,
                                 level, satisfied, batch_key, record)
            SELECT %(site)s, r->>'ticket_id', (r->>'rated_at')::timestamptz, r->>'number', r->>'service',
                   r->>'counter', r->>'officer', (r->>'score')::integer, r->>'level',
                   (r->>'satisfied')::boolean, %(key)s, r
            FROM rows
            ON CONFLICT DO NOTHING
            RETURNING site, rated_at, service, officer, score, satisfied, record),
        onward AS (INSERT INTO onward_outbox (stream, site, record) SELECT 'ratings', site, record FROM ins),
        {_OFFICERS},
        rollup AS (
            INSERT INTO day_ratings
            SELECT site, (rated_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, service, coalesce(officer, ''),
                   score, count(*), count(*) FILTER (WHERE satisfied)
            FROM ins GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (site, day, service, officer, score) DO UPDATE SET
                n = day_ratings.n + EXCLUDED.n, satisfied = day_ratings.satisfied + EXCLUDED.satisfied),
        month_rollup AS (
            INSERT INTO month_ratings
            SELECT site, date_trunc('month', (rated_at AT TIME ZONE 'Asia/Ho_Chi_Minh'))::date, score,
                   count(*), count(*) FILTER (WHERE satisfied)
            FROM ins GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (site, month, score) DO UPDATE SET
                n = month_ratings.n + EXCLUDED.n, satisfied = month_ratings.satisfied + EXCLUDED.satisfied)
        SELECT count(*) FROM ins
    """,
}
#: Keys that must be non-empty strings in every record (the rest may be null where §4 allows it).
_REQUIRED_TEXT = {
    "queue-records": ("ticket_id", "number", "service", "outcome", "issued_at", "finished_at"),
    "ratings": ("ticket_id", "number", "service", "level", "rated_at"),
}


#: Timestamps (ISO 8601 with an offset) per stream; None is allowed where §4 allows it. Checked here,
#: because PostgreSQL reads words such as 'yesterday', 'now' or 'infinity' as timestamps.
_TIMESTAMPS = {
    "queue-records": (("issued_at", False), ("called_at", True), ("finished_at", False)),
    "ratings": (("rated_at", False),),
}


def _check_record(stream: str, i: int, r: dict[str, Any]) -> None:
    for k in _REQUIRED_TEXT[stream]:
        if not isinstance(r.get(k), str) or not r[k]:
            raise BadRequest(f"records[{i}].{k}: expected a non-empty string")
    for k, nullable in _TIMESTAMPS[stream]:
        v = r.get(k)
        if v is None and nullable:
            continue
        try:
            ok = isinstance(v, str) and datetime.fromisoformat(v).tzinfo is not None
        except ValueError:
            ok = False
        if not ok:
            raise BadRequest(f"records[{i}].{k}: expected an ISO 8601 time with an offset, got {v!r:.40}")


@dataclass(frozen=True)
class Receipt:
    """What a node answers for one batch: 200 (stored) or 409 (the key was stored before)."""

    status: int
    key: str
    accepted: int
    stored: int
    received_at: str

    def body(self) -> dict[str, Any]:
        return {
            "status": "accepted" if self.status == 200 else "duplicate",
            "key": self.key,
            "accepted": self.accepted,
            "stored": self.stored,
            "received_at": self.received_at,
        }


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Store:
    """One node's view of the province database (a small connection pool, thread-safe)."""

    def __init__(self, dsn: str, *, node: str = "node", min_size: int = 1, max_size: int = 8) -> None:
        self.dsn = dsn
        self.node = node
        self.pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            check=ConnectionPool.check_connection,
            # A request waits at most this long for a connection; then it is answered 503 and the
            # site retries later (a province database that is down must not hold sites' requests).
            timeout=POOL_WAIT_S,
            kwargs={"connect_timeout": 5},
        )
        self._tokens: dict[str, tuple[str | None, float]] = {}
        self._people: dict[str, tuple[tuple[str, str, str | None] | None, float]] = {}
        self._lock = threading.Lock()

    def open(self, *, migrate: bool = False, wait_s: float = 30.0) -> int:
        """Open the pool and check the schema (migrating first if asked); returns its version."""
        if migrate:
            migrations.migrate(self.dsn)
        self.pool.open(wait=True, timeout=wait_s)
        with self.pool.connection() as conn:
            version = migrations.check(conn)
        self.maintain()
        return version

    def maintain(self) -> int:
        """Make the monthly partitions from last month to two months ahead (idempotent; nodes call it
        at start and every hour); returns how many were new."""
        with self.pool.connection() as conn:
            row = conn.execute(
                """SELECT ensure_month_partitions((now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - 31,
                                                  (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date + 62)"""
            ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.pool.close()

    # -- sites -----------------------------------------------------------------------------------
    def add_site(self, site: str, name: str, token: str | None = None) -> str:
        """Register a site (or give it a new token); returns the token, which is stored only hashed."""
        token = token or secrets.token_urlsafe(32)
        if len(token) < 16:
            raise ValueError("a site token must be at least 16 characters")
        with self.pool.connection() as conn:
            conn.execute(
                """INSERT INTO sites (id, name, token_sha256) VALUES (%s, %s, %s)
                   ON CONFLICT (id) DO UPDATE
                   SET name = EXCLUDED.name, token_sha256 = EXCLUDED.token_sha256""",
                (site, name, token_hash(token)),
            )
        with self._lock:
            self._tokens.clear()
        return token

    def add_token(self, name: str, role: str, site: str | None = None, token: str | None = None) -> str:
        """A person's token (viewer, manager, admin; ``centre`` with a site): returned once, kept hashed."""
        token = token or secrets.token_urlsafe(32)
        with self.pool.connection() as conn:
            conn.execute(
                """INSERT INTO province_tokens (name, role, site, token_sha256) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (name) DO UPDATE
                   SET role = EXCLUDED.role, site = EXCLUDED.site, token_sha256 = EXCLUDED.token_sha256""",
                (name, role, site, token_hash(token)),
            )
        with self._lock:
            self._tokens.clear()
        return token

    def person(self, token: str) -> tuple[str, str, str | None] | None:
        """(name, role, site) of a person's token, or None."""
        digest = "p:" + token_hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._people.get(digest)
            if hit is not None and now - hit[1] < TOKEN_CACHE_S:
                return hit[0]
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT name, role, site FROM province_tokens WHERE token_sha256 = %s", (digest[2:],)
            ).fetchone()
        who = (row[0], row[1], row[2]) if row else None
        with self._lock:
            if len(self._people) > 10_000:
                self._people.clear()
            self._people[digest] = (who, now)
        return who

    def live(self, site: str | None = None) -> list[dict[str, Any]]:
        """Every registered centre's live summary (or one centre's), by site id."""
        from province.live import summary

        sql = """SELECT s.id, s.name, l.state, l.link, l.link_since, l.last_seen
                 FROM sites s LEFT JOIN site_live l ON l.site = s.id"""
        params: tuple[Any, ...] = ()
        if site is not None:
            sql += " WHERE s.id = %s"
            params = (site,)
        with self.pool.connection() as conn:
            rows = conn.execute(sql + " ORDER BY s.id", params).fetchall()
        return [summary(r[0], r[1], r[2:] if r[3] is not None else None) for r in rows]

    def sites(self) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, name, created_at FROM sites ORDER BY id").fetchall()
        return [{"id": r[0], "name": r[1], "created_at": r[2].isoformat()} for r in rows]

    def site_of(self, token: str) -> str | None:
        """The site a bearer token belongs to, or None."""
        digest = token_hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._tokens.get(digest)
            if hit is not None and now - hit[1] < TOKEN_CACHE_S:
                return hit[0]
        with self.pool.connection() as conn:
            row = conn.execute("SELECT id FROM sites WHERE token_sha256 = %s", (digest,)).fetchone()
        site = row[0] if row else None
        with self._lock:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[digest] = (site, now)
        return site

    # -- ingest ----------------------------------------------------------------------------------
    def ingest(self, stream: str, key: str, site: str, records: list[dict[str, Any]]) -> Receipt:
        """Store a checked batch once: 200 with what was new, or 409 for a key seen before."""
        m = KEY_RE.fullmatch(key)
        assert m is not None  # checked by check_batch
        for i, r in enumerate(records):
            _check_record(stream, i, r)
        digest = records_hash(records)
        try:
            with self.pool.connection() as conn, conn.transaction():
                row = conn.execute(
                    """INSERT INTO batches (key, site, stream, first_id, last_id, count, sha256, stored, node)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s)
                       ON CONFLICT (key) DO NOTHING RETURNING received_at""",
                    (key, site, stream, int(m["first"]), int(m["last"]), len(records), digest, self.node),
                ).fetchone()
                if row is None:
                    return self._repeat(conn, key, digest)
                got = conn.execute(
                    _INSERT[stream],  # constant SQL
                    {"records": Jsonb(records), "site": site, "key": key},
                ).fetchone()
                stored = int(got[0]) if got else 0
                conn.execute("UPDATE batches SET stored = %s WHERE key = %s", (stored, key))
        except (psycopg.errors.DataError, psycopg.errors.IntegrityConstraintViolation) as exc:
            # A value PostgreSQL cannot read (a date that is not one, "yes" for a boolean, a null
            # where §4 wants a value): the site's bug, answered 400; nothing was stored.
            raise BadRequest(f"a record has a value of the wrong kind: {exc.diag.message_primary}") from None
        if stored < len(records):
            old = len(records) - stored
            log.info("batch %s: %d of %d records were stored before under other keys", key, old, len(records))
        return Receipt(200, key, len(records), stored, row[0].isoformat())

    def _repeat(self, conn: psycopg.Connection, key: str, digest: str) -> Receipt:
        old = conn.execute(
            """UPDATE batches SET repeats = repeats + 1 WHERE key = %s
               RETURNING count, stored, sha256, received_at""",
            (key,),
        ).fetchone()
        assert old is not None
        if old[2] != digest:
            log.error("key %s came again with different records: the site broke the contract", key)
        return Receipt(409, key, old[0], old[1], old[3].isoformat())

    # -- looking ---------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self.pool.connection() as conn:
            q = conn.execute("SELECT count(*) FROM queue_records").fetchone()
            r = conn.execute("SELECT count(*) FROM ratings").fetchone()
            b = conn.execute("SELECT count(*) FROM batches").fetchone()
            o = conn.execute("SELECT count(*) FROM onward_outbox WHERE delivered_at IS NULL").fetchone()
        return {
            "queue_records": q[0] if q else 0,
            "ratings": r[0] if r else 0,
            "batches": b[0] if b else 0,
            "onward_pending": o[0] if o else 0,
        }

    def records(self, stream: str, site: str | None = None) -> list[dict[str, Any]]:
        table = {"queue-records": "queue_records", "ratings": "ratings"}[stream]
        order = "finished_at" if stream == "queue-records" else "rated_at"
        sql = f"SELECT record FROM {table}"  # table from a fixed map
        params: tuple[Any, ...] = ()
        if site:
            sql += " WHERE site = %s"
            params = (site,)
        with self.pool.connection() as conn:
            rows = conn.execute(sql + f" ORDER BY {order}, ticket_id", params).fetchall()
        return [r[0] if isinstance(r[0], dict) else orjson.loads(r[0]) for r in rows]
