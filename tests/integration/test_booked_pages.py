"""Booked citizens and result pickups on the hub's pages, in a real Chromium: the TV board marks a
booked citizen's call ("Đặt lịch / Booked", whole, inside the screen, over nothing else), and the
soft caller tells the clerk the booked slot ("Đặt lịch 09:00–09:15") or the dossier to return
("Trả kết quả · hồ sơ …")."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from onestop.config import SiteConfig
from onestop.credentials import read_pin
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.integration.test_board_layout import CALLS, MIN_SHARE, _site, layout_problems
from tests.utils.web import CHROMIUM, HubServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}"),
]

UI_TIMEOUT_MS = 10_000
expect.set_options(timeout=UI_TIMEOUT_MS)
DOSSIER = "000.00.12.H23-241204-0003"
SIZES = [(1280, 720), (1920, 1080), (1080, 1920)]


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    data = _site(6)
    data["devices"] = [
        *(d for d in data["devices"] if d["id"] != "counter-2"),
        {"id": "caller-2", "role": "counter", "counter": "2", "keys": {"backend": "web"}},
    ]
    data["counters"][1]["services"] = ["tuphap", "datdai"]
    return site_factory({**data, "bookings": {"enabled": True}, "dossiers": {"service": "datdai"}})


def _slot(cfg: SiteConfig, code: str) -> dict[str, str]:
    start = datetime.now(ZoneInfo(cfg.site.timezone)).replace(second=0, microsecond=0)
    return {
        "code": code,
        "slot_start": start.isoformat(),
        "slot_end": (start + timedelta(minutes=15)).isoformat(),
    }


def _open(browser: Browser, hub_server: HubServer, size: tuple[int, int], path: str) -> Page:
    ctx = browser.new_context(
        base_url=hub_server.url, locale="vi-VN", viewport={"width": size[0], "height": size[1]}
    )
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    page = ctx.new_page()
    page.goto(path)
    return page


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_board_marks_booked_calls_whole_and_in_the_clear(
    size: tuple[int, int], controller: Controller, device: DeviceFactory, browser: Browser,
    hub_server: HubServer, site_cfg: SiteConfig, tmp_path: Path,
) -> None:  # fmt: skip
    kiosk = device("kiosk-1")
    kiosk.request("issue", {"service": "tuphap", "booking": _slot(site_cfg, "DL24120400001")})  # A001
    kiosk.request("issue", {"service": "tuphap"})  # A002
    kiosk.request("issue", {"service": "laodong", "booking": _slot(site_cfg, "DL24120400002")})  # D001
    for cid, officer in (("1", "cb001"), ("4", "cb004")):
        device(f"counter-{cid}").request("open", {"officer": officer})
    assert device("counter-1").request("call_next")["ticket"]["number"] == "A001"  # booked: first
    device("counter-4").request("call_next")  # D001, booked: the newest call
    page = _open(browser, hub_server, size, "/board")
    try:
        expect(page.locator("#calls li.newest .num")).to_have_text("D001")
        expect(page.locator("#calls li.newest .label .badge")).to_have_text("Đặt lịch Booked")
        older = page.locator("#calls li:not(.newest)").first
        expect(older.locator(".num")).to_have_text("A001")
        expect(older.locator(".badge")).to_have_text("Đặt lịch Booked")
        page.evaluate("document.fonts.ready")
        problems = layout_problems(page, [*CALLS, ("#calls li .badge", False)], MIN_SHARE)
        page.screenshot(path=str(tmp_path / f"board-booked-{size[0]}x{size[1]}.png"))
        assert problems == [], "\n".join(problems)
        # A walk-in's call has no mark.
        device("counter-1").request("call_next")  # A002
        expect(page.locator("#calls li.newest .num")).to_have_text("A002")
        expect(page.locator("#calls li.newest .badge")).to_have_count(0)
    finally:
        page.context.close()


def test_the_caller_shows_the_booked_slot_and_the_dossier(
    controller: Controller, device: DeviceFactory, browser: Browser, hub_server: HubServer,
    site_cfg: SiteConfig, tmp_path: Path,
) -> None:  # fmt: skip
    kiosk = device("kiosk-1")
    booking = _slot(site_cfg, "DL24120400003")
    kiosk.request("issue", {"service": "datdai", "dossier": DOSSIER})  # B001: a result pickup
    kiosk.request("issue", {"service": "tuphap", "booking": booking})  # A001: booked, called first
    tz = ZoneInfo(site_cfg.site.timezone)
    start, end = (datetime.fromisoformat(booking[k]).astimezone(tz) for k in ("slot_start", "slot_end"))
    page = _open(browser, hub_server, (1280, 800), "/caller/2")
    try:
        page.locator("#pin").fill(read_pin(site_cfg, "caller-2"))
        page.locator("#signin-go").click()
        expect(page.locator("#signin")).to_be_hidden()
        page.get_by_role("button", name="Mở quầy").click()
        page.locator("#dialog").get_by_role("button", name="Cán bộ 2 Chuyên viên", exact=True).click()
        expect(page.locator("#status")).to_have_text("Đang mở · Open")
        expect(page.locator("#ticket-note")).to_be_hidden()
        # Next: the booked citizen (due) before the pickup who came first, marked as booked.
        expect(page.locator("#next li")).to_have_text(["A001", "B001"])
        expect(page.locator("#next li").first).to_have_class("booked")
        page.locator("#k-next").click()
        expect(page.locator("#ticket")).to_have_text("A001")
        note = page.locator("#ticket-note")
        expect(note.locator(".booked")).to_have_text(f"Đặt lịch {start:%H:%M}–{end:%H:%M} Booked")
        expect(note.locator(".dossier")).to_have_count(0)
        page.locator("#k-next").click()
        expect(page.locator("#ticket")).to_have_text("B001")
        expect(note.locator(".dossier")).to_have_text(f"Trả kết quả · hồ sơ {DOSSIER} Result pickup")
        expect(note.locator(".booked")).to_have_count(0)
        for width in (1280, 800):  # whole at a desktop's width and a tablet's
            page.set_viewport_size({"width": width, "height": 800})
            cut = page.evaluate(
                """() => [...document.querySelectorAll('#ticket-note span')].filter(e => {
                     const r = e.getBoundingClientRect(), p = e.closest('.card').getBoundingClientRect();
                     return e.scrollWidth > e.clientWidth + 1 || r.left < p.left || r.right > p.right;
                   }).map(e => e.textContent)"""
            )
            assert cut == [], f"cut off at {width} px: {cut}"
        page.screenshot(path=str(tmp_path / "caller-pickup.png"))
        # The public state says a pickup is served, never which dossier (nor a booking's code) ...
        public = httpx.get(f"{hub_server.url}/api/state", timeout=10).json()
        serving = public["counters"]["2"]["serving"]
        assert serving["number"] == "B001" and serving["pickup"] is True and serving["dossier"] is None
        assert DOSSIER not in json.dumps(public) and "DL24120400003" not in json.dumps(public)
        assert httpx.get(f"{hub_server.url}/api/caller/2/serving", timeout=10).status_code == 401
        # ... the signed-in caller of the counter gets it, also after a reload (from its session).
        assert page.request.get("/api/caller/2/serving").json()["ticket"]["dossier"] == DOSSIER
        page.reload()
        expect(page.locator("#ticket")).to_have_text("B001")
        expect(note.locator(".dossier")).to_have_text(f"Trả kết quả · hồ sơ {DOSSIER} Result pickup")
        page.locator("#k-finish").click()
        expect(page.locator("#ticket-note")).to_be_hidden()
    finally:
        page.context.close()
