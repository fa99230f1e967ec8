"""The province dashboard: its API with every role against a real PostgreSQL and a real node, the
session cookie, CSV and printable reports; and the page in a real Chromium with a hundred centres at
1920×1080, 1366×768 and a phone (390×844): nothing cut off, overlapping or outside the screen.

With ONESTOP_SCREENSHOTS=1 the screenshots go to docs/img/province (else to tmp_path)."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from province import migrations, reports
from province.dashboard import SESSION_COOKIE
from province.store import Store
from tests.utils.postgres import pg_cluster, pg_dsn  # noqa: F401  # fixtures
from tests.utils.province import ProvinceNode
from tests.utils.province_seed import PROVINCIAL, seed
from tests.utils.web import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

PROVINCE = "Ủy ban nhân dân tỉnh Tuyên Quang"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "province"
UI_TIMEOUT_MS = 15_000


class Province:
    def __init__(self, dsn: str, node: ProvinceNode, tokens: dict[str, str], seeded: dict[str, Any]) -> None:
        self.dsn, self.node, self.tokens, self.seeded = dsn, node, tokens, seeded

    def get(self, path: str, who: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else kw.pop("headers", {})
        return httpx.get(self.node.url + path, headers=headers, timeout=20, **kw)


def _province(dsn: str, centres: int) -> Iterator[Province]:
    migrations.migrate(dsn)
    seeded = seed(dsn, reports.today(), centres)
    store = Store(dsn, max_size=1)
    store.open()
    tokens = {
        "viewer": store.add_token("lan-xem", "viewer"),
        "manager": store.add_token("hung-quanly", "manager"),
        "admin": store.add_token("quan-tri", "admin"),
        "centre": store.add_token("truong-bp-phuong-do", "centre", site="hg-002"),
    }
    store.close()
    with ProvinceNode(dsn, "n1", env={"ONESTOP_PROVINCE_NAME": PROVINCE}) as node:
        yield Province(dsn, node, tokens, seeded)


@pytest.fixture
def small(pg_dsn: str) -> Iterator[Province]:  # noqa: F811
    """Six centres (one down), four people with their roles, and a node."""
    yield from _province(pg_dsn, 6)


# -- the API ------------------------------------------------------------------------------------------


def test_every_role_sees_what_it_may_and_the_figures_are_the_rollups(small: Province) -> None:
    p = small
    assert p.get("/api/v1/dashboard").status_code == 401
    assert (
        p.get("/api/v1/dashboard", headers={"Authorization": "Bearer not-a-token-at-all"}).status_code == 401
    )
    for role in ("viewer", "manager", "admin"):
        d = p.get("/api/v1/dashboard", role).json()
        assert [c["site"] for c in d["centres"]] == sorted(s for s, _ in p.seeded["sites"]), role
    d = p.get("/api/v1/dashboard", "viewer").json()
    assert d["province"] == PROVINCE and d["targets"] == {"wait_s": 900, "satisfaction": 0.95}
    # The figures are the rollups': the province's mean wait is a weighted one, not a mean of means.
    with psycopg.connect(p.dsn) as conn:
        n, wsum, w15 = conn.execute(
            "SELECT sum(wait_n), sum(wait_sum_s), sum(within_15) FROM day_queue WHERE day = %s",
            (reports.today(),),
        ).fetchone()  # type: ignore[misc]
        q_start, _ = reports.quarter_of(reports.today())
        rn, rsat = conn.execute(
            "SELECT sum(n), sum(satisfied) FROM day_ratings WHERE day BETWEEN %s AND %s",
            (q_start, reports.today()),
        ).fetchone()  # type: ignore[misc]
    t = d["totals"]
    assert t["mean_wait_s"] == pytest.approx(wsum / n) and t["within_15"] == pytest.approx(w15 / n)
    assert t["satisfaction_quarter"] == pytest.approx(rsat / rn)
    assert t["satisfaction_ok"] is (rsat / rn >= 0.95)
    by_site = {c["site"]: c for c in d["centres"]}
    assert t["waiting"] == sum(c["waiting"] for c in d["centres"]) > 0
    assert t["counters_open"] == sum(c["counters_open"] for c in d["centres"]) > 0
    (down,) = p.seeded["down"]
    assert by_site[down]["link"] == "down" and by_site[down]["link_since"]
    assert t["links_down"] == 1
    for c in d["centres"]:
        assert c["wait_ok"] is (c["mean_wait_s"] <= 900)
        assert c["satisfaction_ok"] is (c["satisfaction_quarter"] >= 0.95)
    # A centre manager: only their centre, everywhere.
    mine = p.get("/api/v1/dashboard", "centre").json()
    assert [c["site"] for c in mine["centres"]] == ["hg-002"]
    assert mine["totals"]["centres"] == 1 and mine["totals"]["waiting"] == by_site["hg-002"]["waiting"]
    assert p.get("/api/v1/centres/hg-002", "centre").status_code == 200
    for other in ("hg-tthc", "hg-001", "no-such"):
        assert p.get(f"/api/v1/centres/{other}", "centre").status_code == 403
        assert p.get(f"/api/v1/centres/{other}?format=csv", "centre").status_code == 403
    assert p.get("/api/v1/centres/no-such", "viewer").status_code == 404
    off = p.get("/api/v1/reports/officers", "centre").json()["officers"]
    assert off and all(o["centres"] == ["hg-002"] for o in off)
    months = p.get("/api/v1/reports/monthly", "centre").json()
    assert {r["site"] for r in months["centres"]} == {"hg-002"}
    rank = p.get("/api/v1/reports/ranking", "centre").json()["centres"]
    assert [r["site"] for r in rank] == ["hg-002"] and rank[0]["of"] == 6
    # Admins list the people's tokens (names and roles only); others may not.
    assert p.get("/api/v1/tokens", "manager").status_code == 403
    names = p.get("/api/v1/tokens", "admin").json()["tokens"]
    assert {t["name"] for t in names} == {"lan-xem", "hung-quanly", "quan-tri", "truong-bp-phuong-do"}
    assert all(set(t) == {"name", "role", "site"} for t in names)


def test_drill_down_trends_ranking_and_the_officer_who_moved(small: Province) -> None:
    p = small
    d = p.get("/api/v1/centres/hg-tthc", "viewer").json()
    assert d["live"]["name"] == "Trung tâm Phục vụ hành chính công tỉnh Tuyên Quang"
    assert [s["service"] for s in d["services"]] == sorted(["tuphap", "datdai", "dkkd", "laodong", "xaydung"])
    assert sum(s["waiting"] for s in d["services"]) == d["live"]["waiting"]
    assert len(d["months"]) == 12 and d["months"][-1]["month"] == reports.today().isoformat()[:7]
    assert sum(s["tickets"] for s in d["services"]) == d["today"]["tickets_today"]
    # TT01: the officers who moved keep one row, with both centres.
    q = reports.quarter_of(reports.today())
    year, quarter = q[0].year, (q[0].month - 1) // 3 + 1
    rows = p.get(f"/api/v1/reports/officers?year={year}&quarter={quarter}", "viewer").json()["officers"]
    people = [r["officer"] for r in rows]
    assert len(people) == len(set(people))
    for site, person in p.seeded["moved"]:
        (row,) = [r for r in rows if r["officer"] == person]
        assert row["centres"] == sorted(["hg-tthc", site])
        assert row["ratings"] == row["very_satisfied"] + row["satisfied"] + row["not_satisfied"]
    assert p.get("/api/v1/reports/officers?year=1999&quarter=1", "viewer").status_code == 400
    assert p.get("/api/v1/reports/officers?quarter=x", "viewer").status_code == 400
    # Monthly trends: the province's months are the sums of its centres' months.
    m = p.get("/api/v1/reports/monthly?from=2026-01&to=2026-12", "viewer").json()
    assert len(m["months"]) == 12
    for month in m["months"]:
        assert month["tickets"] == sum(r["tickets"] for r in m["centres"] if r["month"] == month["month"])
    assert p.get("/api/v1/reports/monthly?from=2026-13", "viewer").status_code == 400
    assert p.get("/api/v1/reports/monthly?from=2026-06&to=2026-01", "viewer").status_code == 400
    assert p.get("/api/v1/reports/monthly?format=xml", "viewer").status_code == 400
    r = p.get(
        f"/api/v1/reports/ranking?from={reports.today():%Y-%m}&to={reports.today():%Y-%m}", "viewer"
    ).json()
    ranked = r["centres"]
    assert [x["rank"] for x in ranked] == list(range(1, 7))
    sats = [x["satisfaction"] for x in ranked]
    assert sats == sorted(sats, reverse=True), "best satisfaction first"


def test_csv_and_printable_reports(small: Province) -> None:
    p = small
    for path, header in (
        ("/api/v1/dashboard?format=csv", "Mã trung tâm,Trung tâm,Kết nối"),
        ("/api/v1/centres/hg-tthc?format=csv", "Mã lĩnh vực,Lĩnh vực,Đang chờ"),
        ("/api/v1/reports/officers?format=csv", "Mã cán bộ,Họ và tên,Trung tâm"),
        ("/api/v1/reports/monthly?format=csv", "Tháng,Mã trung tâm,Trung tâm"),
        ("/api/v1/reports/ranking?format=csv", "Hạng,Mã trung tâm,Trung tâm"),
    ):
        r = p.get(path, "viewer")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), path
        assert r.content.startswith("\ufeff".encode()), f"{path}: a UTF-8 BOM for Excel"
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert ",".join(rows[0]).startswith(header), path
        assert len(rows) > 1
    today_rows = list(
        csv.reader(io.StringIO(p.get("/api/v1/dashboard?format=csv", "viewer").content.decode("utf-8-sig")))
    )
    assert len(today_rows) == 1 + 6 and "mất kết nối" in {r[2] for r in today_rows}
    for path, title in (
        ("/api/v1/dashboard?format=html", "TÌNH HÌNH CÁC TRUNG TÂM"),
        ("/api/v1/centres/hg-tthc?format=html", "TÌNH HÌNH TRUNG TÂM PHỤC VỤ"),
        ("/api/v1/reports/officers?format=html", "BÁO CÁO KẾT QUẢ ĐÁNH GIÁ"),
        ("/api/v1/reports/monthly?format=html", "SỐ LIỆU THEO THÁNG"),
        ("/api/v1/reports/ranking?format=html", "XẾP HẠNG CÁC TRUNG TÂM"),
    ):
        r = p.get(path, "viewer")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert (
            title in r.text and PROVINCE.upper() in r.text and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in r.text
        )
        assert re.search(r"in lúc \d\d:\d\d ngày \d\d/\d\d/\d{4}", r.text), path
        assert "default-src 'self'" in r.headers["content-security-policy"]
    # A centre's printable TT01 names only its centre.
    r = p.get("/api/v1/reports/officers?format=html", "centre")
    assert "Bộ phận Một cửa xã Phương Độ" in r.text and "Trung tâm Phục vụ hành chính công tỉnh" not in r.text


def test_the_session_cookie_is_signed_and_ends_with_its_token(small: Province) -> None:
    p = small
    url = p.node.url
    assert httpx.post(url + "/api/v1/session", json={"token": "wrong-token-0123456789"}).status_code == 401
    assert httpx.post(url + "/api/v1/session", content=b"{not json").status_code == 400
    huge = b'{"token": "' + b"x" * 100_000 + b'"}'
    assert httpx.post(url + "/api/v1/session", content=huge).status_code == 413
    r = httpx.post(url + "/api/v1/session", json={"token": p.tokens["centre"]})
    assert r.status_code == 200 and r.json() == {
        "name": "truong-bp-phuong-do",
        "role": "centre",
        "site": "hg-002",
    }
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    value = r.cookies[SESSION_COOKIE]
    assert p.tokens["centre"] not in value
    jar = {SESSION_COOKIE: value}
    with httpx.Client(base_url=url, cookies=jar) as c:
        assert c.get("/api/v1/session").json()["site"] == "hg-002"
        assert [x["site"] for x in c.get("/api/v1/dashboard").json()["centres"]] == ["hg-002"]
        assert c.get("/api/v1/centres/hg-tthc").status_code == 403
    name, expiry, mac = value.split(".")
    for forged in (
        f"{name}.{int(expiry) + 3600}.{mac}",  # a longer life
        f"{name}.{expiry}.{mac[:-2]}AA",  # another MAC
        "cXVhbi10cmk=." + expiry + "." + mac,  # the admin's name with the centre's MAC
        "x", "", "a.b.c", "....",
    ):  # fmt: skip
        assert httpx.get(url + "/api/v1/dashboard", cookies={SESSION_COOKIE: forged}).status_code == 401, (
            forged
        )
    # The token replaced: its sessions end (the MAC covers the token's hash).
    store = Store(p.dsn, max_size=1)
    store.open()
    store.add_token("truong-bp-phuong-do", "centre", site="hg-002")
    store.close()
    assert httpx.get(url + "/api/v1/dashboard", cookies=jar).status_code == 401
    # Another node of the same database accepts a cookie this node issued (the key is the database's).
    r = httpx.post(url + "/api/v1/session", json={"token": p.tokens["viewer"]})
    with ProvinceNode(p.dsn, "n2") as n2:
        assert (
            httpx.get(
                n2.url + "/api/v1/dashboard", cookies={SESSION_COOKIE: r.cookies[SESSION_COOKIE]}
            ).status_code
            == 200
        )
    assert httpx.delete(url + "/api/v1/session").status_code == 204
    # Nothing of the page is served from outside the shipped files.
    for bad in ("/static/..%2Fdashboard.py", "/static/%2e%2e%2fdashboard.py", "/static/nope.js"):
        assert httpx.get(url + bad).status_code == 404, bad
    assert orjson.loads(httpx.get(url + "/healthz").content)["database"] == "ok"


# -- the page in Chromium -----------------------------------------------------------------------------


@pytest.fixture
def hundred(pg_dsn: str) -> Iterator[Province]:  # noqa: F811
    """A hundred centres (four down, a dozen with device alerts), a year of history."""
    yield from _province(pg_dsn, 100)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _context(browser: Browser, p: Province, width: int, height: int, **kw: Any) -> BrowserContext:
    ctx = browser.new_context(
        base_url=p.node.url, locale="vi-VN", viewport={"width": width, "height": height}, **kw
    )
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    problems: list[str] = []
    # A 401 is the page asking whether it is signed in (or a wrong token): expected, not a problem.
    ctx.on(
        "console", lambda m: problems.append(m.text) if m.type == "error" and "401" not in m.text else None
    )
    ctx.on("weberror", lambda e: problems.append(str(e.error)))
    ctx.problems = problems  # type: ignore[attr-defined]
    return ctx


def _out(tmp_path: Path) -> Path:
    if os.environ.get("ONESTOP_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        return DOCS_IMG
    return tmp_path


def _sign_in(page: Page, token: str, path: str = "/dashboard") -> None:
    page.goto(path)
    expect(page.locator("#signin")).to_be_visible()
    page.locator("#token").fill(token)
    page.locator("#signin-form button").click()
    expect(page.locator("#signin")).to_be_hidden()


#: Visible texts that are cut off (their content wider than their box, or outside the window),
#: overlapping each other, and chart texts outside their drawing.
_LAYOUT_JS = """(root) => {
  const bad = [], vw = document.documentElement.clientWidth, doc = document.documentElement;
  const say = (e) => e.textContent.trim().slice(0, 40);
  if (doc.scrollWidth > vw + 1) bad.push("page wider than the window: " + doc.scrollWidth);
  const texts = ["h1", "h2", ".kpi-value", ".kpi-label", ".kpi-note", ".agency", ".centre", ".clock", ".who",
                 ".updated", ".conn", "button", "label", "th", "td", ".report-links li", ".d-link", ".back",
                 "#d-name"];
  const solo = [".kpi-value", ".kpi-label", ".kpi-note", ".agency", ".centre", ".clock", ".who", ".updated",
                "h2", ".back", "#d-name", ".d-link"].join(", ");
  const sel = texts.map((t) => root + " " + t + ", header.bar " + t).join(", ");
  const boxes = [];
  for (const e of document.querySelectorAll(sel)) {
    const r = e.getBoundingClientRect(), st = getComputedStyle(e);
    if (!r.width || !r.height || st.visibility === "hidden") continue;
    if (r.left < -0.5 || r.right > vw + 0.5) bad.push("outside the window: " + say(e));
    if (e.scrollWidth > e.clientWidth + 1 && st.overflow !== "visible" && e.clientWidth)
      bad.push("cut off: " + say(e));
    if (e.matches(solo)) boxes.push([e, r]);
  }
  const meet = (ra, rb) => Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left) > 1
                           && Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top) > 1;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (!a.contains(b) && !b.contains(a) && meet(ra, rb)) bad.push("overlap: " + say(a) + " / " + say(b));
  }
  for (const svg of document.querySelectorAll(root + " .chart svg")) {
    const box = svg.getBoundingClientRect();
    if (!box.width) continue;
    const seen = [];
    for (const t of svg.querySelectorAll("text")) {
      const r = t.getBoundingClientRect();
      if (!r.width) continue;
      for (const [o, ro] of seen) {
        if (meet(r, ro)) bad.push("chart texts overlap: " + say(t) + " / " + say(o));
      }
      seen.push([t, r]);
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5
          || r.bottom > box.bottom + 0.5) bad.push("chart text outside its chart: " + say(t));
    }
  }
  return bad;
}"""


SIZES = [("1920", 1920, 1080), ("1366", 1366, 768), ("phone", 390, 844)]


def _layout(page: Page, root: str) -> list[str]:
    bad: list[str] = page.evaluate(_LAYOUT_JS, root)
    return bad


def _cut_labels(page: Page, root: str) -> list[str]:
    """The charts' labels shown shortened with "…" (a commune's name cut on a phone)."""
    cut: list[str] = page.locator(f"{root} svg text.name").evaluate_all(
        "ns => ns.map(n => n.firstChild.nodeValue).filter(t => t.endsWith('…'))"
    )
    return cut


def test_the_page_with_a_hundred_centres_at_every_size(
    hundred: Province, browser: Browser, tmp_path: Path
) -> None:
    p = hundred
    out = _out(tmp_path)
    for label, width, height in SIZES:
        ctx = _context(
            browser, p, width, height, **({"is_mobile": True, "has_touch": True} if label == "phone" else {})
        )
        try:
            page = ctx.new_page()
            if label == "1920":
                page.goto("/dashboard")
                expect(page.locator("#signin")).to_be_visible()
                page.locator("#token").fill("not-a-token-at-all")
                page.locator("#signin-form button").click()
                expect(page.locator("#signin-error")).to_contain_text("Mã truy cập không đúng")
                page.screenshot(path=str(out / f"signin-{label}.png"))
            _sign_in(page, p.tokens["viewer"])
            expect(page.locator("#province")).to_have_text(PROVINCE)
            expect(page.locator("#centre-rows tr")).to_have_count(100)
            expect(page.locator("#chart-wait svg rect.bar")).to_have_count(10)
            expect(page.locator("#chart-sat svg rect.bar")).to_have_count(10)
            expect(page.locator("#chart-trend-wait svg rect.bar")).to_have_count(12)
            # Worst first: the centres whose link is down lead, with the time it went down.
            first = page.locator("#centre-rows tr").first
            expect(first.locator("td.linkst")).to_contain_text(re.compile(r"Mất kết nối từ \d\d:\d\d"))
            assert _layout(page, "#main") == [], label
            assert _cut_labels(page, "#main") == [], label
            page.screenshot(path=str(out / f"dashboard-{label}.png"), full_page=label == "1366")
            if label == "1920":
                page.screenshot(path=str(out / "dashboard-1920-full.png"), full_page=True)
                # Search (without diacritics too), filter and sort.
                page.locator("#search").fill("phuong do")
                expect(page.locator("#centre-rows tr")).to_have_count(3)  # Phương Độ, and its 2nd and 3rd
                expect(page.locator("#centre-count")).to_have_text("3 / 100")
                page.locator("#search").fill("")
                page.locator("#filter").select_option("down")
                expect(page.locator("#centre-rows tr")).to_have_count(len(p.seeded["down"]))
                page.locator("#filter").select_option("all")
                page.locator("#sort").select_option("sat")
                sats = page.locator("#centre-rows td.n:nth-child(8)").all_inner_texts()
                values = [float(s.replace("\xa0%", "").replace(",", ".")) for s in sats if s != "—"]
                assert values == sorted(values)
                page.locator("#filter").select_option("alerts")
                expect(page.locator("#centre-rows tr").first.locator("td.alerts-cell")).to_contain_text(
                    re.compile("máy in sắp hết giấy|mất kết nối")
                )
                page.locator("#filter").select_option("all")
                page.locator("#sort").select_option("worst")
            # The drill-down of the provincial centre.
            page.locator("#centre-rows a", has_text=PROVINCIAL[1]).click()
            expect(page.locator("#detail")).to_be_visible()
            expect(page.locator("#d-name")).to_have_text(PROVINCIAL[1])
            expect(page.locator("#chart-d-services svg rect.bar")).to_have_count(5)
            expect(page.locator("#chart-d-officers svg rect.bar")).to_have_count(4)
            expect(page.locator("#chart-d-trend-sat svg rect.bar")).to_have_count(12)
            assert _layout(page, "#detail") == [], label
            assert _cut_labels(page, "#detail") == [], label
            page.screenshot(path=str(out / f"centre-{label}.png"), full_page=label != "1920")
            if label == "phone":  # the table as cards, further down
                page.locator("#back").click()
                page.locator("#p-centres").scroll_into_view_if_needed()
                page.locator("#p-centres h2").evaluate("e => e.scrollIntoView()")
                page.screenshot(path=str(out / "centres-phone.png"))
            if label == "1920":
                report = ctx.new_page()  # a printable report opens with the same session
                report.goto(page.locator("#l-centre-html").get_attribute("href") or "")
                expect(report.locator("h1")).to_contain_text("TÌNH HÌNH TRUNG TÂM")
                page.locator("#back").click()
                expect(page.locator("#main")).to_be_visible()
                href = page.locator("#l-officers-html").get_attribute("href") or ""
                assert re.search(r"year=\d{4}&quarter=[1-4]", href), href
                report.goto(href)
                expect(report.locator("h1")).to_contain_text("BÁO CÁO KẾT QUẢ ĐÁNH GIÁ")
                report.set_viewport_size({"width": 1240, "height": 1754})
                report.screenshot(path=str(out / "report-officers.png"))
                report.goto(page.locator("#l-ranking-html").get_attribute("href") or "")
                expect(report.locator("tbody tr")).to_have_count(100)
                page.locator("#signout").click()
                expect(page.locator("#signin")).to_be_visible()
            assert ctx.problems == [], ctx.problems  # type: ignore[attr-defined]
        finally:
            ctx.close()


def test_a_centre_manager_sees_only_their_centre(hundred: Province, browser: Browser, tmp_path: Path) -> None:
    p = hundred
    ctx = _context(browser, p, 1366, 768)
    try:
        page = ctx.new_page()
        _sign_in(page, p.tokens["centre"], "/dashboard?refresh=2")
        expect(page.locator("#detail")).to_be_visible()
        expect(page.locator("#d-name")).to_have_text("Bộ phận Một cửa xã Phương Độ")
        expect(page.locator("#back")).to_be_hidden()
        page.evaluate("window.location.hash = '#'")  # tries the province view: back to their centre
        expect(page.locator("#detail")).to_be_visible()
        page.evaluate("window.location.hash = '#centre=hg-tthc'")
        expect(page.locator("#d-name")).to_have_text("Bộ phận Một cửa xã Phương Độ")
        assert _layout(page, "#detail") == []
        page.screenshot(path=str(_out(tmp_path) / "centre-manager-1366.png"), full_page=True)
        # It refreshes by itself: the centre's link goes down, the page says so.
        expect(page.locator("#d-link")).to_contain_text("Trực tuyến")
        with psycopg.connect(p.dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE site_live SET link = 'down', link_since = %s WHERE site = 'hg-002'",
                (datetime.now(reports.VN).replace(hour=10, minute=47, second=0),),
            )
        expect(page.locator("#d-link")).to_contain_text("Mất kết nối từ 10:47")
    finally:
        ctx.close()
