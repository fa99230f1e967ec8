"""The real voice: espeak-ng's ``vi`` voice generates the clip cache (once per session), and whole
calls are measured. espeak-ng is a system package installed by scripts/bootstrap.sh."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from display_agents.announcer_cli import say, voice_dirs
from display_agents.vietnamese import INVITE, LETTER_NAMES, NUMBER_WORDS, TO_COUNTER
from display_agents.voice import (
    CHIME,
    CLIP_FILES,
    ESPEAK_TEXT,
    LEAD_S,
    PAUSE,
    PAUSE_S,
    SAMPLE_RATE,
    TAIL_S,
    CallBuilder,
    ClipLibrary,
    gap_between,
)
from onestop.config import SiteConfig

pytestmark = pytest.mark.integration

ESPEAK = shutil.which("espeak-ng")


@pytest.fixture(scope="session")
def espeak_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clip cache generated once with espeak-ng for the whole session."""
    if ESPEAK is None:
        pytest.fail("espeak-ng is not installed: run scripts/bootstrap.sh (apt install espeak-ng)")
    cache = tmp_path_factory.mktemp("voice") / "espeak-vi"
    made = ClipLibrary(cache).prepare()
    assert made == len(CLIP_FILES) - 1  # every clip but the synthesised chime
    yield cache


@pytest.fixture
def library(espeak_cache: Path) -> ClipLibrary:
    return ClipLibrary(espeak_cache)


def phonemes(text: str) -> str:
    assert ESPEAK is not None
    done = subprocess.run([ESPEAK, "-q", "-v", "vi", "-x", text], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_vi_voice_honours_tones() -> None:
    """espeak-ng's phoneme output carries a tone number per syllable: the marks are not ignored."""
    pairs = [("một", "mốt"), ("năm", "lăm"), ("mười", "mươi"), ("lẻ", "linh"), ("bốn", "tư")]
    for a, b in pairs:
        assert phonemes(a) != phonemes(b), (a, b)
    assert "6" in phonemes("một") and "3" in phonemes("mốt")  # nặng vs sắc
    assert "2" in phonemes("mười") and "2" not in phonemes("mươi")  # huyền vs ngang
    for word in sorted(NUMBER_WORDS):
        assert any(ch.isdigit() for ch in phonemes(word)), word


def test_cache_is_generated_once_and_described(espeak_cache: Path) -> None:
    lib = ClipLibrary(espeak_cache)
    assert lib.prepare() == 0
    manifest = json.loads((espeak_cache / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["clips"]) == set(CLIP_FILES) - {CHIME}
    assert manifest["clips"]["phrase:xin_moi"]["text"] == INVITE
    assert manifest["clips"]["phrase:den_quay"]["text"] == TO_COUNTER
    assert manifest["settings"]["voice"] == "vi"


def test_a_changed_text_is_regenerated(espeak_cache: Path, tmp_path: Path) -> None:
    copy = tmp_path / "espeak-vi"
    shutil.copytree(espeak_cache, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["clips"]["word:tư"]["text"] = "something else"
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (copy / CLIP_FILES["word:một"]).unlink()
    assert ClipLibrary(copy).prepare() == 2


def test_every_clip_is_speech_of_a_sensible_length(library: ClipLibrary) -> None:
    for key in CLIP_FILES:
        x = library.get(key)
        seconds = len(x) / SAMPLE_RATE
        limit = 3.5 if key.startswith("phrase:") or key == CHIME else 1.2
        assert 0.1 < seconds < limit, (key, seconds)
        assert np.all(np.isfinite(x)) and np.max(np.abs(x)) <= 10 ** (-1 / 20)
    assert len(library.get("phrase:xin_moi")) > 2 * len(library.get("phrase:den_quay"))
    for ch in LETTER_NAMES:
        assert len(library.get(f"letter:{ch}")) > 0.1 * SAMPLE_RATE


def expected_seconds(library: ClipLibrary, clips: list[str]) -> float:
    total = LEAD_S + TAIL_S
    for i, key in enumerate(clips):
        total += PAUSE_S if key == PAUSE else len(library.get(key)) / SAMPLE_RATE
        if i:
            total += gap_between(clips[i - 1], key)
    return total


def test_a012_call_measured(library: ClipLibrary) -> None:
    call = CallBuilder(library).build_call("A012", "3", "digits", "north", 2)
    info = sf.info(io.BytesIO(call.wav))
    x, rate = sf.read(io.BytesIO(call.wav), dtype="float64")
    assert (rate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
    assert np.all(np.isfinite(x))
    assert 20 * np.log10(np.max(np.abs(x))) <= -1.0
    seconds = len(x) / rate
    assert seconds == pytest.approx(expected_seconds(library, call.clips), abs=0.002)
    assert 8.0 < seconds < 25.0

    quiet = np.abs(x) < 1e-4
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = [(a, b - a) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    long_runs = [(a, n) for a, n in runs if n >= 0.5 * rate]
    assert len(long_runs) == 2  # after the chime, between the two sentences
    assert sum(1 for _, n in runs if n >= 0.05 * rate) >= 2 * 6  # a gap between every part
    start1 = long_runs[0][0] + long_runs[0][1]
    start2 = long_runs[1][0] + long_runs[1][1]
    first = x[start1 : long_runs[1][0]]
    assert np.array_equal(first, x[start2 : start2 + len(first)])  # the repetition is the same call


def test_whole_mode_and_dialects_sound_different(library: ClipLibrary) -> None:
    builder = CallBuilder(library)
    digits = builder.build_call("A012", "3", "digits")
    whole = builder.build_call("A012", "3", "whole")
    assert len(whole.wav) < len(digits.wav)
    north = builder.build_call("B024", "24", "whole", "north")
    south = builder.build_call("B024", "24", "whole", "south")
    assert "word:tư" in north.clips and "word:tư" not in south.clips
    assert north.wav != south.wav


def test_say_end_to_end(
    site_cfg: SiteConfig, espeak_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(espeak_cache, voice_dirs(site_cfg)[0])
    out = tmp_path / "call.wav"
    assert say(site_cfg, "A012", "3", "digits", "north", out) == 0
    assert capsys.readouterr().out == "Xin mời công dân có số thứ tự A không một hai đến quầy số ba\n"
    assert sf.info(str(out)).duration > 8.0


def test_espeak_texts_cover_every_clip() -> None:
    assert set(ESPEAK_TEXT) == set(CLIP_FILES) - {CHIME}
