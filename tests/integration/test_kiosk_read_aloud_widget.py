"""The real Kivy kiosk under a private Xvfb: the read-aloud button is there only when the kiosk's
``read_aloud`` is on, a touch on it reads the screen, and a service's ``icon`` is drawn on its button."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel, View
from tests.conftest import SiteFactory
from tests.unit.test_kiosk_viewmodel import Backend
from tests.utils.kivy import pump_until
from tests.utils.kivy import touch as touch_button
from tests.utils.site import SITE

pytestmark = pytest.mark.integration


def _vm(site_factory: SiteFactory, read_aloud: bool) -> KioskViewModel:
    devices = [dict(d) for d in SITE["devices"]]
    devices[0]["read_aloud"] = read_aloud
    services = [dict(s) for s in SITE["services"]]
    services[0]["icon"] = "family"
    cfg = site_factory({"devices": devices, "services": services})
    return KioskViewModel(cfg, str(devices[0]["id"]), Backend(), clock=lambda: 0.0, runner=lambda job: job())


def test_the_speaker_button_only_when_enabled_and_it_reads_the_screen(
    xdisplay: str, site_factory: SiteFactory
) -> None:
    from kiosk_app.shell.app import configure
    from kiosk_app.ticket_kiosk.app import build_app
    from kiosk_app.ticket_kiosk.screens import ScreenBuilder

    off = _vm(site_factory, read_aloud=False)
    builder = ScreenBuilder(off, 540, 960)
    builder.build(off.view())
    assert "read_aloud" not in builder.buttons and "service:tuphap" in builder.buttons

    vm = _vm(site_factory, read_aloud=True)
    read: list[View] = []
    vm.speak = read.append
    configure(fullscreen=False, size=(540, 960))
    app = build_app(vm)
    app._run_prepare()
    try:
        pump_until(lambda: "read_aloud" in app.screen.buttons, "the speaker button")
        btn = app.button("read_aloud")
        assert "Nghe đọc" in btn.text and "Listen" in btn.text
        touch_button(app, "read_aloud")
        pump_until(lambda: len(read) == 1, "the screen to be read")
        assert read[0].screen == "home" and read[0].title == "Xin mời chọn lĩnh vực"
        from kivy.uix.image import Image  # type: ignore[import-untyped]

        def pictures(widget: Any) -> list[str]:
            return [w.source for w in widget.walk() if isinstance(w, Image)]

        assert any(s.endswith("speaker_dark.png") for s in pictures(btn))
        service = app.button("service:tuphap")
        assert [s.rsplit("/", 1)[-1] for s in pictures(service)] == ["family.png"]
        assert pictures(app.button("service:datdai")) == []  # no icon configured: none drawn
    finally:
        app.stop()
