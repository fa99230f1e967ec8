"""The hub's HTTP limits, against the real server set-up (``hub_api.server``) on a loopback port.

Raw sockets play the misbehaving clients: a huge declared body, an endless chunked body, headers
that never end, an address that opens more connections than its share. Every wait is a socket read
with a timeout (the condition: an answer, or the server closing the connection).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub_api.server import RateLimitedLog, ServerLimits
from onestop.config import SiteConfig
from onestop.credentials import read_pin
from tests.conftest import SiteFactory
from tests.utils.site import SITE
from tests.utils.web import HubServer

pytestmark = pytest.mark.integration

#: Long enough for any loaded machine to answer; the tests never wait for it on success.
WAIT_S = 20.0


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    return site_factory(
        {
            "devices": [
                *SITE["devices"],
                {"id": "caller-2", "role": "counter", "counter": "2", "keys": {"backend": "web"}},
            ]
        }
    )


def _serve(
    site_cfg: SiteConfig, broker: Any, credentials: dict[str, str], tmp_path: Path, limits: ServerLimits
) -> HubServer:
    srv = HubServer(
        site_cfg, credentials["hub"], broker_host=broker.host, broker_port=broker.port,
        db_path=tmp_path / "hub.db", limits=limits,
    )  # fmt: skip
    srv.start()
    return srv


@pytest.fixture
def limited(
    site_cfg: SiteConfig, broker: Any, credentials: dict[str, str], tmp_path: Path
) -> Iterator[HubServer]:
    """A hub whose header timeout is short."""
    srv = _serve(site_cfg, broker, credentials, tmp_path, ServerLimits(header_timeout_s=0.5))
    yield srv
    srv.stop()


def _connect(srv: HubServer, source: str = "127.0.0.1") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT_S, source_address=(source, 0))
    s.settimeout(WAIT_S)
    return s


def _read_answer(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or ``WAIT_S`` passes: then it fails)."""
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server neither answered nor closed (got {data[:200]!r})")
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _read_one_response(s: socket.socket) -> bytes:
    """One whole response with a Content-Length (the connection stays open)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v)
        for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
        if k.lower() == b"content-length"
    )
    while len(body) < length:
        body += s.recv(65536)
    return data


def test_a_huge_declared_body_is_refused_413_before_it_is_sent(limited: HubServer) -> None:
    with _connect(limited) as s:
        s.sendall(
            b"POST /api/caller/2/session HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            b"Content-Length: 300000000\r\n\r\n"
        )
        answer = _read_answer(s)  # nothing of the body was sent: the answer comes from the header alone
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"too_large" in answer and b"x-content-type-options: nosniff" in answer.lower()


def test_a_streamed_body_is_cut_at_the_cap(limited: HubServer) -> None:
    """Chunked: no Content-Length to go by; the hub counts and answers 413 once past the cap."""
    chunk = b"x" * 65536
    sent = 0
    with _connect(limited) as s:
        s.sendall(
            b"POST /api/caller/2/session HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < 64 * 1024 * 1024:  # 64 MiB: the old hub took it all, then answered 422
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the hub answered and closed: what is read below
        else:
            s.sendall(b"0\r\n\r\n")
        answer = _read_answer(s)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert sent < 64 * 1024 * 1024


def test_the_right_pin_still_fits_under_the_cap(limited: HubServer) -> None:
    r = httpx.post(f"{limited.url}/api/caller/2/session", json={"pin": "000000"}, timeout=WAIT_S)
    assert r.status_code in (401, 200), r.text  # checked, not refused for its size


def test_headers_that_never_end_are_cut_off(limited: HubServer) -> None:
    """Slowloris: the request line and one header, then nothing; the hub closes after its header timeout."""
    with _connect(limited) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        assert _read_answer(s) == b""
    with _connect(limited) as idle:  # a connection that never sends a byte goes the same way
        assert _read_answer(idle) == b""
    assert httpx.get(f"{limited.url}/healthz", timeout=WAIT_S).status_code == 200


def test_a_kept_alive_connection_gets_the_same_header_timeout(limited: HubServer) -> None:
    with _connect(limited) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        first = _read_one_response(s)
        assert first.startswith(b"HTTP/1.1 200 "), first[:200]
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request starts, and stalls
        assert _read_answer(s) == b""


def test_one_address_cannot_take_every_connection(
    site_cfg: SiteConfig, broker: Any, credentials: dict[str, str], tmp_path: Path
) -> None:
    srv = _serve(site_cfg, broker, credentials, tmp_path, ServerLimits(per_client=5, header_timeout_s=60))
    held: list[socket.socket] = []
    try:
        held = [_connect(srv) for _ in range(5)]
        for s in held:  # each is accepted (a request on it would be served)
            s.sendall(b"GET /healthz HTTP")
        with _connect(srv) as extra:
            assert _read_answer(extra) == b"", "the sixth connection of one address is closed at once"
        # Another client of the LAN (another loopback address here) is served meanwhile.
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=WAIT_S) as other:
            assert other.get(f"{srv.url}/healthz").status_code == 200
    finally:
        for s in held:
            s.close()
        srv.stop()


def test_over_the_connection_limit_the_hub_answers_503(
    site_cfg: SiteConfig, broker: Any, credentials: dict[str, str], tmp_path: Path
) -> None:
    srv = _serve(
        site_cfg, broker, credentials, tmp_path, ServerLimits(max_connections=3, header_timeout_s=60)
    )
    held: list[socket.socket] = []
    try:
        held = [_connect(srv) for _ in range(3)]
        for s in held:
            s.sendall(b"GET /healthz HTTP")
        r = httpx.get(f"{srv.url}/healthz", timeout=WAIT_S, headers={"Connection": "close"})
        assert r.status_code == 503
    finally:
        for s in held:
            s.close()
        srv.stop()


def test_a_flood_of_the_same_error_is_logged_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    say = RateLimitedLog(logging.getLogger("onestop.hub.server.test"), every_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="onestop.hub.server.test"):
        for _ in range(10_000):  # e.g. accept() out of file descriptors, over and over
            say("accept", logging.ERROR, "socket.accept() out of system resource")
        now[0] = 10.5
        say("accept", logging.ERROR, "socket.accept() out of system resource")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[1] == "socket.accept() out of system resource (9999 more like it in the last 10 s)"


def test_a_guessing_browser_is_locked_out_and_the_clerk_still_signs_in(
    limited: HubServer, site_cfg: SiteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """Five wrong PINs from one address lock that address out of the counter (429); the clerk's browser
    (another address) signs in with the right PIN meanwhile. The lock-out is logged once."""
    pin = read_pin(site_cfg, "caller-2")
    wrong = "000000" if pin != "000000" else "111111"
    url = f"{limited.url}/api/caller/2/session"
    guesser = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"), timeout=WAIT_S)
    clerk = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=WAIT_S)
    with guesser, clerk, caplog.at_level(logging.WARNING, logger="onestop.hub.caller"):
        answers = [guesser.post(url, json={"pin": wrong}).status_code for _ in range(5)]
        assert answers == [401, 401, 401, 401, 429]
        for _ in range(20):
            locked = guesser.post(url, json={"pin": pin})
            assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked"
        assert int(locked.headers["Retry-After"]) > 0
        signed_in = clerk.post(url, json={"pin": pin})
        assert signed_in.status_code == 200, signed_in.text
    said = [r.getMessage() for r in caplog.records if "locked" in r.getMessage()]
    assert said == [
        "soft caller of counter 2: sign-in from 127.0.0.3 locked for 60 s (too many wrong PINs; "
        "other browsers can still sign in)"
    ], said


def test_the_hub_raises_its_open_file_limit_to_the_hard_limit() -> None:
    """uvicorn ran out of descriptors at the default soft limit (1024): the hub starts by raising it."""
    import subprocess
    import sys

    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from hub_api.server import raise_nofile_limit\n"
        "now = raise_nofile_limit()\n"
        "assert now == resource.getrlimit(resource.RLIMIT_NOFILE), now\n"
        "print(now[0] == hard or hard == resource.RLIM_INFINITY)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_the_event_loops_errors_are_rate_limited(
    limited: HubServer, caplog: pytest.LogCaptureFixture
) -> None:
    """What asyncio reports when accept() runs out of descriptors (EMFILE), a thousand times over:
    one log line (uvicorn's loop logged each with a traceback, 350 MB in 90 s)."""
    import errno
    import threading

    server = limited._server
    assert server is not None and server.loop is not None
    loop = server.loop
    done = threading.Event()

    def flood() -> None:
        error = OSError(errno.EMFILE, "Too many open files")
        for _ in range(1000):
            loop.call_exception_handler(
                {"message": "socket.accept() out of system resource", "exception": error}
            )
        done.set()

    with caplog.at_level(logging.ERROR, logger="onestop.hub.server"):
        loop.call_soon_threadsafe(flood)
        assert done.wait(WAIT_S)
    lines = [r.getMessage() for r in caplog.records if r.name == "onestop.hub.server"]
    assert lines == ["socket.accept() out of system resource (OSError: [Errno 24] Too many open files)"], (
        lines
    )
