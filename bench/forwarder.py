"""forwarder: how fast the outbox forwarder drains a backlog into the reference back end.

A hub database gets a backlog of ``n`` queue records (written by ``HubStore.apply`` from synthetic
``ticket.done`` events, as the hub writes them); the reference back end (``python -m onestop
fake-backend``, its own process, records in memory) receives them over HTTP on loopback.

Beside it, in the same run and against the same back end, the bare batched-POST floor: a plain httpx
loop posting the very same batches (bodies built beforehand, same keys) one after the other, with no
outbox bookkeeping (no reading, no in-flight record, no position). The ratio of the two says what the
forwarder's durability costs over the HTTP round trips themselves: mostly one fsync per batch (the
in-flight record and the position are committed with ``synchronous=FULL`` before each POST).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import LOOPBACK, BenchError, cpu_seconds, machine_info, stop_process, summary_ms
from hub_api.forwarder import Forwarder, batch_key
from hub_api.store import HubStore
from onestop.broker import free_port
from onestop.config import BackendSection

NAME = "forwarder"
SITE = "bench-forward"
STREAM = "queue-records"
TOKEN_ENV = "ONESTOP_BENCH_BACKEND_TOKEN"
#: A backlog of 100,000 records (months of a large centre) should drain within a minute of the back
#: end coming back: at least this many records per second.
TARGET_RECORDS_PER_S = 100_000 / 60
BACKEND_START_S = 30.0
FILL_CHUNK = 5000


def _event(seq: int) -> dict[str, Any]:
    number = f"A{seq:06d}"
    ticket = {
        "id": f"20250102-{number}",
        "number": number,
        "service": "tuphap",
        "priority": False,
        "status": "done",
        "counter": "1",
        "officer": "cb001",
        "issued_at": "2025-01-02T08:00:00+07:00",
        "first_called_at": "2025-01-02T08:05:00+07:00",
        "called_at": "2025-01-02T08:05:00+07:00",
        "finished_at": "2025-01-02T08:09:30+07:00",
    }
    return {"seq": seq, "type": "ticket.done", "ts": "2025-01-02T08:09:30+07:00", "data": {"ticket": ticket}}


def fill(db: Path, n: int) -> None:
    """Write ``n`` queue records into the hub database's outbox, the way the hub does."""
    store = HubStore(db)
    try:
        for start in range(1, n + 1, FILL_CHUNK):
            store.apply([_event(s) for s in range(start, min(start + FILL_CHUNK, n + 1))])
    finally:
        store.close()


def batches(db: Path, batch_size: int) -> list[tuple[str, bytes]]:
    """The backlog cut as the forwarder cuts it: (key, body) of each batch."""
    store = HubStore(db)
    try:
        rows = store.query("SELECT id, record FROM outbox WHERE stream = ? ORDER BY id", (STREAM,))
    finally:
        store.close()
    out = []
    for i in range(0, len(rows), batch_size):
        part = rows[i : i + batch_size]
        records = [orjson.loads(r["record"]) for r in part]
        key = batch_key(SITE, STREAM, part[0]["id"], part[-1]["id"])
        out.append((key, orjson.dumps({"site": SITE, "records": records})))
    return out


class Backend:
    """``python -m onestop fake-backend`` as a child process on a free loopback port."""

    def __init__(self, token: str, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        self.client = httpx.Client(timeout=10)
        for _ in range(3):  # a free port may be taken by someone else before the child binds it
            self.port = free_port(LOOPBACK)
            self.url = f"http://{LOOPBACK}:{self.port}"
            argv = [sys.executable, "-m", "onestop", "fake-backend", "--listen", f"{LOOPBACK}:{self.port}",
                    "--token", token, "--log-level", "WARNING"]  # fmt: skip
            with open(log, "ab") as out:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
            if self._ready():
                return
        self.client.close()
        raise BenchError(f"the reference back end exited at start ({log.read_text()[-500:]})")

    def _ready(self) -> bool:
        """Wait until it answers (True) or exits (False)."""
        deadline = time.monotonic() + BACKEND_START_S
        pause = threading.Event()
        while self.proc.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if self.client.get(f"{self.url}/_stats").status_code == 200:
                    return True
            if time.monotonic() > deadline:
                stop_process(self.proc)
                raise BenchError(f"the reference back end did not answer in {BACKEND_START_S:.0f} s")
            pause.wait(0.05)
        return False

    def stats(self) -> dict[str, Any]:
        """Its ``/_stats``."""
        doc: dict[str, Any] = self.client.get(f"{self.url}/_stats").json()
        return doc

    def reset(self) -> None:
        """Forget every record and key."""
        self.client.post(f"{self.url}/_reset").raise_for_status()

    def close(self) -> None:
        """Stop the process."""
        self.client.close()
        stop_process(self.proc)


def measure_floor(backend: Backend, token: str, work: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Post every batch once, one at a time, with a plain httpx client; figures of the loop."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
    url = f"{backend.url}/onestop/{STREAM}"
    latencies: list[float] = []
    with httpx.Client(timeout=30, headers=headers) as client:
        t0 = time.perf_counter()
        for key, body in work:
            t = time.perf_counter()
            r = client.post(url, content=body, headers={"Idempotency-Key": key})
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                raise BenchError(f"floor: {key} answered {r.status_code}: {r.text[:200]}")
        total = time.perf_counter() - t0
    n = sum(orjson.loads(b)["records"].__len__() for _, b in work)
    return _rates(n, len(work), total) | {"post": summary_ms(latencies)}


def measure_forwarder(
    backend: Backend, token: str, db: Path, batch_size: int, timeout_s: float
) -> dict[str, Any]:
    """Start a forwarder on the backlog and time it until everything is acknowledged."""
    section = BackendSection(url=f"{backend.url}/onestop", token_env=TOKEN_ENV, batch_size=batch_size)
    fwd = Forwarder(SITE, section, db, environ={TOKEN_ENV: token}, idle_poll_s=0.05)
    t0 = time.perf_counter()
    fwd.start()
    try:
        if not fwd.wait_drained(timeout_s):
            raise BenchError(f"the forwarder did not drain in {timeout_s:.0f} s: {fwd.metrics()}")
        total = time.perf_counter() - t0
        st = fwd.status[STREAM]
        figures = _rates(st.records_delivered, st.batches_delivered, total)
        figures["failed_attempts"] = st.attempts - st.batches_delivered
        figures["duplicates"] = st.duplicates
    finally:
        fwd.stop()
    return figures


def _rates(records: int, n_batches: int, total_s: float) -> dict[str, Any]:
    return {
        "records": records,
        "batches": n_batches,
        "total_s": round(total_s, 3),
        "records_per_s": round(records / total_s, 1),
        "batches_per_s": round(n_batches / total_s, 2),
    }


def run(n: int = 100_000, batch_size: int = 200, *, max_seconds: float = 900.0) -> dict[str, Any]:
    """Drain an ``n``-record backlog with the forwarder and with the bare floor; return the result."""
    if n < 1 or batch_size < 1:
        raise ValueError("n and batch_size must be >= 1")
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="onestop-bench-forward-"))
    token = secrets.token_urlsafe(24)
    backend: Backend | None = None
    try:
        db = folder / "hub.db"
        t = time.perf_counter()
        fill(db, n)
        fill_s = time.perf_counter() - t
        work = batches(db, batch_size)
        backend = Backend(token, folder / "backend.log")
        cpu0 = cpu_seconds(backend.proc.pid)
        floor = measure_floor(backend, token, work)
        cpu1 = cpu_seconds(backend.proc.pid)
        if backend.stats()["records"] != n:
            raise BenchError("floor: the back end does not hold every record")
        backend.reset()
        left = max_seconds - (time.monotonic() - started)
        cpu2 = cpu_seconds(backend.proc.pid)
        fwd = measure_forwarder(backend, token, db, batch_size, left)
        cpu3 = cpu_seconds(backend.proc.pid)
        stats = backend.stats()
        if stats["records"] != n or stats["conflicts"] or stats["streams"][STREAM]["repeats"]:
            raise BenchError(f"forwarder: the back end holds {stats['records']} of {n} records: {stats}")
    finally:
        if backend is not None:
            backend.close()
        if not os.environ.get("ONESTOP_BENCH_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)
    ratio = fwd["total_s"] / floor["total_s"]
    per_batch = lambda a, b: (  # noqa: E731
        round((b - a) / len(work) * 1000, 3) if a is not None and b is not None else None
    )
    return {
        "name": NAME,
        "n": n,
        "batch_size": batch_size,
        "unit": "records/s",
        "records_per_s": fwd["records_per_s"],
        "batches_per_s": fwd["batches_per_s"],
        "total_s": fwd["total_s"],
        "forwarder": fwd,
        "floor": floor,
        "ratio_time": round(ratio, 3),
        "overhead_ms_per_batch": round((fwd["total_s"] - floor["total_s"]) / len(work) * 1000, 3),
        "target": {"records_per_s_min": round(TARGET_RECORDS_PER_S, 1)},
        "pass": fwd["records_per_s"] >= TARGET_RECORDS_PER_S,
        "delivered": {"records": stats["records"], "by_status": stats["by_status"], "conflicts": 0},
        "backend_cpu_ms_per_batch": {"floor": per_batch(cpu0, cpu1), "forwarder": per_batch(cpu2, cpu3)},
        "setup": {
            "backlog": f"{n} {STREAM} records in a hub database (HubStore.apply, SQLite on disk, WAL)",
            "backend": "separate process (python -m onestop fake-backend), records in memory",
            "forwarder": "in this process: reads the outbox, records each batch in flight (fsync), "
            "posts it with httpx, stores the position and claims the next batch in one transaction",
            "floor": "plain httpx loop in this process: the same keys and bodies, built beforehand",
            "order": "floor first, then the back end is reset and the forwarder drains the backlog",
            "fill_s": round(fill_s, 2),
        },
        "elapsed_s": round(time.monotonic() - started, 2),
        "machine": machine_info(),
    }
