"""The ticket kiosk end to end: view-model + MQTT shell + sim printer, real broker and controller."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageChops

from device_drivers.printer import SimPrinter
from kiosk_app.ticket_kiosk.device import KioskDevice
from kiosk_app.ticket_kiosk.ticket import render_sample_ticket
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.utils.web import HubServer

pytestmark = pytest.mark.integration

KioskFactory = Callable[..., KioskDevice]


@pytest.fixture
def kiosk_factory(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str]
) -> Iterator[KioskFactory]:
    """``kiosk_factory(**kw)``: a started kiosk-1 on the test broker (short timeouts, no tap guard)."""
    made: list[KioskDevice] = []
    cfg = site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})

    def make(**kw: object) -> KioskDevice:
        opts: dict[str, object] = {"request_timeout_s": 2.0, "retries": 1, "guard_s": 0.0, "health_s": 3600}
        opts.update(kw)
        k = KioskDevice(cfg, "kiosk-1", credentials["kiosk-1"], **opts)  # type: ignore[arg-type]
        k.start()
        made.append(k)
        return k

    yield make
    for k in made:
        k.stop()


def _fake(k: KioskDevice) -> SimPrinter:
    assert isinstance(k.printer, SimPrinter)
    return k.printer


def test_a_tap_issues_one_ticket_and_prints_exactly_that_ticket(
    kiosk_factory: KioskFactory, controller: Controller, mqtt
) -> None:
    hub = mqtt("hub")
    topics = Topics("t-site")
    hub.subscribe(topics.events, topics.dev_health("kiosk-1"))
    k = kiosk_factory()
    vm = k.vm
    assert vm.wait_for(lambda m: any(b.status for b in m.view().services), 5), "no service state arrived"
    assert vm.tap_service("tuphap") and vm.choose_priority(False)
    assert vm.wait_for(lambda m: m.screen == "done", 10), vm.view()
    v = vm.view()
    issued = hub.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "ticket.issued").json()["data"]
    assert v.number == issued["ticket"]["number"] == "A001"
    jobs = _fake(k).fake.wait_for_jobs(1)
    assert len(jobs) == 1 and jobs[0].cut and not jobs[0].partial
    assert vm.result is not None
    expected = k.render(vm.result)  # the ticket for the number the controller issued
    assert jobs[0].image is not None and jobs[0].image.size == expected.size
    assert ImageChops.difference(jobs[0].image.convert("L"), expected.convert("L")).getbbox() is None
    health = hub.inbox.wait_for(topics.dev_health("kiosk-1"), lambda m: m.retain is False).json()
    assert health["printer"] == "ok" and health["unprinted"] == 0
    # back home, the button follows the retained service state: one person waits now
    assert vm.press("ok")
    assert vm.wait_for(lambda m: m.view().services[0].waiting == 1, 5), vm.view().services[0]
    assert len(_fake(k).fake.jobs) == 1


def test_paper_out_shows_the_number_keeps_the_ticket_and_reports_health(
    kiosk_factory: KioskFactory, controller: Controller, mqtt, site_cfg: SiteConfig
) -> None:
    hub = mqtt("hub")
    topics = Topics("t-site")
    hub.subscribe(topics.dev_health("kiosk-1"), topics.service_state("datdai"))
    k = kiosk_factory()
    _fake(k).fake.set_paper("out")
    assert k.vm.take_number("datdai", priority=True)
    assert k.vm.wait_for(lambda m: m.screen == "paper_out", 10), k.vm.view()
    v = k.vm.view()
    assert v.number == "B001" and v.priority
    assert v.title == "Máy in hết giấy — vui lòng ghi nhớ số của bạn:"
    assert _fake(k).fake.jobs == []
    # the ticket was issued: it waits in the queue
    hub.inbox.wait_for(topics.service_state("datdai"), lambda m: m.json()["waiting"] == 1)
    health = hub.inbox.wait_for(topics.dev_health("kiosk-1"), lambda m: m.json()["printer"] == "paper_out")
    assert health.json()["unprinted"] == 1 and health.json()["unprinted_numbers"] == ["B001"]
    assert "paper" in health.json()["detail"]
    logged = [json.loads(line) for line in k.unprinted_path.read_text("utf-8").splitlines()]
    assert [e["ticket"]["number"] for e in logged] == ["B001"] and "PaperOut" in logged[0]["reason"]
    # paper back: the next ticket prints, health says ok (the unprinted one stays listed)
    _fake(k).fake.set_paper("ok")
    k.vm.press("ok")
    assert k.vm.take_number("datdai")
    assert k.vm.wait_for(lambda m: m.screen == "done", 10)
    assert k.vm.view().number == "B002" and len(_fake(k).fake.jobs) == 1
    health = hub.inbox.wait_for(
        topics.dev_health("kiosk-1"), lambda m: m.json()["printer"] == "ok" and m.json()["unprinted"] == 1
    )
    assert health.json()["unprinted_numbers"] == ["B001"]


def test_controller_stopped_shows_the_unreachable_screen(
    kiosk_factory: KioskFactory, controller: Controller
) -> None:
    k = kiosk_factory(request_timeout_s=0.3, retries=1)
    controller.stop()
    assert k.vm.take_number("tuphap")
    assert k.vm.wait_for(lambda m: m.screen == "unreachable", 10), k.vm.view()
    v = k.vm.view()
    assert v.title == "Hệ thống đang bận, vui lòng thử lại hoặc liên hệ cán bộ hướng dẫn"
    assert _fake(k).fake.jobs == []


def test_broker_down_shows_the_unreachable_screen_at_once(
    kiosk_factory: KioskFactory, broker: Broker
) -> None:
    k = kiosk_factory()
    assert k.vm.view().banner == ""
    broker.stop()
    assert k.vm.wait_for(lambda m: not m.connected(), 10), "the kiosk did not notice the broker going"
    assert k.vm.view().banner == "Hệ thống đang bận, vui lòng chờ hoặc liên hệ cán bộ hướng dẫn"
    assert k.vm.take_number("tuphap")
    assert k.vm.view().screen == "unreachable" and _fake(k).fake.jobs == []


def test_daily_limit_from_the_controller(kiosk_factory: KioskFactory, controller: Controller) -> None:
    k = kiosk_factory()
    for i in range(50):  # dkkd allows 50 numbers a day in the test site
        k.issue("dkkd", False, command_id=f"fill-{i}")
    assert k.vm.take_number("dkkd")
    assert k.vm.wait_for(lambda m: m.screen == "limit", 10), k.vm.view()
    assert k.vm.view().title == "Đăng ký kinh doanh: đã hết số thứ tự hôm nay"
    assert _fake(k).fake.jobs == []


def test_print_test_writes_a_png_and_prints_on_the_sim_printer(site_cfg: SiteConfig, tmp_path: Path) -> None:
    out = tmp_path / "ticket.png"
    argv = [sys.executable, "-m", "onestop", "kiosk", "print-test", "--config", site_cfg.source]
    r = subprocess.run(
        [*argv, "--device", "kiosk-1", "--out", str(out)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1 and "ticket.png" in r.stdout and "512" in r.stdout
    from PIL import Image

    with Image.open(out) as img:
        expected = render_sample_ticket(site_cfg, 512, layout=site_cfg.ticket)
        assert img.size == expected.size
    r = subprocess.run([*argv, "--device", "kiosk-1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.count("\n") == 1 and "printed" in r.stdout, r.stderr
    r = subprocess.run([*argv, "--device", "counter-1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a kiosk" in r.stderr


def test_print_test_fails_with_one_line_when_the_printer_is_missing(site_factory, tmp_path: Path) -> None:
    from tests.utils.site import SITE

    devices = [dict(d) for d in SITE["devices"]]
    devices[0]["printer"] = {"backend": "file", "path": str(tmp_path / "no-such-dir" / "lp0")}
    cfg = site_factory({"devices": devices}, name="missing.toml")
    r = subprocess.run(
        [sys.executable, "-m", "onestop", "kiosk", "print-test", "--config", cfg.source,
         "--device", "kiosk-1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("onestop kiosk: ")


def test_the_printed_qr_link_opens_the_citizens_page_and_a_guessed_id_does_not(
    kiosk_factory: KioskFactory,
    controller: Controller,
    hub_server: HubServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    import kiosk_app.ticket_kiosk.device as kiosk_module

    printed: list[str | None] = []
    real = kiosk_module.render_ticket

    def spy(*args: Any, **kw: Any) -> Any:
        printed.append(kw["status_url"])  # the URL the QR code on the ticket encodes
        return real(*args, **kw)

    monkeypatch.setattr(kiosk_module, "render_ticket", spy)
    k = kiosk_factory()
    vm = k.vm
    assert vm.wait_for(lambda m: any(b.status for b in m.view().services), 5), "no service state arrived"
    assert vm.tap_service("tuphap") and vm.choose_priority(False)
    assert vm.wait_for(lambda m: m.screen == "done", 10), vm.view()
    _fake(k).fake.wait_for_jobs(1)
    assert vm.result is not None
    ticket = vm.result["ticket"]
    url = printed[0]
    assert url is not None and url == f"{k.cfg.hub.public_url}/t/{ticket['token']}"
    assert ticket["id"] not in url  # the sequential id stays internal
    assert hub_server.hub is not None and hub_server.hub.ingest is not None
    assert controller._store is not None  # the issue is committed before its reply: seq is final
    assert hub_server.hub.ingest.wait_for_seq(controller._store.last_seq, 10)
    path = url.removeprefix(k.cfg.hub.public_url)
    with httpx.Client(base_url=hub_server.url, timeout=10) as web:
        page = web.get(path)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        status = web.get(f"/api/tickets/{ticket['token']}/status").json()
        assert (status["number"], status["status"]) == ("A001", "waiting")
        # the sequential id, and its neighbours, open nothing
        for guess in (ticket["id"], ticket["id"].replace("A001", "A002")):
            assert web.get(f"/t/{guess}").status_code == 404
            assert web.get(f"/api/tickets/{guess}/status").status_code == 404
