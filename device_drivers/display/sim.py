"""The simulated LED display (``backend = "sim"``, always available), with two faces.

- The driver face is :class:`SimDisplay`, the :class:`LedDisplay` interface itself; it shapes
  text like a real board of the same ``rows``/``cols``/``charset`` would.
- The test face is :class:`SimPanel` (``display.panel``, or :func:`panel` by name for a display
  an agent opened itself): what is shown now, whether it blinks, the brightness, a timestamped
  :attr:`SimPanel.history` of updates, :meth:`SimPanel.wait_for` and :meth:`SimPanel.reset`.
  The driver only writes to it; it never reads it back.

``display = { backend = "sim", name = "counter-1", rows = 1, cols = 4, charset = "7seg" }``
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from device_drivers.display.base import DisplayInfo, LedDisplay
from device_drivers.display.params import parse_params
from device_drivers.display.text import Align, check_charset

Op = Literal["open", "show", "brightness", "close"]


@dataclass(frozen=True)
class SimUpdate:
    """One thing the driver did to the simulated board."""

    ts: float
    op: Op
    lines: tuple[str, ...]
    blink: bool
    brightness: int


@dataclass
class SimPanel:
    """The simulated board as a test sees it (the test face)."""

    rows: int = 1
    cols: int = 16
    lines: list[str] = field(default_factory=list)
    blink: bool = False
    brightness: int = 100
    is_open: bool = False
    history: list[SimUpdate] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def __post_init__(self) -> None:
        if not self.lines:
            self.lines = [" " * self.cols] * self.rows

    @property
    def text(self) -> list[str]:
        """The rows without trailing padding (what a test usually compares)."""
        with self._cond:
            return [line.rstrip() for line in self.lines]

    def record(
        self, op: Op, lines: list[str] | None = None, blink: bool | None = None, brightness: int | None = None
    ) -> None:
        """Apply one driver action (driver side) and wake up :meth:`wait_for`."""
        with self._cond:
            if lines is not None:
                self.lines = list(lines)
            if blink is not None:
                self.blink = blink
            if brightness is not None:
                self.brightness = brightness
            if op in ("open", "close"):
                self.is_open = op == "open"
            self.history.append(SimUpdate(self.clock(), op, tuple(self.lines), self.blink, self.brightness))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[SimPanel], bool], timeout: float = 2.0) -> bool:
        """Wait until ``predicate(panel)`` holds (checked at every update); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def reset(self) -> None:
        """Blank the board and forget the history."""
        with self._cond:
            self.lines = [" " * self.cols] * self.rows
            self.blink = False
            self.brightness = 100
            self.history.clear()

    def render_png(self, path: str | Path, scale: int = 4, font_path: str | None = None) -> Path:
        """Draw what is shown (red on black, a dotted frame when blinking) to a PNG for the docs."""
        from PIL import Image, ImageDraw, ImageFont

        size = 8 * scale
        font: Any
        try:
            font = ImageFont.truetype(font_path or "DejaVuSansMono-Bold.ttf", size)
        except OSError:
            font = ImageFont.load_default()
        with self._cond:
            lines, blink = list(self.lines), self.blink
        cell_w, cell_h = int(size * 0.62), int(size * 1.25)
        pad = 2 * scale
        img = Image.new("RGB", (self.cols * cell_w + 2 * pad, self.rows * cell_h + 2 * pad), "black")
        draw = ImageDraw.Draw(img)
        level = 55 + 2 * self.brightness
        for row, line in enumerate(lines):
            draw.text((pad, pad + row * cell_h), line, fill=(level, 0, 0), font=font)
        if blink:
            draw.rectangle((0, 0, img.width - 1, img.height - 1), outline=(level, level // 2, 0), width=scale)
        out = Path(path)
        img.save(out)
        return out


_panels: dict[str, SimPanel] = {}
_panels_lock = threading.Lock()


def panel(name: str) -> SimPanel:
    """The panel of the named sim display (the test face of a display an agent opened itself)."""
    with _panels_lock:
        return _panels[name]


def reset_panels() -> None:
    """Forget every named panel (between tests)."""
    with _panels_lock:
        _panels.clear()


class SimParams(BaseModel):
    """``display = { backend = "sim", ... }``: the board the simulator pretends to be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Displays with the same name share one panel; :func:`panel` finds it.
    name: str = ""
    rows: int = Field(default=1, ge=1, le=64)
    cols: int = Field(default=16, ge=1, le=512)
    charset: Annotated[str, AfterValidator(check_charset)] = "utf-8"
    align: Align = "left"
    blink: bool = True
    brightness: bool = True


class SimDisplay(LedDisplay):
    """An LED display in memory, for development, demos and tests."""

    backend = "sim"

    def __init__(self, params: SimParams | dict[str, Any] | None = None) -> None:
        p = params if isinstance(params, SimParams) else parse_params(SimParams, dict(params or {}))
        self.params = p
        super().__init__(DisplayInfo(self.backend, p.rows, p.cols, p.charset, p.blink, p.brightness, p.align))
        if p.name:
            with _panels_lock:
                existing = _panels.get(p.name)
                if existing is None or (existing.rows, existing.cols) != (p.rows, p.cols):
                    existing = _panels[p.name] = SimPanel(p.rows, p.cols)
            self.panel = existing
        else:
            self.panel = SimPanel(p.rows, p.cols)

    def _do_open(self) -> None:
        self.panel.record("open")

    def _do_close(self) -> None:
        self.panel.record("close")

    def _show(self, lines: list[str], blink: bool) -> None:
        self.panel.record("show", lines=lines, blink=blink)

    def _brightness(self, percent: int) -> None:
        self.panel.record("brightness", brightness=percent)
