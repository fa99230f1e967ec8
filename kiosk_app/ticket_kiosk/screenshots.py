"""Render every kiosk screen to PNG (under a private Xvfb when there is no display), and the sample ticket.

``python -m kiosk_app.ticket_kiosk.screenshots --config examples/site.toml --out /tmp/kiosk
[--size 1080x1920]`` writes ``kiosk-{screen}.png`` for every screen (and ``kiosk-home-en.png``,
``kiosk-ticket.png``).
``--screens home,done,paper_out`` limits the set (that is how docs/img/ is made). Kiosks are portrait
(1080×1920) by default; ``--size 1920x1080`` shows the landscape layout. ``--sizes 800x480,720x1280``
renders every screen at every size as ``kiosk-{screen}-{W}x{H}.png`` (docs/img/panels, with
``--colors 64`` for small files).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from device_drivers.printer import PaperOut, PrinterNotReady, PrinterStatus, make_printer
from kiosk_app.ticket_kiosk.ticket import SAMPLE_TIME, SAMPLE_TOKEN, render_ticket, ticket_status_url
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
from onestop.config import Hardware, SiteConfig, load
from onestop.device import CommandFailed, NoReply

SCREENS = (
    "home", "home-en", "home-banner", "priority", "printing", "done", "paper_out", "printer_error",
    "closed", "limit", "unreachable", "error", "ticket",
)  # fmt: skip


class DemoBackend:
    """Issues number 12 of the service asked; raises or refuses as the scenario says."""

    def __init__(self) -> None:
        self.issue_error: Exception | None = None
        self.print_error: Exception | None = None

    def issue(self, service: str, priority: bool, command_id: str) -> dict[str, Any]:
        """A fixed ticket (or the scenario's error)."""
        if self.issue_error is not None:
            raise self.issue_error
        return {"ticket": _ticket(self.cfg, service, priority), "ahead": 4, "est_wait_s": 15 * 60}

    def print_ticket(self, result: Mapping[str, Any]) -> None:
        """Nothing (or the scenario's printer error)."""
        if self.print_error is not None:
            raise self.print_error

    cfg: SiteConfig


def _ticket(cfg: SiteConfig, service: str, priority: bool) -> dict[str, Any]:
    conf = cfg.service(service)
    number = f"{conf.prefix}{12:0{conf.digits}d}"
    return {
        "id": f"20261123-{number}", "number": number, "service": service, "priority": priority,
        "status": "waiting", "issued_at": SAMPLE_TIME.isoformat(), "called_at": None, "counter": None,
    }  # fmt: skip


def demo_states(vm: KioskViewModel) -> None:
    """Plausible live queue states: counts and waits, the last service closed (to show how that looks)."""
    for i, conf in enumerate(vm.services):
        waiting = (3, 12, 0, 7, 5, 1, 9, 2, 4, 6, 8)[i % 11]
        est = waiting * int(conf.avg_service_min * 60) // 2
        is_open = i != len(vm.services) - 1
        low, high = est * 7 // 10 // 60 * 60, -(-est * 14 // 10 // 60) * 60  # a learned range
        vm.on_service_state({"service": conf.id, "open": is_open, "waiting": waiting, "est_wait_s": est,
                             "est_wait_range_s": [low, max(high, 60)],
                             "hours": list(conf.hours), "remaining_today": 100})  # fmt: skip


def scenario(name: str, vm: KioskViewModel, backend: DemoBackend, advance: Callable[[], None]) -> None:
    """Drive a fresh view-model to the screen ``name``."""
    first = vm.services[0].id
    if name == "home-en":
        vm.set_language("en")
        return
    if name == "home":
        return
    if name == "home-banner":  # the printer's paper ran out: a banner above the services
        vm.set_printer_state("paper_out")
        return
    if name == "closed":
        vm.tap_service(vm.services[-1].id)
        return
    if name == "priority":
        vm.tap_service(first)
        return
    if name == "printing":
        vm.runner = lambda job: None  # stays in flight
        vm.take_number(first)
        return
    backend.issue_error = {
        "limit": CommandFailed("issue", "daily_limit", "full"),
        "unreachable": NoReply("no reply"),
        "error": CommandFailed("issue", "forbidden", "no"),
    }.get(name)
    backend.print_error = {
        "paper_out": PaperOut(PrinterStatus("paper_out", "roll paper end")),
        "printer_error": PrinterNotReady(PrinterStatus("offline", "cover open")),
    }.get(name)
    vm.take_number(first, priority=name == "done")
    if name == "paper_out":
        vm.set_printer_state("paper_out")


class Stage:
    """One Kivy kiosk app whose window shows any screen at any size (Kivy has one window per process):
    :meth:`show` drives a fresh view-model to a screen and renders it. The display must exist."""

    def __init__(self, cfg: SiteConfig, device: str, size: tuple[int, int]) -> None:
        from kiosk_app.shell.app import configure
        from kiosk_app.ticket_kiosk.app import build_app

        configure(fullscreen=False, size=size)
        self.cfg, self.device = cfg, device
        self.t = [0.0]
        self.backend = DemoBackend()
        self.backend.cfg = cfg
        self.vm = self.fresh()
        self.app = build_app(self.vm)
        self.app._run_prepare()
        self.resize(size)

    def fresh(self) -> KioskViewModel:
        """A view-model with plausible queue states."""
        vm = KioskViewModel(
            self.cfg, self.device, self.backend, clock=lambda: self.t[0], runner=lambda job: job(), guard_s=0
        )
        if self.cfg.device(self.device).read_aloud:  # the speaker button shows; screenshots stay silent
            vm.speak = lambda view: None
        demo_states(vm)
        return vm

    def resize(self, size: tuple[int, int]) -> None:
        """Make the window ``size`` (W, H)."""
        from kivy.base import EventLoop  # type: ignore[import-untyped]
        from kivy.core.window import Window  # type: ignore[import-untyped]

        if tuple(Window.size) != tuple(size):
            Window.size = size
        for _ in range(3):
            EventLoop.idle()

    def show(self, name: str, size: tuple[int, int] | None = None) -> KioskViewModel:
        """Render the screen ``name`` (one of :data:`SCREENS` but ``ticket``), at ``size`` if given."""
        from kivy.base import EventLoop

        if size is not None:
            self.resize(size)
        self.t[0] += 100
        self.backend.issue_error = self.backend.print_error = None
        vm = self.fresh()
        self.vm = self.app.vm = vm
        vm.subscribe(self.app._changed)
        scenario(name, vm, self.backend, lambda: None)
        self.app.render()
        for _ in range(4):
            EventLoop.idle()
        return vm

    def screenshot(self, path: Path, colors: int = 0) -> Path:
        """The window as a PNG at ``path`` (``colors``: a palette PNG of that many colours, smaller)."""
        from kivy.core.window import Window

        tmp = Path(Window.screenshot(str(path.parent / "shot.png")))
        shutil.move(tmp, path)
        if colors:
            from PIL import Image

            with Image.open(path) as img:
                small = img.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
            small.save(path, optimize=True)
        return path

    def stop(self) -> None:
        """Close the app."""
        self.app.stop()


def render_all(
    cfg: SiteConfig,
    device: str,
    out: Path,
    size: tuple[int, int],
    screens: Sequence[str],
    *,
    sizes: Sequence[tuple[int, int]] = (),
    colors: int = 0,
) -> list[Path]:
    """Render the screens with Kivy (the display must exist); return the files written. With ``sizes``,
    every screen at every size, named ``kiosk-{screen}-{W}x{H}.png``."""
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    stage = Stage(cfg, device, size)
    for name in screens:
        if name == "ticket":
            dev = cfg.device(device)
            printer = make_printer(dev.printer or Hardware())
            first = stage.vm.services[0]
            ticket = _ticket(cfg, first.id, False)
            img = render_ticket(
                ticket, site=cfg, service_name=first.name, service_name_en=first.name_en,
                ahead=4, est_wait_s=900, layout=cfg.ticket, width_dots=printer.profile.width_dots,
                status_url=ticket_status_url(cfg, SAMPLE_TOKEN), now=SAMPLE_TIME,
            )  # fmt: skip
            path = out / "kiosk-ticket.png"
            img.save(path)
            written.append(path)
            continue
        for each in sizes or (None,):
            stage.show(name, each)
            suffix = f"-{each[0]}x{each[1]}" if each else ""
            written.append(stage.screenshot(out / f"kiosk-{name.replace('_', '-')}{suffix}.png", colors))
    stage.stop()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module documentation."""
    p = argparse.ArgumentParser(prog="python -m kiosk_app.ticket_kiosk.screenshots", description=__doc__)
    p.add_argument("--config", default="examples/site.toml")
    p.add_argument("--device", help="the kiosk (default: the site's first kiosk)")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--size", default="1080x1920", help="window size WxH (default portrait 1080x1920)")
    p.add_argument(
        "--sizes",
        default="",
        help="comma-separated WxH: every screen at every size, as kiosk-{screen}-{W}x{H}.png "
        "(e.g. 800x480,720x1280,1024x600,1280x800,1920x1080,1080x1920)",
    )
    p.add_argument("--colors", type=int, default=0, help="palette PNGs of this many colours (smaller)")
    p.add_argument("--screens", default=",".join(SCREENS), help="comma-separated: " + ", ".join(SCREENS))
    args = p.parse_args(argv)
    cfg = load(args.config)
    kiosks = cfg.devices_with_role("kiosk")
    device = args.device or (kiosks[0].id if kiosks else "")
    if not device:
        print("screenshots: the site has no kiosk", file=sys.stderr)
        return 2
    w, _, h = args.size.partition("x")
    screens = [s.strip().replace("-", "_") if s.strip() not in ("home-en", "home-banner") else s.strip()
               for s in args.screens.split(",") if s.strip()]  # fmt: skip
    unknown = [s for s in screens if s not in SCREENS and s.replace("_", "-") not in SCREENS]
    if unknown:
        print(f"screenshots: unknown screen(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    sizes = [
        (int(a), int(b)) for a, _, b in (x.strip().partition("x") for x in args.sizes.split(",") if x.strip())
    ]
    from kiosk_app.shell.xvfb import kivy_display

    side = max([int(w), int(h)] + [max(x) for x in sizes])
    with kivy_display(side, side):
        for path in render_all(
            cfg, device, Path(args.out), (int(w), int(h)), screens, sizes=sizes, colors=args.colors
        ):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
