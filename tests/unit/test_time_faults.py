"""Clock faults: the business day only moves forward, the store never takes a ticket id twice, and
the controller's guarded clock rides out a step of the system clock (issue 11, point 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onestop.clock import GuardedClock, ManualClock
from queue_controller.engine import Engine
from queue_controller.store import DuplicateTicket, Pending, Store
from tests.unit.sites import MONDAY_8AM, VN, site


def issued_id(eng: Engine, service: str = "tuphap") -> str:
    d = eng.handle("kiosk-1", "issue", {"service": service})
    assert d.error is None and d.result is not None
    return str(d.result["ticket"]["id"])


def test_a_day_step_and_back_never_reopens_the_closed_day() -> None:
    clock = ManualClock(MONDAY_8AM)
    eng = Engine(site(), clock)
    first = [issued_id(eng) for _ in range(2)]
    clock.advance(days=1)  # an NTP server that is a day ahead
    assert eng.tick().events[-1][0] == "day.closed"
    tomorrow = issued_id(eng)
    clock.advance(days=-1)  # ... and corrected
    d = eng.tick()
    assert not any(kind == "day.closed" for kind, _ts, _data in d.events), "a closed day was reopened"
    assert eng.day_behind == MONDAY_8AM.astimezone(VN).date()
    later = [issued_id(eng) for _ in range(2)]
    ids = [*first, tomorrow, *later]
    assert len(set(ids)) == len(ids), f"a ticket id was issued twice: {ids}"
    assert later[0].split("-")[0] == tomorrow.split("-")[0]  # numbering goes on in the open day
    clock.advance(days=1)  # the real clock reaches the open day: the alarm ends, nothing closes
    d = eng.tick()
    assert eng.day_behind is None and not any(k == "day.closed" for k, _t, _d in d.events)


def test_a_backward_step_just_after_day_starts_does_not_reissue_numbers() -> None:
    day_starts = MONDAY_8AM.astimezone(VN).replace(hour=5, minute=0, second=30)
    clock = ManualClock(day_starts - timedelta(hours=1))
    eng = Engine(site(), clock)
    before = issued_id(eng)  # yesterday's business day (before 05:00)
    clock.set(day_starts)
    eng.tick()  # the day closes at 05:00
    new_day = issued_id(eng)
    clock.set(day_starts - timedelta(minutes=2))  # a 2-minute backward NTP step: 04:58:30
    again = issued_id(eng)
    assert len({before, new_day, again}) == 3
    assert again.split("-")[0] == new_day.split("-")[0]
    assert again.endswith("A002")


def _issue_pending(eng: Engine) -> Pending:
    d = eng.handle("kiosk-1", "issue", {"service": "tuphap"})
    return Pending(d, "kiosk-1", f"c{len(eng.tickets)}", {"ok": True})


def test_the_store_refuses_to_overwrite_a_stored_ticket(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    eng = Engine(site(), ManualClock(MONDAY_8AM))
    store.commit([_issue_pending(eng)], eng.meta(), {}, {}, "t")
    # A second engine that starts the day again (a rewound clock and store) issues the same id.
    other = Engine(site(), ManualClock(MONDAY_8AM))
    with pytest.raises(DuplicateTicket, match="already stored"):
        store.commit([_issue_pending(other)], other.meta(), {}, {}, "t")
    assert store.last_seq == 1
    row = store.db.execute("SELECT COUNT(*) FROM tickets").fetchone()
    assert row[0] == 1


class FakeTime:
    """A wall clock and a steady clock that tests move by hand."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
        self.steady = 1000.0

    def run(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.steady += seconds

    def clock(self, **kw: float) -> GuardedClock:
        return GuardedClock(wall=lambda: self.wall, steady=lambda: self.steady, **kw)


def test_guarded_clock_follows_small_slews_and_holds_a_step_that_is_undone() -> None:
    t = FakeTime()
    g = t.clock(step_s=5, hold_s=600)
    t.run(60)
    t.wall += timedelta(seconds=2)  # a slew-sized correction is followed
    assert g.now() == t.wall and g.state == "ok"
    t.wall += timedelta(days=1)  # a step of a day
    held = g.now()
    assert held == t.wall - timedelta(days=1) and g.state == "stepped"
    assert "+86400 s" in g.detail
    t.run(30)
    assert g.now() == held + timedelta(seconds=30)  # time goes on by the steady clock
    t.wall -= timedelta(days=1)  # the step is undone
    assert g.now() == t.wall and g.state == "ok"


def test_guarded_clock_takes_a_step_that_lasts() -> None:
    t = FakeTime()
    g = t.clock(step_s=5, hold_s=600)
    t.wall -= timedelta(minutes=2)
    g.now()
    assert g.state == "stepped"
    t.run(599)
    assert g.now() == t.wall + timedelta(minutes=2)
    t.run(1)
    assert g.now() == t.wall and g.state == "ok"
    t.run(10)
    assert g.now() == t.wall


def test_guarded_clock_trust_wall_takes_the_time_at_once() -> None:
    t = FakeTime()
    g = t.clock(step_s=5, hold_s=600)
    t.wall += timedelta(days=300)  # the first NTP answer on a Pi without a real-time clock
    g.now()
    g.trust_wall()
    assert g.now() == t.wall and g.state == "ok"
