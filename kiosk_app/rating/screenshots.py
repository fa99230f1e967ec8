"""Render the rating terminal's screens to PNG (under a private Xvfb when there is no display).

``python -m kiosk_app.rating.screenshots --config examples/site.toml --out /tmp/rating [--size 1280x800]``
writes ``rating-{screen}.png`` for every screen; ``--screens officer,levels,reasons`` limits the set
(that is how docs/img/ is made). Rating terminals are landscape tablets (1280×800) by default.
``--sized`` names the files ``rating-{screen}-{W}x{H}.png`` (docs/img/panels/, one run per size:
``for s in 800x480 720x1280 1024x600 1280x800 1920x1080 1080x1920; do python -m
kiosk_app.rating.screenshots --out docs/img/panels --sized --size $s; done``). The panel's physical
size is the device's ``panel`` in site.toml, else the usual panel of that resolution (never EDID).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kiosk_app.rating.viewmodel import RatingViewModel
from onestop.config import SiteConfig, load
from onestop.device import CommandFailed, NoReply

SCREENS = ("welcome", "officer", "levels", "levels-en", "reasons", "thanks", "unreachable", "error")


class DemoBackend:
    """Records the rating (or raises the scenario's error)."""

    error: Exception | None = None

    def rate(
        self, score: int, reasons: Sequence[str], comment: str, command_id: str, ticket: str | None = None
    ) -> dict[str, Any]:
        """A fixed result (or the scenario's error)."""
        if self.error is not None:
            raise self.error
        return {"rating": {"score": score, "reasons": list(reasons), "comment": comment}}


def _ticket(cfg: SiteConfig, counter: str, n: int, officer: str | None) -> dict[str, Any]:
    conf = cfg.service(cfg.counter(counter).services[0])
    number = f"{conf.prefix}{n:0{conf.digits}d}"
    return {"id": f"20261123-{number}", "number": number, "service": conf.id, "status": "called",
            "counter": counter, "officer": officer}  # fmt: skip


def scenario(name: str, vm: RatingViewModel, backend: DemoBackend) -> None:
    """Drive a fresh view-model to the screen ``name``."""
    cfg = vm.cfg
    officer = cfg.officers[0].id if cfg.officers else None
    off = {"id": officer, "name": cfg.officers[0].name} if officer else None
    state = {"counter": vm.counter, "label": vm.counter_label, "status": "open", "officer": off}
    if name == "welcome":
        vm.on_counter_state({**state, "status": "closed", "officer": None, "serving": None})
        return
    vm.on_counter_state({**state, "serving": _ticket(cfg, vm.counter, 12, officer)})
    if name == "officer":
        return
    done = {**_ticket(cfg, vm.counter, 12, officer), "status": "done"}
    vm.on_counter_state({**state, "serving": _ticket(cfg, vm.counter, 13, officer)})
    vm.on_event({"seq": 1, "type": "ticket.done", "data": {"ticket": done}})
    if name == "levels-en":
        vm.set_language("en")
    if name in ("levels", "levels-en"):
        return
    backend.error = {
        "unreachable": NoReply("no reply"),
        "error": CommandFailed("rate", "forbidden", "no"),
    }.get(name)
    worst = 1
    vm.choose(worst if name == "reasons" else len(vm.levels))
    if name == "reasons":
        vm.toggle_reason(2 if len(vm.reasons) > 2 else 0)


def render_all(
    cfg: SiteConfig,
    device: str,
    out: Path,
    size: tuple[int, int],
    screens: Sequence[str],
    sized: bool = False,
) -> list[Path]:
    """Render the screens with Kivy (the display must exist); return the files written."""
    from kiosk_app.rating.app import build_rating_app
    from kiosk_app.shell.app import configure

    configure(fullscreen=False, size=size)
    from kivy.base import EventLoop  # type: ignore[import-untyped]
    from kivy.core.window import Window  # type: ignore[import-untyped]

    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    backend = DemoBackend()

    def fresh() -> RatingViewModel:
        return RatingViewModel(
            cfg, device, backend, clock=lambda: 1000.0, runner=lambda job: job(), guard_s=0
        )

    vm = fresh()
    app = build_rating_app(vm)
    app._run_prepare()
    Window.size = size
    for _ in range(3):
        EventLoop.idle()
    for name in screens:
        backend.error = None
        vm = fresh()
        app.vm = vm
        vm.subscribe(app._changed)
        scenario(name, vm, backend)
        app.render()
        for _ in range(4):
            EventLoop.idle()
        tmp = Path(Window.screenshot(str(out / "shot.png")))
        path = out / (f"rating-{name}-{size[0]}x{size[1]}.png" if sized else f"rating-{name}.png")
        shutil.move(tmp, path)
        written.append(path)
    app.stop()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module documentation."""
    p = argparse.ArgumentParser(prog="python -m kiosk_app.rating.screenshots", description=__doc__)
    p.add_argument("--config", default="examples/site.toml")
    p.add_argument("--device", help="the rating device (default: the site's first)")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--size", default="1280x800", help="window size WxH (default landscape 1280x800)")
    p.add_argument("--sized", action="store_true", help="name the files rating-{screen}-{W}x{H}.png")
    p.add_argument("--screens", default=",".join(SCREENS), help="comma-separated: " + ", ".join(SCREENS))
    args = p.parse_args(argv)
    cfg = load(args.config)
    terminals = cfg.devices_with_role("rating")
    device = args.device or (terminals[0].id if terminals else "")
    if not device:
        print("rating_screenshots: the site has no rating device", file=sys.stderr)
        return 2
    w, _, h = args.size.partition("x")
    screens = [s.strip() for s in args.screens.split(",") if s.strip()]
    unknown = [s for s in screens if s not in SCREENS]
    if unknown:
        print(f"rating_screenshots: unknown screen(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    from kiosk_app.shell.xvfb import kivy_display

    with kivy_display(int(w), int(h)):
        for path in render_all(cfg, device, Path(args.out), (int(w), int(h)), screens, args.sized):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
