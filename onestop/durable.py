"""Files that survive a power cut: write to a temporary file, fsync it, rename it over the target, fsync
the folder.

A rename is atomic for processes, but after a power cut on ext4 (``data=ordered``) or on an SD card it
is durable only once the folder itself is synced, and the new file's content only once the file was.
Every file the suite writes that must survive (secrets, API tokens, the broker's files, provisioning
output, Kivy's configuration on a kiosk) goes through :func:`atomic_write`; new SQLite databases get
:func:`fsync_dir` once after they are created (SQLite syncs the folder for its WAL file itself).
docs/operations.md, "Power cuts", lists them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (files created, renamed or removed in it) durable. A file system
    that cannot sync a folder (some network or FUSE ones) is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one, never a part, and after
    a power cut the new one is there if this returned. ``mode`` applies from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
