"""Helpers for widget tests of the real Kivy apps (kiosk, rating terminal) under a private Xvfb."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kiosk_app.shell.xvfb import start_xvfb


@contextmanager
def kivy_environment(kivy_home: Path, width: int = 1280, height: int = 1280) -> Iterator[str]:
    """A private X display with the Kivy environment of a kiosk (restored afterwards); raises
    :class:`~kiosk_app.shell.xvfb.XvfbUnavailable` when Xvfb cannot start. Kivy allows one window per
    process, and it stays bound to its display: share one display per test session."""
    x = start_xvfb(width, height)
    env = {
        "DISPLAY": x.display,
        "KIVY_HOME": str(kivy_home),
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_LOG_MODE": "PYTHON",
    }
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield x.display
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        x.stop()


def pump_until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Run Kivy's event loop until ``cond()`` holds (bounded)."""
    from kivy.base import EventLoop  # type: ignore[import-untyped]

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        EventLoop.idle()


def touch(app: Any, key: str) -> None:
    """A real touch (down and up) at the centre of ``app.button(key)``, once the layout has placed it."""
    from kivy.base import EventLoop
    from kivy.tests.common import UnitTestTouch  # type: ignore[import-untyped]

    EventLoop.idle()  # a render scheduled by the last change happens now
    btn = app.button(key)
    pump_until(lambda: btn.width > 100 and btn.y > 0, f"the layout of {key}")
    x, y = btn.to_window(*btn.center)
    tt = UnitTestTouch(x, y)
    tt.touch_down()
    tt.touch_up()
