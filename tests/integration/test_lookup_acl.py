"""The broker's rules for lookups (docs/backend.md "Lookups"), against a real Mosquitto with auth+ACL:
a kiosk publishes its own ``dev/{id}/lookup`` and reads only its own ``dev/{id}/lookup/reply``; the hub
reads every ``dev/+/lookup`` and writes every ``dev/+/lookup/reply``; nobody else reads the replies.

Non-delivery is proven with a sentinel, as in test_broker_acl.py: the same sender publishes an allowed
message after the one that must not arrive; once the observer holds it, a leak would be there too.
"""

from __future__ import annotations

import uuid

import pytest

from onestop.config import SiteConfig
from onestop.protocol import Topics
from tests.conftest import MqttFactory, SiteFactory
from tests.utils.site import SITE

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 0x87


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    """The test site with a second kiosk."""
    return site_factory({"devices": [*SITE["devices"], {"id": "kiosk-2", "role": "kiosk"}]})


def test_a_kiosk_cannot_read_another_kiosks_lookup_reply(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    t = Topics(site_cfg.site.id)
    mine, other = mqtt("kiosk-1"), mqtt("kiosk-2")
    mine.subscribe(t.dev_lookup_reply("kiosk-1"))
    # kiosk-2 tries its neighbour's replies, all replies, and a wildcard over the whole device tree.
    other.subscribe(t.dev_lookup_reply("kiosk-1"), t.all_lookup_reply, t.root + "/dev/#")
    hub = mqtt("hub")
    secret = f"reply-{uuid.uuid4().hex}"
    assert not hub.publish_acked(t.dev_lookup_reply("kiosk-1"), secret).is_failure
    mine.inbox.wait_for(t.dev_lookup_reply("kiosk-1"), lambda m: m.payload.decode() == secret)
    # Sentinel: the hub answers kiosk-2 after kiosk-1; kiosk-2 holds its own answer, not the other.
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    assert not hub.publish_acked(t.dev_lookup_reply("kiosk-2"), sentinel).is_failure
    other.inbox.wait_for(t.dev_lookup_reply("kiosk-2"), lambda m: m.payload.decode() == sentinel)
    assert secret.encode() not in other.inbox.payloads()


def test_kiosks_publish_their_own_lookups_and_the_hub_reads_them(
    site_cfg: SiteConfig, mqtt: MqttFactory
) -> None:
    t = Topics(site_cfg.site.id)
    hub = mqtt("hub")
    hub.subscribe(t.all_lookup)
    kiosk = mqtt("kiosk-1")
    own, forged = f"own-{uuid.uuid4().hex}", f"forged-{uuid.uuid4().hex}"
    assert kiosk.publish_acked(t.dev_lookup("kiosk-2"), forged).value == NOT_AUTHORIZED
    assert not kiosk.publish_acked(t.dev_lookup("kiosk-1"), own).is_failure
    hub.inbox.wait_for(t.dev_lookup("kiosk-1"), lambda m: m.payload.decode() == own)
    assert forged.encode() not in hub.inbox.payloads()


def test_only_the_hub_answers_lookups(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    """A kiosk may not answer another kiosk; the hub may answer any kiosk but still writes no
    command; a counter cannot even read a reply on its own lookup topic (it may not look up)."""
    t = Topics(site_cfg.site.id)
    assert mqtt("kiosk-1").publish_acked(t.dev_lookup_reply("kiosk-2"), "fake").value == NOT_AUTHORIZED
    hub = mqtt("hub")
    assert hub.publish_acked(t.dev_lookup_reply("counter-1"), "x").value < 0x80
    assert hub.publish_acked(t.dev_cmd("kiosk-1"), "x").value == NOT_AUTHORIZED
    counter = mqtt("counter-1")
    counter.subscribe(t.dev_lookup_reply("counter-1"))
    token, sentinel = f"r-{uuid.uuid4().hex}", f"s-{uuid.uuid4().hex}"
    hub.publish_acked(t.dev_lookup_reply("counter-1"), token)
    counter.subscribe(t.events)
    mqtt("controller").publish_acked(t.events, sentinel)
    counter.inbox.wait_for(t.events, lambda m: m.payload.decode() == sentinel)
    assert token.encode() not in counter.inbox.payloads()
