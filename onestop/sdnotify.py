"""A tiny systemd ``sd_notify`` client: readiness and watchdog pings, without any dependency.

systemd passes ``NOTIFY_SOCKET`` to a ``Type=notify`` service (and ``WATCHDOG_USEC`` when the unit has
``WatchdogSec=``). Everything here is a no-op when ``NOTIFY_SOCKET`` is not set, so processes call it
unconditionally whether they run under systemd, ``onestop up`` or a test. A socket path that starts
with ``@`` is in the abstract namespace (its first byte is NUL on the wire).
"""

from __future__ import annotations

import logging
import os
import socket
import time

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

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next = 0.0

    @classmethod
    def from_env(cls) -> Watchdog | None:
        """A watchdog when systemd asked for one (``NOTIFY_SOCKET`` and ``WATCHDOG_USEC``), else None."""
        if not os.environ.get(NOTIFY_SOCKET_ENV):
            return None
        interval = watchdog_interval_s()
        return cls(interval) if interval else None

    def ping(self) -> bool:
        """Send ``WATCHDOG=1`` if the interval has passed since the last one; True when sent."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return notify("WATCHDOG=1")
