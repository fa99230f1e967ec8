"""``alsa``: plays clips through ALSA's ``aplay`` program (package ``alsa-utils``).

Parameters: ``device`` (optional: an ALSA PCM name such as ``"default"``, ``"plughw:1,0"``, or
one of the aliases ``"hdmi"``, ``"hdmi1"`` (the second HDMI port), ``"usb"``, ``"jack"`` (the
3.5 mm headphone jack), resolved from ``/proc/asound`` when the backend opens: a Raspberry Pi 5 has
no jack, so its speaker is on HDMI or a USB sound card), ``aplay`` (optional, the program's path).
No Python ALSA binding is needed, so importing this module works anywhere; a missing ``aplay`` is
:class:`AudioNotFound` when the backend opens, and so is an alias no card answers to.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
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

#: Where the kernel lists sound cards and their PCM devices.
PROC_ASOUND = Path("/proc/asound")
ALIASES = ("hdmi", "hdmi1", "usb", "jack")


@dataclass(frozen=True)
class Output:
    """A playback device of a sound card, as ALSA names it."""

    card: int
    card_id: str  # e.g. "vc4hdmi0", "Headphones", "Device"
    device: int
    name: str  # e.g. "vc4-hdmi-0", "bcm2835 Headphones", "USB Audio"
    driver: str  # e.g. "vc4-hdmi", "bcm2835_headpho", "USB-Audio"

    @property
    def kind(self) -> str:
        """``hdmi``, ``usb``, ``jack`` or ``other``."""
        text = f"{self.card_id} {self.name} {self.driver}".lower()
        if "hdmi" in text:
            return "hdmi"
        if "usb" in text:
            return "usb"
        if "headphone" in text or "analog" in text:
            return "jack"
        return "other"

    @property
    def pcm(self) -> str:
        """The ALSA device to give ``aplay -D`` (plughw: converts the rate and channels)."""
        return f"plughw:CARD={self.card_id},DEV={self.device}"


def list_outputs(root: Path = PROC_ASOUND) -> list[Output]:
    """Every playback device the kernel lists (``cards`` and ``pcm``), in card order; [] without
    ALSA (a container, a machine with no sound card)."""
    try:
        cards_text = (root / "cards").read_text()
        pcm_text = (root / "pcm").read_text()
    except OSError:
        return []
    cards: dict[int, tuple[str, str]] = {}
    for c in re.finditer(r"^\s*(\d+)\s+\[(\S+)\s*\]:\s*(\S+)", cards_text, re.M):
        cards[int(c.group(1))] = (c.group(2), c.group(3))
    out = []
    for line in pcm_text.splitlines():
        m = re.match(r"(\d+)-(\d+):\s*([^:]*?)\s*:\s*([^:]*?)\s*:(.*)", line)
        if m is None or "playback" not in m.group(5) or int(m.group(1)) not in cards:
            continue
        card_id, driver = cards[int(m.group(1))]
        out.append(Output(int(m.group(1)), card_id, int(m.group(2)), m.group(3), driver))
    return out


def resolve(device: str, root: Path = PROC_ASOUND) -> str:
    """An alias (``hdmi``, ``hdmi1``, ``usb``, ``jack``) as the ALSA device of the card that matches;
    any other name as it is."""
    if device not in ALIASES:
        return device
    kind, nth = ("hdmi", 1) if device == "hdmi1" else (device, 0)
    found = [o for o in list_outputs(root) if o.kind == kind]
    if len(found) <= nth:
        have = ", ".join(f"{o.pcm} ({o.kind})" for o in list_outputs(root)) or "no sound card"
        raise AudioNotFound(
            f"audio device {device!r}: no such output here ({have}); see `onestop announcer devices`"
        )
    return found[nth].pcm


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
        device = params.get("device")
        return cls(found, resolve(device) if device else None)

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
