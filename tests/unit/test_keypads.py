"""Keypad backends: GPIO buttons through gpiozero's MockFactory, the registry's errors."""

from __future__ import annotations

import threading

import pytest
from gpiozero.pins.mock import MockFactory

from device_drivers.keys import KeyEvent, KeypadError, open_keypad
from device_drivers.keys.sim import SimKeypad


class Collect:
    def __init__(self) -> None:
        self.events: list[KeyEvent] = []
        self.cond = threading.Condition()

    def __call__(self, ev: KeyEvent) -> None:
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def wait(self, n: int) -> list[tuple[str, str]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.events) >= n, 5), self.events
            return [(e.key, e.kind) for e in self.events]


def test_gpio_buttons_report_edges() -> None:
    factory = MockFactory()
    pad = open_keypad("gpio", {"pins": {"next": 17, "recall": 27}, "pin_factory": factory})
    got = Collect()
    pad.open(got)
    try:
        factory.pin(17).drive_low()  # pull-up: pressed pulls the pin low
        factory.pin(17).drive_high()
        factory.pin(27).drive_low()
        assert got.wait(3) == [("next", "down"), ("next", "up"), ("recall", "down")]
    finally:
        pad.close()


@pytest.mark.parametrize(
    ("backend", "params", "message"),
    [
        ("gpio", {}, "keys.pins: name the GPIO pin"),
        ("gpio", {"pins": {"call": 17}}, "unknown key 'call'"),
        ("serial", {}, "keys.port"),
        ("serial", {"port": "/dev/x", "codes": {"A": "boom"}}, "unknown key 'boom'"),
        ("bluetooth", {}, "unknown keys backend 'bluetooth'"),
        ("web", {}, "served by the hub"),
    ],
)
def test_bad_keys_tables_are_named_errors(backend: str, params: dict, message: str) -> None:
    with pytest.raises(KeypadError, match=message):
        open_keypad(backend, params)


def test_sim_keypad_refuses_unknown_keys_and_closed_use() -> None:
    pad = SimKeypad()
    with pytest.raises(RuntimeError):
        pad.press("next")
    pad.open(lambda ev: None)
    with pytest.raises(ValueError):
        pad.press("explode")
