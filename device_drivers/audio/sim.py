"""``sim``: an audio output that records what it plays (STYLE.md §3: a simulator with two faces).

The app uses it through :class:`~device_drivers.audio.base.AudioOut`. Tests use its other face:
:attr:`SimAudio.played` (each clip's WAV bytes, duration, start and end), :meth:`SimAudio.reset`,
:meth:`SimAudio.hold` / :meth:`SimAudio.release` to keep a clip "playing" until the test lets it
finish, :meth:`SimAudio.wait_played` / :meth:`SimAudio.wait_playing` to wait on progress without
sleeping, and :attr:`SimAudio.max_concurrent` to catch overlapping plays.

Parameter: ``realtime`` (default false): take as long as the clip lasts, for demos.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device_drivers.audio.base import AudioError, AudioOut, Clip, check_params, clip_bytes, wav_duration


@dataclass(frozen=True)
class PlayedClip:
    """One clip the simulator played: its WAV bytes, duration and start/end times (the sim's clock)."""

    wav: bytes
    duration_s: float
    started: float
    ended: float


class SimAudio(AudioOut):
    """Records every played clip; never makes a sound."""

    name = "sim"

    def __init__(self, *, realtime: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.realtime = realtime
        self.clock = clock
        self._cond = threading.Condition()
        self._played: list[PlayedClip] = []
        self._playing = 0
        self._max_concurrent = 0
        self._held = False
        self._closed = False

    @classmethod
    def open(cls, params: dict[str, Any]) -> SimAudio:
        """A simulator from the device's ``audio`` table parameters."""
        check_params(cls.name, params, {"realtime": bool})
        return cls(realtime=bool(params.get("realtime", False)))

    # -- the driver face ---------------------------------------------------------------------
    def play(self, clip: Clip) -> None:
        """Record the clip; block while held (test face), or for its duration when realtime."""
        data = clip_bytes(clip)
        duration = wav_duration(data)
        with self._cond:
            if self._closed:
                raise AudioError("audio backend 'sim' is closed")
            self._playing += 1
            self._max_concurrent = max(self._max_concurrent, self._playing)
            started = self.clock()
            self._cond.notify_all()
            try:
                if self.realtime:
                    self._cond.wait_for(lambda: self._closed, timeout=duration)
                self._cond.wait_for(lambda: not self._held or self._closed)
            finally:
                self._playing -= 1
                self._played.append(PlayedClip(data, duration, started, self.clock()))
                self._cond.notify_all()

    def close(self) -> None:
        """Stop accepting clips and let any held play finish."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- the test face -----------------------------------------------------------------------
    @property
    def played(self) -> list[PlayedClip]:
        """Every finished clip, oldest first (a copy)."""
        with self._cond:
            return list(self._played)

    @property
    def playing(self) -> int:
        """How many plays are in progress right now."""
        with self._cond:
            return self._playing

    @property
    def max_concurrent(self) -> int:
        """The most plays ever in progress at once (1 when plays never overlapped)."""
        with self._cond:
            return self._max_concurrent

    def reset(self) -> None:
        """Forget what was played (does not release a hold)."""
        with self._cond:
            self._played.clear()
            self._max_concurrent = self._playing

    def hold(self) -> None:
        """Keep every clip that starts "playing" until :meth:`release`."""
        with self._cond:
            self._held = True

    def release(self) -> None:
        """Let held clips finish."""
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def wait_played(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` clips have finished; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._played) >= count, timeout=timeout)

    def wait_playing(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``count`` clips are in progress at once (useful with :meth:`hold`); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._playing >= count, timeout=timeout)
