"""The hall's announcer and LED board agents, fed by a real controller through a real broker."""

from __future__ import annotations

import io
import socket
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from device_drivers.audio.sim import SimAudio
from device_drivers.display import make_display
from device_drivers.display.sim import SimDisplay, panel
from display_agents.announcer_agent import AnnouncerAgent
from display_agents.board_agent import BoardAgent
from onestop import sdnotify
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.site import SITE

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
        assert agent.audio.wait_played(2, timeout=20) and agent.queue.wait_idle(20)
        played = agent.audio.played
        # the call and the recall, each said (a lone call is also said again while the hall is quiet)
        assert agent.queue.stats.announced == 2 and agent.audio.max_concurrent == 1
        x, rate = sf.read(io.BytesIO(played[0].wav))
        assert rate > 8000 and 6 < len(x) / rate < 15  # the chime, then the whole sentence once
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


def test_an_announcer_of_a_zone_says_its_counters_calls_and_reports_what_it_did(
    site_cfg: SiteConfig, site_factory: SiteFactory, broker, credentials, controller: Controller,
    device: DeviceFactory, mqtt: Any,
) -> None:  # fmt: skip
    zoned = [{**d, "counters": ["1"]} if d["id"] == "announcer-1" else d for d in SITE["devices"]]
    cfg = live(site_factory({"devices": zoned}, name="zoned.toml"), broker)
    hub = mqtt("hub")
    topics = Topics("t-site")
    hub.subscribe(topics.dev_health("announcer-1"))
    agent = AnnouncerAgent(cfg, "announcer-1", credentials["announcer-1"])
    agent.start()
    try:
        kiosk, c1, c3 = device("kiosk-1"), device("counter-1"), device("counter-3")
        kiosk.request("issue", {"service": "dkkd"})
        kiosk.request("issue", {"service": "tuphap"})
        c3.request("open")
        c1.request("open")
        c3.request("call_next")  # another zone's speaker says this one
        c1.request("call_next")
        assert agent.audio.wait_played(1, timeout=20) and agent.queue.wait_idle(20)
        assert agent.queue.stats.submitted == 1 and agent.queue.stats.announced == 1
        health = hub.inbox.wait_for(topics.dev_health("announcer-1"), lambda m: "calls" in m.json()).json()
        assert health["audio"] == "ok" and health["calls"]["dropped"] == 0
    finally:
        agent.stop()


class StuckDisplay(SimDisplay):
    """A simulated board whose ``show``, once ``stuck`` is set, hangs (a serial link that never
    answers) until released."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.stuck, self.entered, self.release = threading.Event(), threading.Event(), threading.Event()

    def show(self, lines: Sequence[str], *, blink: bool = False) -> None:
        if self.stuck.is_set():
            self.entered.set()
            self.release.wait(60)
        super().show(lines, blink=blink)


def test_a_hung_board_display_stops_the_watchdog_pings_and_mqtt_goes_on(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], controller: Controller,
    device: DeviceFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(2.0)  # twenty ping intervals: silence this long means the pings stopped
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        liveness = sdnotify.Liveness(sdnotify.Watchdog(0.1))
        led = StuckDisplay({"name": f"board-{uuid.uuid4().hex[:6]}", "rows": 4, "cols": 16})
        agent = BoardAgent(
            live(site_cfg, broker), "board-1", credentials["board-1"], display=led, liveness=liveness
        )
        agent.start()
        try:
            for _ in range(3):  # idle (the board only waits for states), yet pinging
                assert sock.recv(64) == b"WATCHDOG=1"
                liveness.ping()  # the main thread's check, as onestop.process.wait_for_signal does
            led.stuck.set()
            kiosk, c1 = device("kiosk-1"), device("counter-1")
            kiosk.request("issue", {"service": "tuphap"})
            c1.request("open")
            c1.request("call_next")
            assert led.entered.wait(20)
            with pytest.raises(TimeoutError):
                for _ in range(200):
                    assert sock.recv(64) == b"WATCHDOG=1"
                    liveness.ping()
            assert liveness.wedged() == ["board-1 display loop"]
            assert agent.client.mqtt.connected.is_set()  # the display hangs, not the broker connection
            led.release.set()
            assert sock.recv(64) == b"WATCHDOG=1"  # it made progress: the pings resume
        finally:
            led.release.set()
            agent.stop()
