"""Fair share for every device (docs/protocol.md "Fair share"), over a real Mosquitto.

A flooding device is rate-limited, cannot delay the other devices, does not fill the controller's
disk, and is reported once a minute and in the controller's health. The limiter's monotonic clock is
injected: the tests move it, they never sleep.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from onestop.broker import Broker
from onestop.config import LimitsSection, SiteConfig
from onestop.protocol import Topics, iso
from queue_controller.service import BATCH_MAX, Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.controller_metrics import published_counts
from tests.utils.mqtt import TestClient

pytestmark = pytest.mark.integration

#: The defaults of [limits] (sized for people), which the test site otherwise lifts.
PEOPLE = {
    "limits": {
        "kiosk": {"burst": 10, "per_minute": 20},
        "counter": {"burst": 10, "per_minute": 30},
        "rating": {"burst": 3, "per_minute": 6},
    }
}


class Mono:
    """The limiter's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    return site_factory(PEOPLE)


@pytest.fixture
def mono() -> Mono:
    return Mono()


@pytest.fixture
def ctl(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], tmp_path: Path, mono: Mono
) -> Iterator[Controller]:
    c = Controller(
        site_cfg,
        credentials["controller"],
        db_path=tmp_path / "controller.db",
        host=broker.host,
        port=broker.port,
        tick_s=0.2,
        fatal=lambda reason: pytest.fail(f"controller stopped: {reason}"),
        monotonic=mono,
    )
    c.start()
    yield c
    c.stop()


@pytest.fixture
def topics(site_cfg: SiteConfig) -> Topics:
    return Topics(site_cfg.site.id)


def flood(client: TestClient, topic: str, n: int, op: str, args: dict[str, Any]) -> None:
    """Publish ``n`` commands and wait until the broker has them all."""
    info = None
    for i in range(n):
        info = client.publish(topic, {"id": f"flood-{i:06d}", "op": op, "args": args})
    assert info is not None
    client.wait_ack(info, timeout=120)


def commands_rows(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT count(*) FROM commands").fetchone()[0])


def test_a_flooding_kiosk_is_rate_limited_after_its_burst(ctl: Controller, mqtt, topics: Topics) -> None:
    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))
    reply_topic = topics.dev_reply("kiosk-1")
    # Within the test site's backlog (5000), so that every command is answered, the last one too.
    flood(raw, topics.dev_cmd("kiosk-1"), 1100, "issue", {"service": "tuphap"})
    raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "flood-001099", timeout=60)
    replies = [m.json() for m in raw.inbox.messages(reply_topic)]
    assert len(replies) == 1100
    ok = [r for r in replies if r["ok"]]
    limited = [r for r in replies if not r["ok"]]
    # The limiter's clock stood still: exactly the burst got numbers, out of 999.
    assert [r["result"]["ticket"]["number"] for r in ok] == [f"A{i:03d}" for i in range(1, 11)]
    assert {r["error"]["code"] for r in limited} == {"rate_limited"}
    assert "try again in" in limited[0]["error"]["message"]
    assert ctl.stats["rate_limited"] == 1090
    # ... and counted for the operator's metrics, by op and code.
    counts = published_counts(mqtt, topics, ctl, lambda c: ("issue", "rate_limited") in c)
    assert (counts[("issue", "rate_limited")], counts[("issue", "ok")]) == (1090, 10)


def test_a_rate_limited_command_is_decided_again_with_the_same_id(
    ctl: Controller, mqtt, topics: Topics, mono: Mono
) -> None:
    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))
    reply_topic = topics.dev_reply("kiosk-1")
    flood(raw, topics.dev_cmd("kiosk-1"), 11, "issue", {"service": "tuphap"})
    last = raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "flood-000010").json()
    assert last["error"]["code"] == "rate_limited"
    mono.t += 3.0  # one token back (20 a minute)
    raw.inbox.clear()
    raw.publish(
        topics.dev_cmd("kiosk-1"), {"id": "flood-000010", "op": "issue", "args": {"service": "tuphap"}}
    )
    again = raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "flood-000010").json()
    assert again["ok"] and again["result"]["ticket"]["number"] == "A011"


def test_a_copy_of_a_refused_try_gets_the_same_refusal_a_new_try_is_decided(
    ctl: Controller, mqtt, topics: Topics, mono: Mono
) -> None:
    """A device retries one try with the same id and the same deadline: once the first copy was
    refused rate_limited (and the kiosk showed "busy"), a later copy must not issue a ticket."""
    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))
    reply_topic = topics.dev_reply("kiosk-1")
    flood(raw, topics.dev_cmd("kiosk-1"), 10, "issue", {"service": "tuphap"})  # the burst
    deadline = iso(datetime.now(UTC) + timedelta(minutes=5))
    try_1 = {"id": "try", "op": "issue", "args": {"service": "tuphap"}, "deadline": deadline}
    raw.publish(topics.dev_cmd("kiosk-1"), try_1)
    first = raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "try").json()
    assert first["error"]["code"] == "rate_limited"
    mono.t += 60.0  # tokens are back
    raw.inbox.clear()
    raw.publish(topics.dev_cmd("kiosk-1"), try_1)  # a retry of the same try, queued behind the first
    copy = raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "try").json()
    assert copy == first, "a copy of a try the kiosk reported as busy was decided for real"
    raw.inbox.clear()
    try_2 = {**try_1, "deadline": iso(datetime.now(UTC) + timedelta(minutes=6))}  # "Thử lại"
    raw.publish(topics.dev_cmd("kiosk-1"), try_2)
    again = raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "try").json()
    assert again["ok"] and again["result"]["ticket"]["number"] == "A011"


def test_a_counter_is_served_at_once_while_another_device_floods(
    ctl: Controller, mqtt, topics: Topics, device: DeviceFactory
) -> None:
    ctl._inbox.backlog = LimitsSection().backlog  # the default, not the test site's
    opener = device("counter-1")
    opener.request("open", {"officer": "cb001"})
    opener.stop()  # one connection per account: the clerk's raw press below takes the account over
    counter_topic = topics.dev_cmd("counter-1")
    kiosk_topic = topics.dev_cmd("kiosk-1")
    # The controller's own counters, kept in its worker thread: the batch that read the clerk's press
    # and the one that decided it, and how many flood commands it had decided at each point.
    seen: dict[str, int] = {}
    flood_decided = 0
    on_message = ctl.mqtt.on_message
    process = ctl._process
    stalled, go = threading.Event(), threading.Event()

    def is_press(m: Any) -> bool:
        return getattr(m, "topic", "") == counter_topic and b'"press"' in m.payload

    def enqueue(msg: paho.MQTTMessage) -> None:
        if is_press(msg) and "read_in_batch" not in seen:
            seen.update(read_in_batch=ctl.stats["batches"], flood_at_read=flood_decided)
        assert on_message is not None
        on_message(msg)

    def decide(batch: list[Any]) -> None:
        nonlocal flood_decided
        if not go.is_set():  # the controller is behind (a slow disk, a busy CPU): it reads nothing
            stalled.set()
            go.wait(60)
        if "decided_in_batch" not in seen and any(is_press(m) for m in batch):
            seen.update(decided_in_batch=ctl.stats["batches"], flood_at_decision=flood_decided)
        flood_decided += sum(1 for m in batch if getattr(m, "topic", "") == kiosk_topic)
        process(batch)

    ctl.mqtt.on_message = enqueue
    ctl._process = decide  # type: ignore[method-assign]
    assert stalled.wait(10)
    raw = mqtt("kiosk-1")
    press = mqtt("counter-1")
    press.subscribe(topics.dev_reply("counter-1"))
    # 25,000 forbidden commands (a kiosk may not call) wait for the controller, then the clerk's press.
    flood(raw, kiosk_topic, 25_000, "call_next", {})
    press.publish_acked(counter_topic, {"id": "press", "op": "call_next", "args": {}})
    go.set()
    reply = press.inbox.wait_for(topics.dev_reply("counter-1"), lambda m: m.json()["id"] == "press", 60)
    assert reply.json()["ok"] and reply.json()["result"]["ticket"] is None
    # Decided in the batch after the one that read it, with at most one batch of the flood in between;
    # the old FIFO inbox first decided every flood command it had read before it (thousands).
    assert seen["decided_in_batch"] - seen["read_in_batch"] <= 1, seen
    assert seen["flood_at_decision"] - seen["flood_at_read"] <= BATCH_MAX, seen
    # The flood over the device's backlog was dropped unread (and acknowledged to the broker).
    assert ctl.stats["dropped"] > 0


def test_refused_commands_are_not_stored(
    ctl: Controller, mqtt, topics: Topics, tmp_path: Path, device: DeviceFactory
) -> None:
    db = tmp_path / "controller.db"
    ctl._inbox.backlog = 20_000  # every one of them is decided (none dropped), and answered
    kiosk = device("kiosk-1")
    kiosk.request("issue", {"service": "tuphap"})  # a stored reply, for idempotency
    kiosk.stop()  # one connection per account: the raw flood below takes the account over
    before = commands_rows(db)
    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))
    reply_topic = topics.dev_reply("kiosk-1")
    flood(raw, topics.dev_cmd("kiosk-1"), 10_000, "call_next", {})
    raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "flood-009999", timeout=60)
    # Forbidden while its tokens lasted, then rate-limited: neither is stored one row per command.
    assert commands_rows(db) == before
    codes = [m.json()["error"]["code"] for m in raw.inbox.messages(reply_topic)]
    assert len(codes) == 10_000
    assert set(codes) == {"forbidden", "rate_limited"} and codes.count("forbidden") == 9
    # A malformed command that names its id: answered bad_request, not stored either.
    raw.inbox.clear()
    raw.publish(topics.dev_cmd("kiosk-1"), {"id": "bad-1", "op": "issue", "args": "tuphap"})
    bad = raw.inbox.wait_for(reply_topic, lambda m: m.json()["id"] == "bad-1").json()
    assert bad["error"]["code"] == "bad_request"
    assert commands_rows(db) == before


def test_a_state_dependent_refusal_is_still_stored(
    ctl: Controller, device: DeviceFactory, tmp_path: Path
) -> None:
    counter = device("counter-1")
    with pytest.raises(Exception, match="counter_closed"):
        counter.request("call_next")
    assert commands_rows(tmp_path / "controller.db") == 1


def test_a_misbehaving_device_is_reported_once_a_minute_then_cleared(
    ctl: Controller, mqtt, topics: Topics, mono: Mono, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="onestop.controller")
    hub = mqtt("monitor")
    health_topic = topics.dev_health("controller")
    hub.subscribe(health_topic)
    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))
    flood(raw, topics.dev_cmd("kiosk-1"), 1000, "issue", {"service": "datdai"})
    raw.inbox.wait_for(topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == "flood-000999", timeout=60)

    def devices_state(m: Any) -> dict[str, Any]:
        return dict(m.json()["conditions"].get("devices") or {"state": "ok"})

    alarm = hub.inbox.wait_for(health_topic, lambda m: devices_state(m)["state"] == "misbehaving").json()
    assert alarm["status"] == "alarm"
    assert devices_state_detail(alarm).startswith("kiosk-1: ")
    assert "rate_limited" in devices_state_detail(alarm)
    # Still in the same minute of the limiter's clock: one warning, however many commands it refused.
    raw.inbox.clear()
    flood(raw, topics.dev_cmd("kiosk-1"), 500, "issue", {"service": "datdai"})
    raw.inbox.wait_for(topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == "flood-000499", timeout=60)
    warnings = [r for r in caplog.records if "misbehaving device kiosk-1" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    per_command = [r for r in caplog.records if "refused: rate_limited" in r.getMessage()]
    assert len(per_command) <= 10, "the log must not get one line per refused command"
    # Two quiet minutes later the condition is cleared (the worker reviews even without traffic).
    mono.t += 121
    hub.inbox.wait_for(
        health_topic,
        lambda m: m.json()["conditions"].get("devices", {}).get("state") == "ok",
        timeout=10,
    )
    assert ctl.health.state("devices") == "ok"


def devices_state_detail(payload: dict[str, Any]) -> str:
    return str(payload["conditions"]["devices"]["detail"])
