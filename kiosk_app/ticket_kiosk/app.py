"""Start the ticket kiosk's Kivy app: configure Kivy (:func:`kiosk_app.shell.app.configure`) before its
window exists, then show the screens (:mod:`kiosk_app.ticket_kiosk.screens`, which imports the window).
"""

from __future__ import annotations

import logging
from typing import Any

from kiosk_app.shell.app import configure
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel


def build_app(vm: KioskViewModel) -> Any:
    """The kiosk :class:`~kiosk_app.ticket_kiosk.screens.KioskApp` for a view-model (not yet running)."""
    from kiosk_app.ticket_kiosk.screens import KioskApp

    return KioskApp(vm)


def run_app(vm: KioskViewModel, *, fullscreen: bool = True, size: tuple[int, int] | None = None) -> None:
    """Configure Kivy and run the kiosk until its window closes. The screens are sized for the
    panel's physical size: the device's ``panel`` in site.toml, else the display's EDID (read once
    here, full screen only), else the usual panel of the resolution (kiosk_app/shell/panel.py)."""
    import functools

    from kiosk_app.shell.panel import read_edid

    configure(fullscreen=fullscreen, size=size)
    app = build_app(vm)
    # Full screen on its real display: the panel's size from its EDID. A window is not the whole
    # display: its pixels are not the EDID's millimetres (the usual panel of its size instead).
    edid = read_edid() if fullscreen else None
    if edid is not None:
        logging.getLogger("onestop.kiosk").info("panel size from %s: %.0f×%.0f mm", edid[2], edid[0], edid[1])
        app.builder = functools.partial(type(app).builder, edid=edid)
    app.run()
