"""The real Kivy rating terminal under a private Xvfb: a ticket ends, a touch on "Rất hài lòng" records
one rating, and a second touch records nothing.

Skipped only when Xvfb cannot be started (the session's ``xdisplay``, shared with the kiosk's
widget test: Kivy has one window per process).
"""

from __future__ import annotations

from typing import Any

import pytest

from kiosk_app.rating import RatingDevice
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory
from tests.utils.kivy import pump_until, touch

pytestmark = pytest.mark.integration


def test_touching_a_level_records_one_rating(
    xdisplay: str, site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], controller: Controller,
    device: DeviceFactory, mqtt: Any,
) -> None:  # fmt: skip
    topics = Topics("t-site")
    hub = mqtt("hub")
    hub.subscribe(topics.events)
    t = [0.0]
    cfg = site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})
    terminal = RatingDevice(cfg, "rate-1", credentials["rate-1"], clock=lambda: t[0], health_s=3600)
    terminal.start()
    from kiosk_app.app import RATING_SIZE, build_rating_app, configure

    configure(fullscreen=False, size=RATING_SIZE)
    from kivy.core.window import Window  # type: ignore[import-untyped]

    app = build_rating_app(terminal.vm)
    app._run_prepare()
    Window.size = RATING_SIZE  # the window may exist already (the kiosk's test), at another size
    vm = terminal.vm
    try:
        kiosk, counter = device("kiosk-1"), device("counter-1")
        counter.request("open", {"officer": "cb001"})
        kiosk.request("issue", {"service": "tuphap"})
        counter.request("call_next")
        finished = counter.request("finish")["ticket"]
        from kivy.uix.label import Label  # type: ignore[import-untyped]

        def shown() -> str:
            return " ".join(w.text for w in app.root.walk() if isinstance(w, Label))

        pump_until(lambda: vm.screen == "rate" and "level:3" in app.screen.buttons, "the levels")
        text = shown()
        assert "Rất hài lòng" in text and "Không hài lòng" in text and finished["number"] in text
        touch(app, "level:3")
        pump_until(lambda: vm.screen == "thanks", "the thanks screen")
        ev = hub.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "rating.recorded").json()
        rating = ev["data"]["rating"]
        assert (rating["ticket"], rating["score"], rating["officer"]) == (finished["id"], 3, "cb001")
        pump_until(lambda: "Cảm ơn ông/bà đã đánh giá!" in shown(), "the thanks on screen")
        # a second touch where the buttons were: nothing (and back to idle after the thanks)
        t[0] += 2
        from kivy.tests.common import UnitTestTouch  # type: ignore[import-untyped]

        tt = UnitTestTouch(Window.width / 6, Window.height / 3)
        tt.touch_down()
        tt.touch_up()
        t[0] += vm.thanks_s
        pump_until(lambda: vm.screen == "idle", "idle after the thanks (Kivy's ticker)")
        counter.request("pause")  # a barrier: every earlier event has arrived once this one has
        hub.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "counter.paused")
        recorded = [m for m in hub.inbox.messages(topics.events) if m.json()["type"] == "rating.recorded"]
        assert len(recorded) == 1 and len(vm.sent) == 1
    finally:
        app.stop()
        terminal.stop()
