"""The outbox forwarder against the real reference back end over HTTP on loopback.

Outbox rows are written by a real :class:`HubStore`; the back end is ``onestop.fake_backend`` served
by uvicorn; waits are on conditions (the forwarder's and the back end's), never on ``sleep()``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub_api.backends import BackendConfigError, Outcome
from hub_api.forwarder import Backoff, Forwarder, ForwarderBusy
from hub_api.store import STREAMS, HubStore
from onestop import sdnotify
from onestop.broker import free_port
from onestop.config import BackendSection, SiteConfig
from onestop.fake_backend import BackendServer, FakeBackend
from tests.utils.outbox import assert_exactly_once_in_order, fill_outbox, forwarder_row, outbox

pytestmark = pytest.mark.integration

TOKEN = "tok-5b2f0c9e1d"
TOKEN_ENV = "ONESTOP_TEST_BACKEND_TOKEN"
SITE = "t-site"
WAIT_S = 20.0

MakeForwarder = Callable[..., Forwarder]


@pytest.fixture
def hub_db(tmp_path: Path) -> Path:
    """An empty hub database (the real schema)."""
    path = tmp_path / "hub.db"
    HubStore(path).close()
    return path


@pytest.fixture
def fake() -> Iterator[BackendServer]:
    """The reference back end on a free loopback port, accepting :data:`TOKEN`."""
    server = BackendServer(FakeBackend(TOKEN)).start()
    yield server
    server.stop()


@pytest.fixture
def make_forwarder(hub_db: Path) -> Iterator[MakeForwarder]:
    """``make_forwarder(url, **kw)``: a started in-process forwarder with near-zero backoff."""
    made: list[Forwarder] = []

    def make(url: str, *, timeout_s: float = 5.0, batch_size: int = 200, **kw: Any) -> Forwarder:
        backend = BackendSection(url=url, token_env=TOKEN_ENV, timeout_s=timeout_s, batch_size=batch_size)
        kw.setdefault("environ", {TOKEN_ENV: TOKEN})
        f = Forwarder(SITE, backend, hub_db, backoff=Backoff(0.001, 0.01), idle_poll_s=0.05, **kw)
        made.append(f)
        f.start()
        return f

    yield make
    for f in made:
        f.stop()


def _failures(fwd: Forwarder, stream: str, n: int) -> Callable[[], bool]:
    return lambda: fwd.status[stream].consecutive_failures >= n


def _warnings(caplog: pytest.LogCaptureFixture, stream: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "onestop.hub.forwarder"
        and r.levelno == logging.WARNING
        and r.getMessage().startswith(stream)
    ]


def test_backend_down_then_up_delivers_every_record_once_in_order(
    hub_db: Path, make_forwarder: MakeForwarder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "onestop.hub.forwarder")
    fill_outbox(hub_db, queue=250, ratings=30)
    port = free_port("127.0.0.1")  # nothing listens there yet: connections are refused
    fwd = make_forwarder(f"http://127.0.0.1:{port}/onestop")
    assert fwd.wait_for(lambda: all(_failures(fwd, s, 5)() for s in STREAMS), WAIT_S)
    first_keys = {s: fwd.status[s].in_flight_key for s in STREAMS}
    assert first_keys == {
        "queue-records": f"{SITE}:queue-records:{outbox(hub_db, 'queue-records')[0][0]}-"
        f"{outbox(hub_db, 'queue-records')[199][0]}",
        "ratings": f"{SITE}:ratings:{outbox(hub_db, 'ratings')[0][0]}-{outbox(hub_db, 'ratings')[-1][0]}",
    }
    fill_outbox(hub_db, queue=20, ratings=5)  # more arrive while the back end is away
    n = fwd.status["ratings"].consecutive_failures
    assert fwd.wait_for(_failures(fwd, "ratings", n + 3), WAIT_S)
    assert {s: fwd.status[s].in_flight_key for s in STREAMS} == first_keys  # the same batch, again

    server = BackendServer(FakeBackend(TOKEN), port=port).start()
    try:
        assert fwd.wait_drained(WAIT_S)
        backend = server.backend
        assert_exactly_once_in_order(backend, hub_db)
        for s in STREAMS:  # the batch in flight during the outage is the one that arrived first
            assert backend.batches(s)[0]["key"] == first_keys[s]
            assert fwd.status[s].consecutive_failures == 0
        metrics = fwd.metrics()["streams"]
        assert {s: metrics[s]["pending"] for s in STREAMS} == {"queue-records": 0, "ratings": 0}
        assert metrics["ratings"]["last_success"] is not None
        # one warning per stream for the whole outage, however many retries
        assert [len(_warnings(caplog, s)) for s in STREAMS] == [1, 1]
    finally:
        server.stop()


def test_a_409_counts_as_delivered(hub_db: Path, fake: BackendServer, make_forwarder: MakeForwarder) -> None:
    fill_outbox(hub_db, queue=10)
    rows = outbox(hub_db, "queue-records")
    key = f"{SITE}:queue-records:{rows[0][0]}-{rows[-1][0]}"
    r = httpx.post(  # the batch arrived before (an attempt whose answer was lost)
        f"{fake.url}/onestop/queue-records",
        json={"site": SITE, "records": [rec for _, rec in rows]},
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key},
    )
    assert r.status_code == 200
    fwd = make_forwarder(f"{fake.url}/onestop")
    assert fwd.wait_drained(WAIT_S)
    st = fwd.status["queue-records"]
    assert (st.duplicates, st.batches_delivered, st.consecutive_failures) == (1, 1, 0)
    assert fake.backend.log[-1][1:3] == (key, 409)
    assert forwarder_row(hub_db, "queue-records")["delivered"] == rows[-1][0]
    fill_outbox(hub_db, queue=3)  # and it goes on after the duplicate
    assert fwd.wait_drained(WAIT_S)
    assert_exactly_once_in_order(fake.backend, hub_db)


@pytest.mark.parametrize("failure", ["401", "500", "503", "timeout"])
def test_failures_are_retried_until_delivered(
    failure: str,
    hub_db: Path,
    fake: BackendServer,
    make_forwarder: MakeForwarder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "onestop.hub.forwarder")
    backend = fake.backend
    expected = {
        "401": ({"token": "another-token-7f3"}, "HTTP 401"),
        "500": ({"mode": "fail"}, "HTTP 500"),
        "503": ({"mode": "down"}, "HTTP 503"),
        "timeout": ({"mode": "timeout", "hold_s": 30, "store": False}, "timeout"),
    }
    setting, error = expected[failure]
    backend.control({**setting, "stream": "queue-records"} if "mode" in setting else setting)
    fill_outbox(hub_db, queue=120)
    fwd = make_forwarder(f"{fake.url}/onestop", timeout_s=0.3 if failure == "timeout" else 5.0, batch_size=50)
    assert fwd.wait_for(_failures(fwd, "queue-records", 3), WAIT_S)
    assert (fwd.status["queue-records"].last_error or "").startswith(error)
    assert backend.stats()["streams"]["queue-records"]["records"] == 0
    backend.control({"mode": "up", "token": TOKEN})
    assert fwd.wait_drained(WAIT_S)
    assert_exactly_once_in_order(backend, hub_db)
    assert len(_warnings(caplog, "queue-records")) == 1


def test_one_stream_down_does_not_hold_up_the_other(
    hub_db: Path, fake: BackendServer, make_forwarder: MakeForwarder
) -> None:
    fake.backend.control({"mode": "fail", "stream": "ratings"})
    fill_outbox(hub_db, queue=500, ratings=40)
    fwd = make_forwarder(f"{fake.url}/onestop", batch_size=100)
    st = fwd.status
    assert fwd.wait_for(
        lambda: st["queue-records"].state == "idle" and st["ratings"].consecutive_failures >= 3, WAIT_S
    )
    stats = fake.backend.stats()["streams"]
    assert (stats["queue-records"]["records"], stats["ratings"]["records"]) == (500, 0)
    fake.backend.control({"mode": "up"})
    assert fwd.wait_drained(WAIT_S)
    assert_exactly_once_in_order(fake.backend, hub_db)


def test_a_backlog_of_5000_records_drains(
    hub_db: Path, fake: BackendServer, make_forwarder: MakeForwarder
) -> None:
    fill_outbox(hub_db, queue=4000, ratings=1000)
    fwd = make_forwarder(f"{fake.url}/onestop")
    assert fwd.wait_drained(60)
    assert_exactly_once_in_order(fake.backend, hub_db)
    assert [len(fake.backend.batches(s)) for s in STREAMS] == [20, 5]
    assert forwarder_row(hub_db, "ratings")["inflight_key"] is None


def test_token_must_be_set_and_real(hub_db: Path, fake: BackendServer, make_forwarder: MakeForwarder) -> None:
    with pytest.raises(BackendConfigError, match=f"{TOKEN_ENV} is not set"):
        make_forwarder(fake.url, environ={})
    with pytest.raises(BackendConfigError, match="placeholder"):
        make_forwarder(fake.url, environ={TOKEN_ENV: "changethis"})
    backend = BackendSection(url=fake.url, token_env=TOKEN_ENV)
    soft = Forwarder(SITE, backend, hub_db, environ={})
    soft.start(fail_soft=True)  # the hub: it logs, shows the error, and keeps serving the site
    assert not soft.running and "is not set" in (soft.metrics()["error"] or "")
    soft.stop()


def test_one_forwarder_per_database(hub_db: Path, fake: BackendServer, make_forwarder: MakeForwarder) -> None:
    make_forwarder(fake.url)
    with pytest.raises(ForwarderBusy, match="another forwarder"):
        make_forwarder(fake.url)


def test_no_backend_section_means_no_forwarder(
    site_cfg: SiteConfig, hub_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "onestop.hub.forwarder")
    assert site_cfg.backend is None
    assert Forwarder.for_site(site_cfg, hub_db) is None
    assert [r.getMessage() for r in caplog.records if "nothing is forwarded" in r.getMessage()] != []


# -- the standalone process, killed in the middle of a batch -----------------------------------------


class ForwardProcess:
    """``onestop forward`` as a child process."""

    def __init__(self, cfg: SiteConfig, db: Path, log: Path) -> None:
        self.argv = [sys.executable, "-m", "onestop", "forward", "--config", cfg.source, "--db", str(db),
                     "--batch-size", "100", "--log-level", "INFO"]  # fmt: skip
        self.log = log
        self.env = {**os.environ, TOKEN_ENV: TOKEN}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(10)


def test_forwarder_killed_mid_batch_resends_the_same_batch(
    site_factory: Callable[..., SiteConfig], hub_db: Path, fake: BackendServer, tmp_path: Path
) -> None:
    backend = fake.backend
    cfg = site_factory(
        {
            "backend": {
                "url": f"{fake.url}/onestop",
                "token_env": TOKEN_ENV,
                "timeout_s": 60,
                "backoff_base_s": 0.01,
                "backoff_max_s": 0.05,
            }
        }
    )
    fill_outbox(hub_db, queue=30, ratings=10)  # fewer than a batch: the in-flight batch is short
    # the back end keeps the first queue-records batch, then holds the answer back (a lost reply)
    backend.control({"mode": "timeout", "stream": "queue-records", "store": True})
    proc = ForwardProcess(cfg, hub_db, tmp_path / "forward.log")
    proc.start()
    try:
        assert backend.wait_for(
            lambda: backend.held == 1 and backend.stats()["streams"]["ratings"]["records"] == 10, WAIT_S
        ), (tmp_path / "forward.log").read_text()
        held_key = next(key for s, key, status, _ in backend.log if status == 0)
        row = forwarder_row(hub_db, "queue-records")
        assert row["inflight_key"] == held_key and row["delivered"] == 0
        assert proc.signal(signal.SIGKILL) == -signal.SIGKILL  # in the middle of the POST

        fill_outbox(hub_db, queue=150, ratings=5)  # more records arrive while it is down
        backend.control({"mode": "up"})  # the held answer goes nowhere: the client is gone
        proc.start()
        assert backend.wait_for(lambda: backend.stats()["records"] >= 180 + 15, WAIT_S), (
            tmp_path / "forward.log"
        ).read_text()
        assert proc.signal(signal.SIGTERM) == 0
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.signal(signal.SIGKILL)
    # after the restart the very same batch came first, with the same key and the same records
    answered = [(key, status, digest) for s, key, status, digest in backend.log if s == "queue-records"]
    assert answered[0][:2] == (held_key, 0)
    assert answered[1][:2] == (held_key, 409) and answered[1][2] == answered[0][2]
    assert backend.batches("queue-records")[0]["count"] == 30
    assert_exactly_once_in_order(backend, hub_db)
    assert forwarder_row(hub_db, "queue-records")["delivered"] == outbox(hub_db, "queue-records")[-1][0]


def test_forward_command_status_and_refusals(
    site_factory: Callable[..., SiteConfig], hub_db: Path, fake: BackendServer
) -> None:
    def forward(
        cfg: SiteConfig, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            sys.executable,
            "-m",
            "onestop",
            "forward",
            "--config",
            cfg.source,
            "--db",
            str(hub_db),
            *extra,
        ]
        environ = {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | (env or {})
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=environ)

    bare = site_factory(name="bare.toml")
    r = forward(bare)
    assert r.returncode == 2 and "has no [backend] section" in r.stderr
    cfg = site_factory({"backend": {"url": f"{fake.url}/onestop", "token_env": TOKEN_ENV}})
    r = forward(cfg)
    assert r.returncode == 2 and f"{TOKEN_ENV} is not set" in r.stderr
    fill_outbox(hub_db, queue=7, ratings=2)
    status = json.loads(forward(cfg, "--status").stdout)
    assert {s: status[s]["pending"] for s in STREAMS} == {"queue-records": 7, "ratings": 2}
    r = forward(cfg, "--until-drained", env={TOKEN_ENV: TOKEN})
    assert r.returncode == 0, r.stderr
    status = json.loads(forward(cfg, "--status").stdout)
    assert {s: (status[s]["pending"], status[s]["in_flight"]) for s in STREAMS} == {
        "queue-records": (0, None),
        "ratings": (0, None),
    }
    assert status["ratings"]["delivered_records"] == 2 and status["ratings"]["last_success"]
    assert_exactly_once_in_order(fake.backend, hub_db)


def test_old_delivered_records_are_pruned_and_nothing_owed_is(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from hub_api.forwarder import OutboxCursor
    from tests.utils.outbox import TS, fill_outbox
    from tests.utils.outbox import outbox as rows_of

    db = tmp_path / "hub.db"
    fill_outbox(db, queue=10)  # created at TS (2 January 2025)
    cursor = OutboxCursor(db, "t-site")
    try:
        first = cursor.claim("queue-records", 6)
        assert first is not None and first.last - first.first == 5
        delivered = datetime.fromisoformat(TS) + timedelta(days=400)  # after a very long outage
        cursor.deliver("queue-records", first, 0, delivered)  # 6 acknowledged, 4 owed
        assert cursor.prune("queue-records", delivered - timedelta(days=1)) == 0, "delivered too recently"
        assert cursor.prune("queue-records", delivered + timedelta(days=1)) == 6
        left = [i for i, _ in rows_of(db, "queue-records")]
        assert left == list(range(first.last + 1, first.last + 5)), "records still owed must stay"
    finally:
        cursor.close()


# -- a back end that misbehaves ------------------------------------------------------------------
class Misbehaving:
    """A raw HTTP server on loopback that reads each request's head, then plays ``behaviour(conn)``;
    it records how many bytes it managed to send and sets ``hung_up`` once a client closed on it."""

    def __init__(self, behaviour: Callable[[Misbehaving, Any], None]) -> None:
        import socket
        import threading

        self.behaviour = behaviour
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.requests = 0
        self.keys: list[str] = []
        self.hung_up = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/onestop"

    def _serve(self) -> None:
        import threading

        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: Any) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.requests += 1
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"idempotency-key:"):
                    self.keys.append(line.split(b":", 1)[1].strip().decode())
            try:
                self.behaviour(self, conn)
            except OSError:  # the client gave up on us
                self.hung_up.set()

    def send(self, conn: Any, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()


def _drip_headers(srv: Misbehaving, conn: Any) -> None:
    """A status line, then one header line at a time, never the blank line (for 60 s at most)."""
    srv.send(conn, b"HTTP/1.1 200 OK\r\n")
    for i in range(600):
        if srv.stopping.wait(0.1):  # the back end's pace: a line every 0.1 s until the test ends
            return
        srv.send(conn, b"X-Drip-%d: .\r\n" % i)


def _huge_body(srv: Misbehaving, conn: Any, declared: bool) -> None:
    """A 200 whose body goes on for 3 GB (declared) or chunked without end; stops at 256 MiB sent."""
    block = b"0" * 65536
    srv.send(
        conn,
        b"HTTP/1.1 200 OK\r\n"
        + (b"Content-Length: 3000000000\r\n\r\n" if declared else b"Transfer-Encoding: chunked\r\n\r\n"),
    )
    while srv.sent < 256 * 1024 * 1024 and not srv.stopping.is_set():
        srv.send(conn, block if declared else b"%x\r\n%s\r\n" % (len(block), block))
    if not declared:
        srv.send(conn, b"0\r\n\r\n")


def _adapter_send(url: str, **kw: Any) -> Any:
    from hub_api.backends import HttpAdapter

    adapter = HttpAdapter(url, TOKEN, **kw)
    try:
        return adapter.send("queue-records", SITE, [{"ticket_id": "t-1"}], f"{SITE}:queue-records:1-1")
    finally:
        adapter.close()


def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread and wait for it (at most ``WAIT_S``: then the test fails, not hangs)."""
    import threading

    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(WAIT_S)
    assert out, f"still waiting for the back end after {WAIT_S} s"
    return out[0]


def test_a_back_end_dripping_headers_is_cut_off_at_the_total_deadline() -> None:
    """Each header comes well within the read timeout, so only a total deadline can end the request."""
    srv = Misbehaving(_drip_headers)
    try:
        outcome = _in_thread(lambda: _adapter_send(srv.url, timeout_s=1.0))
        assert not outcome.delivered
        assert outcome.reason == "timeout (no complete answer within the 1 s deadline)", outcome
        assert srv.hung_up.wait(WAIT_S), "the hub closed the connection"
    finally:
        srv.close()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_huge_answer_is_not_read_past_the_cap(declared: bool) -> None:
    srv = Misbehaving(lambda s, c: _huge_body(s, c, declared))
    try:
        outcome = _in_thread(lambda: _adapter_send(srv.url, timeout_s=30.0, max_response_bytes=64 * 1024))
        assert not outcome.delivered
        assert outcome.reason == "answer too large (over 65536 bytes; HTTP 200)", outcome
        assert srv.hung_up.wait(WAIT_S)
        # What the back end got out before the hub hung up: the cap and socket buffers, not 256 MiB.
        assert srv.sent < 32 * 1024 * 1024, srv.sent
    finally:
        srv.close()


def test_a_too_slow_answer_is_a_failed_delivery_retried_with_the_same_key(
    hub_db: Path, make_forwarder: MakeForwarder, caplog: pytest.LogCaptureFixture
) -> None:
    srv = Misbehaving(_drip_headers)
    try:
        fill_outbox(hub_db, queue=3)
        with caplog.at_level(logging.WARNING, logger="onestop.hub.forwarder"):
            fwd = make_forwarder(srv.url, timeout_s=0.5, streams=("queue-records",))
            assert fwd.wait_for(_failures(fwd, "queue-records", 3), WAIT_S)
        assert srv.keys[:3] == [f"{SITE}:queue-records:1-3"] * 3  # the same records, the same key
        assert forwarder_row(hub_db, "queue-records")["inflight_key"] == f"{SITE}:queue-records:1-3"
        said = _warnings(caplog, "queue-records")
        assert said == [
            "queue-records: not delivered: timeout (no complete answer within the 0.5 s deadline); "
            f"retrying ids 1-3 (3 records, key {SITE}:queue-records:1-3) with backoff"
        ], said
    finally:
        srv.close()


class HangingAdapter:
    """Sends ``ratings`` at once; a ``queue-records`` batch hangs (past any deadline) until released."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def send(self, stream: str, site: str, records: Any, key: str) -> Outcome:
        if stream == "queue-records":
            self.entered.set()
            self.release.wait(60)
        return Outcome.ok()

    def close(self) -> None:
        self.release.set()


def test_a_worker_stuck_in_a_request_stops_the_watchdog_pings(
    hub_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = HangingAdapter()
    backend = BackendSection(url="http://127.0.0.1:9", token_env=TOKEN_ENV, timeout_s=0.5)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(2.0)  # twenty ping intervals: silence this long means the pings stopped
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        liveness = sdnotify.Liveness(sdnotify.Watchdog(0.1))
        fwd = Forwarder(
            SITE, backend, hub_db, factory=lambda _b, _t: adapter, environ={TOKEN_ENV: TOKEN},
            idle_poll_s=30.0, liveness=liveness,
        )  # fmt: skip
        fwd.start()
        try:
            for _ in range(3):  # idle for a 30 s poll, yet beating (and so pinging) every 50 ms
                assert sock.recv(64) == b"WATCHDOG=1"
            fill_outbox(hub_db, queue=1)
            fwd.wake()
            assert adapter.entered.wait(WAIT_S)
            with pytest.raises(TimeoutError):  # past the 0.5 s deadline + the interval: silence
                for _ in range(200):
                    assert sock.recv(64) == b"WATCHDOG=1"
            assert "forwarder of queue-records" in liveness.wedged()
            adapter.release.set()
            assert sock.recv(64) == b"WATCHDOG=1"  # it made progress: the pings resume
        finally:
            adapter.release.set()
            fwd.stop()
