"""Backends chosen by name from a device's ``printer`` table in site.toml (ARCHITECTURE.md §2).

==========  ======================================================================================
backend     parameters (besides ``profile``, ``width_dots``, ``cutter``, ``status_timeout_s``)
==========  ======================================================================================
sim         none: an in-process :class:`~device_drivers.printer.sim.FakePrinter` (``printer.fake``)
network     ``host`` (required), ``port`` (9100), ``timeout_s`` (5)
serial      ``port`` (required, e.g. /dev/ttyUSB0), ``baudrate`` (9600),
            ``flow`` ("none" | "rtscts" | "dsrdtr" | "xonxoff"), ``timeout_s`` (5)
file        ``path`` (required, e.g. /dev/usb/lp0), ``status`` ("auto": read status from a character
            device; "off": never read)
usb         ``vendor_id``, ``product_id`` (required; numbers or "0x04b8" strings), ``in_ep`` (0x82),
            ``out_ep`` (0x01), ``timeout_s`` (5); needs pyusb
==========  ======================================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from device_drivers.printer.driver import EscPosPrinter
from device_drivers.printer.errors import PrinterConfigError
from device_drivers.printer.profiles import DEFAULT_PROFILE, PrinterProfile, get_profile
from device_drivers.printer.sim import FakePrinter, SimPrinter, SimTransport
from device_drivers.printer.transports import (
    FileTransport,
    SerialTransport,
    SocketTransport,
    Transport,
    UsbTransport,
)
from onestop.config import Hardware

COMMON = {"profile", "width_dots", "cutter", "status_timeout_s"}


Connect = Callable[[], Transport]


@dataclass(frozen=True)
class Backend:
    """A backend: its parameters (required and optional), and ``prepare``, which checks their values
    (raising :class:`PrinterConfigError`) and returns the function that connects."""

    required: frozenset[str]
    optional: frozenset[str]
    prepare: Callable[[dict[str, Any], PrinterProfile], Connect]


def _int(params: dict[str, Any], key: str, default: int | None = None) -> int:
    value = params.get(key, default)
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PrinterConfigError(
        f"printer.{key}: expected a whole number (or a string like '0x04b8'), got {value!r}"
    )


def _float(params: dict[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise PrinterConfigError(f"printer.{key}: expected a positive number of seconds, got {value!r}")


def _str(params: dict[str, Any], key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
    value = params.get(key, default)
    if not isinstance(value, str) or not value or (choices and value not in choices):
        expected = " | ".join(repr(c) for c in choices) if choices else "a non-empty text"
        raise PrinterConfigError(f"printer.{key}: expected {expected}, got {value!r}")
    return value


def _network(p: dict[str, Any], _: PrinterProfile) -> Connect:
    host, port, timeout = _str(p, "host"), _int(p, "port", 9100), _float(p, "timeout_s", 5.0)
    return lambda: SocketTransport(host, port, timeout)


def _serial(p: dict[str, Any], _: PrinterProfile) -> Connect:
    port, baudrate = _str(p, "port"), _int(p, "baudrate", 9600)
    flow = _str(p, "flow", "none", ("none", "rtscts", "dsrdtr", "xonxoff"))
    timeout = _float(p, "timeout_s", 5.0)
    return lambda: SerialTransport(port, baudrate, flow, timeout)


def _file(p: dict[str, Any], _: PrinterProfile) -> Connect:
    path, status = _str(p, "path"), _str(p, "status", "auto", ("auto", "off"))
    return lambda: FileTransport(path, status)


def _usb(p: dict[str, Any], profile: PrinterProfile) -> Connect:
    vendor, product = _int(p, "vendor_id"), _int(p, "product_id")
    in_ep, out_ep, timeout = _int(p, "in_ep", 0x82), _int(p, "out_ep", 0x01), _float(p, "timeout_s", 5.0)
    return lambda: UsbTransport(
        vendor, product, in_ep=in_ep, out_ep=out_ep, timeout_s=timeout, escpos_profile=profile.escpos_profile
    )


def _sim(p: dict[str, Any], _: PrinterProfile) -> Connect:
    fake = FakePrinter()
    return lambda: SimTransport(fake)


def _backend(required: set[str], optional: set[str], prepare: Callable[..., Connect]) -> Backend:
    return Backend(frozenset(required), frozenset(optional), prepare)


#: Every backend by name; ``sim`` is built as a :class:`SimPrinter`, so that tests can reach its fake.
BACKENDS: dict[str, Backend] = {
    "network": _backend({"host"}, {"port", "timeout_s"}, _network),
    "serial": _backend({"port"}, {"baudrate", "flow", "timeout_s"}, _serial),
    "file": _backend({"path"}, {"status"}, _file),
    "usb": _backend({"vendor_id", "product_id"}, {"in_ep", "out_ep", "timeout_s"}, _usb),
    "sim": _backend(set(), set(), _sim),
}


def _table(hardware: Hardware | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(hardware, Hardware):
        return hardware.backend, hardware.params
    params = dict(hardware)
    return str(params.pop("backend", "sim")), params


def make_printer(hardware: Hardware | Mapping[str, Any]) -> EscPosPrinter:
    """A printer for a ``printer`` table (a :class:`~onestop.config.Hardware` or a dict), not yet open.

    Unknown backends, profiles and parameters raise :class:`PrinterConfigError` naming what is allowed.
    """
    name, params = _table(hardware)
    backend = BACKENDS.get(name)
    if backend is None:
        known = ", ".join(sorted(BACKENDS))
        raise PrinterConfigError(f"unknown printer backend {name!r}; known backends: {known}")
    allowed = backend.required | backend.optional | COMMON
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise PrinterConfigError(
            f"printer backend {name!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    missing = sorted(backend.required - set(params))
    if missing:
        raise PrinterConfigError(f"printer backend {name!r}: missing parameter(s) {', '.join(missing)}")
    cutter = params.get("cutter")
    if cutter is not None and not isinstance(cutter, bool):
        raise PrinterConfigError(f"printer.cutter: expected true or false, got {cutter!r}")
    profile = get_profile(
        _str(params, "profile", DEFAULT_PROFILE),
        width_dots=_int(params, "width_dots") if "width_dots" in params else None,
        cutter=cutter,
    )
    timeout = _float(params, "status_timeout_s", 0.5)
    if name == "sim":
        return SimPrinter(profile, status_timeout_s=timeout)
    return EscPosPrinter(name, profile, backend.prepare(params, profile), status_timeout_s=timeout)


def open_printer(hardware: Hardware | Mapping[str, Any]) -> EscPosPrinter:
    """:func:`make_printer`, then open it (:class:`PrinterNotFound` when the printer is absent)."""
    printer = make_printer(hardware)
    printer.open()
    return printer
