"""Every rating screen on every touch panel a centre buys: nothing outside the screen, clipped,
overlapping, or under the millimetre floors (docs/rating.md, "Panels").

Renders the screens of :data:`kiosk_app.rating.screenshots.SCREENS` for the example site (its long
site name and three levels) and for a five-level site with long English, at the six usual panel
resolutions, in the session's one Kivy window (resized, not recreated), and checks each with
:func:`tests.utils.kivy_layout.layout_problems`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kiosk_app.rating.screenshots import SCREENS, DemoBackend, scenario
from kiosk_app.rating.viewmodel import RatingViewModel
from kiosk_app.shell.panel import panel_for
from onestop.config import PanelSize, SiteConfig, load
from tests.utils.kivy import pump_until
from tests.utils.kivy_layout import layout_problems

pytestmark = pytest.mark.integration

#: The panels of docs/rating.md: the Pi Touch Displays, 7" and 10.1" panels, 21.5" screens.
SIZES = [(800, 480), (720, 1280), (1024, 600), (1280, 800), (1920, 1080), (1080, 1920)]
EXAMPLE = "examples/site.toml"

#: A five-level scale with long English (the widest level row a site may configure).
FIVE_LEVELS: dict[str, Any] = {
    "levels": ["Rất hài lòng", "Hài lòng", "Bình thường", "Chưa hài lòng", "Rất không hài lòng"],
    "levels_en": ["Very satisfied with the officer", "Satisfied", "Neither satisfied nor dissatisfied", "",
                  "Very dissatisfied"],
    "satisfied_min": 3,
}  # fmt: skip


@pytest.fixture(scope="module")
def example() -> SiteConfig:
    return load(EXAMPLE)


@pytest.fixture(scope="module")
def app(xdisplay: str, example: SiteConfig) -> Iterator[Any]:
    """One rating app for the module, on the session's one Kivy window."""
    from kiosk_app.rating.app import RATING_SIZE, build_rating_app
    from kiosk_app.shell.app import configure

    configure(fullscreen=False, size=RATING_SIZE)
    vm = RatingViewModel(example, "rate-1", DemoBackend(), clock=lambda: 1000.0, runner=lambda job: job())
    a = build_rating_app(vm)
    a._run_prepare()
    yield a
    a.stop()


def settled(app: Any) -> None:
    """Pump Kivy's event loop until two frames in a row lay the screen out the same (bounded)."""
    last: list[Any] = [None]

    def same() -> bool:
        now = [(w.x, w.y, w.width, w.height, getattr(w, "texture_size", None)) for w in app.root.walk()]
        done, last[0] = now == last[0], now
        return done

    pump_until(same, "a settled layout")


def show(app: Any, cfg: SiteConfig, name: str, size: tuple[int, int], *, online: bool = True) -> list[str]:
    """Render the screen ``name`` at ``size`` (``online=False``: with the no-connection banner);
    return its layout problems."""
    from kivy.core.window import Window  # type: ignore[import-untyped]

    if tuple(Window.size) != size:
        Window.size = size
        pump_until(lambda: tuple(Window.size) == size, f"the window at {size}")
    backend = DemoBackend()
    vm = RatingViewModel(
        cfg, "rate-1", backend, clock=lambda: 1000.0, runner=lambda job: job(), guard_s=0,
        connected=lambda: online,
    )  # fmt: skip
    app.vm = vm
    scenario(name, vm, backend)
    app.render()
    settled(app)
    buttons = app.screen.buttons
    main = [k for k in buttons if k.startswith("level:") or k == "action:send"]
    panel = panel_for(cfg.device("rate-1"), *size)
    return layout_problems(app.root, size, panel, targets=buttons, main=main)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("name", SCREENS)
def test_every_screen_fits_every_panel(
    app: Any, example: SiteConfig, name: str, size: tuple[int, int]
) -> None:
    problems = show(app, example, name, size)
    assert not problems, f"{name} at {size[0]}×{size[1]}:\n" + "\n".join(problems)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("name", ["levels", "levels-en"])
def test_five_long_levels_fit_every_panel(
    app: Any, example: SiteConfig, name: str, size: tuple[int, int]
) -> None:
    rating = example.rating.model_copy(update=FIVE_LEVELS)
    cfg = example.model_copy(update={"rating": rating})
    problems = show(app, cfg, name, size)
    assert not problems, f"{name} (five levels) at {size[0]}×{size[1]}:\n" + "\n".join(problems)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("name", ["officer", "levels", "reasons"])
def test_the_offline_banner_fits_every_panel(
    app: Any, example: SiteConfig, name: str, size: tuple[int, int]
) -> None:
    problems = show(app, example, name, size, online=False)
    assert not problems, f"{name} (offline) at {size[0]}×{size[1]}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", SCREENS)
def test_the_panel_of_site_toml_sets_the_sizes(app: Any, example: SiteConfig, name: str) -> None:
    """A 7" panel of 1280×800 pixels (``panel`` in site.toml, not the usual 10.1"): every screen fits
    it with the floors of its millimetres, not of a 10.1" tablet's."""
    devices = [
        d.model_copy(update={"panel": PanelSize(width_mm=154.2, height_mm=85.9)}) if d.id == "rate-1" else d
        for d in example.devices
    ]
    cfg = example.model_copy(update={"devices": devices})
    assert panel_for(cfg.device("rate-1"), 1280, 800).px_per_mm > 8
    problems = show(app, cfg, name, (1280, 800))
    assert not problems, f'{name} on a 7" 1280×800 panel:\n' + "\n".join(problems)
