"""Start the rating terminal's Kivy app: configure Kivy (:func:`kiosk_app.shell.app.configure`) before its
window exists, then show the screens (:mod:`kiosk_app.rating.screens`, which imports the window).
"""

from __future__ import annotations

from typing import Any

from kiosk_app.rating.viewmodel import RatingViewModel
from kiosk_app.shell.app import configure

#: Landscape 10-inch tablet: rating terminals lie on the counter, facing the citizen.
RATING_SIZE = (1280, 800)


def build_rating_app(vm: RatingViewModel) -> Any:
    """The rating terminal's :class:`~kiosk_app.rating.screens.RatingApp` (not yet running)."""
    from kiosk_app.rating.screens import RatingApp

    return RatingApp(vm)


def run_rating_app(
    vm: RatingViewModel, *, fullscreen: bool = True, size: tuple[int, int] | None = None
) -> None:
    """Configure Kivy and run the rating terminal until its window closes."""
    configure(fullscreen=fullscreen, size=size or RATING_SIZE)
    from kiosk_app.rating.screens import RatingScreenBuilder

    # Full screen on its real display: the panel's size from its EDID. A window is not the whole
    # display: its pixels are not the EDID's millimetres (the usual panel of its size instead).
    RatingScreenBuilder.use_edid = fullscreen
    build_rating_app(vm).run()
