"""A long-lived process in the foreground: wait for SIGINT/SIGTERM while pinging systemd's watchdog.

Every ``onestop`` subcommand that runs a service ends here (:mod:`onestop.cli`, and the terminals'
command-line modules, ``kiosk_app.*.cli``). It lives apart from :mod:`onestop.cli` so that those
modules need not import the command back: ``onestop.cli`` imports them (inside the subcommand),
never the other way round (tests/unit/test_import_layout.py).
"""

from __future__ import annotations

import signal
import threading

from onestop import sdnotify


def wait_for_signal(liveness: sdnotify.Liveness | None = None) -> None:
    """Block until SIGINT or SIGTERM; with ``liveness``, send systemd's watchdog pings meanwhile,
    and only while every work loop registered with it makes progress (:class:`sdnotify.Liveness`)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(liveness.period_s if liveness else None):
        if liveness:
            liveness.ping()
    sdnotify.stopping()
