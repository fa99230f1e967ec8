"""The voice call as audio: a library of clips (chime, phrase parts, number words, letter names)
joined into one WAV per call (ARCHITECTURE.md §5 "Voice").

Where clips come from, in order of precedence:

1. a **recorded set** (human voice) in ``recorded_dir`` (default ``{data_dir}/voice/recorded``),
   laid out like the cache below: ``chime.wav``, ``phrases/xin_moi.wav``, ``phrases/den_quay.wav``,
   ``words/<word in Telex, tone key last>.wav`` (``mootj`` một, ``moots`` mốt, ``muwowif`` mười,
   ``muwowi`` mươi; see :data:`CLIP_FILES`), ``letters/A.wav`` ... ``letters/Z.wav``. Any sample
   rate, any channel count, any format soundfile reads; clips are trimmed and levelled on load.
   Missing files are filled from espeak-ng, with a warning naming them.
2. **espeak-ng's** ``vi`` voice, generated once into ``cache_dir`` (default
   ``{data_dir}/voice/espeak-vi``) with a ``manifest.json`` recording the text and settings.
3. the **chime** is synthesised here (a two-tone "ding-dong"), unless the recorded set has one.

A call is: chime, pause, the sentence, then the sentence again after a pause (``repeat`` times in
all), at 22,050 Hz mono 16-bit, with short gaps between words, 5 ms fades on every clip edge and
the peak at -3 dBFS (never above -1 dBFS).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import soundfile  # type: ignore[import-untyped]

from display_agents.vietnamese import (
    INVITE,
    LETTER_NAMES,
    TO_COUNTER,
    Dialect,
    Mode,
    NotReadable,
    call_sentence,
    counter_number,
    letter_name,
    number_words,
    split_ticket,
    ticket_words,
)
from onestop.durable import atomic_write
from onestop.errors import OnestopError

log = logging.getLogger(__name__)

Audio = npt.NDArray[np.float64]

#: Sample rate of every joined call (espeak-ng's native rate).
SAMPLE_RATE = 22_050
#: espeak-ng settings: a slower rate than its default 175 words a minute, and an amplitude that
#: does not clip (at 100 its Vietnamese voice hits full scale).
ESPEAK_RATE = 135
ESPEAK_AMPLITUDE = 70

CHIME = "chime"
PAUSE = "pause"  # not a clip: a silence of PAUSE_S in the sequence
BREAK = "break"  # not a clip: a silence of BREAK_S between the calls of a joined announcement
XIN_MOI = "phrase:xin_moi"
DEN_QUAY = "phrase:den_quay"
SO = "phrase:so"  # "số": a call in a run of calls ("số B004, quầy 5")
QUAY = "phrase:quay"  # "quầy"
FAST = "~"  # before a clip key: said at the faster rate of a run of calls (CallBuilder's ``fast``)
#: espeak-ng's rate for the short form in a run of calls (``[announcer] busy_rate``).
BUSY_RATE = 165

PAUSE_S = 0.6  # after the chime and between repetitions
BREAK_S = 0.3  # between two calls joined into one announcement
PHRASE_GAP_S = 0.15  # around the phrase parts
WORD_GAP_S = 0.08  # between number words and letters
LEAD_S = 0.05
TAIL_S = 0.3
FADE_S = 0.005
SPEECH_PEAK_DBFS = -3.0
CHIME_PEAK_DBFS = -4.0
MAX_PEAK_DBFS = -1.0

#: Recorded-set and cache file names of the number words: Telex spelling, tone key last.
WORD_FILES = {
    "không": "khoong",
    "một": "mootj",
    "mốt": "moots",
    "hai": "hai",
    "ba": "ba",
    "bốn": "boons",
    "tư": "tuw",
    "năm": "nawm",
    "lăm": "lawm",
    "sáu": "saus",
    "bảy": "bayr",
    "tám": "tams",
    "chín": "chins",
    "mười": "muwowif",
    "mươi": "muwowi",
    "trăm": "trawm",
    "nghìn": "nghinf",
    "ngàn": "nganf",
    "triệu": "trieeuj",
    "linh": "linh",
    "lẻ": "ler",
}
#: Every clip key and its file, relative to a clip folder (the cache or a recorded set).
CLIP_FILES: dict[str, str] = {
    CHIME: "chime.wav",
    XIN_MOI: "phrases/xin_moi.wav",
    DEN_QUAY: "phrases/den_quay.wav",
    SO: "phrases/so.wav",
    QUAY: "phrases/quay.wav",
    **{f"word:{w}": f"words/{name}.wav" for w, name in WORD_FILES.items()},
    **{f"letter:{ch}": f"letters/{'DD' if ch == 'Đ' else ch}.wav" for ch in LETTER_NAMES},
}

#: What espeak-ng is given for each clip (J's Vietnamese name "gi" alone is read as a bare consonant).
ESPEAK_TEXT: dict[str, str] = {
    XIN_MOI: INVITE,
    DEN_QUAY: TO_COUNTER,
    SO: "số",
    QUAY: "quầy",
    **{f"word:{w}": w for w in WORD_FILES},
    **{f"letter:{ch}": name for ch, name in LETTER_NAMES.items()},
    "letter:J": "di",
}


class VoiceError(OnestopError):
    """Root of the voice pipeline's errors."""


class EspeakMissing(VoiceError, FileNotFoundError):
    """Clips must be generated but espeak-ng is not installed."""


class ClipError(VoiceError, OSError):
    """A clip could not be generated or read."""


class Call(NamedTuple):
    """One built call: the sentence (once), the clip keys in playing order, the WAV file's bytes."""

    text: str
    clips: list[str]
    wav: bytes


# ---------------------------------------------------------------------------------------------
# Signal helpers
# ---------------------------------------------------------------------------------------------


def db_to_gain(db: float) -> float:
    """Linear gain of a level in dB (dBFS for a peak)."""
    return float(10 ** (db / 20))


def silence(seconds: float) -> Audio:
    """A silence of this length at :data:`SAMPLE_RATE`."""
    return np.zeros(round(seconds * SAMPLE_RATE))


def resample(x: Audio, rate_in: int, rate_out: int = SAMPLE_RATE) -> Audio:
    """Resample mono audio (windowed-sinc low-pass when going down, then linear interpolation)."""
    if rate_in == rate_out or len(x) == 0:
        return x
    if rate_out < rate_in:
        cutoff = 0.45 * rate_out / rate_in  # of the input rate
        taps = np.arange(-64, 65)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.blackman(len(taps))
        x = np.convolve(x, kernel / kernel.sum(), mode="same")
    n_out = round(len(x) * rate_out / rate_in)
    return np.interp(np.arange(n_out) * (rate_in / rate_out), np.arange(len(x)), x)


def fade(x: Audio, seconds: float = FADE_S) -> Audio:
    """Short linear fade-in and fade-out, so that no clip edge clicks."""
    n = min(round(seconds * SAMPLE_RATE), len(x) // 2)
    if n == 0:
        return x
    out = x.copy()
    ramp = np.linspace(0.0, 1.0, n, endpoint=False)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def trim(x: Audio, threshold_db: float = -40.0, margin_s: float = 0.01) -> Audio:
    """Cut leading and trailing silence (below ``threshold_db`` of the clip's peak), keeping a margin."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak == 0.0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) >= peak * db_to_gain(threshold_db))
    margin = round(margin_s * SAMPLE_RATE)
    return x[max(int(loud[0]) - margin, 0) : min(int(loud[-1]) + margin + 1, len(x))]


def normalise(x: Audio, peak_dbfs: float) -> Audio:
    """Scale so that the peak sits at ``peak_dbfs``."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return x if peak == 0.0 else x * (db_to_gain(peak_dbfs) / peak)


def chime(rate: int = SAMPLE_RATE) -> Audio:
    """A two-tone "ding-dong" (E5 then C5, with soft overtones and a bell-like decay)."""
    total = np.zeros(round(1.6 * rate))
    for start_s, freq in ((0.0, 659.26), (0.5, 523.25)):
        t = np.arange(round(1.1 * rate)) / rate
        tone = sum(a * np.sin(2 * np.pi * freq * k * t) for k, a in ((1, 1.0), (2, 0.3), (3, 0.1)))
        envelope = np.minimum(t / 0.008, 1.0) * np.exp(-t / 0.35)
        start = round(start_s * rate)
        total[start : start + len(t)] += tone * envelope
    return normalise(fade(total, 0.03), CHIME_PEAK_DBFS)


def decode(data: bytes | Path) -> Audio:
    """Read an audio file to mono float samples at :data:`SAMPLE_RATE`."""
    source: Any = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    try:
        x, rate = soundfile.read(source, dtype="float64", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise ClipError(f"cannot read audio {data if isinstance(data, Path) else '<bytes>'}: {exc}") from None
    return resample(np.asarray(x.mean(axis=1), dtype=np.float64), int(rate))


def encode(x: Audio) -> bytes:
    """Mono float samples to a 16-bit PCM WAV file at :data:`SAMPLE_RATE`."""
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    soundfile.write(buf, pcm, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# The clip library
# ---------------------------------------------------------------------------------------------


class ClipLibrary:
    """The clips of every phrase part, from a recorded set, the espeak-ng cache, or synthesis."""

    def __init__(
        self,
        cache_dir: Path,
        recorded_dir: Path | None = None,
        *,
        espeak: str = "espeak-ng",
        voice: str = "vi",
        rate: int = ESPEAK_RATE,
        amplitude: int = ESPEAK_AMPLITUDE,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.recorded_dir = Path(recorded_dir) if recorded_dir is not None else None
        self.espeak = espeak
        self.settings = {"voice": voice, "rate": rate, "amplitude": amplitude}
        self._lock = threading.Lock()
        self._clips: dict[str, Audio] = {}
        self._warned_missing = False

    @staticmethod
    def keys() -> list[str]:
        """Every clip key, chime first."""
        return list(CLIP_FILES)

    def recorded(self, key: str) -> Path | None:
        """The recorded file for a key, when a recorded set has one."""
        if self.recorded_dir is None:
            return None
        path = self.recorded_dir / CLIP_FILES[key]
        return path if path.is_file() else None

    def source(self, key: str) -> str:
        """Where a clip comes from: "recorded", "espeak" or "synth" (the chime)."""
        if self.recorded(key):
            return "recorded"
        return "synth" if key == CHIME else "espeak"

    def prepare(self, keys: Iterable[str] | None = None) -> int:
        """Generate the espeak-ng clips that are missing from the cache; return how many were made."""
        wanted = [k for k in (self.keys() if keys is None else keys) if k != PAUSE]
        with self._lock:
            return self._prepare(wanted)

    def get(self, key: str) -> Audio:
        """A clip's samples, trimmed, faded and levelled (generated first if needed)."""
        with self._lock:
            hit = self._clips.get(key)
            if hit is None:
                if key not in CLIP_FILES:
                    raise KeyError(f"unknown clip {key!r}")
                if self.source(key) == "espeak":
                    self._prepare(self.keys())  # the first miss generates the whole set, once
                hit = self._clips[key] = self._load(key)
            return hit

    # -- internals (called with the lock held) -----------------------------------------------
    def _load(self, key: str) -> Audio:
        path = self.recorded(key)
        if path is None and key == CHIME:
            return chime()
        x = decode(path or self.cache_dir / CLIP_FILES[key])
        x = trim(x)
        if len(x) == 0:
            raise ClipError(f"clip {key!r} ({path or 'espeak-ng'}) is silent")
        return fade(normalise(x, CHIME_PEAK_DBFS if key == CHIME else SPEECH_PEAK_DBFS))

    def _manifest_path(self) -> Path:
        return self.cache_dir / "manifest.json"

    def _read_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self._manifest_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("settings") == self.settings else {}

    def _cached(self, key: str, known: dict[str, Any]) -> bool:
        entry = known.get(key)
        same_text = isinstance(entry, dict) and entry.get("text") == ESPEAK_TEXT[key]
        return same_text and (self.cache_dir / CLIP_FILES[key]).is_file()

    def _warn_incomplete_set(self) -> None:
        if self.recorded_dir is None or not self.recorded_dir.is_dir():
            return
        missing = [CLIP_FILES[k] for k in self.keys() if k != CHIME and not self.recorded(k)]
        log.warning(
            "recorded voice set %s lacks %d clip(s) (%s%s): using espeak-ng for them",
            self.recorded_dir,
            len(missing),
            ", ".join(missing[:5]),
            " ..." if len(missing) > 5 else "",
        )
        self._warned_missing = True

    def _prepare(self, wanted: list[str]) -> int:
        from_espeak = [k for k in wanted if k != CHIME and not self.recorded(k)]
        if from_espeak and not self._warned_missing:
            self._warn_incomplete_set()
        known: dict[str, Any] = self._read_manifest().get("clips", {})
        todo = [k for k in from_espeak if not self._cached(k, known)]
        if not todo:
            return 0
        program = shutil.which(self.espeak)
        if program is None:
            where = self.recorded_dir or "a recorded set folder"
            raise EspeakMissing(
                f"{self.espeak} is not installed, and voice clips are missing from {self.cache_dir}: "
                f"apt install espeak-ng, or install a recorded clip set in {where}"
            )
        log.info(
            "generating %d voice clip(s) with %s (voice %s, rate %s) into %s",
            len(todo),
            program,
            self.settings["voice"],
            self.settings["rate"],
            self.cache_dir,
        )
        for key in todo:
            self._espeak(program, key)
            known[key] = {"file": CLIP_FILES[key], "text": ESPEAK_TEXT[key]}
            self._clips.pop(key, None)
        manifest = {"engine": "espeak-ng", "settings": self.settings, "clips": known}
        try:
            # Durable like the clips it lists: after a power cut the manifest never names a clip that
            # is not on the disk whole (onestop.durable).
            text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True)
            atomic_write(self._manifest_path(), text.encode("utf-8"))
        except OSError as exc:
            raise ClipError(f"cannot write {self._manifest_path()}: {exc.strerror}") from None
        return len(todo)

    def _espeak(self, program: str, key: str) -> None:
        self._espeak_text(program, ESPEAK_TEXT[key], self.cache_dir / CLIP_FILES[key])

    def _espeak_text(self, program: str, text: str, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".wav", dir=target.parent)
        except OSError as exc:
            raise ClipError(f"cannot write voice clips into {target.parent}: {exc.strerror}") from None
        os.close(fd)
        s = self.settings
        cmd = [program, "-v", str(s["voice"]), "-s", str(s["rate"]), "-a", str(s["amplitude"]), "-w", tmp]
        try:
            done = subprocess.run([*cmd, text], capture_output=True, timeout=60)
            if done.returncode != 0 or os.path.getsize(tmp) <= 44:
                reason = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
                raise ClipError(f"espeak-ng could not say {text!r}: {reason}")
            with open(tmp, "rb") as f:  # the clip's content reaches the disk before its name does
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except subprocess.TimeoutExpired:
            raise ClipError(f"espeak-ng did not finish saying {text!r}") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        log.debug("voice clip %s <- %r", target, text)

    # -- free text (the kiosk's read-aloud) ---------------------------------------------------
    def say(self, text: str) -> Audio:
        """Any Vietnamese sentence, with the same voice and levels as the calls: generated by
        espeak-ng once into ``{cache_dir}/free/`` (named by a hash of the text and the settings),
        then read from there. Raises EspeakMissing or ClipError."""
        text = unicodedata.normalize("NFC", " ".join(text.split()))
        if not text:
            return silence(0.0)
        tag = json.dumps([text, self.settings], ensure_ascii=False, sort_keys=True)
        target = self.cache_dir / "free" / f"{hashlib.sha1(tag.encode('utf-8')).hexdigest()}.wav"
        with self._lock:
            if not target.is_file():
                program = shutil.which(self.espeak)
                if program is None:
                    raise EspeakMissing(f"{self.espeak} is not installed: apt install espeak-ng")
                self._espeak_text(program, text, target)
            x = trim(decode(target))
        if len(x) == 0:
            raise ClipError(f"espeak-ng said nothing for {text!r}")
        return fade(normalise(x, SPEECH_PEAK_DBFS))


# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------


def sentence_clips(
    number: str, counter: str, mode: Mode | str = "digits", dialect: Dialect | str = "north"
) -> list[str]:
    """The clip keys of the sentence, once: invitation, letters, number words, "đến quầy số", counter."""
    prefix, _ = split_ticket(number)
    for ch in prefix:
        letter_name(ch)  # raises NotReadable for a letter without a name
    letters = [f"letter:{ch}" for ch in prefix]
    words = [f"word:{w}" for w in ticket_words(number, mode, dialect)]
    counter_words = [f"word:{w}" for w in number_words(counter_number(counter), dialect)]
    return [XIN_MOI, *letters, *words, DEN_QUAY, *counter_words]


def call_clips(
    number: str,
    counter: str,
    mode: Mode | str = "digits",
    dialect: Dialect | str = "north",
    repeat: int = 2,
) -> list[str]:
    """The whole call's clip keys: chime, pause, sentence, then (pause, sentence) for each repetition."""
    if not 1 <= repeat <= 5:
        raise NotReadable(f"repeat must be 1 to 5, got {repeat}")
    once = sentence_clips(number, counter, mode, dialect)
    out = [CHIME, PAUSE, *once]
    for _ in range(repeat - 1):
        out += [PAUSE, *once]
    return out


def joined_clips(
    calls: Sequence[tuple[str, str]],
    mode: Mode | str = "digits",
    dialect: Dialect | str = "north",
    *,
    chime: bool = True,
) -> list[str]:
    """One announcement of one or more calls ``(number, counter)``, each said once. After the chime
    (the speaker was quiet) the first call is the whole sentence, "Xin mời công dân có số thứ tự A012
    đến quầy số 3"; the others, and every call of an announcement that follows another at once
    (``chime`` false), are the short form "số B004, quầy 5", a short break before each."""
    if not calls:
        raise ValueError("joined_clips needs at least one call")
    out = [CHIME, PAUSE] if chime else []
    for i, (number, counter) in enumerate(calls):
        if i == 0 and chime:
            out += sentence_clips(number, counter, mode, dialect)
        else:
            out += [BREAK, *short_clips(number, counter, mode, dialect)]
    return out


def short_sentence(
    number: str, counter: str, mode: Mode | str = "digits", dialect: Dialect | str = "north"
) -> str:
    """The short form as text: "số B không không bốn, quầy năm" (what :func:`short_clips` says)."""
    whole = call_sentence(number, counter, mode, dialect)
    head, _, tail = whole.removeprefix(INVITE).partition(TO_COUNTER)
    return f"số {head.strip()}, quầy {tail.strip()}"


def short_clips(
    number: str, counter: str, mode: Mode | str = "digits", dialect: Dialect | str = "north"
) -> list[str]:
    """The short form of a call in a run of calls: "số", the number, "quầy", the counter, each clip
    marked :data:`FAST` (said at the busy rate when the builder has one)."""
    whole = sentence_clips(number, counter, mode, dialect)
    at = whole.index(DEN_QUAY)
    return [FAST + k for k in (SO, *whole[1:at], QUAY, *whole[at + 1 :])]


def gap_between(before: str, after: str) -> float:
    """Silence in seconds between two clip keys of a call (none next to a pause; a word's between
    the short words of the short form)."""
    before, after = before.removeprefix(FAST), after.removeprefix(FAST)
    if PAUSE in (before, after) or BREAK in (before, after):
        return 0.0
    if SO in (before, after) or QUAY in (before, after):
        return WORD_GAP_S
    if before.startswith("phrase:") or after.startswith("phrase:"):
        return PHRASE_GAP_S
    return WORD_GAP_S


class CallBuilder:
    """Builds the WAV of a call from a clip library, keeping the last few calls in memory."""

    def __init__(
        self, library: ClipLibrary, *, fast: ClipLibrary | None = None, cache_size: int = 32
    ) -> None:
        self.library = library
        #: The clips of the short form at the busy rate (the same recorded set, if any, wins).
        self.fast = fast
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[Any, ...], Call] = OrderedDict()
        self._lock = threading.Lock()

    def _part(self, key: str) -> Audio:
        if key == PAUSE:
            return silence(PAUSE_S)
        if key == BREAK:
            return silence(BREAK_S)
        if key.startswith(FAST):
            return (self.fast or self.library).get(key.removeprefix(FAST))
        return self.library.get(key)

    def timeline(self, clips: list[str]) -> tuple[list[float], float]:
        """When each clip starts in the joined WAV (seconds), and the WAV's length: where a call's
        number is heard in an announcement (the voice-backlog bench measures with it)."""
        t, starts = LEAD_S, []
        for i, key in enumerate(clips):
            if i:
                t += gap_between(clips[i - 1], key)
            starts.append(t)
            t += len(self._part(key)) / SAMPLE_RATE
        return starts, t + TAIL_S

    def join(self, clips: list[str]) -> bytes:
        """Join clip keys (and pauses) into one 16-bit mono WAV file."""
        parts: list[Audio] = [silence(LEAD_S)]
        for i, key in enumerate(clips):
            if i:
                parts.append(silence(gap_between(clips[i - 1], key)))
            parts.append(self._part(key))
        parts.append(silence(TAIL_S))
        x = np.concatenate(parts)
        peak = float(np.max(np.abs(x)))
        limit = db_to_gain(MAX_PEAK_DBFS - 0.1)
        if peak > limit:  # clips are levelled below this; a guard for odd recorded sets
            x = x * (limit / peak)
        return encode(x)

    def speech(self, sentences: Iterable[str]) -> bytes:
        """One WAV of free sentences (the kiosk's read-aloud), a pause between them, levelled like
        a call."""
        parts: list[Audio] = [silence(LEAD_S)]
        for i, sentence in enumerate(sentences):
            if i:
                parts.append(silence(PAUSE_S * 0.7))
            parts.append(self.library.say(sentence))
        parts.append(silence(TAIL_S))
        x = np.concatenate(parts)
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        limit = db_to_gain(MAX_PEAK_DBFS - 0.1)
        if peak > limit:
            x = x * (limit / peak)
        return encode(x)

    def build_call(
        self,
        number: str,
        counter: str,
        mode: Mode | str = "digits",
        dialect: Dialect | str = "north",
        repeat: int = 2,
    ) -> Call:
        """The call for a ticket at a counter: (sentence text, clip keys, WAV bytes)."""
        text = call_sentence(number, counter, mode, dialect)
        clips = call_clips(number, counter, mode, dialect, repeat)
        key = tuple(clips)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        call = Call(text, clips, self.join(clips))
        with self._lock:
            self._cache[key] = call
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return call

    def build_joined(
        self,
        calls: Sequence[tuple[str, str]],
        mode: Mode | str = "digits",
        dialect: Dialect | str = "north",
        *,
        chime: bool = True,
    ) -> Call:
        """One or more calls as one announcement (:func:`joined_clips`); not cached (a joined set
        rarely comes twice)."""
        said = [
            call_sentence(n, c, mode, dialect) if i == 0 and chime else short_sentence(n, c, mode, dialect)
            for i, (n, c) in enumerate(calls)
        ]
        text = "; ".join(said)
        clips = joined_clips(calls, mode, dialect, chime=chime)
        return Call(text, clips, self.join(clips))
