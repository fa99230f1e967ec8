"""Golden ESC/POS jobs: stored as a PNG (what should come out) plus the SHA-256 and length of the bytes.

When a job changes, :func:`explain_job_change` says whether the picture changed (and where, with the
images written next to each other for a look) or only the encoding (first differing byte, and the
command listings side by side). ``ONESTOP_UPDATE_GOLDEN=1`` rewrites the golden files instead.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path

from PIL import Image, ImageChops

from device_drivers.printer.codec import describe, encode_job, parse
from device_drivers.printer.profiles import PrinterProfile

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("ONESTOP_UPDATE_GOLDEN") == "1"


def digest(data: bytes) -> dict[str, object]:
    """What is stored about a job's bytes."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}


def save_golden(name: str, image: Image.Image, data: bytes, profile: PrinterProfile) -> None:
    """Write ``{name}.png`` and ``{name}.json``."""
    image.save(GOLDEN_DIR / f"{name}.png", optimize=True)
    meta = {**digest(data), "profile": profile.name, "regenerate": "ONESTOP_UPDATE_GOLDEN=1 pytest"}
    (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load_golden(name: str) -> tuple[Image.Image, dict[str, object]]:
    """The golden image and the stored digest."""
    meta = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    with Image.open(GOLDEN_DIR / f"{name}.png") as img:
        return img.convert("1"), meta


def explain_job_change(
    name: str, actual: bytes, actual_image: Image.Image, profile: PrinterProfile, out_dir: Path
) -> str:
    """A readable account of how ``actual`` differs from the golden job ``name``."""
    golden_image, meta = load_golden(name)
    lines = [
        f"job {name!r} changed: {digest(actual)} != {{sha256: {meta['sha256']}, length: {meta['length']}}}"
    ]
    if golden_image.size != actual_image.size or ImageChops.difference(golden_image, actual_image).getbbox():
        out_dir.mkdir(parents=True, exist_ok=True)
        actual_image.save(out_dir / f"{name}.actual.png")
        golden_image.save(out_dir / f"{name}.golden.png")
        if golden_image.size == actual_image.size:
            diff = ImageChops.difference(golden_image.convert("L"), actual_image.convert("L"))
            changed = diff.point(lambda v: 1 if v else 0).histogram()[1]
            lines.append(
                f"the picture changed: {changed} dots differ within {diff.getbbox()} (x0, y0, x1, y1)"
            )
            Image.eval(diff, lambda v: 255 - v).save(out_dir / f"{name}.diff.png")
        else:
            lines.append(f"the picture changed size: golden {golden_image.size}, now {actual_image.size}")
        lines.append(f"images written to {out_dir} (golden, actual, diff)")
    expected = encode_job(golden_image, profile)
    if digest(expected) != {"sha256": meta["sha256"], "length": meta["length"]}:
        lines.append(
            "encoding the golden image no longer gives the golden bytes: the ESC/POS encoding changed"
        )
    if expected != actual:
        at = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b), None)
        at = min(len(expected), len(actual)) if at is None else at
        was, now = expected[at : at + 8].hex(" "), actual[at : at + 8].hex(" ")
        lines.append(f"first differing byte at offset {at}: golden {was}, now {now}")
        listing = difflib.unified_diff(
            describe(parse(expected)).splitlines(),
            describe(parse(actual)).splitlines(),
            "golden",
            "actual",
            lineterm="",
        )
        lines.extend(listing)
    lines.append(
        "if the change is intended: ONESTOP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_ticket_golden.py"
    )
    return "\n".join(lines)
