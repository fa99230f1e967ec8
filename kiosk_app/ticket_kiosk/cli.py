"""``onestop kiosk``: run a ticket kiosk (Kivy, or headless), or print a sample ticket (print-test)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from onestop.config import Hardware, SiteConfig
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


def run(cfg: SiteConfig, device: str, password: str, args: argparse.Namespace) -> int:
    """Run the kiosk until Ctrl-C (headless) or until its window closes."""
    from kiosk_app.ticket_kiosk.device import KioskDevice
    from onestop.mqtt import BrokerUnreachable

    _kiosk_device(cfg, device)
    headless = bool(args.headless)
    kiosk = KioskDevice(cfg, device, password, guard_s=0.0 if headless else 0.8)
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
