"""``onestop announcer say`` (the function behind it), on a synthetic recorded voice set."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf

from display_agents.announcer_cli import announcer_device, say, spoken_counter, voice_dirs
from onestop.config import SiteConfig
from onestop.errors import OnestopError
from tests.utils.voice import write_tone_set

SiteFactory = Callable[..., SiteConfig]

SENTENCE = "Xin mời công dân có số thứ tự A không một hai đến quầy số ba"


@pytest.fixture
def cfg(site_cfg: SiteConfig) -> SiteConfig:
    """The test site, with a complete recorded voice set (so that espeak-ng is not needed)."""
    write_tone_set(voice_dirs(site_cfg)[1])
    return site_cfg


def test_say_writes_the_wav_and_prints_one_line(
    cfg: SiteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "call.wav"
    assert say(cfg, "A012", "3", "digits", "north", out) == 0
    printed = capsys.readouterr()
    assert printed.out == SENTENCE + "\n"
    assert unicodedata.is_normalized("NFC", printed.out)
    info = sf.info(io.BytesIO(out.read_bytes()))
    assert (info.samplerate, info.channels, info.subtype) == (22_050, 1, "PCM_16")


def test_say_uses_the_sites_settings_unless_overridden(
    site_factory: SiteFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = site_factory({"announcer": {"mode": "whole", "dialect": "south", "repeat": 1}})
    write_tone_set(voice_dirs(cfg)[1])
    assert say(cfg, "B024", "3", None, None, tmp_path / "a.wav") == 0
    assert say(cfg, "B024", "3", "digits", "north", tmp_path / "b.wav") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "Xin mời công dân có số thứ tự B hai mươi bốn đến quầy số ba",
        "Xin mời công dân có số thứ tự B không hai bốn đến quầy số ba",
    ]
    # repeat = 1: chime, pause and one sentence of 6 tone clips (two sentences would last over 7 s)
    assert 4.0 < sf.info(str(tmp_path / "a.wav")).duration < 5.0


def test_say_plays_through_the_announcer_device(
    site_factory: SiteFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = [{"id": "announcer-1", "role": "announcer", "audio": {"backend": "file", "dir": "hall"}}]
    cfg = site_factory({"devices": devices})
    write_tone_set(voice_dirs(cfg)[1])
    assert say(cfg, "A012", "3", "digits", "north", None) == 0
    assert capsys.readouterr().out == SENTENCE + "\n"
    assert [p.name for p in (cfg.data_dir / "hall").iterdir()] == ["clip-000001.wav"]


def test_say_on_the_simulator_says_nothing_is_audible(
    cfg: SiteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert say(cfg, "A012", "3", "digits", "north", None) == 0
    printed = capsys.readouterr()
    assert printed.out == SENTENCE + "\n"
    assert "'sim', nothing is audible" in printed.err


@pytest.mark.parametrize(
    ("number", "counter", "reason"),
    [
        ("12A", "3", "cannot read ticket number"),
        ("A012", "Quầy Tư pháp", "no counter 'Quầy Tư pháp'"),
        ("A012", "99", "no counter '99'"),
    ],
)
def test_say_fails_with_one_line(
    cfg: SiteConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    number: str,
    counter: str,
    reason: str,
) -> None:
    assert say(cfg, number, counter, None, None, tmp_path / "x.wav") == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.count("\n") == 1 and reason in printed.err
    assert printed.err.startswith("onestop announcer say: ")
    assert not (tmp_path / "x.wav").exists()


def test_say_unwritable_output_fails(
    cfg: SiteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert say(cfg, "A012", "3", None, None, tmp_path / "missing-dir" / "x.wav") == 2
    assert "cannot write" in capsys.readouterr().err


def test_say_without_espeak_or_recordings_explains(
    site_cfg: SiteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on the PATH
    assert say(site_cfg, "A012", "3", None, None, tmp_path / "x.wav") == 2
    err = capsys.readouterr().err
    assert "apt install espeak-ng" in err and err.count("\n") == 1


def test_spoken_counter_and_device(site_factory: SiteFactory) -> None:
    cfg = site_factory(
        {"counters": [{"id": "9", "label": "Quầy Tư pháp", "services": ["tuphap"]}], "devices": []}
    )
    assert spoken_counter(cfg, "9") == "9"  # label without a number: the id
    assert spoken_counter(cfg, "Quầy Tư pháp") == "9"  # its label names it too
    assert announcer_device(cfg) is None
    base = site_factory()
    assert spoken_counter(base, "3") == "Quầy 3"
    found = announcer_device(base)
    assert found is not None and found.id == "announcer-1"
    with pytest.raises(OnestopError, match="not an announcer"):
        announcer_device(base, "kiosk-1")


def test_say_an_unknown_counter_lists_the_valid_ones(
    site_factory: SiteFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counters = [{"id": str(i), "label": f"Quầy {i}", "services": ["tuphap"]} for i in range(1, 13)]
    cfg = site_factory({"counters": counters, "devices": []})
    write_tone_set(voice_dirs(cfg)[1])
    assert say(cfg, "A012", "99", None, None, tmp_path / "x.wav") == 2
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1
    assert "no counter '99'" in printed.err
    assert "1 (Quầy 1)" in printed.err and "12 (Quầy 12)" in printed.err
    assert not (tmp_path / "x.wav").exists()
    # an id, a label (any case, spacing, composed or not) are all fine
    for given in ("12", "Quầy 12", "  quầy   12 ", unicodedata.normalize("NFD", "Quầy 12")):
        assert say(cfg, "A012", given, "digits", "north", tmp_path / "y.wav") == 0
    assert (
        capsys.readouterr().out.splitlines()
        == ["Xin mời công dân có số thứ tự A không một hai đến quầy số mười hai"] * 4
    )


def test_cli_say_unknown_counter_exits_non_zero(
    site_factory: SiteFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from onestop.cli import main

    cfg = site_factory()
    code = main(["announcer", "say", "--config", cfg.source, "--number", "A012", "--counter", "99",
                 "--out", str(tmp_path / "x.wav")])  # fmt: skip
    assert code != 0
    err = capsys.readouterr().err
    assert "no counter '99'" in err and "1 (Quầy 1), 2 (Quầy 2), 3 (Quầy 3)" in err


def test_say_a_counter_without_a_number_fails_with_one_line(
    site_factory: SiteFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = site_factory(
        {"counters": [{"id": "tp", "label": "Quầy Tư pháp", "services": ["tuphap"]}], "devices": []}
    )
    write_tone_set(voice_dirs(cfg)[1])
    assert say(cfg, "A012", "Quầy Tư pháp", None, None, tmp_path / "x.wav") == 2
    err = capsys.readouterr().err
    assert "no number to read out" in err and err.count("\n") == 1


#: What the kernel lists on a Raspberry Pi 5 with a USB sound card (no 3.5 mm jack), and on a Pi 4.
PI5_CARDS = """ 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 1 [vc4hdmi1       ]: vc4-hdmi - vc4-hdmi-1
                      vc4-hdmi-1
 2 [Device         ]: USB-Audio - USB Audio Device
                      GeneralPlus USB Audio Device at usb-xhci-hcd.0-1, full speed
"""
PI5_PCM = """00-00: MAI PCM i2s-hifi-0 : MAI PCM i2s-hifi-0 : playback 1
01-00: MAI PCM i2s-hifi-0 : MAI PCM i2s-hifi-0 : playback 1
02-00: USB Audio : USB Audio : playback 1 : capture 1
"""
PI4_CARDS = """ 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
"""
PI4_PCM = "00-00: bcm2835 Headphones : bcm2835 Headphones : playback 8\n"


def _asound(root: Path, cards: str, pcm: str) -> Path:
    root.mkdir(parents=True)
    (root / "cards").write_text(cards)
    (root / "pcm").write_text(pcm)
    return root


def test_hdmi_usb_and_jack_outputs_are_found_and_named(tmp_path: Path) -> None:
    from device_drivers.audio.alsa import list_outputs, resolve
    from device_drivers.audio.base import AudioNotFound

    pi5 = _asound(tmp_path / "pi5", PI5_CARDS, PI5_PCM)
    assert [(o.pcm, o.kind) for o in list_outputs(pi5)] == [
        ("plughw:CARD=vc4hdmi0,DEV=0", "hdmi"),
        ("plughw:CARD=vc4hdmi1,DEV=0", "hdmi"),
        ("plughw:CARD=Device,DEV=0", "usb"),
    ]
    assert resolve("hdmi", pi5) == "plughw:CARD=vc4hdmi0,DEV=0"
    assert resolve("hdmi1", pi5) == "plughw:CARD=vc4hdmi1,DEV=0"
    assert resolve("usb", pi5) == "plughw:CARD=Device,DEV=0"
    assert resolve("plughw:2,0", pi5) == "plughw:2,0"  # an ALSA name is used as it is
    with pytest.raises(AudioNotFound, match="'jack': no such output here"):
        resolve("jack", pi5)  # a Pi 5 has no 3.5 mm jack
    pi4 = _asound(tmp_path / "pi4", PI4_CARDS, PI4_PCM)
    assert resolve("jack", pi4) == "plughw:CARD=Headphones,DEV=0"
    assert list_outputs(tmp_path / "none") == []


def test_announcer_devices_lists_the_outputs_with_their_site_toml_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from display_agents.announcer_cli import devices

    assert devices(_asound(tmp_path / "pi5", PI5_CARDS, PI5_PCM)) == 0
    out = capsys.readouterr().out
    assert 'audio = { backend = "alsa", device = "hdmi" }' in out
    assert 'audio = { backend = "alsa", device = "hdmi1" }' in out
    assert 'audio = { backend = "alsa", device = "usb" }' in out
    assert devices(tmp_path / "nothing") == 1
    assert "no sound output found" in capsys.readouterr().err


def test_announcer_test_plays_a_call_on_the_announcers_output(
    site_factory: SiteFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    from display_agents.announcer_cli import test_call

    devices = [{"id": "announcer-1", "role": "announcer", "audio": {"backend": "file", "dir": "hall"}}]
    cfg = site_factory({"devices": devices})
    write_tone_set(voice_dirs(cfg)[1])
    assert test_call(cfg) == 0
    out = capsys.readouterr().out
    assert out.startswith("test call on announcer-1: audio file")
    assert "Xin mời công dân có số thứ tự A không không một đến quầy số một" in out
    assert [p.name for p in (cfg.data_dir / "hall").iterdir()] == ["clip-000001.wav"]
    assert test_call(cfg, device="kiosk-1") == 2
