"""Synthetic voice clips for tests: a complete "recorded set" of tones, so that the call pipeline
can be tested exactly and fast, without espeak-ng."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from display_agents.voice import CHIME, CLIP_FILES

#: Every tone lasts this long and ends mid-cycle (a hard edge unless the pipeline fades it).
TONE_S = 0.2
TONE_RATE = 44_100


def tone(freq: float, seconds: float = TONE_S, rate: int = TONE_RATE, amplitude: float = 0.5) -> np.ndarray:
    """A plain sine, starting at phase 0, no envelope."""
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def wav_bytes(x: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    """Samples (mono or frames x channels) to WAV bytes."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def write_tone_set(directory: Path, *, skip: tuple[str, ...] = (CHIME,)) -> dict[str, float]:
    """Write a recorded set of stereo 44.1 kHz tones, one frequency per clip key; return the frequencies.

    The chime is left out by default, so that the synthesised one is used.
    """
    freqs: dict[str, float] = {}
    for i, (key, rel) in enumerate(sorted(CLIP_FILES.items())):
        if key in skip:
            continue
        freq = 221.3 + 7.3 * i  # about 220-600 Hz; 0.2 s is not a whole number of cycles
        freqs[key] = freq
        x = tone(freq)
        stereo = np.stack([x, 0.8 * x], axis=1)
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wav_bytes(stereo, TONE_RATE, "FLOAT"))
    return freqs
