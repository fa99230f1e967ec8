"""The ticket status page (the QR code on a ticket) and the manager's dashboard in a real Chromium.

A real broker, controller and hub served by uvicorn; every wait is on something the page shows.
With ONESTOP_SCREENSHOTS=1 the screenshots go to docs/img (else to tmp_path)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from hub_api.reports import business_day
from hub_api.tokens import TokenStore
from onestop import __version__
from onestop.config import SiteConfig
from onestop.protocol import Topics
from provisioning.release import releases_dir
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.integration.test_pages import REALISTIC
from tests.utils.events import EventFeed
from tests.utils.web import CHROMIUM, HubServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]

UI_TIMEOUT_MS = 10_000
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SITE: dict[str, Any] = {
    **REALISTIC,
    "devices": [*REALISTIC["devices"], {"id": "counter-2", "role": "counter", "counter": "2"}],
}


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    """A provincial centre (the screenshots show it)."""
    return site_factory(SITE)


def _context(browser: Browser, srv: HubServer, **kw: Any) -> BrowserContext:
    ctx = browser.new_context(base_url=srv.url, locale="vi-VN", **kw)
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    return ctx


def _out(tmp_path: Path) -> Path:
    return DOCS_IMG if os.environ.get("ONESTOP_SCREENSHOTS") == "1" else tmp_path


def test_the_status_page_follows_the_ticket_live(
    controller: Controller, device: DeviceFactory, browser: Browser, hub_server: HubServer, tmp_path: Path
) -> None:
    kiosk, counter = device("kiosk-1"), device("counter-1")
    counter.request("open", {"officer": "cb001"})
    kiosk.request("issue", {"service": "tuphap"})
    mine = kiosk.request("issue", {"service": "tuphap"})["ticket"]
    for service in ("tuphap", "tuphap", "datdai"):
        kiosk.request("issue", {"service": service})
    assert hub_server.hub is not None and hub_server.hub.ingest is not None
    assert hub_server.hub.ingest.wait_for_seq(6, 10)

    ctx = _context(
        browser,
        hub_server,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = ctx.new_page()
        page.goto(f"/t/{mine['token']}")
        expect(page.locator("#number")).to_have_text("A002")
        expect(page.locator("#service")).to_have_text("Tư pháp - Hộ tịch")
        expect(page.locator("#status")).to_have_text("Đang chờ Waiting")
        expect(page.locator("#headline")).to_have_text("Trước bạn còn 1 người")
        expect(page.locator("#centre")).to_have_text("Trung tâm Phục vụ hành chính công tỉnh Tuyên Quang")
        expect(page.locator("#detail")).to_have_text(
            re.compile(r"^Thời gian chờ dự kiến: khoảng\s\d+\sphút$")
        )
        page.screenshot(path=str(_out(tmp_path) / "ticket-status.png"))
        counter.request("call_next")  # A001: nobody is ahead of A002 now
        expect(page.locator("#headline")).to_have_text("Trước bạn còn 0 người")
        expect(page.locator("#detail")).to_have_text("Sắp đến lượt bạn, xin chú ý bảng gọi số.")
        counter.request("call_next")  # A002 is called
        expect(page.locator("#headline")).to_have_text("Mời đến Quầy 1")
        expect(page.locator("#headline-en")).to_have_text("Please go to Counter 1")
        expect(page.locator("#card")).to_have_attribute("data-status", "called")
        expect(page.locator("#paper-hint")).to_be_visible()  # still needed at the counter

        counter.request("finish")
        expect(page.locator("#headline")).to_have_text("Đã phục vụ xong")
        expect(page.locator("#paper-hint")).to_be_hidden()  # served: no "keep your paper ticket"
        # a time the page cannot read shows dashes (a health "ts" of "x" once showed "NaN:NaN")
        assert page.evaluate("new Onestop.Clock().timeText(new Date('x'), false)") == "--:--"
        assert page.evaluate("new Onestop.Clock().timeText(new Date('x'))") == "--:--:--"

        missing = page.goto("/t/20200101-Z999")
        assert missing is not None and missing.status == 404
        guessed = page.goto(f"/t/{mine['id']}")  # the sequential id opens nothing
        assert guessed is not None and guessed.status == 404
        expect(page.locator("h1")).to_have_text("Không tìm thấy phiếu")
    finally:
        ctx.close()


def _history(feed: EventFeed, day: str) -> None:
    """A realistic day so far: arrivals from 07:00, waits around the target, ratings per officer."""
    y, mo, d = day[:4], day[4:6], day[6:]
    per_hour = {7: 9, 8: 21, 9: 26, 10: 19, 11: 12, 13: 15, 14: 22, 15: 17, 16: 8}
    waits = [3, 6, 9, 11, 4, 13, 8, 17, 12, 7, 14, 22, 5, 10, 16, 2, 12, 9, 28, 11, 6, 15, 41, 8]
    plan = [
        ("tuphap", "A", "1", "cb001"),
        ("datdai", "B", "5", "cb002"),
        ("dkkd", "C", "3", "cb003"),
        ("laodong", "D", "4", "cb004"),
        ("tuphap", "A", "6", "cb001"),
    ]
    n = 0
    served: list[dict[str, Any]] = []
    for hour, count in per_hour.items():
        for i in range(count):
            svc, prefix, counter, officer = plan[n % len(plan)]
            n += 1
            t = feed.ticket(
                f"{prefix}{100 + n:03d}",
                svc,
                f"{y}-{mo}-{d}T{hour:02d}:{(i * 59 // count):02d}:00+07:00",
                wait_min=waits[n % len(waits)],
                service_min=6 + n % 7,
                end="skipped" if n % 23 == 0 else "done",
                counter=counter,
                officer=officer,
            )
            served.append(t)
    scores = {
        "cb001": [3, 3, 2, 3, 3, 3, 2, 3, 3, 3, 3, 3, 2, 3, 3, 3, 3, 3, 3, 3],
        "cb002": [3, 2, 3, 1, 3, 3, 2, 3, 3, 1, 3, 3],
        "cb003": [3, 3, 3, 3, 2, 3, 3, 3, 3, 3],
        "cb004": [2, 3, 3, 1, 3, 2, 3, 3, 3, 3, 3],
    }
    levels = ["Không hài lòng", "Hài lòng", "Rất hài lòng"]
    for officer, marks in scores.items():
        mine = [t for t in served if t["officer"] == officer and t["status"] == "done"]
        for t, s in zip(mine, marks, strict=False):
            feed.rating(t, s, levels[s - 1], s >= 2, t["finished_at"])


_TEXTS_JS = """([chart, cls]) => {
  const svg = document.querySelector("#" + chart + " svg"), box = svg.getBoundingClientRect();
  return Array.from(svg.querySelectorAll("text." + cls)).map((t) => {
    const r = t.getBoundingClientRect(), title = t.querySelector("title");
    return {text: t.firstChild.nodeValue, title: title ? title.textContent : null,
            left: r.left - box.left, right: box.right - r.right, top: r.top - box.top,
            bottom: box.bottom - r.bottom};
  });
}"""


_REDRAWN_JS = """() => ["chart-services", "chart-officers"].every((id) => {
  const box = document.getElementById(id);
  return box.querySelector("svg").viewBox.baseVal.width === Math.round(box.clientWidth);
})"""


def _chart_texts(page: Page, chart: str, cls: str) -> list[dict[str, Any]]:
    """The texts of a class in a chart's SVG, with their distance inside each edge of the SVG's box."""
    texts: list[dict[str, Any]] = page.evaluate(_TEXTS_JS, [chart, cls])
    return texts


def _outside(page: Page, chart: str) -> list[str]:
    """The names and values of an hbars chart that are (even partly) outside its SVG: cut off on screen."""
    texts = _chart_texts(page, chart, "name") + _chart_texts(page, chart, "val-strong")
    assert texts, f"no text in #{chart}"
    edges = ("left", "right", "top", "bottom")
    return [t["text"] for t in texts if min(t[e] for e in edges) < -0.5]


def test_the_dashboard_draws_its_charts(
    controller: Controller,
    device: DeviceFactory,
    browser: Browser,
    hub_server: HubServer,
    site_cfg: SiteConfig,
    tmp_path: Path,
) -> None:
    hub = hub_server.hub
    assert hub is not None and hub.ingest is not None
    kiosk = device("kiosk-1")
    counters = {i: device(f"counter-{i}") for i in range(1, 7)}
    for i, officer in ((1, "cb001"), (3, "cb003"), (4, "cb004"), (5, "cb002")):
        counters[i].request("open", {"officer": officer})
    plan = ["tuphap"] * 6 + ["datdai"] * 9 + ["dkkd"] * 3 + ["laodong"] * 4 + ["xaydung"] * 2
    for service in plan:
        kiosk.request("issue", {"service": service})
    kiosk.mqtt.publish(
        Topics(site_cfg.site.id).dev_health("kiosk-1"),
        {"printer": "paper_low", "detail": "", "ts": datetime.now(UTC).isoformat()},
        retain=True,
    )
    kiosk.request("issue", {"service": "tuphap"})  # after the health message, on the same connection
    assert hub.ingest.wait_for_seq(len(plan) + 5, 10)
    # Today's history, added behind the live tickets (the controller does nothing more afterwards).
    _history(EventFeed(hub.store), f"{business_day(datetime.now(UTC), site_cfg):%Y%m%d}")

    # A release the devices have not taken yet (the hub only reads what `release publish` placed).
    published = releases_dir(site_cfg.data_dir) / "9.9.9"
    published.mkdir(parents=True)
    (published / "manifest.json").write_text("{}", "utf-8")
    (published / "manifest.sig").write_text("c2ln", "utf-8")
    (published.parent / "latest").write_text("9.9.9\n", "utf-8")

    manager = TokenStore.for_site(site_cfg).add("truong-phong", "manager")
    ctx = _context(browser, hub_server, viewport={"width": 1440, "height": 1200})
    try:
        page = ctx.new_page()
        page.goto("/dashboard")
        expect(page.locator("#signin")).to_be_visible()
        page.locator("#token").fill("not-a-token-at-all")
        page.locator("#signin-form button").click()
        expect(page.locator("#signin-error")).to_contain_text("Mã truy cập không đúng")
        page.locator("#token").fill(manager)
        page.locator("#signin-form button").click()
        expect(page.locator("#signin")).to_be_hidden()
        expect(page.locator("#centre")).to_have_text("Trung tâm Phục vụ hành chính công tỉnh Tuyên Quang")
        expect(page.locator("#chart-arrivals svg rect.bar")).to_have_count(13)
        expect(page.locator("#chart-waits svg rect.bar")).to_have_count(8)
        expect(page.locator("#chart-waits svg line.target")).to_have_count(1)
        expect(page.locator("#chart-officers svg rect.bar")).to_have_count(4)
        expect(page.locator("#chart-officers svg .target-label")).to_have_text("95 %")
        expect(page.locator("#chart-services svg rect.bar")).to_have_count(5)
        # Every name is drawn whole inside its chart; "Xây dựng, Giao thông vận tải và Quy hoạch kiến
        # trúc" used to be cut off at the chart's left edge.
        names = [s.name for s in site_cfg.services]
        assert max(names, key=len) == "Xây dựng, Giao thông vận tải và Quy hoạch kiến trúc"
        assert [t["text"] for t in _chart_texts(page, "chart-services", "name")] == names
        assert _outside(page, "chart-services") == [] and _outside(page, "chart-officers") == []
        expect(page.locator("#alerts li.warning").filter(has_text="Máy in sắp hết giấy")).to_have_count(1)
        # Every device with its version; one not on the published release is marked, and alerted.
        expect(page.locator("#devices tbody tr")).to_have_count(len(site_cfg.devices))
        kiosk_row = page.locator('#devices tbody tr[data-device="kiosk-1"]')
        expect(kiosk_row.locator("td.version")).to_have_text(__version__)
        expect(kiosk_row.locator("td.version")).to_have_class(re.compile(r"\boutdated\b"))
        expect(page.locator("#release")).to_contain_text("9.9.9")
        n = len(site_cfg.devices)  # all behind a fresh release: one alert that counts them
        expect(
            page.locator("#alerts li.warning").filter(has_text=f"{n} thiết bị chưa lên bản 9.9.9")
        ).to_have_count(1)
        expect(page.locator("#kpis .kpi").first.locator(".kpi-value")).to_have_text(str(len(plan) + 1 + 149))
        expect(page.locator("#l-officers-html")).to_have_attribute("href", re.compile(r"format=html"))
        page.screenshot(path=str(_out(tmp_path) / "dashboard.png"), full_page=True)
        for width in (1280, 1024):  # a laptop; one column below 1100 px
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_function(_REDRAWN_JS)  # the bar lists are drawn again at their new width
            assert _outside(page, "chart-services") == [] and _outside(page, "chart-officers") == [], width
            page.screenshot(path=str(tmp_path / f"dashboard-{width}.png"), full_page=True)  # to look at
        # Too narrow for the longest name beside its bar: every name goes above its bar, on two lines
        # if need be, and is still shown whole (it used to end with "…" here).
        for width in (600, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_function(_REDRAWN_JS)
            assert _outside(page, "chart-services") == [], width
            shown: dict[str, list[str]] = {}
            for t in _chart_texts(page, "chart-services", "name"):
                shown.setdefault(t["title"], []).append(t["text"])
            assert list(shown) == names, width  # each tooltip is the full name
            assert {k: " ".join(v) for k, v in shown.items()} == {n: n for n in names}, width
        assert len(shown[names[-1]]) == 2  # at 390 px the longest name takes two lines

        report = ctx.new_page()  # the printable officer report opens with the same session
        report.goto(page.locator("#l-officers-html").get_attribute("href") or "")
        expect(report.locator("h1")).to_contain_text("BÁO CÁO KẾT QUẢ ĐÁNH GIÁ")
        expect(report.locator("tbody tr")).to_have_count(5)
        page.locator("#signout").click()
        expect(page.locator("#signin")).to_be_visible()
    finally:
        ctx.close()
