"""Modbus RTU framing for the functions a display needs: 0x06 and 0x10. Pure, no I/O.

A request is ``slave, function, data..., CRC low, CRC high``. Answers:

- 0x06 Write Single Register: the request echoed (8 bytes);
- 0x10 Write Multiple Registers: ``slave, 0x10, start (2), quantity (2), CRC`` (8 bytes);
- an exception: ``slave, function | 0x80, exception code, CRC`` (5 bytes).

Register addresses are 0-based protocol addresses (a manual's "40001" is address 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from device_drivers.display.checksums import crc16_modbus
from device_drivers.display.errors import DisplayCrcError, DisplayProtocolError, ModbusExceptionError

WRITE_SINGLE_REGISTER = 0x06
WRITE_MULTIPLE_REGISTERS = 0x10
#: The most registers one 0x10 request may carry (the PDU is limited to 253 bytes).
MAX_WRITE_REGISTERS = 123
#: Address 0 reaches every slave on the bus, and none of them answers.
BROADCAST = 0
#: Length of every normal answer to 0x06 and 0x10, and of an exception answer.
ANSWER_LEN = 8
EXCEPTION_LEN = 5

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
}


def with_crc(body: bytes) -> bytes:
    """``body`` followed by its CRC-16/MODBUS, low byte first."""
    return body + crc16_modbus(body).to_bytes(2, "little")


def crc_ok(frame: bytes) -> bool:
    """Whether the last two bytes of ``frame`` are the CRC of the rest."""
    return len(frame) >= 4 and crc16_modbus(frame[:-2]).to_bytes(2, "little") == frame[-2:]


def _check_u16(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} {value} does not fit in a 16-bit register")


def _check_slave(slave: int) -> None:
    if not 0 <= slave <= 247:
        raise ValueError(f"slave address {slave} is outside 0-247")


def write_single_register(slave: int, address: int, value: int) -> bytes:
    """The 0x06 request that writes ``value`` to register ``address``."""
    _check_slave(slave)
    _check_u16("address", address)
    _check_u16("value", value)
    body = bytes([slave, WRITE_SINGLE_REGISTER]) + address.to_bytes(2, "big") + value.to_bytes(2, "big")
    return with_crc(body)


def write_multiple_registers(slave: int, start: int, values: Sequence[int]) -> bytes:
    """The 0x10 request that writes ``values`` to consecutive registers from ``start``."""
    _check_slave(slave)
    _check_u16("start address", start)
    if not 1 <= len(values) <= MAX_WRITE_REGISTERS:
        raise ValueError(f"0x10 writes 1-{MAX_WRITE_REGISTERS} registers, not {len(values)}")
    _check_u16("last address", start + len(values) - 1)
    for v in values:
        _check_u16("value", v)
    body = bytearray([slave, WRITE_MULTIPLE_REGISTERS])
    body += start.to_bytes(2, "big") + len(values).to_bytes(2, "big") + bytes([2 * len(values)])
    for v in values:
        body += v.to_bytes(2, "big")
    return with_crc(bytes(body))


def expected_answer(request: bytes) -> bytes:
    """The normal answer a slave gives to a 0x06 or 0x10 ``request``."""
    if request[1] == WRITE_SINGLE_REGISTER:
        return request
    if request[1] == WRITE_MULTIPLE_REGISTERS:
        return with_crc(request[:6])
    raise ValueError(f"function 0x{request[1]:02X} is not one the display driver sends")


@dataclass(frozen=True)
class Request:
    """One request to send and a short description of it for logs and errors."""

    frame: bytes
    what: str


def check_answer(request: bytes, answer: bytes) -> None:
    """Raise the matching :class:`DisplayProtocolError` unless ``answer`` acknowledges ``request``."""
    if len(answer) == EXCEPTION_LEN and answer[1] == request[1] | 0x80:
        if not crc_ok(answer):
            raise DisplayCrcError(f"exception answer with a bad CRC: {answer.hex(' ')}")
        code = answer[2]
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        raise ModbusExceptionError(
            f"slave {answer[0]} refused function 0x{request[1]:02X}: exception {code} ({name})", code
        )
    if len(answer) != ANSWER_LEN:
        raise DisplayProtocolError(f"answer of {len(answer)} bytes, expected {ANSWER_LEN}: {answer.hex(' ')}")
    if not crc_ok(answer):
        raise DisplayCrcError(f"answer with a bad CRC: {answer.hex(' ')}")
    if answer != expected_answer(request):
        raise DisplayProtocolError(
            f"answer {answer.hex(' ')} does not acknowledge request {request.hex(' ')}"
        )
