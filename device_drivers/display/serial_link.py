"""A serial port for display drivers: pyserial, imported only when a port is opened.

Parameters common to every serial display backend (``port``, ``baudrate`` 9600, ``parity``
``"N"``/``"E"``/``"O"``, ``bytesize``, ``stopbits``, ``timeout`` in seconds) live in
:class:`SerialParams`; a backend's parameter model extends it.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from device_drivers.display.errors import DisplayIOError, DisplayNotFound, DisplayUnsupported


class SerialParams(BaseModel):
    """How to open a serial display (RS-485 or RS-232 through a USB adapter, or a real UART)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, gt=0, le=4_000_000)
    parity: Literal["N", "E", "O"] = "N"
    bytesize: Literal[7, 8] = 8
    stopbits: Literal[1, 2] = 1
    #: How long to wait for an answer, in seconds.
    timeout: float = Field(default=0.5, gt=0, le=10)

    @field_validator("parity", mode="before")
    @classmethod
    def _parity_letter(cls, value: Any) -> Any:
        names = {"none": "N", "even": "E", "odd": "O"}
        if isinstance(value, str):
            return names.get(value.lower(), value.upper())
        return value


class SerialLink:
    """An open-on-demand serial port that turns pyserial's errors into display errors."""

    def __init__(self, params: SerialParams) -> None:
        self.params = params
        self._port: Any = None
        # One character on the wire: start bit, data bits, parity bit, stop bits.
        bits = 1 + params.bytesize + (params.parity != "N") + params.stopbits
        self.char_time_s = bits / params.baudrate
        self._last_io = 0.0

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._port is not None

    def open(self) -> None:
        """Open the port; :class:`DisplayNotFound` names the port and the reason when it cannot."""
        try:
            import serial  # type: ignore[import-untyped]
        except ImportError:
            raise DisplayUnsupported("serial display backends need pyserial (pip install pyserial)") from None

        p = self.params
        try:
            self._port = serial.Serial(
                port=p.port,
                baudrate=p.baudrate,
                parity=p.parity,
                bytesize=p.bytesize,
                stopbits=p.stopbits,
                timeout=p.timeout,
                write_timeout=max(p.timeout, 1.0),
            )
        except (serial.SerialException, OSError) as exc:
            code = getattr(exc, "errno", None) or errno.ENODEV
            hint = " (is the user in the 'dialout' group?)" if code == errno.EACCES else ""
            reason = os.strerror(code) if getattr(exc, "errno", None) else str(exc)
            raise DisplayNotFound(code, f"cannot open display port {p.port}: {reason}{hint}") from None

    def close(self) -> None:
        """Close the port (idempotent)."""
        port, self._port = self._port, None
        if port is not None:
            port.close()

    def write(self, data: bytes) -> None:
        """Send ``data`` and wait until it has left the computer."""
        try:
            self._port.write(data)
            self._port.flush()
        except Exception as exc:  # pyserial raises SerialException, OSError or its own timeouts
            raise DisplayIOError(errno.EIO, f"write to {self.params.port} failed: {exc}") from None
        self._last_io = time.monotonic()

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` seconds in all."""
        try:
            data = bytes(self._port.read(size))
        except Exception as exc:
            raise DisplayIOError(errno.EIO, f"read from {self.params.port} failed: {exc}") from None
        self._last_io = time.monotonic()
        return data

    def discard_input(self) -> None:
        """Drop bytes that arrived unasked (a late answer to a request that timed out)."""
        try:
            self._port.reset_input_buffer()
        except Exception as exc:
            raise DisplayIOError(errno.EIO, f"{self.params.port} failed: {exc}") from None

    def quiet_gap(self, seconds: float) -> None:
        """Keep the line quiet for ``seconds`` since the last transfer (Modbus RTU's 3.5 characters)."""
        wait = self._last_io + seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
