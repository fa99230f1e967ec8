"""Report figures over the hub's store: plain functions of (store, site config, parameters).

How figures are computed (docs/hub.md says the same for managers):

- A ticket belongs to its **business day**, the date in its id (``20260331-A012``): the controller's
  day, which starts at ``[site] day_starts`` in the site's time zone. Months, quarters and years are
  those of that day, so a ticket issued at 23:30 on 31 March (UTC+7) is in Q1 even though it is
  16:30 UTC. A rating belongs to the business day of the ticket it rates.
- ``issued``: tickets of the group in the period; ``served``: ended ``done``; ``skipped``: no-shows;
  ``expired``: still waiting when the day closed; ``open``: waiting or called right now.
- Wait: from issue to the **first** call, over every ticket called at least once: served, skipped,
  being called or served right now, or transferred to another line after a call (its wait is still
  the one to its first call; the time in the second line is not added). Tickets never called (waiting
  now, expired) have no wait: they are counted in ``open`` and ``expired``.
  ``wait_mean_s``; ``wait_p90_s`` by nearest rank (the smallest wait with at least 90 % of waits at
  or below it: the ``ceil(0.9 n)``-th smallest); ``within_target``: share of waits ≤ 15 minutes.
- Service time: from the (last) call to the end, over ``done`` tickets.
- Satisfaction: ratings whose score is at least ``[rating] satisfied_min`` **as configured when the
  report is made** (derived from the stored score, not from the flag recorded at rating time, so that
  changing the threshold judges every rating the same way) / all ratings, with the count of each level.

Groups: ``site`` (the whole unit), ``service`` (the ticket's service at its end, after transfers),
``counter`` (the counter that called it last) and ``officer`` (the officer at that counter).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

from hub_api.store import HubStore
from onestop.config import SiteConfig

Period = Literal["day", "month", "quarter", "year"]
Group = Literal["site", "service", "counter", "officer"]
PERIODS: tuple[Period, ...] = ("day", "month", "quarter", "year")
GROUPS: tuple[Group, ...] = ("site", "service", "counter", "officer")
#: The wait target: at most 15 minutes per visit.
TARGET_WAIT_S = 15 * 60
#: The satisfaction target: at least 95 %.
TARGET_SATISFACTION = 0.95
#: The percentile of waits in the reports.
P90 = 0.9
#: Edges (minutes) of the wait distribution on the dashboard.
WAIT_BUCKETS_MIN = (0, 5, 10, 15, 20, 30, 45, 60)


# -- dates and periods --------------------------------------------------------------------------
def day_of(ticket_day: str) -> date:
    """The date of a business day as stored (``yyyymmdd``)."""
    return date(int(ticket_day[:4]), int(ticket_day[4:6]), int(ticket_day[6:8]))


def day_key(d: date) -> str:
    """A date as stored in ticket ids (``yyyymmdd``)."""
    return f"{d:%Y%m%d}"


def quarter_of(d: date) -> int:
    """The quarter (1-4) of a date."""
    return (d.month - 1) // 3 + 1


def period_key(d: date, period: Period) -> str:
    """The period a date falls in: ``2026-03-31``, ``2026-03``, ``2026-Q1`` or ``2026``."""
    if period == "day":
        return d.isoformat()
    if period == "month":
        return f"{d:%Y-%m}"
    if period == "quarter":
        return f"{d.year}-Q{quarter_of(d)}"
    return str(d.year)


def quarter_range(year: int, quarter: int | None) -> tuple[date, date]:
    """First and last day of a quarter (1-4), or of the whole year when ``quarter`` is None."""
    if quarter is None:
        return date(year, 1, 1), date(year, 12, 31)
    if not 1 <= quarter <= 4:
        raise ValueError(f"quarter must be 1-4, got {quarter}")
    first = date(year, 3 * quarter - 2, 1)
    nxt = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, nxt - timedelta(days=1)


def business_day(ts: str | datetime, cfg: SiteConfig) -> date:
    """The site's business day of a timestamp (site time zone, day starting at ``day_starts``)."""
    dt = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    local = dt.astimezone(cfg.site.tz)
    start = cfg.site.day_start_time
    shifted = local - timedelta(hours=start.hour, minutes=start.minute)
    return shifted.date()


# -- statistics ------------------------------------------------------------------------------------
def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile by nearest rank: the ``ceil(q n)``-th smallest value (None when empty).

    ``q n`` is computed exactly (``0.9 * 70`` is 63.000000000000014 in floating point, whose ceiling
    would be the 64th value instead of the 63rd)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(str(q)) * len(ordered)))
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean (None when empty)."""
    return sum(values) / len(values) if values else None


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


# -- figures ---------------------------------------------------------------------------------------
@dataclass
class Figures:
    """One row of a report: a group in a period."""

    period: str
    group: str
    key: str | None
    name: str
    issued: int = 0
    served: int = 0
    skipped: int = 0
    expired: int = 0
    open: int = 0
    waits: int = 0
    wait_mean_s: float | None = None
    wait_p90_s: float | None = None
    within_target: float | None = None
    service_mean_s: float | None = None
    ratings: int = 0
    satisfied: int = 0
    satisfaction: float | None = None
    levels: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        return asdict(self)


def _names(cfg: SiteConfig, group: Group) -> dict[str, str]:
    if group == "service":
        return {s.id: s.name for s in cfg.services}
    if group == "counter":
        return {c.id: c.label for c in cfg.counters}
    if group == "officer":
        return {o.id: o.name for o in cfg.officers}
    return {cfg.site.id: cfg.site.name}


#: SQL for the period of a stored business day (``yyyymmdd``); :func:`period_key` names it.
_PERIOD_SQL: dict[Period, str] = {
    "day": "{d}",
    "month": "substr({d}, 1, 6)",
    "quarter": "substr({d}, 1, 4) || ((CAST(substr({d}, 5, 2) AS INTEGER) + 2) / 3)",
    "year": "substr({d}, 1, 4)",
}
#: SQL for the group of a ticket or rating row (the whole unit is one group).
_GROUP_SQL: dict[Group, str] = {
    "site": "''",
    "service": "service",
    "counter": "counter",
    "officer": "officer",
}
#: The business day of a rating: that of the ticket it rates (indexed as ``ratings_day``).
_RATING_DAY = "day"


def _rank(q: float, n: int) -> int:
    """The nearest rank ``ceil(q n)`` of ``n`` values, computed exactly (at least 1)."""
    return max(1, math.ceil(Fraction(str(q)) * n))


def report(
    store: HubStore, cfg: SiteConfig, *, by: Group, period: Period, start: date, end: date
) -> list[Figures]:
    """Figures per ``by`` group and per ``period`` for the business days ``start``..``end``.

    SQLite aggregates: one pass over the covering index ``tickets_report`` counts the tickets per
    group, status and minute of wait (a histogram), which gives every figure but the exact 90th
    percentile; the histogram says in which minute that value lies and at which rank, and a second
    pass reads the waits of those minutes only. No sort of all the waits, no row per ticket in Python."""
    names = _names(cfg, by)
    levels = list(cfg.rating.levels)
    span = (day_key(start), day_key(end))
    grp = _GROUP_SQL[by]
    p_ticket = _PERIOD_SQL[period].format(d="day")
    rows: dict[tuple[str, str | None], Figures] = {}
    periods: dict[str, str] = {}  # SQL period -> period key
    keys: dict[tuple[str, str | None], tuple[str, str | None]] = {}  # SQL (period, group) -> row key

    def row(p: str, first_day: str, k: str | None) -> Figures:
        pk = periods.setdefault(p, period_key(day_of(first_day), period))
        key = cfg.site.id if by == "site" else k
        keys[(p, k)] = (pk, key)
        if (pk, key) not in rows:
            name = names.get(key, key) if key is not None else "—"
            rows[(pk, key)] = Figures(pk, by, key, name or "—", levels={lv: 0 for lv in levels})
        return rows[(pk, key)]

    wait_sum: dict[tuple[str, str | None], float] = defaultdict(float)
    within: dict[tuple[str, str | None], int] = defaultdict(int)
    service: dict[tuple[str, str | None], tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    minutes: dict[tuple[str, str | None], dict[int, int]] = defaultdict(dict)
    for p, first_day, k, status, minute, n, waits, waited, ok, served_n, served_s in store.rows(
        f"""SELECT {p_ticket}, MIN(day), {grp}, status, CAST(wait_s / 60 AS INTEGER), COUNT(*),
                   COUNT(wait_s), SUM(wait_s), SUM(wait_s <= ?), COUNT(service_s), SUM(service_s)
            FROM tickets WHERE day BETWEEN ? AND ? GROUP BY 1, 3, 4, 5""",
        (TARGET_WAIT_S, *span),
    ):
        f = row(p, first_day, k)
        g = (p, k)
        f.issued += n
        if status == "done":
            f.served += n
            count, total = service[g]
            service[g] = (count + served_n, total + (served_s or 0.0))
        elif status == "skipped":
            f.skipped += n
        elif status == "expired":
            f.expired += n
        else:
            f.open += n
        if waits:
            f.waits += waits
            wait_sum[g] += waited
            within[g] += ok
            minutes[g][minute] = minutes[g].get(minute, 0) + waits
    # Where the nearest rank of each group lies: (its minute, its rank among that minute's waits).
    p90_at: dict[tuple[str, str | None, int], int] = {}
    for g, hist in minutes.items():
        rank = _rank(P90, sum(hist.values()))
        for minute in sorted(hist):
            if rank <= hist[minute]:
                p90_at[(*g, minute)] = rank
                break
            rank -= hist[minute]
    found: dict[tuple[str, str | None, int], list[float]] = defaultdict(list)
    wanted = sorted({m for _p, _k, m in p90_at})
    if wanted:
        marks = ", ".join("?" * len(wanted))
        for p, k, minute, wait in store.rows(
            f"""SELECT {p_ticket}, {grp}, CAST(wait_s / 60 AS INTEGER) AS m, wait_s FROM tickets
                WHERE day BETWEEN ? AND ? AND wait_s IS NOT NULL AND m IN ({marks})""",
            (*span, *wanted),
        ):
            if (p, k, minute) in p90_at:
                found[(p, k, minute)].append(wait)
    for (p, k, minute), rank in p90_at.items():
        rows[keys[(p, k)]].wait_p90_s = _r(sorted(found[(p, k, minute)])[rank - 1])
    for g, (p_k) in keys.items():
        f = rows[p_k]
        if f.waits:
            f.wait_mean_s = _r(wait_sum[g] / f.waits)
            f.within_target = _r(within[g] / f.waits, 4)
        count, total = service[g]
        f.service_mean_s = _r(total / count) if count else None
    p_rating = _PERIOD_SQL[period].format(d=_RATING_DAY)
    for p, first_day, k, level, n, satisfied in store.rows(
        f"""SELECT {p_rating}, MIN({_RATING_DAY}), {grp}, level, COUNT(*), SUM(score >= ?) FROM ratings
            WHERE {_RATING_DAY} BETWEEN ? AND ? GROUP BY 1, 3, 4""",
        (cfg.rating.satisfied_min, *span),
    ):
        f = row(p, first_day, k)
        f.ratings += n
        f.satisfied += satisfied
        f.levels[level] = f.levels.get(level, 0) + n
    for f in rows.values():
        f.satisfaction = round(f.satisfied / f.ratings, 4) if f.ratings else None
    order = {key: i for i, key in enumerate(names)}
    return sorted(rows.values(), key=lambda f: (f.period, order.get(f.key or "", len(order)), f.key or "~"))


# -- Thông tư 01/2018: ratings per officer, per quarter or year -------------------------------
@dataclass
class OfficerRating:
    """One officer's ratings in a quarter or a year (or the unit's total when ``officer`` is None)."""

    period: str
    officer: str | None
    name: str
    title: str
    unit: str
    levels: dict[str, int]
    ratings: int
    satisfied: int
    satisfaction: float | None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        return asdict(self)


def officer_ratings(store: HubStore, cfg: SiteConfig, year: int, quarter: int | None) -> list[OfficerRating]:
    """Every officer's ratings per level and satisfaction in a quarter (or the year), then the unit's
    total. Officers of ``site.toml`` without ratings are listed too (with no satisfaction)."""
    start, end = quarter_range(year, quarter)
    period = f"{year}-Q{quarter}" if quarter else str(year)
    levels = list(cfg.rating.levels)
    unit = cfg.site.name
    rows: dict[str | None, OfficerRating] = {}
    for o in cfg.officers:
        rows[o.id] = OfficerRating(period, o.id, o.name, o.title, unit, dict.fromkeys(levels, 0), 0, 0, None)
    total = OfficerRating(period, None, "Toàn đơn vị", "", unit, dict.fromkeys(levels, 0), 0, 0, None)
    for oid, level, n, satisfied in store.rows(
        f"""SELECT officer, level, COUNT(*), SUM(score >= ?) FROM ratings
            WHERE {_RATING_DAY} BETWEEN ? AND ? GROUP BY officer, level""",
        (cfg.rating.satisfied_min, day_key(start), day_key(end)),
    ):
        if oid not in rows:
            rows[oid] = OfficerRating(
                period, oid, oid or "(không rõ cán bộ)", "", unit, dict.fromkeys(levels, 0), 0, 0, None
            )
        for target in (rows[oid], total):
            target.levels[level] = target.levels.get(level, 0) + n
            target.ratings += n
            target.satisfied += satisfied
    out = [*rows.values(), total]
    for x in out:
        x.satisfaction = round(x.satisfied / x.ratings, 4) if x.ratings else None
    return out


# -- dashboard figures -----------------------------------------------------------------------------
def arrivals_by_hour(store: HubStore, cfg: SiteConfig, day: date) -> list[int]:
    """Tickets issued on a business day per local hour of the site (24 counts)."""
    hours = [0] * 24
    # One group per hour and UTC offset as written: every ticket of a group is in the same local hour.
    for first, n in store.rows(
        """SELECT MIN(issued_at), COUNT(*) FROM tickets WHERE day = ?
           GROUP BY substr(issued_at, 1, 13), substr(issued_at, -6)""",
        (day_key(day),),
    ):
        hours[datetime.fromisoformat(first).astimezone(cfg.site.tz).hour] += n
    return hours


def wait_distribution(store: HubStore, day: date) -> list[dict[str, Any]]:
    """Waits of a business day's called tickets in buckets of minutes: ``0-5`` holds waits up to and
    including 5 minutes, ``5-10`` more than 5 up to 10, ..., ``60+`` more than an hour; so the buckets
    up to ``10-15`` are exactly the waits within the 15-minute target."""
    edges: list[int | None] = [*WAIT_BUCKETS_MIN, None]
    counts = [0] * (len(edges) - 1)
    tops = WAIT_BUCKETS_MIN[1:]
    bucket = "CASE " + " ".join(f"WHEN wait_s <= {top * 60} THEN {i}" for i, top in enumerate(tops))
    bucket += f" ELSE {len(tops)} END"
    for i, n in store.rows(
        f"SELECT {bucket}, COUNT(*) FROM tickets WHERE day = ? AND wait_s IS NOT NULL GROUP BY 1",
        (day_key(day),),
    ):
        counts[i] = n
    return [
        {"from_min": a, "to_min": b, "label": f"{a}-{b}" if b is not None else f"{a}+", "count": n}
        for (a, b), n in zip(itertools.pairwise(edges), counts, strict=True)
    ]


# -- CSV -------------------------------------------------------------------------------------------
def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV in UTF-8 with a byte order mark, so that Excel shows Vietnamese letters correctly."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 1)


def report_csv(rows: list[Figures], levels: Sequence[str]) -> bytes:
    """A report as CSV (one column per rating level)."""
    header = [
        "Kỳ",
        "Nhóm",
        "Mã",
        "Tên",
        "Số phiếu",
        "Đã phục vụ",
        "Vắng mặt (bỏ qua)",
        "Hết hạn",
        "Đang xử lý",
        "Chờ TB (phút)",
        "Chờ P90 (phút)",
        "Chờ ≤ 15 phút (%)",
        "Phục vụ TB (phút)",
        "Lượt đánh giá",
        "Hài lòng",
        "Tỷ lệ hài lòng (%)",
        *levels,
    ]

    def minutes(s: float | None) -> float | None:
        return None if s is None else round(s / 60, 1)

    body = (
        [
            f.period,
            f.group,
            f.key,
            f.name,
            f.issued,
            f.served,
            f.skipped,
            f.expired,
            f.open,
            minutes(f.wait_mean_s),
            minutes(f.wait_p90_s),
            _pct(f.within_target),
            minutes(f.service_mean_s),
            f.ratings,
            f.satisfied,
            _pct(f.satisfaction),
            *(f.levels.get(lv, 0) for lv in levels),
        ]
        for f in rows
    )
    return to_csv(header, body)


def officer_ratings_csv(rows: list[OfficerRating], levels: Sequence[str]) -> bytes:
    """The Thông tư 01/2018 officer report as CSV."""
    header = [
        "Kỳ",
        "Mã cán bộ",
        "Họ và tên",
        "Chức vụ",
        "Đơn vị",
        *levels,
        "Tổng số đánh giá",
        "Hài lòng",
        "Tỷ lệ hài lòng (%)",
    ]
    body = (
        [
            r.period,
            r.officer,
            r.name,
            r.title,
            r.unit,
            *(r.levels.get(lv, 0) for lv in levels),
            r.ratings,
            r.satisfied,
            _pct(r.satisfaction),
        ]
        for r in rows
    )
    return to_csv(header, body)
