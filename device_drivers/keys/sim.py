"""A simulated keypad. The driver face is :class:`~device_drivers.keys.base.Keypad`; tests and the
demo use the other face: :meth:`SimKeypad.press`, :meth:`SimKeypad.down`, :meth:`SimKeypad.up`."""

from __future__ import annotations

from device_drivers.keys.base import KEY_NAMES, Keypad


class SimKeypad(Keypad):
    """Keys pressed by code."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = False

    def _open(self) -> None:
        self.opened = True

    def _close(self) -> None:
        self.opened = False

    # -- the test face ---------------------------------------------------------------------
    def down(self, key: str) -> None:
        """The key goes down."""
        self._check(key)
        self._emit(key, "down")

    def up(self, key: str) -> None:
        """The key comes up."""
        self._check(key)
        self._emit(key, "up")

    def press(self, key: str) -> None:
        """A whole short press, as a serial keypad reports it."""
        self._check(key)
        self._emit(key, "press")

    def hold(self, key: str) -> None:
        """A whole long press."""
        self._check(key)
        self._emit(key, "hold")

    def _check(self, key: str) -> None:
        if key not in KEY_NAMES:
            raise ValueError(f"unknown key {key!r}")
        if not self.opened:
            raise RuntimeError("the keypad is not open")
