"""Read-aloud on the kiosk: the Vietnamese spoken for each screen, and real audio from the hall's
voice (espeak-ng, the clip library of display_agents.voice) reaching the simulated audio output."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import pytest

from device_drivers.audio import SimAudio
from display_agents.voice import CallBuilder, ClipLibrary
from kiosk_app.ticket_kiosk.read_aloud import ReadAloud, number_speech, screen_speech
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
from onestop.config import SiteConfig
from tests.conftest import SiteFactory
from tests.unit.test_kiosk_viewmodel import Backend
from tests.utils.viewmodel import Clock, Runner


@pytest.fixture
def vm(site_factory: SiteFactory) -> tuple[KioskViewModel, Runner, Clock]:
    cfg: SiteConfig = site_factory({"kiosk": {"idle_s": 30}})
    runner, clock = Runner(), Clock()
    model = KioskViewModel(cfg, "kiosk-1", Backend(), clock=clock, runner=runner, connected=lambda: True)
    model.on_service_state(
        {"service": "tuphap", "open": True, "waiting": 5, "est_wait_s": 840, "est_wait_range_s": [600, 1200]}
    )
    return model, runner, clock


def test_each_screen_is_read_in_vietnamese_whatever_the_language(
    vm: tuple[KioskViewModel, Runner, Clock],
) -> None:
    model, runner, clock = vm
    home = screen_speech(model.view())
    assert home[0] == "Xin mời chọn lĩnh vực"
    assert "Tư pháp - Hộ tịch. Đang chờ: 5 người. khoảng 10 đến 20 phút" in home
    model.set_language("en")  # an English screen is still read in Vietnamese
    assert screen_speech(model.view())[:2] == home[:2]
    model.set_language("vi")
    assert model.tap_service("tuphap")
    prio = screen_speech(model.view())
    assert prio[0] == "Bạn có thuộc diện ưu tiên không?"
    assert "Nút KHÔNG — Lấy số thường" in prio and "Nút CÓ — Lấy số ưu tiên" in prio
    clock.advance(1)
    assert model.choose_priority(False)
    runner.run_all()
    done = screen_speech(model.view())
    assert done[0] == "Số thứ tự của bạn: a không không một"
    assert "Trước bạn còn 4 người" in done and "Nút Xong" in done


def test_ticket_numbers_are_said_like_the_hall_calls_them() -> None:
    assert number_speech("A012") == "a không một hai"
    assert number_speech("BC105") == "bê xê một không năm"
    assert number_speech("???") == "???"  # not readable: said as written


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_the_button_speaks_the_screen_into_the_audio_output(
    vm: tuple[KioskViewModel, Runner, Clock], tmp_path: Path
) -> None:
    model, _, _ = vm
    assert not model.read_aloud()  # off: nothing to press
    audio = SimAudio()
    speaker = ReadAloud(CallBuilder(ClipLibrary(tmp_path / "voice")), audio)
    spoken: list[list[str]] = []
    done = threading.Event()

    def heard(sentences: list[str]) -> None:
        spoken.append(sentences)
        done.set()

    speaker.on_spoken = heard
    model.speak = speaker.read
    try:
        assert model.read_aloud()
        assert done.wait(30), "nothing was spoken"
        assert audio.wait_played(1)
        (clip,) = audio.played
        assert clip.duration_s > 2.0  # the question and a service: seconds of speech, not a click
        assert spoken == [screen_speech(model.view())]
        # The clips are the hall's: espeak-ng's output cached beside the call clips.
        assert list((tmp_path / "voice" / "free").glob("*.wav"))
    finally:
        speaker.close()


def test_a_broken_voice_is_logged_and_the_kiosk_goes_on(
    vm: tuple[KioskViewModel, Runner, Clock], tmp_path: Path
) -> None:
    model, _, _ = vm
    audio = SimAudio()
    speaker = ReadAloud(CallBuilder(ClipLibrary(tmp_path / "voice", espeak="no-such-espeak")), audio)
    failed = threading.Event()
    handler = logging.Handler()
    handler.emit = lambda record: failed.set()  # type: ignore[method-assign]
    logging.getLogger("kiosk_app.ticket_kiosk.read_aloud").addHandler(handler)
    model.speak = speaker.read
    try:
        assert model.read_aloud()
        assert failed.wait(10)
        assert audio.played == [] and model.view().screen == "home"
    finally:
        logging.getLogger("kiosk_app.ticket_kiosk.read_aloud").removeHandler(handler)
        speaker.close()


def test_read_aloud_and_icons_are_checked_in_site_toml(site_factory: SiteFactory) -> None:
    from tests.utils.site import SITE

    devices = [dict(d) for d in SITE["devices"]]
    devices[0]["read_aloud"] = True
    services = [dict(s) for s in SITE["services"]]
    services[0]["icon"] = "family"
    cfg = site_factory({"devices": devices, "services": services})
    assert cfg.device(devices[0]["id"]).read_aloud and cfg.services[0].icon == "family"
    assert not cfg.device(devices[1]["id"]).read_aloud  # off by default
    services[0]["icon"] = "unicorn"
    with pytest.raises(Exception, match='no icon "unicorn"; there are: building, business, document'):
        site_factory({"services": services})
