"""The rating terminal end to end: view-model + MQTT shell, real broker and in-process controller."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kiosk_app.rating.device import RatingDevice
from kiosk_app.rating.headless import HeadlessRating
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.device import DeviceClient
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.site import SITE

pytestmark = pytest.mark.integration

RatingFactory = Callable[..., RatingDevice]
TOPICS = Topics("t-site")


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    """The test site plus a second rating terminal of counter 1, as `onestop up --traffic` adds one
    for its simulator (one connection per account: the simulator cannot share rate-1's)."""
    twin = {"id": "sim-rate-1", "role": "rating", "counter": "1"}
    return site_factory({"devices": [*SITE["devices"], twin]})


@pytest.fixture
def rating_factory(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str]
) -> Iterator[RatingFactory]:
    """``rating_factory(**kw)``: a started rate-1 (counter 1) on the test broker (short timeouts)."""
    made: list[RatingDevice] = []
    cfg = site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})

    def make(**kw: Any) -> RatingDevice:
        opts: dict[str, Any] = {"request_timeout_s": 2.0, "retries": 1, "health_s": 3600}
        opts.update(kw)
        r = RatingDevice(cfg, "rate-1", credentials["rate-1"], **opts)
        r.start()
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


class Counter:
    """Counter 1 worked by officer cb001, with tickets from kiosk-1."""

    def __init__(self, device: DeviceFactory) -> None:
        self.kiosk: DeviceClient = device("kiosk-1")
        self.counter: DeviceClient = device("counter-1")
        self.counter.request("open", {"officer": "cb001"})

    def serve_one(self) -> dict[str, Any]:
        """Issue a ticket, call it and finish it; return the finished ticket."""
        self.kiosk.request("issue", {"service": "tuphap"})
        self.counter.request("call_next")
        return self.counter.request("finish")["ticket"]


def _rating_events(hub: Any) -> list[dict[str, Any]]:
    return [m.json() for m in hub.inbox.messages(TOPICS.events) if m.json()["type"] == "rating.recorded"]


def _barrier(hub: Any, counter: Counter) -> None:
    """Every event published before this call has arrived (events are ordered by seq): pause the
    (open) counter and wait for *that* counter.paused event, not an earlier one."""
    paused = [m for m in hub.inbox.messages(TOPICS.events) if m.json()["type"] == "counter.paused"]
    seen = {"n": 0}

    def new_pause(m: Any) -> bool:
        if m.json()["type"] == "counter.paused":
            seen["n"] += 1
        return seen["n"] > len(paused)

    counter.counter.request("pause")
    hub.inbox.wait_for(TOPICS.events, new_pause)


def test_a_finished_ticket_offers_the_levels_and_one_press_records_one_rating(
    rating_factory: RatingFactory, controller: Controller, device: DeviceFactory, mqtt: Any
) -> None:
    hub = mqtt("hub")
    hub.subscribe(TOPICS.events, TOPICS.dev_health("rate-1"), TOPICS.dev_status("rate-1"))
    t = [0.0]
    r = rating_factory(clock=lambda: t[0])
    vm = r.vm
    counter = Counter(device)
    # the terminal follows its counter: the officer, then the ticket being served
    assert vm.wait_for(lambda m: m.view().officer is not None, 5), vm.view()
    counter.kiosk.request("issue", {"service": "tuphap"})
    called = counter.counter.request("call_next")["ticket"]
    assert vm.wait_for(lambda m: m.view().number == called["number"], 5), vm.view()
    assert vm.view().lines[0][0] == f"Đang phục vụ số {called['number']}" and vm.screen == "idle"
    finished = counter.counter.request("finish")["ticket"]
    assert vm.wait_for(lambda m: m.screen == "rate", 5), vm.view()
    v = vm.view()
    assert v.number == finished["number"] and [lv.score for lv in v.levels] == [3, 2, 1]
    assert v.officer is not None and v.officer.name == "Nguyễn Thị Lan"
    assert vm.choose(3)
    assert vm.wait_for(lambda m: m.screen == "thanks", 10), vm.view()
    ev = hub.inbox.wait_for(TOPICS.events, lambda m: m.json()["type"] == "rating.recorded").json()
    rating = ev["data"]["rating"]
    assert (rating["ticket"], rating["number"], rating["score"], rating["officer"]) == (
        finished["id"], finished["number"], 3, "cb001"
    )  # fmt: skip
    assert rating["level"] == "Rất hài lòng" and rating["satisfied"] and rating["counter"] == "1"
    # a second press, on another level, later: nothing (the buttons are gone until the next ticket)
    t[0] += 5
    assert not vm.choose(1)
    _barrier(hub, counter)
    assert len(_rating_events(hub)) == 1 and len(vm.sent) == 1
    # presence and health are retained
    status = hub.inbox.wait_for(TOPICS.dev_status("rate-1"), lambda m: m.json()["online"]).json()
    assert status["role"] == "rating"
    health = hub.inbox.wait_for(TOPICS.dev_health("rate-1")).json()
    assert health["screen"] == "ok" and "ts" in health


def test_not_satisfied_asks_for_reasons_and_records_them(
    rating_factory: RatingFactory, controller: Controller, device: DeviceFactory, mqtt: Any
) -> None:
    hub = mqtt("hub")
    hub.subscribe(TOPICS.events)
    t = [0.0]
    r = rating_factory(clock=lambda: t[0])
    vm = r.vm
    counter = Counter(device)
    finished = counter.serve_one()
    assert vm.wait_for(lambda m: m.screen == "rate" and m.view().number == finished["number"], 5)
    assert vm.choose(1)
    assert vm.screen == "reasons" and [c.text for c in vm.view().reasons] == [
        "Thái độ phục vụ",
        "Chờ lâu",
        "Khác",
    ]
    t[0] += 2
    assert vm.toggle_reason(1)
    t[0] += 2
    assert vm.toggle_comment(0)
    t[0] += 2
    assert vm.press("send")
    assert vm.wait_for(lambda m: m.screen == "thanks", 10), vm.view()
    ev = hub.inbox.wait_for(TOPICS.events, lambda m: m.json()["type"] == "rating.recorded").json()
    rating = ev["data"]["rating"]
    assert (rating["ticket"], rating["score"], rating["satisfied"]) == (finished["id"], 1, False)
    assert rating["reasons"] == ["Chờ lâu"] and rating["comment"] == vm.comments[0].vi
    assert rating["level"] == "Không hài lòng"


def test_a_skipped_ticket_is_not_offered_and_a_rating_from_elsewhere_closes_the_offer(
    rating_factory: RatingFactory, controller: Controller, device: DeviceFactory, mqtt: Any
) -> None:
    hub = mqtt("hub")
    hub.subscribe(TOPICS.events)
    t = [0.0]
    r = rating_factory(clock=lambda: t[0])
    vm = r.vm
    counter = Counter(device)
    counter.kiosk.request("issue", {"service": "tuphap"})
    counter.counter.request("call_next")
    counter.counter.request("skip")
    _barrier(hub, counter)
    assert vm.wait_for(lambda m: m.view().lines[0][0].startswith("Quầy tạm dừng"), 5), vm.view()
    t[0] += 10  # long past the grace for a lost event
    vm.tick()
    assert vm.screen == "idle"  # the skip event came: nothing to offer
    counter.counter.request("resume")
    finished = counter.serve_one()
    assert vm.wait_for(lambda m: m.screen == "rate", 5)
    # another terminal of the same counter (the traffic simulator's twin does this) rates first
    other = device("sim-rate-1")
    other.request("rate", {"score": 2})
    assert vm.wait_for(lambda m: m.screen == "idle", 5), vm.view()
    assert not vm.choose(3)
    # The hub's connection is not ordered with the terminal's: wait for the event there too.
    hub.inbox.wait_for(TOPICS.events, lambda m: m.json()["type"] == "rating.recorded")
    assert [e["data"]["rating"]["ticket"] for e in _rating_events(hub)] == [finished["id"]]


def test_the_headless_trigger_rates_the_ticket_that_ended(
    rating_factory: RatingFactory, controller: Controller, device: DeviceFactory, mqtt: Any
) -> None:
    hub = mqtt("hub")
    hub.subscribe(TOPICS.events)
    r = rating_factory(guard_s=0.0)
    trigger = HeadlessRating(r.vm)
    trigger.start()
    try:
        counter = Counter(device)
        assert httpx.post(f"{trigger.url}/rate", json={"score": 3, "wait_s": 0}).status_code == 409
        finished = counter.serve_one()
        resp = httpx.post(f"{trigger.url}/rate", json={"score": 1, "reasons": ["Khác"]}, timeout=30)
        assert resp.status_code == 200 and resp.json()["screen"] == "thanks", resp.text
        rating = hub.inbox.wait_for(TOPICS.events, lambda m: m.json()["type"] == "rating.recorded").json()
        assert rating["data"]["rating"]["ticket"] == finished["id"]
        assert rating["data"]["rating"]["reasons"] == ["Khác"]
        again = httpx.post(f"{trigger.url}/rate", json={"score": 3, "wait_s": 0})
        assert again.status_code == 409
        bad = httpx.post(f"{trigger.url}/rate", json={"score": 9})
        assert bad.status_code == 400
        assert httpx.get(f"{trigger.url}/screen").json()["screen"] == "thanks"
    finally:
        trigger.stop()


def test_the_cli_refuses_a_device_that_is_not_a_rating_terminal(site_cfg: SiteConfig) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "onestop", "rating", "run", "--config", site_cfg.source,
         "--device", "kiosk-1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "not a rating" in r.stderr
