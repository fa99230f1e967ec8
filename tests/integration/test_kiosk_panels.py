"""Every kiosk screen on every touch panel a centre buys (issue #18): nothing outside the window,
clipped or overlapping, no text or touch target under the millimetre floors (kiosk_app/shell/panel.py), and
the ticket number whole and the largest text on the ticket screens.

One Kivy window (one per process) is resized to each panel; each screen is rendered from a fresh
view-model of examples/site.toml by the screenshot tool's scenarios: kiosk-01 offers all 11 services,
kiosk-02 four, with the read-aloud button in the header.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kiosk_app.shell.panel import panel_for
from onestop.config import SiteConfig, load
from tests.utils.kivy_layout import _sizes, layout_problems

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"
#: Raspberry Pi Touch Display, Touch Display 2 (portrait), 7" HDMI, 10.1", 21.5" both ways.
SIZES = ((800, 480), (720, 1280), (1024, 600), (1280, 800), (1920, 1080), (1080, 1920))
SCREENS = (
    "home", "home-en", "home-banner", "priority", "printing", "done", "paper_out", "printer_error",
    "closed", "limit", "unreachable", "error",
)  # fmt: skip
NUMBER_SCREENS = ("done", "paper_out", "printer_error")
#: The ticket number is at least this many times the size of any other text on its screen.
NUMBER_RATIO = 1.5


@pytest.fixture(scope="module")
def example() -> SiteConfig:
    return load(EXAMPLE)


@pytest.fixture(scope="module")
def stage(xdisplay: str, example: SiteConfig) -> Iterator[Any]:
    from kiosk_app.ticket_kiosk.screenshots import Stage

    st = Stage(example, "kiosk-01", SIZES[0])
    try:
        yield st
    finally:
        st.stop()


@pytest.fixture
def kiosk(request: pytest.FixtureRequest, stage: Any) -> Iterator[Any]:
    """The stage showing the kiosk ``request.param`` (back to kiosk-01 afterwards)."""
    stage.device = request.param
    try:
        yield stage
    finally:
        stage.device = "kiosk-01"


def _main(buttons: dict[str, Any]) -> list[str]:
    """The main buttons: the services and the answers (a primary action)."""
    return [k for k in buttons if k.startswith("service:") or k in ("action:normal", "action:priority")]


def screen_problems(stage: Any, cfg: SiteConfig, name: str, size: tuple[int, int]) -> list[str]:
    """Render ``name`` at ``size`` and check it."""
    from kivy.core.window import Window  # type: ignore[import-untyped]
    from kivy.uix.label import Label  # type: ignore[import-untyped]

    vm = stage.show(name, size)
    assert tuple(Window.size) == size, f"the window is {tuple(Window.size)}, not {size}"
    view = vm.view()
    panel = panel_for(cfg.device(stage.device), *size)
    buttons = stage.app.screen.buttons
    problems = layout_problems(stage.app.root, size, panel, targets=buttons, main=_main(buttons))
    if name in NUMBER_SCREENS:
        number = [w for w in stage.app.root.walk() if isinstance(w, Label) and view.number in w.text]
        if not number:
            problems.append(f"the number {view.number} is not on screen")
        else:
            lbl = number[0]
            x0, y0 = lbl.to_window(lbl.x, lbl.y)
            if x0 < 0 or y0 < 0 or x0 + lbl.width > size[0] or y0 + lbl.height > size[1]:
                problems.append(f"the number {view.number} is not whole on screen")
            others = [w for w in stage.app.root.walk() if isinstance(w, Label) and w.text and w is not lbl]
            biggest = max(max(_sizes(w)) for w in others)
            if max(_sizes(lbl)) < NUMBER_RATIO * biggest:
                problems.append(f"the number {view.number} is not clearly the largest text")
    return [f"{name} {size[0]}x{size[1]}: {p}" for p in problems]


@pytest.mark.parametrize("kiosk", ["kiosk-01", "kiosk-02"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_kiosk_screen_fits_the_panel(kiosk: Any, example: SiteConfig, size: tuple[int, int]) -> None:
    problems: list[str] = []
    for name in SCREENS:
        problems += screen_problems(kiosk, example, name, size)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


@pytest.mark.parametrize("size", [(800, 480), (720, 1280)], ids=["800x480", "720x1280"])
def test_touching_the_arrows_pages_through_every_service(stage: Any, size: tuple[int, int]) -> None:
    """Paging never loses a service: touching "Trang sau ▶" shows every one of the 11, page by page,
    each once; "◀ Trang trước" goes back."""
    from tests.utils.kivy import pump_until, touch

    vm = stage.show("home", size)
    assert vm.pages > 1, "the 11 services fit one page of a 7-inch panel?"
    assert "action:prev_page" not in stage.app.screen.buttons  # the first page: no way back
    seen: list[str] = []

    def drawn_since(renders: int) -> bool:
        return bool(stage.app.renders > renders)

    for page in range(vm.pages):
        assert vm.view().page == page
        seen += [k.split(":", 1)[1] for k in stage.app.screen.buttons if k.startswith("service:")]
        if page < vm.pages - 1:
            before = stage.app.renders
            touch(stage.app, "action:next_page")
            pump_until(partial(drawn_since, before), "the next page drawn")
    assert "action:next_page" not in stage.app.screen.buttons  # the last page: no further
    assert sorted(seen) == sorted(s.id for s in vm.services) and len(seen) == len(set(seen))
    before = stage.app.renders
    touch(stage.app, "action:prev_page")
    pump_until(partial(drawn_since, before), "the page before drawn")
    assert vm.view().page == vm.pages - 2


def test_sizes_keep_the_design_on_a_big_screen_and_the_floors_on_a_small_one(
    xdisplay: str, example: SiteConfig
) -> None:
    """font() and target(): the design at 21.5", the millimetre floors on a 7" panel, and the size
    set in site.toml (``panel``) wins over the usual panel of the resolution."""
    from kiosk_app.shell.panel import CAP_EN_MM, CAP_VI_MM, MAIN_TARGET_MM, TARGET_MM, Panel
    from kiosk_app.ticket_kiosk.screens import ScreenBuilder
    from kiosk_app.ticket_kiosk.screenshots import DemoBackend
    from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
    from onestop.config import PanelSize

    def builder(cfg: SiteConfig, w: int, h: int) -> ScreenBuilder:
        return ScreenBuilder(KioskViewModel(cfg, "kiosk-01", DemoBackend()), w, h)

    def floors(p: Panel) -> tuple[float, float, float, float]:
        return p.font_for_cap(CAP_VI_MM), p.font_for_cap(CAP_EN_MM), p.mm(TARGET_MM), p.mm(MAIN_TARGET_MM)

    big = builder(example, 1080, 1920)
    assert (big.font(64), big.font(28, en=True)) == (64, 28)
    assert (big.target(170), big.target(230, main=True)) == (170, 230)
    small = builder(example, 800, 480)
    vi, en, target, main = floors(small.panel)
    assert small.panel.source.startswith("the usual Raspberry Pi Touch Display")
    assert small.font(40) == math.ceil(vi) and small.font(28, en=True) == math.ceil(en)
    assert small.target(100) == target and small.target(170, main=True) == main
    assert small.font(200) == math.ceil(200 * 480 / 1080)  # above the floor: the design, scaled
    # a 15.6" 1080p screen set in site.toml: larger than the 21.5" design's text at that size
    devices = [d.model_copy(update={"panel": PanelSize(diagonal_in=15.6)}) if d.id == "kiosk-01" else d
               for d in example.devices]  # fmt: skip
    set_ = builder(example.model_copy(update={"devices": devices}), 1920, 1080)
    assert set_.panel.source.startswith("site.toml")
    assert set_.font(64) == 64 and set_.font(20) == math.ceil(floors(set_.panel)[0]) > 20
