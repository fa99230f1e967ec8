"""A tiny systemd ``sd_notify`` client: readiness and watchdog pings, without any dependency.

The pings vouch for the work loops (:class:`Liveness`, :class:`Heartbeat`): a process whose
main thread is fine but whose player, display or forwarder loop is stuck stops pinging.

systemd passes ``NOTIFY_SOCKET`` to a ``Type=notify`` service (and ``WATCHDOG_USEC`` when the unit has
``WatchdogSec=``). Everything here is a no-op when ``NOTIFY_SOCKET`` is not set, so processes call it
unconditionally whether they run under systemd, ``onestop up`` or a test. A socket path that starts
with ``@`` is in the abstract namespace (its first byte is NUL on the wire).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"


def _address(path: str) -> str | bytes:
    """The ``sendto`` address of a ``NOTIFY_SOCKET`` value (``@name`` is an abstract socket)."""
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path


def notify(*states: str) -> bool:
    """Send ``states`` (e.g. ``"READY=1"``) to systemd; False when not under a notify service."""
    path = os.environ.get(NOTIFY_SOCKET_ENV)
    if not path or not states:
        return False
    if not (path.startswith("/") or path.startswith("@")):
        log.debug("NOTIFY_SOCKET %r is not a unix socket path; not notifying", path)
        return False
    message = "\n".join(states).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message, _address(path))
    except OSError as exc:
        log.warning("cannot notify systemd through %s: %s", path, exc)
        return False
    return True


def ready(status: str = "") -> bool:
    """Tell systemd the service has started (``READY=1``), with an optional status line."""
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def stopping() -> bool:
    """Tell systemd the service is stopping on purpose (``STOPPING=1``)."""
    return notify("STOPPING=1")


def watchdog_interval_s() -> float | None:
    """Seconds between watchdog pings (half of ``WatchdogSec=``); None when no watchdog is asked for."""
    usec = os.environ.get(WATCHDOG_USEC_ENV, "")
    pid = os.environ.get(WATCHDOG_PID_ENV, "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


class Watchdog:
    """Watchdog pings from a loop: :meth:`ping` on every turn sends ``WATCHDOG=1`` at most once per
    interval, so a busy loop costs one clock read per turn."""

    def __init__(self, interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._next = -math.inf

    @classmethod
    def from_env(cls) -> Watchdog | None:
        """A watchdog when systemd asked for one (``NOTIFY_SOCKET`` and ``WATCHDOG_USEC``), else None."""
        if not os.environ.get(NOTIFY_SOCKET_ENV):
            return None
        interval = watchdog_interval_s()
        return cls(interval) if interval else None

    def ping(self) -> bool:
        """Send ``WATCHDOG=1`` if the interval has passed since the last one; True when sent."""
        now = self.clock()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return notify("WATCHDOG=1")


class Liveness:
    """Watchdog pings that vouch for a process's work loops, not merely for its main thread.

    Each work loop takes a :class:`Heartbeat` and beats it on every turn (and on every wait
    timeout, so a loop idle by design is not taken for a wedged one). :meth:`ping` sends systemd's
    ``WATCHDOG=1`` only while every registered loop has beaten within the watchdog interval (half
    of ``WatchdogSec=``): once one loop stops making progress the pings stop, and systemd restarts
    the service ``WatchdogSec=`` later. Any loop's beat (and the main thread's
    :func:`onestop.process.wait_for_signal`) calls :meth:`ping`, so no thread of its own is needed.
    Without a watchdog (no ``NOTIFY_SOCKET``/``WATCHDOG_USEC``) heartbeats are kept, nothing is sent.
    """

    def __init__(self, watchdog: Watchdog | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.watchdog = watchdog
        self.clock = clock
        self._beats: list[Heartbeat] = []
        self._lock = threading.Lock()
        self._reported: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls) -> Liveness:
        """A liveness whose pings go to systemd when it asked for them (else it only keeps time)."""
        return cls(Watchdog.from_env())

    @property
    def stale_s(self) -> float | None:
        """A loop that has not beaten for this long (beyond what it announced) is wedged."""
        return self.watchdog.interval_s if self.watchdog else None

    @property
    def period_s(self) -> float | None:
        """The longest a loop should wait between two beats (half of :attr:`stale_s`)."""
        return self.watchdog.interval_s / 2 if self.watchdog else None

    @property
    def loops(self) -> list[str]:
        """The names of the registered loops, in the order they registered."""
        with self._lock:
            return [hb.name for hb in self._beats]

    def heartbeat(self, name: str) -> Heartbeat:
        """Register a work loop (``name`` is what the log says when it wedges)."""
        hb = Heartbeat(name, self)
        with self._lock:
            self._beats.append(hb)
        return hb

    def remove(self, hb: Heartbeat) -> None:
        """Unregister a loop that ended on purpose (its process goes on without it)."""
        with self._lock:
            if hb in self._beats:
                self._beats.remove(hb)

    def wedged(self) -> list[str]:
        """The loops that have not beaten within the interval (by name), oldest first."""
        stale = self.stale_s
        if stale is None:
            return []
        now = self.clock()
        with self._lock:
            late = [(hb.overdue(now), hb.name) for hb in self._beats]
        return [name for over, name in sorted(late, reverse=True) if over > stale]

    def ping(self) -> bool:
        """Send ``WATCHDOG=1`` (at most once per interval) if every loop is alive; True when sent."""
        if self.watchdog is None:
            return False
        wedged = self.wedged()
        if set(wedged) != self._reported:
            self._reported = frozenset(wedged)
            if wedged:
                log.error(
                    "not vouching to systemd's watchdog: %s made no progress for over %g s",
                    ", ".join(wedged),
                    self.stale_s,
                )
            else:
                log.warning("every work loop makes progress again: watchdog pings resume")
        if wedged:
            return False
        return self.watchdog.ping()


class Heartbeat:
    """One work loop's proof of progress, registered with a :class:`Liveness`."""

    def __init__(self, name: str, liveness: Liveness) -> None:
        self.name = name
        self.liveness = liveness
        self._last = liveness.clock()
        self._allowed = 0.0

    def beat(self) -> None:
        """The loop made progress (or woke from an idle wait): note it and ping if all are alive."""
        self._last = self.liveness.clock()
        self._allowed = 0.0
        self.liveness.ping()

    def expect(self, seconds: float) -> None:
        """A beat, and the next step may legitimately take ``seconds`` more than the interval
        (a call being played, a request with its own deadline); the next beat ends the allowance."""
        self.beat()
        self._allowed = max(0.0, seconds)

    def overdue(self, now: float) -> float:
        """Seconds since the last beat, less the announced allowance."""
        return now - self._last - self._allowed

    def timeout(self, default: float | None) -> float | None:
        """How long the loop may wait before its next beat: ``default``, shortened to the period."""
        period = self.liveness.period_s
        if period is None:
            return default
        return period if default is None else min(default, period)

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """``event.wait(timeout)``, beating at least every period meanwhile; True when it is set."""
        deadline = None if timeout is None else self.liveness.clock() + timeout
        while True:
            left = None if deadline is None else deadline - self.liveness.clock()
            if left is not None and left <= 0:
                return event.is_set()
            if event.wait(self.timeout(left)):
                return True
            self.beat()

    def close(self) -> None:
        """The loop ended on purpose: stop counting it."""
        self.liveness.remove(self)
