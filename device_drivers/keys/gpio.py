"""Buttons on GPIO pins through gpiozero 2 (lgpio on a Raspberry Pi 5; MockFactory in tests).

Only edges are reported; debounce, press-versus-hold and the repeat guard are decided in the
application (``display_agents.keys_logic``), because gpiozero's mock pins ignore ``bounce_time``.
"""

from __future__ import annotations

from typing import Any

from device_drivers.keys.base import Keypad, KeypadNotFound


class GpioKeypad(Keypad):
    """One gpiozero ``Button`` per key."""

    def __init__(self, pins: dict[str, Any], *, pull_up: bool = True, pin_factory: Any = None) -> None:
        super().__init__()
        self.pins = pins
        self.pull_up = pull_up
        self.pin_factory = pin_factory
        self._buttons: list[Any] = []

    def _open(self) -> None:
        try:
            from gpiozero import Button  # type: ignore[import-untyped]
            from gpiozero.exc import GPIOZeroError  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - gpiozero is a dependency
            raise KeypadNotFound(f"gpiozero is not installed: {exc}") from None
        try:
            for key, pin in self.pins.items():
                b = Button(pin, pull_up=self.pull_up, pin_factory=self.pin_factory)
                b.when_pressed = lambda _b=None, k=key: self._emit(k, "down")
                b.when_released = lambda _b=None, k=key: self._emit(k, "up")
                self._buttons.append(b)
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            self._close()
            raise KeypadNotFound(f"cannot use GPIO pins {self.pins}: {exc}") from None

    def _close(self) -> None:
        for b in self._buttons:
            b.close()
        self._buttons = []
