"""The sd_notify client against a real datagram socket (a path, and the abstract namespace)."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from onestop import sdnotify


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_ready_and_status_reach_the_socket(
    listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    assert sdnotify.ready("controller of t-site")
    assert listener.recv(4096) == b"READY=1\nSTATUS=controller of t-site"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"onestop-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("WATCHDOG=1")
        assert sock.recv(64) == b"WATCHDOG=1"


def test_nothing_is_sent_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert not sdnotify.ready()
    assert sdnotify.Watchdog.from_env() is None


def test_watchdog_interval_is_half_of_watchdog_sec_and_pings_are_spaced(
    listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    dog = sdnotify.Watchdog.from_env()
    assert dog is not None and dog.interval_s == 15.0
    assert dog.ping()
    assert not dog.ping()  # the next one is due 15 s later, not on every loop turn
    assert listener.recv(64) == b"WATCHDOG=1"


def test_watchdog_meant_for_another_process_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.Watchdog.from_env() is None


def test_a_missing_socket_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert not sdnotify.ready()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pings(sock: socket.socket) -> list[bytes]:
    """Every datagram already waiting on the socket (none blocks: the pings are sent synchronously)."""
    got = []
    sock.settimeout(0)
    try:
        while True:
            got.append(sock.recv(64))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(5)
    return got


@pytest.fixture
def liveness(listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sdnotify.Liveness:
    """A liveness on a fake clock, pinging the test's socket every 15 s (``WatchdogSec=30``)."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    clock = FakeClock()
    return sdnotify.Liveness(sdnotify.Watchdog(15.0, clock=clock), clock=clock)


def test_pings_go_out_while_every_loop_beats(listener: socket.socket, liveness: sdnotify.Liveness) -> None:
    clock = liveness.clock
    assert isinstance(clock, FakeClock)
    board, player = liveness.heartbeat("board"), liveness.heartbeat("player")
    assert liveness.stale_s == 15.0 and liveness.period_s == 7.5
    assert board.timeout(1.0) == 1.0 and board.timeout(60.0) == 7.5 and board.timeout(None) == 7.5
    for _ in range(4):
        clock.now += 7.5
        board.beat()
        player.beat()
    # one ping per 15 s however many beats: at the first beat, then 15 s and 30 s later
    assert _pings(listener) == [b"WATCHDOG=1"] * 2
    clock.now += 7.5
    board.beat()
    assert _pings(listener) == [b"WATCHDOG=1"]
    assert liveness.wedged() == []


def test_one_wedged_loop_stops_the_pings_and_they_resume_when_it_beats(
    listener: socket.socket, liveness: sdnotify.Liveness, caplog: pytest.LogCaptureFixture
) -> None:
    clock = liveness.clock
    assert isinstance(clock, FakeClock)
    board, player = liveness.heartbeat("board"), liveness.heartbeat("announcer player")
    board.beat()
    assert _pings(listener) == [b"WATCHDOG=1"]
    for _ in range(10):  # the player stops beating; the board goes on
        clock.now += 7.5
        board.beat()
    assert liveness.wedged() == ["announcer player"]
    assert not liveness.ping()
    # the board's beats pinged only while the player was within its 15 s
    assert _pings(listener) == [b"WATCHDOG=1"]
    assert "announcer player made no progress" in caplog.text
    player.beat()
    assert liveness.wedged() == [] and _pings(listener) == [b"WATCHDOG=1"]


def test_an_announced_long_step_is_not_wedged_until_it_overruns(
    listener: socket.socket, liveness: sdnotify.Liveness
) -> None:
    clock = liveness.clock
    assert isinstance(clock, FakeClock)
    player = liveness.heartbeat("player")
    player.expect(20.0)  # a 20 s call is being played
    clock.now += 34.0
    assert liveness.wedged() == []  # within the call's length + the interval
    clock.now += 2.0
    assert liveness.wedged() == ["player"]
    player.beat()  # the call ended: the allowance is over
    clock.now += 16.0
    assert liveness.wedged() == ["player"]


def test_a_loop_that_ended_on_purpose_no_longer_counts(
    listener: socket.socket, liveness: sdnotify.Liveness
) -> None:
    clock = liveness.clock
    assert isinstance(clock, FakeClock)
    hb = liveness.heartbeat("forward ratings")
    clock.now += 60.0
    assert liveness.wedged() == ["forward ratings"] and not liveness.ping()
    hb.close()
    assert liveness.ping() and _pings(listener) == [b"WATCHDOG=1"]


class FakeEvent(threading.Event):
    """An event whose waits pass on the fake clock (and are recorded) instead of in real time."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if not self.is_set() and timeout is not None:
            self.clock.now += timeout
        return self.is_set()


def test_an_idle_wait_beats_on_each_timeout(listener: socket.socket, liveness: sdnotify.Liveness) -> None:
    clock = liveness.clock
    assert isinstance(clock, FakeClock)
    hb, other = liveness.heartbeat("forward queue-records"), liveness.heartbeat("ingest")
    other.beat()
    assert _pings(listener) == [b"WATCHDOG=1"]
    woke = FakeEvent(clock)
    assert not hb.wait(woke, 60.0)  # a 60 s backoff: waits of 7.5 s, a beat after each
    assert woke.waits == [7.5] * 8 and liveness.wedged() == ["ingest"]
    other.beat()
    assert liveness.wedged() == []
    woke.set()
    assert hb.wait(woke, 60.0) and woke.waits[-1] == 7.5


def test_without_a_watchdog_heartbeats_only_keep_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    liveness = sdnotify.Liveness.from_env()
    hb = liveness.heartbeat("board")
    assert liveness.stale_s is None and hb.timeout(1.0) == 1.0 and hb.timeout(None) is None
    hb.beat()
    assert not liveness.ping() and liveness.wedged() == []
