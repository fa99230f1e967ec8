"""The counter agent end to end: simulated keys and LED display, real broker and controller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from device_drivers.display import make_display
from device_drivers.display.sim import SimDisplay, SimPanel, panel
from device_drivers.keys.sim import SimKeypad
from display_agents.counter_agent import CounterAgent
from display_agents.keys_logic import KeyInterpreter, KeyRules
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration


class Rig:
    def __init__(self, agent: CounterAgent, keys: SimKeypad, led: SimPanel) -> None:
        self.agent, self.keys, self.led = agent, keys, led

    def press(self, key: str) -> None:
        """A press, and wait until its command has been answered."""
        self.agent.idle.clear()
        self.keys.press(key)
        assert self.agent.idle.wait(10), f"{key}: no answer"

    def shows(self, text: str, blink: bool | None = None) -> None:
        ok = self.led.wait_for(lambda p: p.text == [text] and (blink is None or p.blink == blink), 5)
        assert ok, f"LED shows {self.led.text} blink={self.led.blink}, expected {text!r}"


@pytest.fixture
def rig(site_cfg: SiteConfig, broker, credentials: dict[str, str], controller: Controller) -> Iterator[Rig]:
    keys = SimKeypad()
    name = f"led-{uuid.uuid4().hex[:6]}"
    led = make_display(
        {"backend": "sim", "name": name, "rows": 1, "cols": 4, "charset": "7seg", "align": "right"}
    )
    assert isinstance(led, SimDisplay)
    cfg = site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})
    rules = KeyRules(guard_s=0.0)  # tests press faster than any clerk; the time guard is tested below
    agent = CounterAgent(
        cfg, "counter-1", credentials["counter-1"], keypad=keys, display=led, blink_s=0.3, rules=rules
    )
    agent.start()
    yield Rig(agent, keys, panel(name))
    agent.stop()


def test_next_opens_the_counter_calls_and_blinks_the_number(rig: Rig, device: DeviceFactory, mqtt) -> None:
    kiosk = device("kiosk-1")
    kiosk.request("issue", {"service": "tuphap"})
    kiosk.request("issue", {"service": "tuphap"})
    rig.press("next")  # the counter was closed: open, then call
    assert rig.agent.sent == ["open", "call_next"]
    rig.shows("A001", blink=True)
    rig.shows("A001", blink=False)  # the blink ends by itself
    rig.press("finish")
    rig.shows("")
    assert rig.agent.sent[-1] == "finish"


def test_a_double_press_calls_one_citizen(
    rig: Rig, device: DeviceFactory, site_cfg: SiteConfig, mqtt
) -> None:
    kiosk = device("kiosk-1")
    for _ in range(3):
        kiosk.request("issue", {"service": "tuphap"})
    watcher = mqtt("board-1")
    watcher.subscribe(Topics(site_cfg.site.id).events)
    rig.agent.idle.clear()
    rig.keys.press("next")
    rig.keys.press("next")  # a nervous second press while the first is on its way
    assert rig.agent.idle.wait(10)
    rig.shows("A001")
    rig.agent.keys = KeyInterpreter(KeyRules(guard_s=60))  # a clerk's real guard
    rig.press("next")
    rig.shows("A002")
    rig.keys.press("next")  # again, right after the answer: inside the guard
    assert rig.agent.keys.ignored == 1
    rig.agent.keys = KeyInterpreter(KeyRules(guard_s=0.0))
    rig.press("recall")  # a different action goes through, and is ordered after the call
    ev = Topics(site_cfg.site.id).events
    watcher.inbox.wait_for(ev, lambda m: m.json()["type"] == "ticket.called" and m.json()["data"]["recall"])
    called = [
        m.json()
        for m in watcher.inbox.messages(Topics(site_cfg.site.id).events)
        if m.json()["type"] == "ticket.called"
    ]
    got = [(e["data"]["ticket"]["number"], e["data"]["recall"]) for e in called]
    assert got == [("A001", False), ("A002", False), ("A002", True)]


def test_holding_next_recalls_and_pause_toggles(
    rig: Rig, device: DeviceFactory, site_cfg: SiteConfig, mqtt
) -> None:
    device("kiosk-1").request("issue", {"service": "tuphap"})
    rig.press("next")
    rig.shows("A001")
    rig.agent.idle.clear()
    rig.keys.hold("next")
    assert rig.agent.idle.wait(10)
    assert rig.agent.sent[-1] == "recall"
    rig.press("pause")
    assert rig.agent.sent[-1] == "pause"
    rig.agent.idle.clear()
    rig.keys.press("next")  # next on a paused counter resumes first
    assert rig.agent.idle.wait(10)
    assert rig.agent.sent[-3:] == ["pause", "resume", "call_next"]
