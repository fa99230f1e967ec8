"""LED display drivers over a real pseudo-terminal pair: frames on the wire, answers, error paths.

The driver opens the pty's slave path with pyserial like any serial port; a fake Modbus slave or
ASCII board on the master side reads whole frames, checks them and answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from device_drivers.display import (
    DisplayCrcError,
    DisplayProtocolError,
    DisplayTimeout,
    ModbusExceptionError,
    open_display,
)
from device_drivers.display.ascii_frame import AsciiFrameDisplay
from device_drivers.display.modbus import ModbusDisplay
from tests.utils.serial_fakes import AsciiBoardFake, ModbusSlaveFake, PtyPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(10)]

#: Short enough that an error test takes a tenth of a second, long enough for a loaded CI machine
#: (success paths never wait for it: the fake answers at once).
ERROR_TIMEOUT = 0.1
OK_TIMEOUT = 2.0


@pytest.fixture
def pair() -> Iterator[PtyPair]:
    """A raw pty pair, closed after the test."""
    p = PtyPair()
    yield p
    p.close()


@pytest.fixture
def slave(pair: PtyPair) -> Iterator[ModbusSlaveFake]:
    """A fake Modbus slave (address 1) on the master side."""
    fake = ModbusSlaveFake(pair.master, slave=1)
    fake.start()
    yield fake
    fake.stop()


def modbus(pair: PtyPair, **params: Any) -> ModbusDisplay:
    """An open Modbus display on the pty."""
    table = {"backend": "modbus", "port": pair.path, "timeout": OK_TIMEOUT, **params}
    display = open_display(table)
    assert isinstance(display, ModbusDisplay)
    return display


# -- Modbus: the request/response path ------------------------------------------------------------


def test_show_number_sends_exact_frames_and_reads_the_answers(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    with modbus(pair, slave=1) as d:
        d.show_number("A012", blink=True)
    frames = slave.wait_frames(2)
    # 0x10 to registers 0-3: A 0x77, 0 0x3F, 1 0x06, 2 0x5B; then 0x06 blink register 16 := 1.
    assert frames == [
        bytes.fromhex("01 10 0000 0004 08 0077 003F 0006 005B 0482"),
        bytes.fromhex("01 06 0010 0001 49CF"),
    ]
    assert slave.register_range(0, 4) == [0x77, 0x3F, 0x06, 0x5B]
    assert slave.registers[16] == 1
    assert slave.bad_frames == []


def test_text_card_rows_land_in_their_register_blocks(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    with modbus(pair, profile={"base": "text-card", "cols": 4}) as d:
        d.show(["Quầy", "3"])
        d.set_brightness(100)
    assert slave.register_range(256, 2) == [0x5175, 0x6179]  # "Qu" "ay": folded to ASCII
    assert slave.register_range(256 + 32, 2) == [0x3320, 0x2020]  # "3   "
    assert slave.registers[16] == 0  # not blinking
    assert slave.registers[17] == 15  # full brightness on a 0-15 scale


def test_silent_display_is_a_timeout_and_the_driver_stays_usable(
    pair: PtyPair, slave: ModbusSlaveFake
) -> None:
    slave.mode = "silent"
    with modbus(pair, timeout=ERROR_TIMEOUT, retries=0) as d:
        with pytest.raises(DisplayTimeout, match="did not answer"):
            d.show_number("A012")
        assert len(slave.wait_frames(1)) == 1
        slave.mode = "ok"
        d.show_number("B034")
        assert slave.register_range(0, 4) == [0x7C, 0x3F, 0x4F, 0x66]


def test_one_lost_answer_is_retried(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    slave.mode = "silent-once"
    with modbus(pair, timeout=ERROR_TIMEOUT, retries=1) as d:
        d.set_brightness(0)
    frames = slave.wait_frames(2)
    assert frames[0] == frames[1] == bytes.fromhex("01 06 0011 0000 D9CF")


def test_bad_crc_in_the_answer_is_named(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    slave.mode = "bad-crc"
    with modbus(pair, timeout=ERROR_TIMEOUT, retries=0) as d:
        with pytest.raises(DisplayCrcError, match="bad CRC"):
            d.show_number("1")
        slave.mode = "ok"
        d.show_number("2")
    assert slave.register_range(0, 4) == [0, 0, 0, 0x5B]


def test_stray_bytes_before_a_request_are_dropped(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    slave.mode = "twice"  # the second copy of answer 1 waits in the buffer when request 2 goes out
    with modbus(pair, retries=0) as d:
        d.show_number("A012", blink=True)
    assert len(slave.frames) == 2
    assert slave.registers[16] == 1


def test_exception_answer_carries_its_code(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    slave.mode = "exception"
    slave.exception_code = 2
    with modbus(pair, retries=3, timeout=3.0) as d:
        started = time.monotonic()
        with pytest.raises(ModbusExceptionError, match="illegal data address") as e:
            d.show_number("1")
        # The 5-byte exception answer is complete: the driver must not wait for 8 bytes.
        assert time.monotonic() - started < 1.5
    assert e.value.code == 2
    assert len(slave.frames) == 1  # a refusal is not retried


def test_half_an_answer_is_a_timeout(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    slave.mode = "partial"
    with modbus(pair, timeout=ERROR_TIMEOUT, retries=0) as d, pytest.raises(DisplayTimeout, match="got only"):
        d.show_number("1")


def test_an_answer_from_another_slave_is_refused(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    slave.mode = "wrong-slave"
    with modbus(pair, retries=0) as d, pytest.raises(DisplayProtocolError, match="does not acknowledge"):
        d.show_number("1")


def test_broadcast_expects_no_answer(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    with modbus(pair, slave=0, timeout=ERROR_TIMEOUT) as d:
        d.show_number("7", blink=False)
    frames = slave.wait_frames(2)
    assert frames[0][0] == 0 and frames[1][0] == 0
    assert slave.wait_for(lambda: slave.registers.get(3) == 0x07)


def test_local_echo_is_read_back_and_skipped(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    slave.mode = "echo"
    with modbus(pair, local_echo=True) as d:
        d.show_number("8")
    assert slave.register_range(0, 4) == [0, 0, 0, 0x7F]


def test_reopen_after_close(pair: PtyPair, slave: ModbusSlaveFake) -> None:
    d = modbus(pair)
    d.close()
    d.open()
    d.show_number("9")
    d.close()
    assert slave.register_range(3, 1) == [0x6F]


# -- ASCII frames ---------------------------------------------------------------------------------


def ascii_display(pair: PtyPair, **params: Any) -> AsciiFrameDisplay:
    """An open ASCII-frame display on the pty."""
    table = {"backend": "ascii", "port": pair.path, "timeout": OK_TIMEOUT, **params}
    display = open_display(table)
    assert isinstance(display, AsciiFrameDisplay)
    return display


def test_ascii_frames_are_acknowledged(pair: PtyPair) -> None:
    board = AsciiBoardFake(pair.master, mode="ack").start()
    try:
        with ascii_display(pair, address=7, rows=2, cols=6, ack="\u0006") as d:
            d.show(["Quầy 3", "A012"], blink=True)
        frames = board.wait_frames(2)
    finally:
        board.stop()
    body1 = b"071" + b"1" + b"Quay 3" + b"\x03"
    body2 = b"072" + b"1" + b"A012  " + b"\x03"
    assert frames == [b"\x02" + body1 + _xor_hex(body1), b"\x02" + body2 + _xor_hex(body2)]
    assert board.lines == {1: "Quay 3", 2: "A012  "}


def test_ascii_board_that_never_acknowledges_times_out(pair: PtyPair) -> None:
    board = AsciiBoardFake(pair.master, mode="silent").start()
    try:
        with ascii_display(pair, ack="\u0006", timeout=ERROR_TIMEOUT, retries=1) as d:
            with pytest.raises(DisplayTimeout, match="did not acknowledge"):
                d.show_number("A012")
            assert len(board.wait_frames(2)) == 2  # sent, then retried once
            board.mode = "ack"
            d.show_number("A013")
    finally:
        board.stop()
    assert board.lines[1] == "A013    "


def test_ascii_nak_is_a_protocol_error(pair: PtyPair) -> None:
    board = AsciiBoardFake(pair.master, mode="nak").start()
    try:
        with ascii_display(pair, ack="\u0006") as d, pytest.raises(DisplayProtocolError, match="answered"):
            d.show_number("A012")
    finally:
        board.stop()


def test_ascii_without_ack_just_writes(pair: PtyPair) -> None:
    board = AsciiBoardFake(pair.master, mode="none").start()
    try:
        with ascii_display(pair, cols=4) as d:
            d.show_number("B7")
        assert board.wait_for(lambda: board.lines.get(1) == "B7  ")
    finally:
        board.stop()


def _xor_hex(data: bytes) -> bytes:
    x = 0
    for b in data:
        x ^= b
    return f"{x:02X}".encode()
