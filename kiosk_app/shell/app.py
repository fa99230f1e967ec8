"""Configure Kivy for a touch terminal (the ticket kiosk or the rating terminal) before its window exists.

Kivy reads its configuration when the window is created, so nothing here imports Kivy at module
level: :func:`configure` sets the environment and :class:`kivy.config.Config` first; each terminal's
``app`` module (:mod:`kiosk_app.ticket_kiosk.app`, :mod:`kiosk_app.rating.app`) then imports its
screens (which import the window).
"""

from __future__ import annotations

import logging
import os

#: Portrait full HD: kiosks stand upright.
DEFAULT_SIZE = (1080, 1920)


class _MtdevNotice(logging.Filter):
    """Kivy logs a full traceback (ERROR) when libmtdev is missing, which is normal on a kiosk with a
    USB/HID touch screen and in the screenshot tools: make it one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Input: MTDev is not supported"):
            record.msg = "Input: no libmtdev, the mtdev touch input is off (HID touch screens still work)"
            record.args = ()
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def quiet_mtdev() -> None:
    """Install the :class:`_MtdevNotice` filter on Kivy's logger (once)."""
    kivy_log = logging.getLogger("kivy")
    if not any(isinstance(f, _MtdevNotice) for f in kivy_log.filters):
        kivy_log.addFilter(_MtdevNotice())


def configure(
    *, fullscreen: bool = True, size: tuple[int, int] | None = None, home: str | None = None
) -> None:
    """Set Kivy up for the kiosk: no command-line parsing, Python logging, window size, no multitouch
    emulation by the mouse (a right click would leave red dots). Call before anything imports Kivy."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    quiet_mtdev()
    if home:
        os.environ["KIVY_HOME"] = home
    from kivy.config import Config  # type: ignore[import-untyped]

    w, h = size or DEFAULT_SIZE
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    Config.set("graphics", "resizable", "1")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0" if fullscreen else "1")
