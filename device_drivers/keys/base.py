"""The keypad interface and the backend registry."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from onestop.errors import OnestopError

log = logging.getLogger(__name__)

#: The logical keys of a counter keypad (Gọi tiếp, Gọi lại, Bỏ qua, Xong, Chuyển, Tạm dừng).
KEY_NAMES = ("next", "recall", "skip", "finish", "transfer", "pause")

#: Codes of a typical 6-key serial keypad: the key's digit, one character per press.
DEFAULT_SERIAL_CODES = {"1": "next", "2": "recall", "3": "skip", "4": "finish", "5": "transfer", "6": "pause"}

EventKind = Literal["down", "up", "press", "hold"]


class KeypadError(OnestopError):
    """Root of keypad errors."""


class KeypadNotFound(KeypadError, OSError):
    """The keypad's port or GPIO chip cannot be opened."""


@dataclass(frozen=True)
class KeyEvent:
    """One thing a keypad reported: an edge (``down``/``up``) or a whole ``press``/``hold``."""

    key: str
    kind: EventKind
    at: float  # time.monotonic()


Listener = Callable[[KeyEvent], None]


class Keypad(ABC):
    """A source of key events. ``open(listener)`` starts reporting, ``close()`` stops."""

    def __init__(self) -> None:
        self._listener: Listener | None = None

    def open(self, listener: Listener) -> None:
        """Start reporting events to ``listener`` (called from the backend's own thread)."""
        self._listener = listener
        self._open()

    def close(self) -> None:
        """Stop reporting and release the hardware."""
        self._close()
        self._listener = None

    def _emit(self, key: str, kind: EventKind) -> None:
        listener = self._listener
        if listener is not None:
            listener(KeyEvent(key, kind, time.monotonic()))

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...


def _check_keys(mapping: dict[str, Any], what: str) -> dict[str, Any]:
    unknown = sorted(set(mapping.values() if what == "codes" else mapping) - set(KEY_NAMES))
    if unknown:
        raise KeypadError(f"keys.{what}: unknown key {unknown[0]!r}; known keys: {', '.join(KEY_NAMES)}")
    return mapping


def open_keypad(backend: str, params: dict[str, Any]) -> Keypad:
    """The keypad for a ``keys`` table: ``backend`` is ``gpio``, ``serial`` or ``sim``."""
    if backend == "sim":
        from device_drivers.keys.sim import SimKeypad

        return SimKeypad()
    if backend == "gpio":
        from device_drivers.keys.gpio import GpioKeypad

        pins = _check_keys(dict(params.get("pins") or {}), "pins")
        if not pins:
            raise KeypadError(
                "keys.pins: name the GPIO pin of each key, e.g. pins = { next = 17, recall = 27 }"
            )
        return GpioKeypad(
            pins, pull_up=bool(params.get("pull_up", True)), pin_factory=params.get("pin_factory")
        )
    if backend == "serial":
        from device_drivers.keys.serial_keypad import SerialKeypad

        if "port" not in params:
            raise KeypadError("keys.port: name the keypad's serial port, e.g. port = '/dev/ttyUSB0'")
        codes = _check_keys(dict(params.get("codes") or DEFAULT_SERIAL_CODES), "codes")
        holds = _check_keys(dict(params.get("hold_codes") or {}), "codes")
        return SerialKeypad(str(params["port"]), int(params.get("baudrate", 9600)), codes, holds)
    if backend == "web":
        raise KeypadError("keys backend 'web' is served by the hub's caller page, not by a counter agent")
    raise KeypadError(f"unknown keys backend {backend!r}; known: gpio, serial, sim, web")
