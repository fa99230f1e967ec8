"""The hub's web pages in a real Chromium: the hall's TV board and the clerks' soft caller.

Everything is real: the test broker, the in-process controller, the hub served by uvicorn on a
loopback port, and headless Chromium driven by Playwright. Every wait is on something the page or the
hub shows, with a timeout; nothing sleeps.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from onestop.config import SiteConfig
from onestop.credentials import pin_path, read_pin
from onestop.device import CommandFailed
from queue_controller.engine import Engine
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.site import SITE
from tests.utils.web import CHROMIUM, CHROMIUM_ARGS, HubServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]

#: How long a page may take to show what the hub knows (it usually takes a few milliseconds).
UI_TIMEOUT_MS = 10_000
expect.set_options(timeout=UI_TIMEOUT_MS)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

NOTICE = "Công dân vui lòng chuẩn bị sẵn căn cước công dân khi đến quầy. Please have your ID card ready."

#: The small test site plus web keypads for counters 1 and 2 (counter 3 has a hardware keypad only).
SMALL: dict[str, Any] = {
    "devices": [
        *SITE["devices"],
        {"id": "caller-1", "role": "counter", "counter": "1", "keys": {"backend": "web"}},
        {"id": "caller-2", "role": "counter", "counter": "2", "keys": {"backend": "web"}},
    ],
    "board": {"notice": NOTICE, "calls_shown": 8},
}

#: A provincial centre, for the screenshots in docs/img.
REALISTIC: dict[str, Any] = {
    "site": {
        "id": "hg-tthc",
        "name": "Trung tâm Phục vụ hành chính công tỉnh Tuyên Quang",
        "agency": "Ủy ban nhân dân tỉnh Tuyên Quang",
        "address": "Số 415 đường Nguyễn Trãi, phường Hà Giang 1, tỉnh Tuyên Quang",
    },
    "services": [
        {
            "id": "tuphap",
            "name": "Tư pháp - Hộ tịch",
            "name_en": "Justice & civil status",
            "prefix": "A",
            "avg_service_min": 8,
        },
        {"id": "datdai", "name": "Đất đai", "name_en": "Land", "prefix": "B", "avg_service_min": 12},
        {
            "id": "dkkd",
            "name": "Đăng ký kinh doanh",
            "name_en": "Business registration",
            "prefix": "C",
            "avg_service_min": 10,
        },
        {
            "id": "laodong",
            "name": "Lao động - Thương binh và Xã hội",
            "name_en": "Labour & social affairs",
            "prefix": "D",
            "avg_service_min": 7,
        },
        {
            "id": "xaydung",
            "name": "Xây dựng, Giao thông vận tải và Quy hoạch kiến trúc",
            "name_en": "Construction & transport",
            "prefix": "E",
            "avg_service_min": 15,
        },
    ],
    "counters": [
        {"id": "1", "label": "Quầy 1", "services": ["tuphap"]},
        {"id": "2", "label": "Quầy 2", "services": ["datdai", "tuphap"], "policy": "ordered"},
        {"id": "3", "label": "Quầy 3", "services": ["dkkd"]},
        {"id": "4", "label": "Quầy 4", "services": ["laodong"]},
        {"id": "5", "label": "Quầy 5", "services": ["xaydung", "datdai"]},
        {"id": "6", "label": "Quầy 6", "services": ["tuphap", "laodong"]},
    ],
    "officers": [
        {"id": "cb001", "name": "Nguyễn Thị Lan", "title": "Chuyên viên"},
        {"id": "cb002", "name": "Trần Văn Hùng", "title": "Chuyên viên"},
        {"id": "cb003", "name": "Lê Thị Thu Hà", "title": "Chuyên viên chính"},
        {"id": "cb004", "name": "Hoàng Đức Mạnh", "title": "Chuyên viên"},
    ],
    "devices": [
        {"id": "kiosk-1", "role": "kiosk"},
        *({"id": f"counter-{i}", "role": "counter", "counter": str(i)} for i in (1, 3, 4, 5, 6)),
        {"id": "caller-2", "role": "counter", "counter": "2", "keys": {"backend": "web"}},
    ],
    "board": {"notice": NOTICE, "calls_shown": 8},
}


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def site_cfg(site_factory: SiteFactory, request: pytest.FixtureRequest) -> SiteConfig:
    """The small site with web keypads; ``@pytest.mark.parametrize("site_cfg", ["realistic"],
    indirect=True)`` gives the provincial centre instead."""
    which = getattr(request, "param", "small")
    return site_factory(REALISTIC if which == "realistic" else SMALL)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, once per module."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium (Debian's), once per module."""
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()


def _new_context(browser: Browser, hub_server: HubServer) -> BrowserContext:
    ctx = browser.new_context(
        base_url=hub_server.url, viewport={"width": 1920, "height": 1080}, locale="vi-VN"
    )
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    # Whatever the hub's Content-Security-Policy blocks on a page shows up here: every test then fails.
    violations: list[str] = []
    ctx.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    ctx.csp_violations = violations  # type: ignore[attr-defined]
    return ctx


def _close(ctx: BrowserContext) -> None:
    violations = ctx.csp_violations  # type: ignore[attr-defined]
    ctx.close()
    assert not violations, f"blocked by the hub's CSP: {violations}"


@pytest.fixture
def context(browser: Browser, hub_server: HubServer) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) pointed at the hub, closed after the test."""
    ctx = _new_context(browser, hub_server)
    try:
        yield ctx
    finally:
        _close(ctx)


@pytest.fixture
def hall(browser: Browser, hub_server: HubServer) -> Iterator[BrowserContext]:
    """Another browser (the hall's TV), so that a clerk's page is never a background tab (Chromium
    throttles those, which slows every click)."""
    ctx = _new_context(browser, hub_server)
    try:
        yield ctx
    finally:
        _close(ctx)


def _board(context: BrowserContext, site: SiteConfig) -> Page:
    page = context.new_page()
    page.goto("/board")
    expect(page.locator("#centre")).to_have_text(site.site.name)
    return page


def _newest(page: Page) -> Any:
    return page.locator("#calls li").first


# -- the TV board ---------------------------------------------------------------------------------
def test_the_board_shows_each_call_newest_first_and_highlighted(
    controller: Controller, device: DeviceFactory, context: BrowserContext, site_cfg: SiteConfig
) -> None:
    page = _board(context, site_cfg)
    expect(page.locator("#agency")).to_have_text(site_cfg.site.agency)
    expect(page.locator("#time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    expect(page.locator("#date")).to_have_text(
        re.compile(r"^(Thứ (Hai|Ba|Tư|Năm|Sáu|Bảy)|Chủ Nhật), \d\d/\d\d/\d{4}$")
    )
    expect(page.locator("#notice-text")).to_have_text(NOTICE)
    expect(page.locator("#calls li")).to_have_count(8)  # every slot is there from the start: no jumps
    expect(page.locator("#ctl-banner")).to_be_hidden()
    expect(page.locator("#conn")).to_be_hidden()

    kiosk, counter1, counter3 = device("kiosk-1"), device("counter-1"), device("counter-3")
    counter1.request("open", {"officer": "cb001"})
    counter3.request("open", {"officer": "cb003"})
    for service in ("tuphap", "tuphap", "tuphap", "dkkd"):
        kiosk.request("issue", {"service": service})
    expect(page.locator('#services li[data-service="tuphap"] .wait')).to_have_text(
        re.compile(r"^Đang chờ: 3 — khoảng \d+ phút$")
    )
    counter1.request("call_next")
    expect(_newest(page).locator(".num")).to_have_text("A001")
    expect(_newest(page).locator(".ctr")).to_have_text("Quầy 1")
    counter3.request("call_next")
    expect(_newest(page).locator(".num")).to_have_text("C001")
    expect(_newest(page).locator(".ctr")).to_have_text("Quầy 3")
    expect(_newest(page)).to_have_class(re.compile(r"\bnewest\b.*\bblink\b"))
    expect(page.locator("#calls li").nth(1).locator(".num")).to_have_text("A001")
    expect(page.locator("#calls li").nth(1)).not_to_have_class(re.compile(r"\bnewest\b"))
    expect(page.locator('#services li[data-service="tuphap"] .wait')).to_have_text(
        re.compile(r"^Đang chờ: 2 — khoảng \d+ phút$")
    )
    expect(page.locator('#services li[data-service="dkkd"] .wait')).to_have_text("Không có người chờ")
    expect(page.locator('#services li[data-service="dkkd"] .wait-en')).to_have_text("No one waiting")
    counter1.request("call_next")  # A002; then a recall of C001 moves it back to the top
    expect(_newest(page).locator(".num")).to_have_text("A002")
    counter3.request("recall")
    expect(_newest(page).locator(".num")).to_have_text("C001")
    expect(page.locator("#calls li .num")).to_have_text(["C001", "A002", "A001"])


def test_the_board_reconnects_by_itself_after_a_hub_restart(
    controller: Controller, device: DeviceFactory, context: BrowserContext, site_cfg: SiteConfig,
    hub_server: HubServer,
) -> None:  # fmt: skip
    page = _board(context, site_cfg)
    kiosk, counter1 = device("kiosk-1"), device("counter-1")
    counter1.request("open")
    kiosk.request("issue", {"service": "tuphap"})
    kiosk.request("issue", {"service": "tuphap"})
    counter1.request("call_next")
    expect(_newest(page).locator(".num")).to_have_text("A001")

    hub_server.stop()
    expect(page.locator("#conn")).to_be_visible()
    expect(page.locator("#conn")).to_contain_text("Mất kết nối")
    expect(_newest(page).locator(".num")).to_have_text("A001")  # the last known calls stay up

    hub_server.start()
    counter1.request("call_next")
    expect(_newest(page).locator(".num")).to_have_text("A002")
    expect(page.locator("#conn")).to_be_hidden()


def test_the_board_says_when_the_controller_is_offline(
    controller: Controller, context: BrowserContext, site_cfg: SiteConfig
) -> None:
    page = _board(context, site_cfg)
    expect(page.locator("#ctl-banner")).to_be_hidden()
    controller.stop()
    expect(page.locator("#ctl-banner")).to_be_visible()
    expect(page.locator("#ctl-banner")).to_contain_text("Hệ thống gọi số tạm gián đoạn")


# -- the soft caller ---------------------------------------------------------------------------------
def _sign_in(page: Page, pin: str) -> None:
    page.locator("#pin").fill(pin)
    page.locator("#signin-go").click()


def test_the_soft_caller_signs_in_with_the_pin_and_calls_citizens(
    controller: Controller, device: DeviceFactory, context: BrowserContext, hall: BrowserContext,
    site_cfg: SiteConfig, hub_server: HubServer,
) -> None:  # fmt: skip
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    no_keypad = page.goto("/caller/3")
    assert no_keypad is not None and no_keypad.status == 404
    expect(page.locator("h1")).to_contain_text("Quầy 3: không có trang gọi số")

    page.goto("/caller/2")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-label")).to_have_text("Quầy 2")
    _sign_in(page, "000000" if read_pin(site_cfg, "caller-2") != "000000" else "111111")
    expect(page.locator("#signin-error")).to_contain_text("Mã PIN không đúng (còn 4 lần thử)")
    expect(page.locator("#signin")).to_be_visible()
    _sign_in(page, read_pin(site_cfg, "caller-2"))
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Đóng · Closed")
    expect(page.locator("#k-next")).to_be_disabled()

    page.get_by_role("button", name="Mở quầy").click()
    page.locator("#dialog").get_by_role("button", name="Trần Văn Hùng").click()
    expect(page.locator("#status")).to_have_text("Đang mở · Open")
    expect(page.locator("#officer")).to_contain_text("Trần Văn Hùng")

    kiosk = device("kiosk-1")
    for service in ("datdai", "datdai", "datdai", "tuphap"):
        kiosk.request("issue", {"service": service})
    expect(page.locator("#waiting")).to_have_text("4")
    expect(page.locator("#next li")).to_have_text(["B001", "B002", "B003", "A001"])  # "ordered" counter

    board = _board(hall, site_cfg)
    page.locator("#k-next").dblclick()  # one press too many: must call one citizen only
    expect(page.locator("#ticket")).to_have_text("B001")
    expect(page.locator("#message")).to_contain_text("Đã gọi số B001")
    expect(_newest(board).locator(".num")).to_have_text("B001")
    expect(_newest(board).locator(".ctr")).to_have_text("Quầy 2")
    page.locator("#k-next").click()
    expect(page.locator("#ticket")).to_have_text("B002")  # B003 if the double click had called twice
    expect(page.locator("#next li")).to_have_text(["B003", "A001"])
    hub = hub_server.hub
    assert hub is not None and hub.ingest is not None
    called = hub.store.query("SELECT number FROM tickets WHERE status != 'waiting' ORDER BY number")
    assert [r["number"] for r in called] == ["B001", "B002"]

    page.get_by_role("button", name="Gọi số…").click()
    page.locator("#call-number").fill("z999")
    page.locator("#call-number").press("Enter")
    expect(page.locator("#message")).to_contain_text("Không tìm thấy số này trong hàng chờ của quầy")
    expect(page.locator("#ticket")).to_have_text("B002")

    page.locator("#k-skip").click()
    expect(page.locator("#message")).to_contain_text("Đã bỏ qua số B002")
    expect(page.locator("#ticket")).to_have_text("—")
    expect(page.locator("#k-finish")).to_be_disabled()
    page.get_by_role("button", name="Gọi số…").click()
    page.locator("#dialog").get_by_role("button", name="B002").click()  # skipped today: a quick pick
    expect(page.locator("#ticket")).to_have_text("B002")
    page.locator("#k-pause").click()
    expect(page.locator("#status")).to_have_text("Tạm dừng · Paused")
    expect(page.locator("#k-pause")).to_contain_text("Tiếp tục")
    expect(page.locator("#k-next")).to_be_disabled()
    page.locator("#k-finish").click()
    expect(page.locator("#message")).to_contain_text("Đã xong số B002")
    page.locator("#k-pause").click()
    expect(page.locator("#status")).to_have_text("Đang mở · Open")

    page.locator("#signout").click()
    expect(page.locator("#signin")).to_be_visible()


def _engine(controller: Controller) -> Engine:
    assert controller.engine is not None
    return controller.engine


def _inside(page: Page, inner: str, outer: str) -> None:
    """``inner`` is drawn whole inside ``outer`` (nothing clipped at this viewport)."""
    # Both boxes read in one go: two separate reads can straddle a scroll or a re-render.
    a, b = page.evaluate(
        """([inner, outer]) => [inner, outer].map(sel => {
            const r = document.querySelector(sel).getBoundingClientRect();
            return {x: r.x, y: r.y, width: r.width, height: r.height};
        })""",
        [inner, outer],
    )
    left, top = a["x"] - b["x"], a["y"] - b["y"]
    right = b["x"] + b["width"] - a["x"] - a["width"]
    bottom = b["y"] + b["height"] - a["y"] - a["height"]
    assert min(left, top, right, bottom) >= -0.5, f"{inner} {a} sticks out of {outer} {b}"


def test_the_soft_caller_keeps_the_clerk_from_surprises(
    controller: Controller,
    device: DeviceFactory,
    context: BrowserContext,
    site_cfg: SiteConfig,
    tmp_path: Path,
) -> None:
    """One officer, one counter; "Gọi tiếp" says it finishes the ticket served; transfer asks first."""
    device("counter-1").request("open", {"officer": "cb001"})
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/caller/2")
    _sign_in(page, read_pin(site_cfg, "caller-2"))
    expect(page.locator("#signin")).to_be_hidden()

    # The officer chooser shows who works where; picking an officer open elsewhere asks to move.
    page.get_by_role("button", name="Mở quầy").click()
    lan = page.locator("#dialog").get_by_role("button", name="Nguyễn Thị Lan")
    expect(lan).to_contain_text("Đang ở Quầy 1")
    lan.click()
    expect(page.locator("#dialog-title")).to_contain_text("Chuyển cán bộ sang quầy này?")
    expect(page.locator("#dialog-body")).to_contain_text("Quầy 1 sẽ đóng")
    page.locator("#dialog-cancel").click()  # changed their mind: nothing happens
    expect(page.locator("#status")).to_have_text("Đóng · Closed")
    assert controller.engine.counter_state("1")["status"] == "open"
    # The engine refuses the same officer at two counters whatever the page does.
    page.get_by_role("button", name="Mở quầy").click()
    page.locator("#dialog").get_by_role("button", name="Nguyễn Thị Lan").click()
    page.locator("#dialog").get_by_role("button", name="Chuyển sang Quầy 2").click()
    expect(page.locator("#officer")).to_contain_text("Nguyễn Thị Lan")
    expect(page.locator("#status")).to_have_text("Đang mở · Open")
    assert controller.engine.counter_state("1")["status"] == "closed"
    with pytest.raises(CommandFailed) as refused:
        device("counter-1").request("open", {"officer": "cb001"})
    assert refused.value.code == "officer_elsewhere" and "Quầy 2" in refused.value.message

    # "Gọi tiếp" while serving says, before and after, that it finishes the current ticket.
    kiosk = device("kiosk-1")
    for _ in range(3):
        kiosk.request("issue", {"service": "datdai"})
    expect(page.locator("#k-next")).not_to_contain_text("Kết thúc")
    page.locator("#k-next").click()
    expect(page.locator("#ticket")).to_have_text("B001")
    expect(page.locator("#message")).to_have_text(re.compile(r"^Đã gọi số B001"))
    expect(page.locator("#k-next")).to_contain_text("Kết thúc số B001 rồi gọi số mới")
    for size in (
        {"width": 1280, "height": 800},
        {"width": 390, "height": 844},
        {"width": 1024, "height": 600},
    ):
        page.set_viewport_size(size)
        _inside(page, "#k-next .sub", "#k-next")
        whole = "e => e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().right <= innerWidth"
        assert page.locator("#ticket").evaluate(whole), f"the number is cut at {size}"
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#k-next").click()
    expect(page.locator("#message")).to_contain_text("Đã xong số B001 · Đã gọi số B002")

    # Transfer asks for confirmation, and says where the ticket goes.
    page.get_by_role("button", name="Chuyển…").click()
    page.locator("#dialog").get_by_role("button", name="Đăng ký kinh doanh").click()
    expect(page.locator("#dialog-title")).to_contain_text("Chuyển số B002?")
    expect(page.locator("#dialog-body")).to_contain_text("Số B002 sẽ chờ lại ở lĩnh vực Đăng ký kinh doanh")
    page.locator("#dialog-cancel").click()
    expect(page.locator("#ticket")).to_have_text("B002")  # not transferred
    page.get_by_role("button", name="Chuyển…").click()
    page.locator("#dialog").get_by_role("button", name="Đăng ký kinh doanh").click()
    page.locator("#dialog").get_by_role("button", name="Chuyển số B002").click()
    expect(page.locator("#message")).to_contain_text("Đã chuyển số B002 sang Đăng ký kinh doanh")
    expect(page.locator("#ticket")).to_have_text("—")
    out = DOCS_IMG if os.environ.get("ONESTOP_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(out / "caller-transferred.png"))


def test_the_caller_api_wants_the_counters_own_cookie(
    controller: Controller, device: DeviceFactory, hub_server: HubServer, site_cfg: SiteConfig
) -> None:
    pin2, pin1 = read_pin(site_cfg, "caller-2"), read_pin(site_cfg, "caller-1")
    assert (
        re.fullmatch(r"\d{6}", pin2) and stat.S_IMODE(pin_path(site_cfg, "caller-2").stat().st_mode) == 0o600
    )
    wrong = "000000" if pin2 != "000000" else "111111"
    with httpx.Client(base_url=hub_server.url, timeout=20) as web:
        r = web.post("/api/caller/2/call_next", json={})
        assert (r.status_code, r.json()["error"]["code"]) == (401, "signed_out")
        assert web.get("/api/caller/3/session").status_code == 404

        r = web.post("/api/caller/2/session", json={"pin": pin2})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert web.get("/api/caller/2/session").json()["label"] == "Quầy 2"
        r = web.post("/api/caller/1/open", json={})  # counter 2's cookie, counter 1's keypad
        assert (r.status_code, r.json()["error"]["code"]) == (401, "signed_out")
        token = web.cookies["onestop_caller"]
        forged = "1" + token[token.index(".") :]
        r = httpx.post(
            f"{hub_server.url}/api/caller/1/open", json={}, headers={"Cookie": f"onestop_caller={forged}"}
        )
        assert r.status_code == 401

        r = web.post("/api/caller/2/call_next", json={})
        assert (r.status_code, r.json()["error"]["code"]) == (409, "counter_closed")
        assert web.post("/api/caller/2/open", json={"args": {"officer": "cb002"}}).json()["ok"]
        assert web.post("/api/caller/2/rate", json={}).status_code == 404  # not a counter op
        device("kiosk-1").request("issue", {"service": "datdai"})
        device("kiosk-1").request("issue", {"service": "datdai"})
        first = web.post("/api/caller/2/call_next", json={"id": "press-0001"}).json()
        again = web.post("/api/caller/2/call_next", json={"id": "press-0001"}).json()  # a retry
        assert first["result"]["ticket"]["number"] == again["result"]["ticket"]["number"] == "B001"
        assert web.get("/api/counters/2/queue").json()["waiting"] == 1  # B002 still waits
        r = web.post("/api/caller/2/transfer", json={"args": {"service": "nope"}})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "unknown_service")

        for n in range(4):
            r = web.post("/api/caller/2/session", json={"pin": wrong})
            assert (r.status_code, r.json()["error"]["tries_left"]) == (401, 4 - n)
        r = web.post("/api/caller/2/session", json={"pin": wrong})
        assert (r.status_code, r.json()["error"]["code"]) == (429, "locked")
        assert int(r.headers["retry-after"]) > 0
        r = web.post("/api/caller/2/session", json={"pin": pin2})
        assert r.status_code == 429, "the right PIN must wait for the lock too"
        assert web.post("/api/caller/1/session", json={"pin": pin1}).status_code == 200  # other counters


# -- screenshots for the docs -------------------------------------------------------------------------
@pytest.mark.parametrize("site_cfg", ["realistic"], indirect=True)
def test_screenshots_with_realistic_data(
    controller: Controller, device: DeviceFactory, context: BrowserContext, hall: BrowserContext,
    site_cfg: SiteConfig, tmp_path: Path,
) -> None:  # fmt: skip
    """Writes docs/img/board.png and docs/img/caller.png when ONESTOP_SCREENSHOTS=1, else to tmp_path."""
    out = DOCS_IMG if os.environ.get("ONESTOP_SCREENSHOTS") == "1" else tmp_path
    kiosk = device("kiosk-1")
    counters = {i: device(f"counter-{i}") for i in (1, 3, 4, 5, 6)}
    officers = {1: "cb001", 3: "cb003", 4: "cb004"}  # one officer, one counter (cb002: caller 2)
    for i, c in counters.items():
        c.request("open", {"officer": officers[i]} if i in officers else {})
    plan = ["tuphap"] * 14 + ["datdai"] * 9 + ["dkkd"] * 5 + ["laodong"] * 8 + ["xaydung"] * 4
    for n, service in enumerate(plan):
        kiosk.request("issue", {"service": service, "priority": n in (16, 30)})
    for i in (1, 3, 4, 6, 5, 1, 4, 3):
        counters[i].request("call_next")

    caller = context.new_page()
    caller.set_viewport_size({"width": 1280, "height": 800})
    caller.goto("/caller/2")
    _sign_in(caller, read_pin(site_cfg, "caller-2"))
    expect(caller.locator("#signin")).to_be_hidden()
    caller.get_by_role("button", name="Mở quầy").click()
    caller.locator("#dialog").get_by_role("button", name="Trần Văn Hùng").click()
    expect(caller.locator("#status")).to_have_text("Đang mở · Open")
    caller.locator("#k-next").click()
    expect(caller.locator("#ticket")).to_have_text("B001")  # B003 (priority) went to counter 5
    board = _board(hall, site_cfg)
    expect(_newest(board).locator(".num")).to_have_text("B001")
    expect(board.locator("#calls li.empty")).to_have_count(0)
    expect(caller.locator("#next li").first).to_have_text("B002")
    board.screenshot(path=str(out / "board.png"))
    caller.screenshot(path=str(out / "caller.png"))
    assert (out / "board.png").stat().st_size > 10_000 and (out / "caller.png").stat().st_size > 10_000


# -- the API documentation --------------------------------------------------------------------------
def test_the_api_docs_render_offline_from_the_hub_alone(
    context: BrowserContext, hub_server: HubServer
) -> None:
    """/docs and /redoc render with every request to the hub itself (any other host is refused here,
    as on a LAN without Internet), under the hub's CSP (the context fixture fails on a violation)."""
    elsewhere: list[str] = []

    def only_the_hub(route: Any) -> None:
        if route.request.url.startswith(hub_server.url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_hub)
    page = context.new_page()
    page.goto("/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.locator(".swagger-ui .title").first).to_contain_text("onestop hub")
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("onestop hub")
    expect(page.get_by_text("/api/tickets").first).to_be_attached()
    assert not elsewhere, elsewhere
    # ReDoc's "API docs by Redocly" footer points at a logo on Redocly's CDN: the CSP keeps it out,
    # which is the point (the page does not need it); anything else blocked still fails the test.
    violations = context.csp_violations  # type: ignore[attr-defined]
    violations[:] = [v for v in violations if "cdn.redoc.ly/redoc/logo-mini.svg" not in v]
