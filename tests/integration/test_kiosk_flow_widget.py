"""The real Kivy kiosk under a private Xvfb, driven by touches through two code flows: an appointment
typed on the keypad and issued as a booked ticket, and an identity card's consent screen leading to a
priority ticket with the name sent to the clerk, never drawn, and forgotten afterwards.

The view-model runs over the fakes of tests/unit/test_kiosk_flows.py (the MQTT side of the same flows
is tested in test_kiosk_lookups.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
from onestop.config import SiteConfig
from tests.unit.test_kiosk_flows import ALL, ID_NUMBER, NAME, TODAY, Backend, Scan, _holds, booking, fake_read
from tests.utils.kivy import pump_until
from tests.utils.kivy import touch as touch_button

pytestmark = pytest.mark.integration


@pytest.fixture
def kiosk(xdisplay: str, site_cfg: SiteConfig) -> Iterator[tuple[Any, KioskViewModel, Backend, list[float]]]:
    t = [0.0]
    backend = Backend()
    features = dataclasses.replace(ALL, dossier_service="dkkd")  # the test site has no "trakq"
    vm = KioskViewModel(site_cfg, "kiosk-1", backend, clock=lambda: t[0], codes=backend, features=features,
                        read_scan=fake_read, read_typed=fake_read, today=lambda: TODAY)  # fmt: skip
    from kiosk_app.shell.app import configure
    from kiosk_app.ticket_kiosk.app import build_app

    configure(fullscreen=False, size=(720, 1280))
    app = build_app(vm)
    app._run_prepare()
    try:
        yield app, vm, backend, t
    finally:
        app.stop()


def _labels(app: Any) -> str:
    from kivy.uix.label import Label  # type: ignore[import-untyped]

    return "\n".join(w.text for w in app.root.walk() if isinstance(w, Label))


def test_an_appointment_typed_on_the_keypad_gives_a_booked_ticket(kiosk: Any) -> None:
    app, vm, backend, t = kiosk
    backend.answers[("booking", "DL24120400017")] = booking()

    def touch(key: str) -> None:
        t[0] += 1
        touch_button(app, key)

    pump_until(lambda: "action:appointment" in app.screen.buttons, "the home screen's entries")
    touch("action:appointment")
    pump_until(lambda: "key:2" in app.screen.buttons, "the keypad")
    for key in "24120400017":
        touch(f"key:{key}")
        pump_until(lambda k=key: vm.view().entry.endswith(k), f"key {key}")  # type: ignore[misc]
    assert vm.view().entry == "DL24120400017"
    pump_until(lambda: "DL24120400017" in _labels(app), "the code typed, on screen")
    touch("action:find")
    pump_until(lambda: vm.screen == "booking" and "action:take" in app.screen.buttons, "the booking")
    assert "Lịch hẹn 09:00–09:15, Tư pháp – Hộ tịch" in _labels(app)
    touch("action:take")
    pump_until(lambda: vm.screen == "done" and "action:ok" in app.screen.buttons, "the done screen")
    assert backend.issued[0][2]["booking"]["code"] == "DL24120400017" and backend.printed == ["A001"]
    assert "Bạn có lịch hẹn: sẽ được gọi gần giờ hẹn" in _labels(app)


def test_an_id_card_asks_consent_then_gives_a_priority_ticket_and_is_forgotten(kiosk: Any) -> None:
    app, vm, backend, t = kiosk
    backend.answers[("citizen_bookings", ID_NUMBER)] = ()
    backend.answers[("citizen_dossiers", ID_NUMBER)] = ()

    def touch(key: str) -> None:
        t[0] += 1
        touch_button(app, key)

    pump_until(lambda: "service:tuphap" in app.screen.buttons, "the home screen")
    assert vm.on_scan(Scan(ID_NUMBER + "|"))
    pump_until(lambda: "action:agree" in app.screen.buttons, "the consent screen")
    assert "không được in" in _labels(app) and "action:decline" in app.screen.buttons
    touch("action:agree")
    pump_until(lambda: "action:forget" in app.screen.buttons, "home with the card's banner")
    assert "N.V.T.A." in _labels(app)
    touch("service:datdai")
    pump_until(lambda: vm.screen == "done" and "action:ok" in app.screen.buttons, "the done screen")
    assert backend.issued == [("datdai", True, {"priority_reason": "age"})]
    assert backend.notes == [("20261204-A001", NAME)]
    touch("action:ok")
    pump_until(lambda: vm.screen == "home" and "action:appointment" in app.screen.buttons, "home, no card")
    assert not _holds(vm, NAME) and not _holds(vm, ID_NUMBER)
    for part in NAME.split():
        assert part not in _labels(app)
