"""``onestop monitor`` (and the event lines of ``onestop up``) over a real Mosquitto: it watches with
the read-only ``monitor`` account, so it never takes the hub's connection over (the broker binds
client ids to accounts: a second connection of the hub's account would drop the hub's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_api.app import Hub
from onestop.config import SiteConfig
from onestop.monitor import Monitor
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration


class Lines:
    """What a monitor printed, with a wait."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()

    def add(self, line: str) -> None:
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: any(text in line for line in self.lines), timeout):
                raise TimeoutError(f"no line with {text!r} in {self.lines}")


@pytest.fixture
def local_cfg(site_cfg: SiteConfig, broker) -> SiteConfig:
    """The site file pointing at the test broker."""
    return site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})


@pytest.fixture
def monitors(local_cfg: SiteConfig, credentials: dict[str, str]) -> Iterator[list[Monitor]]:
    made: list[Monitor] = []
    yield made
    for m in made:
        m.stop()


def test_the_monitor_watches_beside_the_hub_without_taking_its_connection(
    local_cfg: SiteConfig,
    controller: Controller,
    device: DeviceFactory,
    credentials: dict[str, str],
    broker,
    tmp_path: Path,
    monitors: list[Monitor],
) -> None:
    hub = Hub.open(
        local_cfg, credentials["hub"], db_path=tmp_path / "hub.db", host=broker.host, port=broker.port
    )
    hub.start()
    try:
        assert hub.ingest is not None
        hub.ingest.mqtt.wait_connected(10)
        reconnects: list[bool] = []
        hub.ingest.mqtt.on_connect_hooks.append(reconnects.append)
        seen = Lines()
        mon = Monitor(local_cfg, out=seen.add)
        monitors.append(mon)
        mon.start()
        assert mon.mqtt.settings.username == "monitor"
        number = device("kiosk-1").request("issue", {"service": "tuphap"})["ticket"]["number"]
        seen.wait_for(f"issued     {number}")
        assert hub.ingest.wait_for_seq(1, 10)
        assert reconnects == [] and hub.ingest.mqtt.connected.is_set()
    finally:
        hub.stop()
