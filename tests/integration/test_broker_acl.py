"""Accounts and access control of the site broker (ARCHITECTURE.md §3), against a real Mosquitto.

Non-delivery is proven without sleeping: after the message that must not arrive, the same sender
publishes an allowed *sentinel*. Mosquitto handles one connection's packets in order and queues them
to a subscriber in order, so once the observer holds the sentinel, a leaked message would already be
in its inbox.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from onestop.protocol import Topics
from tests.conftest import MqttFactory, SiteFactory
from tests.utils.mqtt import ConnectRefused, TestClient
from tests.utils.site import SITE

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 0x87
# Mosquitto 2.0.11 answers a bad password or an unknown user with 0x87; later versions may use 0x86.
REFUSED_LOGIN = {0x86, 0x87}


def _token() -> str:
    return uuid.uuid4().hex


def _delivered(observer: TestClient, sent: dict[str, tuple[str, str]]) -> set[str]:
    """The names of the ``sent`` (name -> (topic, token)) messages that reached ``observer``."""
    got = {(m.topic, m.payload.decode()) for m in observer.inbox.messages()}
    return {name for name, (topic, token) in sent.items() if (topic, token) in got}


def _sentinel(sender: TestClient, topic: str, observer: TestClient) -> None:
    """Publish an allowed message after the others and wait until ``observer`` has it."""
    token = f"sentinel-{_token()}"
    assert not sender.publish_acked(topic, token).is_failure
    observer.inbox.wait_for(topic, lambda m: m.payload.decode() == token)


# -- logging in ----------------------------------------------------------------------------------


def test_every_account_connects_with_its_password(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    accounts = ["controller", "hub", "monitor", *(d.id for d in site_cfg.devices)]
    for account in accounts:
        assert mqtt(account).connected


def test_unknown_account_is_refused(mqtt: MqttFactory) -> None:
    with pytest.raises(ConnectRefused) as info:
        mqtt("intruder", "whatever")
    assert info.value.reason is not None and info.value.reason.value in REFUSED_LOGIN


def test_wrong_password_is_refused(mqtt: MqttFactory, credentials: dict[str, str]) -> None:
    with pytest.raises(ConnectRefused) as info:
        mqtt("kiosk-1", credentials["kiosk-1"] + "x")
    assert info.value.reason is not None and info.value.reason.value in REFUSED_LOGIN


def test_another_accounts_password_is_refused(mqtt: MqttFactory, credentials: dict[str, str]) -> None:
    with pytest.raises(ConnectRefused):
        mqtt("kiosk-1", credentials["controller"])


def test_anonymous_is_refused(mqtt: MqttFactory) -> None:
    with pytest.raises(ConnectRefused):
        mqtt(None)


# -- publishing ----------------------------------------------------------------------------------


def test_kiosk_cannot_act_as_counter_or_controller(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    t = Topics(site_cfg.site.id)
    observer = mqtt("monitor")
    observer.subscribe(t.everything)
    kiosk = mqtt("kiosk-1")
    forbidden = {
        "counter cmd": t.dev_cmd("counter-1"),
        "counter state": t.counter_state("1"),
        "board state": t.board,
        "events": t.events,
        "other status": t.dev_status("counter-1"),
    }
    sent = {name: (topic, _token()) for name, topic in forbidden.items()}
    acks = {name: kiosk.publish_acked(topic, token).value for name, (topic, token) in sent.items()}
    _sentinel(kiosk, t.dev_status("kiosk-1"), observer)
    assert _delivered(observer, sent) == set()
    assert acks == dict.fromkeys(forbidden, NOT_AUTHORIZED)


def test_kiosk_can_send_its_own_commands(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    t = Topics(site_cfg.site.id)
    observer = mqtt("monitor")
    observer.subscribe(t.all_cmd)
    kiosk = mqtt("kiosk-1")
    assert not kiosk.publish_acked(t.dev_cmd("kiosk-1"), {"id": "c1", "op": "issue"}).is_failure
    msg = observer.inbox.wait_for(t.dev_cmd("kiosk-1"))
    assert msg.json()["op"] == "issue"


# -- reading -------------------------------------------------------------------------------------


def test_device_reads_state_events_and_its_own_reply_only(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    t = Topics(site_cfg.site.id)
    device = mqtt("counter-1")
    codes = device.subscribe(t.dev_reply("counter-2"), t.dev_reply("counter-1"), t.state_all, t.events)
    # Mosquitto 2.0.11 grants every subscription and filters each message by the read ACL.
    assert all(not c.is_failure for c in codes[1:])
    controller = mqtt("controller")
    sent = {
        "other reply": (t.dev_reply("counter-2"), _token()),
        "own reply": (t.dev_reply("counter-1"), _token()),
        "counter state": (t.counter_state("1"), _token()),
        "service state": (t.service_state("tuphap"), _token()),
        "board": (t.board, _token()),
    }
    for topic, token in sent.values():
        controller.publish_acked(topic, token)
    _sentinel(controller, t.events, device)
    assert _delivered(device, sent) == {"own reply", "counter state", "service state", "board"}


def test_device_wildcard_subscription_is_filtered(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    t = Topics(site_cfg.site.id)
    kiosk = mqtt("kiosk-1")
    kiosk.subscribe(t.everything)
    controller = mqtt("controller")
    counter = mqtt("counter-1")
    sent = {
        "counter cmd": (t.dev_cmd("counter-1"), _token()),
        "counter status": (t.dev_status("counter-1"), _token()),
        "counter health": (t.dev_health("counter-1"), _token()),
    }
    for topic, token in sent.values():
        counter.publish_acked(topic, token)
    sent["counter reply"] = (t.dev_reply("counter-1"), _token())
    sent["state"] = (t.counter_state("1"), _token())
    for name in ("counter reply", "state"):
        controller.publish_acked(*sent[name])
    _sentinel(controller, t.events, kiosk)
    assert _delivered(kiosk, sent) == {"state"}


# -- the whole matrix of §3 ----------------------------------------------------------------------

ACCOUNTS = ["kiosk-1", "counter-1", "rate-1", "board-1", "announcer-1", "hub", "controller", "monitor"]
OTHER = "counter-2"  # a device that is never the account under test


def _cases(t: Topics, me: str) -> dict[str, str]:
    return {
        "own status": t.dev_status(me),
        "own health": t.dev_health(me),
        "own cmd": t.dev_cmd(me),
        "own reply": t.dev_reply(me),
        "other status": t.dev_status(OTHER),
        "other health": t.dev_health(OTHER),
        "other cmd": t.dev_cmd(OTHER),
        "other reply": t.dev_reply(OTHER),
        "counter state": t.counter_state("1"),
        "service state": t.service_state("tuphap"),
        "board": t.board,
        "events": t.events,
    }


# Written from the text of §3, not from protocol.acl_rules, so that the two are checked against
# each other: a device publishes only under its own dev/{id}/ and reads state, events and its reply;
# the hub reads everything and publishes under dev/hub/; the controller does anything; the monitor
# reads everything and publishes nothing.
OWN = {"own status", "own health", "own cmd", "own reply"}
ALL = set(_cases(Topics("x"), "x"))
MAY_PUBLISH: dict[str, set[str]] = {"device": OWN, "hub": OWN, "controller": ALL, "monitor": set()}
MAY_READ = {
    "device": {"own reply", "counter state", "service state", "board", "events"},
    "hub": ALL,
    "controller": ALL,
    "monitor": ALL,
}


def _kind(account: str) -> str:
    return account if account in ("hub", "controller", "monitor") else "device"


@pytest.mark.parametrize("account", ACCOUNTS)
def test_publish_matrix(account: str, site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    t = Topics(site_cfg.site.id)
    # One connection per account (client ids are bound to accounts): the observer is another one.
    observer = mqtt("controller" if account == "monitor" else "monitor")
    observer.subscribe(t.everything)
    me = mqtt(account)
    sent = {name: (topic, _token()) for name, topic in _cases(t, account).items()}
    acks = {name: me.publish_acked(topic, token).value for name, (topic, token) in sent.items()}
    # The monitor may publish nothing, so its sentinel comes from the observer; every refused
    # publish was decided before its PUBACK came back, so a leak would already be queued.
    _sentinel(observer if account == "monitor" else me, t.dev_status(account), observer)

    allowed = MAY_PUBLISH[_kind(account)]
    assert _delivered(observer, sent) == allowed
    assert {name for name, code in acks.items() if code == NOT_AUTHORIZED} == ALL - allowed
    assert all(code < 0x80 for name, code in acks.items() if name in allowed)


@pytest.mark.parametrize("account", ACCOUNTS)
def test_read_matrix(account: str, site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    t = Topics(site_cfg.site.id)
    cases = _cases(t, account)
    me = mqtt(account)
    codes = dict(zip(cases, me.subscribe(*cases.values()), strict=True))
    writer = me if account == "controller" else mqtt("controller")
    sent = {name: (topic, _token()) for name, topic in cases.items()}
    for topic, token in sent.values():
        writer.publish_acked(topic, token)
    _sentinel(writer, t.events, me)

    allowed = MAY_READ[_kind(account)]
    assert _delivered(me, sent) == allowed
    assert all(not codes[name].is_failure for name in allowed)


# -- changing the accounts -----------------------------------------------------------------------


def test_reload_lets_a_new_device_in_with_its_rules(
    broker: Broker, site_factory: SiteFactory, mqtt: MqttFactory
) -> None:
    t = Topics(broker.cfg.site.id)
    devices = [*SITE["devices"], {"id": "kiosk-9", "role": "kiosk"}]
    new_cfg = site_factory({"devices": devices}, name="site-v2.toml")
    password = ensure_credentials(new_cfg)["kiosk-9"]
    with pytest.raises(ConnectRefused):
        mqtt("kiosk-9", password)

    broker.reload(new_cfg)

    kiosk = mqtt("kiosk-9", password)
    observer = mqtt("monitor")
    observer.subscribe(t.everything)
    sent = {
        "own cmd": (t.dev_cmd("kiosk-9"), _token()),
        "counter cmd": (t.dev_cmd("counter-1"), _token()),
    }
    for topic, token in sent.values():
        kiosk.publish_acked(topic, token)
    _sentinel(kiosk, t.dev_status("kiosk-9"), observer)
    assert _delivered(observer, sent) == {"own cmd"}


def test_reload_shuts_out_a_removed_device(
    broker: Broker, site_factory: SiteFactory, mqtt: MqttFactory
) -> None:
    assert mqtt("board-1").connected
    devices = [d for d in SITE["devices"] if d["id"] != "board-1"]
    broker.reload(site_factory({"devices": devices}, name="site-v2.toml"))
    with pytest.raises(ConnectRefused):
        mqtt("board-1")


def test_broker_files_are_private(broker: Broker, site_cfg: SiteConfig) -> None:
    for path in (broker.password_path, broker.acl_path):
        assert path.stat().st_mode & 0o777 == 0o600
    secrets = Path(site_cfg.data_dir) / "secrets"
    assert secrets.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in secrets.iterdir()} == {0o600}


# -- citizen notes ---------------------------------------------------------------------------------


def test_citizen_notes_reach_the_hub_alone(site_cfg: SiteConfig, mqtt: MqttFactory) -> None:
    """A kiosk's citizen note (docs/privacy.md) is delivered to the hub; the monitor and the controller,
    which read the whole tree, are denied it; other messages still reach them."""
    t = Topics(site_cfg.site.id)
    watchers = {name: mqtt(name) for name in ("hub", "monitor", "controller")}
    for w in watchers.values():
        w.subscribe(t.everything)
    kiosk = mqtt("kiosk-1")
    note = f'{{"ticket_id": "T1", "name": "{_token()}"}}'
    assert not kiosk.publish_acked(t.dev_citizen("kiosk-1"), note).is_failure
    for w in watchers.values():
        _sentinel(kiosk, t.dev_health("kiosk-1"), w)
    got = {n: [m.payload.decode() for m in w.inbox.messages(t.all_citizen)] for n, w in watchers.items()}
    assert got == {"hub": [note], "monitor": [], "controller": []}
