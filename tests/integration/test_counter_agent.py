"""The counter agent end to end: simulated keys and LED display, real broker and controller."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

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

    def wait_blinks(self, expected: list[str], since: int = 0) -> None:
        """Wait until the blinks from ``since`` on are exactly ``expected`` (see :meth:`blinks`)."""
        ok = self.led.wait_for(lambda _p: self.blinks(since) == expected, 5)
        assert ok, f"blinks {self.blinks(since)}, expected {expected}"

    def blinks(self, since: int = 0) -> list[str]:
        """The text shown at each start of a blink, in the display's history from ``since`` on."""
        history = list(self.led.history)
        out, before = [], history[since - 1].blink if since else False
        for update in history[since:]:
            if update.blink and not before:
                out.append(update.lines[0].strip())
            before = update.blink
        return out


@pytest.fixture
def start_rig(site_cfg: SiteConfig, broker, credentials: dict[str, str]) -> Iterator[Callable[[], Rig]]:
    """``start_rig()``: a started counter agent for counter 1 (stopped after the test)."""
    started: list[CounterAgent] = []

    def start() -> Rig:
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
        started.append(agent)
        return Rig(agent, keys, panel(name))

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def rig(start_rig: Callable[[], Rig], controller: Controller) -> Rig:
    return start_rig()


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


def _ticket(number: str) -> dict[str, object]:
    return {
        "id": f"20261123-{number}", "number": number, "service": "tuphap", "priority": False,
        "status": "called", "issued_at": "2026-11-23T08:00:00.000+07:00",
        "called_at": "2026-11-23T08:01:00.000+07:00", "counter": "1",
    }  # fmt: skip


def test_a_call_and_a_recall_each_blink_through_the_counter_state(
    rig: Rig, device: DeviceFactory, site_cfg: SiteConfig, mqtt
) -> None:
    state = Topics(site_cfg.site.id).counter_state("1")
    watcher = mqtt("board-1")
    watcher.subscribe(state)
    device("kiosk-1").request("issue", {"service": "tuphap"})
    rig.press("next")
    rig.wait_blinks(["A001"])
    rig.shows("A001", blink=False)
    rig.press("recall")
    rig.wait_blinks(["A001", "A001"])
    rig.shows("A001", blink=False)
    # What the agent blinked on: its counter's state, published again for the recall.
    st = watcher.inbox.wait_for(state, lambda m: m.json().get("calls") == 2).json()
    assert (st["serving"]["number"], st["last_call"]["number"], st["last_call"]["recall"]) == (
        "A001",
        "A001",
        True,
    )


def test_another_counters_call_and_the_event_stream_do_not_blink_it(
    rig: Rig,
    device: DeviceFactory,
    site_cfg: SiteConfig,
    mqtt,
    controller: Controller,
    broker,
    credentials: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    topics = Topics(site_cfg.site.id)
    device("kiosk-1").request("issue", {"service": "tuphap"})
    other = device("counter-2")
    other.request("open")
    assert other.request("call_next")["ticket"]["number"] == "A001"  # counter 2 calls
    # A call of counter 1 on the event stream alone, without its state changing, blinks nothing: the
    # agent does not read the event stream at all.
    fake = {
        "seq": 999, "type": "ticket.called", "ts": "2026-11-23T08:01:00.000+07:00",
        "data": {"ticket": _ticket("A999"), "recall": False},
    }  # fmt: skip
    # Only the controller's account may publish events, and a second connection of an account takes
    # the first over (client ids are bound to accounts): the controller steps aside meanwhile.
    controller.stop()
    forger = mqtt("controller")
    assert not forger.publish_acked(topics.events, fake).is_failure
    forger.close()
    back = Controller(site_cfg, credentials["controller"], db_path=controller.db_path, host=broker.host,
                      port=broker.port, tick_s=0.2)  # fmt: skip
    back.start()
    request.addfinalizer(back.stop)
    rig.press("next")  # opens counter 1; nobody waits for it: no call
    assert rig.agent.sent == ["open", "call_next"]
    rig.shows("")  # the open state, published after all of the above
    assert rig.blinks() == []
    subscribed = {topic for topic, _qos in rig.agent.client.mqtt.settings.subscriptions}
    assert subscribed == {topics.dev_reply("counter-1"), topics.counter_state("1")}


def test_a_controller_restart_does_not_blink_it(
    rig: Rig,
    device: DeviceFactory,
    site_cfg: SiteConfig,
    broker,
    credentials: dict[str, str],
    controller: Controller,
    mqtt,
) -> None:
    state = Topics(site_cfg.site.id).counter_state("1")
    device("kiosk-1").request("issue", {"service": "tuphap"})
    device("kiosk-1").request("issue", {"service": "tuphap"})
    rig.press("next")
    rig.wait_blinks(["A001"])
    rig.shows("A001", blink=False)
    rig.press("recall")
    rig.wait_blinks(["A001", "A001"])
    rig.shows("A001", blink=False)
    controller.stop()
    shown = len(rig.led.history)
    watcher = mqtt("board-1")
    watcher.subscribe(state)  # the retained copy comes first
    again = Controller(
        site_cfg,
        credentials["controller"],
        db_path=controller.db_path,
        host=broker.host,
        port=broker.port,
        tick_s=0.2,
        fatal=lambda reason: pytest.fail(f"controller stopped: {reason}"),
    )
    again.start()
    try:
        # Restored from its database, the controller publishes every state again: the same calls.
        st = watcher.inbox.wait_for(state, lambda m: not m.retain).json()
        assert (st["serving"]["number"], st["calls"], st["last_call"]["recall"]) == ("A001", 2, True)
        assert rig.led.wait_for(lambda p: len(p.history) > shown, 5), "the agent never showed it"
        assert rig.led.text == ["A001"] and rig.blinks(shown) == []
        rig.press("next")  # and the next call blinks as before
        rig.wait_blinks(["A002"], since=shown)
    finally:
        again.stop()


def test_the_first_state_is_a_baseline_then_every_change_of_calls_blinks(
    start_rig: Callable[[], Rig], site_cfg: SiteConfig, mqtt
) -> None:
    """The test plays the controller, publishing counter states by hand (no event at all)."""
    topic = Topics(site_cfg.site.id).counter_state("1")
    ctl = mqtt("controller")

    def publish(calls: int, number: str | None, seq: int) -> None:
        st = {
            "counter": "1", "label": "Quầy 1", "status": "open", "officer": None, "services": ["tuphap"],
            "serving": _ticket(number) if number else None, "calls": calls,
            "last_call": {"number": "A012", "recall": False, "ts": "2026-11-23T08:01:00.000+07:00"},
            "seq": seq,
        }  # fmt: skip
        assert not ctl.publish_acked(topic, st, retain=True).is_failure

    publish(5, "A012", 10)  # five calls before the agent started
    rig = start_rig()
    rig.shows("A012")
    publish(5, None, 11)  # A012 finished: not a call
    rig.shows("")
    assert rig.blinks() == []
    publish(6, "A013", 12)  # a call
    rig.wait_blinks(["A013"])
    rig.shows("A013", blink=False)
    publish(7, "A013", 13)  # a recall: only ``calls`` changes (and ``seq``)
    rig.wait_blinks(["A013", "A013"])
    rig.shows("A013", blink=False)
    shown = len(rig.led.history)
    publish(7, "A013", 14)  # the same state again (a controller restart): no blink
    publish(7, None, 15)
    rig.shows("")
    assert rig.blinks(shown) == []
