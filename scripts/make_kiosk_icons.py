"""Draw the kiosk's service icons (and the speaker of the read-aloud button) as PNG with Pillow.

``python scripts/make_kiosk_icons.py`` writes ``kiosk_app/icons/{name}.png``: white line drawings
on transparency, 256×256, drawn at 4× and scaled down (smooth edges). A service names one with
``icon = "name"`` in site.toml (docs/kiosk.md). Drawn here, not downloaded: no licence to track.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
K = 4  # supersampling
W = (255, 255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "kiosk_app" / "icons"

Draw = ImageDraw.ImageDraw


def _s(*v: float) -> list[float]:
    return [x * K for x in v]


def family(d: Draw) -> None:  # tư pháp - hộ tịch: two adults and a child
    for cx, cy, r, body in ((80, 70, 26, 120), (176, 70, 26, 120), (128, 130, 18, 70)):
        d.ellipse(_s(cx - r, cy - r, cx + r, cy + r), fill=W)
        top = cy + r + 8
        d.rounded_rectangle(_s(cx - r - 8, top, cx + r + 8, top + body), radius=14 * K, fill=W)


def land(d: Draw) -> None:  # đất đai: a house on a plot
    d.polygon(_s(128, 30, 40, 110, 216, 110), fill=W)
    d.rectangle(_s(62, 108, 194, 190), fill=W)
    d.rectangle(_s(112, 140, 144, 190), fill=(0, 0, 0, 0))
    d.line(_s(20, 215, 236, 215), fill=W, width=12 * K)


def business(d: Draw) -> None:  # đăng ký kinh doanh: a briefcase
    d.rounded_rectangle(_s(30, 80, 226, 210), radius=18 * K, fill=W)
    d.rounded_rectangle(_s(92, 44, 164, 92), radius=12 * K, outline=W, width=12 * K)
    d.rectangle(_s(30, 130, 226, 140), fill=(0, 0, 0, 0))


def building(d: Draw) -> None:  # xây dựng: a crane
    d.line(_s(70, 230, 70, 40), fill=W, width=16 * K)
    d.line(_s(40, 50, 220, 50), fill=W, width=14 * K)
    d.line(_s(190, 50, 190, 130), fill=W, width=6 * K)
    d.rectangle(_s(170, 130, 210, 165), fill=W)
    d.rectangle(_s(30, 220, 130, 240), fill=W)


def labour(d: Draw) -> None:  # lao động - thương binh và xã hội: a heart in a hand
    d.ellipse(_s(60, 50, 130, 120), fill=W)
    d.ellipse(_s(126, 50, 196, 120), fill=W)
    d.polygon(_s(64, 100, 192, 100, 128, 170), fill=W)
    d.rounded_rectangle(_s(30, 180, 226, 215), radius=16 * K, fill=W)


def health(d: Draw) -> None:  # y tế / bảo hiểm xã hội: a cross
    d.rounded_rectangle(_s(98, 36, 158, 220), radius=10 * K, fill=W)
    d.rounded_rectangle(_s(36, 98, 220, 158), radius=10 * K, fill=W)


def document(d: Draw) -> None:  # any paperwork: a sheet with lines
    d.rounded_rectangle(_s(56, 28, 200, 228), radius=14 * K, outline=W, width=12 * K)
    for y in (80, 115, 150, 185):
        d.line(_s(84, y, 172, y), fill=W, width=10 * K)


def vehicle(d: Draw) -> None:  # giao thông vận tải: a car
    d.rounded_rectangle(_s(24, 110, 232, 180), radius=20 * K, fill=W)
    d.polygon(_s(64, 112, 92, 62, 168, 62, 196, 112), fill=W)
    for cx in (76, 180):
        d.ellipse(_s(cx - 26, 158, cx + 26, 210), fill=W)


def leaf(d: Draw) -> None:  # tài nguyên - môi trường: a leaf
    d.ellipse(_s(50, 50, 206, 206), fill=W)
    d.polygon(_s(128, 50, 206, 50, 206, 128), fill=W)
    d.line(_s(40, 216, 90, 166), fill=W, width=12 * K)
    d.line(_s(60, 196, 180, 76), fill=(0, 0, 0, 0), width=10 * K)


def speaker(d: Draw) -> None:  # the read-aloud button
    d.rectangle(_s(30, 96, 82, 160), fill=W)
    d.polygon(_s(82, 96, 140, 46, 140, 210, 82, 160), fill=W)
    for r in (40, 76):
        d.arc(_s(128 - r + 30, 128 - r, 128 + r + 30, 128 + r), -50 * 1, 50, fill=W, width=12 * K)


ICONS: dict[str, Callable[[Draw], None]] = {
    "family": family,
    "land": land,
    "business": business,
    "building": building,
    "labour": labour,
    "health": health,
    "document": document,
    "vehicle": vehicle,
    "leaf": leaf,
    "speaker": speaker,
}


#: The read-aloud button is yellow: its speaker is drawn in the kiosk's ink colour too.
DARK = {"speaker_dark": ("speaker", (16, 32, 48))}


def render(name: str, color: tuple[int, int, int] | None = None) -> Image.Image:
    """One icon, 256×256 RGBA (white, or ``color``)."""
    big = Image.new("RGBA", (SIZE * K, SIZE * K), (0, 0, 0, 0))
    ICONS[name](ImageDraw.Draw(big))
    if color is not None:  # the same shape in another colour
        solid = Image.new("RGBA", big.size, (*color, 255))
        solid.putalpha(big.getchannel("A"))
        big = solid
    return big.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def main(out: Path = OUT) -> int:
    """Write every icon into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ICONS:
        render(name).save(out / f"{name}.png", optimize=True)
    for name, (shape, color) in DARK.items():
        render(shape, color).save(out / f"{name}.png", optimize=True)
    print(f"{len(ICONS) + len(DARK)} icons written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
