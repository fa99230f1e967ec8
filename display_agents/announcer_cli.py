"""``onestop announcer say``: the technician's test of the hall voice (ARCHITECTURE.md §6).

Prints the sentence on one line of standard output, then writes the WAV (``--out``) or plays it
through the announcer device's audio backend. Failures exit non-zero with one line on stderr.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

from device_drivers.audio import SimAudio, open_audio
from display_agents.vietnamese import call_sentence
from display_agents.voice import ESPEAK_RATE, CallBuilder, ClipLibrary
from onestop.config import CounterConfig, DeviceConfig, SiteConfig
from onestop.errors import OnestopError

PROG = "onestop announcer say"


def voice_dirs(cfg: SiteConfig) -> tuple[Path, Path]:
    """The espeak-ng clip cache and the recorded-set folder of a site."""
    base = cfg.data_dir / "voice"
    return base / "espeak-vi", base / "recorded"


def call_builder(cfg: SiteConfig) -> CallBuilder:
    """The site's call builder: its clip library, and the same clips at ``[announcer] busy_rate``
    for the short form of a run of calls (a cache folder of their own)."""
    cache, recorded = voice_dirs(cfg)
    rate = cfg.announcer.busy_rate
    fast = (
        None
        if rate == ESPEAK_RATE
        else ClipLibrary(cache.with_name(f"{cache.name}-{rate}"), recorded, rate=rate)
    )
    return CallBuilder(ClipLibrary(cache, recorded), fast=fast)


def _key(text: str) -> str:
    """A counter id or label as compared: NFC, case-folded, blanks collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def find_counter(cfg: SiteConfig, counter: str) -> CounterConfig:
    """The site's counter named by its id or its label ("3", "Quầy 3", "quầy 3").

    An unknown one is an :class:`OnestopError` that lists the site's counters, so that a technician
    testing the hall voice never hears a counter that does not exist."""
    try:
        return cfg.counter(counter.strip())
    except KeyError:
        pass
    wanted = _key(counter)
    for c in cfg.counters:
        if _key(c.id) == wanted or _key(c.label) == wanted:
            return c
    valid = ", ".join(f"{c.id} ({c.label})" for c in cfg.counters) or "none"
    raise OnestopError(f"no counter {counter!r} in {cfg.source}; its counters are: {valid}")


def spoken_counter(cfg: SiteConfig, counter: str) -> str:
    """What is read for a counter given by id or label: its label when that holds a number ("Quầy 3"),
    else its id. A site without counters reads what is given; otherwise an unknown counter is an
    :class:`OnestopError` (see :func:`find_counter`)."""
    if not cfg.counters:
        return counter
    known = find_counter(cfg, counter)
    return known.label if any(ch.isdigit() for ch in known.label) else known.id


def announcer_device(cfg: SiteConfig, device: str | None = None) -> DeviceConfig | None:
    """The named announcer device, or the site's first announcer (None when it has none)."""
    if device is not None:
        try:
            found = cfg.device(device)
        except KeyError:
            raise OnestopError(f"no device {device!r} in {cfg.source}") from None
        if found.role != "announcer":
            raise OnestopError(f"device {device!r} is a {found.role}, not an announcer")
        return found
    announcers = cfg.devices_with_role("announcer")
    return announcers[0] if announcers else None


def say(
    cfg: SiteConfig,
    number: str,
    counter: str,
    mode: str | None = None,
    dialect: str | None = None,
    out: str | Path | None = None,
    *,
    device: str | None = None,
) -> int:
    """Print the call sentence, then write its WAV to ``out`` or play it; return the exit status."""
    mode = mode or cfg.announcer.mode
    dialect = dialect or cfg.announcer.dialect
    try:
        spoken = spoken_counter(cfg, counter)
        print(call_sentence(number, spoken, mode, dialect), flush=True)
        cache_dir, recorded_dir = voice_dirs(cfg)
        builder = CallBuilder(ClipLibrary(cache_dir, recorded_dir))
        call = builder.build_call(number, spoken, mode, dialect, cfg.announcer.repeat)
        if out is not None:
            target = Path(out)
            try:
                target.write_bytes(call.wav)
            except OSError as exc:
                raise OnestopError(f"cannot write {target}: {exc.strerror}") from None
            return 0
        dev = announcer_device(cfg, device)
        with open_audio(dev.audio if dev else None, data_dir=cfg.data_dir) as audio:
            if isinstance(audio, SimAudio):
                who = f"device {dev.id!r}" if dev else "this site (no announcer device)"
                print(
                    f"{PROG}: note: the audio backend of {who} is 'sim', nothing is audible; "
                    'use --out FILE, or set audio = { backend = "alsa" }',
                    file=sys.stderr,
                )
            audio.play(call.wav)
    except OnestopError as exc:
        print(f"{PROG}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    return 0


def devices(root: Path | None = None) -> int:
    """``onestop announcer devices``: the sound outputs of this machine and how to choose one."""
    from device_drivers.audio.alsa import PROC_ASOUND, list_outputs

    outputs = list_outputs(root or PROC_ASOUND)
    if not outputs:
        print(
            f"{PROG}: no sound output found (ALSA lists no playback device in {root or PROC_ASOUND}); "
            "plug in the HDMI screen or the USB sound card, or check `aplay -l`",
            file=sys.stderr,
        )
        return 1
    kinds: dict[str, int] = {}
    print("sound outputs (an announcer's audio table in site.toml chooses one):")
    for o in outputs:
        n = kinds.get(o.kind, 0)
        kinds[o.kind] = n + 1
        alias = {"hdmi": "hdmi" if n == 0 else "hdmi1" if n == 1 else None, "usb": "usb" if n == 0 else None,
                 "jack": "jack" if n == 0 else None}.get(o.kind)  # fmt: skip
        choose = alias or o.pcm
        print(f"  {o.pcm:<32} {o.kind:<6} {o.name} ({o.card_id})")
        print(f'      audio = {{ backend = "alsa", device = "{choose}" }}')
    return 0


def test_call(cfg: SiteConfig, *, device: str | None = None) -> int:
    """``onestop announcer test``: play a call of the site's first service at its first counter on
    the announcer's output (the technician hears whether the speaker works)."""
    if not cfg.services or not cfg.counters:
        print(f"{PROG}: the site has no service or no counter to call", file=sys.stderr)
        return 2
    number = f"{cfg.services[0].prefix}{1:0{cfg.services[0].digits}d}"
    try:
        dev = announcer_device(cfg, device)
    except OnestopError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    where = dev.audio.backend if dev is not None and dev.audio is not None else "sim"
    params = dev.audio.params if dev is not None and dev.audio is not None else {}
    out = f" {params['device']!r}" if "device" in params else ""
    print(f"test call on {dev.id if dev else 'this site'}: audio {where}{out}", flush=True)
    return say(cfg, number, cfg.counters[0].id, device=dev.id if dev else None)
