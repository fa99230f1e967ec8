"""Audio output: one contract for every backend (STYLE.md §4), then each backend's own behaviour.

The ``alsa`` backend runs against a stand-in ``aplay`` script; set ``ONESTOP_TEST_AUDIO_DEVICE``
(e.g. ``default`` or ``plughw:1,0``) on a machine with a sound card to run it on real ALSA too.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from device_drivers.audio import (
    ENV_BACKEND,
    AlsaAudio,
    AudioConfigError,
    AudioError,
    AudioNotFound,
    AudioOut,
    BadClip,
    FileAudio,
    PlaybackFailed,
    SimAudio,
    open_audio,
    wav_duration,
)
from onestop.config import Hardware
from onestop.errors import OnestopError
from tests.utils.voice import tone, wav_bytes

CLIP = wav_bytes(tone(440.0, 0.25, 22_050), 22_050)


def fake_aplay(directory: Path, *, fail: str | None = None) -> Path:
    """A stand-in ``aplay``: records its arguments and the WAV it reads from stdin (or fails)."""
    script = directory / "aplay"
    body = (
        f'echo "{fail}" >&2; exit 1'
        if fail
        else f'echo "$@" >> "{directory}/args"; cat > "{directory}/played-$(date +%s%N).wav"'
    )
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def open_alsa(tmp: Path) -> AudioOut:
    device = os.environ.get("ONESTOP_TEST_AUDIO_DEVICE")
    if device:
        return open_audio({"backend": "alsa", "device": device})
    return open_audio({"backend": "alsa", "aplay": str(fake_aplay(tmp))})


BACKENDS: dict[str, Callable[[Path], AudioOut]] = {
    "sim": lambda tmp: open_audio(None),
    "file": lambda tmp: open_audio({"backend": "file", "dir": str(tmp / "out")}),
    "alsa": open_alsa,
}


@pytest.fixture(params=sorted(BACKENDS))
def audio(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AudioOut]:
    out = BACKENDS[request.param](tmp_path)
    yield out
    out.close()


# -- the contract -------------------------------------------------------------------------------


def test_plays_bytes_and_paths(audio: AudioOut, tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    path.write_bytes(CLIP)
    audio.play(CLIP)
    audio.play(path)
    audio.play(str(path))


def test_refuses_what_is_not_a_wav(audio: AudioOut, tmp_path: Path) -> None:
    with pytest.raises(BadClip):
        audio.play(b"RIFF? no, just text")
    with pytest.raises(BadClip):
        audio.play(tmp_path / "missing.wav")


def test_is_a_context_manager(audio: AudioOut) -> None:
    with audio as same:
        assert same is audio


def test_error_family() -> None:
    for cls in (AudioNotFound, AudioConfigError, BadClip, PlaybackFailed):
        assert issubclass(cls, AudioError)
    assert issubclass(AudioError, OnestopError) and issubclass(AudioError, OSError)
    assert issubclass(AudioNotFound, FileNotFoundError)
    assert issubclass(AudioConfigError, ValueError)


def test_wav_duration() -> None:
    assert wav_duration(CLIP) == pytest.approx(0.25, abs=1e-4)


# -- choosing a backend -------------------------------------------------------------------------


def test_backends_by_name(tmp_path: Path) -> None:
    assert isinstance(open_audio(None), SimAudio)
    assert isinstance(open_audio(Hardware()), SimAudio)
    assert isinstance(open_audio(Hardware(backend="file", dir=str(tmp_path))), FileAudio)
    assert isinstance(open_audio({"backend": "alsa", "aplay": str(fake_aplay(tmp_path))}), AlsaAudio)


def test_unknown_backend_and_parameters() -> None:
    with pytest.raises(AudioConfigError, match="unknown audio backend 'pulse'"):
        open_audio({"backend": "pulse"})
    with pytest.raises(AudioConfigError, match="unknown parameter 'volume'"):
        open_audio({"backend": "sim", "volume": 3})
    with pytest.raises(AudioConfigError, match="'realtime'"):
        open_audio({"backend": "sim", "realtime": "yes"})
    with pytest.raises(AudioConfigError, match="'device'"):
        open_audio({"backend": "alsa", "device": 1})


def test_environment_overrides_the_backend(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        out = open_audio({"backend": "alsa", "device": "hw:9"}, env={ENV_BACKEND: "sim"})
    assert isinstance(out, SimAudio)
    assert "replaced by 'sim'" in caplog.text


def test_importing_needs_no_alsa(tmp_path: Path) -> None:
    code = "import device_drivers.audio as a, display_agents.voice, display_agents.call_queue; print('ok')"
    env = {**os.environ, "PATH": str(tmp_path)}  # no aplay, no espeak-ng
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr


# -- alsa -----------------------------------------------------------------------------------------


def test_alsa_missing_aplay_is_a_named_error_at_open() -> None:
    with pytest.raises(AudioNotFound, match="apt install alsa-utils") as info:
        open_audio({"backend": "alsa", "aplay": "/nonexistent/aplay"})
    assert isinstance(info.value, OSError)


def test_alsa_pipes_the_wav_to_aplay(tmp_path: Path) -> None:
    out = open_audio({"backend": "alsa", "aplay": str(fake_aplay(tmp_path)), "device": "plughw:1,0"})
    out.play(CLIP)
    assert (tmp_path / "args").read_text().split() == ["-q", "-D", "plughw:1,0", "-"]
    [played] = list(tmp_path.glob("played-*.wav"))
    assert played.read_bytes() == CLIP


def test_alsa_failure_names_aplays_reason(tmp_path: Path) -> None:
    out = AlsaAudio.open({"aplay": str(fake_aplay(tmp_path, fail="aplay: main:831: audio open error"))})
    with pytest.raises(PlaybackFailed, match="audio open error"):
        out.play(CLIP)


# -- file -----------------------------------------------------------------------------------------


def test_file_numbers_clips_and_never_overwrites(tmp_path: Path) -> None:
    out = open_audio({"backend": "file", "dir": "calls"}, data_dir=tmp_path)
    out.play(CLIP)
    out.play(CLIP)
    assert sorted(p.name for p in (tmp_path / "calls").iterdir()) == ["clip-000001.wav", "clip-000002.wav"]
    again = open_audio({"backend": "file", "dir": "calls"}, data_dir=tmp_path)
    again.play(CLIP)
    assert (tmp_path / "calls" / "clip-000003.wav").read_bytes() == CLIP


def test_file_unusable_folder_is_a_named_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(AudioNotFound, match="cannot create"):
        open_audio({"backend": "file", "dir": str(tmp_path / "taken" / "calls")})


# -- sim ------------------------------------------------------------------------------------------


def test_sim_records_bytes_duration_and_times() -> None:
    ticks = iter(range(100))
    sim = SimAudio(clock=lambda: float(next(ticks)))
    sim.play(CLIP)
    sim.play(CLIP)
    [a, b] = sim.played
    assert a.wav == CLIP and a.duration_s == pytest.approx(0.25, abs=1e-4)
    assert (a.started, a.ended, b.started, b.ended) == (0.0, 1.0, 2.0, 3.0)
    sim.reset()
    assert sim.played == [] and sim.max_concurrent == 0


def test_sim_hold_and_overlap_detection() -> None:
    """The sim catches two plays at once: the queue tests rely on this."""
    sim = SimAudio()
    sim.hold()
    threads = [threading.Thread(target=sim.play, args=(CLIP,)) for _ in range(2)]
    for t in threads:
        t.start()
    assert sim.wait_playing(2)
    assert sim.played == []
    sim.release()
    for t in threads:
        t.join(5)
    assert sim.wait_played(2)
    assert sim.max_concurrent == 2


def test_sim_closed_refuses_plays() -> None:
    sim = SimAudio()
    sim.close()
    with pytest.raises(AudioError, match="closed"):
        sim.play(CLIP)


def test_sim_realtime_parameter() -> None:
    sim = open_audio({"backend": "sim", "realtime": True})
    assert isinstance(sim, SimAudio) and sim.realtime
    silent = wav_bytes(np.zeros(10), 22_050)
    sim.play(silent)  # 10 samples: returns at once
    assert len(sim.played) == 1
