"""A booked citizen and a result pickup through the real controller, broker and hub: the ticket, the
hall board's mark, the hub's tables and the back end's queue record (which says booked, never the
code)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub_api.app import Hub
from hub_api.routers.tickets import _out
from onestop.config import SiteConfig
from onestop.device import CommandFailed
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(site_cfg: SiteConfig) -> Topics:
    return Topics(site_cfg.site.id)


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    return site_factory({"bookings": {"enabled": True, "max_in_row": 2}, "dossiers": {"service": "datdai"}})


def test_booked_and_result_pickup_tickets_end_to_end(
    controller: Controller,
    device: DeviceFactory,
    site_cfg: SiteConfig,
    broker,
    credentials: dict[str, str],
    tmp_path: Path,
    mqtt,
    topics: Topics,
) -> None:
    hub = Hub.open(
        site_cfg, credentials["hub"], db_path=tmp_path / "hub.db", host=broker.host, port=broker.port
    )
    hub.start()
    try:
        assert hub.ingest is not None
        hall = mqtt("board-1")
        hall.subscribe(topics.board)
        kiosk, counter = device("kiosk-1"), device("counter-1")
        now = datetime.now().astimezone()
        booking = {"code": "DL24120400017", "slot_start": now.isoformat(),
                   "slot_end": (now + timedelta(minutes=15)).isoformat()}  # fmt: skip
        kiosk.request("issue", {"service": "tuphap"})
        r = kiosk.request("issue", {"service": "tuphap", "booking": booking})
        assert r["booking_status"] == "on_time" and r["ticket"]["booking"]["code"] == "DL24120400017"
        with pytest.raises(CommandFailed) as refused:
            kiosk.request("issue", {"service": "tuphap", "booking": booking})
        assert refused.value.code == "booking_used"
        p = kiosk.request("issue", {"service": "datdai", "dossier": "000.00.12.H23-241204-0003"})
        assert p["ticket"]["dossier"] == "000.00.12.H23-241204-0003"
        counter.request("open", {"officer": "cb001"})
        called = counter.request("call_next")["ticket"]
        assert called["number"] == "A002"  # booked and due: before the walk-in A001
        board = hall.inbox.wait_for(topics.board, lambda m: bool(m.json()["calls"])).json()
        assert board["calls"][0]["number"] == "A002" and board["calls"][0]["booked"] is True
        counter.request("finish")
        assert hub.ingest.wait_for_seq(6, 10)
        row = hub.store.ticket(r["ticket"]["id"])
        assert (
            row is not None
            and json.loads(row["booking"])["slot_start"] == r["ticket"]["booking"]["slot_start"]
        )
        out_booked = _out(row)  # what /api/tickets says of it (viewer token)
        assert out_booked.booking is not None and out_booked.booking["code"] == "DL24120400017"
        assert out_booked.booking["status"] == "on_time" and out_booked.dossier is None
        pickup = hub.store.ticket(p["ticket"]["id"])
        assert pickup is not None and pickup["dossier"] == "000.00.12.H23-241204-0003"
        assert _out(pickup).dossier == "000.00.12.H23-241204-0003" and _out(pickup).booking is None
        out = [
            json.loads(o["record"])
            for o in hub.store.query("SELECT record FROM outbox WHERE stream = 'queue-records'")
        ]
        assert [(q["number"], q["booked"], q["dossier"]) for q in out] == [("A002", True, None)]
        assert "DL24120400017" not in json.dumps(out)
    finally:
        hub.stop()
