"""The LED display interface that the counter agent and the main board agent use.

Both agents need the same few things, so there is one interface for every kind of board:

- :meth:`LedDisplay.show` puts whole rows of text up (the main board: last calls, waiting counts);
  :meth:`LedDisplay.show_number` is the one-row shorthand a counter display uses, with ``blink``
  while a ticket is being called;
- :meth:`LedDisplay.clear` blanks it, :meth:`LedDisplay.set_brightness` dims it where the board
  can (``info.brightness``), otherwise raises :class:`DisplayUnsupported`;
- :attr:`LedDisplay.info` tells the agent the geometry and charset to format for.

The base class shapes text the same way for every backend (charset, width, alignment; see
:mod:`device_drivers.display.text`) and serialises calls with a lock, so an agent may call from its
MQTT thread and its blink timer alike. Backends implement ``_do_open``, ``_do_close``, ``_show`` and
``_brightness``.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from device_drivers.display.errors import DisplayClosed, DisplayUnsupported
from device_drivers.display.text import Align, WarnOnce, fit, for_charset

log = logging.getLogger("onestop.display")


@dataclass(frozen=True)
class DisplayInfo:
    """What an agent needs to format for a display."""

    backend: str
    rows: int
    cols: int
    #: ``"ascii"``, ``"7seg"`` or a codec name such as ``"utf-8"`` (see :mod:`.text`).
    charset: str
    #: Whether ``show(..., blink=True)`` really blinks (otherwise it shows steady text, logged once).
    blink: bool
    #: Whether :meth:`LedDisplay.set_brightness` works.
    brightness: bool
    align: Align = "left"


class LedDisplay(ABC):
    """One LED display (a counter's number display or a hall board), whatever its wiring."""

    def __init__(self, info: DisplayInfo) -> None:
        self.info = info
        self._lock = threading.RLock()
        self._is_open = False
        self._warn = WarnOnce(log)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Whether the display is open for use."""
        return self._is_open

    def open(self) -> None:
        """Open the link to the display (idempotent); :class:`DisplayNotFound` when it is missing."""
        with self._lock:
            if not self._is_open:
                self._do_open()
                self._is_open = True

    def close(self) -> None:
        """Close the link (idempotent); the display keeps showing what it showed last."""
        with self._lock:
            if self._is_open:
                self._is_open = False
                self._do_close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- what agents call -----------------------------------------------------------------------
    def show(self, lines: Sequence[str], *, blink: bool = False) -> None:
        """Show ``lines``, one per row, from the top; missing rows are blanked, extra ones dropped."""
        if isinstance(lines, str):
            raise TypeError("show() takes a list of lines; use show_number() for one text")
        with self._lock:
            self._require_open()
            if len(lines) > self.info.rows:
                self._warn(
                    "rows",
                    "%s display has %d row(s); extra lines are dropped",
                    self.info.backend,
                    self.info.rows,
                )
            if blink and not self.info.blink:
                self._warn("blink", "%s display cannot blink; showing steady text", self.info.backend)
                blink = False
            self._show(self.shape(lines), blink)

    def show_number(self, text: str, *, blink: bool = False) -> None:
        """Show one text (a ticket number) on the first row, blinking while a call is announced."""
        self.show([text], blink=blink)

    def clear(self) -> None:
        """Blank every row and stop blinking."""
        self.show([])

    def set_brightness(self, percent: int) -> None:
        """Set the brightness, 0-100 %, mapped onto the board's own scale."""
        if not 0 <= percent <= 100:
            raise ValueError(f"brightness is a percentage 0-100, got {percent}")
        with self._lock:
            self._require_open()
            if not self.info.brightness:
                raise DisplayUnsupported(f"this {self.info.backend} display has no brightness control")
            self._brightness(percent)

    # -- shared helpers -------------------------------------------------------------------------
    def shape(self, lines: Sequence[str]) -> list[str]:
        """Exactly ``rows`` lines of exactly ``cols`` characters, as this display will show them."""
        padded = list(lines[: self.info.rows]) + [""] * max(0, self.info.rows - len(lines))
        return [
            fit(for_charset(line, self.info.charset, self._unsupported), self.info.cols, self.info.align)
            for line in padded
        ]

    def _unsupported(self, ch: str) -> None:
        self._warn(f"char:{ch}", "%s display cannot show %r; it shows '-' instead", self.info.backend, ch)

    def _require_open(self) -> None:
        if not self._is_open:
            raise DisplayClosed(f"the {self.info.backend} display is not open; call open() first")

    # -- what backends implement ----------------------------------------------------------------
    @abstractmethod
    def _do_open(self) -> None:
        """Open the backend's link."""

    @abstractmethod
    def _do_close(self) -> None:
        """Close the backend's link."""

    @abstractmethod
    def _show(self, lines: list[str], blink: bool) -> None:
        """Put already shaped lines (``rows`` × ``cols``) up."""

    def _brightness(self, percent: int) -> None:
        """Set the brightness (only called when ``info.brightness``)."""
        raise DisplayUnsupported(f"this {self.info.backend} display has no brightness control")
