"""Client ids are bound to accounts (issue 11.1): a device that knows only its own password cannot
connect with the client id ``controller``, ``hub`` or another device's, and so cannot make the broker
drop the real one (the broker replaces the id a client sends with its user name).

The site keeps serving while such a client connects again and again: the controller answers every
command, the hub and the device stay connected, and nobody's Last Will ("offline") is published.
"""

from __future__ import annotations

import pytest

from hub_api.app import Hub
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.conftest import MqttFactory, SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.mqtt import TestClient
from tests.utils.site import SITE

pytestmark = pytest.mark.integration

ATTACKER = "kiosk-2"  # a second kiosk of the site: a real account with a real password
VICTIMS = ("controller", "hub", "kiosk-1")
ROUNDS = 10


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    """The test site with a second kiosk, whose password plays the attacker."""
    return site_factory({"devices": [*SITE["devices"], {"id": ATTACKER, "role": "kiosk"}]})


def _still_connected(client: TestClient, topic: str) -> bool:
    """True when ``client`` still completes a publish round trip (a dropped one never gets the ack)."""
    try:
        code = client.publish_acked(topic, "still here")
    except TimeoutError:
        return False
    return client.connected and not code.is_failure


def test_a_device_cannot_take_another_accounts_client_id(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    """Broker level only, so that tests/integration/test_security_acl.py runs it again against the
    provisioned broker over TLS (its site has one kiosk: the victim device is a counter there)."""
    t = Topics(site_cfg.site.id)
    names = ("controller", "hub", "counter-1")
    # Each victim uses its account name as client id, as the suite's own processes do.
    victims = {account: mqtt(account, client_id=account) for account in names}
    for account in names:
        attacker = mqtt("kiosk-1", client_id=account)
        # The broker took the takeover decision before it sent the attacker its CONNACK: a dropped
        # victim has its DISCONNECT before any acknowledgement of the round trip below.
        assert attacker.connected
        for name, victim in victims.items():
            assert _still_connected(victim, t.dev_health(name)), f"{name} was dropped by a {account!r} id"
        # The attacker is still only kiosk-1: it may not speak on the victim's topics.
        assert attacker.publish_acked(t.dev_cmd(account), {"id": "x", "op": "replay"}).value == 0x87
        attacker.close()


def test_the_site_keeps_serving_while_a_kiosk_takes_reserved_client_ids(
    site_cfg: SiteConfig,
    controller: Controller,
    hub: Hub,
    device: DeviceFactory,
    mqtt: MqttFactory,
) -> None:
    t = Topics(site_cfg.site.id)
    observer = mqtt("monitor")
    observer.subscribe(t.events, *(t.dev_status(v) for v in VICTIMS))
    kiosk = device("kiosk-1")
    reconnects: dict[str, list[bool]] = {v: [] for v in VICTIMS}
    assert hub.ingest is not None
    for name, client in (("controller", controller.mqtt), ("hub", hub.ingest.mqtt), ("kiosk-1", kiosk.mqtt)):
        client.on_connect_hooks.append(reconnects[name].append)

    numbers = []
    for i in range(ROUNDS):
        attacker = mqtt(ATTACKER, client_id=VICTIMS[i % len(VICTIMS)])
        numbers.append(kiosk.request("issue", {"service": "tuphap"})["ticket"]["number"])
        attacker.close()

    assert numbers == [f"A{n:03d}" for n in range(1, ROUNDS + 1)]
    observer.inbox.wait_for(t.events, lambda m: m.json()["seq"] == ROUNDS)
    # Every Last Will the broker would have sent for a dropped victim precedes that last event.
    offline = [m.topic for m in observer.inbox.messages() if m.topic != t.events and not m.json()["online"]]
    assert offline == []
    assert reconnects == {v: [] for v in VICTIMS}
    assert hub.ingest.wait_for_seq(ROUNDS, 10)
    assert controller.mqtt.connected.is_set() and hub.ingest.mqtt.connected.is_set()
