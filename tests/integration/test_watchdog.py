"""The watchdog vouches for the work loop, not for the main thread (issue #17, part 2).

Two real ``onestop announcer`` processes, each with ``NOTIFY_SOCKET`` pointing at a datagram socket
of the test and ``WATCHDOG_USEC`` of two seconds (as systemd sets them for ``WatchdogSec=2``), say
the same call through the ``alsa`` backend. One's ``aplay`` hangs (it opens a FIFO nobody writes,
as a wedged sound device never returns); the other's plays at once. The wedged announcer's main
thread is fine, yet its ``WATCHDOG=1`` pings stop (so systemd would restart it) while the healthy
one keeps pinging. Waits are socket timeouts, never sleeps.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from onestop.broker import Broker
from onestop.config import SiteConfig
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.site import SITE

pytestmark = pytest.mark.integration

#: ``WatchdogSec=2``: a ping every second from a process whose loops all make progress (a loop that
#: has not beaten for a second is wedged: rendering a call on a busy machine must stay under that).
WATCHDOG_USEC = 2_000_000
#: This long without a datagram means the pings have stopped (five ping intervals).
SILENCE_S = 5.0
#: At most this many pings while waiting for the silence (a call is under 20 s: about 40 pings).
MAX_PINGS = 400

WEDGED = """\
import os, socket
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(b"APLAY=started", os.environ["NOTIFY_SOCKET"])
os.open({fifo!r}, os.O_RDONLY)  # nobody writes: the call never ends, like a wedged sound device
"""

HEALTHY = """\
import os, socket, sys
sys.stdin.buffer.read()
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(b"APLAY=done", os.environ["NOTIFY_SOCKET"])
"""


def _aplay(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def site_cfg(site_factory: SiteFactory, tmp_path: Path) -> SiteConfig:
    """The test site with two announcers: ``announcer-1`` whose aplay hangs, ``announcer-2`` fine."""
    os.mkfifo(tmp_path / "never-written")
    wedged = _aplay(tmp_path / "aplay-wedged", WEDGED.format(fifo=str(tmp_path / "never-written")))
    healthy = _aplay(tmp_path / "aplay-healthy", HEALTHY)
    devices = [d for d in SITE["devices"] if d["role"] != "announcer"] + [
        {"id": "announcer-1", "role": "announcer", "audio": {"backend": "alsa", "aplay": wedged}},
        {"id": "announcer-2", "role": "announcer", "audio": {"backend": "alsa", "aplay": healthy}},
    ]
    return site_factory({"devices": devices})


class Announcer:
    """``onestop announcer`` as a child process under a pretend systemd (a notify socket)."""

    def __init__(self, cfg: SiteConfig, broker: Broker, device: str, tmp_path: Path) -> None:
        self.socket_path = tmp_path / f"notify-{device}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.socket_path))
        self.log = tmp_path / f"{device}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ONESTOP_", "WATCHDOG_"))}
        env |= {"NOTIFY_SOCKET": str(self.socket_path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        argv = [
            sys.executable, "-m", "onestop", "announcer", "--config", cfg.source,
            "--broker", f"{broker.host}:{broker.port}", "--device", device,
        ]  # fmt: skip
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def recv(self, timeout: float) -> bytes:
        """The next datagram; ``TimeoutError`` when none comes within ``timeout``."""
        self.sock.settimeout(timeout)
        return self.sock.recv(256)

    def until(self, wanted: bytes, timeout: float = 60.0) -> list[bytes]:
        """Datagrams up to and including ``wanted``."""
        got: list[bytes] = []
        for _ in range(MAX_PINGS):
            got.append(self.recv(timeout))
            if wanted in got[-1].split(b"\n"):
                return got
        raise AssertionError(f"no {wanted!r} among {len(got)} datagrams: {self.log.read_text()[-2000:]}")

    def drain(self) -> list[bytes]:
        """The datagrams already waiting."""
        got = []
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                got.append(self.sock.recv(256))
        return got

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.sock.close()


@pytest.fixture
def announcers(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Announcer, Announcer]]:
    wedged = Announcer(site_cfg, broker, "announcer-1", tmp_path)
    healthy = Announcer(site_cfg, broker, "announcer-2", tmp_path)
    try:
        yield wedged, healthy
    finally:
        wedged.close()
        healthy.close()
        # release a hung fake aplay left behind by the killed announcer (ENXIO: none is waiting)
        with contextlib.suppress(OSError):
            os.close(os.open(tmp_path / "never-written", os.O_WRONLY | os.O_NONBLOCK))


def test_a_wedged_player_stops_the_watchdog_pings_a_healthy_one_keeps_them(
    announcers: tuple[Announcer, Announcer],
    controller: Controller,
    device: DeviceFactory,
) -> None:
    wedged, healthy = announcers
    for a in announcers:  # started (voice clips prepared), and pinging while idle
        a.until(b"READY=1", timeout=120.0)
        a.until(b"WATCHDOG=1", timeout=SILENCE_S)
        a.until(b"WATCHDOG=1", timeout=SILENCE_S)

    kiosk, counter = device("kiosk-1"), device("counter-3")
    kiosk.request("issue", {"service": "dkkd"})
    counter.request("open")
    counter.request("call_next")
    wedged.until(b"APLAY=started")  # the call is in the output, and stays there
    healthy.until(b"APLAY=done")

    # the wedged one pings on for the call's length plus the interval, then falls silent (well
    # before aplay's own deadline, twice the call's length plus 10 s, ends the call)
    with pytest.raises(TimeoutError):
        for _ in range(MAX_PINGS):
            got = wedged.recv(SILENCE_S)
            assert got == b"WATCHDOG=1", f"still pinging when the hung call was given up: {got!r}"
    assert wedged.proc.poll() is None  # alive: its main thread waits for signals as ever

    # meanwhile the healthy one, past the same call, goes on pinging
    assert healthy.proc.poll() is None
    assert b"WATCHDOG=1" in healthy.drain()
    for _ in range(3):
        assert healthy.recv(SILENCE_S) == b"WATCHDOG=1"
    assert "announcer-1 player made no progress" in wedged.log.read_text()
