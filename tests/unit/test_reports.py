"""Report figures against values computed by hand, from hand-made events fed to a HubStore."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from hub_api import reports as rp
from hub_api.store import HubStore
from onestop.config import SiteConfig
from tests.utils.events import EventFeed
from tests.utils.site import make_site

LEVELS = ["Rất hài lòng", "Hài lòng", "Không hài lòng"]


@pytest.fixture
def cfg(tmp_path: Path) -> SiteConfig:
    return make_site(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> HubStore:
    s = HubStore(tmp_path / "hub.db")
    yield s
    s.close()


def _day_of_tuphap(feed: EventFeed) -> list[dict]:
    """31 March 2026 (Q1), service tuphap, counter 1, officer cb001 unless said otherwise.

    Waits (min) of the called tickets: 2 4 6 8 10 12 14 15 | 20 40 (the last two are no-shows).
    By hand: mean 131/10 = 13.1 min = 786 s; p90 = 9th smallest of 10 = 20 min = 1200 s;
    within 15 min (15 counts) = 8/10; service times 7 × 5 min + 1 × 10 min → 2700/8 = 337.5 s."""
    out = []
    waits = [2, 4, 6, 8, 10, 12, 14, 15]
    for i, w in enumerate(waits):
        out.append(
            feed.ticket(
                f"A{i + 1:03d}",
                "tuphap",
                f"2026-03-31T08:{i:02d}:00+07:00",
                wait_min=w,
                service_min=10 if i == 0 else 5,
                end="done",
            )
        )
    for i, w in enumerate([20, 40]):
        feed.ticket(f"A{9 + i:03d}", "tuphap", f"2026-03-31T09:{i:02d}:00+07:00", wait_min=w, end="skipped")
    feed.ticket("A011", "tuphap", "2026-03-31T16:50:00+07:00", end="expired")
    feed.ticket("A012", "tuphap", "2026-03-31T16:55:00+07:00")  # still waiting
    return out


def test_wait_service_and_outcome_figures(cfg: SiteConfig, store: HubStore) -> None:
    feed = EventFeed(store)
    _day_of_tuphap(feed)
    d = date(2026, 3, 31)
    [row] = rp.report(store, cfg, by="service", period="day", start=d, end=d)
    assert (row.period, row.key, row.name) == ("2026-03-31", "tuphap", "Tư pháp - Hộ tịch")
    assert (row.issued, row.served, row.skipped, row.expired, row.open) == (12, 8, 2, 1, 1)
    assert row.waits == 10
    assert row.wait_mean_s == 786.0
    assert row.wait_p90_s == 1200.0
    assert row.within_target == 0.8
    assert row.service_mean_s == 337.5


def test_nearest_rank_p90_by_hand() -> None:
    assert rp.nearest_rank([], 0.9) is None
    assert rp.nearest_rank([7.0], 0.9) == 7.0
    assert rp.nearest_rank([float(x) for x in range(1, 21)], 0.9) == 18.0  # ceil(18.0) = 18th
    assert rp.nearest_rank([float(x) for x in range(1, 12)], 0.9) == 10.0  # ceil(9.9) = 10th of 11


def test_satisfaction_per_officer_with_levels(cfg: SiteConfig, store: HubStore) -> None:
    feed = EventFeed(store)
    served = _day_of_tuphap(feed)
    for t, score in zip(served, [3, 3, 3, 2, 1], strict=False):  # 4 satisfied of 5
        feed.rating(t, score, LEVELS[3 - score], score >= 2, "2026-03-31T11:00:00+07:00")
    other = feed.ticket(
        "B001",
        "datdai",
        "2026-03-31T10:00:00+07:00",
        wait_min=3,
        service_min=4,
        end="done",
        counter="2",
        officer="cb002",
    )
    feed.rating(other, 1, "Không hài lòng", False, "2026-03-31T10:10:00+07:00")
    d = date(2026, 3, 31)
    rows = {r.key: r for r in rp.report(store, cfg, by="officer", period="quarter", start=d, end=d)}
    lan = rows["cb001"]
    assert (lan.period, lan.name, lan.ratings, lan.satisfied, lan.satisfaction) == (
        "2026-Q1",
        "Nguyễn Thị Lan",
        5,
        4,
        0.8,
    )
    assert lan.levels == {"Rất hài lòng": 3, "Hài lòng": 1, "Không hài lòng": 1}
    assert (rows["cb002"].ratings, rows["cb002"].satisfaction) == (1, 0.0)
    [site] = rp.report(store, cfg, by="site", period="year", start=d, end=d)
    assert (site.period, site.issued, site.ratings, site.satisfied) == ("2026", 13, 6, 4)


def test_quarter_boundaries_are_the_sites_not_utc(cfg: SiteConfig, store: HubStore) -> None:
    feed = EventFeed(store)
    # 23:30 on 31 March in Hà Nội (16:30 UTC): Q1. 06:30 on 1 April in Hà Nội is 23:30 UTC on 31 March: Q2.
    late = feed.ticket("A001", "tuphap", "2026-03-31T23:30:00+07:00", wait_min=5, service_min=5, end="done")
    early = feed.ticket(
        "A001", "tuphap", "2026-03-31T23:30:00+00:00", day="20260401", wait_min=5, service_min=5, end="done"
    )
    feed.rating(late, 3, "Rất hài lòng", True, "2026-04-01T00:10:00+07:00")  # rated after midnight: still Q1
    feed.rating(early, 1, "Không hài lòng", False, "2026-04-01T06:50:00+07:00")
    rows = rp.report(store, cfg, by="site", period="quarter", start=date(2026, 1, 1), end=date(2026, 6, 30))
    assert [(r.period, r.issued, r.ratings, r.satisfied) for r in rows] == [
        ("2026-Q1", 1, 1, 1),
        ("2026-Q2", 1, 1, 0),
    ]
    assert rp.business_day("2026-03-31T16:30:00Z", cfg) == date(2026, 3, 31)
    assert rp.business_day("2026-03-31T23:30:00Z", cfg) == date(2026, 4, 1)
    assert rp.business_day("2026-03-31T21:30:00Z", cfg) == date(2026, 3, 31)  # 04:30 local: before day_starts
    assert rp.arrivals_by_hour(store, cfg, date(2026, 4, 1))[6] == 1  # 23:30 UTC is 06:30 on the site
    q1 = rp.officer_ratings(store, cfg, 2026, 1)
    assert [(r.officer, r.ratings) for r in q1] == [("cb001", 1), ("cb002", 0), ("cb003", 0), (None, 1)]
    assert rp.quarter_range(2026, 1) == (date(2026, 1, 1), date(2026, 3, 31))
    assert rp.quarter_range(2026, 4) == (date(2026, 10, 1), date(2026, 12, 31))


def test_officer_report_csv_is_utf8_with_bom_and_keeps_vietnamese(cfg: SiteConfig, store: HubStore) -> None:
    feed = EventFeed(store)
    served = _day_of_tuphap(feed)
    feed.rating(served[0], 2, "Hài lòng", True, "2026-03-31T11:00:00+07:00")
    body = rp.officer_ratings_csv(rp.officer_ratings(store, cfg, 2026, 1), cfg.rating.levels)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Kỳ", "Mã cán bộ", "Họ và tên", "Chức vụ", "Đơn vị"]
    assert rows[0][5:8] == LEVELS
    assert rows[1][:3] == ["2026-Q1", "cb001", "Nguyễn Thị Lan"]
    assert rows[1][5:] == ["0", "1", "0", "1", "1", "100.0"]
    assert rows[-1][2] == "Toàn đơn vị"


def test_wait_distribution_buckets(cfg: SiteConfig, store: HubStore) -> None:
    feed = EventFeed(store)
    _day_of_tuphap(feed)
    dist = {b["label"]: b["count"] for b in rp.wait_distribution(store, date(2026, 3, 31))}
    # 2 4 | 6 8 10 | 12 14 15 | 20 | - | 40: a bucket holds its upper edge, so 15 is within the target.
    assert dist == {"0-5": 2, "5-10": 3, "10-15": 3, "15-20": 1, "20-30": 0, "30-45": 1, "45-60": 0, "60+": 0}


def test_waits_count_every_ticket_called_once_to_its_first_call(cfg: SiteConfig, store: HubStore) -> None:
    """The definition pinned on a hand-computed day: a ticket being served now and one transferred to
    another line after its first call count with their wait to that first call; one never called
    does not.

    tuphap: A001 done (wait 4 min), A002 skipped (wait 16), A003 being served now (wait 30), A004
    waiting (no wait), A005 called after 6 min then transferred to datdai and waiting there again.
    The service of a ticket is the one it ended in, so A005 is datdai's.
    By hand, tuphap: waits 4, 16, 30 → 3 waits, mean 50/3 min = 1000 s, p90 = 3rd = 1800 s,
    within 15 min 1/3 = 0.3333; datdai: A005's 6 min = 360 s, within 1.0."""
    feed = EventFeed(store)
    feed.ticket("A001", "tuphap", "2026-03-31T08:00:00+07:00", wait_min=4, service_min=5, end="done")
    feed.ticket("A002", "tuphap", "2026-03-31T08:01:00+07:00", wait_min=16, end="skipped")
    feed.ticket("A003", "tuphap", "2026-03-31T08:02:00+07:00", wait_min=30)  # at the counter now
    feed.ticket("A004", "tuphap", "2026-03-31T08:03:00+07:00")  # still waiting
    moved = feed.ticket("A005", "tuphap", "2026-03-31T08:04:00+07:00", wait_min=6)
    feed.transfer(moved, "datdai", "2026-03-31T08:12:00+07:00")
    d = date(2026, 3, 31)
    rows = {r.key: r for r in rp.report(store, cfg, by="service", period="day", start=d, end=d)}
    tuphap, datdai = rows["tuphap"], rows["datdai"]
    assert (tuphap.issued, tuphap.served, tuphap.skipped, tuphap.open) == (4, 1, 1, 2)
    assert (tuphap.waits, tuphap.wait_mean_s, tuphap.wait_p90_s, tuphap.within_target) == (
        3,
        1000.0,
        1800.0,
        0.3333,
    )
    assert (datdai.issued, datdai.open, datdai.waits, datdai.wait_mean_s, datdai.within_target) == (
        1, 1, 1, 360.0, 1.0
    )  # fmt: skip


def test_satisfaction_follows_the_threshold_configured_now(tmp_path: Path, store: HubStore) -> None:
    """Ratings were judged with satisfied_min = 2 when given (score 2 recorded as satisfied); a
    manager later raises it to 3: every rating is judged by 3, whatever flag it was stored with."""
    feed = EventFeed(store)
    served = _day_of_tuphap(feed)
    for t, score in zip(served, [3, 3, 2, 2, 1], strict=False):
        feed.rating(t, score, LEVELS[3 - score], score >= 2, "2026-03-31T11:00:00+07:00")
    d = date(2026, 3, 31)
    for satisfied_min, satisfied in ((2, 4), (3, 2), (1, 5)):
        (where := tmp_path / str(satisfied_min)).mkdir()
        cfg = make_site(where, {"rating": {"satisfied_min": satisfied_min}})
        [row] = rp.report(store, cfg, by="site", period="quarter", start=d, end=d)
        assert (row.ratings, row.satisfied, row.satisfaction) == (5, satisfied, satisfied / 5), satisfied_min
        lan = next(r for r in rp.officer_ratings(store, cfg, 2026, 1) if r.officer == "cb001")
        assert (lan.ratings, lan.satisfied) == (5, satisfied), satisfied_min
