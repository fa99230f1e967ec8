"""The figures of a simulated day (`onestop up --traffic --speed S`): a ticket that waited W seconds
by the clock shows on the dashboard as a wait of W x S simulated seconds, the time scale of the
board's estimates; a real site (no --time-scale) shows what the clock says."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub_api.app import Hub, create_app
from onestop.broker import Broker
from onestop.cli import build_parser
from onestop.config import SiteConfig
from onestop.protocol import Topics
from onestop.up import _plan
from queue_controller.service import Controller
from tests.conftest import MqttFactory
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration

WAIT_S = 20


def test_up_with_traffic_runs_controller_and_hub_on_the_simulated_time_scale(
    site_cfg: SiteConfig, broker: Broker
) -> None:
    def argv(*up: str) -> dict[str, list[str]]:
        args = build_parser().parse_args(["up", "--config", site_cfg.source, *up])
        return {c.name: c.argv for c in _plan(args, site_cfg, broker.port)}

    traffic = argv("--traffic", "--speed", "60")
    for name in ("controller", "hub"):
        i = traffic[name].index("--time-scale")
        assert traffic[name][i + 1] == "60.0"
        parsed = build_parser().parse_args(traffic[name][traffic[name].index(name) :])
        assert parsed.time_scale == 60.0
    by_hand = argv()
    assert "--time-scale" not in by_hand["controller"] + by_hand["hub"]  # no simulated day


@pytest.mark.parametrize("scale", [1.0, 600.0])
def test_a_wait_of_w_seconds_shows_on_the_dashboard_as_w_times_the_speed(
    site_cfg: SiteConfig,
    broker: Broker,
    credentials: dict[str, str],
    device: DeviceFactory,
    mqtt: MqttFactory,
    tmp_path: Path,
    scale: float,
) -> None:
    topics = Topics(site_cfg.site.id)
    ctl = Controller(
        site_cfg, credentials["controller"], db_path=tmp_path / "controller.db", host=broker.host,
        port=broker.port, tick_s=0.2, fatal=lambda reason: pytest.fail(reason), time_scale=scale,
    )  # fmt: skip
    ctl.start()
    hub = Hub.open(
        site_cfg, credentials["hub"], db_path=tmp_path / "hub.db", host=broker.host, port=broker.port,
        time_scale=scale,
    )  # fmt: skip
    hub.start()
    try:
        mon = mqtt("monitor")
        mon.subscribe(topics.events)
        kiosk, counter = device("kiosk-1"), device("counter-1")
        counter.request("open", {"officer": "cb001"})
        kiosk.request("issue", {"service": "tuphap"})
        # The citizen waits: at least until the hub has the ticket (as a person waits, by the clock).
        issued = mon.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "ticket.issued")
        assert hub.ingest is not None and hub.ingest.wait_for_seq(issued.json()["seq"], WAIT_S)
        ticket = counter.request("call_next")["ticket"]
        called = mon.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "ticket.called")
        assert hub.ingest.wait_for_seq(called.json()["seq"], WAIT_S)
        waited = datetime.fromisoformat(ticket["called_at"]) - datetime.fromisoformat(ticket["issued_at"])
        w = waited.total_seconds()
        assert w > 0

        with TestClient(create_app(hub, manage=False)) as api:
            assert hub.tokens is not None
            manager = {"Authorization": f"Bearer {hub.tokens.add('truong-bo-phan', 'manager')}"}
            today = api.get("/api/dashboard", headers=manager).json()["today"]
        # The dashboard rounds to 0.1 s.
        assert today["wait_mean_s"] == pytest.approx(w * scale, abs=0.06), (w, scale, today)
    finally:
        hub.stop()
        ctl.stop()
