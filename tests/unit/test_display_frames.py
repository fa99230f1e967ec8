"""Exact bytes of every LED display wire encoder: CRC, Modbus RTU requests, ASCII frames.

Expected frames are written out by hand: the register values from the register map and the font,
the CRCs pinned from published vectors and checked against a table-driven CRC written here.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.display import DisplayConfigError, DisplayCrcError, DisplayProtocolError
from device_drivers.display import ModbusExceptionError as ModbusRefused
from device_drivers.display.ascii_frame import AsciiFrameEncoder, AsciiParams
from device_drivers.display.checksums import checksum_bytes, crc16_modbus, sum8, xor8
from device_drivers.display.modbus import PROFILES, ModbusDisplay, ModbusEncoder, resolve_profile
from device_drivers.display.modbus_rtu import (
    check_answer,
    expected_answer,
    with_crc,
    write_multiple_registers,
    write_single_register,
)
from device_drivers.display.text import SEVEN_SEG_FONT


def h(text: str) -> bytes:
    """Bytes from spaced hex."""
    return bytes.fromhex(text)


# -- checksums -----------------------------------------------------------------------------------


def test_crc16_modbus_known_vectors() -> None:
    # Read Holding Registers 0-9 of slave 1: the frame every Modbus manual shows, CRC C5 CD.
    assert crc16_modbus(h("01 03 00 00 00 0A")).to_bytes(2, "little") == h("C5 CD")
    # The CRC catalogue's check value of CRC-16/MODBUS.
    assert crc16_modbus(b"123456789") == 0x4B37
    assert with_crc(h("01 03 00 00 00 0A")) == h("01 03 00 00 00 0A C5 CD")


def _table_crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS the other usual way, a byte at a time through a 256-entry table (the driver
    shifts bit by bit): two algorithms that agree on every input."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


@given(st.binary(max_size=64))
def test_crc16_agrees_with_a_table_driven_crc(data: bytes) -> None:
    assert crc16_modbus(data) == _table_crc16_modbus(data)


def test_xor_and_sum8() -> None:
    assert xor8(b"") == 0
    assert xor8(h("30 31 41 03")) == 0x30 ^ 0x31 ^ 0x41 ^ 0x03 == 0x43
    assert sum8(h("FF 02")) == 0x01
    assert checksum_bytes("crc16-modbus", h("01 03 00 00 00 0A"), "big") == h("CD C5")
    assert checksum_bytes("none", b"abc") == b""
    with pytest.raises(ValueError, match="unknown checksum"):
        checksum_bytes("md5", b"")


# -- Modbus RTU requests and answers -------------------------------------------------------------


def test_write_single_register_frame() -> None:
    assert write_single_register(1, 0x0010, 1) == h("01 06 0010 0001 49 CF")
    assert write_single_register(1, 0x0011, 0) == h("01 06 0011 0000 D9 CF")


def test_write_multiple_registers_frame() -> None:
    frame = write_multiple_registers(1, 0, [0x77, 0x3F, 0x06, 0x5B])
    #                 slave fn  start qty  bytes A    0    1    2    CRC
    assert frame == h("01 10 0000 0004 08 0077 003F 0006 005B 04 82")


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (write_single_register, (248, 0, 0)),
        (write_single_register, (1, 0x10000, 0)),
        (write_single_register, (1, 0, -1)),
        (write_multiple_registers, (1, 0, [])),
        (write_multiple_registers, (1, 0, [0] * 124)),
        (write_multiple_registers, (1, 0xFFFF, [0, 0])),
    ],
)
def test_out_of_range_requests_are_refused(call: Any, args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        call(*args)


def test_expected_answers() -> None:
    single = write_single_register(1, 0x10, 1)
    assert expected_answer(single) == single
    multi = write_multiple_registers(1, 0, [1, 2, 3, 4])
    assert expected_answer(multi) == h("01 10 0000 0004 C1 CA")


def test_check_answer_accepts_the_echo_and_names_each_fault() -> None:
    request = write_multiple_registers(1, 0, [1, 2, 3, 4])
    check_answer(request, h("01 10 0000 0004 C1 CA"))
    with pytest.raises(DisplayCrcError):
        check_answer(request, h("01 10 0000 0004 C1 CB"))
    with pytest.raises(DisplayProtocolError, match="does not acknowledge"):
        check_answer(request, with_crc(h("01 10 0000 0003")))
    with pytest.raises(DisplayProtocolError, match="6 bytes"):
        check_answer(request, h("01 10 0000 0004"))
    with pytest.raises(ModbusRefused, match="exception 2") as refused:
        check_answer(request, with_crc(h("01 90 02")))
    assert refused.value.code == 2
    with pytest.raises(DisplayCrcError, match="exception"):
        check_answer(request, h("01 90 02 00 00"))


# -- profiles → requests -------------------------------------------------------------------------


def frames(encoder: ModbusEncoder, lines: list[str], blink: bool = False) -> list[bytes]:
    """The frames of ``encoder.show``."""
    return [r.frame for r in encoder.show(lines, blink)]


def test_counter_7seg_show_number_with_and_without_blink() -> None:
    enc = ModbusEncoder(PROFILES["counter-7seg"], slave=1)
    digits = h("01 10 0000 0004 08 0077 003F 0006 005B 04 82")
    assert frames(enc, ["A012"], blink=True) == [digits, h("01 06 0010 0001 49 CF")]
    assert frames(enc, ["A012"], blink=False) == [digits, h("01 06 0010 0000 88 0F")]


def test_counter_7seg_blank_and_dash() -> None:
    enc = ModbusEncoder(PROFILES["counter-7seg"], slave=1)
    assert frames(enc, ["  - "])[0] == h("01 10 0000 0004 08 0000 0000 0040 0000 B7 AE")
    assert frames(enc, ["    "])[0] == h("01 10 0000 0004 08 0000 0000 0000 0000 B6 7A")


def test_counter_7seg_brightness_is_scaled_to_its_register() -> None:
    enc = ModbusEncoder(PROFILES["counter-7seg"], slave=1)
    assert [r.frame for r in enc.brightness(100)] == [h("01 06 0011 0007 98 0D")]
    assert [r.frame for r in enc.brightness(50)] == [h("01 06 0011 0004 D8 0C")]  # 3.5 rounds up
    assert [r.frame for r in enc.brightness(0)] == [h("01 06 0011 0000 D9 CF")]


def test_counter_ascii_profile_sends_character_codes() -> None:
    enc = ModbusEncoder(PROFILES["counter-ascii"], slave=5)
    assert frames(enc, ["A012"]) == [
        h("05 10 0000 0004 08 0041 0030 0031 0032 73 63"),
        h("05 06 0010 0000 89 8B"),
    ]


def test_text_card_rows_are_packed_two_bytes_per_register() -> None:
    enc = ModbusEncoder(resolve_profile({"base": "text-card", "cols": 4}), slave=1)
    # "Quay" = 51 75 61 79 at 256 (0x0100); "3   " at 256 + 32 (0x0120); blink off.
    assert frames(enc, ["Quay", "3   "]) == [
        h("01 10 0100 0002 04 5175 6179 17 6B"),
        h("01 10 0120 0002 04 3320 2020 EA B1"),
        h("01 06 0010 0000 88 0F"),
    ]
    assert [r.frame for r in enc.brightness(50)] == [h("01 06 0011 0008 D8 09")]  # 7.5 of 15 → 8


def test_text_card_with_row_select_register() -> None:
    enc = ModbusEncoder(resolve_profile({"base": "text-card-select", "cols": 4}), slave=1)
    assert frames(enc, ["A   ", "3   "]) == [
        h("01 06 0012 0000 29 CF"),
        h("01 10 0100 0002 04 4120 2020 F3 D1"),
        h("01 06 0012 0001 E8 0F"),
        h("01 10 0100 0002 04 3320 2020 E8 A9"),
        h("01 06 0010 0000 88 0F"),
    ]


def test_packed_little_endian_commit_and_no_blink_register() -> None:
    profile = resolve_profile(
        {"cell": "packed-le", "cols": 2, "text_register": 256, "commit_register": 20, "commit_value": 1}
    )
    enc = ModbusEncoder(profile, slave=1)
    assert frames(enc, ["AB"]) == [h("01 10 0100 0001 02 4241 46 00"), h("01 06 0014 0001 08 0E")]
    assert enc.brightness(100) == []


def test_odd_row_bytes_are_padded_and_utf8_is_cut_at_a_character() -> None:
    profile = resolve_profile({"cell": "packed", "cols": 3, "charset": "utf-8", "row_bytes": 3, "pad": 0})
    enc = ModbusEncoder(profile, slave=1)
    assert enc.row_values("abc") == [0x6162, 0x6300]
    # "ầ" is 3 bytes in UTF-8 (E1 BA A7): "aầb" (5 bytes) loses whole characters until it fits.
    assert enc.row_values("aầb") == [0x6100, 0x0000]
    assert enc.row_values("ầb") == [0xE1BA, 0xA700]


def test_long_rows_are_split_into_writes_of_at_most_123_registers() -> None:
    profile = resolve_profile({"cell": "code", "cols": 130, "text_register": 1000})
    reqs = ModbusEncoder(profile, slave=1).show(["x" * 130], blink=False)
    assert [(r.frame[2:4], r.frame[4:6]) for r in reqs] == [
        ((1000).to_bytes(2, "big"), (123).to_bytes(2, "big")),
        ((1123).to_bytes(2, "big"), (7).to_bytes(2, "big")),
    ]


def test_every_font_glyph_is_a_segment_bitmap() -> None:
    assert all(0 <= v <= 0x7F for v in SEVEN_SEG_FONT.values())
    assert SEVEN_SEG_FONT["8"] == 0x7F and SEVEN_SEG_FONT[" "] == 0


# -- profile and parameter validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"port": "x", "profile": "dm-99"}, "unknown profile 'dm-99'; known: counter-7seg"),
        ({"port": "x", "profile": {"base": "nope"}}, "display.profile.base: unknown profile"),
        ({"port": "x", "profile": {"cell": "segments", "charset": "utf-8"}}, "draws its own font"),
        ({"port": "x", "profile": {"base": "text-card", "row_stride": 4}}, "row_stride 4 is smaller"),
        ({"port": "x", "profile": {"colz": 4}}, "display.profile.colz"),
        ({"port": "x", "profile": {"cell": "code", "charset": "klingon"}}, "not 'ascii', '7seg' or a known"),
        ({"port": "x", "slave": 248}, "display.slave"),
        ({"port": "x", "parity": "X"}, "display.parity"),
        ({"port": "x", "baud": 9600}, "display.baud: unknown parameter"),
        ({}, "display.port"),
    ],
)
def test_bad_modbus_tables_are_named(table: dict[str, Any], message: str) -> None:
    with pytest.raises(DisplayConfigError, match=message.replace("(", r"\(")):
        ModbusDisplay(table)


def test_parity_words_are_accepted() -> None:
    assert ModbusDisplay({"port": "x", "parity": "even"}).params.parity == "E"


# -- ASCII frames --------------------------------------------------------------------------------


def ascii_frame(text: str = "A012    ", row: int = 0, blink: bool = True, **params: Any) -> bytes:
    """One frame from an encoder with ``params``."""
    return AsciiFrameEncoder(AsciiParams(port="x", **params)).frame(text, row, blink)


def test_default_template_with_xor_hex() -> None:
    # XOR of "0111A012    \x03" (after STX): 30^31^31^31^41^30^31^32^03 = 70 (the spaces cancel).
    assert ascii_frame() == b"\x02" + b"01" + b"1" + b"1" + b"A012    " + b"\x03" + b"70"


def test_sum8_raw_over_the_whole_frame() -> None:
    # 02+30+31+31+31+41+30+31+32+4*20+03 = 0x21C → 1C
    assert ascii_frame(checksum="sum8", checksum_format="raw", checksum_from=0) == (
        b"\x020111A012    \x03\x1c"
    )
    assert ascii_frame(checksum="sum8", checksum_format="hex") == b"\x020111A012    \x031A"


def test_crc16_modbus_raw_and_hex() -> None:
    body = b"0111A012    \x03"
    crc = crc16_modbus(body)
    assert crc == 0xC49C
    assert ascii_frame(checksum="crc16-modbus", checksum_format="raw") == b"\x02" + body + b"\x9c\xc4"
    big = ascii_frame(checksum="crc16-modbus", checksum_format="hex", checksum_order="big")
    assert big == b"\x02" + body + b"C49C"


def test_no_checksum_line_ending_and_raw_bytes_in_the_template() -> None:
    frame = ascii_frame(
        text="12",
        template="\u00aa{addr:02X}{text:>4}{checksum}",
        checksum="none",
        address=31,
        line_ending="\r\n",
    )
    assert frame == b"\xaa1F  12\r\n"


def test_named_control_characters_and_blink_strings() -> None:
    frame = ascii_frame(
        text="A1",
        row=1,
        blink=False,
        rows=2,
        template="{stx}L{line}{blink}{text}{cr}{lf}{etx}",
        checksum="none",
        blink_on="F",
        blink_off="S",
        first_line=0,
    )
    assert frame == b"\x02L1SA1\r\n\x03"


def test_brightness_template() -> None:
    enc = AsciiFrameEncoder(
        AsciiParams(
            port="x", brightness_template="{stx}{addr:02d}B{brightness:02d}{etx}{checksum}", brightness_max=15
        )
    )
    body = b"01B08\x03"  # 50 % of 15 = 7.5 → 8
    assert enc.brightness_frame(50) == b"\x02" + body + f"{xor8(body):02X}".encode()


def test_utf8_text_passes_through_other_charsets() -> None:
    assert ascii_frame(text="Quầy", charset="utf-8", checksum="none") == (
        b"\x02" + b"011" + b"1" + "Quầy".encode() + b"\x03"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"template": "{stx}{foo}{text}"}, r"unknown placeholder \{foo\}"),
        ({"template": "{text.__class__}"}, r"unknown placeholder"),
        ({"template": "{text!r}"}, r"unknown placeholder"),
        ({"template": "{stx}{addr}", "checksum": "none"}, r"needs a \{text\}"),
        ({"rows": 2, "template": "{text}{checksum}"}, r"needs a \{line\}"),
        ({"template": "{text}"}, r"checksum 'xor' needs a \{checksum\}"),
        ({"template": "{text}{checksum}{checksum}"}, "only once"),
        ({"template": "{text}{checksum:4}"}, "no format spec"),
        ({"template": "{text:05d}{checksum}"}, "Unknown format code"),
        ({"template": "{text}{checksum}→"}, "U\\+0000-U\\+00FF"),
        ({"template": "{text}{checksum}{"}, "literal braces"),
        ({"brightness_template": "{addr}"}, r"needs a \{brightness\}"),
        ({"checksum": "md5"}, "display.checksum"),
        ({"charset": "nope"}, "known codec"),
    ],
)
def test_bad_ascii_tables_are_named(params: dict[str, Any], message: str) -> None:
    from device_drivers.display.ascii_frame import AsciiFrameDisplay

    with pytest.raises(DisplayConfigError, match=message):
        AsciiFrameDisplay({"port": "x", **params})
