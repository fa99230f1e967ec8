"""One contract for every LED display backend (STYLE.md §4).

Each backend runs behind a *rig* that can read back what the board holds: the simulator's test
face, the register image of a fake Modbus slave on a pty, the lines a fake ASCII board parsed.
Real hardware runs when ``ONESTOP_TEST_LED_PORT`` names its port (``ONESTOP_TEST_LED_BACKEND``
``modbus`` or ``ascii``, default ``modbus``; ``ONESTOP_TEST_LED_PARAMS`` a JSON object of more
parameters, e.g. ``{"slave": 3, "profile": "text-card"}``); a person watches the board, the
tests check that every call goes through.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from device_drivers.display import DisplayClosed, DisplayUnsupported, LedDisplay, make_display
from device_drivers.display.modbus import ModbusDisplay
from device_drivers.display.sim import SimDisplay
from device_drivers.display.text import SEVEN_SEG_FONT
from tests.utils.serial_fakes import AsciiBoardFake, ModbusSlaveFake, PtyPair

pytestmark = pytest.mark.timeout(20)

HW_PORT = os.environ.get("ONESTOP_TEST_LED_PORT", "")

#: Segment bitmap → character; digits win over the letters that look the same (5 / S).
GLYPHS = {v: k for k, v in reversed(list(SEVEN_SEG_FONT.items()))}


@dataclass
class Rig:
    """A display under test and how to read back what it shows (None: a person watches)."""

    display: LedDisplay
    shown: Callable[[], list[str]] | None = None
    blinking: Callable[[], bool] | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def _sim(params: dict[str, Any]) -> Rig:
    d = SimDisplay(params)
    return Rig(d, lambda: list(d.panel.lines), lambda: d.panel.blink)


def _modbus(profile: str | dict[str, Any]) -> Rig:
    pair = PtyPair()
    fake = ModbusSlaveFake(pair.master, slave=4)
    fake.start()
    d = make_display({"backend": "modbus", "port": pair.path, "slave": 4, "timeout": 2, "profile": profile})
    assert isinstance(d, ModbusDisplay)
    p = d.profile

    def shown() -> list[str]:
        rows = []
        for r in range(p.rows):
            regs = fake.register_range(p.row_start(r), p.row_registers)
            if p.cell == "segments":
                rows.append("".join(GLYPHS[v] for v in regs))
            else:
                raw = b"".join(v.to_bytes(2, "big") for v in regs)[: p.byte_count]
                rows.append(raw.decode("ascii"))
        return rows

    blink_reg = p.blink_register
    assert blink_reg is not None
    return Rig(d, shown, lambda: fake.registers.get(blink_reg) == 1, [fake.stop, pair.close])


def _ascii() -> Rig:
    pair = PtyPair()
    board = AsciiBoardFake(pair.master, mode="ack")
    board.start()
    params = {"backend": "ascii", "port": pair.path, "rows": 2, "cols": 8, "ack": "\u0006", "timeout": 2}
    d = make_display(params)
    return Rig(
        d,
        lambda: [board.lines.get(r, " " * 8) for r in (1, 2)],
        lambda: board.blink.get(1, False),
        [board.stop, pair.close],
    )


def _hardware() -> Rig:
    extra = json.loads(os.environ.get("ONESTOP_TEST_LED_PARAMS", "{}"))
    backend = os.environ.get("ONESTOP_TEST_LED_BACKEND", "modbus")
    return Rig(make_display({"backend": backend, "port": HW_PORT, **extra}))


RIGS: dict[str, Callable[[], Rig]] = {
    "sim-counter": lambda: _sim({"rows": 1, "cols": 4, "charset": "7seg", "align": "right"}),
    "sim-board": lambda: _sim({"rows": 3, "cols": 12}),
    "modbus-counter": lambda: _modbus("counter-7seg"),
    "modbus-card": lambda: _modbus({"base": "text-card", "rows": 2, "cols": 8}),
    "ascii-board": _ascii,
    "hardware": _hardware,
}

PARAMS = [
    pytest.param("sim-counter"),
    pytest.param("sim-board"),
    pytest.param("modbus-counter", marks=pytest.mark.integration),
    pytest.param("modbus-card", marks=pytest.mark.integration),
    pytest.param("ascii-board", marks=pytest.mark.integration),
    pytest.param(
        "hardware",
        marks=[
            pytest.mark.integration,
            pytest.mark.skipif(
                not HW_PORT, reason="set ONESTOP_TEST_LED_PORT=/dev/ttyUSB0 to test a real board"
            ),
        ],
    ),
]


@pytest.fixture(params=PARAMS)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """An open display of each backend, with its read-back."""
    r = RIGS[request.param]()
    r.display.open()
    try:
        yield r
    finally:
        r.display.close()
        for undo in r.cleanup:
            undo()


def test_show_number(rig: Rig) -> None:
    rig.display.show_number("A012")
    if rig.shown:
        assert rig.shown()[0].strip() == "A012"


def test_show_rows_then_clear(rig: Rig) -> None:
    d = rig.display
    lines = ["A012 → 3", "B007 → 2", "C001 → 1"][: d.info.rows]
    d.show(lines)
    if rig.shown:
        assert rig.shown() == d.shape(lines)
    d.clear()
    if rig.shown:
        assert rig.shown() == [" " * d.info.cols] * d.info.rows


def test_every_row_is_exactly_as_wide_as_the_board(rig: Rig) -> None:
    d = rig.display
    d.show(["x" * (d.info.cols + 5)] * d.info.rows)
    shaped = d.shape(["x" * (d.info.cols + 5)])
    assert all(len(line) == d.info.cols for line in shaped)
    if rig.shown:
        assert rig.shown()[0] == shaped[0]


def test_blink_on_call_and_steady_after(rig: Rig) -> None:
    d = rig.display
    d.show_number("A012", blink=True)
    if rig.blinking:
        assert rig.blinking() is d.info.blink
    d.show_number("A012")
    if rig.blinking:
        assert rig.blinking() is False


def test_vietnamese_text_is_shown_as_the_charset_allows(rig: Rig) -> None:
    d = rig.display
    d.show(["Quầy 3"])
    expected = d.shape(["Quầy 3"])[0]
    if d.info.charset in ("ascii", "7seg"):
        assert expected.isascii()
    if rig.shown:
        assert rig.shown()[0] == expected


def test_brightness_where_supported(rig: Rig) -> None:
    d = rig.display
    if d.info.brightness:
        d.set_brightness(100)
        d.set_brightness(40)
    else:
        with pytest.raises(DisplayUnsupported):
            d.set_brightness(100)


def test_extra_rows_are_dropped(rig: Rig) -> None:
    d = rig.display
    d.show(["1"] * (d.info.rows + 2))
    if rig.shown:
        assert len(rig.shown()) == d.info.rows


def test_close_then_reopen(rig: Rig) -> None:
    d = rig.display
    d.close()
    with pytest.raises(DisplayClosed):
        d.show_number("A1")
    d.open()
    d.show_number("A2")
    if rig.shown:
        assert rig.shown()[0].strip() == "A2"


def test_many_updates_in_a_row_end_on_the_last(rig: Rig) -> None:
    d = rig.display
    for n in range(1, 21):
        d.show_number(f"{n:04d}", blink=n % 2 == 0)
    if rig.shown:
        assert rig.shown()[0].strip() == "0020"
