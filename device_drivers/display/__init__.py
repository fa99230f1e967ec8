"""LED displays: counter number displays and hall boards behind one interface, chosen by name.

``open_display(device.display)`` returns an open :class:`LedDisplay` for a device's ``display``
table in ``site.toml``:

- ``sim`` (default): in memory, with a test face (:mod:`.sim`);
- ``modbus``: Modbus RTU over RS-485, 7-segment counters and text cards, register map as a
  profile (:mod:`.modbus`);
- ``ascii``: vendor boards that take a templated text frame with a checksum (:mod:`.ascii_frame`).

``ONESTOP_DISPLAY_BACKEND=sim`` replaces the configured backend by a simulator of the same
geometry (announced in the log). Backend modules are imported on first use, and pyserial only
when a port is opened, so this package imports anywhere.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from device_drivers.display.base import DisplayInfo, LedDisplay
from device_drivers.display.errors import (
    DisplayClosed,
    DisplayConfigError,
    DisplayCrcError,
    DisplayError,
    DisplayIOError,
    DisplayNotFound,
    DisplayProtocolError,
    DisplayTimeout,
    DisplayUnsupported,
    ModbusExceptionError,
)

__all__ = [
    "BACKENDS",
    "ENV_BACKEND",
    "DisplayClosed",
    "DisplayConfigError",
    "DisplayCrcError",
    "DisplayError",
    "DisplayIOError",
    "DisplayInfo",
    "DisplayNotFound",
    "DisplayProtocolError",
    "DisplayTimeout",
    "DisplayUnsupported",
    "LedDisplay",
    "ModbusExceptionError",
    "make_display",
    "open_display",
    "register_backend",
]

log = logging.getLogger("onestop.display")

#: Environment variable that overrides every display's backend (only ``sim`` makes sense).
ENV_BACKEND = "ONESTOP_DISPLAY_BACKEND"

Factory = Callable[[dict[str, Any]], LedDisplay]

#: Backend name → ``"module:Class"`` (imported on first use) or a factory taking the parameters.
BACKENDS: dict[str, str | Factory] = {
    "sim": "device_drivers.display.sim:SimDisplay",
    "modbus": "device_drivers.display.modbus:ModbusDisplay",
    "ascii": "device_drivers.display.ascii_frame:AsciiFrameDisplay",
}


def register_backend(name: str, factory: str | Factory) -> None:
    """Add a backend (a vendor adapter) under ``name``."""
    BACKENDS[name] = factory


def _split(hardware: Any) -> tuple[str, dict[str, Any]]:
    if hardware is None:
        return "sim", {}
    if isinstance(hardware, Mapping):
        params = dict(hardware)
        return str(params.pop("backend", "sim")), params
    return str(hardware.backend), dict(hardware.params)


def _factory(name: str) -> Factory:
    try:
        target = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise DisplayConfigError(f"display.backend: unknown backend {name!r}; known: {known}") from None
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        cls: Factory = getattr(importlib.import_module(module), attr)
        return cls
    return target


def make_display(hardware: Any) -> LedDisplay:
    """A display for a ``display`` table (:class:`onestop.config.Hardware`, a dict or None), not
    yet open. Parameters are checked here: :class:`DisplayConfigError` names each bad key."""
    name, params = _split(hardware)
    display = _factory(name)(params)
    forced = os.environ.get(ENV_BACKEND, "").strip()
    if forced and forced != name:
        if forced != "sim":
            raise DisplayConfigError(f"{ENV_BACKEND}={forced!r}: only 'sim' can replace a backend")
        i = display.info
        log.warning("%s=sim: simulating the %s display (%d×%d)", ENV_BACKEND, name, i.rows, i.cols)
        sim = {"rows": i.rows, "cols": i.cols, "charset": i.charset, "align": i.align}
        sim |= {"blink": i.blink, "brightness": i.brightness}
        display = _factory("sim")(sim)
    return display


def open_display(hardware: Any) -> LedDisplay:
    """:func:`make_display`, opened: :class:`DisplayNotFound` when its port is missing."""
    display = make_display(hardware)
    display.open()
    return display
