"""Every page the hub serves, audited by axe-core in a real Chromium, on a TV/desktop and on a phone.

A page fails on any serious or critical violation (colour contrast, names of buttons and fields,
languages...) and, for the hub's own pages, on the structure rules that let a screen reader find its way
(one level-one heading, every content in a landmark). Each page is audited in the states people see:
the board with calls, the caller signed out, signed in with a dialog open, the ticket status page while
waiting and once called, the dashboard's sign-in and its charts, the printable officer report, the API
docs. A real broker, controller and hub; every wait is on something the page shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from hub_api.tokens import TokenStore
from onestop.config import SiteConfig
from onestop.credentials import read_pin
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.integration.test_pages import REALISTIC
from tests.utils.axe import failures
from tests.utils.web import CHROMIUM, HubServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]

UI_TIMEOUT_MS = 10_000
expect.set_options(timeout=UI_TIMEOUT_MS)

#: A TV board or a desktop, and a phone (the ticket's QR code opens its status page on one).
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1920, "height": 1080}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    return site_factory(REALISTIC)


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_every_page_passes_axe(
    screen: str, controller: Controller, device: DeviceFactory, browser: Browser,
    hub_server: HubServer, site_cfg: SiteConfig,
) -> None:  # fmt: skip
    hub = hub_server.hub
    assert hub is not None and hub.ingest is not None
    kiosk = device("kiosk-1")
    counter = device("counter-1")
    counter.request("open", {"officer": "cb001"})
    tickets = [kiosk.request("issue", {"service": s})["ticket"] for s in ("tuphap", "tuphap", "datdai")]
    counter.request("call_next")
    assert hub.ingest.wait_for_seq(5, 10)
    manager = TokenStore.for_site(site_cfg).add("truong-phong", "manager")

    ctx: BrowserContext = browser.new_context(
        base_url=hub_server.url, locale="vi-VN", bypass_csp=True, **VIEWPORTS[screen]
    )
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    found: dict[str, list[str]] = {}

    def check(name: str, page: Page, *, own: bool = True) -> None:
        bad = failures(page, own=own)
        if bad:
            found[name] = bad

    def visit(name: str, path: str, ready: Callable[[Page], Any], *, own: bool = True) -> Page:
        page = ctx.new_page()
        page.goto(path)
        ready(page)
        check(name, page, own=own)
        return page

    try:
        visit("board", "/board", lambda p: expect(p.locator("#calls li .num").first).to_have_text("A001"))
        visit("home", "/", lambda p: expect(p.locator("#centre")).to_have_text(site_cfg.site.name))

        caller = visit(
            "caller signed out", "/caller/2", lambda p: expect(p.locator("#signin")).to_be_visible()
        )
        caller.locator("#pin").fill(read_pin(site_cfg, "caller-2"))
        caller.locator("#signin-go").click()
        expect(caller.locator("#signin")).to_be_hidden()
        expect(caller.locator("#status")).to_have_text("Đóng · Closed")
        check("caller closed", caller)
        caller.get_by_role("button", name="Mở quầy").click()
        expect(caller.locator("#dialog")).to_be_visible()
        check("caller officer dialog", caller)
        caller.locator("#dialog").get_by_role("button", name="Trần Văn Hùng").click()
        expect(caller.locator("#status")).to_have_text("Đang mở · Open")
        caller.locator("#k-next").click()
        expect(caller.locator("#ticket")).to_have_text("B001")
        check("caller serving", caller)
        visit("caller without web keypad", "/caller/3", lambda p: expect(p.locator("h1")).to_be_visible())

        status = visit(
            "ticket waiting",
            f"/t/{tickets[1]['token']}",
            lambda p: expect(p.locator("#number")).to_have_text("A002"),
        )
        visit(
            "ticket called",
            f"/t/{tickets[0]['token']}",
            lambda p: expect(p.locator("#card")).to_have_attribute("data-status", "called"),
        )
        status.goto("/t/20200101-Z999")
        expect(status.locator("h1")).to_have_text("Không tìm thấy phiếu")
        check("ticket not found", status)

        dash = visit(
            "dashboard sign-in", "/dashboard", lambda p: expect(p.locator("#signin")).to_be_visible()
        )
        dash.locator("#token").fill(manager)
        dash.locator("#signin-form button").click()
        expect(dash.locator("#signin")).to_be_hidden()
        expect(dash.locator("#chart-arrivals svg rect.bar").first).to_be_attached()
        check("dashboard", dash)
        dash.goto("/api/reports/officers?format=html")
        expect(dash.locator("h1")).to_be_visible()
        check("officer report", dash)

        # Swagger UI and ReDoc are other projects' pages: only what is serious, and their language.
        visit(
            "docs",
            "/docs",
            lambda p: expect(p.locator(".swagger-ui .opblock").first).to_be_visible(),
            own=False,
        )
        visit(
            "redoc",
            "/redoc",
            lambda p: expect(p.locator("h1").first).to_contain_text("onestop hub"),
            own=False,
        )
        docs = ctx.new_page()
        for path in ("/docs", "/redoc"):
            docs.goto(path)
            lang = docs.evaluate("() => document.documentElement.lang")
            if lang != "en":
                found.setdefault(path, []).append(f"html lang is {lang!r}, not 'en'")
    finally:
        ctx.close()
    assert not found, "\n".join(f"{page}:\n  " + "\n  ".join(v) for page, v in found.items())
