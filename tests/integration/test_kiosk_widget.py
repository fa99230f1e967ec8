"""The real Kivy kiosk under a private Xvfb: touches on its buttons issue and print a ticket.

Skipped only when Xvfb cannot be started (the session's ``xdisplay``). Kivy is imported inside the
test, after the display and a temporary KIVY_HOME are set, so nothing is written to ~/.kivy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from device_drivers.printer import SimPrinter
from kiosk_app.ticket_kiosk.device import KioskDevice
from onestop.broker import Broker
from onestop.config import SiteConfig
from queue_controller.service import Controller
from tests.utils.kivy import pump_until
from tests.utils.kivy import touch as touch_button

pytestmark = pytest.mark.integration


def test_touching_a_service_button_issues_and_prints_a_ticket(
    xdisplay: str, site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], controller: Controller,
    tmp_path: Path,
) -> None:  # fmt: skip
    t = [0.0]
    cfg = site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})
    kiosk = KioskDevice(cfg, "kiosk-1", credentials["kiosk-1"], clock=lambda: t[0], health_s=3600)
    kiosk.start()
    from kiosk_app.shell.app import configure
    from kiosk_app.ticket_kiosk.app import build_app

    configure(fullscreen=False, size=(540, 960))
    app = build_app(kiosk.vm)
    app._run_prepare()
    try:
        pump_until(lambda: kiosk.vm.view().services[0].status != "", "the retained service state")
        pump_until(lambda: "Đang chờ" in app.button("service:tuphap").text or "Không có ai" in app.button(
            "service:tuphap").text, "the button to show the queue")  # fmt: skip

        def touch(key: str) -> None:
            touch_button(app, key)

        touch("service:tuphap")
        pump_until(
            lambda: kiosk.vm.screen == "priority" and "action:normal" in app.screen.buttons, "priority"
        )
        touch("action:normal")  # at once: a double tap's second touch, ignored
        assert kiosk.vm.screen == "priority" and kiosk.vm.requests == []
        t[0] += 2
        touch("action:normal")
        pump_until(lambda: kiosk.vm.screen == "done" and "action:ok" in app.screen.buttons, "the done screen")
        printer = kiosk.printer
        assert isinstance(printer, SimPrinter)
        jobs = printer.fake.wait_for_jobs(1)
        assert len(jobs) == 1 and kiosk.vm.requests == [("tuphap", False)]
        assert kiosk.vm.view().number == "A001"
        from kivy.uix.label import Label  # type: ignore[import-untyped]

        shown = [w.text for w in app.root.walk() if isinstance(w, Label)]
        assert any("A001" in s for s in shown), shown
        # idle: back home after [kiosk] idle_s without a touch (Kivy's own ticker calls vm.tick())
        t[0] += cfg.kiosk.idle_s + 5
        pump_until(lambda: kiosk.vm.screen == "home" and "service:tuphap" in app.screen.buttons, "home")
        assert len(printer.fake.jobs) == 1
    finally:
        app.stop()
        kiosk.stop()
