"""``onestop kiosk``: run a ticket kiosk (Kivy, or headless), or print a sample ticket (print-test)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from onestop.config import Hardware, SiteConfig

if TYPE_CHECKING:
    from device_drivers.scanner import Scanner
from onestop.errors import OnestopError

log = logging.getLogger("onestop.kiosk")


def _kiosk_device(cfg: SiteConfig, device: str) -> None:
    try:
        dev = cfg.device(device)
    except KeyError:
        raise OnestopError(f"--device {device}: no such device in {cfg.source}") from None
    if dev.role != "kiosk":
        raise OnestopError(f"--device {device}: it is a {dev.role} device, not a kiosk")


def print_test(cfg: SiteConfig, device: str, out: str | None) -> int:
    """Print a sample ticket on the kiosk's printer, or write it to ``out``; print one line saying what."""
    from device_drivers.printer import PrinterError, open_printer
    from device_drivers.printer.registry import make_printer
    from kiosk_app.ticket_kiosk.ticket import render_sample_ticket

    _kiosk_device(cfg, device)
    hardware = cfg.device(device).printer or Hardware()
    printer = make_printer(hardware)  # checks the table (backend, profile, parameters) without connecting
    profile = printer.profile
    image = render_sample_ticket(cfg, profile, layout=cfg.ticket)
    what = f"{profile.name}, {profile.width_dots} dots, {image.width}x{image.height}"
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        image.save(out)
        print(f"wrote a sample ticket for {device} ({what}) to {out}")
        return 0
    try:
        printer = open_printer(hardware)
        try:
            status = printer.status()
            printer.print_image(image)
        finally:
            printer.close()
    except PrinterError as exc:
        raise OnestopError(f"{device}: {hardware.backend} printer: {exc}") from None
    note = f"; printer {status.state}" + (f" ({status.detail})" if status.detail else "")
    print(f"printed a sample ticket on {device}'s {hardware.backend} printer ({what}){note}")
    return 0


def scan_fifo(cfg: SiteConfig, device: str) -> Path:
    """The named pipe a kiosk's simulated scanner reads: its ``scanner`` table's ``fifo``, else
    ``{storage}/kiosk/{device}.scan`` (where ``--sim-scanner`` and ``onestop up`` put it)."""
    table = cfg.device(device).scanner
    fifo = table.params.get("fifo") if table is not None and table.backend == "sim" else None
    return Path(str(fifo)) if fifo else cfg.data_dir / "kiosk" / f"{device}.scan"


def sim_scanner(cfg: SiteConfig, device: str) -> Scanner:
    """A simulated scanner reading :func:`scan_fifo` (for a kiosk without a ``scanner`` table)."""
    from device_drivers.scanner import make_scanner

    path = scan_fifo(cfg, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_scanner({"backend": "sim", "fifo": str(path), "name": device})


def scan(cfg: SiteConfig, device: str, text: str) -> int:
    """``onestop kiosk scan``: hand ``text`` to a running kiosk's simulated scanner, as if scanned
    (one line into its named pipe; docs/kiosk.md "Scanning in the demo"). Local only: the pipe is a
    file of the kiosk's user, in its storage directory."""
    _kiosk_device(cfg, device)
    if not text or "\n" in text or "\r" in text or len(text) > 2048:
        raise OnestopError("--text: one line of at most 2048 characters")
    path = scan_fifo(cfg, device)
    try:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise OnestopError(f"{path} is not a named pipe: is {device} running with a simulated scanner?")
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # no reader: ENXIO at once, never a hang
    except FileNotFoundError:
        raise OnestopError(f"{device} has no simulated scanner running ({path} does not exist)") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OnestopError(f"{device} is not running (nobody reads {path})") from None
        raise OnestopError(f"{path}: {exc.strerror}") from None
    try:
        os.write(fd, text.encode("utf-8") + b"\n")
    finally:
        os.close(fd)
    print(f"scanned {len(text)} characters at {device}")
    return 0


def run(cfg: SiteConfig, device: str, password: str, args: argparse.Namespace) -> int:
    """Run the kiosk until Ctrl-C (headless) or until its window closes."""
    from kiosk_app.ticket_kiosk.device import KioskDevice
    from onestop.mqtt import BrokerUnreachable

    _kiosk_device(cfg, device)
    headless = bool(args.headless)
    scanner = None
    if getattr(args, "sim_scanner", False) and cfg.device(device).scanner is None:
        scanner = sim_scanner(cfg, device)  # the demo: `onestop kiosk scan` feeds it
    kiosk = KioskDevice(cfg, device, password, guard_s=0.0 if headless else 0.8, scanner=scanner)
    try:
        kiosk.start(connect_timeout=10)
    except BrokerUnreachable as exc:
        if "password" in str(exc) or "authorized" in str(exc):
            raise
        log.warning("%s; still trying (the kiosk shows 'system busy' meanwhile)", exc)
    try:
        if headless or args.listen:
            from kiosk_app.ticket_kiosk.headless import HeadlessKiosk

            host, _, port = (args.listen or "127.0.0.1:0").rpartition(":")
            if not host or not port.isdigit():
                raise OnestopError(f"--listen: expected HOST:PORT, got {args.listen!r}")
            trigger = HeadlessKiosk(kiosk.vm, host, int(port))
            trigger.start()
            log.info('%s: trigger on %s (POST /tap {"service": ...}, GET /screen)', device, trigger.url)
        if headless:
            from onestop.process import wait_for_signal

            log.info("%s running headless (Ctrl-C stops)", device)
            wait_for_signal()
        else:
            from kiosk_app.ticket_kiosk.app import run_app

            size = None
            if args.size:
                w, _, h = args.size.partition("x")
                if not (w.isdigit() and h.isdigit()):
                    raise OnestopError(f"--size: expected WIDTHxHEIGHT, got {args.size!r}")
                size = (int(w), int(h))
            run_app(kiosk.vm, fullscreen=not args.windowed, size=size)
    finally:
        kiosk.stop()
    return 0
