"""Privacy of the citizen's name (docs/privacy.md): a ticket goes through issue → citizen note → call
→ rating → forwarding → day close, with a real broker, controller, hub (HTTP) and back end; then
every file, the logs, the outbox, what the back end received and the public pages are searched for
the name and the id number. Only the clerk of the serving counter sees the name; after the day
closes, nothing readable is left."""

from __future__ import annotations

import json
import logging
import os
import unicodedata
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from onestop.broker import Broker
from onestop.clock import ManualClock
from onestop.config import SiteConfig
from onestop.credentials import read_pin
from onestop.fake_backend import BackendServer, FakeBackend
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory
from tests.utils.site import SITE
from tests.utils.web import CHROMIUM, HubServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]

TOKEN = "tok-privacy-51d0"
TOKEN_ENV = "ONESTOP_TEST_PRIVACY_BACKEND_TOKEN"
#: A synthetic citizen (the real card layout: docs/citizen-id.md).
NAME = "Nguyễn Thị Hồng Nhung"
ID_NUMBER = "001185004321"
CARD = f"{ID_NUMBER}|012345678|{NAME}|09091985|Nữ|Số 7 phố Huế, Hà Nội|20062021"


def needles() -> list[bytes]:
    """The name and the id number as bytes in every form a file or page could hold them."""
    out = [ID_NUMBER.encode()]
    for form in ("NFC", "NFD"):
        text = unicodedata.normalize(form, NAME)
        out += [text.encode("utf-8"), text.upper().encode("utf-8"), json.dumps(text).encode()]
        out.append(text.encode("utf-16-le"))
    out.append("Hồng Nhung".encode())
    return out


def assert_absent(where: str, data: bytes) -> None:
    for n in needles():
        assert n not in data, f"{where} holds {n!r}"


@pytest.fixture
def fake() -> Iterator[BackendServer]:
    server = BackendServer(FakeBackend(TOKEN)).start()
    yield server
    server.stop()


@pytest.fixture
def site_cfg(site_factory: Callable[..., SiteConfig], fake: BackendServer) -> SiteConfig:
    return site_factory(
        {
            "backend": {"url": f"{fake.url}/onestop", "token_env": TOKEN_ENV},
            "citizen_id": {"enabled": True, "priority_age": 75, "prefill_name": True},
            "devices": [
                *SITE["devices"],
                {"id": "caller-1", "role": "counter", "counter": "1", "keys": {"backend": "web"}},
                {"id": "caller-2", "role": "counter", "counter": "2", "keys": {"backend": "web"}},
            ],
        }
    )


class Clerk:
    """A soft caller's browserless session (cookie jar) for one counter."""

    def __init__(self, base: str, counter: str, pin: str) -> None:
        self.base, self.counter = base, counter
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        assert self.call("session", {"pin": pin})[0] == 200

    def call(self, op: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        url = f"{self.base}/api/caller/{self.counter}/{op}"
        data = json.dumps(body if body is not None else {"args": {}}).encode()
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        return self._open(req)

    def citizen(self) -> tuple[int, dict[str, Any]]:
        return self._open(urllib.request.Request(f"{self.base}/api/caller/{self.counter}/citizen"))

    def _open(self, req: urllib.request.Request) -> tuple[int, dict[str, Any]]:
        try:
            with self.opener.open(req, timeout=15) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=15) as r:
        return bytes(r.read())


def test_the_name_reaches_only_the_serving_clerk_and_is_gone_after_day_close(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], device: DeviceFactory,
    fake: BackendServer, browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    from onestop.citizen_id import parse_card, priority_by_age

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    clock = ManualClock(datetime.now(UTC))
    ctl = Controller(
        site_cfg, credentials["controller"], db_path=tmp_path / "controller.db", clock=clock,
        host=broker.host, port=broker.port, tick_s=0.1,
        fatal=lambda reason: pytest.fail(f"controller stopped: {reason}"),
    )  # fmt: skip
    ctl.start()
    srv = HubServer(
        site_cfg, credentials["hub"], broker_host=broker.host, broker_port=broker.port,
        db_path=tmp_path / "hub.db",
    )  # fmt: skip
    hub = srv.start()
    try:
        assert hub.notes is not None and hub.ingest is not None
        ingest, notes = hub.ingest, hub.notes
        topics = Topics(site_cfg.site.id)

        # The kiosk reads the card: the name and the priority rule; nothing else leaves it.
        card = parse_card(CARD, today=clock.now().date())
        assert not priority_by_age(card, clock.now().date(), 75)
        kiosk = device("kiosk-1")
        issued = kiosk.request("issue", {"service": "tuphap"})
        ticket = issued["ticket"]
        kiosk.mqtt.publish(topics.dev_citizen("kiosk-1"), {"ticket_id": ticket["id"], "name": card.name})
        # A counter device may publish under its own topics, but its note is dropped; so is a
        # kiosk's note that carries more than the name.
        rogue = device("counter-3")
        rogue.mqtt.publish(topics.dev_citizen("counter-3"), {"ticket_id": ticket["id"], "name": "Kẻ Giả Mạo"})
        kiosk.mqtt.publish(
            topics.dev_citizen("kiosk-1"), {"ticket_id": ticket["id"], "name": NAME, "id_number": ID_NUMBER}
        )
        assert ingest.wait_for(lambda: notes.stats["stored"] == 1 and notes.stats["dropped"] == 2, 15)
        assert "citizen note from device counter-3 dropped" in caplog.text

        clerk1 = Clerk(srv.url, "1", read_pin(site_cfg, "caller-1"))
        clerk2 = Clerk(srv.url, "2", read_pin(site_cfg, "caller-2"))
        assert clerk1.call("open", {"args": {"officer": "cb001"}})[0] == 200
        assert clerk2.call("open", {"args": {"officer": "cb002"}})[0] == 200
        # Nobody served yet: no name.
        assert clerk1.citizen() == (200, {"ok": True, "ticket": None, "name": None})
        status, called = clerk1.call("call_next")
        assert status == 200 and called["result"]["ticket"]["id"] == ticket["id"]
        assert ingest.wait_for(
            lambda: ((hub.live.counters.get("1") or {}).get("serving") or {}).get("id") == ticket["id"], 15
        )
        assert clerk1.citizen() == (200, {"ok": True, "ticket": ticket["id"], "name": NAME})
        # Another counter's clerk, and a browser that is not signed in, get nothing.
        assert clerk2.citizen()[1]["name"] is None
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{srv.url}/api/caller/1/citizen", timeout=15)
        assert e.value.code == 401

        # The soft caller page shows it under the served number (a real browser, signed in).
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(f"{srv.url}/caller/1")
        page.locator("#pin").fill(read_pin(site_cfg, "caller-1"))
        page.locator("#signin-go").click()
        expect(page.locator("#citizen")).to_contain_text(f"Công dân: {NAME}", timeout=10_000)
        ctx.close()

        # Public pages in a browser: the ticket's status page and the hall board.
        hall = browser.new_context()
        for url, ready in ((f"{srv.url}/t/{ticket['token']}", "#number"), (f"{srv.url}/board", "#calls")):
            p = hall.new_page()
            p.goto(url)
            expect(p.locator(ready)).to_contain_text(ticket["number"], timeout=10_000)
            assert_absent(url, p.content().encode())
        hall.close()
        for api in (
            "/api/state", f"/api/tickets/{ticket['token']}/status", "/api/counters/1/queue?limit=8",
            "/", "/board",
        ):  # fmt: skip
            assert_absent(api, get(srv.url + api))

        # Finish, rate, forward.
        assert clerk1.call("finish")[0] == 200
        device("rate-1").request("rate", {"score": 3, "comment": "Cán bộ nhiệt tình"})
        backend = fake.backend
        assert backend.wait_for(lambda: backend.stats()["records"] >= 2, 20)
        assert hub.forwarder is not None and hub.forwarder.wait_drained(20)
        sent = [r["record"] for s in ("queue-records", "ratings") for r in backend.records(s)]
        assert {r["ticket_id"] for r in sent} == {ticket["id"]}
        assert_absent("the back end's records", json.dumps(sent, ensure_ascii=False).encode())
        assert clerk1.citizen()[1] == {"ok": True, "ticket": None, "name": None}  # served no more

        # The day closes: the note and its key are gone.
        key_dir = site_cfg.data_dir / "secrets" / "citizen"
        assert [p.name for p in key_dir.iterdir()] == [f"{notes.today()}.key"]
        clock.advance(timedelta(days=1).total_seconds())
        assert ingest.wait_for(lambda: notes.count() == 0, 20), "day.closed did not purge the notes"
        assert list(key_dir.iterdir()) == []
        assert notes.name_for(ticket["id"]) is None
    finally:
        srv.stop()
        ctl.stop()

    # Every file the site wrote (databases and their journals, broker files, secrets), the log.
    scanned = 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert_absent(str(path), path.read_bytes())
            scanned += 1
    assert scanned >= 4 and (tmp_path / "hub.db").exists() and (tmp_path / "citizen-notes.db").exists()
    assert_absent("the log", caplog.text.encode())


def test_a_note_sent_while_the_hub_is_offline_is_not_queued_for_it(
    controller: Controller, device: DeviceFactory, site_cfg: SiteConfig, broker: Broker,
    credentials: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The hub takes notes at QoS 0: the broker keeps none for its persistent session while it is
    down (so none can land in the broker's persistence file). Events sent after the note are queued
    for the hub in the same session; once they are stored, a queued note would have come first."""
    from hub_api.app import Hub

    monkeypatch.setenv(TOKEN_ENV, TOKEN)

    def open_hub() -> Hub:
        h = Hub.open(
            site_cfg, credentials["hub"], db_path=tmp_path / "hub.db", host=broker.host, port=broker.port
        )
        h.start()
        assert h.ingest is not None and h.notes is not None
        return h

    topics = Topics(site_cfg.site.id)
    kiosk = device("kiosk-1")
    hub = open_hub()
    try:
        assert hub.ingest is not None and hub.notes is not None
        hub.ingest.mqtt.wait_connected(10)
        first = kiosk.request("issue", {"service": "tuphap"})["ticket"]
        kiosk.mqtt.publish(topics.dev_citizen("kiosk-1"), {"ticket_id": first["id"], "name": NAME})
        assert hub.ingest.wait_for(lambda: hub.notes is not None and hub.notes.stats["stored"] == 1, 15)
    finally:
        hub.stop()
    kiosk.mqtt.publish(topics.dev_citizen("kiosk-1"), {"ticket_id": "offline-1", "name": NAME}, qos=1)
    kiosk.request("issue", {"service": "tuphap"})  # its event is queued for the hub's session
    last = controller._store.last_seq
    again = open_hub()
    try:
        assert again.ingest is not None and again.notes is not None
        assert again.ingest.wait_for_seq(last, 15)
        assert again.notes.stats["stored"] == 0 and again.notes.name_for("offline-1") is None
        assert again.notes.name_for(first["id"]) == NAME  # the note taken before is still there
    finally:
        again.stop()
