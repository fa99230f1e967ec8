"""Audio output for the voice announcer: one small interface, backends chosen by name.

``site.toml``: ``audio = { backend = "alsa", device = "plughw:1,0" }`` under the announcer's
``[[devices]]`` entry. Backends: ``alsa`` (``aplay``), ``file`` (a folder of WAVs), ``sim``
(records, the default). The environment variable ``ONESTOP_AUDIO_BACKEND`` overrides the backend
named in the file (the override is logged; the file's parameters are then not used).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from device_drivers.audio.alsa import AlsaAudio
from device_drivers.audio.base import (
    AudioConfigError,
    AudioError,
    AudioNotFound,
    AudioOut,
    BadClip,
    Clip,
    PlaybackFailed,
    wav_duration,
)
from device_drivers.audio.file import FileAudio
from device_drivers.audio.sim import PlayedClip, SimAudio

__all__ = [
    "BACKENDS",
    "ENV_BACKEND",
    "AlsaAudio",
    "AudioConfigError",
    "AudioError",
    "AudioNotFound",
    "AudioOut",
    "BadClip",
    "Clip",
    "FileAudio",
    "PlaybackFailed",
    "PlayedClip",
    "SimAudio",
    "open_audio",
    "wav_duration",
]

log = logging.getLogger(__name__)

#: The backend names ``site.toml`` may use.
BACKENDS = ("alsa", "file", "sim")
#: Environment variable that overrides the configured backend (e.g. ``sim`` on a laptop).
ENV_BACKEND = "ONESTOP_AUDIO_BACKEND"


def open_audio(
    hardware: Any = None,
    *,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> AudioOut:
    """Open the audio backend a device's ``audio`` table names (``None``: the simulator).

    ``hardware`` is a :class:`onestop.config.Hardware` (``.backend``, ``.params``) or a plain mapping
    with a ``backend`` key. Raises AudioConfigError for an unknown backend or parameter and
    AudioNotFound when the output is missing.
    """
    if hardware is None:
        backend, params = "sim", {}
    elif isinstance(hardware, Mapping):
        params = dict(hardware)
        backend = str(params.pop("backend", "sim"))
    else:
        backend, params = str(hardware.backend), dict(hardware.params)
    override = (os.environ if env is None else env).get(ENV_BACKEND, "").strip()
    if override and override != backend:
        log.warning("audio backend %r replaced by %r from %s", backend, override, ENV_BACKEND)
        backend, params = override, {}
    if backend == "alsa":
        return AlsaAudio.open(params)
    if backend == "file":
        return FileAudio.open(params, data_dir)
    if backend == "sim":
        return SimAudio.open(params)
    raise AudioConfigError(f"unknown audio backend {backend!r}: expected one of {', '.join(BACKENDS)}")
