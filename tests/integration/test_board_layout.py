"""The hall's TV board at every size a centre's TV has, in a real Chromium: 1280×720 and 1366×768
(HD-ready TVs), 1920×1080, 3840×2160 and a portrait 1080×1920, in both layouts (the last calls, and
the grid of every counter). A test fails when a ticket number, a counter label or a header text is
outside the screen, cut off in its box, overlapping another, or too small to read from 5 m.

With ONESTOP_SCREENSHOTS=1 the screenshots go to docs/img (board-calls-WxH.png, board-grid-WxH.png),
else to tmp_path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from onestop.config import SiteConfig
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.integration.test_pages import REALISTIC
from tests.utils.web import CHROMIUM, HubServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}"),
]

UI_TIMEOUT_MS = 10_000
expect.set_options(timeout=UI_TIMEOUT_MS)
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

SIZES = [(1280, 720), (1366, 768), (1920, 1080), (3840, 2160), (1080, 1920)]
#: A ticket number or counter label must be at least this share of the screen's shorter side: 5 % is
#: 36 px on a 720p TV, about 3 cm on a 43" one, which a citizen reads from 5 m (a letter of 1/200 of
#: the distance or more).
MIN_SHARE = 0.05
#: The same for the grid of every counter, which large centres show on a screen of its own: 30
#: counters on a 720p TV leave less room per counter (about 2 cm at 43").
MIN_SHARE_GRID = 0.035


def _site(n_counters: int) -> dict[str, Any]:
    services = REALISTIC["services"]
    return {
        **REALISTIC,
        "counters": [
            {"id": str(i), "label": f"Quầy {i}", "services": [services[(i - 1) % len(services)]["id"]]}
            for i in range(1, n_counters + 1)
        ],
        "officers": [
            {"id": f"cb{i:03d}", "name": f"Cán bộ {i}", "title": "Chuyên viên"} for i in range(1, 31)
        ],
        "devices": [
            {"id": "kiosk-1", "role": "kiosk"},
            *({"id": f"counter-{i}", "role": "counter", "counter": str(i)} for i in range(1, n_counters + 1)),
        ],
        "board": {"calls_shown": 8},
    }


@pytest.fixture
def site_cfg(site_factory: SiteFactory, request: pytest.FixtureRequest) -> SiteConfig:
    return site_factory(_site(getattr(request, "param", 12)))


def _busy_hall(device: DeviceFactory, cfg: SiteConfig, hub_server: HubServer) -> None:
    """Every counter open; each calls a citizen, the last ones (10, 11, 12...) most recently; some
    counters closed or paused at the end."""
    kiosk = device("kiosk-1")
    counters = [c.id for c in cfg.counters]
    for i, cid in enumerate(counters):
        device(f"counter-{cid}").request("open", {"officer": f"cb{i + 1:03d}"})
    for _ in range(3):
        for s in cfg.services:
            kiosk.request("issue", {"service": s.id})
    for cid in counters:
        device(f"counter-{cid}").request("call_next")
    device(f"counter-{counters[1]}").request("pause")
    assert hub_server.hub is not None and hub_server.hub.ingest is not None


#: Every text that must be whole and legible: what it is, and whether it must be large (from 5 m).
LAYOUT_JS = """(sel) => {
  const out = [];
  for (const [selector, big] of sel) {
    for (const e of document.querySelectorAll(selector)) {
      const r = e.getBoundingClientRect();
      if (!r.width || !e.textContent.trim()) continue;
      // A text that ends with "…" may be wider than its box by a fraction of a pixel only, which
      // scrollWidth and clientWidth (whole pixels) do not show: compare the text's own width.
      const st = getComputedStyle(e), range = document.createRange();
      range.selectNodeContents(e);
      const inner = r.width - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight)
        - parseFloat(st.borderLeftWidth) - parseFloat(st.borderRightWidth);
      const ellipsis = st.textOverflow === "ellipsis" && range.getBoundingClientRect().width > inner + 0.01;
      out.push({sel: selector, big, text: e.textContent.trim(), left: r.left, top: r.top, right: r.right,
        bottom: r.bottom, sw: e.scrollWidth, cw: e.clientWidth, sh: e.scrollHeight, ch: e.clientHeight,
        font: parseFloat(st.fontSize), ellipsis});
    }
  }
  return {items: out, w: innerWidth, h: innerHeight, docW: document.documentElement.scrollWidth,
          docH: document.documentElement.scrollHeight};
}"""

CALLS = [(".calls li:not(.empty) .num", True), (".calls li:not(.empty) .ctr", True), ("#time", False),
         ("#centre", False), ("#agency", False), (".services .wait", False),
         (".services .wait-en", False)]  # fmt: skip
GRID = [(".grid-board .cell .clabel", True), (".grid-board .cell .cnum", True), ("#time", False),
        ("#centre", False)]  # fmt: skip


def layout_problems(page: Page, selectors: list[tuple[str, bool]], min_share: float) -> list[str]:
    """Texts outside the screen, cut off in their box, overlapping, or (numbers, labels) too small."""
    got = page.evaluate(LAYOUT_JS, selectors)
    w, h, items = got["w"], got["h"], got["items"]
    bad = []
    if got["docW"] > w + 1 or got["docH"] > h + 1:
        bad.append(f"the page is {got['docW']}×{got['docH']}, larger than the screen {w}×{h}")
    for it in items:
        name = f"{it['sel']} {it['text']!r}"
        if it["left"] < -0.5 or it["top"] < -0.5 or it["right"] > w + 0.5 or it["bottom"] > h + 0.5:
            bad.append(f"{name} is outside the screen")
        if it["sw"] > it["cw"] + 1 or it["sh"] > it["ch"] + 2:
            bad.append(f"{name} is cut off ({it['sw']}×{it['sh']} in {it['cw']}×{it['ch']})")
        elif it["ellipsis"]:
            bad.append(f"{name} ends with '…' (wider than its box by less than a pixel)")
        if it["big"] and it["font"] < min_share * min(w, h):
            bad.append(f"{name} is {it['font']:.0f} px, under {min_share:.1%} of {min(w, h)} px")
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if (
                a["left"] < b["right"] - 1
                and b["left"] < a["right"] - 1
                and a["top"] < b["bottom"] - 1
                and b["top"] < a["bottom"] - 1
            ):
                bad.append(f"{a['sel']} {a['text']!r} overlaps {b['sel']} {b['text']!r}")
    return bad


def _out(tmp_path: Path) -> Path:
    return DOCS_IMG if os.environ.get("ONESTOP_SCREENSHOTS") == "1" else tmp_path


def _open(browser: Browser, hub_server: HubServer, size: tuple[int, int], path: str) -> Page:
    ctx = browser.new_context(
        base_url=hub_server.url, locale="vi-VN", viewport={"width": size[0], "height": size[1]}
    )
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    page = ctx.new_page()
    page.goto(path)
    return page


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_board_shows_every_call_whole_at_every_size(
    size: tuple[int, int], controller: Controller, device: DeviceFactory, browser: Browser,
    hub_server: HubServer, site_cfg: SiteConfig, tmp_path: Path,
) -> None:  # fmt: skip
    _busy_hall(device, site_cfg, hub_server)
    page = _open(browser, hub_server, size, "/board")
    try:
        expect(page.locator("#calls li.newest .num")).to_have_text("B003")  # counter 12's call, newest
        expect(page.locator("#calls li.newest .ctr")).to_have_text("Quầy 12")
        expect(page.locator("#calls li:not(.empty)")).to_have_count(8)
        expect(page.locator("#calls li .ctr").filter(has_text="Quầy 10")).to_have_count(1)
        page.evaluate("document.fonts.ready")
        problems = layout_problems(page, CALLS, MIN_SHARE)
        page.screenshot(path=str(_out(tmp_path) / f"board-calls-{size[0]}x{size[1]}.png"))
        problems += layout_problems(page, CALLS, MIN_SHARE)  # and as the screenshot shows it
        assert problems == [], "\n".join(problems)
    finally:
        page.context.close()


@pytest.mark.parametrize("site_cfg", [12, 30], indirect=True, ids=["12-counters", "30-counters"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_grid_board_shows_every_counter_whole_at_every_size(
    size: tuple[int, int], controller: Controller, device: DeviceFactory, browser: Browser,
    hub_server: HubServer, site_cfg: SiteConfig, tmp_path: Path,
) -> None:  # fmt: skip
    _busy_hall(device, site_cfg, hub_server)
    n = len(site_cfg.counters)
    page = _open(browser, hub_server, size, "/board?layout=grid")
    try:
        expect(page.locator(".grid-board .cell")).to_have_count(n)
        expect(page.locator('.grid-board .cell[data-counter="12"] .cnum')).to_have_text("B003")
        expect(page.locator('.grid-board .cell[data-counter="2"]')).to_have_attribute("data-status", "paused")
        page.evaluate("document.fonts.ready")
        problems = layout_problems(page, GRID, MIN_SHARE_GRID)
        if n == 12:
            page.screenshot(path=str(_out(tmp_path) / f"board-grid-{size[0]}x{size[1]}.png"))
        assert problems == [], "\n".join(problems)
    finally:
        page.context.close()
