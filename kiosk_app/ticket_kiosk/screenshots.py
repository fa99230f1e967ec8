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
import dataclasses
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from device_drivers.printer import PaperOut, PrinterNotReady, PrinterStatus, make_printer
from kiosk_app.ticket_kiosk.codes import (
    BookingInfo,
    DossierInfo,
    Features,
    LookupFailed,
    LookupKind,
    Outcome,
    Read,
    read_scan,
    read_typed,
)
from kiosk_app.ticket_kiosk.ticket import SAMPLE_TIME, SAMPLE_TOKEN, render_ticket, ticket_status_url
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
from onestop.config import Hardware, SiteConfig, load
from onestop.device import CommandFailed, NoReply

SCREENS = (
    "home", "home-en", "home-banner", "priority", "printing", "done", "paper_out", "printer_error",
    "closed", "limit", "unreachable", "error", "ticket",
)  # fmt: skip
#: The screens of the code flows (kiosk_app/ticket_kiosk/flows.py), and the tickets they print.
FLOW_SHOTS = (
    "keypad", "keypad_letters", "keypad_error", "looking", "booking", "booking_done", "booking_used",
    "booking_early", "booking_late", "booking_other", "dossier", "dossier_done", "dossier_status",
    "not_found", "lookup_down", "scan_bad", "consent", "card_home", "lookup_home",
)  # fmt: skip
FLOW_TICKETS = ("ticket-booked", "ticket-pickup")
ALL_SHOTS = SCREENS + FLOW_SHOTS + FLOW_TICKETS
#: The demo's codes (what the screenshots show typed or scanned).
DEMO_BOOKING = "DL24120400017"
DEMO_DOSSIER = "000.00.12.H23-241204-0003"
DEMO_NAME = "Nguyễn Văn An"


class DemoBackend:
    """Issues number 12 of the service asked; raises or refuses as the scenario says; knows the demo's
    booking and dossier (or answers what the scenario says)."""

    def __init__(self) -> None:
        self.issue_error: Exception | None = None
        self.print_error: Exception | None = None
        self.answers: dict[str, Outcome] = {}

    def issue(
        self, service: str, priority: bool, command_id: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A fixed ticket (or the scenario's error); a booking or a dossier code is attached."""
        if self.issue_error is not None:
            raise self.issue_error
        ticket = _ticket(self.cfg, service, priority)
        result: dict[str, Any] = {"ticket": ticket, "ahead": 4, "est_wait_s": 15 * 60}
        if extra and "booking" in extra:
            ticket["booking"] = {
                **extra["booking"],
                "status": "on_time",
                "due_at": extra["booking"]["slot_start"],
            }
            result["booking_status"] = "on_time"
        if extra and "dossier" in extra:
            ticket["dossier"] = extra["dossier"]
        return result

    def print_ticket(self, result: Mapping[str, Any]) -> None:
        """Nothing (or the scenario's printer error)."""
        if self.print_error is not None:
            raise self.print_error

    def lookup(self, kind: LookupKind, code: str) -> Outcome:
        """The scenario's answer for ``kind`` (not found without one)."""
        return self.answers.get(kind, LookupFailed("not_found"))

    def publish_citizen(self, ticket_id: str, name: str) -> None:
        """Nothing (the demo has no hub)."""

    cfg: SiteConfig


def demo_features(cfg: SiteConfig, device: str) -> Features:
    """The site's features, with every flow turned on for the screenshots (a site that configures none
    still gets pictures of them): bookings, result pickup at ``[dossiers] service`` (or a service
    named "Trả kết quả", or the last one), identity cards with all their uses."""
    got = Features.of(cfg, device)
    named = [s.id for s in cfg.services if s.name.casefold().startswith("trả kết quả")]
    pickup = got.dossier_service or (named or [cfg.services[-1].id])[0]
    return dataclasses.replace(
        got, bookings=True, dossier_service=pickup, cards=True,
        priority_age=got.priority_age or 75, prefill_name=True, find_bookings=True, find_dossiers=True,
    )  # fmt: skip


def demo_booking(vm: KioskViewModel, **kw: Any) -> BookingInfo:
    """Today's demo booking at 09:00–09:15 for the kiosk's first service."""
    tz = vm.cfg.site.tz
    start = datetime.combine(vm.today(), time(9, 0), tzinfo=tz)
    values: dict[str, Any] = {"code": DEMO_BOOKING, "service": vm.services[0].id, "slot_start": start,
                              "slot_end": start + timedelta(minutes=15), "initials": "N.V.A.",
                              "status": "booked", **kw}  # fmt: skip
    return BookingInfo(**values)


def demo_dossier(vm: KioskViewModel, ready: bool) -> DossierInfo:
    """The demo dossier: ready, or being processed and promised in six days."""
    status: Any = "ready" if ready else "processing"
    return DossierInfo(DEMO_DOSSIER, "Cấp bản sao trích lục hộ tịch", status, ready,
                       vm.today() + timedelta(days=6), vm.features.dossier_service)  # fmt: skip


def flow_scenario(name: str, vm: KioskViewModel, backend: DemoBackend) -> None:
    """Drive a fresh view-model to the code-flow screen ``name`` (one of :data:`FLOW_SHOTS`)."""
    backend.answers = {"booking": demo_booking(vm), "dossier": demo_dossier(vm, True)}
    if name.startswith("keypad"):
        vm.press("appointment")
        for key in "241204":
            vm.press(f"key:{key}")
        if name == "keypad_letters":
            vm.press("keys:letters")
        if name == "keypad_error":
            vm.press("find")
        return
    if name == "looking":
        vm.runner = lambda job: None  # the look-up stays on its way
        vm.on_scan(_Scan(DEMO_BOOKING))
        return
    if name == "lookup_down":
        backend.answers = {"dossier": LookupFailed("unavailable")}
        vm.on_scan(_Scan(DEMO_DOSSIER))
        return
    if name in ("scan_bad", "not_found"):
        backend.answers = {}
        vm.on_scan(_Scan("xin chào" if name == "scan_bad" else DEMO_BOOKING))
        return
    if name in ("consent", "card_home"):
        vm.on_scan(_Scan(_demo_card(vm)))
        if name == "card_home":
            backend.answers = {}
            vm.press("agree")
        return
    if name.startswith("booking"):
        if name in ("booking_used", "booking_other"):
            day = vm.today() + timedelta(days=3)
            start = datetime.combine(day, time(9, 0), tzinfo=vm.cfg.site.tz)
            other = (
                {"status": "used"}
                if name == "booking_used"
                else {"slot_start": start, "slot_end": start + timedelta(minutes=15)}
            )
            backend.answers["booking"] = demo_booking(vm, **other)
        backend.issue_error = {
            "booking_early": CommandFailed("issue", "booking_early", f"{DEMO_BOOKING}: come back at 08:45"),
            "booking_late": CommandFailed("issue", "booking_late", "the window closed at 09:10"),
        }.get(name)  # fmt: skip
        vm.on_scan(_Scan(DEMO_BOOKING))
        if name != "booking":
            vm.press("take")
        return
    if name.startswith("dossier"):
        if name == "dossier_status":
            backend.answers["dossier"] = demo_dossier(vm, False)
        vm.on_scan(_Scan(DEMO_DOSSIER))
        if name == "dossier_done":
            vm.press("take")
        return
    raise ValueError(f"no scenario {name!r}")


@dataclasses.dataclass(frozen=True)
class _Scan:
    text: str
    complete: bool = True


def _demo_card(vm: KioskViewModel) -> str:
    """The text of a demo identity card's QR (a made-up person born 1948)."""
    return f"001048012345||{DEMO_NAME}|01051948|Nam|Số 1 phố Mẫu, Hà Nội|{vm.today():%d%m%Y}"


def _demo_read(text: str) -> Read:
    """The screenshots' reader (the real one; the demo card's id number fits its year of birth)."""
    return read_scan(text)


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

    def fresh(self, lookup_only: bool = False) -> KioskViewModel:
        """A view-model with plausible queue states (every code flow on; ``lookup_only``: as a
        lookup-only kiosk)."""
        features = demo_features(self.cfg, self.device)
        if lookup_only:
            features = dataclasses.replace(features, lookup_only=True)
        vm = KioskViewModel(
            self.cfg, self.device, self.backend, clock=lambda: self.t[0], runner=lambda job: job(), guard_s=0,
            codes=self.backend, features=features, read_scan=_demo_read, read_typed=read_typed,
        )  # fmt: skip
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
        vm = self.fresh(lookup_only=name == "lookup_home")
        self.vm = self.app.vm = vm
        vm.subscribe(self.app._changed)
        if name in FLOW_SHOTS:
            if name != "lookup_home":
                flow_scenario(name, vm, self.backend)
        else:
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
        if name in ("ticket", *FLOW_TICKETS):
            dev = cfg.device(device)
            printer = make_printer(dev.printer or Hardware())
            first = stage.vm.services[0]
            ticket = _ticket(cfg, first.id, False)
            if name == "ticket-booked":
                start = SAMPLE_TIME.replace(hour=9, minute=0)
                ticket["booking"] = {"code": DEMO_BOOKING, "slot_start": start.isoformat(),
                                     "slot_end": (start + timedelta(minutes=15)).isoformat()}  # fmt: skip
            if name == "ticket-pickup":
                ticket["dossier"] = DEMO_DOSSIER
            img = render_ticket(
                ticket, site=cfg, service_name=first.name, service_name_en=first.name_en,
                ahead=4, est_wait_s=900, layout=cfg.ticket, width_dots=printer.profile.width_dots,
                status_url=ticket_status_url(cfg, SAMPLE_TOKEN), now=SAMPLE_TIME,
            )  # fmt: skip
            path = out / f"kiosk-{name}.png"
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
    p.add_argument("--screens", default=",".join(SCREENS), help="comma-separated: " + ", ".join(ALL_SHOTS))
    args = p.parse_args(argv)
    cfg = load(args.config)
    kiosks = cfg.devices_with_role("kiosk")
    device = args.device or (kiosks[0].id if kiosks else "")
    if not device:
        print("screenshots: the site has no kiosk", file=sys.stderr)
        return 2
    w, _, h = args.size.partition("x")
    screens = [s.strip() if s.strip() in ALL_SHOTS else s.strip().replace("-", "_")
               for s in args.screens.split(",") if s.strip()]  # fmt: skip
    unknown = [s for s in screens if s not in ALL_SHOTS]
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
