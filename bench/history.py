"""history: the hub's reports, dashboard and ticket list over 30 days of a busy centre (~1,000,000 tickets).

The hub database is built the way the hub builds it: synthetic controller events (``ticket.issued``,
``ticket.called``, ``ticket.done`` / ``ticket.skipped`` / ``ticket.expired``, ``rating.recorded``, with
the shapes the controller publishes) applied through :meth:`HubStore.apply` in large transactions, so
the events, tickets, ratings and outbox rows are exactly the hub's own. The mix: 12 services of
uneven weight, 60 counters serving 1-3 services, 80 officers rotating over the counters day by day,
arrivals peaking in the morning, waits and service times drawn from skewed (log-normal) laws, ~92 %
served, ~5 % no-shows, ~3 % expired, ~5 % priority, ~60 % of the served tickets rated. The last of the
30 business days is today (in the site's time zone), so the dashboard has a full day to show.

Then every query is timed through the hub's own app, in-process (FastAPI's test client, the manager's
token; JSON serialisation included), as the median of ``repeats`` runs: reports per service, counter,
officer and the whole unit x day, month, quarter, year (over the 30 days, and per day over one day),
the quarterly officer report, the dashboard, the ticket list with filters and deep paging, one
ticket and its public status. ``EXPLAIN QUERY PLAN`` of the SQL behind each slow one is printed, and
with ``indexes`` the same queries are timed again after creating candidate indexes on the bench
database (a prototype of a product change, not the product's schema).
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.common import base_site, machine_info, to_toml
from hub_api import reports as rp
from hub_api.app import Hub, create_app
from hub_api.live import LiveState
from hub_api.store import HubStore
from hub_api.tokens import admin_token_path
from onestop import config
from onestop.config import SiteConfig

NAME = "history"
#: A query slower than this on the full history is explained and worth an index or a rewrite.
SLOW_S = 1.0
EVENTS_PER_TRANSACTION = 50_000
#: A query is run ``repeats`` times unless its runs have already taken this long (seconds).
BUDGET_S = 20.0
SERVICES = [
    ("tuphap", "Tư pháp - Hộ tịch", 18),
    ("datdai", "Đất đai", 16),
    ("dkkd", "Đăng ký kinh doanh", 12),
    ("xaydung", "Xây dựng", 8),
    ("laodong", "Lao động - Thương binh và Xã hội", 9),
    ("giaothong", "Giao thông vận tải", 10),
    ("tainguyen", "Tài nguyên - Môi trường", 5),
    ("yte", "Y tế", 4),
    ("giaoduc", "Giáo dục - Đào tạo", 5),
    ("congthuong", "Công thương", 5),
    ("nongnghiep", "Nông nghiệp", 4),
    ("tuvan", "Tư vấn, hướng dẫn", 4),
]
COUNTERS = 60
OFFICERS = 80
LEVELS = ["Rất hài lòng", "Hài lòng", "Không hài lòng"]
#: Share of the day's arrivals per local hour (07 h .. 16 h), a morning peak and a smaller afternoon one.
HOURS = {7: 10, 8: 16, 9: 15, 10: 12, 11: 5, 13: 6, 14: 14, 15: 13, 16: 9}
#: Candidate indexes prototyped with ``indexes=True`` (name, SQL).
CANDIDATE_INDEXES = [
    # The ticket list's ORDER BY day DESC, issued_at DESC, id DESC, walked backwards: no sort, no scan.
    ("tickets_list", "CREATE INDEX IF NOT EXISTS bench_tickets_list ON tickets(day, issued_at, id)"),
    (
        "tickets_service_list",
        "CREATE INDEX IF NOT EXISTS bench_tickets_service ON tickets(service, day, issued_at, id)",
    ),
    (
        "tickets_counter_list",
        "CREATE INDEX IF NOT EXISTS bench_tickets_counter ON tickets(counter, day, issued_at, id)",
    ),
    # Without it the planner walks tickets_list for a rare status (?status=waiting) instead of tickets_status.
    (
        "tickets_status_list",
        "CREATE INDEX IF NOT EXISTS bench_tickets_status ON tickets(status, day, issued_at, id)",
    ),
]
#: The names of those indexes, dropped from a reused database before the first timing.
BENCH_INDEXES = [sql.split()[5] for _name, sql in CANDIDATE_INDEXES]


# -- the site ----------------------------------------------------------------------------------
def site_data() -> dict[str, Any]:
    """A provincial centre: 12 services, 60 counters (1-3 services each), 80 officers."""
    data = base_site("bench-history")
    data["services"] = [
        {"id": sid, "name": name, "prefix": chr(ord("A") + i), "digits": 4, "avg_service_min": 8}
        for i, (sid, name, _w) in enumerate(SERVICES)
    ]
    data["counters"] = [
        {
            "id": str(c + 1),
            "label": f"Quầy {c + 1}",
            "services": [SERVICES[(c + k * 5) % len(SERVICES)][0] for k in range(1 + c % 3)],
            "policy": "fifo",
        }
        for c in range(COUNTERS)
    ]
    data["officers"] = [{"id": f"cb{i + 1:03d}", "name": f"Cán bộ số {i + 1}"} for i in range(OFFICERS)]
    data["devices"] = [{"id": "kiosk-01", "role": "kiosk"}]
    data["rating"] = {"levels": LEVELS, "satisfied_min": 2, "reasons": ["Thái độ phục vụ", "Chờ lâu", "Khác"]}
    return data


# -- synthetic events --------------------------------------------------------------------------
class History:
    """Generates the controller's events of ``days`` business days ending ``last_day``."""

    def __init__(self, cfg: SiteConfig, tickets: int, days: int, last_day: date, seed: int = 2026) -> None:
        self.cfg = cfg
        self.per_day = max(1, tickets // days)
        self.days = [last_day - timedelta(days=days - 1 - i) for i in range(days)]
        self.rng = random.Random(seed)
        self.seq = 0
        self.tz = cfg.site.tz
        self.counters_of: dict[str, list[str]] = {}
        for c in cfg.counters:
            for s in c.services:
                self.counters_of.setdefault(s, []).append(c.id)
        self.weights = [w for _s, _n, w in SERVICES]
        self.service_ids = [s for s, _n, _w in SERVICES]
        self.prefix = {s.id: s.prefix for s in cfg.services}
        self.digits = {s.id: s.digits for s in cfg.services}
        self.ratings = 0

    def _event(self, kind: str, ts: datetime, data: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {"seq": self.seq, "type": kind, "ts": ts.isoformat(), "data": data}

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event, day after day, in ``seq`` order (each day's events sorted by time)."""
        hours = list(HOURS)
        hour_w = [HOURS[h] for h in hours]
        for d in self.days:
            officer_at = self._officers_of(d)
            numbers: dict[str, int] = {}
            day_events: list[tuple[datetime, int, str, dict[str, Any]]] = []
            for _ in range(self.per_day):
                service = self.rng.choices(self.service_ids, self.weights)[0]
                hour = self.rng.choices(hours, hour_w)[0]
                issued = datetime(d.year, d.month, d.day, hour, tzinfo=self.tz) + timedelta(
                    seconds=self.rng.uniform(0, 3600)
                )
                numbers[service] = numbers.get(service, 0) + 1
                day_events.extend(self._ticket(d, service, numbers[service], issued, officer_at))
            day_events.sort(key=lambda e: (e[0], e[1]))
            for ts, _order, kind, data in day_events:
                yield self._event(kind, ts, data)

    def _officers_of(self, d: date) -> dict[str, str]:
        shift = d.toordinal() % OFFICERS
        return {c.id: f"cb{(i + shift) % OFFICERS + 1:03d}" for i, c in enumerate(self.cfg.counters)}

    def _ticket(
        self, d: date, service: str, n: int, issued: datetime, officer_at: dict[str, str]
    ) -> list[tuple[datetime, int, str, dict[str, Any]]]:
        number = f"{self.prefix[service]}{n:0{self.digits[service]}d}"
        t: dict[str, Any] = {
            "id": f"{d:%Y%m%d}-{number}",
            "number": number,
            "service": service,
            "priority": self.rng.random() < 0.05,
            "status": "waiting",
            "issued_at": issued.isoformat(),
            "called_at": None,
            "counter": None,
            "first_called_at": None,
            "finished_at": None,
            "officer": None,
            "origin_service": service,
        }
        out = [(issued, 0, "ticket.issued", {"ticket": dict(t), "ahead": 0, "est_wait_s": 480})]
        fate = self.rng.random()
        if fate < 0.03:  # still waiting when the day closed
            end = datetime(d.year, d.month, d.day, 17, 30, tzinfo=self.tz)
            t.update(status="expired", finished_at=end.isoformat())
            out.append((end, 3, "ticket.expired", {"ticket": dict(t)}))
            return out
        wait = timedelta(seconds=min(4 * 3600, self.rng.lognormvariate(math.log(420), 0.8)))
        called = issued + wait
        counter = self.rng.choice(self.counters_of[service])
        t.update(
            status="called",
            called_at=called.isoformat(),
            first_called_at=called.isoformat(),
            counter=counter,
            officer=officer_at[counter],
        )
        out.append((called, 1, "ticket.called", {"ticket": dict(t), "recall": False}))
        if fate < 0.08:  # did not come
            t.update(status="skipped", finished_at=(called + timedelta(seconds=60)).isoformat())
            out.append((called + timedelta(seconds=60), 2, "ticket.skipped", {"ticket": dict(t)}))
            return out
        done = called + timedelta(seconds=min(3 * 3600, self.rng.lognormvariate(math.log(360), 0.6)))
        t.update(status="done", finished_at=done.isoformat())
        out.append((done, 2, "ticket.done", {"ticket": dict(t)}))
        if self.rng.random() < 0.65:  # ~60 % of all tickets (65 % of the served ones)
            score = self.rng.choices([3, 2, 1], [84, 12, 4])[0]
            rated = done + timedelta(seconds=self.rng.uniform(5, 60))
            r = {
                "ticket": t["id"],
                "number": number,
                "service": service,
                "counter": counter,
                "officer": t["officer"],
                "officer_name": None,
                "score": score,
                "level": LEVELS[len(LEVELS) - score],
                "satisfied": score >= 2,
                "reasons": [] if score >= 2 else [self.rng.choice(["Chờ lâu", "Thái độ phục vụ", "Khác"])],
                "comment": "",
                "rated_at": rated.isoformat(),
            }
            self.ratings += 1
            out.append((rated, 4, "rating.recorded", {"rating": r, "ticket": dict(t)}))
        return out


def build(store: HubStore, cfg: SiteConfig, tickets: int, days: int, last_day: date) -> dict[str, Any]:
    """Apply the synthetic history through :meth:`HubStore.apply`, ``EVENTS_PER_TRANSACTION`` at a time."""
    t0 = time.perf_counter()
    hist = History(cfg, tickets, days, last_day)
    batch: list[dict[str, Any]] = []
    events = 0
    for e in hist.events():
        batch.append(e)
        if len(batch) >= EVENTS_PER_TRANSACTION:
            events += store.apply(batch)
            batch = []
    if batch:
        events += store.apply(batch)
    took = time.perf_counter() - t0
    return {
        "method": "HubStore.apply (the hub's own code path), one transaction per "
        f"{EVENTS_PER_TRANSACTION} events",
        "events": events,
        "tickets": hist.per_day * days,
        "ratings": hist.ratings,
        "days": days,
        "first_day": hist.days[0].isoformat(),
        "last_day": hist.days[-1].isoformat(),
        "build_s": round(took, 1),
        "events_per_s": round(events / took) if took else None,
    }


# -- timing ------------------------------------------------------------------------------------
def _median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, int, Any]:
    """Median time (ms) of up to ``repeats`` runs (fewer once the runs so far took over ``BUDGET_S``)."""
    times, last = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        last = fn()
        times.append((time.perf_counter() - t0) * 1000)
        if sum(times) > BUDGET_S * 1000:
            break
    return round(statistics.median(times), 1), len(times), last


def queries(first: date, last: date) -> list[tuple[str, str]]:
    """(name, path) of every query timed."""
    rng = f"start={first.isoformat()}&end={last.isoformat()}"
    one = f"start={last.isoformat()}&end={last.isoformat()}"
    q = rp.quarter_of(last)
    out = []
    for by in ("service", "counter", "officer", "site"):
        for period in ("day", "month", "quarter", "year"):
            out.append((f"report {by} x {period} (30 days)", f"/api/reports?by={by}&period={period}&{rng}"))
        out.append((f"report {by} x day (one day)", f"/api/reports?by={by}&period=day&{one}"))
    out += [
        ("report service x month (30 days) csv", f"/api/reports?by=service&period=month&{rng}&format=csv"),
        (f"officer report {last.year}-Q{q}", f"/api/reports/officers?year={last.year}&quarter={q}"),
        (f"officer report {last.year} (year)", f"/api/reports/officers?year={last.year}"),
        ("officer report html", f"/api/reports/officers?year={last.year}&quarter={q}&format=html"),
        ("dashboard", "/api/dashboard"),
        ("tickets (no filter, first page)", "/api/tickets?limit=100"),
        ("tickets (no filter, offset 500000)", "/api/tickets?limit=100&offset=500000"),
        ("tickets day", f"/api/tickets?day={last:%Y%m%d}&limit=100"),
        ("tickets day + service", f"/api/tickets?day={last:%Y%m%d}&service=tuphap&limit=100"),
        ("tickets day + counter + status", f"/api/tickets?day={last:%Y%m%d}&counter=7&status=done&limit=100"),
        ("tickets service (all days)", "/api/tickets?service=datdai&limit=100"),
        ("tickets counter (all days)", "/api/tickets?counter=12&limit=100"),
        ("tickets status waiting", "/api/tickets?status=waiting&limit=100"),
        ("tickets day, offset 30000", f"/api/tickets?day={last:%Y%m%d}&limit=100&offset=30000"),
        ("events page", "/api/events?from_seq=1000000&limit=100"),
    ]
    return out


#: The SQL behind the slow candidates, for EXPLAIN QUERY PLAN (parameters as the app binds them).
def _plans(store: HubStore, first: date, last: date) -> dict[str, list[str]]:
    d = f"{last:%Y%m%d}"
    sqls = {
        # the shape of the reports' first pass over tickets, and of their ratings pass
        "report tickets (30 days)": (
            "SELECT substr(day, 1, 6), MIN(day), service, status, CAST(wait_s / 60 AS INTEGER), COUNT(*), "
            "COUNT(wait_s), SUM(wait_s) FROM tickets WHERE day BETWEEN ? AND ? GROUP BY 1, 3, 4, 5",
            (f"{first:%Y%m%d}", d),
        ),
        "report ratings (30 days)": (
            "SELECT day, service, level, COUNT(*), SUM(satisfied) FROM ratings "
            "WHERE day BETWEEN ? AND ? GROUP BY 1, 2, 3",
            (f"{first:%Y%m%d}", d),
        ),
        "tickets list (no filter)": (
            "SELECT * FROM tickets ORDER BY day DESC, issued_at DESC, id DESC LIMIT ? OFFSET ?",
            (100, 0),
        ),
        "tickets list (service)": (
            "SELECT * FROM tickets WHERE service = ? "
            "ORDER BY day DESC, issued_at DESC, id DESC LIMIT ? OFFSET ?",
            ("datdai", 100, 0),
        ),
        "tickets count (service)": ("SELECT COUNT(*) AS n FROM tickets WHERE service = ?", ("datdai",)),
        "tickets list (counter)": (
            "SELECT * FROM tickets WHERE counter = ? "
            "ORDER BY day DESC, issued_at DESC, id DESC LIMIT ? OFFSET ?",
            ("12", 100, 0),
        ),
        "tickets list (day)": (
            "SELECT * FROM tickets WHERE day = ? ORDER BY day DESC, issued_at DESC, id DESC LIMIT ? OFFSET ?",
            (d, 100, 0),
        ),
    }
    out = {}
    for name, (sql, params) in sqls.items():
        rows = store.query("EXPLAIN QUERY PLAN " + sql, params)
        out[name] = [str(r["detail"]) for r in rows]
    return out


def _time_all(client: TestClient, token: str, paths: list[tuple[str, str]], repeats: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {}
    for name, path in paths:

        def get(path: str = path) -> Any:
            r = client.get(path, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
            return r

        ms, runs, r = _median_ms(get, repeats)
        out[name] = {"ms": ms, "runs": runs, "bytes": len(r.content), "path": path}
    return out


def _self_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def report_memory(store: HubStore, cfg: SiteConfig, first: date, last: date) -> dict[str, Any]:
    """The memory one 30-day report takes in the process that computes it (as the hub does): RSS
    before, and the peak (VmHWM, reset first through ``/proc/self/clear_refs``) while it runs."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    before = _self_kb("VmRSS")
    rp.report(store, cfg, by="service", period="month", start=first, end=last)
    peak = _self_kb("VmHWM")
    return {
        "report": "service x month (30 days)",
        "rss_before_mb": round(before / 1024, 1),
        "peak_mb": round(peak / 1024, 1),
        "growth_mb": round((peak - before) / 1024, 1),
    }


def _report_vs_scan(store: HubStore, cfg: SiteConfig, first: date, last: date) -> dict[str, float]:
    """A 30-day report against a floor measured in the same run: one bare aggregate over the same
    tickets (``COUNT`` and ``SUM`` on the index the reports read), the least any report must do."""
    span = (f"{first:%Y%m%d}", f"{last:%Y%m%d}")
    t0 = time.perf_counter()
    store.rows("SELECT COUNT(*), SUM(wait_s) FROM tickets WHERE day BETWEEN ? AND ?", span)
    scan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rp.report(store, cfg, by="service", period="month", start=first, end=last)
    report_s = time.perf_counter() - t0
    return {
        "scan_floor_ms": round(scan_s * 1000, 1),
        "whole_report_ms": round(report_s * 1000, 1),
        "ratio": round(report_s / scan_s, 2) if scan_s else float("nan"),
    }


# -- the run -----------------------------------------------------------------------------------
def run(
    tickets: int = 1_000_000,
    days: int = 30,
    *,
    repeats: int = 3,
    indexes: bool = True,
    db: str | None = None,
) -> dict[str, Any]:
    """Build (or reuse, with ``db`` naming an existing file) the history, then time every query.

    A new database is kept at ``db`` when it is given (to time again without rebuilding)."""
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="onestop-history-"))
    try:
        site_path = folder / "site.toml"
        site_path.write_text(to_toml(site_data()), encoding="utf-8")
        cfg = config.load(site_path)
        last = rp.business_day(datetime.now(UTC), cfg)
        db_path = Path(db) if db else folder / "hub.db"
        reused = db is not None and db_path.exists()
        store = HubStore(db_path)
        built = (
            {"method": "reused", "path": str(db_path)} if reused else build(store, cfg, tickets, days, last)
        )
        if reused:  # time it as the product has it: without the indexes an earlier run prototyped
            for name in BENCH_INDEXES:
                store.db.execute(f"DROP INDEX IF EXISTS {name}")
            last = rp.day_of(store.query("SELECT MAX(day) AS d FROM tickets")[0]["d"])
        first = last - timedelta(days=days - 1)
        counts = {
            t: store.query(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"]
            for t in ("tickets", "ratings", "events", "outbox")
        }
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = {
            "db_mb": round(db_path.stat().st_size / 2**20, 1),
            "bytes_per_ticket": round(db_path.stat().st_size / max(1, counts["tickets"])),
        }
        hub = Hub(cfg, store, LiveState())
        paths = queries(first, last)
        with TestClient(create_app(hub, manage=False)) as client:
            token = admin_token_path(cfg).read_text().strip()
            before = _time_all(client, token, paths, repeats)
            plans_before = _plans(store, first, last)
            share = _report_vs_scan(store, cfg, first, last)
            memory = report_memory(store, cfg, first, last)
            after: dict[str, Any] | None = None
            plans_after: dict[str, list[str]] | None = None
            index_s: dict[str, float] = {}
            if indexes:
                for name, sql in CANDIDATE_INDEXES:
                    t0 = time.perf_counter()
                    store.db.execute(sql)
                    index_s[name] = round(time.perf_counter() - t0, 2)
                store.db.execute("ANALYZE")
                # A 30-day report reads every ticket of the range whatever the indexes: not re-timed.
                after = _time_all(client, token, [p for p in paths if "(30 days)" not in p[0]], repeats)
                plans_after = _plans(store, first, last)
        store.close()
        slow = sorted(
            (n for n, v in before.items() if v["ms"] > SLOW_S * 1000), key=lambda n: -before[n]["ms"]
        )
        return {
            "name": NAME,
            "unit": "ms (median of repeats)",
            "repeats": repeats,
            "build": built,
            "rows": counts,
            "size": size,
            "queries": before,
            "slow_over_1s": slow,
            "explain": plans_before,
            "report_vs_scan": share,
            "report_memory": memory,
            "indexes": None
            if after is None
            else {
                "created": dict(CANDIDATE_INDEXES),
                "create_s": index_s,
                "queries": after,
                "explain": plans_after,
                "speedup": {
                    n: round(before[n]["ms"] / max(after[n]["ms"], 0.1), 1)
                    for n in after
                    if before[n]["ms"] > 50 and before[n]["ms"] / max(after[n]["ms"], 0.1) > 1.5
                },
                "size_db_mb_after": round(db_path.stat().st_size / 2**20, 1),
            },
            "pass": not slow,
            "elapsed_s": round(time.monotonic() - started, 1),
            "machine": machine_info(),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
