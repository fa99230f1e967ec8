"""The hub consumes the controller's event stream: in order, without gaps, across its own restarts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub_api.app import Hub, create_app
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def open_hub(site_cfg: SiteConfig, broker, credentials: dict[str, str], tmp_path: Path):
    """``open_hub()``: a started hub (same database each time), stopped at the end."""
    hubs: list[Hub] = []

    def make() -> Hub:
        h = Hub.open(
            site_cfg, credentials["hub"], db_path=tmp_path / "hub.db", host=broker.host, port=broker.port
        )
        h.start()
        assert h.ingest is not None
        h.ingest.mqtt.wait_connected(10)
        hubs.append(h)
        return h

    yield make
    for h in hubs:
        if h.ingest is not None and h.ingest._worker is not None:
            h.stop()


def test_events_become_tickets_and_outbox_records(
    controller: Controller, device: DeviceFactory, open_hub
) -> None:
    hub = open_hub()
    kiosk, counter, rater = device("kiosk-1"), device("counter-1"), device("rate-1")
    counter.request("open", {"officer": "cb001"})
    t1 = kiosk.request("issue", {"service": "tuphap", "priority": True})["ticket"]
    kiosk.request("issue", {"service": "tuphap"})
    counter.request("call_next")
    counter.request("call_next")  # finishes A001
    rater.request("rate", {"score": 1, "reasons": ["Chờ lâu"], "comment": "Lâu quá"})  # A001's citizen
    counter.request("skip")  # A002 did not come
    assert hub.ingest is not None and hub.ingest.wait_for_seq(8, 10)
    row = hub.store.ticket(t1["id"])
    assert row is not None and (row["status"], row["counter"], row["officer"]) == ("done", "1", "cb001")
    assert row["wait_s"] is not None and row["wait_s"] >= 0
    out = hub.store.query("SELECT stream, record FROM outbox ORDER BY id")
    records = [(o["stream"], json.loads(o["record"])) for o in out]
    assert [(s, r.get("outcome", r.get("level"))) for s, r in records] == [
        ("queue-records", "done"),
        ("ratings", "Không hài lòng"),
        ("queue-records", "skipped"),
    ]
    q = records[0][1]
    assert set(q) == {"ticket_id", "number", "service", "counter", "officer", "priority", "issued_at",
                      "called_at", "finished_at", "wait_s", "service_s", "outcome", "flags", "booked",
                      "dossier"}  # fmt: skip
    assert (q["ticket_id"], q["priority"], q["officer"]) == (t1["id"], True, "cb001")
    assert (q["booked"], q["dossier"]) == (False, None)
    # Called and finished within a second: flagged, and left out of the hub's service times.
    assert q["flags"] == ["short_service"]
    assert hub.store.query("SELECT service_s FROM tickets WHERE id = ?", (t1["id"],))[0]["service_s"] is None
    assert records[2][1]["flags"] == []
    r = records[1][1]
    assert set(r) == {"ticket_id", "number", "service", "counter", "officer", "score", "level", "satisfied",
                      "reasons", "comment", "rated_at"}  # fmt: skip
    assert (r["satisfied"], r["reasons"], r["comment"], r["officer"]) == (
        False,
        ["Chờ lâu"],
        "Lâu quá",
        "cb001",
    )


def test_a_hub_that_was_away_catches_up_by_replay(
    controller: Controller, device: DeviceFactory, open_hub, mqtt
) -> None:
    kiosk = device("kiosk-1")
    for _ in range(250):  # more than one replay page
        kiosk.send("issue", {"service": "datdai"})
    kiosk.request("issue", {"service": "datdai"})
    hub = open_hub()  # never connected before: nothing in its session, everything by replay
    assert hub.ingest is not None and hub.ingest.wait_for_seq(251, 20)
    assert hub.store.query("SELECT COUNT(*) AS n FROM tickets")[0]["n"] == 251
    assert hub.ingest.stats["replays"] >= 2  # paged: one reply cannot hold them all
    seqs = [r["seq"] for r in hub.store.query("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, 252))
    hub.stop()
    for _ in range(5):  # while the hub is down, its persistent session keeps these
        kiosk.request("issue", {"service": "tuphap"})
    again = open_hub()
    assert again.ingest is not None and again.ingest.wait_for_seq(256, 10)
    assert again.store.last_seq == 256


def test_duplicates_and_forged_future_events_do_not_derail_it(
    controller: Controller,
    device: DeviceFactory,
    open_hub,
    mqtt,
    site_cfg: SiteConfig,
    broker,
    credentials: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    hub = open_hub()
    kiosk = device("kiosk-1")
    kiosk.request("issue", {"service": "tuphap"})
    assert hub.ingest is not None and hub.ingest.wait_for_seq(1, 10)
    # Only the controller's account may publish events, and client ids are bound to accounts (a
    # second connection of an account takes the first over): the controller steps aside meanwhile.
    controller.stop()
    forger = mqtt("controller")
    topics = Topics(site_cfg.site.id)
    ts = "2026-11-23T08:00:00.000+07:00"
    for forged in (
        {"seq": 1, "type": "ticket.issued", "ts": ts, "data": {}},  # duplicate
        {"seq": 99, "type": "ticket.issued", "ts": ts, "data": {}},  # from the future
        b"not json",
    ):
        assert not forger.publish_acked(topics.events, forged).is_failure
    forger.close()
    back = Controller(site_cfg, credentials["controller"], db_path=controller.db_path, host=broker.host,
                      port=broker.port)  # fmt: skip
    back.start()
    request.addfinalizer(back.stop)
    kiosk.request("issue", {"service": "tuphap"})
    assert hub.ingest.wait_for_seq(2, 10)
    kiosk.request("issue", {"service": "tuphap"})
    assert hub.ingest.wait_for_seq(3, 10), "a forged event must not block the real stream"
    assert [t["number"] for t in hub.store.query("SELECT number FROM tickets ORDER BY id")] == [
        "A001",
        "A002",
        "A003",
    ]


def test_state_and_stream_endpoints(controller: Controller, device: DeviceFactory, open_hub) -> None:
    hub = open_hub()
    app = create_app(hub, manage=False)
    kiosk, counter = device("kiosk-1"), device("counter-1")
    counter.request("open", {"officer": "cb002"})
    t = kiosk.request("issue", {"service": "tuphap"})["ticket"]
    assert hub.ingest is not None and hub.ingest.wait_for_seq(2, 10)
    with TestClient(app) as client:
        health = client.get("/healthz").json()
        assert health["broker_connected"] and health["last_seq"] >= 2
        got = client.get(f"/api/tickets/{t['token']}/status").json()  # public: the ticket's status page
        assert (got["number"], got["status"], got["ahead"]) == ("A001", "waiting", 0)
        assert client.get("/api/tickets/20200101-Z999/status").status_code == 404
        assert client.get(f"/api/tickets/{t['id']}/status").status_code == 404  # the id is not the link
        assert client.get(f"/api/tickets/{t['id']}").status_code == 401  # full details need a token
        st = client.get("/api/state").json()
        assert st["counters"]["1"]["officer"]["name"] == "Trần Văn Hùng"
        assert st["services"]["tuphap"]["waiting"] == 1


def test_the_forwarder_is_woken_when_records_are_owed(
    controller: Controller, device: DeviceFactory, open_hub
) -> None:
    hub = open_hub()
    assert hub.ingest is not None
    woken = threading.Event()
    hub.ingest.on_outbox.append(woken.set)
    kiosk, counter = device("kiosk-1"), device("counter-1")
    counter.request("open")
    kiosk.request("issue", {"service": "tuphap"})
    counter.request("call_next")
    assert hub.ingest.wait_for_seq(3, 10)
    assert not woken.is_set(), "issuing and calling owe the back end nothing"
    counter.request("finish")
    assert woken.wait(10), "a finished ticket owes a queue record: the forwarder must be woken"


def test_a_stalled_store_bounds_the_backlog_and_replay_fills_it(
    controller: Controller, device: DeviceFactory, open_hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub_api import ingest

    monkeypatch.setattr(ingest, "EVENTS_HELD_MAX", 20)
    hub = open_hub()
    assert hub.ingest is not None
    kiosk = device("kiosk-1")
    kiosk.request("issue", {"service": "tuphap"})
    assert hub.ingest.wait_for_seq(1, 10)
    live_caught_up = threading.Event()
    update = hub.live.update

    def watched(kind: str, key: str, payload: dict) -> None:
        update(kind, key, payload)
        if kind == "service" and key == "tuphap" and payload.get("waiting") == 81:
            live_caught_up.set()

    monkeypatch.setattr(hub.live, "update", watched)
    with hub.store.lock:  # the disk stalls: the ingest cannot commit
        for _ in range(80):
            kiosk.request("issue", {"service": "tuphap"})
        assert live_caught_up.wait(10), "the live state (TV boards) waited for the disk"
        # every event has reached the hub by now (one connection, in order): 80 waited or were shed
        assert hub.ingest.stats["shed"] > 0, "nothing was shed: the backlog was not bounded"
        assert hub.ingest._q.qsize() <= 20
    assert hub.ingest.wait_for_seq(81, 20), "replay did not bring back the shed events"
    seqs = [r["seq"] for r in hub.store.query("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, 82))
    assert hub.store.query("SELECT COUNT(*) AS n FROM tickets")[0]["n"] == 81
