"""Reports (manager token): figures per service, counter or officer and per period; the quarterly
officer report of Thông tư 01/2018; the dashboard's figures. JSON, or CSV with ``?format=csv``."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from hub_api import reports as rp
from hub_api.app import Hub, HubDep
from hub_api.deps import Manager, refusals
from hub_api.models import OfficerReport, Report, Responses
from hub_api.routers.devices import alerts_of, devices_of, published_version
from onestop.text import percent

router = APIRouter(prefix="/api", tags=["reports"])

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}

_TEXT = {"schema": {"type": "string"}}
#: The reports' answers besides JSON: CSV downloads (and the officer report's printable page).
CSV: Responses = {200: {"content": {"text/csv": _TEXT}}, **refusals("manager")}
CSV_HTML: Responses = {200: {"content": {"text/csv": _TEXT, "text/html": _TEXT}}, **refusals("manager")}


def today(hub: Hub) -> date:
    """The site's current business day."""
    return rp.business_day(datetime.now(UTC), hub.cfg)


def _csv(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/reports", response_model=Report, responses=CSV)
def report(
    hub: HubDep,
    _who: Manager,
    by: rp.Group = "service",
    period: rp.Period = "day",
    start: Annotated[date | None, Query(description="first business day (default: today)")] = None,
    end: Annotated[date | None, Query(description="last business day (default: start)")] = None,
    format: Literal["json", "csv"] = "json",
) -> Report | Response:
    """Tickets issued, served, skipped (no-shows), expired; wait mean, p90 and share within 15 minutes;
    service time; satisfaction with each level, per ``by`` group and per ``period`` (site time zone)."""
    first = start or today(hub)
    last = end or first
    if last < first:  # shaped like FastAPI's own validation errors: the 422 the OpenAPI documents
        msg = f"end {last} is before start {first}{'' if start else ' (today: start is not given)'}"
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "end"), "msg": msg, "input": str(last)}]
        )
    rows = rp.report(hub.store, hub.cfg, by=by, period=period, start=first, end=last)
    levels = list(hub.cfg.rating.levels)
    if format == "csv":
        name = f"onestop-{hub.cfg.site.id}-{by}-{period}-{first:%Y%m%d}-{last:%Y%m%d}.csv"
        return _csv(rp.report_csv(rows, levels), name)
    return Report.model_validate(
        {
            "by": by,
            "period": period,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "levels": levels,
            "rows": [r.as_dict() for r in rows],
        }
    )


def _period_title(year: int, quarter: int | None) -> str:
    return f"Quý {ROMAN[quarter]} năm {year}" if quarter else f"Năm {year}"


def _officer_html(hub: Hub, data: OfficerReport) -> str:
    e = html.escape
    cfg = hub.cfg
    head = "".join(f"<th>{e(lv)}</th>" for lv in data.levels)
    body = []
    for i, r in enumerate(data.rows, 1):
        total = r.officer is None
        pct = percent(r.satisfaction, "vi")
        below = r.satisfaction is not None and r.satisfaction < rp.TARGET_SATISFACTION
        cells = "".join(f"<td class='n'>{r.levels.get(lv, 0)}</td>" for lv in data.levels)
        body.append(
            f"<tr class='{'total' if total else ''}'><td class='n'>{'' if total else i}</td>"
            f"<td>{e(r.name)}</td><td>{e(r.title)}</td>{cells}<td class='n'>{r.ratings}</td>"
            f"<td class='n{' below' if below else ''}'>{pct}</td></tr>"
        )
    now = datetime.now(cfg.site.tz)
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo đánh giá cán bộ — {e(_period_title(data.year, data.quarter))}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/report.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="icon" href="/favicon.ico" sizes="16x16 32x32 48x48"></head>
<body><main class="sheet">
<header class="doc-head">
  <div class="org"><div>{e(cfg.site.agency.upper())}</div>
    <div class="unit">{e(cfg.site.name.upper())}</div></div>
  <div class="nation"><div>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</div>
    <div class="motto">Độc lập - Tự do - Hạnh phúc</div></div>
</header>
<h1>BÁO CÁO KẾT QUẢ ĐÁNH GIÁ MỨC ĐỘ HÀI LÒNG<br>ĐỐI VỚI CÁN BỘ, CÔNG CHỨC TIẾP NHẬN VÀ TRẢ KẾT QUẢ</h1>
<p class="period">{e(_period_title(data.year, data.quarter))} · kỳ {e(data.period)}
 · theo Thông tư 01/2018/TT-VPCP (Điều 12–15)</p>
<table><thead><tr><th>STT</th><th>Họ và tên</th><th>Chức vụ</th>{head}<th>Tổng số đánh giá</th>
<th>Tỷ lệ hài lòng</th></tr></thead><tbody>{"".join(body)}</tbody></table>
<p class="note">Tỷ lệ hài lòng = số đánh giá ở các mức hài lòng / tổng số đánh giá. Mục tiêu: ≥ 95 %.
Số liệu từ hệ thống xếp hàng onestop, lập lúc {now:%H:%M ngày %d/%m/%Y}.</p>
<div class="signs"><div><b>Người lập biểu</b><i>(Ký, ghi rõ họ tên)</i></div>
<div><b>Thủ trưởng đơn vị</b><i>(Ký, ghi rõ họ tên, đóng dấu)</i></div></div>
<button class="print" onclick="window.print()">In báo cáo · Print</button>
</main></body></html>"""


@router.get("/reports/officers", response_model=OfficerReport, responses=CSV_HTML)
def officer_report(
    hub: HubDep,
    _who: Manager,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    quarter: Annotated[int | None, Query(ge=1, le=4, description="omit for the whole year")] = None,
    format: Literal["json", "csv", "html"] = "json",
) -> OfficerReport | Response:
    """Thông tư 01/2018: each officer's ratings per level and satisfaction for a quarter or a year,
    and the unit's total; ``format=html`` is a printable page."""
    d = today(hub)
    y = year or d.year
    q = quarter if (quarter or year) else rp.quarter_of(d)
    rows = rp.officer_ratings(hub.store, hub.cfg, y, q)
    levels = list(hub.cfg.rating.levels)
    if format == "csv":
        name = f"onestop-{hub.cfg.site.id}-danh-gia-can-bo-{y}{f'-Q{q}' if q else ''}.csv"
        return _csv(rp.officer_ratings_csv(rows, levels), name)
    data = OfficerReport.model_validate(
        {
            "period": f"{y}-Q{q}" if q else str(y),
            "year": y,
            "quarter": q,
            "unit": hub.cfg.site.name,
            "levels": levels,
            "rows": [r.as_dict() for r in rows],
        }
    )
    if format == "html":
        return HTMLResponse(_officer_html(hub, data))
    return data


@router.get("/dashboard", responses=refusals("manager"))
def dashboard(hub: HubDep, _who: Manager) -> dict[str, Any]:
    """Everything the dashboard draws: today's figures, arrivals per hour, the wait distribution,
    satisfaction per officer this quarter, live waiting per service, the alert list, and each device
    with the version it runs beside the published release."""
    d = today(hub)
    q = rp.quarter_of(d)
    site_today = rp.report(hub.store, hub.cfg, by="site", period="day", start=d, end=d)
    officers = [r for r in rp.officer_ratings(hub.store, hub.cfg, d.year, q) if r.officer is not None]
    live = hub.live.snapshot()
    services = []
    for s in hub.cfg.services:
        st = live["services"].get(s.id) or {}
        services.append(
            {
                "id": s.id,
                "name": s.name,
                "waiting": st.get("waiting"),
                "est_wait_s": st.get("est_wait_s"),
                "open": st.get("open"),
            }
        )
    return {
        "site": {"id": hub.cfg.site.id, "name": hub.cfg.site.name, "agency": hub.cfg.site.agency},
        "day": d.isoformat(),
        "quarter": f"{d.year}-Q{q}",
        "targets": {"wait_s": rp.TARGET_WAIT_S, "satisfaction": rp.TARGET_SATISFACTION},
        "today": site_today[0].as_dict() if site_today else None,
        "arrivals_by_hour": rp.arrivals_by_hour(hub.store, hub.cfg, d),
        "wait_distribution": rp.wait_distribution(hub.store, d),
        "officers": [r.as_dict() for r in officers],
        "services": services,
        "controller_online": live["controller_online"],
        "alerts": [a.as_dict() for a in alerts_of(hub)],
        "release": published_version(hub),
        "devices": [
            {k: d[k] for k in ("id", "role", "online", "version", "last_seen")}
            for d in devices_of(hub)
            if d["configured"]
        ],
    }
