"""Citizens on 4G: a real controller at a site bridged to the province broker (TLS, a site account),
a real province node on PostgreSQL serving the public ticket page, a fake Web Push service and a
fake SMS gateway (real HTTP servers that record what they get), and Chromium for the page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from onestop.broker import Broker, free_port
from onestop.config import SiteConfig
from onestop.ticket_links import looks_like_token
from province import bridge, migrations
from province.bridge import ProvinceBroker, ProvinceBrokerDir
from province.store import Store
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory
from tests.utils.axe import failures
from tests.utils.mqtt import connect
from tests.utils.postgres import pg_cluster, pg_dsn  # noqa: F401  # fixtures
from tests.utils.province import ProvinceNode
from tests.utils.push import Browser, Recorder, check_vapid
from tests.utils.web import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

WAIT_S = 20.0
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "province"
PHONE = "0912 345 678"
PHONE_DIGITS = "912345678"
GATEWAY_TOKEN = "gw-token-" + "x" * 24


@pytest.fixture
def province_dir(tmp_path: Path) -> ProvinceBrokerDir:
    return bridge.init_broker_dir(tmp_path / "province-broker", "hg", ["127.0.0.1", "localhost"])


@pytest.fixture
def province_broker(province_dir: ProvinceBrokerDir) -> Iterator[ProvinceBroker]:
    pb = ProvinceBroker(province_dir, tls_port=free_port())
    pb.start()
    yield pb
    pb.stop()


@pytest.fixture
def broker(
    site_cfg: SiteConfig, province_dir: ProvinceBrokerDir, province_broker: ProvinceBroker, tmp_path: Path
) -> Iterator[Broker]:
    """The site's own broker, bridged to the province broker (the controller and devices use it)."""
    assert province_broker._tls is not None
    bundle = bridge.add_site(
        province_dir, site_cfg.site.id, "127.0.0.1", province_broker._tls.port,
        cafile=tmp_path / "bundle" / "province-ca.crt",
    )  # fmt: skip
    bundle.write(tmp_path / "bundle")
    province_broker.reload_files()
    b = Broker(
        site_cfg,
        tmp_path / "site-broker",
        extra_conf=(tmp_path / "bundle" / "onestop-bridge.conf").read_text(),
    )
    b.start()
    yield b
    b.stop()


def until(check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        pause.wait(0.05)
    raise AssertionError("timed out")


def one(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _fits(page: Page, selector: str) -> None:
    """Nothing of ``selector`` is cut or runs off the screen."""
    whole = "e => e.scrollWidth <= e.clientWidth + 1 && e.getBoundingClientRect().right <= innerWidth + 0.5"
    for i, el in enumerate(page.locator(selector).all()):
        if el.is_visible():
            assert el.evaluate(whole), f"{selector}[{i}] is clipped at {page.viewport_size}"


def _no_clipping(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
    for sel in ("#centre", "#number", "#service", "#status", "#headline", "#headline-en", "#detail",
                "#detail-en", "#notify .btn", "#phone-form input", ".foot .hint"):  # fmt: skip
        _fits(page, sel)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
def test_a_citizen_follows_the_ticket_on_4g_and_is_told_when_near_and_called(
    site_cfg: SiteConfig,
    province_dir: ProvinceBrokerDir,
    province_broker: ProvinceBroker,
    controller: Controller,
    device: DeviceFactory,
    pg_dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # The screenshots go to docs/img/province with ONESTOP_SCREENSHOTS=1 (docs are renewed on purpose,
    # not by every run of the suite), else to tmp_path.
    shots = DOCS_IMG if os.environ.get("ONESTOP_SCREENSHOTS") == "1" else tmp_path
    site_id = site_cfg.site.id
    migrations.migrate(pg_dsn)
    store = Store(pg_dsn, max_size=1)
    store.open()
    store.add_site(site_id, "Bộ phận Một cửa xã Thử Nghiệm")
    store.close()
    with Recorder() as push, Recorder() as gateway:
        token_file = tmp_path / "gw.token"
        token_file.write_text(GATEWAY_TOKEN)
        # The province's technician, with the CLI: "near" at 2, and the centre's SMS gateway.
        notify = subprocess.run(
            [sys.executable, "-m", "onestop", "province", "site", "notify", "--id", site_id, "--near", "2",
             "--gateway-url", gateway.url + "/send", "--gateway-token-file", str(token_file)],
            env={**os.environ, "ONESTOP_PROVINCE_DSN": pg_dsn}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert notify.returncode == 0, notify.stderr
        assert notify.stdout.strip() == f"{site_id}: near 2, gateway {gateway.url}/send (sms)"
        assert GATEWAY_TOKEN not in notify.stdout + notify.stderr
        log_path = tmp_path / "node.log"
        extra = ["--live-broker", f"127.0.0.1:{province_broker.port}",
                 "--live-password-file", str(province_dir.service_password),
                 "--push-allow", push.url + "/push/", "--push-subject", "mailto:ops@hagiang.example",
                 "--log-level", "DEBUG"]  # fmt: skip
        with ProvinceNode(pg_dsn, "n1", extra=extra, log_path=log_path) as node:
            kiosk, counter = device("kiosk-1"), device("counter-1")
            tickets = [kiosk.request("issue", {"service": "tuphap"})["ticket"] for _ in range(5)]
            tokens = [t["token"] for t in tickets]
            assert all(looks_like_token(t) for t in tokens)
            # The bridge carries ticket.issued to the province, which learns each link from it.
            until(lambda: one(pg_dsn, "SELECT count(*) FROM public_tickets") == 5)
            until(lambda: one(pg_dsn, "SELECT count(*) FROM site_live WHERE state->'services' ? 'tuphap'"))
            fifth = tokens[4]
            r = httpx.get(f"{node.url}/api/v1/public/tickets/{fifth}", timeout=10)
            assert r.status_code == 200, r.text
            st = r.json()
            assert st["number"] == tickets[4]["number"] and st["ahead"] == 4 and st["status"] == "waiting"
            assert st["service_name"] == "Tư pháp - Hộ tịch" and st["near"] == 2 and st["phone"] is True
            # Nothing personal, nor the sequential id, nor anything else than the page needs.
            assert set(st) == {"number", "service_name", "service_name_en", "priority", "status",
                               "counter_label", "counter_label_en", "issued_at", "called_at", "ahead",
                               "est_wait_s", "site_name", "near", "phone"}  # fmt: skip
            assert tickets[4]["id"] not in r.text
            # A sequential id, a made-up token, garbage: the friendly 404 page.
            for bad in (tickets[0]["id"], "A" * 22, "..%2F..%2Fetc"):
                r = httpx.get(f"{node.url}/t/{bad}", timeout=10)
                assert r.status_code == 404 and "Không tìm thấy phiếu" in r.text, bad
                assert r.headers["referrer-policy"] == "no-referrer"

            # The citizen of the fifth ticket subscribes to Web Push; the fourth gives a phone number.
            key = httpx.get(f"{node.url}/api/v1/public/push-key", timeout=10).json()["key"]
            phone5 = Browser(push.url + "/push/fifth")
            r = httpx.post(
                f"{node.url}/api/v1/public/tickets/{fifth}/push", json=phone5.subscription(), timeout=10
            )
            assert r.status_code == 201, r.text
            evil = {**phone5.subscription(), "endpoint": "http://127.0.0.1:5432/"}
            r = httpx.post(f"{node.url}/api/v1/public/tickets/{fifth}/push", json=evil, timeout=10)
            assert r.status_code == 400, "a subscription may name only a push service"
            r = httpx.post(
                f"{node.url}/api/v1/public/tickets/{tokens[3]}/phone", json={"phone": "12"}, timeout=10
            )
            assert r.status_code == 400
            r = httpx.post(
                f"{node.url}/api/v1/public/tickets/{tokens[3]}/phone", json={"phone": PHONE}, timeout=10
            )
            assert r.status_code == 201 and PHONE_DIGITS not in r.text

            # The page on a phone (390×844) and a laptop (1366×768), waiting.
            shots.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
                page.goto(f"{node.url}/t/{fifth}")
                expect(page.locator("#number")).to_have_text(tickets[4]["number"])
                expect(page.locator("#headline")).to_have_text("Trước bạn còn 4\u00a0người")
                expect(page.locator("#headline-en")).to_have_text("4 people ahead of you")
                expect(page.locator("#notify")).to_be_visible()
                expect(page.locator("#phone-form")).to_be_visible()
                expect(page.locator("#centre")).to_have_text("Bộ phận Một cửa xã Thử Nghiệm")
                # Styled by its own files under the strict CSP (an unstyled page would "fit" too).
                assert page.locator("#number").evaluate("e => getComputedStyle(e).fontSize") == "88px"
                assert page.locator("#push-btn").evaluate("e => getComputedStyle(e).minHeight") == "52px"
                _no_clipping(page)
                page.screenshot(path=str(shots / "ticket-waiting-390x844.png"), full_page=True)
                page.set_viewport_size({"width": 1366, "height": 768})
                _no_clipping(page)
                page.screenshot(path=str(shots / "ticket-waiting-1366x768.png"))
                page.set_viewport_size({"width": 390, "height": 844})
                # axe-core (in a context of its own: it injects a script, which the page's CSP forbids).
                audit_ctx = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
                audited = audit_ctx.new_page()
                audited.goto(f"{node.url}/t/{fifth}")
                expect(audited.locator("#number")).to_have_text(tickets[4]["number"])
                assert failures(audited) == []
                audited.goto(f"{node.url}/t/{'Z' * 22}")
                assert failures(audited) == []
                audit_ctx.close()
                # The service worker the subscribe button registers installs, for the ticket pages.
                scope = page.evaluate(
                    "navigator.serviceWorker.register('/citizen/sw.js', {scope: '/t/'}).then(r => r.scope)"
                )
                assert scope == f"{node.url}/t/"

                # The counter calls: after two calls, two people are ahead of the fifth: "near".
                counter.request("open", {})
                counter.request("call_next", {})
                # The fourth ticket now has 2 ahead: its SMS goes out (near = 2).
                assert gateway.wait(lambda got: len(got) >= 1, WAIT_S)
                counter.request("call_next", {})
                assert push.wait(lambda got: len(got) >= 1, WAIT_S), "a 'near' push"
                near = push.received[0]
                assert near.path == "/push/fifth" and near.headers["content-encoding"] == "aes128gcm"
                assert int(near.headers["ttl"]) > 0
                claims = check_vapid(near.headers, key)
                assert claims["aud"] == push.url and claims["sub"] == "mailto:ops@hagiang.example"
                assert claims["exp"] > time.time()
                msg = phone5.decrypt(near.body)
                assert (
                    msg["title"]
                    == f"Số {tickets[4]['number']}: trước bạn còn 2 người, xin quay lại trung tâm"
                )
                assert msg["body"] == f"{tickets[4]['number']}: 2 people ahead of you"
                assert msg["url"] == f"/t/{fifth}"
                sms = gateway.received[0]
                assert sms.headers["authorization"] == f"Bearer {GATEWAY_TOKEN}"
                assert sms.json()["to"] == "+84" + PHONE_DIGITS and sms.json()["channel"] == "sms"
                assert sms.json()["text"].startswith(f"Số {tickets[3]['number']}: trước bạn còn 2 người")

                # Called: "Mời số … đến Quầy 1", on the page and as a push.
                for _ in range(3):
                    counter.request("call_next", {})
                assert push.wait(lambda got: len(got) >= 2, WAIT_S), "a 'called' push"
                called = phone5.decrypt(push.received[1].body)
                assert called["title"] == f"Mời số {tickets[4]['number']} đến Quầy 1"
                assert called["body"] == f"{tickets[4]['number']}: please go to Counter 1"
                assert len(push.received) == 2, "'near' once, 'called' once"
                # The fourth was called then finished (call_next finishes the current one): its
                # phone number is gone, after an SMS for the call.
                assert gateway.wait(lambda got: len(got) >= 2, WAIT_S)
                assert (
                    gateway.received[1].json()["text"].startswith(f"Mời số {tickets[3]['number']} đến Quầy 1")
                )
                until(lambda: one(pg_dsn, "SELECT count(*) FROM phone_subscriptions") == 0)
                expect(page.locator("#headline")).to_have_text(
                    f"Mời số {tickets[4]['number']} đến Quầy\u00a01", timeout=15_000
                )
                expect(page.locator("#headline-en")).to_have_text(
                    f"{tickets[4]['number']}: please go to Counter 1"
                )
                expect(page.locator("#notify")).to_be_hidden()
                _no_clipping(page)
                page.screenshot(path=str(shots / "ticket-called-390x844.png"), full_page=True)

                counter.request("finish", {})
                expect(page.locator("#headline")).to_have_text("Đã phục vụ xong", timeout=15_000)
                page.screenshot(path=str(shots / "ticket-done-390x844.png"), full_page=True)
                page.goto(f"{node.url}/t/{'Z' * 22}")
                expect(page.locator("h1").last).to_have_text("Không tìm thấy phiếu")
                _fits(page, "main p")
                page.screenshot(path=str(shots / "ticket-not-found-390x844.png"), full_page=True)
                browser.close()

            # A dump of the province's tables holds no phone number; the node never logged one.
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                for table in ("public_tickets", "push_subscriptions", "phone_subscriptions"):
                    rows = conn.execute(f"SELECT * FROM {table}").fetchall()
                    assert PHONE_DIGITS not in repr(rows), table
            # Unknown links are rate-limited per address (20 at once, then 1 per 20 s).
            codes = [httpx.get(f"{node.url}/api/v1/public/tickets/{'Q' * 21}{i % 10}", timeout=10).status_code
                     for i in range(25)]  # fmt: skip
            assert codes.count(429) >= 1 and set(codes) <= {404, 429}
        text = log_path.read_text(encoding="utf-8", errors="replace")
        assert PHONE_DIGITS not in text, "a phone number never goes to the log"
        assert not any(t in text for t in tokens), "nor a ticket's link (it is the page's only key)"
        assert re.search(r"near push sent", text) and "near sms sent" in text


def _issued(seq: int, number: str, token: str, **ticket: Any) -> dict[str, Any]:
    t = {"id": f"20261204-{number}", "number": number, "service": "tuphap", "priority": False,
         "status": "waiting", "issued_at": "2026-12-04T08:00:00+07:00", "called_at": None,
         "counter": None, "token": token, **ticket}  # fmt: skip
    return {"seq": seq, "type": "ticket.issued", "ts": "2026-12-04T08:00:00+07:00", "data": {"ticket": t}}


def _called(seq: int, number: str) -> dict[str, Any]:
    t = {"id": f"20261204-{number}", "number": number, "service": "tuphap", "priority": False,
         "status": "called", "issued_at": "2026-12-04T08:00:00+07:00",
         "called_at": "2026-12-04T08:10:00+07:00", "counter": "2"}  # fmt: skip
    return {"seq": seq, "type": "ticket.called", "ts": "2026-12-04T08:10:00+07:00",
            "data": {"ticket": t, "recall": False}}  # fmt: skip


def test_garbage_is_dropped_a_gone_subscription_is_forgotten_and_a_new_leader_carries_on(
    province_dir: ProvinceBrokerDir,
    province_broker: ProvinceBroker,
    pg_dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    site_id = "xa-a"
    migrations.migrate(pg_dsn)
    store = Store(pg_dsn, max_size=1)
    store.open()
    store.add_site(site_id, "UBND xã A")
    store.close()
    account = bridge.add_site(province_dir, site_id, "127.0.0.1", 8883)
    province_broker.reload_files()
    site = connect(province_broker.host, province_broker.port, site_id, account.password)
    events = f"onestop/v1/{site_id}/events"
    t1, t2, t3 = "T1" + "a" * 20, "T2" + "b" * 20, "T3" + "c" * 20
    with Recorder(status={"/push/gone": 410}) as push:
        extra = ["--live-broker", f"127.0.0.1:{province_broker.port}",
                 "--live-password-file", str(province_dir.service_password),
                 "--push-allow", push.url + "/push/"]  # fmt: skip
        nodes = [
            ProvinceNode(pg_dsn, f"n{i}", extra=extra, log_path=tmp_path / f"n{i}.log") for i in (1, 2, 3)
        ]
        nodes[0].start()
        nodes[1].start()
        try:
            # A site's garbage: not JSON, not an object, wrong types, a bad token, a huge number,
            # a time without offset, a seq beyond bigint. None of it stops the feed or stores a row.
            garbage: list[Any] = [
                b"not json", b"[1, 2]", b'{"seq": "1"}', b"\xff\xfe",
                _issued(1, "A900", "short"), _issued(2, "A" * 40, "Z" * 22),
                _issued(3, "A901", "Y" * 22, status="bogus"),
                _issued(4, "A902", "X" * 22, issued_at="yesterday"),
                json.dumps(_issued(2**70, "A903", "W" * 22)).encode(),
                _issued(5, "A904", "V" * 22, id=["x"]),
            ]  # fmt: skip
            for bad in garbage:
                site.publish_acked(events, bad)
            site.publish_acked(events, _issued(10, "A001", t1))
            site.publish_acked(events, _issued(11, "A002", t2))
            until(lambda: one(pg_dsn, "SELECT count(*) FROM public_tickets") == 2)
            assert (
                one(pg_dsn, "SELECT string_agg(number, ',' ORDER BY number) FROM public_tickets")
                == "A001,A002"
            )

            # The browser of A002 unsubscribed since: the push service answers 410, the province forgets it.
            gone = Browser(push.url + "/push/gone")
            r = httpx.post(
                f"{nodes[0].url}/api/v1/public/tickets/{t2}/push", json=gone.subscription(), timeout=10
            )
            assert r.status_code == 201
            assert push.wait(lambda got: any(g.path == "/push/gone" for g in got), WAIT_S)
            until(lambda: one(pg_dsn, "SELECT count(*) FROM push_subscriptions") == 0)

            # A001 subscribes on the other node: 0 ahead, so "near" at once.
            first = Browser(push.url + "/push/one")
            r = httpx.post(
                f"{nodes[1].url}/api/v1/public/tickets/{t1}/push", json=first.subscription(), timeout=10
            )
            assert r.status_code == 201
            assert push.wait(lambda got: any(g.path == "/push/one" for g in got), WAIT_S)
            # A node dies (SIGKILL) and A001 is called at once: whichever node leads now tells the citizen.
            nodes[0].kill()
            site.publish_acked(events, _called(12, "A001"))
            assert push.wait(lambda got: sum(g.path == "/push/one" for g in got) == 2, WAIT_S + 10)
            msg = first.decrypt([g for g in push.received if g.path == "/push/one"][1].body)
            assert msg["title"] == "Mời số A001 đến Quầy 2"
            # The redelivered call (QoS 1) is not told twice.
            site.publish_acked(events, _called(12, "A001"))
            # And the other node dies too, with a third up: the feed goes on (one of the two kills
            # took the leader).
            nodes[2].start()
            nodes[1].kill()
            site.publish_acked(events, _issued(13, "A003", t3))
            until(
                lambda: one(pg_dsn, "SELECT count(*) FROM public_tickets WHERE token = %s", (t3,)) == 1,
                WAIT_S + 10,
            )
            third = Browser(push.url + "/push/three")
            r = httpx.post(
                f"{nodes[2].url}/api/v1/public/tickets/{t3}/push", json=third.subscription(), timeout=10
            )
            assert r.status_code == 201
            site.publish_acked(events, _called(14, "A003"))

            # "near" may or may not come first (the call can be folded before the next sweep): the
            # call is told, and it is the last word.
            def called_three(got: list[Any]) -> bool:
                mine = [g for g in got if g.path == "/push/three"]
                return bool(mine) and third.decrypt(mine[-1].body)["title"] == "Mời số A003 đến Quầy 2"

            assert push.wait(called_three, WAIT_S)
            assert sum(g.path == "/push/one" for g in push.received) == 2, "the redelivered call told nobody"
            r = httpx.get(f"{nodes[2].url}/api/v1/public/tickets/{t3}", timeout=10)
            assert r.json()["status"] == "called" and r.json()["counter_label"] == "Quầy 2"
        finally:
            for n in nodes:
                n.stop()
            site.close()
