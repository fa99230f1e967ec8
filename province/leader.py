"""One node at a time does a job (onward forwarding, the live view): the holder of an advisory lock.

The lock lives as long as a PostgreSQL connection of the leader's own; when the node dies or loses
the database, the connection closes, the lock is released and another node's loop takes it within
``poll_s``. A job runs ``job(still_leader)`` and returns when asked to stop or when
``still_leader()`` raises (the lock connection is gone).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger("onestop.province.leader")


def lead(
    dsn: str,
    key: int,
    name: str,
    job: Callable[[Callable[[], None]], None],
    stop: threading.Event,
    *,
    poll_s: float = 2.0,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Loop until ``stop``: whenever this node can take the lock ``key``, run ``job``."""
    while not stop.is_set():
        leading = False
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as lock_conn:
                row = lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    leading = True
                    if on_change:
                        on_change(True)
                    log.info("this node leads %s now", name)

                    def still_leader() -> None:
                        lock_conn.execute("SELECT 1")

                    job(still_leader)
        except psycopg.OperationalError as exc:
            log.warning("%s paused, database unreachable: %s", name, exc)
        finally:
            if leading and on_change:
                on_change(False)
        stop.wait(poll_s)
