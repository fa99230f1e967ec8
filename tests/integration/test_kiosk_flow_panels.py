"""Every screen of the kiosk's code flows (appointments, result pickup, identity cards, the keypad,
the lookup-only kiosk) on every touch panel of test_kiosk_panels: nothing outside the window, clipped
or overlapping, no text or touch target under the millimetre floors; and the card's name nowhere on
any screen (initials only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kiosk_app.ticket_kiosk.screenshots import DEMO_NAME, FLOW_SHOTS
from onestop.config import SiteConfig
from tests.integration.test_kiosk_panels import SIZES, example, screen_problems

pytestmark = pytest.mark.integration
__all__ = ["example"]


@pytest.fixture(scope="module")
def stage(xdisplay: str, example: SiteConfig) -> Iterator[Any]:
    from kiosk_app.ticket_kiosk.screenshots import Stage

    st = Stage(example, "kiosk-01", SIZES[0])
    try:
        yield st
    finally:
        st.stop()


@pytest.mark.parametrize("device", ["kiosk-01", "kiosk-02"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_flow_screen_fits_the_panel(
    stage: Any, example: SiteConfig, size: tuple[int, int], device: str
) -> None:
    from kivy.uix.label import Label  # type: ignore[import-untyped]

    stage.device = device
    problems: list[str] = []
    try:
        for name in ("home", *FLOW_SHOTS):
            problems += screen_problems(stage, example, name, size)
            shown = " ".join(w.text for w in stage.app.root.walk() if isinstance(w, Label))
            if DEMO_NAME in shown or DEMO_NAME.split()[0] in shown:
                problems.append(f"{name}: the card holder's name is on the screen")
            if name in FLOW_SHOTS:
                assert stage.vm.view().screen == name.replace("_letters", "").replace("_error", "").replace(
                    "_done", ""
                ).replace("card_home", "home").replace("booking_done", "done") or name.endswith("_done"), name
    finally:
        stage.device = "kiosk-01"
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
