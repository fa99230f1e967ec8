"""Forwarding onward: from the province's outbox to the provincial/national one-stop system.

The same guarantee as a site's hub (ARCHITECTURE §4): every record the province stored reaches the
onward system exactly once as far as a de-duplicating receiver can tell, in order per site and
stream, after any restart of any node, whatever the onward system does meanwhile.

- One node forwards at a time: the one holding a PostgreSQL advisory lock on a connection of its
  own. When that node dies its connection closes, the lock is released, and another node's
  forwarder takes over within ``LEADER_POLL_S``.
- A batch is made of one site's pending rows of one stream, oldest first. Its key
  ``{site}:{stream}:{first}-{last}`` (the rows' outbox ids) is written onto the rows *before* the
  batch is sent; a batch that was sent and not acknowledged is sent again with exactly the same rows
  and key, by whichever node leads next. 2xx and 409 mark the rows delivered.
- The adapter is the hub's (``hub_api.backends``): the §4 HTTP adapter by default, or a province's
  own ``package.module:factory``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from hub_api.backends import Adapter, adapter_factory, read_token
from hub_api.forwarder import Backoff
from onestop.config import BackendSection
from onestop.fake_backend import STREAMS
from province.leader import lead

log = logging.getLogger("onestop.province.onward")

#: pg_advisory_lock key held by the forwarding node.
LEADER_KEY = 0x6F6E6573_6F6E7772
LEADER_POLL_S = 2.0
IDLE_POLL_S = 1.0


@dataclass
class StreamStatus:
    failures: int = 0
    last_error: str | None = None
    delivered: int = 0


@dataclass
class OnwardStatus:
    leader: bool = False
    streams: dict[str, StreamStatus] = field(default_factory=lambda: {s: StreamStatus() for s in STREAMS})


class OnwardForwarder:
    """A thread that forwards the outbox when this node leads; ``start()``, ``stop()``."""

    def __init__(
        self,
        dsn: str,
        backend: BackendSection,
        *,
        environ: Mapping[str, str] | None = None,
        adapter: Adapter | None = None,
        backoff: Backoff | None = None,
        idle_poll_s: float = IDLE_POLL_S,
        leader_poll_s: float = LEADER_POLL_S,
    ) -> None:
        self.dsn = dsn
        self.backend = backend
        self.batch_size = backend.batch_size
        self.adapter = adapter or adapter_factory(backend)(backend, read_token(backend, environ))
        self.backoff = backoff or Backoff(backend.backoff_base_s, backend.backoff_max_s)
        self.idle_poll_s = idle_poll_s
        self.leader_poll_s = leader_poll_s
        self.status = OnwardStatus()
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> OnwardForwarder:
        self._thread = threading.Thread(target=self._run, name="province-onward", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.adapter.close()

    def _run(self) -> None:
        lead(self.dsn, LEADER_KEY, "onward forwarding", self._job, self._stop, poll_s=self.leader_poll_s,
             on_change=self._set_leader)  # fmt: skip

    def _job(self, still_leader: Callable[[], None]) -> None:
        with psycopg.connect(self.dsn, connect_timeout=5) as conn:
            self._lead(conn, still_leader)

    def _set_leader(self, leader: bool) -> None:
        with self.changed:
            self.status.leader = leader
            self.changed.notify_all()

    def _lead(self, conn: psycopg.Connection, still_leader: Callable[[], None]) -> None:
        failures = dict.fromkeys(STREAMS, 0)
        while not self._stop.is_set():
            still_leader()
            sent_any = False
            wait_s = self.idle_poll_s
            for stream in STREAMS:
                batch = self._next_batch(conn, stream)
                if batch is None:
                    continue
                key, site, ids, records = batch
                outcome = self.adapter.send(stream, site, records, key)
                st = self.status.streams[stream]
                if outcome.delivered:
                    with conn.transaction():
                        conn.execute(
                            "UPDATE onward_outbox SET delivered_at = now() WHERE batch_key = %s", (key,)
                        )
                        conn.execute(
                            """UPDATE onward_state SET failures = 0, last_success = now(),
                                      delivered = delivered + %s WHERE stream = %s""",
                            (len(ids), stream),
                        )
                    failures[stream] = 0
                    with self.changed:
                        st.failures = 0
                        st.delivered += len(ids)
                        self.changed.notify_all()
                    sent_any = True
                else:
                    failures[stream] += 1
                    log.warning(
                        "onward %s batch %s not delivered (%s), will retry", stream, key, outcome.reason
                    )
                    with conn.transaction():
                        conn.execute(
                            """UPDATE onward_state SET failures = failures + 1, last_error = %s,
                                      last_failure = now() WHERE stream = %s""",
                            (outcome.reason[:500], stream),
                        )
                    with self.changed:
                        st.failures = failures[stream]
                        st.last_error = outcome.reason
                        self.changed.notify_all()
                    wait_s = min(wait_s, self.backoff.delay(failures[stream]))
            if not sent_any:
                self._stop.wait(wait_s)

    def _next_batch(
        self, conn: psycopg.Connection, stream: str
    ) -> tuple[str, str, list[int], list[dict[str, Any]]] | None:
        """The batch to send next: an unacknowledged one again, or a new one (its key written first)."""
        with conn.transaction():
            row = conn.execute(
                """SELECT batch_key FROM onward_outbox
                   WHERE stream = %s AND delivered_at IS NULL AND batch_key IS NOT NULL
                   ORDER BY id LIMIT 1""",
                (stream,),
            ).fetchone()
            if row is None:
                first = conn.execute(
                    """SELECT site FROM onward_outbox WHERE stream = %s AND delivered_at IS NULL
                       ORDER BY id LIMIT 1""",
                    (stream,),
                ).fetchone()
                if first is None:
                    return None
                site = first[0]
                ids = [
                    r[0]
                    for r in conn.execute(
                        """SELECT id FROM onward_outbox
                           WHERE stream = %s AND site = %s AND delivered_at IS NULL AND batch_key IS NULL
                           ORDER BY id LIMIT %s""",
                        (stream, site, self.batch_size),
                    )
                ]
                key = f"{site}:{stream}:{ids[0]}-{ids[-1]}"
                conn.execute("UPDATE onward_outbox SET batch_key = %s WHERE id = ANY(%s)", (key, ids))
            else:
                key = row[0]
            rows = conn.execute(
                "SELECT id, site, record FROM onward_outbox WHERE batch_key = %s ORDER BY id", (key,)
            ).fetchall()
        return key, rows[0][1], [r[0] for r in rows], [r[2] for r in rows]

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)
