"""The reports aggregate in SQL; here they are checked against a plain Python computation of the same
definitions (docs/hub.md) over random histories: every group, every period, quarter and year ends."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub_api import reports as rp
from hub_api.store import HubStore
from onestop.config import SiteConfig
from tests.utils.events import EventFeed
from tests.utils.site import make_site

LEVELS = ["Rất hài lòng", "Hài lòng", "Không hài lòng"]
#: Business days around a quarter end and a year end, so months, quarters and years split.
DAYS = [date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1), date(2026, 12, 31), date(2027, 1, 2)]

ticket_st = st.fixed_dictionaries(
    {
        "day": st.sampled_from(DAYS),
        "service": st.sampled_from(["tuphap", "datdai", "dkkd"]),
        "minute": st.integers(0, 600),
        # whole seconds, and some equal waits (ties) and exactly 15 minutes (the target's edge)
        "wait_s": st.one_of(st.none(), st.sampled_from([0, 60, 900, 901]), st.integers(0, 7200)),
        "service_s": st.integers(0, 3600),
        "end": st.sampled_from(["done", "done", "skipped", "expired", None]),
        "counter": st.sampled_from(["1", "2", "3"]),
        "officer": st.sampled_from(["cb001", "cb002", None]),
        "score": st.one_of(st.none(), st.integers(1, 3)),
    }
)


def reference(store: HubStore, cfg: SiteConfig, by: rp.Group, period: rp.Period) -> dict[Any, dict[str, Any]]:
    """Figures by the definitions, one row at a time in Python."""
    out: dict[Any, dict[str, Any]] = defaultdict(
        lambda: {"issued": 0, "served": 0, "skipped": 0, "expired": 0, "waits": [], "svc": [], "ratings": []}
    )

    def key(row: dict[str, Any]) -> tuple[str, str | None]:
        k = cfg.site.id if by == "site" else row[by]
        return rp.period_key(rp.day_of(row["day"]), period), k

    for t in store.query("SELECT * FROM tickets"):
        f = out[key(t)]
        f["issued"] += 1
        if t["status"] in ("done", "skipped", "expired"):
            f[{"done": "served"}.get(t["status"], t["status"])] += 1
        if t["wait_s"] is not None:
            f["waits"].append(t["wait_s"])
        if t["status"] == "done" and t["service_s"] is not None:
            f["svc"].append(t["service_s"])
    for r in store.query("SELECT *, substr(ticket, 1, 8) AS day FROM ratings"):
        out[key(r)]["ratings"].append((r["level"], r["satisfied"]))
    return out


def _close(a: float | None, b: float | None) -> bool:
    # means are rounded to 0.1 s; SQLite's and Python's sums may differ in the last bit
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, abs_tol=0.051)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ticket_st, min_size=1, max_size=40))
def test_sql_reports_equal_the_definitions(tickets: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_site(Path(tmp))
        store = HubStore(Path(tmp) / "hub.db")
        try:
            feed = EventFeed(store)
            for i, t in enumerate(tickets):
                issued = f"{t['day']:%Y-%m-%d}T07:00:00+07:00"
                at = rp.datetime.fromisoformat(issued) + timedelta(minutes=t["minute"])
                wait = None if t["wait_s"] is None else t["wait_s"] / 60
                end = t["end"] if wait is not None or t["end"] in ("expired", None) else None
                served = feed.ticket(
                    f"A{i + 1:03d}",
                    t["service"],
                    at.isoformat(),
                    day=f"{t['day']:%Y%m%d}",
                    wait_min=wait,
                    service_min=t["service_s"] / 60,
                    end=end,
                    counter=t["counter"],
                    officer=t["officer"],
                )
                if end == "done" and t["score"] is not None:
                    level = LEVELS[3 - t["score"]]
                    feed.rating(served, t["score"], level, t["score"] >= 2, at.isoformat())
            for by in rp.GROUPS:
                for period in rp.PERIODS:
                    got = rp.report(store, cfg, by=by, period=period, start=DAYS[0], end=DAYS[-1])
                    want = reference(store, cfg, by, period)
                    assert {(f.period, f.key) for f in got} == set(want), (by, period)
                    for f in got:
                        w = want[(f.period, f.key)]
                        waits = w["waits"]
                        assert (f.issued, f.served, f.skipped, f.expired) == (
                            w["issued"], w["served"], w["skipped"], w["expired"]
                        )  # fmt: skip
                        assert f.open == w["issued"] - w["served"] - w["skipped"] - w["expired"]
                        assert f.waits == len(waits)
                        assert _close(f.wait_mean_s, rp.mean(waits))
                        assert f.wait_p90_s == rp._r(rp.nearest_rank(waits, 0.9)), (by, period, sorted(waits))
                        within = sum(1 for x in waits if x <= rp.TARGET_WAIT_S)
                        assert f.within_target == (round(within / len(waits), 4) if waits else None)
                        assert _close(f.service_mean_s, rp.mean(w["svc"]))
                        assert f.ratings == len(w["ratings"])
                        assert f.satisfied == sum(s for _, s in w["ratings"])
                        assert f.levels == {lv: sum(1 for x, _ in w["ratings"] if x == lv) for lv in LEVELS}
            officers = {r.officer: r for r in rp.officer_ratings(store, cfg, 2026, 1)}
            q1 = [r for r in store.query("SELECT * FROM ratings") if r["ticket"] < "20260401"]
            assert officers[None].ratings == len(q1)
            for oid in ("cb001", "cb002"):
                mine = [r for r in q1 if r["officer"] == oid]
                assert (officers[oid].ratings, officers[oid].satisfied) == (
                    len(mine), sum(r["satisfied"] for r in mine)
                )  # fmt: skip
        finally:
            store.close()


def test_p90_rank_is_exact_where_floating_point_is_not() -> None:
    # 0.9 * 70 is 63.000000000000014: the 63rd value is the nearest rank, not the 64th
    values = [float(x) for x in range(1, 71)]
    assert rp.nearest_rank(values, 0.9) == 63.0


def test_p90_in_sql_is_the_nearest_rank(tmp_path: Path) -> None:
    cfg = make_site(tmp_path)
    store = HubStore(tmp_path / "hub.db")
    try:
        feed = EventFeed(store)
        for i in range(70):  # waits 1..70 minutes: the 63rd is the 90th percentile
            feed.ticket(f"A{i + 1:03d}", "tuphap", f"2026-03-31T07:{i % 60:02d}:00+07:00", wait_min=i + 1)
        d = date(2026, 3, 31)
        [row] = rp.report(store, cfg, by="site", period="day", start=d, end=d)
        assert row.wait_p90_s == 63 * 60
    finally:
        store.close()


def test_a_database_from_before_ratings_had_a_day_is_migrated(tmp_path: Path) -> None:
    cfg = make_site(tmp_path)
    store = HubStore(tmp_path / "hub.db")
    feed = EventFeed(store)
    t = feed.ticket("A001", "tuphap", "2026-03-31T08:00:00+07:00", wait_min=3, service_min=4, end="done")
    feed.rating(t, 3, LEVELS[0], True, "2026-03-31T08:10:00+07:00")
    store.close()
    old = sqlite3.connect(tmp_path / "hub.db")  # the schema as it was: no day, an expression index
    old.executescript(
        """DROP INDEX ratings_report; ALTER TABLE ratings DROP COLUMN day;
           CREATE INDEX ratings_day ON ratings(substr(ticket, 1, 8));"""
    )
    old.close()
    store = HubStore(tmp_path / "hub.db")
    try:
        assert store.query("SELECT day FROM ratings") == [{"day": "20260331"}]
        d = date(2026, 3, 31)
        [row] = rp.report(store, cfg, by="site", period="day", start=d, end=d)
        assert (row.ratings, row.satisfied, row.levels[LEVELS[0]]) == (1, 1, 1)
        indexes = {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"tickets_report", "ratings_report"} <= indexes and "ratings_day" not in indexes
    finally:
        store.close()
