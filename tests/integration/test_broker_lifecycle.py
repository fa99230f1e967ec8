"""Starting, stopping, restarting and killing the private broker; what its settings guarantee."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from onestop.broker import Broker, BrokerError
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from onestop.protocol import Topics
from tests.conftest import MqttFactory
from tests.utils.mqtt import TestClient, connect

pytestmark = pytest.mark.integration


def _refuses_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


def test_started_broker_listens_and_stop_frees_the_port(broker: Broker) -> None:
    assert broker.running and broker.pid is not None
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    assert "running" in broker.log_path.read_text()
    port = broker.port
    broker.stop()
    assert not broker.running and broker.pid is None
    assert _refuses_tcp(broker.host, port)


def test_restart_keeps_the_port_and_the_accounts(broker: Broker, mqtt: MqttFactory) -> None:
    port, pid = broker.port, broker.pid
    broker.restart()
    assert broker.port == port
    assert broker.pid != pid
    assert mqtt("kiosk-1").connected


def test_kill_drops_every_client(broker: Broker, mqtt: MqttFactory) -> None:
    client = mqtt("counter-1")
    broker.kill()
    client.wait_disconnected()
    assert not broker.running


def test_a_taken_port_is_a_clear_error(broker: Broker, site_cfg: SiteConfig, tmp_path: Path) -> None:
    second = Broker(site_cfg, tmp_path / "second", port=broker.port)
    with pytest.raises(BrokerError) as info:
        second.start()
    assert "Address already in use" in str(info.value)
    assert not second.running


def test_starting_twice_is_an_error(broker: Broker) -> None:
    with pytest.raises(BrokerError):
        broker.start()


def test_context_manager_stops_the_broker(site_cfg: SiteConfig, tmp_path: Path) -> None:
    with Broker(site_cfg, tmp_path / "ctx") as b:
        password = ensure_credentials(site_cfg)["hub"]
        connect(b.host, b.port, "hub", password).close()
        port = b.port
    assert not b.running
    assert _refuses_tcp("127.0.0.1", port)


def test_commands_queue_for_an_offline_controller(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    """More commands than Mosquitto's default queue (1000) wait for a restarting controller."""
    t = Topics(site_cfg.site.id)
    session = {"client_id": "controller-main", "clean_start": False, "session_expiry_s": 3600}
    first = mqtt("controller", **session)
    first.subscribe(t.all_cmd)
    first.close()
    kiosk = mqtt("kiosk-1")
    infos = [kiosk.publish(t.dev_cmd("kiosk-1"), f"{i}") for i in range(1500)]
    for info in infos:
        assert not kiosk.wait_ack(info).is_failure

    again = mqtt("controller", **session)
    again.inbox.wait_for(t.dev_cmd("kiosk-1"), lambda m: m.payload == b"1499")
    assert again.inbox.payloads(t.all_cmd) == [f"{i}".encode() for i in range(1500)]


def test_persistence_keeps_queued_commands_across_a_broker_restart(
    site_cfg: SiteConfig, tmp_path: Path
) -> None:
    t = Topics(site_cfg.site.id)
    creds = ensure_credentials(site_cfg)

    def controller(b: Broker) -> TestClient:
        return connect(
            b.host,
            b.port,
            "controller",
            creds["controller"],
            client_id="controller-main",
            clean_start=False,
            session_expiry_s=3600,
        )

    with Broker(site_cfg, tmp_path / "persistent", persistence=True) as b:
        sub = controller(b)
        sub.subscribe(t.all_cmd)
        sub.close()
        kiosk = connect(b.host, b.port, "kiosk-1", creds["kiosk-1"])
        assert not kiosk.publish_acked(t.dev_cmd("kiosk-1"), "queued").is_failure
        kiosk.close()

        b.restart()

        again = controller(b)
        try:
            assert again.inbox.wait_for(t.dev_cmd("kiosk-1")).payload == b"queued"
        finally:
            again.close()
