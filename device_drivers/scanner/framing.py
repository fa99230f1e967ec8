"""Bytes to scans: the pure framer behind the ``serial`` backend (and the simulator's ``feed_bytes``).

A serial or USB-CDC scanner sends each code followed by a suffix (CR, LF or CR LF). The framer
cuts the byte stream at the suffix, decodes UTF-8 (invalid bytes become U+FFFD and the scan is
marked ``undecodable``), refuses codes longer than ``max_length`` bytes (one ``too_long`` scan, then
it resynchronises on the next terminator) and ends a code that stops without a suffix after
``timeout_s`` of silence (``complete=False``). It never does I/O and takes the time as an argument.
"""

from __future__ import annotations

from typing import Literal

from device_drivers.scanner.base import Scan, normalise

SerialSuffix = Literal["auto", "cr", "lf", "crlf", "none"]
SERIAL_SUFFIXES: tuple[SerialSuffix, ...] = ("auto", "cr", "lf", "crlf", "none")

CR, LF = 0x0D, 0x0A
BOM = "\ufeff"


def decode(raw: bytes) -> tuple[str, bool]:
    """UTF-8 bytes as NFC text, and whether every byte decoded (a leading BOM is dropped)."""
    try:
        text, ok = raw.decode("utf-8"), True
    except UnicodeDecodeError:
        text, ok = raw.decode("utf-8", errors="replace"), False
    return normalise(text.removeprefix(BOM)), ok


class ByteFramer:
    """Cuts a byte stream into :class:`Scan` s (``suffix``: ``auto`` = CR, LF or CR LF; ``none`` = only
    the silence ends a code, and such a code is complete)."""

    def __init__(
        self, source: str, suffix: SerialSuffix = "auto", timeout_s: float = 0.1, max_length: int = 4096
    ) -> None:
        if suffix not in SERIAL_SUFFIXES:
            raise ValueError(f"suffix: expected one of {', '.join(SERIAL_SUFFIXES)}, got {suffix!r}")
        self.source = source
        self.suffix = suffix
        self.timeout_s = timeout_s
        self.max_length = max_length
        self._buf = bytearray()
        self._overflow = False
        self._last: float | None = None

    @property
    def pending(self) -> bool:
        """True while part of a code waits for its suffix."""
        return bool(self._buf) or self._overflow

    def reset(self) -> None:
        """Forget a half-received code (the port was closed)."""
        self._buf.clear()
        self._overflow = False
        self._last = None

    def feed(self, data: bytes, now: float) -> list[Scan]:
        """The scans that ``data``, received at ``now`` (seconds, monotonic), completes."""
        out: list[Scan] = []
        if self.pending and self._last is not None and now - self._last >= self.timeout_s:
            out += self._flush(complete=self.suffix == "none")
        self._last = now
        for byte in data:
            if self._is_end(byte):
                out += self._flush(complete=True)
            elif self._overflow:
                continue
            elif len(self._buf) >= self.max_length:
                self._overflow = True
                self._buf.clear()
            else:
                self._buf.append(byte)
        return out

    def idle(self, now: float) -> Scan | None:
        """A code cut short: what is pending when ``timeout_s`` has passed since the last byte."""
        if not self.pending or self._last is None or now - self._last < self.timeout_s:
            return None
        scans = self._flush(complete=self.suffix == "none")
        return scans[0] if scans else None

    def _is_end(self, byte: int) -> bool:
        if self.suffix == "auto":
            return byte in (CR, LF)
        if self.suffix == "cr":
            return byte == CR
        if self.suffix == "lf":
            return byte == LF
        if self.suffix == "crlf":
            return byte == LF  # the CR before it is dropped in _flush; a lone CR is data
        return False

    def _flush(self, complete: bool) -> list[Scan]:
        if self._overflow:
            self._overflow = False
            self._buf.clear()
            return [Scan("", complete, self.source, "too_long")]
        raw = bytes(self._buf)
        self._buf.clear()
        if self.suffix == "crlf" and raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            return []  # a bare terminator (the LF of CR LF in "auto" mode, an empty read)
        text, ok = decode(raw)
        return [Scan(text, complete, self.source, None if ok else "undecodable")]
