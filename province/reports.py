"""The province's figures: every centre today, the TT01 quarterly per-officer report across centres,
and monthly trends with rankings. All read the rollups (``day_queue``, ``day_ratings``), never the
records, so they stay fast with years of tickets (docs/province.md "Scale").

Targets (DOMAIN.md): mean wait at most 15 minutes, satisfaction at least 95 %.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

VN = ZoneInfo("Asia/Ho_Chi_Minh")
WAIT_TARGET_S = 15 * 60
SATISFACTION_TARGET = 0.95
#: Scores as the default rating levels name them (best first, score = 3 - index).
LEVELS = {3: "Rất hài lòng", 2: "Hài lòng", 1: "Không hài lòng"}


def today() -> date:
    return datetime.now(VN).date()


def quarter_of(day: date) -> tuple[date, date]:
    """First and last day of ``day``'s quarter."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + 3
    end = date(day.year + (end_month > 12), (end_month - 1) % 12 + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def _ratio(a: float | None, b: float | None) -> float | None:
    return float(a) / float(b) if a is not None and b else None


def centres(conn: psycopg.Connection, day: date, site: str | None = None) -> list[dict[str, Any]]:
    """Per centre: today's tickets, mean wait, share called within 15 minutes; the quarter's
    satisfaction (to ``day``)."""
    q_start, _ = quarter_of(day)
    where, params = ("", {"day": day, "qstart": q_start, "site": site})
    if site is not None:
        where = " AND s.id = %(site)s"
    rows = conn.execute(
        f"""
        WITH q AS (SELECT site, sum(n) AS n, sum(wait_n) AS wait_n, sum(wait_sum_s) AS wait_sum,
                          sum(within_15) AS within_15
                   FROM day_queue WHERE day = %(day)s GROUP BY site),
             r AS (SELECT site, sum(n) AS n, sum(satisfied) AS satisfied
                   FROM day_ratings WHERE day BETWEEN %(qstart)s AND %(day)s GROUP BY site)
        SELECT s.id, s.name, q.n, q.wait_n, q.wait_sum, q.within_15, r.n, r.satisfied
        FROM sites s LEFT JOIN q ON q.site = s.id LEFT JOIN r ON r.site = s.id
        WHERE true{where}
        ORDER BY s.id""",  # where is a constant
        params,
    ).fetchall()
    out = []
    for sid, name, n, wait_n, wait_sum, within, rn, rsat in rows:
        out.append({
            "site": sid, "name": name, "tickets_today": int(n or 0),
            "mean_wait_s": _ratio(wait_sum, wait_n), "within_15": _ratio(within, wait_n),
            "ratings_quarter": int(rn or 0), "satisfaction_quarter": _ratio(rsat, rn),
        })  # fmt: skip
    return out


def officers_quarter(
    conn: psycopg.Connection, start: date, end: date, site: str | None = None
) -> list[dict[str, Any]]:
    """Thông tư 01/2018: per officer (one row per person, across centres), the ratings of the
    quarter by level, and the share satisfied."""
    rows = conn.execute(
        """
        SELECT coalesce(o.person, r.officer) AS person, max(o.name) AS name,
               array_agg(DISTINCT r.site ORDER BY r.site) AS sites,
               sum(r.n) FILTER (WHERE r.score = 3), sum(r.n) FILTER (WHERE r.score = 2),
               sum(r.n) FILTER (WHERE r.score = 1), sum(r.n), sum(r.satisfied)
        FROM day_ratings r LEFT JOIN officers o ON o.site = r.site AND o.officer = r.officer
        WHERE r.day BETWEEN %(start)s AND %(end)s AND r.officer <> ''
              AND (%(site)s::text IS NULL OR r.site = %(site)s)
        GROUP BY 1 ORDER BY 1""",
        {"start": start, "end": end, "site": site},
    ).fetchall()
    return [
        {
            "officer": person,
            "name": name,
            "centres": list(sites),
            "very_satisfied": int(a or 0),
            "satisfied": int(b or 0),
            "not_satisfied": int(c or 0),
            "ratings": int(n or 0),
            "satisfaction": _ratio(sat, n),
        }
        for person, name, sites, a, b, c, n, sat in rows
    ]


def monthly(
    conn: psycopg.Connection, first: date, last: date, site: str | None = None
) -> list[dict[str, Any]]:
    """Per month and centre, for the months from ``first``'s to ``last``'s (whole months, read from the
    monthly rollups): tickets, mean wait, share within 15 minutes, satisfaction."""
    where = "month BETWEEN %(first)s AND %(last)s" + (" AND site = %(site)s" if site is not None else "")
    rows = conn.execute(
        f"""
        WITH q AS (SELECT site, month, n, wait_n, wait_sum_s, within_15 FROM month_queue WHERE {where}),
             r AS (SELECT site, month, sum(n) AS n, sum(satisfied) AS sat FROM month_ratings WHERE {where}
                   GROUP BY 1, 2)
        SELECT coalesce(q.site, r.site), coalesce(q.month, r.month), q.n, q.wait_n, q.wait_sum_s, q.within_15,
               r.n, r.sat
        FROM q FULL JOIN r ON r.site = q.site AND r.month = q.month
        ORDER BY 2, 1""",  # where is one of two constants
        {"first": date(first.year, first.month, 1), "last": last, "site": site},
    ).fetchall()
    return [
        {
            "site": s,
            "month": m.isoformat()[:7],
            "tickets": int(n or 0),
            "mean_wait_s": _ratio(ws, wn),
            "within_15": _ratio(w15, wn),
            "ratings": int(rn or 0),
            "satisfaction": _ratio(rs, rn),
        }
        for s, m, n, wn, ws, w15, rn, rs in rows
    ]


def ranking(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Centres of one month ranked: best satisfaction first, then shortest mean wait."""

    def key(r: dict[str, Any]) -> tuple[float, float]:
        sat = r["satisfaction"] if r["satisfaction"] is not None else -1.0
        wait = r["mean_wait_s"] if r["mean_wait_s"] is not None else float("inf")
        return (-sat, wait)

    ranked = sorted(rows, key=key)
    return [{**r, "rank": i + 1} for i, r in enumerate(ranked)]


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """CSV with a UTF-8 BOM (Excel opens Vietnamese correctly) and Vietnamese headers."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow([title for _, title in columns])
    for r in rows:
        w.writerow([_cell(r.get(k)) for k, _ in columns])
    return buf.getvalue()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return str(v)
