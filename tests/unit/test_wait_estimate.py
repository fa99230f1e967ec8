"""Wait estimates with learned ranges (queue_controller/estimate.py) and the words told for them."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

import pytest

from kiosk_app.ticket_kiosk.ticket import format_wait, parse_wait_range, told_wait
from onestop.clock import ManualClock
from queue_controller.engine import Engine
from queue_controller.estimate import MIN_SAMPLES, Calibration, break_after, nice_bounds
from queue_controller.model import ServiceRt
from tests.unit.sites import MONDAY_8AM, VN, site


def ok(eng: Engine, device: str, op: str, **args: object) -> dict:
    d = eng.handle(device, op, dict(args))
    assert d.error is None, f"{op}: {d.error}"
    assert d.result is not None
    return d.result


@pytest.mark.parametrize(
    ("point", "rng", "vi", "en", "bounds"),
    [
        (0, (0, 60), "dưới 1 phút", "under 1 minute", (0, 60)),
        (120, (0, 240), "dưới 4 phút", "under 4 min", (0, 240)),
        (200, (60, 300), "dưới 5 phút", "under 5 min", (0, 300)),
        (480, (360, 600), "khoảng 8 phút", "about 8 min", (360, 600)),
        (900, (600, 1200), "khoảng 10–20 phút", "about 10–20 min", (600, 1200)),
        (3000, (1800, 4500), "khoảng 30–75 phút", "about 30–75 min", (1800, 4500)),
        (5400, (4500, 7200), "từ 1 giờ 15 phút đến 2 giờ", "1 h 15 min to 2 h", (4500, 7200)),
        # Without a range (an older controller): the number alone.
        (900, None, "khoảng 15 phút", "about 15 min", (780, 1020)),
        (3600, None, "khoảng 1 giờ", "about 1 h", (3480, 3720)),
    ],
)
def test_words_and_the_bounds_they_state(
    point: int, rng: tuple[int, int] | None, vi: str, en: str, bounds: tuple[int, int]
) -> None:
    got_vi, got_en, got_bounds = told_wait(point, rng)
    assert got_vi.replace("\u00a0", " ") == vi
    assert got_en == en
    assert got_bounds == bounds


def test_no_wording_says_zero_minutes_or_hours_and_the_point_is_inside() -> None:
    for lo_min, width in itertools.product(range(0, 200, 7), (0, 3, 9, 40, 95)):
        lo, hi = nice_bounds(lo_min * 60, (lo_min + width) * 60 + 30)
        vi, en, (b_lo, b_hi) = told_wait((lo + hi) // 2, (lo, hi))
        text = f"{vi} {en}".replace("\u00a0", " ")
        assert " 0 phút" not in text and " 0 min" not in text and " 0 giờ" not in text, text
        assert b_lo <= (lo + hi) // 2 <= b_hi + 60, (lo, hi, text)
    assert format_wait(900, (600, 1200))[0].replace("\u00a0", " ").endswith("khoảng 10–20 phút")


@pytest.mark.parametrize("bad", [None, [1], [5, 1], ["1", 2], [True, 3], [-1, 5], "10-20", [1, 2, 3]])
def test_a_malformed_range_is_ignored(bad: object) -> None:
    assert parse_wait_range(bad) is None
    assert parse_wait_range([60, 120]) == (60, 120)


def test_issue_reply_event_and_state_carry_the_range() -> None:
    eng = Engine(site(), ManualClock(MONDAY_8AM))
    for _ in range(3):
        ok(eng, "kiosk-1", "issue", service="tuphap")
    d = eng.handle("kiosk-1", "issue", {"service": "tuphap"})
    assert d.result is not None
    lo, hi = d.result["est_wait_range_s"]
    assert lo <= d.result["est_wait_s"] <= hi and lo < hi
    (issued,) = [data for kind, _, data in d.events if kind == "ticket.issued"]
    assert issued["est_wait_range_s"] == [lo, hi]
    state = eng.service_state("tuphap")
    assert state["est_wait_range_s"][0] <= state["est_wait_s"] <= state["est_wait_range_s"][1]
    assert "est_wait_range_s" in eng.board_state()["services"][0]


def test_without_wait_ranges_the_reply_is_as_before() -> None:
    eng = Engine(site(queue={"wait_ranges": False}), ManualClock(MONDAY_8AM))
    for _ in range(4):
        ok(eng, "kiosk-1", "issue", service="tuphap")
    r = ok(eng, "kiosk-1", "issue", service="tuphap")
    assert r["est_wait_s"] == 4 * 5 * 60 and "est_wait_range_s" not in r
    assert "est_wait_range_s" not in eng.service_state("tuphap")


def test_the_engine_learns_that_waits_run_longer_than_the_formula() -> None:
    """Every citizen waits twice what the formula says (a clerk who also answers the phone): after
    enough of them, the told wait follows the real one."""
    clock = ManualClock(MONDAY_8AM)
    eng = Engine(site(), clock)
    ok(eng, "counter-1", "open")
    before = eng.wait_estimate("tuphap", 3)
    for _ in range(MIN_SAMPLES + 10):
        ok(eng, "kiosk-1", "issue", service="tuphap")  # nobody ahead: plain estimate 0, slot 5 min
        clock.advance(600)  # the real wait: 10 min
        ok(eng, "counter-1", "call_next")
        clock.advance(300)
        ok(eng, "counter-1", "finish")
    ratios = eng.services["tuphap"].calibration.ratios("open")
    assert ratios[1] == pytest.approx(3.0, rel=0.05)  # (600 + 300) / (0 + 300)
    after = eng.wait_estimate("tuphap", 0)
    assert after.point_s == pytest.approx(600, abs=5)
    assert after.lo_s <= 600 <= after.hi_s
    assert before.point_s == 3 * 300


def test_calibration_survives_a_restart_and_a_bad_record_is_ignored() -> None:
    rt = ServiceRt("tuphap", ewma_s=300)
    for i in range(MIN_SAMPLES):
        rt.calibration.add("open", 1.0 + i / 100)
    again = ServiceRt.from_record("tuphap", rt.record())
    assert again.calibration.ratios("open") == pytest.approx(rt.calibration.ratios("open"), abs=1e-3)
    # Records written before ranges existed, and malformed ones, learn nothing but load.
    old = ServiceRt.from_record("tuphap", {"ewma_s": 300, "issued": 2, "last_issued": "A002"})
    assert old.calibration.ratios("open") == Calibration().ratios("open")
    bad = Calibration.from_record({"open": ["x", -1, float("nan"), 2.0], "closed": "nope"})
    assert list(bad.pools["open"]) == [2.0] and not bad.pools["closed"]


def test_a_wait_across_the_lunch_break_counts_the_break() -> None:
    hours = [(time(7, 30), time(11, 30)), (time(13, 30), time(17, 0))]
    at_11 = datetime(2026, 11, 23, 11, 0, tzinfo=VN)
    assert break_after(at_11, 20 * 60, hours) == 0
    assert break_after(at_11, 60 * 60, hours) == 2 * 3600
    assert break_after(at_11 + timedelta(hours=3), 60 * 60, hours) == 0  # after lunch
    # The engine tells it: dkkd is open 07:00-11:30 and 13:30-17:00 in the test site.
    clock = ManualClock(datetime(2026, 11, 23, 11, 0, tzinfo=VN))
    eng = Engine(site(), clock)
    assert eng.wait_estimate("dkkd", 6).point_s == 6 * 8 * 60 + 2 * 3600
