"""``alsa``: plays clips through ALSA's ``aplay`` program (package ``alsa-utils``).

Parameters: ``device`` (optional, an ALSA PCM name such as ``"default"``, ``"plughw:1,0"``),
``aplay`` (optional, the program's path). No Python ALSA binding is needed, so importing this
module works anywhere; a missing ``aplay`` is :class:`AudioNotFound` when the backend opens.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
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


class AlsaAudio(AudioOut):
    """Plays each clip with ``aplay`` and waits for it to finish; plays never overlap."""

    name = "alsa"

    def __init__(self, aplay: str, device: str | None = None) -> None:
        self.aplay = aplay
        self.device = device
        self._lock = threading.Lock()

    @classmethod
    def open(cls, params: dict[str, Any]) -> AlsaAudio:
        """Check the parameters and find ``aplay``; raise AudioNotFound when it is not installed."""
        check_params(cls.name, params, {"device": str, "aplay": str})
        program = params.get("aplay", "aplay")
        found = shutil.which(program)
        if found is None:
            raise AudioNotFound(
                f"audio backend 'alsa': {program!r} not found; install it (apt install alsa-utils) "
                "or choose another audio backend"
            )
        return cls(found, params.get("device"))

    def command(self) -> list[str]:
        """The ``aplay`` command line (reads the WAV from standard input)."""
        return [self.aplay, "-q", *(["-D", self.device] if self.device else []), "-"]

    def play(self, clip: Clip) -> None:
        """Play a clip through ``aplay``; raise PlaybackFailed with aplay's reason when it fails."""
        data = clip_bytes(clip)
        timeout = 2 * wav_duration(data) + 10.0
        with self._lock:
            try:
                done = subprocess.run(self.command(), input=data, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise PlaybackFailed(f"aplay did not finish within {timeout:.0f} s") from None
            except OSError as exc:
                raise PlaybackFailed(f"cannot run {self.aplay}: {exc.strerror}") from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit status {done.returncode}"
            raise PlaybackFailed(f"aplay failed on device {self.device or 'default'}: {reason}")
