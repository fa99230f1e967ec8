"""ESC/POS encoding (exact bytes) and the parser the simulators use to read it back."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image, ImageDraw

from device_drivers.printer import PROFILES, ImageTooWide, get_profile
from device_drivers.printer.codec import EscPosParser, decode_raster, describe, encode_job, parse, to_1bit

INIT = b"\x1b@"
CUT = b"\x1bd\x06\x1dV\x00"


def tiny() -> Image.Image:
    """16 x 2 dots: row 0 has its first 8 dots black, row 1 its last dot black."""
    img = Image.new("1", (16, 2), 255)
    for x in range(8):
        img.putpixel((x, 0), 0)
    img.putpixel((15, 1), 0)
    return img


def test_exact_bytes_of_a_tiny_job() -> None:
    profile = get_profile("generic-80", width_dots=16)
    raster = b"\x1dv0\x00\x02\x00\x02\x00" + bytes([0xFF, 0x00, 0x00, 0x01])
    assert encode_job(tiny(), profile, cut=True) == INIT + raster + CUT
    assert encode_job(tiny(), profile, cut=False) == INIT + raster + b"\x1bd\x06"


def test_no_cutter_means_feed_only() -> None:
    profile = get_profile("generic-58", width_dots=16)
    assert not profile.has_cutter
    assert encode_job(tiny(), profile, cut=True).endswith(b"\x1bd\x06")


def test_greyscale_is_thresholded_not_dithered() -> None:
    grey = Image.new("L", (16, 1), 100)  # darker than 50 %: every dot black, no dither pattern
    light = Image.new("L", (16, 1), 200)
    profile = get_profile("generic-80", width_dots=16)
    assert encode_job(grey, profile, cut=False)[2 + 8 : 2 + 10] == b"\xff\xff"
    assert encode_job(light, profile, cut=False)[2 + 8 : 2 + 10] == b"\x00\x00"


def test_transparent_pixels_are_paper() -> None:
    img = Image.new("RGBA", (8, 1), (0, 0, 0, 0))
    assert to_1bit(img, 8).getpixel((0, 0)) == 255


def test_narrow_images_are_centred_and_wide_ones_refused() -> None:
    out = to_1bit(Image.new("1", (8, 1), 0), 24)
    assert [out.getpixel((x, 0)) for x in (7, 8, 15, 16)] == [255, 0, 0, 255]
    with pytest.raises(ImageTooWide):
        encode_job(Image.new("1", (520, 4), 255), PROFILES["TM-T88V"])


def test_tall_images_are_split_into_raster_blocks_that_stack_back() -> None:
    img = Image.new("1", (512, 1000), 255)
    ImageDraw.Draw(img).line((0, 0, 511, 999), fill=0, width=3)
    cmds = parse(encode_job(img, PROFILES["TM-T88V"]))
    assert [c.name for c in cmds] == ["init", "raster", "raster", "feed", "cut"]
    assert [c.image.height for c in cmds if c.image is not None] == [960, 40]


def test_decode_raster_bit_order() -> None:
    img = decode_raster(1, 1, b"\x81")
    assert [img.getpixel((x, 0)) for x in range(8)] == [0, 255, 255, 255, 255, 255, 255, 0]


def test_parser_is_incremental() -> None:
    data = encode_job(tiny(), get_profile("generic-80", width_dots=16)) + b"\x10\x04\x04"
    whole = [c.name for c in parse(data)]
    parser = EscPosParser()
    piecewise = [c.name for i in range(len(data)) for c in parser.feed(data[i : i + 1])]
    assert piecewise == whole == ["init", "raster", "feed", "cut", "status"]
    assert parser.pending == 0


def test_parser_reports_unknown_and_truncated_bytes() -> None:
    cmds = parse(b"\x07\x1b@\x1dv0\x00\x01")
    assert [c.name for c in cmds] == ["unknown", "init"] + ["unknown"] * 5
    assert describe(cmds).splitlines()[:2] == ["unknown 0x07", "init"]


def test_importing_escpos_leaves_the_root_logger_alone() -> None:
    code = (
        "import logging\n"
        "from PIL import Image\n"
        "from device_drivers.printer import PROFILES\n"
        "from device_drivers.printer.codec import encode_job\n"
        "encode_job(Image.new('1', (512, 8), 1), PROFILES['TM-T88V'])\n"
        "print(len(logging.getLogger().handlers))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "0"
    assert out.stderr == ""
