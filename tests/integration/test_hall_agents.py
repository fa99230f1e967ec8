"""The hall's announcer and LED board agents, fed by a real controller through a real broker."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
import soundfile as sf

from device_drivers.audio.sim import SimAudio
from device_drivers.display import make_display
from device_drivers.display.sim import panel
from display_agents.announcer_agent import AnnouncerAgent
from display_agents.board_agent import BoardAgent
from onestop.config import SiteConfig
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration


def live(cfg: SiteConfig, broker) -> SiteConfig:
    return cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"port": broker.port})})


def test_each_call_is_announced_once_as_one_clean_wav(
    site_cfg: SiteConfig, broker, credentials, controller: Controller, device: DeviceFactory
) -> None:
    agent = AnnouncerAgent(live(site_cfg, broker), "announcer-1", credentials["announcer-1"])
    assert isinstance(agent.audio, SimAudio)
    agent.start()
    try:
        kiosk, counter = device("kiosk-1"), device("counter-3")
        kiosk.request("issue", {"service": "dkkd"})
        counter.request("open")
        counter.request("call_next")
        counter.request("recall")
        assert agent.audio.wait_played(2, timeout=20)
        played = agent.audio.played
        assert len(played) == 2 and agent.audio.max_concurrent == 1
        x, rate = sf.read(io.BytesIO(played[0].wav))
        assert rate > 8000 and 6 < len(x) / rate < 30  # chime + the sentence twice
        assert float(np.max(np.abs(x))) < 10 ** (-1 / 20)  # peak under -1 dBFS: no clipping
        assert played[0].started < played[0].ended <= played[1].started  # never overlapping
    finally:
        agent.stop()


def test_the_led_board_shows_the_latest_calls(
    site_cfg: SiteConfig, broker, credentials, controller: Controller, device: DeviceFactory
) -> None:
    name = f"board-{uuid.uuid4().hex[:6]}"
    led = make_display({"backend": "sim", "name": name, "rows": 4, "cols": 16, "charset": "ascii"})
    agent = BoardAgent(live(site_cfg, broker), "board-1", credentials["board-1"], display=led)
    agent.start()
    try:
        kiosk, c1, c2 = device("kiosk-1"), device("counter-1"), device("counter-2")
        kiosk.request("issue", {"service": "tuphap"})
        kiosk.request("issue", {"service": "datdai"})
        c1.request("open")
        c2.request("open")
        c1.request("call_next")
        c2.request("call_next")
        board = panel(name)
        ok = board.wait_for(lambda p: p.text[:2] == ["B001 -> 2", "A001 -> 1"], 10)
        assert ok, board.text
    finally:
        agent.stop()
