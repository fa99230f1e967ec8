"""Checksums used by LED board frames: XOR-8, SUM-8 and CRC-16/MODBUS. Pure functions."""

from __future__ import annotations

from typing import Literal

ChecksumKind = Literal["none", "xor", "sum8", "crc16-modbus"]
CHECKSUMS: tuple[str, ...] = ("none", "xor", "sum8", "crc16-modbus")


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0x8005 reflected = 0xA001, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def xor8(data: bytes) -> int:
    """XOR of every byte."""
    out = 0
    for byte in data:
        out ^= byte
    return out


def sum8(data: bytes) -> int:
    """Sum of every byte, modulo 256."""
    return sum(data) & 0xFF


def checksum_bytes(kind: str, data: bytes, order: Literal["little", "big"] = "little") -> bytes:
    """The checksum of ``data`` as raw bytes; CRC-16 in ``order`` (Modbus sends it little-endian)."""
    if kind == "none":
        return b""
    if kind == "xor":
        return bytes([xor8(data)])
    if kind == "sum8":
        return bytes([sum8(data)])
    if kind == "crc16-modbus":
        return crc16_modbus(data).to_bytes(2, order)
    raise ValueError(f"unknown checksum {kind!r}; expected one of {', '.join(CHECKSUMS)}")
