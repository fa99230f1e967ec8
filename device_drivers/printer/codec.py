"""ESC/POS bytes: encoding a raster job (with python-escpos) and parsing a stream back (for simulators).

The driver prints every ticket as one job: ``ESC @``, the image as ``GS v 0`` raster blocks (python-escpos
splits images taller than 960 rows), then ``ESC d n`` and ``GS V 0`` (cut) or just the feed when the
profile has no cutter. :class:`EscPosParser` understands exactly the commands the suite sends, so a
simulator can turn the bytes back into the image that would come out of the printer.
"""

from __future__ import annotations

import copy
import importlib
import logging
from dataclasses import dataclass
from typing import Any

from PIL import Image

from device_drivers.printer.errors import ImageTooWide
from device_drivers.printer.profiles import PrinterProfile


def _import_escpos(name: str) -> Any:
    """A class from ``escpos.printer`` (``Dummy``, ``Usb``), imported on first use.

    python-escpos configures the root logger (``logging.basicConfig()``) when its capabilities module is
    first imported; that is undone here, so the application's own logging set-up still takes effect.
    """
    root = logging.getLogger()
    before = list(root.handlers)
    printers = importlib.import_module("escpos.printer")
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
    return getattr(printers, name)


def to_1bit(img: Image.Image, width: int) -> Image.Image:
    """The image as mode "1" (threshold at 50 %, no dithering), centred on white to exactly ``width``."""
    if img.width > width:
        raise ImageTooWide(f"image is {img.width} dots wide; the printer prints {width}")
    if img.mode != "1":
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat.alpha_composite(rgba)
            img = flat
        img = img.convert("L").point(lambda v: 255 if v >= 128 else 0, mode="1")
    if img.width < width:
        padded = Image.new("1", (width, img.height), 255)
        padded.paste(img, ((width - img.width) // 2, 0))
        img = padded
    return img


def encode_job(img: Image.Image, profile: PrinterProfile, *, cut: bool = True) -> bytes:
    """The exact bytes of one job: initialise, the raster image, feed, and cut when asked and possible."""
    mono = to_1bit(img, profile.width_dots)
    printer = _import_escpos("Dummy")(profile=profile.escpos_profile)
    # Our profile table is the authority on the width; give this instance its own copy of the data.
    data = copy.deepcopy(printer.profile.profile_data)
    data.setdefault("media", {}).setdefault("width", {})["pixels"] = profile.width_dots
    printer.profile.profile_data = data
    printer.hw("INIT")
    printer.image(mono, impl="bitImageRaster", high_density_vertical=True, high_density_horizontal=True)
    if cut and profile.has_cutter:
        printer.cut(mode="FULL", feed=True)
    else:
        printer.print_and_feed(profile.feed_lines)
    out: bytes = printer.output
    printer.close()
    return out


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One parsed command: a name, its arguments, and the bytes it was made of."""

    name: str  # init | raster | feed | feed_dots | lf | cut | status | align | unknown
    raw: bytes
    arg: int = 0
    image: Image.Image | None = None


def decode_raster(width_bytes: int, height: int, data: bytes) -> Image.Image:
    """A ``GS v 0`` bitmap (1 = dot printed) as a mode "1" image (0 = black)."""
    return Image.frombytes("1", (width_bytes * 8, height), data, "raw", "1;I")


class EscPosParser:
    """An incremental parser: feed it bytes as they arrive, it returns the complete commands."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back because the command they start is not complete yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Command]:
        """Parse as much as possible of what was received so far."""
        self._buf += data
        out: list[Command] = []
        while self._buf:
            cmd = self._one()
            if cmd is None:
                break
            del self._buf[: len(cmd.raw)]
            out.append(cmd)
        return out

    def _one(self) -> Command | None:
        b = self._buf
        head = b[0]

        def need(n: int) -> bytes | None:
            return bytes(b[:n]) if len(b) >= n else None

        if head == 0x0A:
            return Command("lf", bytes(b[:1]))
        if head == 0x10:  # DLE EOT n
            raw = need(3)
            if raw is None:
                return None
            if raw[1] == 0x04:
                return Command("status", raw, raw[2])
        elif head == 0x1B:  # ESC
            raw = need(2)
            if raw is None:
                return None
            if raw[1] == 0x40:
                return Command("init", raw)
            if raw[1] in (0x64, 0x4A, 0x61):
                raw = need(3)
                if raw is None:
                    return None
                name = {0x64: "feed", 0x4A: "feed_dots", 0x61: "align"}[raw[1]]
                return Command(name, raw, raw[2])
        elif head == 0x1D:  # GS
            raw = need(2)
            if raw is None:
                return None
            if raw[1] == 0x56:  # GS V m [n]
                raw = need(3)
                if raw is None:
                    return None
                if raw[2] in (0, 1, 48, 49):
                    return Command("cut", raw, raw[2])
                if raw[2] in (65, 66):
                    raw = need(4)
                    return None if raw is None else Command("cut", raw, raw[2])
            elif raw[1] == 0x76:  # GS v 0 m xL xH yL yH d...
                hdr = need(8)
                if hdr is None:
                    return None
                if hdr[2] == 0x30:
                    width_bytes = hdr[4] | hdr[5] << 8
                    height = hdr[6] | hdr[7] << 8
                    raw = need(8 + width_bytes * height)
                    if raw is None:
                        return None
                    img = decode_raster(width_bytes, height, raw[8:])
                    return Command("raster", raw, hdr[3], img)
        return Command("unknown", bytes(b[:1]))


def parse(data: bytes) -> list[Command]:
    """Parse a complete byte string; an incomplete command at the end is reported as ``unknown`` bytes."""
    parser = EscPosParser()
    cmds = parser.feed(data)
    rest = data[len(data) - parser.pending :] if parser.pending else b""
    return cmds + [Command("unknown", bytes((x,))) for x in rest]


def describe(commands: list[Command]) -> str:
    """A readable listing of parsed commands, one a line (for golden-test diffs)."""
    lines = []
    for c in commands:
        if c.name == "raster" and c.image is not None:
            lines.append(f"raster m={c.arg} {c.image.width}x{c.image.height} ({len(c.raw)} bytes)")
        elif c.name in ("init", "lf"):
            lines.append(c.name)
        elif c.name == "unknown":
            lines.append(f"unknown 0x{c.raw[0]:02x}")
        else:
            lines.append(f"{c.name} {c.arg} ({c.raw.hex(' ')})")
    return "\n".join(lines)
