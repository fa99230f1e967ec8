"""A serial keypad through a real pseudo-terminal pair."""

from __future__ import annotations

import os
import tty

import pytest

from device_drivers.keys import KeypadNotFound, open_keypad
from tests.unit.test_keypads import Collect

pytestmark = pytest.mark.integration


def test_codes_from_a_serial_keypad_become_presses_and_holds() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    pad = open_keypad("serial", {"port": os.ttyname(slave), "codes": {"1": "next", "2": "skip"},
                                 "hold_codes": {"H1": "next"}})  # fmt: skip
    got = Collect()
    pad.open(got)
    try:
        os.write(master, b"1\r\n2?H1")
        assert got.wait(3) == [("next", "press"), ("skip", "press"), ("next", "hold")]
    finally:
        pad.close()
        os.close(master)
        os.close(slave)


def test_a_missing_port_is_a_named_error_at_open() -> None:
    pad = open_keypad("serial", {"port": "/dev/onestop-no-such-keypad"})
    with pytest.raises(KeypadNotFound, match="cannot open keypad port"):
        pad.open(lambda ev: None)
