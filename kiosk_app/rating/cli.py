"""``onestop rating``: run a rating terminal at a counter (Kivy, or headless with an HTTP trigger)."""

from __future__ import annotations

import argparse
import logging

from onestop.config import SiteConfig
from onestop.errors import OnestopError

log = logging.getLogger("onestop.rating")


def _size(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    w, _, h = value.partition("x")
    if not (w.isdigit() and h.isdigit()):
        raise OnestopError(f"--size: expected WIDTHxHEIGHT, got {value!r}")
    return int(w), int(h)


def run(cfg: SiteConfig, device: str, password: str, args: argparse.Namespace) -> int:
    """Run the rating terminal until Ctrl-C (headless) or until its window closes."""
    from kiosk_app.rating.device import RatingDevice
    from onestop.mqtt import BrokerUnreachable

    if cfg.device(device).counter is None:
        raise OnestopError(f"--device {device}: a rating device needs a counter in {cfg.source}")
    size = _size(args.size)
    headless = bool(args.headless)
    terminal = RatingDevice(cfg, device, password, guard_s=0.0 if headless else 1.0)
    try:
        terminal.start(connect_timeout=10)
    except BrokerUnreachable as exc:
        if "password" in str(exc) or "authorized" in str(exc):
            raise
        log.warning("%s; still trying (the terminal shows its welcome screen meanwhile)", exc)
    try:
        if headless or args.listen:
            from kiosk_app.rating.headless import HeadlessRating

            host, _, port = (args.listen or "127.0.0.1:0").rpartition(":")
            if not host or not port.isdigit():
                raise OnestopError(f"--listen: expected HOST:PORT, got {args.listen!r}")
            trigger = HeadlessRating(terminal.vm, host, int(port))
            trigger.start()
            log.info('%s: trigger on %s (POST /rate {"score": ...}, GET /screen)', device, trigger.url)
        if headless:
            from onestop.process import wait_for_signal

            log.info("%s running headless (Ctrl-C stops)", device)
            wait_for_signal()
        else:
            from kiosk_app.rating.app import run_rating_app

            run_rating_app(terminal.vm, fullscreen=not args.windowed, size=size)
    finally:
        terminal.stop()
    return 0
