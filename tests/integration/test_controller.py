"""The controller over a real Mosquitto (auth and ACL on): the protocol of ARCHITECTURE §3."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from onestop.config import SiteConfig
from onestop.device import CommandFailed
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.integration.conftest import ControllerProcess, DeviceFactory
from tests.utils.mqtt import TestClient

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(site_cfg: SiteConfig) -> Topics:
    return Topics(site_cfg.site.id)


@pytest.fixture
def hall(mqtt, topics: Topics) -> TestClient:
    """An observer with the board's rights: state and events."""
    c = mqtt("board-1")
    c.subscribe(topics.state_all, topics.events)
    return c


def test_issue_call_and_retained_state(
    controller: Controller, device: DeviceFactory, hall: TestClient, topics: Topics, mqtt
) -> None:
    kiosk, counter = device("kiosk-1"), device("counter-1")
    r = kiosk.request("issue", {"service": "tuphap"})
    assert (r["ticket"]["number"], r["ticket"]["status"], r["ahead"]) == ("A001", "waiting", 0)
    ev = hall.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "ticket.issued").json()
    assert ev["seq"] == 1 and ev["data"]["ticket"]["id"] == r["ticket"]["id"]
    counter.request("open", {"officer": "cb001"})
    called = counter.request("call_next")["ticket"]
    assert (called["number"], called["counter"], called["status"]) == ("A001", "1", "called")
    board = hall.inbox.wait_for(topics.board, lambda m: bool(m.json()["calls"])).json()
    assert board["calls"][0] == {
        **board["calls"][0],
        "number": "A001",
        "counter": "1",
        "counter_label": "Quầy 1",
    }
    # A display that starts now gets the whole picture from retained messages alone.
    late = mqtt("announcer-1")
    late.subscribe(topics.state_all)
    st = late.inbox.wait_for(topics.counter_state("1")).json()
    assert (st["status"], st["serving"]["number"], st["officer"]["name"]) == (
        "open",
        "A001",
        "Nguyễn Thị Lan",
    )
    assert late.inbox.wait_for(topics.counter_state("1")).retain
    svc = late.inbox.wait_for(topics.service_state("tuphap")).json()
    assert (svc["waiting"], svc["last_issued"], svc["seq"]) == (0, "A001", st["seq"])


def test_refusals_come_back_as_error_codes(controller: Controller, device: DeviceFactory) -> None:
    kiosk, counter = device("kiosk-1"), device("counter-1")
    with pytest.raises(CommandFailed) as e:
        kiosk.request("call_next")
    assert e.value.code == "forbidden"
    with pytest.raises(CommandFailed) as e:
        kiosk.request("issue", {"service": "nope"})
    assert e.value.code == "unknown_service"
    with pytest.raises(CommandFailed) as e:
        counter.request("call_next")
    assert e.value.code == "counter_closed"


def test_a_repeated_command_id_gets_the_same_reply_and_changes_nothing(
    controller: Controller, mqtt, topics: Topics
) -> None:
    kiosk = mqtt("kiosk-1")
    kiosk.subscribe(topics.dev_reply("kiosk-1"))
    cmd = {"id": str(uuid.uuid4()), "op": "issue", "args": {"service": "datdai"}}
    for _ in range(3):
        kiosk.publish(topics.dev_cmd("kiosk-1"), cmd)
    kiosk.publish(topics.dev_cmd("kiosk-1"), {"id": "sentinel", "op": "issue", "args": {"service": "datdai"}})
    kiosk.inbox.wait_for(topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == "sentinel")
    replies = [
        m.json() for m in kiosk.inbox.messages(topics.dev_reply("kiosk-1")) if m.json()["id"] == cmd["id"]
    ]
    assert len(replies) == 3 and replies[0] == replies[1] == replies[2]
    assert replies[0]["result"]["ticket"]["number"] == "B001"
    sentinel = kiosk.inbox.wait_for(
        topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == "sentinel"
    ).json()
    assert sentinel["result"]["ticket"]["number"] == "B002"


@pytest.mark.parametrize(
    ("payload", "answered"),
    [
        (b"not json", False),
        (b"\xff\xfe{", False),
        (b"[1, 2, 3]", False),
        (b'{"op": "issue", "args": {}}', False),
        (b"[" * 3000 + b"]" * 3000, False),
        (b'{"id": "deep", "x": ' + b"[" * 6000 + b"]" * 6000 + b"}", True),
        (b'{"id": "deep2", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}", True),
        (json.dumps({"id": "m1", "op": "explode", "args": {}}).encode(), True),
        (json.dumps({"id": "m2", "op": "issue", "args": "tuphap"}).encode(), True),
        (json.dumps({"id": "m3", "op": "issue", "args": {"service": "tuphap"}, "extra": 1}).encode(), True),
        (
            json.dumps(
                {"id": "m4", "op": "issue", "args": {"service": "tuphap", "pad": "x" * 20_000}}
            ).encode(),
            True,
        ),
        (json.dumps({"id": "x" * 65, "op": "issue", "args": {}}).encode(), False),
    ],
)
def test_malformed_payloads_never_stop_the_controller(
    controller: Controller, mqtt, topics: Topics, device: DeviceFactory, payload: bytes, answered: bool
) -> None:
    raw = mqtt("kiosk-1")
    raw.subscribe(topics.dev_reply("kiosk-1"))
    raw.publish(topics.dev_cmd("kiosk-1"), payload)
    raw.publish(topics.dev_cmd("kiosk-1"), {"id": "after", "op": "issue", "args": {"service": "tuphap"}})
    after = raw.inbox.wait_for(topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == "after").json()
    assert after["ok"] and after["result"]["ticket"]["number"] == "A001", "the controller must keep working"
    others = [m.json() for m in raw.inbox.messages(topics.dev_reply("kiosk-1")) if m.json()["id"] != "after"]
    if answered:
        assert len(others) == 1 and others[0]["ok"] is False and others[0]["error"]["code"] == "bad_request"
        assert others[0]["error"]["message"]
    else:
        assert others == []
    assert controller.stats["bad_payloads"] == 1


def test_a_packet_over_the_broker_limit_disconnects_only_its_sender(
    controller: Controller, mqtt, topics: Topics, device: DeviceFactory
) -> None:
    raw = mqtt("kiosk-1")
    raw.publish(topics.dev_cmd("kiosk-1"), b"x" * 200_000)
    raw.wait_disconnected()
    assert device("kiosk-1").request("issue", {"service": "tuphap"})["ticket"]["number"] == "A001"


def test_hub_replay_returns_the_gapless_event_log(
    controller: Controller, device: DeviceFactory, mqtt, topics: Topics
) -> None:
    kiosk, counter = device("kiosk-1"), device("counter-1")
    counter.request("open")
    for _ in range(5):
        kiosk.request("issue", {"service": "tuphap"})
    counter.request("call_next")
    hub = mqtt("hub")
    hub.subscribe(topics.dev_reply("hub"), topics.events)
    hub.publish(topics.dev_cmd("hub"), {"id": "r1", "op": "replay", "args": {"from_seq": 2, "limit": 3}})
    r = hub.inbox.wait_for(topics.dev_reply("hub"), lambda m: m.json()["id"] == "r1").json()
    assert r["ok"] and [e["seq"] for e in r["result"]["events"]] == [2, 3, 4]
    assert r["result"]["last_seq"] == 7
    hub.publish(topics.dev_cmd("hub"), {"id": "r2", "op": "replay", "args": {"from_seq": 1, "limit": 100}})
    full = hub.inbox.wait_for(topics.dev_reply("hub"), lambda m: m.json()["id"] == "r2").json()["result"][
        "events"
    ]
    assert [e["seq"] for e in full] == list(range(1, 8))
    assert [e["type"] for e in full] == ["counter.opened", *["ticket.issued"] * 5, "ticket.called"]
    hub.publish(topics.dev_cmd("hub"), {"id": "r3", "op": "replay", "args": {"from_seq": 0}})
    bad = hub.inbox.wait_for(topics.dev_reply("hub"), lambda m: m.json()["id"] == "r3").json()
    assert bad["error"]["code"] == "bad_request"
    # Devices cannot replay.
    with pytest.raises(CommandFailed) as e:
        kiosk.request("replay", {"from_seq": 1})
    assert e.value.code == "forbidden"


def test_presence_from_status_and_last_will(
    controller: Controller, device: DeviceFactory, mqtt, topics: Topics
) -> None:
    hall = mqtt("hub")  # only the service accounts may read other devices' presence
    hall.subscribe(topics.dev_status("kiosk-1"))
    kiosk = device("kiosk-1")
    assert (
        hall.inbox.wait_for(topics.dev_status("kiosk-1"), lambda m: m.json()["online"]).json()["role"]
        == "kiosk"
    )
    with controller.presence_changed:
        assert controller.presence_changed.wait_for(lambda: controller.presence.get("kiosk-1") is True, 5)
    kiosk.mqtt.paho.socket().close()  # a power cut: no DISCONNECT, the broker sends the Will
    hall.inbox.wait_for(topics.dev_status("kiosk-1"), lambda m: m.json()["online"] is False)
    with controller.presence_changed:
        assert controller.presence_changed.wait_for(lambda: controller.presence.get("kiosk-1") is False, 5)


def test_idempotency_and_state_survive_a_restart(
    site_cfg: SiteConfig, broker, credentials, tmp_path, mqtt, topics: Topics
) -> None:
    def run() -> Controller:
        c = Controller(
            site_cfg,
            credentials["controller"],
            db_path=tmp_path / "c.db",
            host=broker.host,
            port=broker.port,
            tick_s=0.2,
        )
        c.start()
        return c

    ctl = run()
    kiosk = mqtt("kiosk-1")
    kiosk.subscribe(topics.dev_reply("kiosk-1"))
    cmd = {"id": "once", "op": "issue", "args": {"service": "tuphap", "priority": True}}
    kiosk.publish(topics.dev_cmd("kiosk-1"), cmd)
    first = kiosk.inbox.wait_for(topics.dev_reply("kiosk-1")).json()
    ctl.stop()
    kiosk.inbox.clear()
    ctl = run()
    try:
        kiosk.publish(topics.dev_cmd("kiosk-1"), cmd)
        again = kiosk.inbox.wait_for(topics.dev_reply("kiosk-1")).json()
        assert again == first
        assert ctl.engine is not None and ctl.engine.services["tuphap"].issued == 1
        assert [t.number for t in ctl.engine.waiting_list("tuphap")] == ["A001"]
    finally:
        ctl.stop()


def test_sigkill_mid_stream_loses_nothing(
    controller_process: ControllerProcess, mqtt, topics: Topics, site_cfg: SiteConfig
) -> None:
    n = 300
    kiosk = mqtt("kiosk-1")
    kiosk.subscribe(topics.dev_reply("kiosk-1"))
    observer = mqtt("board-1")
    observer.subscribe(topics.state_all)
    hub = mqtt("hub")
    hub.subscribe(topics.dev_status("controller"), topics.dev_reply("hub"))
    controller_process.start()
    # Its first start creates the controller's persistent session; from then on, nothing sent to it is lost.
    hub.inbox.wait_for(topics.dev_status("controller"), lambda m: m.json()["online"], timeout=15)
    ids = [f"cmd-{i:04d}" for i in range(n)]
    for cid in ids[: n // 2]:
        kiosk.publish(topics.dev_cmd("kiosk-1"), {"id": cid, "op": "issue", "args": {"service": "datdai"}})
    # Kill the controller as soon as it has answered some of the first half.
    kiosk.inbox.wait_for(topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == ids[20], timeout=15)
    controller_process.kill()
    for cid in ids[n // 2 :]:  # sent while no controller runs: the broker keeps them for its session
        kiosk.publish(topics.dev_cmd("kiosk-1"), {"id": cid, "op": "issue", "args": {"service": "datdai"}})
    controller_process.start()
    for cid in ids:
        kiosk.inbox.wait_for(
            topics.dev_reply("kiosk-1"), lambda m, cid=cid: m.json()["id"] == cid, timeout=20
        )
    numbers: dict[str, str] = {}
    for m in kiosk.inbox.messages(topics.dev_reply("kiosk-1")):
        r = m.json()
        assert r["ok"], r
        number = r["result"]["ticket"]["number"]
        assert numbers.setdefault(r["id"], number) == number, f"{r['id']} answered twice, differently"
    assert sorted(numbers.values()) == [f"B{i:03d}" for i in range(1, n + 1)], (
        "a number was lost or issued twice"
    )
    st = observer.inbox.wait_for(
        topics.service_state("datdai"), lambda m: m.json()["waiting"] == n, timeout=10
    ).json()
    assert st["last_issued"] == f"B{n:03d}"
    # The event log is gapless across the crash (replayed in pages that fit in a packet).
    seqs: list[int] = []
    page = {"more": True, "next_seq": 1}
    while page["more"]:
        rid = f"replay-{page['next_seq']}"
        hub.publish(
            topics.dev_cmd("hub"), {"id": rid, "op": "replay", "args": {"from_seq": page["next_seq"]}}
        )
        page = hub.inbox.wait_for(topics.dev_reply("hub"), lambda m, rid=rid: m.json()["id"] == rid).json()[
            "result"
        ]
        seqs += [e["seq"] for e in page["events"]]
    assert seqs == list(range(1, n + 1))
    assert controller_process.stop() == 0


def test_an_expired_command_queued_while_the_controller_was_down_is_never_run(
    controller_process: ControllerProcess, mqtt, topics: Topics, device: DeviceFactory
) -> None:
    hub = mqtt("hub")
    hub.subscribe(topics.dev_status("controller"))
    controller_process.start()  # once, so that its persistent session exists
    hub.inbox.wait_for(topics.dev_status("controller"), lambda m: m.json()["online"], timeout=15)
    controller_process.stop()
    kiosk = device("kiosk-1")
    kiosk.send("issue", {"service": "tuphap"}, "ghost", expiry_s=1)  # the kiosk gave up after 1 s
    kiosk.send("issue", {"service": "tuphap"}, "kept")  # no expiry: runs when the controller is back
    threading.Event().wait(2.2)  # let the first one expire in the broker (the elapsed time is the test)
    replies = mqtt("monitor")  # the kiosk's own account is in use: one connection per account
    replies.subscribe(topics.dev_reply("kiosk-1"))
    controller_process.start()
    kept = replies.inbox.wait_for(topics.dev_reply("kiosk-1"), lambda m: m.json()["id"] == "kept", timeout=15)
    assert kept.json()["result"]["ticket"]["number"] == "A001", "the expired request must not have taken A001"
    assert all(m.json()["id"] != "ghost" for m in replies.inbox.messages(topics.dev_reply("kiosk-1")))


def test_after_a_restart_the_last_visit_is_still_rateable_and_a_skipped_ticket_callable(
    site_cfg: SiteConfig, broker, credentials, tmp_path, device: DeviceFactory
) -> None:
    def run() -> Controller:
        c = Controller(
            site_cfg, credentials["controller"], db_path=tmp_path / "c.db", host=broker.host, port=broker.port
        )
        c.start()
        return c

    ctl = run()
    kiosk, counter, rater = device("kiosk-1"), device("counter-1"), device("rate-1")
    for _ in range(3):
        kiosk.request("issue", {"service": "tuphap"})
    counter.request("open", {"officer": "cb001"})
    counter.request("call_next")
    counter.request("call_next")  # A001 done
    counter.request("skip")  # A002 skipped; nothing to rate now
    counter.request("call_next")
    counter.request("finish")  # A003 done: the counter's last visit
    ctl.stop()
    ctl = run()
    try:
        assert ctl.engine is not None
        assert sorted(t.number for t in ctl.engine.tickets.values()) == ["A002", "A003"], (
            "only what can change"
        )
        assert rater.request("rate", {"score": 3})["rating"]["number"] == "A003"
        assert counter.request("call", {"number": "A002"})["ticket"]["status"] == "called"
    finally:
        ctl.stop()
