"""Kiosks' back-end lookups end to end with real parts (docs/backend.md "Lookups"): a real Mosquitto
with auth+ACL, the real hub (its ingest connection relays), the reference back end over HTTP on
loopback, and the kiosk-side :class:`~onestop.lookup_client.LookupClient` over a kiosk's DeviceClient.

The back end found, not found, refusing connections, slow, endless, failing; a non-kiosk asking;
malformed payloads; a repeated id; a flood; and the privacy rule: the hub's log output for a citizen
lookup holds no id number.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub_api.app import Hub
from hub_api.lookup import BREAKER_FAILURES, BREAKER_S, QUICK_ANSWERS_BURST
from onestop.broker import Broker, free_port
from onestop.config import SiteConfig
from onestop.device import DeviceClient
from onestop.fake_backend import BackendServer, FakeBackend
from onestop.fake_lookups import LookupBook
from onestop.lookup_client import (
    Booking,
    CitizenBookings,
    CitizenDossiers,
    Dossier,
    LookupClient,
    NotFound,
    Refused,
    Unavailable,
)
from onestop.protocol import Topics
from tests.conftest import MqttFactory, SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.mqtt import TestClient

pytestmark = pytest.mark.integration

TOKEN = "tok-lookups-5e1f0a"
TOKEN_ENV = "ONESTOP_TEST_LOOKUP_TOKEN"
CITIZEN = "001203004567"  # invented: the shape of a 12-digit căn cước number
NOW = datetime.now(UTC).replace(microsecond=0)

FIXTURES: dict[str, Any] = {
    "bookings": [
        {"code": "DL2612040017", "site": "t-site", "service": "tuphap",
         "slot_start": NOW.isoformat(), "slot_end": (NOW + timedelta(minutes=30)).isoformat(),
         "initials": "N.V.A", "status": "booked"},
        {"code": "DL2612040018", "site": "t-site", "service": "datdai",
         "slot_start": NOW.isoformat(), "slot_end": (NOW + timedelta(minutes=30)).isoformat(),
         "initials": "T.T.B", "status": "used", "national_id": CITIZEN},  # an extra field: not passed on
    ],
    "dossiers": [
        {"code": "000.00.12.H23-241204-0003", "site": "t-site", "title": "Đăng ký khai sinh",
         "status": "ready", "promised_date": "2024-12-10", "service": "dkkd"},
        {"code": "000.00.12.H23-241204-0004", "site": "t-site", "title": "Tách thửa đất",
         "status": "processing", "promised_date": "2024-12-20", "service": None},
    ],
    "citizens": {CITIZEN: {"bookings": ["DL2612040017"], "dossiers": ["000.00.12.H23-241204-0003"]}},
}  # fmt: skip


@pytest.fixture
def fake() -> Iterator[BackendServer]:
    """The reference back end on a free loopback port, knowing the fixtures."""
    server = BackendServer(FakeBackend(TOKEN, lookups=LookupBook.from_doc(FIXTURES))).start()
    yield server
    server.stop()


@pytest.fixture
def site_cfg(site_factory: SiteFactory, fake: BackendServer, monkeypatch: pytest.MonkeyPatch) -> SiteConfig:
    """The test site with a back end (the reference one) and a short hub-side lookup timeout."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return site_factory(
        {"backend": {"url": f"{fake.url}/onestop", "token_env": TOKEN_ENV, "lookup_timeout_s": 0.5}}
    )


HubFactory = Callable[..., Hub]


@pytest.fixture
def start_hub(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], tmp_path: Path
) -> Iterator[HubFactory]:
    """``start_hub(cfg=site_cfg)``: a started real hub (one at a time: one ``hub`` connection)."""
    hubs: list[Hub] = []

    def make(cfg: SiteConfig | None = None) -> Hub:
        for h in hubs:
            h.stop()
        hubs.clear()
        h = Hub.open(cfg or site_cfg, credentials["hub"], db_path=tmp_path / f"hub-{uuid.uuid4().hex[:6]}.db",
                     host=broker.host, port=broker.port)  # fmt: skip
        assert h.lookups is not None
        h.start()
        assert h.ingest is not None
        h.ingest.mqtt.wait_connected(10)
        hubs.append(h)
        return h

    yield make
    for h in hubs:
        h.stop()


@pytest.fixture
def hub(start_hub: HubFactory) -> Hub:
    """The hub of the test site."""
    return start_hub()


@pytest.fixture
def kiosk(device: DeviceFactory) -> LookupClient:
    """The lookup client of kiosk-1."""
    return LookupClient(device("kiosk-1"))


def _control(fake: BackendServer, doc: dict[str, Any]) -> None:
    httpx.post(f"{fake.url}/_control", json=doc, timeout=5).raise_for_status()


def _calls(fake: BackendServer) -> int:
    return sum(fake.backend.lookups_by_kind.values())


@contextmanager
def _raw_kiosk(mqtt: MqttFactory, site: str, device: str = "kiosk-1") -> Iterator[tuple[TestClient, Topics]]:
    t = Topics(site)
    c = mqtt(device)
    c.subscribe(t.dev_lookup_reply(device))
    yield c, t


def _ask_raw(c: TestClient, t: Topics, payload: bytes | dict[str, Any], device: str = "kiosk-1") -> None:
    assert not c.publish_acked(t.dev_lookup(device), payload).is_failure


def _reply(c: TestClient, t: Topics, lookup_id: str, device: str = "kiosk-1") -> dict[str, Any]:
    m = c.inbox.wait_for(t.dev_lookup_reply(device), lambda m: m.json().get("id") == lookup_id)
    reply: dict[str, Any] = m.json()
    return reply


# -- answers --------------------------------------------------------------------------------------


def test_a_booking_is_found_with_the_documented_fields_only(
    hub: Hub, kiosk: LookupClient, fake: BackendServer
) -> None:
    got = kiosk.booking("dl 2612-040017")  # typed: case, spaces and dashes do not matter
    assert isinstance(got, Booking)
    assert (got.code, got.service, got.initials, got.status) == ("DL2612040017", "tuphap", "N.V.A", "booked")
    assert got.slot_start == NOW and got.slot_end == NOW + timedelta(minutes=30)
    used = kiosk.booking("DL2612040018")
    assert isinstance(used, Booking) and used.status == "used"
    assert fake.backend.lookups_by_kind["bookings"] == 2


def test_the_reply_carries_no_field_the_contract_does_not_name(
    hub: Hub, mqtt: MqttFactory, site_cfg: SiteConfig
) -> None:
    with _raw_kiosk(mqtt, site_cfg.site.id) as (c, t):
        _ask_raw(c, t, {"id": "b-18", "kind": "booking", "code": "DL2612040018"})
        reply = _reply(c, t, "b-18")
    assert reply["ok"] is True
    assert set(reply["result"]) == {"code", "site", "service", "slot_start", "slot_end", "initials", "status"}
    assert CITIZEN not in str(reply)


def test_dossiers_ready_and_not_ready(hub: Hub, kiosk: LookupClient) -> None:
    ready = kiosk.dossier("000.00.12.H23-241204-0003")
    assert isinstance(ready, Dossier)
    assert ready.ready and ready.status == "ready" and ready.service == "dkkd"
    assert ready.promised_date is not None and ready.promised_date.isoformat() == "2024-12-10"
    waiting = kiosk.dossier("000.00.12.H23-241204-0004")
    assert isinstance(waiting, Dossier) and not waiting.ready and waiting.status == "processing"


def test_unknown_codes_are_not_found(hub: Hub, kiosk: LookupClient) -> None:
    assert kiosk.booking("DL2612049999") == NotFound("booking")
    assert kiosk.dossier("000.00.12.H23-241204-9999") == NotFound("dossier")


def test_no_back_end_configured_is_not_configured(
    start_hub: HubFactory, site_factory: SiteFactory, kiosk: LookupClient, fake: BackendServer
) -> None:
    start_hub(site_factory({}, name="no-backend.toml"))
    got = kiosk.booking("DL2612040017")
    assert isinstance(got, Unavailable) and got.code == "not_configured"
    assert _calls(fake) == 0


# -- the back end misbehaves: the kiosk always gets Unavailable, within its deadline -------------------


def test_back_end_refusing_connections(
    start_hub: HubFactory, site_cfg: SiteConfig, kiosk: LookupClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert site_cfg.backend is not None
    dead = site_cfg.model_copy(
        update={"backend": site_cfg.backend.model_copy(update={"url": f"http://127.0.0.1:{free_port()}/x"})}
    )
    start_hub(dead)
    with caplog.at_level(logging.WARNING, logger="onestop.hub.lookup"):
        got = kiosk.booking("DL2612040017")
    assert isinstance(got, Unavailable) and got.code == "backend_unavailable"
    assert "ConnectError" in caplog.text


def test_slow_back_end_times_out_at_the_hub_before_the_kiosk_gives_up(
    hub: Hub, kiosk: LookupClient, fake: BackendServer
) -> None:
    _control(fake, {"mode": "slow", "stream": "lookups", "ms": 60_000})
    got = kiosk.booking("DL2612040017")
    # The hub's answer (lookup_timeout_s = 0.5), not the kiosk's own deadline (no_reply).
    assert isinstance(got, Unavailable) and got.code == "backend_unavailable"
    _control(fake, {"mode": "up"})
    assert isinstance(kiosk.booking("DL2612040017"), Booking)


def test_a_back_end_that_holds_the_answer_forever(hub: Hub, kiosk: LookupClient, fake: BackendServer) -> None:
    _control(fake, {"mode": "timeout", "stream": "lookups", "hold_s": 3600})
    got = kiosk.dossier("000.00.12.H23-241204-0003")
    assert isinstance(got, Unavailable) and got.code == "backend_unavailable"


def test_an_endless_body_is_cut_off(
    hub: Hub, kiosk: LookupClient, fake: BackendServer, caplog: pytest.LogCaptureFixture
) -> None:
    _control(fake, {"mode": "huge", "stream": "lookups"})  # 3 GB of "[0,0,0,…"
    with caplog.at_level(logging.WARNING, logger="onestop.hub.lookup"):
        got = kiosk.booking("DL2612040017")
    assert isinstance(got, Unavailable) and got.code == "backend_unavailable"
    assert "answer over 65536 bytes" in caplog.text
    _control(fake, {"mode": "up"})
    assert isinstance(kiosk.booking("DL2612040017"), Booking)


@pytest.mark.parametrize("status", [500, 401, 503])
def test_back_end_errors(hub: Hub, kiosk: LookupClient, fake: BackendServer, status: int) -> None:
    _control(fake, {"mode": "fail", "stream": "lookups", "status": status})
    got = kiosk.booking("DL2612040017")
    assert isinstance(got, Unavailable) and got.code == "backend_unavailable"


def test_after_failures_in_a_row_kiosks_get_their_answer_without_waiting_for_the_back_end(
    hub: Hub, kiosk: LookupClient, fake: BackendServer
) -> None:
    relay = hub.lookups
    assert relay is not None
    now = [1000.0]
    relay.clock = lambda: now[0]
    _control(fake, {"mode": "down", "stream": "lookups"})
    for _ in range(BREAKER_FAILURES):
        assert isinstance(kiosk.booking("DL2612040017"), Unavailable)
    assert _calls(fake) == BREAKER_FAILURES
    got = kiosk.booking("DL2612040017")  # answered by the hub alone
    assert isinstance(got, Unavailable) and got.code == "backend_unavailable"
    assert _calls(fake) == BREAKER_FAILURES and relay.stats["short_circuited"] == 1
    _control(fake, {"mode": "up"})
    now[0] += BREAKER_S  # then one lookup is let through, and its success closes the breaker
    assert isinstance(kiosk.booking("DL2612040017"), Booking)
    assert isinstance(kiosk.dossier("000.00.12.H23-241204-0003"), Dossier)
    assert _calls(fake) == BREAKER_FAILURES + 2


def test_a_malformed_back_end_answer_is_unavailable(
    hub: Hub, kiosk: LookupClient, fake: BackendServer
) -> None:
    bad = {**FIXTURES, "bookings": [{**FIXTURES["bookings"][0], "slot_start": "tomorrow-ish"}]}
    fake.backend.load_lookups(bad)
    got = kiosk.booking("DL2612040017")
    assert isinstance(got, Unavailable) and got.code == "backend_unavailable"


def test_no_hub_the_kiosk_gives_up_at_its_deadline(device: DeviceFactory, fake: BackendServer) -> None:
    """Nobody answers (no hub): the client returns Unavailable at its own deadline, never later."""
    client = LookupClient(device("kiosk-1"), deadline_s=1.0, resend_s=0.4)
    box: list[Any] = []
    th = threading.Thread(target=lambda: box.append(client.booking("DL2612040017")))
    th.start()
    th.join(10)  # far beyond the deadline: only a lookup that blocks forever is still running
    assert not th.is_alive()
    assert isinstance(box[0], Unavailable) and box[0].code == "no_reply"


def test_a_lookup_survives_a_broker_restart(hub: Hub, device: DeviceFactory, broker: Broker) -> None:
    dev: DeviceClient = device("kiosk-1")
    client = LookupClient(dev)
    assert isinstance(client.booking("DL2612040017"), Booking)
    assert hub.ingest is not None
    back = {"kiosk": threading.Event(), "hub": threading.Event()}
    dev.mqtt.on_connect_hooks.append(lambda _s: back["kiosk"].set())
    hub.ingest.mqtt.on_connect_hooks.append(lambda _s: back["hub"].set())
    broker.restart()
    assert back["kiosk"].wait(30) and back["hub"].wait(30)  # both subscribed again
    got = client.booking("DL2612040017")
    assert isinstance(got, Booking)


def test_resends_of_a_lookup_in_progress_cost_no_second_call(
    hub: Hub, device: DeviceFactory, fake: BackendServer
) -> None:
    _control(fake, {"mode": "slow", "stream": "lookups", "ms": 300})  # within lookup_timeout_s = 0.5
    client = LookupClient(device("kiosk-1"), deadline_s=10, resend_s=0.05)  # resends while the hub asks
    assert isinstance(client.booking("DL2612040017"), Booking)
    assert hub.lookups is not None and hub.lookups.stats["repeats"] >= 1
    assert _calls(fake) == 1


def test_a_lookup_in_flight_across_a_broker_restart_is_answered(
    start_hub: HubFactory, site_cfg: SiteConfig, device: DeviceFactory, broker: Broker, fake: BackendServer
) -> None:
    """The hub's answer may be lost while the broker is away: the kiosk sends the same id again once
    connected, and the hub answers it from memory (one back-end call in all)."""
    assert site_cfg.backend is not None
    patient = site_cfg.backend.model_copy(update={"lookup_timeout_s": 10.0})
    start_hub(site_cfg.model_copy(update={"backend": patient}))
    _control(fake, {"mode": "slow", "stream": "lookups", "ms": 1500})  # the broker restarts meanwhile
    client = LookupClient(device("kiosk-1"), deadline_s=30, resend_s=0.5)
    box: list[Any] = []
    th = threading.Thread(target=lambda: box.append(client.booking("DL2612040017")))
    th.start()
    assert fake.backend.wait_for(lambda: _calls(fake) >= 1, 10)  # the hub is asking the back end
    broker.restart()
    th.join(40)
    assert not th.is_alive() and isinstance(box[0], Booking)
    assert _calls(fake) == 1


# -- what the hub refuses ---------------------------------------------------------------------------------


def test_a_counter_may_not_look_up(
    hub: Hub, mqtt: MqttFactory, site_cfg: SiteConfig, fake: BackendServer
) -> None:
    t = Topics(site_cfg.site.id)
    watcher = mqtt("monitor")  # the counter itself may not read its lookup/reply topic
    watcher.subscribe(t.all_lookup_reply)
    counter = mqtt("counter-1")
    assert not counter.publish_acked(
        t.dev_lookup("counter-1"), {"id": "c1", "kind": "booking", "code": "DL2612040017"}
    ).is_failure
    m = watcher.inbox.wait_for(t.dev_lookup_reply("counter-1"), lambda m: m.json().get("id") == "c1")
    assert m.json()["error"]["code"] == "forbidden"
    assert _calls(fake) == 0


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"id": "m1", "kind": "weather", "code": "DL2612040017"}, "kind"),
        ({"id": "m1", "kind": "booking"}, "code"),
        ({"id": "m1", "kind": "booking", "code": "../../_reset"}, "code"),
        ({"id": "m1", "kind": "booking", "code": "DL" + "1" * 80}, "code"),
        ({"id": "m1", "kind": "dossier", "code": "a/b"}, "code"),
        ({"id": "m1", "kind": "citizen_bookings", "code": "12345"}, "id number"),
        ({"id": "m1", "kind": "booking", "code": "DL2612040017", "extra": 1}, "unknown field"),
        (b'{"id": "m1", "kind": "booking", "code": "' + b"x" * 5000 + b'"}', "exceeds"),
    ],
)
def test_malformed_lookups_with_an_id_get_bad_request(
    hub: Hub, mqtt: MqttFactory, site_cfg: SiteConfig, fake: BackendServer, payload: Any, why: str
) -> None:
    with _raw_kiosk(mqtt, site_cfg.site.id) as (c, t):
        _ask_raw(c, t, payload)
        reply = _reply(c, t, "m1")
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    assert why in reply["error"]["message"]
    assert _calls(fake) == 0


def test_unreadable_lookups_are_dropped_and_the_hub_goes_on(
    hub: Hub, mqtt: MqttFactory, site_cfg: SiteConfig, fake: BackendServer
) -> None:
    with _raw_kiosk(mqtt, site_cfg.site.id) as (c, t):
        for junk in (b"", b"not json", b"\xff\xfe", b"[1, 2]", b'{"kind": "booking"}', b"{" * 50_000):
            _ask_raw(c, t, junk)
        _ask_raw(c, t, {"id": "after", "kind": "booking", "code": "DL2612040017"})
        reply = _reply(c, t, "after")
        assert reply["ok"] is True
        # Replies come in order: the junk before "after" was answered by silence.
        assert [m.json()["id"] for m in c.inbox.messages(t.dev_lookup_reply("kiosk-1"))] == ["after"]
    assert hub.lookups is not None and hub.lookups.stats["dropped"] == 6


def test_a_repeated_id_gets_the_same_answer_without_a_second_back_end_call(
    hub: Hub, mqtt: MqttFactory, site_cfg: SiteConfig, fake: BackendServer
) -> None:
    with _raw_kiosk(mqtt, site_cfg.site.id) as (c, t):
        ask = {"id": "again", "kind": "dossier", "code": "000.00.12.H23-241204-0003"}
        _ask_raw(c, t, ask)
        first = _reply(c, t, "again")
        fake.backend.load_lookups({})  # the back end forgets: a second call would be not_found
        _ask_raw(c, t, ask)
        c.inbox.wait_for(
            t.dev_lookup_reply("kiosk-1"),
            lambda m: len([x for x in c.inbox.messages(t.dev_lookup_reply("kiosk-1"))]) >= 2,
        )
        replies = [m.json() for m in c.inbox.messages(t.dev_lookup_reply("kiosk-1"))]
    assert replies == [first, first] and first["ok"] is True
    assert _calls(fake) == 1


def test_a_flooding_kiosk_is_rate_limited(
    start_hub: HubFactory,
    site_factory: SiteFactory,
    site_cfg: SiteConfig,
    mqtt: MqttFactory,
    fake: BackendServer,
) -> None:
    assert site_cfg.backend is not None
    limited = site_factory(
        {"backend": site_cfg.backend.model_dump(), "limits": {"kiosk": {"burst": 3, "per_minute": 1}}},
        name="limited.toml",
    )
    hub = start_hub(limited)
    with _raw_kiosk(mqtt, site_cfg.site.id) as (c, t):
        for i in range(50):
            _ask_raw(c, t, {"id": f"f{i}", "kind": "booking", "code": "DL2612040017"})
        _reply(c, t, "f2")  # the last one within the burst
        refused = _reply(c, t, "f3")  # the first one over it
    assert refused["error"]["code"] == "backend_unavailable" and "too many" in refused["error"]["message"]
    assert hub.lookups is not None
    assert hub.lookups.stats["backend_calls"] == 3 and _calls(fake) <= 3


def test_a_flood_of_refusals_is_answered_by_silence(
    hub: Hub, mqtt: MqttFactory, site_cfg: SiteConfig, fake: BackendServer
) -> None:
    relay = hub.lookups
    assert relay is not None
    relay.clock = lambda: 5000.0  # no budget comes back during the test
    with _raw_kiosk(mqtt, site_cfg.site.id) as (c, t):
        for i in range(40):
            _ask_raw(c, t, {"id": f"x{i}", "kind": "weather", "code": "rain"})
        _ask_raw(c, t, {"id": "good", "kind": "booking", "code": "DL2612040017"})
        assert _reply(c, t, "good")["ok"] is True  # handled in order: the flood is behind us
        refused = [m.json()["id"] for m in c.inbox.messages(t.dev_lookup_reply("kiosk-1"))][:-1]
    assert refused == [f"x{i}" for i in range(QUICK_ANSWERS_BURST)]


# -- citizens' id numbers ----------------------------------------------------------------------------------


def _citizen_site(site_factory: SiteFactory, site_cfg: SiteConfig, **rules: bool) -> SiteConfig:
    assert site_cfg.backend is not None
    return site_factory(
        {"backend": site_cfg.backend.model_dump(), "citizen_id": {"enabled": True, "forward": True, **rules}},
        name=f"citizen-{uuid.uuid4().hex[:6]}.toml",
    )


def test_citizen_lookups_only_as_the_site_allows(
    start_hub: HubFactory,
    site_factory: SiteFactory,
    site_cfg: SiteConfig,
    kiosk: LookupClient,
    fake: BackendServer,
) -> None:
    start_hub()  # the test site has no [citizen_id]: no id number leaves the site
    for ask in (kiosk.citizen_bookings, kiosk.citizen_dossiers):
        got = ask(CITIZEN)
        assert isinstance(got, Unavailable) and got.code == "not_configured"
    start_hub(_citizen_site(site_factory, site_cfg, find_dossiers=True))  # dossiers only
    got = kiosk.citizen_bookings(CITIZEN)
    assert isinstance(got, Unavailable) and got.code == "not_configured"
    assert _calls(fake) == 0
    assert isinstance(kiosk.citizen_dossiers(CITIZEN), CitizenDossiers)


def test_a_citizen_lookup_leaves_no_id_number_in_the_hubs_logs(
    start_hub: HubFactory,
    site_factory: SiteFactory,
    site_cfg: SiteConfig,
    kiosk: LookupClient,
    fake: BackendServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start_hub(_citizen_site(site_factory, site_cfg, find_bookings=True, find_dossiers=True))
    with caplog.at_level(logging.DEBUG):  # every logger of the process, httpx and httpcore included
        bookings = kiosk.citizen_bookings(CITIZEN)
        dossiers = kiosk.citizen_dossiers(CITIZEN)
        nobody = kiosk.citizen_dossiers("009999999999")
        _control(fake, {"mode": "fail", "stream": "lookups", "status": 500})
        failed = kiosk.citizen_bookings(CITIZEN)
        _control(fake, {"mode": "huge", "stream": "lookups"})
        cut = kiosk.citizen_dossiers(CITIZEN)
        bad = kiosk.citizen_bookings(CITIZEN + "0")  # malformed: 13 digits
    assert isinstance(bookings, CitizenBookings) and [b.code for b in bookings.bookings] == ["DL2612040017"]
    assert isinstance(dossiers, CitizenDossiers) and dossiers.dossiers[0].ready
    assert nobody == CitizenDossiers(())
    assert isinstance(failed, Unavailable) and isinstance(cut, Unavailable) and isinstance(bad, Refused)
    assert fake.backend.lookups_by_kind["citizen_bookings"] >= 2  # the calls really happened
    assert "HTTP Request: GET" in caplog.text  # httpx did log its requests …
    assert "/citizens/***/" in caplog.text  # … with the number taken out
    assert CITIZEN not in caplog.text and "9999999999" not in caplog.text
    for record in caplog.records:
        assert CITIZEN not in str(record.args) and CITIZEN not in str(record.msg)
