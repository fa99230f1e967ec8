"""A serial keypad: each key sends a short code (one character or a line); long presses may send
another code. Codes are configurable per keypad model in ``site.toml``."""

from __future__ import annotations

import logging
import threading
from typing import Any

from device_drivers.keys.base import Keypad, KeypadNotFound

log = logging.getLogger(__name__)


class SerialKeypad(Keypad):
    """Reads codes from a serial port in a thread and reports whole presses."""

    def __init__(self, port: str, baudrate: int, codes: dict[str, str], hold_codes: dict[str, str]) -> None:
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self.codes = codes
        self.hold_codes = hold_codes
        self._serial: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.unknown_codes = 0

    def _open(self) -> None:
        import serial  # type: ignore[import-untyped]

        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0.2)
        except (serial.SerialException, OSError) as exc:
            raise KeypadNotFound(f"cannot open keypad port {self.port}: {exc}") from None
        self._stop.clear()
        self._thread = threading.Thread(target=self._read, name=f"keypad-{self.port}", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def _read(self) -> None:
        known = [*self.codes, *self.hold_codes]
        buf = ""
        while not self._stop.is_set():
            try:
                chunk = self._serial.read(1)
            except Exception as exc:  # a USB keypad pulled out
                log.error("keypad %s stopped: %s", self.port, exc)
                return
            if not chunk:
                continue
            ch = chunk.decode("latin-1")
            if ch in "\r\n":
                buf = ""
                continue
            buf += ch
            # Drop leading characters that cannot start any code (line noise, an unknown key),
            # keeping what may still be the start of a good one.
            while buf and not any(c.startswith(buf) for c in known):
                self.unknown_codes += 1
                log.warning("keypad %s sent an unknown code %r", self.port, buf[0])
                buf = buf[1:]
            if buf in self.hold_codes:
                self._emit(self.hold_codes[buf], "hold")
                buf = ""
            elif buf in self.codes:
                self._emit(self.codes[buf], "press")
                buf = ""
