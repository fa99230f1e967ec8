"""How the running broker is told to reread its password file and ACL after a change.

The mechanism is explicit: ``systemd`` (``systemctl reload mosquitto``, what Debian's unit maps to a
SIGHUP), ``pidfile`` (SIGHUP to the pid in a file), ``none``, or ``auto`` (systemd when the mosquitto
unit is active, else the pid file when one is given, else none). Library callers (and the tests) pass
any callable instead, e.g. a test broker's ``reload``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from provisioning.errors import ProvisionError

#: Reloads the broker and returns one line saying what it did.
Reloader = Callable[[], str]

MOSQUITTO_UNIT = "mosquitto.service"


def systemd_reloader(unit: str = MOSQUITTO_UNIT) -> Reloader:
    """``systemctl reload UNIT``."""

    def reload() -> str:
        exe = shutil.which("systemctl")
        if exe is None:
            raise ProvisionError("systemctl not found: is this machine running systemd?")
        done = subprocess.run([exe, "reload", unit], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()
            raise ProvisionError(f"systemctl reload {unit} failed: {why[0] if why else done.returncode}")
        return f"broker reloaded (systemctl reload {unit})"

    return reload


def pidfile_reloader(path: Path) -> Reloader:
    """SIGHUP to the process whose id is in ``path``."""

    def reload() -> str:
        try:
            pid = int(path.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            raise ProvisionError(f"broker pid file {path} not found: is the broker running?") from None
        except ValueError:
            raise ProvisionError(f"broker pid file {path} does not hold a process id") from None
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            raise ProvisionError(f"no broker process {pid} (from {path}): is the broker running?") from None
        return f"broker reloaded (SIGHUP to pid {pid} from {path})"

    return reload


def no_reload() -> str:
    """Do nothing: the new files take effect when the broker (re)starts."""
    return "broker not reloaded (--reload none): the change takes effect when it restarts"


def _systemd_unit_active(unit: str) -> bool:
    exe = shutil.which("systemctl")
    if exe is None or not Path("/run/systemd/system").is_dir():
        return False
    done = subprocess.run([exe, "is-active", "--quiet", unit], capture_output=True, check=False)
    return done.returncode == 0


def choose(mode: str, pidfile: Path | None = None) -> Reloader:
    """The reloader for a ``--reload`` mode (``auto``, ``systemd``, ``pidfile``, ``none``)."""
    if mode == "systemd":
        return systemd_reloader()
    if mode == "pidfile":
        if pidfile is None:
            raise ProvisionError("--reload pidfile needs --pidfile PATH")
        return pidfile_reloader(pidfile)
    if mode == "none":
        return no_reload
    if mode != "auto":
        raise ProvisionError(f"--reload: expected auto, systemd, pidfile or none, got {mode!r}")

    def auto() -> str:
        if _systemd_unit_active(MOSQUITTO_UNIT):
            return systemd_reloader()()
        if pidfile is not None and pidfile.exists():
            return pidfile_reloader(pidfile)()
        return "no running broker found (mosquitto.service inactive, no pid file): applies at its start"

    return auto
