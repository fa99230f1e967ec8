"""A private X server (Xvfb) for screenshots and widget tests on machines without a display."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from onestop.errors import OnestopError


class XvfbUnavailable(OnestopError, RuntimeError):
    """Xvfb is not installed or did not start."""


@dataclass
class Xvfb:
    """A running Xvfb: its display name (``:N``) and process."""

    display: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate it (idempotent)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_xvfb(width: int = 1920, height: int = 1920, timeout: float = 10.0) -> Xvfb:
    """Start Xvfb on a free display number (it picks one itself with ``-displayfd``)."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise XvfbUnavailable("Xvfb is not installed (apt install xvfb)")
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after Xvfb has reported)
    try:
        proc = subprocess.Popen(
            [exe, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    finally:
        os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as r:
            ready, _, _ = select.select([r], [], [], timeout)
            number = r.readline().strip() if ready else b""
    except OSError as exc:
        proc.kill()
        raise XvfbUnavailable(f"Xvfb did not start: {exc}") from None
    if not number.isdigit():
        proc.kill()
        log.seek(0)
        err = log.read().decode(errors="replace").strip()
        raise XvfbUnavailable(f"Xvfb did not report a display within {timeout} s: {err[-200:]}")
    log.close()
    return Xvfb(f":{number.decode()}", proc)


@contextmanager
def kivy_display(width: int, height: int) -> Iterator[str]:
    """A display for Kivy screenshots: ``$DISPLAY`` if set, else a private Xvfb a bit larger than
    ``width``×``height``; with a temporary ``KIVY_HOME`` (nothing is written to ~/.kivy). Yields
    the display name."""
    home = tempfile.mkdtemp(prefix="kivy-home-")
    os.environ["KIVY_HOME"] = home
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    xvfb = None
    if not os.environ.get("DISPLAY"):
        side = max(width, height) + 64
        xvfb = start_xvfb(side, side)
        os.environ["DISPLAY"] = xvfb.display
    try:
        yield os.environ["DISPLAY"]
    finally:
        if xvfb is not None:
            xvfb.stop()
        shutil.rmtree(home, ignore_errors=True)
