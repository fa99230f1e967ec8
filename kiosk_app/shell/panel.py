"""The touch panel a kiosk or rating terminal is drawn on: its pixels and its physical size.

Text and touch targets are sized in millimetres, not in pixels: the same 40 px are 7 mm on a 7"
800×480 panel and 9.5 mm on a 21.5" 1080p screen. The physical size comes, in order, from:

1. the device's ``panel`` table in site.toml (``width_mm``/``height_mm``, or ``diagonal_in``);
2. the connected display's EDID, read through DRM (``/sys/class/drm/card*-*/edid``): the detailed
   timing descriptor's image size in millimetres, else the basic block's size in centimetres;
3. the usual panel of that resolution (:data:`KNOWN_PANELS`: the Raspberry Pi Touch Displays, 7"
   1024×600 HDMI panels, 10.1" 1280×800 tablets, 21.5" 1080p kiosks);
4. else a 21.5" screen of the window's aspect ratio.

The floors (:data:`CAP_VI_MM` …) are what docs/kiosk.md promises for every screen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from onestop.config import DeviceConfig

log = logging.getLogger(__name__)

#: Cap height (the height of "H") of Vietnamese text, at least.
CAP_VI_MM = 3.5
#: Cap height of the English second line, at least.
CAP_EN_MM = 2.0
#: Every touch target, at least this tall and wide.
TARGET_MM = 9.0
#: Main buttons (a service, "In vé", a rating level), at least this tall.
MAIN_TARGET_MM = 15.0
#: Roboto's cap height as a share of its font size (Kivy's default font; 1456 / 2048 units).
CAP_RATIO = 0.711

#: The usual panel of a resolution (width × height in pixels → width × height of the image, mm).
KNOWN_PANELS: dict[tuple[int, int], tuple[float, float, str]] = {
    (800, 480): (154.2, 85.9, 'Raspberry Pi Touch Display 7"'),
    (480, 800): (85.9, 154.2, 'Raspberry Pi Touch Display 7", portrait'),
    (720, 1280): (88.0, 156.0, 'Raspberry Pi Touch Display 2 7"'),
    (1280, 720): (156.0, 88.0, 'Raspberry Pi Touch Display 2 7", landscape'),
    (1024, 600): (154.2, 90.0, '7" HDMI panel'),
    (600, 1024): (90.0, 154.2, '7" HDMI panel, portrait'),
    (1280, 800): (216.96, 135.6, '10.1" panel'),
    (800, 1280): (135.6, 216.96, '10.1" panel, portrait'),
    (1920, 1080): (476.64, 268.11, '21.5" 1080p screen'),
    (1080, 1920): (268.11, 476.64, '21.5" 1080p screen, portrait'),
}
DEFAULT_DIAGONAL_IN = 21.5


@dataclass(frozen=True)
class Panel:
    """A screen: pixels, millimetres, and where the millimetres came from."""

    width_px: float
    height_px: float
    width_mm: float
    height_mm: float
    source: str

    @property
    def px_per_mm(self) -> float:
        """Pixels per millimetre: the lower of the two axes (the Touch Display's pixels are not
        square), so that a size in millimetres is never smaller than asked, either way round."""
        return min(self.width_px / self.width_mm, self.height_px / self.height_mm)

    def mm(self, millimetres: float) -> float:
        """A length in millimetres, in pixels of this panel."""
        return millimetres * self.px_per_mm

    def to_mm(self, pixels: float) -> float:
        """A length in pixels of this panel, in millimetres."""
        return pixels / self.px_per_mm

    def font_for_cap(self, cap_mm: float) -> float:
        """The font size (px) whose cap height is ``cap_mm``."""
        return self.mm(cap_mm) / CAP_RATIO

    def cap_mm(self, font_px: float) -> float:
        """The cap height (mm) of text at ``font_px``."""
        return self.to_mm(font_px * CAP_RATIO)

    def describe(self) -> str:
        """For log lines and the screenshot tools."""
        diag = math.hypot(self.width_mm, self.height_mm) / 25.4
        return (
            f"{self.width_px:.0f}×{self.height_px:.0f} px, {self.width_mm:.0f}×{self.height_mm:.0f} mm "
            f'({diag:.1f}"), {self.px_per_mm:.2f} px/mm, from {self.source}'
        )


def _from_diagonal(w: float, h: float, diagonal_in: float) -> tuple[float, float]:
    d_mm = diagonal_in * 25.4
    k = d_mm / math.hypot(w, h)
    return w * k, h * k


def edid_size_mm(edid: bytes) -> tuple[float, float] | None:
    """The image size an EDID block states: the first detailed timing descriptor's millimetres,
    else the basic block's centimetres; None when the block is not an EDID or states no size."""
    if len(edid) < 128 or edid[:8] != b"\x00\xff\xff\xff\xff\xff\xff\x00":
        return None
    dtd = edid[54:72]
    if dtd[0] or dtd[1]:  # a pixel clock: a timing descriptor, not a display descriptor
        w = dtd[12] | (dtd[14] >> 4) << 8
        h = dtd[13] | (dtd[14] & 0x0F) << 8
        if w > 0 and h > 0:
            return float(w), float(h)
    if edid[21] and edid[22]:
        return edid[21] * 10.0, edid[22] * 10.0
    return None


def read_edid(roots: Iterable[Path] = (Path("/sys/class/drm"),)) -> tuple[float, float, str] | None:
    """The image size of the first connected DRM display with a usable EDID (and its connector)."""
    for root in roots:
        for conn in sorted(root.glob("card*-*")):
            try:
                if (conn / "status").read_text().strip() != "connected":
                    continue
                size = edid_size_mm((conn / "edid").read_bytes())
            except OSError:
                continue
            if size is not None:
                return size[0], size[1], f"EDID of {conn.name}"
    return None


def panel_for(
    device: DeviceConfig | None,
    width: float,
    height: float,
    *,
    edid: tuple[float, float, str] | None = None,
    use_edid: bool = False,
) -> Panel:
    """The panel of ``device`` drawn at ``width``×``height`` pixels (see the module's docstring).

    ``use_edid`` reads the EDID (the apps on a real display do; screenshots and tests do not, so that
    a developer's monitor does not change them); ``edid`` gives one directly."""
    given = device.panel if device is not None else None
    if given is not None and given.width_mm is not None and given.height_mm is not None:
        w_mm, h_mm = given.width_mm, given.height_mm
        if (w_mm > h_mm) != (width > height):  # the size as printed, the panel turned
            w_mm, h_mm = h_mm, w_mm
        return Panel(width, height, w_mm, h_mm, "site.toml (panel width_mm, height_mm)")
    if given is not None and given.diagonal_in is not None:
        w_mm, h_mm = _from_diagonal(width, height, given.diagonal_in)
        return Panel(width, height, w_mm, h_mm, f"site.toml (panel diagonal_in = {given.diagonal_in})")
    if edid is None and use_edid:
        edid = read_edid()
    if edid is not None:
        ew, eh, where = edid
        if (ew > eh) != (width > height):  # a panel mounted the other way round
            ew, eh = eh, ew
        return Panel(width, height, ew, eh, where)
    known = KNOWN_PANELS.get((round(width), round(height)))
    if known is not None:
        return Panel(width, height, known[0], known[1], f"the usual {known[2]}")
    w_mm, h_mm = _from_diagonal(width, height, DEFAULT_DIAGONAL_IN)
    return Panel(width, height, w_mm, h_mm, f'a {DEFAULT_DIAGONAL_IN}" screen (no size known)')


class PanelSizing:
    """Design sizes on a panel, for the screen builders: ``s`` scales a design size to the window,
    and text and touch targets never go under the millimetre floors of ``panel``."""

    s: float
    panel: Panel

    def px(self, v: float) -> float:
        """A design size scaled to the window."""
        return v * self.s

    def font(self, v: float, en: bool = False) -> int:
        """A design font size scaled, never under the cap-height floor: 3.5 mm, or 2.0 mm for the
        second language's smaller line (``en``)."""
        floor = self.panel.font_for_cap(CAP_EN_MM if en else CAP_VI_MM)
        return math.ceil(max(self.px(v), floor))

    def target(self, v: float, main: bool = False) -> float:
        """A touch target's side scaled, never under 9 mm (15 mm for a main button, ``main``)."""
        return max(self.px(v), self.panel.mm(MAIN_TARGET_MM if main else TARGET_MM))
