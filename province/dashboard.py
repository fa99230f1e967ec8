"""The province dashboard: its JSON API (with CSV and printable pages), the sign-in session and the page.

People sign in with their token (``onestop province token``): either ``Authorization: Bearer`` on
each request, or once on the page (``POST /api/v1/session``), which sets a session cookie
``{name}.{expiry}.{mac}``: an HMAC-SHA256 over the token's name, the expiry and the token's hash,
under a random key kept in the database (``province_secrets``, made on first use), so every node
accepts every node's cookies and a token that is removed or replaced ends its sessions at once.
The cookie is HttpOnly and SameSite=Strict (Secure behind HTTPS).

Roles: ``viewer``, ``manager`` and ``admin`` see every centre; a ``centre`` token sees only its own
centre: another centre's drill-down is 403 and every list holds only its centre. Admins also list
the people's tokens (names and roles, never values).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from province import figures, reports
from province.store import Store, token_hash

PREFIX = "/api/v1"
SESSION_COOKIE = "onestop_province_session"
SESSION_S = 12 * 3600
#: The province's name on pages and printed reports (e.g. "Ủy ban nhân dân tỉnh Tuyên Quang").
PROVINCE_NAME_ENV = "ONESTOP_PROVINCE_NAME"
STATIC = Path(__file__).resolve().parent / "static"
HUB_STATIC = Path(__file__).resolve().parents[1] / "hub_api" / "static"
#: Files of the hub's pages this page uses as they are (served, not copied).
HUB_FILES = {
    "hub-dashboard.css": "text/css",
    "common.js": "text/javascript",
    "charts.js": "text/javascript",
    "report.css": "text/css",
    "favicon.svg": "image/svg+xml",
    "favicon.ico": "image/x-icon",
}
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


@dataclass(frozen=True)
class Who:
    name: str
    role: str
    site: str | None

    def may_see(self, site: str) -> bool:
        return self.role != "centre" or self.site == site

    @property
    def only(self) -> str | None:
        """The one centre this person may see, or None for all."""
        return self.site if self.role == "centre" else None


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)


class Sessions:
    """Issues and checks session cookies under the database's session key."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def key(self) -> bytes:
        with self._lock:
            if self._key is None:
                with self.store.pool.connection() as conn:
                    conn.execute(
                        """INSERT INTO province_secrets (name, value) VALUES ('session_key',
                           decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
                                  'hex'))
                           ON CONFLICT (name) DO NOTHING"""
                    )
                    row = conn.execute(
                        "SELECT value FROM province_secrets WHERE name = 'session_key'"
                    ).fetchone()
                assert row is not None
                self._key = bytes(row[0])
            return self._key

    def _mac(self, name: str, expiry: int, sha256: str) -> str:
        msg = f"province-session\x00{name}\x00{expiry}\x00{sha256}".encode()
        return (
            base64.urlsafe_b64encode(hmac.new(self.key(), msg, hashlib.sha256).digest()).rstrip(b"=").decode()
        )

    def issue(self, name: str, sha256: str) -> str:
        expiry = int(self.clock()) + SESSION_S
        b64 = base64.urlsafe_b64encode(name.encode()).decode()
        return f"{b64}.{expiry}.{self._mac(name, expiry, sha256)}"

    def verify(self, value: str | None) -> Who | None:
        if not value or len(value) > 512:
            return None
        parts = value.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        try:
            name = base64.urlsafe_b64decode(parts[0].encode()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        expiry = int(parts[1])
        if expiry < self.clock():
            return None
        with self.store.pool.connection() as conn:
            row = conn.execute(
                "SELECT role, site, token_sha256 FROM province_tokens WHERE name = %s", (name,)
            ).fetchone()
        if row is None or not hmac.compare_digest(parts[2], self._mac(name, expiry, row[2])):
            return None
        return Who(name, row[0], row[1])


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


UNAVAILABLE = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


def province_name() -> str:
    return os.environ.get(PROVINCE_NAME_ENV, "").strip() or "Ủy ban nhân dân tỉnh"


# -- CSV and printable pages --------------------------------------------------------------------------

Columns = Sequence[tuple[str, str]]
CENTRE_COLUMNS: Columns = (
    ("site", "Mã trung tâm"), ("name", "Trung tâm"), ("link", "Kết nối"), ("link_since", "Kết nối từ"),
    ("waiting", "Đang chờ"), ("counters_open", "Quầy đang mở"), ("counters", "Số quầy"),
    ("tickets_today", "Số phiếu hôm nay"), ("mean_wait_min", "Chờ trung bình (phút)"),
    ("within_15", "Tỷ lệ chờ ≤ 15 phút"), ("ratings_quarter", "Số đánh giá quý"),
    ("satisfaction_quarter", "Tỷ lệ hài lòng quý"), ("alerts", "Thiết bị cảnh báo"),
)  # fmt: skip
OFFICER_COLUMNS: Columns = (
    ("officer", "Mã cán bộ"), ("name", "Họ và tên"), ("centres", "Trung tâm"),
    ("very_satisfied", "Rất hài lòng"), ("satisfied", "Hài lòng"), ("not_satisfied", "Không hài lòng"),
    ("ratings", "Tổng số đánh giá"), ("satisfaction", "Tỷ lệ hài lòng"),
)  # fmt: skip
MONTH_COLUMNS: Columns = (
    ("month", "Tháng"), ("site", "Mã trung tâm"), ("name", "Trung tâm"), ("tickets", "Số phiếu"),
    ("mean_wait_min", "Chờ trung bình (phút)"), ("within_15", "Tỷ lệ chờ ≤ 15 phút"),
    ("ratings", "Số đánh giá"), ("satisfaction", "Tỷ lệ hài lòng"),
)  # fmt: skip
RANK_COLUMNS: Columns = (
    ("rank", "Hạng"), ("site", "Mã trung tâm"), ("name", "Trung tâm"), ("tickets", "Số phiếu"),
    ("mean_wait_min", "Chờ trung bình (phút)"), ("within_15", "Tỷ lệ chờ ≤ 15 phút"),
    ("ratings", "Số đánh giá"), ("satisfaction", "Tỷ lệ hài lòng"),
)  # fmt: skip
SERVICE_COLUMNS: Columns = (
    ("service", "Mã lĩnh vực"), ("name", "Lĩnh vực"), ("waiting", "Đang chờ"),
    ("tickets", "Số phiếu hôm nay"), ("served", "Đã phục vụ"), ("mean_wait_min", "Chờ trung bình (phút)"),
    ("within_15", "Tỷ lệ chờ ≤ 15 phút"),
    ("ratings", "Số đánh giá"), ("satisfaction", "Tỷ lệ hài lòng"),
)  # fmt: skip
TREND_COLUMNS: Columns = (
    ("month", "Tháng"), ("tickets", "Số phiếu"), ("mean_wait_min", "Chờ trung bình (phút)"),
    ("within_15", "Tỷ lệ chờ ≤ 15 phút"), ("ratings", "Số đánh giá"), ("satisfaction", "Tỷ lệ hài lòng"),
)  # fmt: skip
#: Shares shown as percentages on printed pages; CSV keeps fractions (a spreadsheet formats them).
SHARES = {"within_15", "satisfaction", "satisfaction_quarter"}


def _with_minutes(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        r = dict(r)
        w = r.get("mean_wait_s")
        r["mean_wait_min"] = None if w is None else round(w / 60, 1)
        if "device_alerts" in r:
            r["alerts"] = "; ".join(f"{a['device']}: {a['alert']}" for a in r["device_alerts"])
        rows_link = r.get("link")
        if rows_link is not None:
            r["link"] = {"up": "trực tuyến", "down": "mất kết nối", "unknown": "chưa rõ"}.get(
                rows_link, rows_link
            )
        out.append(r)
    return out


def csv_response(rows: Sequence[dict[str, Any]], columns: Columns, filename: str) -> Response:
    body = reports.to_csv(_with_minutes(rows), columns)
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.1f}".replace(".", ",") + " %"


def _cell(key: str, v: Any) -> str:
    if v is None:
        return "—"
    if key in SHARES:
        return _pct(v)
    if isinstance(v, float):
        return f"{v:.1f}".replace(".", ",")
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def table_html(rows: Sequence[dict[str, Any]], columns: Columns, numbered: bool = True) -> str:
    e = html.escape
    head = ("<th>STT</th>" if numbered else "") + "".join(f"<th>{e(t)}</th>" for _, t in columns)
    body = []
    for i, r in enumerate(_with_minutes(rows), 1):
        cells = []
        for k, _ in columns:
            v = r.get(k)
            numeric = isinstance(v, int | float) and not isinstance(v, bool)
            below = (k in ("satisfaction", "satisfaction_quarter") and v is not None
                     and v < reports.SATISFACTION_TARGET) or (
                k == "mean_wait_min" and v is not None and v * 60 > reports.WAIT_TARGET_S)  # fmt: skip
            cls = " ".join(c for c in ("n" if numeric else "", "below" if below else "") if c)
            cells.append(f"<td class='{cls}'>{e(_cell(k, v))}</td>" if cls else f"<td>{e(_cell(k, v))}</td>")
        body.append("<tr>" + (f"<td class='n'>{i}</td>" if numbered else "") + "".join(cells) + "</tr>")
    if not rows:
        body.append(f"<tr><td colspan='{len(columns) + numbered}'>Không có số liệu · No data</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def printable(title: str, period: str, sections: Sequence[tuple[str, str]], note: str = "") -> Response:
    """An A4 page in the hub's report style: the province's name, the national heading, the title,
    the tables, when it was printed and the signatures."""
    e = html.escape
    now = datetime.now(reports.VN)
    parts = "".join((f"<h2>{e(h)}</h2>" if h else "") + t for h, t in sections)
    page = f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>{e(title)} — {e(period)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/report.css">
<link rel="stylesheet" href="/static/province-report.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml"></head>
<body><main class="sheet">
<header class="doc-head">
  <div class="org"><div class="unit">{e(province_name().upper())}</div></div>
  <div class="nation"><div>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</div>
    <div class="motto">Độc lập - Tự do - Hạnh phúc</div></div>
</header>
<h1>{e(title.upper())}</h1>
<p class="period">{e(period)}</p>
{parts}
<p class="note">{e(note)} Mục tiêu: thời gian chờ trung bình ≤ 15 phút; tỷ lệ hài lòng ≥ 95 % (số in đỏ: chưa
đạt). Số liệu từ hệ thống xếp hàng onestop, in lúc {now:%H:%M ngày %d/%m/%Y}.</p>
<div class="signs"><div><b>Người lập biểu</b><i>(Ký, ghi rõ họ tên)</i></div>
<div><b>Thủ trưởng đơn vị</b><i>(Ký, ghi rõ họ tên, đóng dấu)</i></div></div>
<button class="print" id="print" type="button">In báo cáo · Print</button>
<script src="/static/print.js"></script>
</main></body></html>"""
    return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


# -- the routes ---------------------------------------------------------------------------------------


def _month_range(request: Request, default_months: int = 12) -> tuple[date, date]:
    day = reports.today()
    last = figures.month_start(day)
    to = request.query_params.get("to")
    frm = request.query_params.get("from")
    last = figures.parse_month(to) if to else last
    first = figures.parse_month(frm) if frm else figures.add_months(last, -(default_months - 1))
    if first > last:
        raise ValueError("from: the first month is after the last")
    if (last.year - first.year) * 12 + last.month - first.month >= 120:
        raise ValueError("from/to: at most 120 months at once")
    return first, figures.month_end(last)


def _format(request: Request) -> str:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv", "html"):
        raise ValueError("format: json, csv or html")
    return fmt


def add_dashboard(app: FastAPI, store: Store) -> None:
    """Add the dashboard's API, session and page routes to the province app."""
    sessions = Sessions(store)
    app.state.sessions = sessions

    async def who(request: Request) -> Who | JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() == "bearer" and token.strip():
                found = await run_in_threadpool(store.person, token.strip())
                if found is None:
                    return _error(401, "bad or missing bearer token", **{"WWW-Authenticate": "Bearer"})
                return Who(*found)
            cookie = request.cookies.get(SESSION_COOKIE)
            person = await run_in_threadpool(sessions.verify, cookie) if cookie else None
        except UNAVAILABLE:
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        if person is None:
            return _error(
                401, "sign in: a bearer token or a session cookie", **{"WWW-Authenticate": "Bearer"}
            )
        return person

    async def answer(request: Request, build: Callable[[Who, str], Any]) -> Response:
        person = await who(request)
        if isinstance(person, JSONResponse):
            return person
        try:
            fmt = _format(request)
            out = await run_in_threadpool(build, person, fmt)
        except PermissionError as exc:
            return _error(403, str(exc))
        except LookupError as exc:
            return _error(404, str(exc))
        except ValueError as exc:
            return _error(400, str(exc))
        except UNAVAILABLE:
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        if isinstance(out, Response):
            return out
        return JSONResponse(out, headers={"Cache-Control": "no-store"})

    # The session.
    @app.post(f"{PREFIX}/session")
    async def sign_in(request: Request) -> Response:
        raw, size = [], 0
        async for chunk in request.stream():  # a sign-in is a few hundred bytes: read no more than 4 kB
            size += len(chunk)
            if size > 4096:
                return _error(413, "a sign-in is at most 4096 bytes")
            raw.append(chunk)
        try:
            body = SignIn.model_validate_json(b"".join(raw))
        except ValidationError:
            return _error(400, 'expected {"token": "..."}')
        token = body.token.strip()
        try:
            found = await run_in_threadpool(store.person, token)
            if found is None:
                return _error(401, "unknown token")
            value = await run_in_threadpool(sessions.issue, found[0], token_hash(token))
        except UNAVAILABLE:
            return _error(503, "database unreachable, retry later", **{"Retry-After": "5"})
        resp = JSONResponse({"name": found[0], "role": found[1], "site": found[2]})
        resp.set_cookie(SESSION_COOKIE, value, max_age=SESSION_S, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")  # fmt: skip
        return resp

    @app.get(f"{PREFIX}/session")
    async def whoami(request: Request) -> Response:
        person = await who(request)
        if isinstance(person, JSONResponse):
            return person
        return JSONResponse(
            {"name": person.name, "role": person.role, "site": person.site, "province": province_name()}
        )

    @app.delete(f"{PREFIX}/session")
    def sign_out() -> Response:
        resp = Response(status_code=204)
        resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    # The figures.
    @app.get(f"{PREFIX}/dashboard")
    async def dashboard(request: Request) -> Response:
        def build(p: Who, fmt: str) -> Any:
            d = figures.dashboard(store, reports.today(), p.only)
            d["province"] = province_name()
            d["you"] = {"name": p.name, "role": p.role, "site": p.site}
            if fmt == "csv":
                return csv_response(d["centres"], CENTRE_COLUMNS, f"onestop-trung-tam-{d['day']}.csv")
            if fmt == "html":
                title = "Tình hình các trung tâm phục vụ hành chính công"
                return printable(title, f"Ngày {_vn_day(d['day'])}",
                                 [("", table_html(d["centres"], CENTRE_COLUMNS[1:]))],
                                 f"Hài lòng tính từ đầu quý {d['quarter'].replace('-', ' ')}.")  # fmt: skip
            return d

        return await answer(request, build)

    @app.get(f"{PREFIX}/centres/{{site}}")
    async def centre(site: str, request: Request) -> Response:
        def build(p: Who, fmt: str) -> Any:
            if not p.may_see(site):
                raise PermissionError("this token sees only its own centre")
            d = figures.centre(store, site, reports.today())
            if d is None:
                raise LookupError("no such centre")
            if fmt == "csv":
                return csv_response(d["services"], SERVICE_COLUMNS, f"onestop-{site}-{d['day']}.csv")
            if fmt == "html":
                lv = d["live"]
                return printable(
                    f"Tình hình {lv['name']}", f"Ngày {_vn_day(d['day'])}",
                    [("Theo lĩnh vực hôm nay", table_html(d["services"], SERVICE_COLUMNS[1:])),
                     ("Theo tháng", table_html(d["months"], TREND_COLUMNS, numbered=False)),
                     (f"Cán bộ, {_quarter_vi(d['quarter'])}",
                      table_html(d["officers"], OFFICER_COLUMNS[1:]))],
                )  # fmt: skip
            return d

        return await answer(request, build)

    @app.get(f"{PREFIX}/reports/officers")
    async def officers(request: Request) -> Response:
        def build(p: Who, fmt: str) -> Any:
            day = reports.today()
            try:
                year = int(request.query_params.get("year", day.year))
                quarter = int(request.query_params.get("quarter", (day.month - 1) // 3 + 1))
            except ValueError:
                raise ValueError("year and quarter: whole numbers") from None
            if not (2000 <= year <= 2100 and 1 <= quarter <= 4):
                raise ValueError("year 2000–2100 and quarter 1–4")
            start, end = reports.quarter_of(date(year, 3 * quarter - 2, 1))
            with store.pool.connection() as conn:
                rows = reports.officers_quarter(conn, start, end, p.only)
            names = {s["site"]: s["name"] for s in store.live(p.only)}
            for r in rows:
                r["centre_names"] = [names.get(c, c) for c in r["centres"]]
                r.update(figures.flags(r))
            period = f"{year}-Q{quarter}"
            if fmt == "csv":
                return csv_response(rows, OFFICER_COLUMNS, f"onestop-danh-gia-can-bo-{year}-Q{quarter}.csv")
            if fmt == "html":
                shown = [{**r, "centres": r["centre_names"]} for r in rows]
                return printable(
                    "Báo cáo kết quả đánh giá mức độ hài lòng đối với cán bộ, công chức "
                    "tiếp nhận và trả kết quả",
                    f"{_quarter_vi(period)} · theo Thông tư 01/2018/TT-VPCP · "
                    + ("toàn tỉnh" if p.only is None else names.get(p.only, p.only)),
                    [("", table_html(shown, OFFICER_COLUMNS[1:]))],
                    "Mỗi cán bộ một dòng, kể cả khi làm việc ở nhiều trung tâm trong quý. "
                    "Tỷ lệ hài lòng = số đánh giá hài lòng và rất hài lòng / tổng số đánh giá.",
                )  # fmt: skip
            return {"period": period, "start": start.isoformat(), "end": end.isoformat(), "officers": rows}

        return await answer(request, build)

    @app.get(f"{PREFIX}/reports/monthly")
    async def monthly(request: Request) -> Response:
        def build(p: Who, fmt: str) -> Any:
            first, last = _month_range(request)
            d = figures.trends(store, first, last, p.only)
            if fmt == "csv":
                return csv_response(
                    d["centres"], MONTH_COLUMNS, f"onestop-theo-thang-{d['from']}-{d['to']}.csv"
                )
            if fmt == "html":
                return printable(
                    "Số liệu theo tháng", f"Từ tháng {_vn_month(d['from'])} đến tháng {_vn_month(d['to'])}",
                    [("Toàn tỉnh" if p.only is None else "Trung tâm",
                      table_html(d["months"], TREND_COLUMNS, False)),
                     ("Theo trung tâm", table_html(d["centres"], MONTH_COLUMNS, False))],
                )  # fmt: skip
            return d

        return await answer(request, build)

    @app.get(f"{PREFIX}/reports/ranking")
    async def ranking(request: Request) -> Response:
        def build(p: Who, fmt: str) -> Any:
            first, last = _month_range(request, default_months=1)
            d = figures.ranking(store, first, last, p.only)
            if fmt == "csv":
                return csv_response(d["centres"], RANK_COLUMNS, f"onestop-xep-hang-{d['from']}-{d['to']}.csv")
            if fmt == "html":
                return printable(
                    "Xếp hạng các trung tâm",
                    f"Từ tháng {_vn_month(d['from'])} đến tháng {_vn_month(d['to'])}",
                    [("", table_html(d["centres"], RANK_COLUMNS, numbered=False))],
                    "Xếp theo tỷ lệ hài lòng (cao trước), rồi thời gian chờ trung bình (ngắn trước).",
                )  # fmt: skip
            return d

        return await answer(request, build)

    @app.get(f"{PREFIX}/tokens")
    async def tokens(request: Request) -> Response:
        def build(p: Who, _fmt: str) -> Any:
            if p.role != "admin":
                raise PermissionError("admins only")
            with store.pool.connection() as conn:
                rows = conn.execute("SELECT name, role, site FROM province_tokens ORDER BY name").fetchall()
            return {"tokens": [{"name": n, "role": r, "site": s} for n, r, s in rows]}

        return await answer(request, build)

    # The page and its files.
    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/dashboard")
    def page() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html", headers=PAGE_HEADERS)

    for fname, media in HUB_FILES.items():
        where = "/" + fname if fname.startswith("favicon") else "/static/" + fname

        def hub_file(_f: str = fname.removeprefix("hub-"), _m: str = media) -> FileResponse:
            return FileResponse(HUB_STATIC / _f, media_type=_m, headers={"Cache-Control": "no-cache"})

        app.add_api_route(where, hub_file, methods=["GET"], include_in_schema=False)

    own = {p.name for p in STATIC.iterdir() if p.is_file()}

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in own:  # only the files that ship: no path ever reaches the file system
            return _error(404, "not found")
        media = {"js": "text/javascript", "css": "text/css", "html": "text/html"}.get(name.rsplit(".", 1)[-1])
        return FileResponse(STATIC / name, media_type=media, headers={"Cache-Control": "no-cache"})


def _vn_day(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def _vn_month(ym: str) -> str:
    y, m = ym.split("-")
    return f"{m}/{y}"


def _quarter_vi(period: str) -> str:
    y, q = period.split("-Q")
    return f"Quý {ROMAN[int(q)]} năm {y}"
