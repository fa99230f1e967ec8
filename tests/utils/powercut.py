"""A power cut without root (tests/utils/powercut.c): build the preload library, and rebuild a folder as
the disk would hold it after a power cut, from what was fsynced and nothing else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("powercut.c")


def build(out: Path) -> Path | None:
    """Compile the preload library into ``out``; None without a C compiler (the test then skips)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    lib = out / "powercut.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(SOURCE), "-ldl"], check=True, timeout=120
    )
    return lib


def image(folder: Path, shadow: Path, out: Path) -> dict[str, int]:
    """Write into ``out`` the files of ``folder`` that survive a power cut: the names of the folder's
    last fsync, each with its content at its own last fsync (empty when it never had one). Returns
    ``{name: size}``. A folder never fsynced keeps no file at all."""
    out.mkdir(parents=True, exist_ok=True)
    listing = shadow / f"dir-{folder.stat().st_ino}"
    kept: dict[str, int] = {}
    if not listing.exists():
        return kept
    for line in listing.read_text().splitlines():
        ino, _, name = line.partition("\t")
        content = shadow / f"ino-{ino}"
        target = out / name
        if content.exists():
            shutil.copyfile(content, target)
        else:
            target.write_bytes(b"")
        kept[name] = target.stat().st_size
    return kept
