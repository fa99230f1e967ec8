"""The province dashboard's figures, built on ``province.reports`` (rollups only) and ``Store.live()``.

``reports`` gives per-centre ratios; the dashboard also needs sums that stay exact when centres or
months are added together (a province's mean wait is not the mean of its centres' means), so
:func:`aggregate` sums the rollups by centre, month, service or not at all, and every ratio here is
computed from those sums.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

import psycopg

from province import reports
from province.store import Store

Group = Literal["site", "month", "service", "all"]
#: SQL for each grouping (constants: never built from a request).
_KEYS: dict[str, str] = {
    "site": "site",
    "month": "to_char(day, 'YYYY-MM')",
    "service": "service",
    "all": "''",
}


_MONTH_KEYS: dict[str, str] = {"site": "site", "month": "to_char(month, 'YYYY-MM')", "all": "''"}


def month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def month_end(first: date) -> date:
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def add_months(first: date, n: int) -> date:
    k = first.year * 12 + first.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def parse_month(text: str) -> date:
    """``YYYY-MM`` → its first day; ValueError with a clear message otherwise."""
    try:
        y, m = text.split("-")
        if len(y) != 4 or len(m) != 2:
            raise ValueError
        return date(int(y), int(m), 1)
    except ValueError:
        raise ValueError(f"expected a month as YYYY-MM, not {text[:20]!r}") from None


def _ratio(a: Any, b: Any) -> float | None:
    return float(a) / float(b) if a is not None and b else None


def aggregate(
    conn: psycopg.Connection, first: date, last: date, group: Group, site: str | None = None,
    ratings_first: date | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Sums of the queue rollups from ``first`` to ``last`` and of the rating rollups from
    ``ratings_first`` (default ``first``) to ``last``, by ``group``, with their ratios."""
    rfirst = ratings_first or first
    params = {"first": first, "last": last, "rfirst": rfirst, "site": site}
    only = " AND site = %(site)s" if site is not None else ""
    # Whole months of centres, months or the province: the monthly rollups (100 centres × 12 months
    # of rows); otherwise the day rollups.
    whole = (
        group != "service"
        and first.day == 1
        and rfirst.day == 1
        and (last == month_end(last) or last >= reports.today())
    )
    if whole:
        key = _MONTH_KEYS[group]
        q_sql = f"""SELECT {key}, sum(n), sum(done), sum(skipped), sum(wait_n), sum(wait_sum_s),
                           sum(within_15), sum(service_n), sum(service_sum_s)
                    FROM month_queue WHERE month BETWEEN %(first)s AND %(last)s{only} GROUP BY 1"""
        r_sql = f"""SELECT {key}, sum(n), sum(satisfied), sum(n) FILTER (WHERE score = 3),
                           sum(n) FILTER (WHERE score = 2), sum(n) FILTER (WHERE score = 1)
                    FROM month_ratings WHERE month BETWEEN %(rfirst)s AND %(last)s{only} GROUP BY 1"""
    else:
        key = _KEYS[group]
        q_sql = f"""SELECT {key}, sum(n), sum(done), sum(skipped), sum(wait_n), sum(wait_sum_s),
                           sum(within_15), sum(service_n), sum(service_sum_s)
                    FROM day_queue WHERE day BETWEEN %(first)s AND %(last)s{only} GROUP BY 1"""
        r_sql = f"""SELECT {key}, sum(n), sum(satisfied), sum(n) FILTER (WHERE score = 3),
                           sum(n) FILTER (WHERE score = 2), sum(n) FILTER (WHERE score = 1)
                    FROM day_ratings WHERE day BETWEEN %(rfirst)s AND %(last)s{only} GROUP BY 1"""
    q = conn.execute(q_sql, params).fetchall()  # built from constants
    r = conn.execute(r_sql, params).fetchall()
    out: dict[str, dict[str, Any]] = {}

    def row(k: str) -> dict[str, Any]:
        return out.setdefault(k, {
            "tickets": 0, "served": 0, "skipped": 0, "waited": 0, "mean_wait_s": None, "within_15": None,
            "mean_service_s": None, "ratings": 0, "satisfied": 0, "very_satisfied": 0,
            "fairly_satisfied": 0, "not_satisfied": 0, "satisfaction": None,
        })  # fmt: skip

    for k, n, done, skipped, wait_n, wait_sum, within, service_n, service_sum in q:
        row(k).update({
            "tickets": int(n or 0), "served": int(done or 0), "skipped": int(skipped or 0),
            "waited": int(wait_n or 0), "mean_wait_s": _ratio(wait_sum, wait_n),
            "within_15": _ratio(within, wait_n), "mean_service_s": _ratio(service_sum, service_n),
        })  # fmt: skip
    for k, n, sat, a, b, c in r:
        row(k).update({
            "ratings": int(n or 0), "satisfied": int(sat or 0), "very_satisfied": int(a or 0),
            "fairly_satisfied": int(b or 0), "not_satisfied": int(c or 0), "satisfaction": _ratio(sat, n),
        })  # fmt: skip
    return out


def flags(
    row: dict[str, Any], wait_key: str = "mean_wait_s", sat_key: str = "satisfaction"
) -> dict[str, Any]:
    """Whether a row meets the targets (None: no figure yet)."""
    wait, sat = row.get(wait_key), row.get(sat_key)
    return {
        "wait_ok": None if wait is None else wait <= reports.WAIT_TARGET_S,
        "satisfaction_ok": None if sat is None else sat >= reports.SATISFACTION_TARGET,
    }


def _badness(c: dict[str, Any]) -> float:
    """How much a centre needs looking at (the dashboard's "worst first"): a dead link, alerts,
    misses of the targets, people waiting."""
    score = 0.0
    if c["link"] == "down":
        score += 1000
    score += 50 * len(c["device_alerts"])
    if c["wait_ok"] is False:
        score += 200 + (c["mean_wait_s"] or 0) / 60
    if c["satisfaction_ok"] is False:
        score += 200 + 100 * (reports.SATISFACTION_TARGET - (c["satisfaction_quarter"] or 0))
    return score + c["waiting"] / 10


def dashboard(store: Store, day: date, site: str | None = None) -> dict[str, Any]:
    """Every centre (or the one of a centre token): live summary, today's figures, the quarter's
    satisfaction and the targets met; plus the province's totals."""
    q_start, q_end = reports.quarter_of(day)
    live = {c["site"]: c for c in store.live(site)}
    with store.pool.connection() as conn:
        today = {c["site"]: c for c in reports.centres(conn, day, site)}
        total = aggregate(conn, day, day, "all", site, ratings_first=q_start).get("")
    centres = []
    for sid, lv in live.items():
        t = today.get(sid) or {}
        c = {
            **lv,
            "tickets_today": t.get("tickets_today", 0),
            "mean_wait_s": t.get("mean_wait_s"),
            "within_15": t.get("within_15"),
            "ratings_quarter": t.get("ratings_quarter", 0),
            "satisfaction_quarter": t.get("satisfaction_quarter"),
        }
        c.update(flags(c, "mean_wait_s", "satisfaction_quarter"))
        c["attention"] = round(_badness(c), 2)
        centres.append(c)
    total = total or {}
    totals = {
        "centres": len(centres),
        "links_down": sum(1 for c in centres if c["link"] == "down"),
        "links_unknown": sum(1 for c in centres if c["link"] == "unknown"),
        "waiting": sum(c["waiting"] for c in centres),
        "counters_open": sum(c["counters_open"] for c in centres),
        "counters": sum(c["counters"] for c in centres),
        "centres_with_alerts": sum(1 for c in centres if c["device_alerts"]),
        "device_alerts": sum(len(c["device_alerts"]) for c in centres),
        "tickets_today": total.get("tickets", 0),
        "mean_wait_s": total.get("mean_wait_s"),
        "within_15": total.get("within_15"),
        "ratings_quarter": total.get("ratings", 0),
        "satisfaction_quarter": total.get("satisfaction"),
        "centres_missing_wait": sum(1 for c in centres if c["wait_ok"] is False),
        "centres_missing_satisfaction": sum(1 for c in centres if c["satisfaction_ok"] is False),
    }
    totals.update(flags(totals, "mean_wait_s", "satisfaction_quarter"))
    return {
        "day": day.isoformat(),
        "quarter": f"{q_start.year}-Q{(q_start.month - 1) // 3 + 1}",
        "quarter_start": q_start.isoformat(),
        "quarter_end": q_end.isoformat(),
        "targets": {"wait_s": reports.WAIT_TARGET_S, "satisfaction": reports.SATISFACTION_TARGET},
        "totals": totals,
        "centres": centres,
    }


def centre(store: Store, site: str, day: date, months: int = 12) -> dict[str, Any] | None:
    """One centre in depth: live, today per service, its monthly trend (``months`` to ``day``), and
    its officers this quarter. None for an unknown centre."""
    live = store.live(site)
    if not live:
        return None
    (lv,) = live
    q_start, q_end = reports.quarter_of(day)
    first = add_months(month_start(day), -(months - 1))
    with store.pool.connection() as conn:
        per_service = aggregate(conn, day, day, "service", site)
        trend = aggregate(conn, first, day, "month", site)
        officers = reports.officers_quarter(conn, q_start, q_end, site)
        today = aggregate(conn, day, day, "all", site, ratings_first=q_start).get("") or {}
        state = conn.execute("SELECT state FROM site_live WHERE site = %s", (site,)).fetchone()
    live_services = ((state[0] if state else None) or {}).get("services") or {}
    names = {
        sid: (s.get("name") if isinstance(s, dict) and isinstance(s.get("name"), str) else sid)
        for sid, s in live_services.items()
    }
    services = []
    for sid in sorted(set(per_service) | set(live_services)):
        s = per_service.get(sid) or {}
        found = live_services.get(sid)
        ls: dict[str, Any] = found if isinstance(found, dict) else {}
        row = {
            "service": sid,
            "name": names.get(sid, sid),
            "waiting": int(ls.get("waiting") or 0) if isinstance(ls.get("waiting"), int) else 0,
            "est_wait_s": ls.get("est_wait_s") if isinstance(ls.get("est_wait_s"), int | float) else None,
            "open": ls.get("open") if isinstance(ls.get("open"), bool) else None,
            "tickets": s.get("tickets", 0),
            "served": s.get("served", 0),
            "mean_wait_s": s.get("mean_wait_s"),
            "within_15": s.get("within_15"),
            "ratings": s.get("ratings", 0),
            "satisfaction": s.get("satisfaction"),
        }
        row.update(flags(row))
        services.append(row)
    months_out = []
    m = first
    while m <= day:
        k = m.isoformat()[:7]
        row = {"month": k, **(trend.get(k) or aggregate_empty())}
        row.update(flags(row))
        months_out.append(row)
        m = add_months(m, 1)
    for o in officers:
        o.update(flags(o))
    summary = {
        "tickets_today": today.get("tickets", 0),
        "served_today": today.get("served", 0),
        "mean_wait_s": today.get("mean_wait_s"),
        "within_15": today.get("within_15"),
        "ratings_quarter": today.get("ratings", 0),
        "satisfaction_quarter": today.get("satisfaction"),
    }
    summary.update(flags(summary, "mean_wait_s", "satisfaction_quarter"))
    return {
        "day": day.isoformat(),
        "quarter": f"{q_start.year}-Q{(q_start.month - 1) // 3 + 1}",
        "targets": {"wait_s": reports.WAIT_TARGET_S, "satisfaction": reports.SATISFACTION_TARGET},
        "live": lv,
        "today": summary,
        "services": services,
        "months": months_out,
        "officers": officers,
    }


def aggregate_empty() -> dict[str, Any]:
    return {
        "tickets": 0, "served": 0, "skipped": 0, "waited": 0, "mean_wait_s": None, "within_15": None,
        "mean_service_s": None, "ratings": 0, "satisfied": 0, "very_satisfied": 0, "fairly_satisfied": 0,
        "not_satisfied": 0, "satisfaction": None,
    }  # fmt: skip


def trends(store: Store, first: date, last: date, site: str | None = None) -> dict[str, Any]:
    """Per month: the province's (or the centre's) totals, and each centre's figures."""
    names = {s["site"]: s["name"] for s in store.live(site)}
    with store.pool.connection() as conn:
        totals = aggregate(conn, first, last, "month", site)
        rows = reports.monthly(conn, first, last, site)
    months = []
    m = first
    while m <= last:
        k = m.isoformat()[:7]
        row = {"month": k, **(totals.get(k) or aggregate_empty())}
        row.update(flags(row))
        months.append(row)
        m = add_months(m, 1)
    for r in rows:
        r["name"] = names.get(r["site"], r["site"])
        r.update(flags(r))
    return {"from": first.isoformat()[:7], "to": last.isoformat()[:7], "months": months, "centres": rows}


def ranking(store: Store, first: date, last: date, site: str | None = None) -> dict[str, Any]:
    """Centres ranked over the months ``first``..``last``: best satisfaction first, then shortest
    mean wait (``reports.ranking``); a centre with no figures ranks last."""
    names = {s["site"]: s["name"] for s in store.live(None)}
    with store.pool.connection() as conn:
        by_site = aggregate(conn, first, last, "site")
    rows = []
    for sid, name in names.items():
        row = {"site": sid, "name": name, **(by_site.get(sid) or aggregate_empty())}
        row.update(flags(row))
        rows.append(row)
    ranked = reports.ranking(rows)
    for r in ranked:
        r["of"] = len(ranked)
    if site is not None:  # a centre sees its own place, not the others' figures
        ranked = [r for r in ranked if r["site"] == site]
    return {"from": first.isoformat()[:7], "to": last.isoformat()[:7], "centres": ranked}
