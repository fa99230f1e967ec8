"""Simulated traffic leaves alone what a person uses: a counter signed in through the soft caller,
a rating terminal tapped by hand. Real broker, controller, hub and simulation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.credentials import read_pin
from onestop.device import CommandFailed
from onestop.protocol import Topics
from onestop.simulate import TWINS_ENV, Simulation, Traffic, with_twins
from queue_controller.service import Controller
from tests.conftest import MqttFactory, SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.mqtt import Received, TestClient
from tests.utils.site import SITE
from tests.utils.web import HubServer

pytestmark = pytest.mark.integration

WAIT_S = 30


@pytest.fixture
def site_cfg(site_factory: SiteFactory, monkeypatch: pytest.MonkeyPatch) -> SiteConfig:
    """The test site as `onestop up --traffic` runs it: a soft caller (web keypad) for counter 2, and
    a twin account per simulated device, so that the devices' own accounts stay free for people."""
    monkeypatch.setenv(TWINS_ENV, "1")
    web = {"id": "caller-2", "role": "counter", "counter": "2", "keys": {"backend": "web"}}
    return with_twins(site_factory({"devices": [*SITE["devices"], web]}))


@pytest.fixture
def simulation(
    site_cfg: SiteConfig, broker: Broker, controller: Controller
) -> Iterator[Callable[..., Simulation]]:
    made: list[Simulation] = []

    def start(**knobs: Any) -> Simulation:
        test_broker = site_cfg.broker.model_copy(update={"host": broker.host, "port": broker.port})
        cfg = site_cfg.model_copy(update={"broker": test_broker})
        sim = Simulation(cfg, Traffic(speed=600, **knobs), seed=1)
        sim.start()
        made.append(sim)
        return sim

    yield start
    for sim in made:
        sim.stop()


def by_sim(m: Received) -> bool:
    return m.json()["data"].get("command", {}).get("device", "").startswith("sim-")


def counter_of(m: Received) -> str | None:
    data = m.json()["data"]
    return (data.get("counter") or data.get("ticket") or {}).get("counter")


def watcher(mqtt: MqttFactory, topics: Topics) -> TestClient:
    mon = mqtt("monitor")
    mon.subscribe(topics.events, topics.dev_cmd("+"))
    return mon


def from_now(mon: TestClient, topics: Topics, pred: Callable[[Received], bool]) -> Callable[[Received], bool]:
    """``pred``, for the events that arrive from now on."""
    old = {id(m) for m in mon.inbox.messages(topics.events)}
    return lambda m: id(m) not in old and pred(m)


def wait_served(mon: TestClient, topics: Topics, counters: set[str], n: int) -> None:
    """Wait until the simulation has called ``n`` more tickets at each of ``counters``."""
    seen = dict.fromkeys(counters, 0)

    def more(m: Received) -> bool:
        c = counter_of(m)
        if m.json()["type"] == "ticket.called" and by_sim(m) and c in seen:
            seen[c] += 1
        return all(v >= n for v in seen.values())

    mon.inbox.wait_for(topics.events, from_now(mon, topics, more), timeout=WAIT_S)


def test_a_counter_signed_in_through_the_caller_is_left_to_its_clerk_until_closed(
    site_cfg: SiteConfig, hub_server: HubServer, simulation: Callable[..., Simulation], mqtt: MqttFactory
) -> None:
    topics = Topics(site_cfg.site.id)
    mon = watcher(mqtt, topics)
    sim = simulation(leave_alone_s=60, leave_alone_min_real_s=0.5)
    served_2 = lambda m: m.json()["type"] == "ticket.called" and counter_of(m) == "2"  # noqa: E731
    mon.inbox.wait_for(topics.events, served_2, timeout=WAIT_S)  # the simulation works at counter 2

    with httpx.Client(base_url=hub_server.url, timeout=WAIT_S) as web:
        assert web.post("/api/caller/2/session", json={"pin": read_pin(site_cfg, "caller-2")}).is_success
        # A clerk signs in at counter 2 as cb003, whom the simulation had put at counter 3: the
        # caller moves the officer here (closing counter 3), as its page offers.
        r = web.post("/api/caller/2/open", json={"args": {"officer": "cb003", "move": True}})
        assert r.json()["ok"], r.text
        assert sim.desks["2"].aside.wait(WAIT_S), "the simulation kept working at the person's counter"
        before = len(mon.inbox.messages(topics.dev_cmd("sim-counter-2")))
        r = web.post("/api/caller/2/call_next", json={})  # the person works: the caller page answers
        assert r.json()["ok"], r.text
        # Counter 1 keeps being served by the simulation; counter 3, closed by the move, is opened
        # again by the simulation with an officer who works nowhere.
        wait_served(mon, topics, {"1", "3"}, 3)
        assert len(mon.inbox.messages(topics.dev_cmd("sim-counter-2"))) == before, (
            "the simulation sent a command for the counter a person works at"
        )
        state = web.post("/api/caller/2/finish", json={})
        assert state.json()["ok"] or state.json()["error"]["code"] == "no_current_ticket", state.text
        reopened = from_now(
            mon, topics, lambda m: m.json()["type"] == "counter.opened" and counter_of(m) == "2"
        )
        served_again = from_now(mon, topics, lambda m: served_2(m) and by_sim(m))
        assert web.post("/api/caller/2/close", json={}).json()["ok"]
    officers = {
        m.json()["data"]["counter"]["counter"]: m.json()["data"]["counter"]["officer"]["id"]
        for m in mon.inbox.messages(topics.events)
        if m.json()["type"] == "counter.opened" and by_sim(m)
    }
    assert officers["3"] != "cb003"  # not the person's officer: the simulation found a free one
    # Released: the simulation opens counter 2 again and serves it.
    assert by_sim(mon.inbox.wait_for(topics.events, reopened, timeout=WAIT_S))
    mon.inbox.wait_for(topics.events, served_again, timeout=WAIT_S)


def test_a_rating_terminal_tapped_by_a_person_is_left_to_people(
    site_cfg: SiteConfig, simulation: Callable[..., Simulation], mqtt: MqttFactory, device: DeviceFactory
) -> None:
    topics = Topics(site_cfg.site.id)
    mon = watcher(mqtt, topics)
    # Every simulated citizen rates, a moment after the visit; a person at the terminal is quicker.
    simulation(rating_share=1.0, rating_delay_s=(30, 30), leave_alone_min_real_s=600)
    terminal = device("rate-1")  # the terminal's own account, as its process (and `curl /rate`) uses
    done_1 = lambda m: m.json()["type"] == "ticket.done" and counter_of(m) == "1"  # noqa: E731
    sim_rated = lambda m: m.json()["type"] == "rating.recorded" and by_sim(m)  # noqa: E731
    mon.inbox.wait_for(topics.events, sim_rated, timeout=WAIT_S)  # the simulation rates, at first
    for _ in range(10):
        ticket = mon.inbox.wait_for(topics.events, from_now(mon, topics, done_1), timeout=WAIT_S)
        try:
            terminal.request("rate", {"score": 1, "ticket": ticket.json()["data"]["ticket"]["id"]})
            break
        except CommandFailed as exc:  # the simulation was quicker, or the next visit ended already
            assert exc.code in ("already_rated", "nothing_to_rate"), exc
    else:
        pytest.fail("a person never managed to rate a visit")
    # The next visits at counter 1 end, and the simulation rates none of them (the first may have
    # ended before the simulation saw the person's rating; the last one is there to let the
    # simulation rate the one before it, which it would do before serving anybody else).
    later = []
    for _ in range(5):
        later.append(mon.inbox.wait_for(topics.events, from_now(mon, topics, done_1), timeout=WAIT_S))
    checked = {m.json()["data"]["ticket"]["id"] for m in later[1:4]}
    rated = {m.json()["args"].get("ticket") for m in mon.inbox.messages(topics.dev_cmd("sim-rate-1"))}
    assert not checked & rated, "the simulation rated a visit at the terminal a person uses"
