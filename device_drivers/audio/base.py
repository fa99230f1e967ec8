"""The audio output interface every backend implements, its errors, and WAV helpers."""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from onestop.errors import OnestopError

#: What :meth:`AudioOut.play` accepts: the WAV file's bytes or its path.
Clip = bytes | str | os.PathLike[str]


class AudioError(OnestopError, OSError):
    """Root of the audio driver's errors."""


class AudioNotFound(AudioError, FileNotFoundError):
    """The output (the ``aplay`` program, a sound device, a folder) is missing; raised at open time."""


class AudioConfigError(AudioError, ValueError):
    """An unknown backend name or a bad backend parameter in the device's ``audio`` table."""


class BadClip(AudioError, ValueError):
    """A clip that is not a readable WAV file."""


class PlaybackFailed(AudioError):
    """The backend could not play a clip (the player exited with an error, or timed out)."""


def clip_bytes(clip: Clip) -> bytes:
    """The WAV bytes of a clip given as bytes or as a path."""
    if isinstance(clip, bytes | bytearray | memoryview):
        return bytes(clip)
    try:
        return Path(clip).read_bytes()
    except OSError as exc:
        raise BadClip(f"cannot read clip {os.fspath(clip)!r}: {exc.strerror}") from None


def wav_duration(data: bytes) -> float:
    """Duration in seconds of a WAV file held in memory; raises BadClip when it is not a WAV."""
    import soundfile  # type: ignore[import-untyped]  # a declared dependency, imported when used

    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise BadClip(f"not a readable WAV clip ({len(data)} bytes): {exc}") from None
    if info.format != "WAV" or info.samplerate <= 0:
        raise BadClip(f"expected a WAV clip, got {info.format} at {info.samplerate} Hz")
    return float(info.frames) / float(info.samplerate)


def check_params(backend: str, params: dict[str, Any], allowed: dict[str, type | tuple[type, ...]]) -> None:
    """Reject unknown or mistyped backend parameters with one AudioConfigError naming them."""
    problems = []
    for key, value in params.items():
        if key not in allowed:
            problems.append(f"unknown parameter {key!r} (known: {', '.join(sorted(allowed)) or 'none'})")
        elif not isinstance(value, allowed[key]) or isinstance(value, bool) != (allowed[key] is bool):
            problems.append(f"parameter {key!r}: unexpected value {value!r}")
    if problems:
        raise AudioConfigError(f"audio backend {backend!r}: " + "; ".join(problems))


class AudioOut(ABC):
    """An audio output: plays one WAV clip at a time, each call blocking until the clip has played."""

    #: The backend's name in ``site.toml`` (``audio = { backend = "..." }``).
    name: ClassVar[str]

    @abstractmethod
    def play(self, clip: Clip) -> None:
        """Play one WAV clip (bytes or a path) and return when it has finished."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing
        """Release the output; further plays are not allowed."""

    def __enter__(self) -> AudioOut:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
