"""The call pipeline on a synthetic recorded set (tones): exact clip sequences and a measured WAV.

espeak-ng is never run here (its path is set to a missing program, so a call for it fails the
test); tests/integration/test_voice_espeak.py runs the real voice.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from display_agents.vietnamese import LETTER_NAMES, NUMBER_WORDS, NotReadable
from display_agents.voice import (
    BREAK,
    CHIME,
    CHIME_PEAK_DBFS,
    CLIP_FILES,
    DEN_QUAY,
    LEAD_S,
    PAUSE,
    PAUSE_S,
    PHRASE_GAP_S,
    SAMPLE_RATE,
    TAIL_S,
    WORD_FILES,
    WORD_GAP_S,
    XIN_MOI,
    CallBuilder,
    ClipLibrary,
    EspeakMissing,
    call_clips,
    chime,
    fade,
    joined_clips,
    resample,
    sentence_clips,
    trim,
)
from onestop.errors import OnestopError
from tests.utils.voice import TONE_S, write_tone_set

NO_ESPEAK = "/nonexistent/espeak-ng"

A012_DIGITS = [
    XIN_MOI,
    "letter:A",
    "word:không",
    "word:một",
    "word:hai",
    DEN_QUAY,
    "word:ba",
]
A012_WHOLE = [XIN_MOI, "letter:A", "word:mười", "word:hai", DEN_QUAY, "word:ba"]


@pytest.fixture
def tones(tmp_path: Path) -> ClipLibrary:
    """A library whose every clip (but the chime) is a recorded 0.2 s tone."""
    write_tone_set(tmp_path / "recorded")
    return ClipLibrary(tmp_path / "cache", tmp_path / "recorded", espeak=NO_ESPEAK)


def read(wav: bytes) -> tuple[np.ndarray, int, sf._SoundFileInfo]:
    info = sf.info(io.BytesIO(wav))
    x, rate = sf.read(io.BytesIO(wav), dtype="float64")
    return x, rate, info


def silent_runs(x: np.ndarray, min_s: float, level: float = 1e-4) -> list[tuple[float, float]]:
    """(start, length) in seconds of every run of near-silence at least ``min_s`` long."""
    quiet = np.abs(x) < level
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = [(a / SAMPLE_RATE, (b - a) / SAMPLE_RATE) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return [(a, n) for a, n in runs if n >= min_s]


# -- clip keys ------------------------------------------------------------------------------------


def test_every_word_and_letter_has_a_clip_file() -> None:
    assert set(WORD_FILES) == NUMBER_WORDS
    assert {k for k in CLIP_FILES if k.startswith("word:")} == {f"word:{w}" for w in NUMBER_WORDS}
    assert {k for k in CLIP_FILES if k.startswith("letter:")} == {f"letter:{c}" for c in LETTER_NAMES}
    files = list(CLIP_FILES.values())
    assert len(set(files)) == len(files)
    assert all(f.isascii() for f in files)


def test_sentence_clips_for_a012_at_counter_3() -> None:
    assert sentence_clips("A012", "3", "digits") == A012_DIGITS
    assert sentence_clips("A012", "Quầy 3", "whole") == A012_WHOLE


def test_call_clips_for_a012_at_counter_3() -> None:
    assert call_clips("A012", "3", "digits", "north", 2) == [CHIME, PAUSE, *A012_DIGITS, PAUSE, *A012_DIGITS]
    assert call_clips("A012", "3", "whole", "north", 2) == [CHIME, PAUSE, *A012_WHOLE, PAUSE, *A012_WHOLE]
    assert call_clips("A012", "3", "whole", "north", 1) == [CHIME, PAUSE, *A012_WHOLE]


def test_clip_keys_follow_the_dialect() -> None:
    assert sentence_clips("B024", "101", "whole", "south") == [
        XIN_MOI,
        "letter:B",
        *["word:hai", "word:mươi", "word:bốn"],
        DEN_QUAY,
        *["word:một", "word:trăm", "word:lẻ", "word:một"],
    ]
    assert sentence_clips("B024", "1000", "whole", "north")[2:5] == ["word:hai", "word:mươi", "word:tư"]
    assert sentence_clips("B024", "1000", "whole", "north")[-2:] == ["word:một", "word:nghìn"]


def test_two_letter_prefix_is_read_letter_by_letter() -> None:
    assert sentence_clips("AB7", "1", "digits")[:4] == [XIN_MOI, "letter:A", "letter:B", "word:bảy"]


def test_bad_requests_are_named_errors() -> None:
    with pytest.raises(NotReadable):
        call_clips("A012", "3", repeat=0)
    with pytest.raises(NotReadable):
        call_clips("12A", "3")


# -- signal helpers ---------------------------------------------------------------------------------


def test_chime_is_a_clean_two_tone() -> None:
    x = chime()
    assert len(x) == round(1.6 * SAMPLE_RATE)
    assert np.all(np.isfinite(x))
    assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(CHIME_PEAK_DBFS, abs=0.01)
    assert abs(x[0]) < 1e-3 and abs(x[-1]) < 1e-3
    first, second = x[: SAMPLE_RATE // 2], x[SAMPLE_RATE // 2 + 2000 : SAMPLE_RATE]

    def main_freq(seg: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
        return float(np.fft.rfftfreq(len(seg), 1 / SAMPLE_RATE)[np.argmax(spectrum)])

    assert main_freq(first) == pytest.approx(659.3, abs=4)
    assert main_freq(second) == pytest.approx(523.3, abs=4)


def test_resample_keeps_pitch_and_removes_what_cannot_be_kept() -> None:
    t = np.arange(44_100) / 44_100
    low = resample(np.sin(2 * np.pi * 1000 * t), 44_100)
    assert len(low) == 22_050
    spectrum = np.abs(np.fft.rfft(low))
    assert np.fft.rfftfreq(len(low), 1 / 22_050)[np.argmax(spectrum)] == pytest.approx(1000, abs=2)
    high = resample(np.sin(2 * np.pi * 15_000 * t), 44_100)  # above the new Nyquist (11,025 Hz)
    assert np.max(np.abs(high[200:-200])) < 0.05  # not folded back as a 7 kHz alias
    assert len(resample(np.ones(100), 8000)) == round(100 * 22_050 / 8000)


def test_trim_and_fade() -> None:
    x = np.concatenate([np.zeros(1000), np.ones(500), np.zeros(1000)])
    cut = trim(x)
    margin = round(0.01 * SAMPLE_RATE)
    assert len(cut) == 500 + 2 * margin
    faded = fade(np.ones(1000))
    assert faded[0] == 0.0 and faded[-1] < 0.01 and faded[500] == 1.0
    assert len(trim(np.zeros(10))) == 0


# -- the library ------------------------------------------------------------------------------------


def test_recorded_set_takes_precedence(tones: ClipLibrary) -> None:
    assert tones.source("word:một") == "recorded"
    assert tones.source(CHIME) == "synth"
    assert tones.prepare() == 0  # nothing to generate: espeak-ng is never needed
    clip = tones.get("word:một")
    assert len(clip) == pytest.approx(TONE_S * SAMPLE_RATE, abs=3)  # 44.1 kHz stereo in, 22.05 kHz mono out
    assert 20 * np.log10(np.max(np.abs(clip))) == pytest.approx(-3.0, abs=0.01)
    assert abs(clip[0]) < 0.01 and abs(clip[-1]) < 0.01  # faded at both ends


def test_a_recorded_chime_replaces_the_synthesised_one(tmp_path: Path) -> None:
    write_tone_set(tmp_path / "rec", skip=())
    lib = ClipLibrary(tmp_path / "cache", tmp_path / "rec", espeak=NO_ESPEAK)
    assert lib.source(CHIME) == "recorded"
    assert len(lib.get(CHIME)) == pytest.approx(TONE_S * SAMPLE_RATE, abs=3)


def test_missing_espeak_is_a_clear_named_error(tmp_path: Path) -> None:
    lib = ClipLibrary(tmp_path / "cache", tmp_path / "no-recorded-set", espeak=NO_ESPEAK)
    assert lib.get(CHIME) is not None  # the chime needs no voice
    with pytest.raises(EspeakMissing, match="apt install espeak-ng") as info:
        lib.get("word:một")
    assert "recorded" in str(info.value)
    assert isinstance(info.value, OnestopError) and isinstance(info.value, FileNotFoundError)


def test_incomplete_recorded_set_is_announced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_tone_set(tmp_path / "rec")
    (tmp_path / "rec" / CLIP_FILES["word:tư"]).unlink()
    lib = ClipLibrary(tmp_path / "cache", tmp_path / "rec", espeak=NO_ESPEAK)
    with pytest.raises(EspeakMissing):
        lib.prepare()
    assert "lacks 1 clip(s) (words/tuw.wav)" in caplog.text


# -- a whole call, measured -------------------------------------------------------------------------


def test_call_wav_measured(tones: ClipLibrary) -> None:
    call = CallBuilder(tones).build_call("A012", "3", "digits", "north", 2)
    assert call.text == "Xin mời công dân có số thứ tự A không một hai đến quầy số ba"
    x, rate, info = read(call.wav)
    assert (rate, info.channels, info.subtype, info.format) == (SAMPLE_RATE, 1, "PCM_16", "WAV")
    assert np.all(np.isfinite(x))
    assert 20 * np.log10(np.max(np.abs(x))) <= -1.0

    # Duration: every clip, every gap, the pauses, lead and tail.
    clips = [k for k in call.clips if k != PAUSE]
    sound = sum(len(tones.get(k)) for k in clips) / SAMPLE_RATE
    # per sentence: 3 gaps next to a phrase and 3 between the letter and the words
    expected = LEAD_S + sound + 2 * (3 * PHRASE_GAP_S + 3 * WORD_GAP_S) + 2 * PAUSE_S + TAIL_S
    assert len(x) / rate == pytest.approx(expected, abs=0.002)
    assert 1.6 + 14 * TONE_S < len(x) / rate < 1.6 + 14 * TONE_S + 3.0  # chime + 2 x 7 clips

    # Silences: the two pauses are the only long ones; every clip is separated by a gap.
    long_gaps = silent_runs(x, 0.5)
    assert [round(n, 2) for _, n in long_gaps] == [pytest.approx(PAUSE_S, abs=0.05)] * 2
    assert len(silent_runs(x, 0.04)) >= len(clips) - 1

    # The two repetitions are the same samples.
    chime_end, pause2_end = long_gaps[0][0], long_gaps[1][0] + long_gaps[1][1]
    first = x[round((long_gaps[0][0] + long_gaps[0][1]) * rate) : round(long_gaps[1][0] * rate)]
    second = x[round(pause2_end * rate) : round(pause2_end * rate) + len(first)]
    assert len(first) > rate and np.array_equal(first, second)
    assert chime_end == pytest.approx(LEAD_S + 1.6, abs=0.05)

    # No clicks: the tones (under 600 Hz, so steps of at most 2*pi*600*0.708/22050 = 0.121) end
    # mid-cycle, where an unfaded edge would jump by up to 0.7.
    speech = x[round((long_gaps[0][0] + long_gaps[0][1]) * rate) :]
    assert np.max(np.abs(np.diff(speech))) < 0.125


def test_whole_mode_is_shorter_and_repeat_counts(tones: ClipLibrary) -> None:
    builder = CallBuilder(tones)
    digits = read(builder.build_call("A012", "3", "digits", repeat=2).wav)[0]
    whole = read(builder.build_call("A012", "3", "whole", repeat=2).wav)[0]
    once = read(builder.build_call("A012", "3", "whole", repeat=1).wav)[0]
    assert len(whole) < len(digits)
    assert len(silent_runs(once, 0.5)) == 1 and len(silent_runs(whole, 0.5)) == 2


def test_calls_are_cached(tones: ClipLibrary) -> None:
    builder = CallBuilder(tones, cache_size=1)
    a = builder.build_call("A012", "3")
    assert builder.build_call("A012", "Quầy 3") is a  # same clips, same call
    builder.build_call("A013", "3")
    assert builder.build_call("A012", "3") is not a  # evicted


def test_joined_calls_say_the_invitation_once_and_each_number_once(tones: ClipLibrary) -> None:
    clips = joined_clips([("A012", "3"), ("B004", "5")], "digits")
    short = [
        "~phrase:so",
        "~letter:B",
        "~word:không",
        "~word:không",
        "~word:bốn",
        "~phrase:quay",
        "~word:năm",
    ]
    assert clips == [CHIME, PAUSE, *A012_DIGITS, BREAK, *short]  # "…, số B không không bốn, quầy năm"
    assert clips.count(XIN_MOI) == 1 and clips.count(CHIME) == 1
    # Straight after another announcement: no chime, every call in the short form.
    assert joined_clips([("B004", "5")], "digits", chime=False) == [BREAK, *short]
    builder = CallBuilder(tones)
    starts, length = builder.timeline(clips)
    wav = builder.build_joined([("A012", "3"), ("B004", "5")]).wav
    x, rate, _ = read(wav)
    assert abs(len(x) / rate - length) < 2 / rate  # the timeline is the WAV's
    full = builder.build_call("A012", "3", "digits", "north", 2).wav
    one_each = read(full)[0].size / rate * 2  # two calls played in full, one after the other
    assert length < 0.6 * one_each
    # B004's number starts right after the break (where the bench measures its delay from)
    assert starts[clips.index(BREAK) + 1] > starts[clips.index(BREAK)]
    with pytest.raises(ValueError):
        joined_clips([])
    text = builder.build_joined([("A012", "3"), ("B004", "5")]).text
    assert (
        text == "Xin mời công dân có số thứ tự A không một hai đến quầy số ba; số B không không bốn, quầy năm"
    )
