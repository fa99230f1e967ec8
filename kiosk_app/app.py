"""Start the kiosk's (or the rating terminal's) Kivy app: configure Kivy before its window exists, then
show the screens.

Kivy reads its configuration when the window is created, so nothing here imports Kivy at module
level: :func:`configure` sets the environment and :class:`kivy.config.Config` first, then
:mod:`kiosk_app.screens` (which imports the window) is imported.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kiosk_app.rating_viewmodel import RatingViewModel
from kiosk_app.viewmodel import KioskViewModel

#: Portrait full HD: kiosks stand upright.
DEFAULT_SIZE = (1080, 1920)
#: Landscape 10-inch tablet: rating terminals lie on the counter, facing the citizen.
RATING_SIZE = (1280, 800)


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


def build_app(vm: KioskViewModel) -> Any:
    """The kiosk :class:`~kiosk_app.screens.KioskApp` for a view-model (not yet running)."""
    from kiosk_app.screens import KioskApp

    return KioskApp(vm)


def run_app(vm: KioskViewModel, *, fullscreen: bool = True, size: tuple[int, int] | None = None) -> None:
    """Configure Kivy and run the kiosk until its window closes. The screens are sized for the
    panel's physical size: the device's ``panel`` in site.toml, else the display's EDID (read once
    here, full screen only), else the usual panel of the resolution (kiosk_app/panel.py)."""
    import functools

    from kiosk_app.panel import read_edid

    configure(fullscreen=fullscreen, size=size)
    app = build_app(vm)
    # Full screen on its real display: the panel's size from its EDID. A window is not the whole
    # display: its pixels are not the EDID's millimetres (the usual panel of its size instead).
    edid = read_edid() if fullscreen else None
    if edid is not None:
        logging.getLogger("onestop.kiosk").info("panel size from %s: %.0f×%.0f mm", edid[2], edid[0], edid[1])
        app.builder = functools.partial(type(app).builder, edid=edid)
    app.run()


def build_rating_app(vm: RatingViewModel) -> Any:
    """The rating terminal's :class:`~kiosk_app.rating_screens.RatingApp` (not yet running)."""
    from kiosk_app.rating_screens import RatingApp

    return RatingApp(vm)


def run_rating_app(
    vm: RatingViewModel, *, fullscreen: bool = True, size: tuple[int, int] | None = None
) -> None:
    """Configure Kivy and run the rating terminal until its window closes."""
    configure(fullscreen=fullscreen, size=size or RATING_SIZE)
    from kiosk_app.rating_screens import RatingScreenBuilder

    # Full screen on its real display: the panel's size from its EDID. A window is not the whole
    # display: its pixels are not the EDID's millimetres (the usual panel of its size instead).
    RatingScreenBuilder.use_edid = fullscreen
    build_rating_app(vm).run()
