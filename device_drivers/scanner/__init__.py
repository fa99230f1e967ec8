"""Barcode and QR scanners: one interface (:class:`Scanner`), backends chosen by name, a simulator.

``make_scanner(device.scanner)`` returns a scanner for a device's ``scanner`` table in site.toml
(``backend = "hid" | "serial" | "sim"``); ``scanner.start(on_scan)`` then calls ``on_scan`` with one
:class:`Scan` per code read. Importing this package needs neither python-evdev nor pyserial nor a
scanner. Parameters: :mod:`device_drivers.scanner.params`; docs/hardware.md "Barcode and QR scanners".

How a kiosk uses it::

    scanner = make_scanner(cfg.device(device_id).scanner)  # the table was checked by config.load()
    scanner.start(on_scan, on_health)  # both called on the scanner's thread: hand over to the UI's
    ...                                 # own thread (Kivy: Clock.schedule_once) before touching it
    scanner.stop()

``on_scan`` gets a :class:`Scan`: classify ``scan.text`` (``onestop.scan_codes``) only when
``scan.ok``; ``not scan.complete`` means "scan again" (quét lại), ``scan.error`` means the code
could not be read. ``scanner.health()`` (``ok`` / ``offline`` / ``error``) and ``scanner.detail``
belong in the kiosk's health message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from device_drivers.scanner.base import HEALTH_STATES, Scan, ScanError, ScanListener, Scanner
from device_drivers.scanner.errors import (
    ScannerAccessDenied,
    ScannerConfigError,
    ScannerError,
    ScannerNotFound,
    ScannerUnavailable,
)
from device_drivers.scanner.params import BACKEND_NAMES, HidParams, SerialParams, SimParams, parse_params

if TYPE_CHECKING:
    from onestop.config import Hardware

__all__ = [
    "BACKEND_NAMES",
    "HEALTH_STATES",
    "Scan",
    "ScanError",
    "ScanListener",
    "Scanner",
    "ScannerAccessDenied",
    "ScannerConfigError",
    "ScannerError",
    "ScannerNotFound",
    "ScannerUnavailable",
    "make_scanner",
]


def _table(hardware: Hardware | Mapping[str, Any] | None) -> dict[str, Any]:
    if hardware is None:
        return {"backend": "sim"}
    if isinstance(hardware, Mapping):
        return dict(hardware)
    return {"backend": hardware.backend, **hardware.params}


def make_scanner(hardware: Hardware | Mapping[str, Any] | None) -> Scanner:
    """The scanner for a ``scanner`` table (a :class:`~onestop.config.Hardware`, a dict, or None for
    a sim), not yet started. A bad table raises :class:`ScannerConfigError` naming each key."""
    params = parse_params(_table(hardware))
    if isinstance(params, HidParams):
        from device_drivers.scanner.hid import HidScanner

        return HidScanner(params)
    if isinstance(params, SerialParams):
        from device_drivers.scanner.serial_port import SerialScanner

        return SerialScanner(params)
    assert isinstance(params, SimParams)
    from device_drivers.scanner.sim import make_sim

    return make_sim(params)
