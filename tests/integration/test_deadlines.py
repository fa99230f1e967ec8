"""No command runs after its device gave up (issue 11, point 2), and the controller's clock guard.

A real controller process is frozen with SIGSTOP (or killed) while devices press keys; the devices
give up and say so; once it runs again none of those commands may take effect."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from onestop.broker import Broker
from onestop.clock import ManualClock
from onestop.config import SiteConfig
from onestop.device import CommandFailed, NoReply
from onestop.protocol import Topics, iso
from queue_controller.service import Controller
from tests.conftest import MqttFactory
from tests.integration.conftest import ControllerProcess, DeviceFactory
from tests.unit.sites import MONDAY_8AM
from tests.utils.controller_metrics import published_counts

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(site_cfg: SiteConfig) -> Topics:
    return Topics(site_cfg.site.id)


def _running(cp: ControllerProcess, mqtt, topics: Topics):
    hub = mqtt("hub")
    hub.subscribe(topics.dev_status("controller"))
    cp.start()
    hub.inbox.wait_for(topics.dev_status("controller"), lambda m: m.json()["online"], timeout=15)
    hall = mqtt("board-1")
    hall.subscribe(topics.events)
    return hall


def _assert_given_up_commands_did_nothing(kiosk, counter, hall, topics: Topics) -> None:
    # A command sent now is decided after the ones the devices gave up on (one session, in order),
    # and its batch's events are published before its reply: what they did is visible by now.
    fresh = kiosk.request("issue", {"service": "tuphap"})["ticket"]["number"]
    assert fresh == "A003", f"a kiosk tap that showed 'busy' took a number: the next one is {fresh}"
    with pytest.raises(CommandFailed) as e:
        counter.request("recall")
    assert e.value.code == "no_current_ticket", "a call_next the clerk was told had failed called somebody"
    called = [m.json() for m in hall.inbox.messages(topics.events) if m.json()["type"] == "ticket.called"]
    assert called == []


def test_commands_given_up_during_a_stall_never_take_effect(
    controller_process: ControllerProcess, mqtt, topics: Topics, device: DeviceFactory
) -> None:
    hall = _running(controller_process, mqtt, topics)
    kiosk, counter = device("kiosk-1"), device("counter-1")
    kiosk.request("issue", {"service": "tuphap"})
    kiosk.request("issue", {"service": "tuphap"})
    counter.request("open", {"officer": "cb001"})
    assert controller_process.proc is not None
    controller_process.proc.send_signal(signal.SIGSTOP)  # a process frozen (swap storm, debugger, ...)
    try:
        for _ in range(2):
            with pytest.raises(NoReply):
                counter.request("call_next", timeout=0.4, retries=1)
        with pytest.raises(NoReply):
            kiosk.request("issue", {"service": "tuphap"}, timeout=0.4, retries=0)
    finally:
        controller_process.proc.send_signal(signal.SIGCONT)
    _assert_given_up_commands_did_nothing(kiosk, counter, hall, topics)


def test_commands_given_up_while_the_controller_was_down_never_take_effect(
    controller_process: ControllerProcess, mqtt, topics: Topics, device: DeviceFactory
) -> None:
    hall = _running(controller_process, mqtt, topics)
    kiosk, counter = device("kiosk-1"), device("counter-1")
    kiosk.request("issue", {"service": "tuphap"})
    kiosk.request("issue", {"service": "tuphap"})
    counter.request("open", {"officer": "cb001"})
    controller_process.kill()
    with pytest.raises(NoReply):
        counter.request("call_next", timeout=0.4, retries=1)
    with pytest.raises(NoReply):
        kiosk.request("issue", {"service": "tuphap"}, timeout=0.4, retries=0)
    controller_process.start()
    _assert_given_up_commands_did_nothing(kiosk, counter, hall, topics)


def test_a_device_learns_the_controller_clock_from_its_replies(
    controller: Controller, device: DeviceFactory
) -> None:
    kiosk = device("kiosk-1")
    kiosk._offset = timedelta(hours=-1)  # a kiosk whose clock runs an hour fast
    with pytest.raises(CommandFailed) as e:
        kiosk.request("issue", {"service": "tuphap"})
    assert e.value.code == "expired"  # on the safe side: refused, nothing done
    assert abs(kiosk._offset.total_seconds()) < 1.0, "the reply's ts should have corrected the offset"
    assert kiosk.request("issue", {"service": "tuphap"})["ticket"]["number"] == "A001"


def _started(
    cfg: SiteConfig, credentials: dict[str, str], broker: Broker, tmp_path: Path, clock: ManualClock
) -> Controller:
    """A controller in this process on ``clock``, with its store in ``tmp_path`` (kept across runs)."""
    c = Controller(
        cfg, credentials["controller"], db_path=tmp_path / "c.db", host=broker.host, port=broker.port,
        clock=clock, tick_s=0.1,
    )  # fmt: skip
    c.start()
    return c


def test_a_clock_behind_the_store_is_not_trusted_until_it_catches_up(
    site_cfg: SiteConfig,
    broker: Broker,
    credentials: dict[str, str],
    tmp_path: Path,
    device: DeviceFactory,
    mqtt: MqttFactory,
) -> None:
    clock = ManualClock(MONDAY_8AM)

    def run() -> Controller:
        return _started(site_cfg, credentials, broker, tmp_path, clock)

    ctl = run()
    kiosk = device("kiosk-1")
    kiosk._offset = timedelta(0)
    assert kiosk.request("issue", {"service": "tuphap"})["ticket"]["number"] == "A001"
    ctl.stop()
    # A Raspberry Pi without a real-time clock boots with the time of its last shutdown, or 1970.
    clock.set(MONDAY_8AM - timedelta(days=30))
    ctl = run()
    try:
        with pytest.raises(CommandFailed) as e:
            kiosk.request("issue", {"service": "tuphap"})
        assert e.value.code == "unavailable" and "behind" in e.value.message
        assert ctl.health.state("clock") == "behind_store"
        clock.set(MONDAY_8AM + timedelta(minutes=1))  # NTP answered
        kiosk._offset = timedelta(0)  # the kiosk's estimate was made on the clock that was 30 days behind
        assert kiosk.request("issue", {"service": "tuphap"})["ticket"]["number"] == "A002"
        assert ctl.health.state("clock") == "ok"
        counts = published_counts(mqtt, Topics(site_cfg.site.id), ctl, lambda c: ("issue", "ok") in c)
        assert (counts[("issue", "unavailable")], counts[("issue", "ok")]) == (1, 1)
    finally:
        ctl.stop()


def test_a_command_past_its_deadline_is_counted_expired(
    controller: Controller, mqtt: MqttFactory, topics: Topics
) -> None:
    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))
    late = iso(datetime.now(UTC) - timedelta(minutes=5))  # the device gave up five minutes ago
    raw.publish(
        topics.dev_cmd("kiosk-1"),
        {"id": "late-1", "op": "issue", "args": {"service": "tuphap"}, "deadline": late},
    )
    reply = raw.inbox.wait_for(topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == "late-1").json()
    assert reply["error"]["code"] == "expired"
    counts = published_counts(mqtt, topics, controller, lambda c: ("issue", "expired") in c)
    assert counts == {("issue", "expired"): 1}


def test_a_refusal_holds_for_the_copies_that_come_after_a_restart(
    site_cfg: SiteConfig,
    broker: Broker,
    credentials: dict[str, str],
    tmp_path: Path,
    mqtt: MqttFactory,
) -> None:
    """A kiosk was told "unavailable" (it showed "busy"); a copy of the same try, still queued, reaches
    a controller that restarted meanwhile with a trusted clock: it gets the same refusal, and no ticket
    is issued. A new try (a new deadline) is decided."""
    clock = ManualClock(MONDAY_8AM)
    topics = Topics(site_cfg.site.id)

    def run() -> Controller:
        return _started(site_cfg, credentials, broker, tmp_path, clock)

    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))

    def ask(cid: str, deadline: datetime) -> dict[str, Any]:
        raw.inbox.clear()
        cmd = {"id": cid, "op": "issue", "args": {"service": "tuphap"}, "deadline": iso(deadline)}
        raw.publish(topics.dev_cmd("kiosk-1"), cmd)
        reply: dict[str, Any] = raw.inbox.wait_for(
            topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == cid, timeout=15
        ).json()
        return reply

    ctl = run()
    first = ask("try-0", MONDAY_8AM + timedelta(minutes=1))
    assert first["ok"], first  # A001: the store now holds 08:00
    ctl.stop()
    clock.set(MONDAY_8AM - timedelta(days=30))  # no real-time clock: the clock is behind the store
    ctl = run()
    deadline = MONDAY_8AM + timedelta(minutes=5)
    refused = ask("try-1", deadline)
    assert refused["error"]["code"] == "unavailable"
    ctl.stop()  # the memory of the refusal goes with the process; the store keeps it
    clock.set(MONDAY_8AM + timedelta(minutes=1))  # NTP answered: trusted, the deadline not yet passed
    ctl = run()
    try:
        again = ask("try-1", deadline)  # a copy of the same try
        assert again == refused, "a copy of a refused try was decided after the restart"
        assert ctl.engine is not None
        assert sum(s.issued for s in ctl.engine.services.values()) == 1
        fresh = ask("try-1", deadline + timedelta(seconds=30))  # the citizen's "try again"
        assert fresh["ok"] and fresh["result"]["ticket"]["number"] == "A002", fresh
    finally:
        ctl.stop()
