"""Choosing a backend by name: clear errors for bad tables, named errors for absent printers."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from device_drivers.printer import (
    BACKENDS,
    BackendUnavailable,
    PrinterConfigError,
    PrinterError,
    PrinterNotFound,
    SimPrinter,
    make_printer,
    open_printer,
)
from onestop.config import Hardware
from onestop.errors import OnestopError
from tests.unit.sites import site


def test_known_backends() -> None:
    assert set(BACKENDS) == {"usb", "serial", "network", "file", "sim"}


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(PrinterConfigError, match="unknown printer backend 'bluetooth'") as info:
        make_printer({"backend": "bluetooth"})
    assert "file, network, serial, sim, usb" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, OnestopError)


def test_unknown_and_missing_parameters_are_named() -> None:
    with pytest.raises(PrinterConfigError, match=r"unknown parameter\(s\) hots.*allowed: .*host"):
        make_printer({"backend": "network", "hots": "10.0.0.5"})
    with pytest.raises(PrinterConfigError, match=r"missing parameter\(s\) host"):
        make_printer({"backend": "network"})
    with pytest.raises(PrinterConfigError, match=r"printer.port: expected a whole number"):
        make_printer({"backend": "network", "host": "h", "port": "ninety"})
    with pytest.raises(PrinterConfigError, match=r"printer.flow: expected 'none' \| 'rtscts'"):
        make_printer({"backend": "serial", "port": "/dev/ttyS0", "flow": "magic"})


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(PrinterConfigError, match=r"unknown printer profile 'TM-X'.*TM-T88V.*generic-58"):
        make_printer({"backend": "sim", "profile": "TM-X"})


def test_profile_overrides() -> None:
    p = make_printer({"backend": "sim", "profile": "generic-80", "width_dots": 560, "cutter": False})
    assert (p.profile.width_dots, p.profile.has_cutter) == (560, False)
    with pytest.raises(PrinterConfigError, match="multiple of 8"):
        make_printer({"backend": "sim", "width_dots": 570})


def test_accepts_the_site_config_hardware_table() -> None:
    cfg = site(
        devices=[{"id": "kiosk-1", "role": "kiosk", "printer": {"backend": "sim", "profile": "TM-T88V"}}]
    )
    hw = cfg.device("kiosk-1").printer
    assert isinstance(hw, Hardware)
    p = make_printer(hw)
    assert isinstance(p, SimPrinter)
    assert (p.backend, p.profile.width_dots) == ("sim", 512)


def test_default_backend_is_sim_and_default_profile_80mm() -> None:
    p = make_printer({})
    assert p.backend == "sim"
    assert p.profile.width_dots == 576


def test_absent_network_printer_is_not_found_at_open() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = make_printer({"backend": "network", "host": "127.0.0.1", "port": port, "timeout_s": 2})
    with pytest.raises(PrinterNotFound, match=f"127.0.0.1:{port}") as info:
        p.open()
    assert isinstance(info.value, OSError)


def test_absent_serial_port_is_not_found_at_open(tmp_path: Path) -> None:
    with pytest.raises(PrinterNotFound, match="cannot open serial port"):
        open_printer({"backend": "serial", "port": str(tmp_path / "ttyUSB9")})


def test_absent_device_file_is_not_found_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    with pytest.raises(PrinterNotFound, match="no printer device"):
        open_printer({"backend": "file", "path": str(path)})
    assert not path.exists()


def test_usb_without_pyusb_is_a_named_error_at_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usb", None)  # as on a machine without pyusb
    p = make_printer({"backend": "usb", "vendor_id": "0x04b8", "product_id": "0x0202"})  # no error yet
    with pytest.raises(BackendUnavailable, match="pyusb"):
        p.open()


def test_closed_printer_refuses_to_work() -> None:
    p = make_printer({"backend": "sim"})
    with pytest.raises(PrinterError, match="not open"):
        p.status()
    with p:
        assert p.status().state == "ok"
    with pytest.raises(PrinterError, match="not open"):
        p.status()


def test_usb_is_installed_with_the_suite_so_a_missing_printer_is_not_found() -> None:
    """pyusb comes with python-escpos[usb] (and libusb with the bootstrap): opening a USB printer that
    is not plugged in says so, not that a library is missing."""
    p = make_printer({"backend": "usb", "vendor_id": "0x04b8", "product_id": "0xfff0"})
    with pytest.raises(PrinterNotFound, match="04b8:fff0"):
        p.open()


def test_usb_without_libusb_is_a_named_error_at_open(monkeypatch: pytest.MonkeyPatch) -> None:
    import usb.backend.libusb0
    import usb.backend.libusb1
    import usb.backend.openusb

    for m in (usb.backend.libusb1, usb.backend.openusb, usb.backend.libusb0):
        monkeypatch.setattr(m, "get_backend", lambda *a, **k: None)  # as on a machine without libusb
    p = make_printer({"backend": "usb", "vendor_id": "0x04b8", "product_id": "0x0202"})
    with pytest.raises(BackendUnavailable, match=r"libusb-1\.0-0"):
        p.open()
