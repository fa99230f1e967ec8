"""``file``: writes each played clip into a folder as ``clip-000001.wav``, ``clip-000002.wav``, ...

Parameters: ``dir`` (the folder; relative paths are resolved against the site's data directory;
default ``{data_dir}/audio-out``). Numbering continues after the files already there, so a
restart never overwrites an earlier clip.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from device_drivers.audio.base import (
    AudioNotFound,
    AudioOut,
    Clip,
    PlaybackFailed,
    check_params,
    clip_bytes,
    wav_duration,
)

_NAME = re.compile(r"clip-(\d+)\.wav")


class FileAudio(AudioOut):
    """Writes clips to numbered WAV files; returns as soon as the file is written."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        numbers = [int(m.group(1)) for p in directory.iterdir() if (m := _NAME.fullmatch(p.name))]
        self._next = max(numbers, default=0) + 1

    @classmethod
    def open(cls, params: dict[str, Any], data_dir: Path | None = None) -> FileAudio:
        """Create the folder if needed; raise AudioNotFound when it cannot be created."""
        check_params(cls.name, params, {"dir": str})
        directory = Path(params.get("dir", "audio-out"))
        if not directory.is_absolute() and data_dir is not None:
            directory = data_dir / directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AudioNotFound(f"audio backend 'file': cannot create {directory}: {exc.strerror}") from None
        return cls(directory)

    def play(self, clip: Clip) -> None:
        """Write the clip to the next numbered file."""
        data = clip_bytes(clip)
        wav_duration(data)  # refuse what is not a WAV, like a real player would
        with self._lock:
            path = self.directory / f"clip-{self._next:06d}.wav"
            try:
                path.write_bytes(data)
            except OSError as exc:
                raise PlaybackFailed(f"cannot write {path}: {exc.strerror}") from None
            self._next += 1
