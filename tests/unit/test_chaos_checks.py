"""The chaos day's checks of the business-day boundary, on event logs of the real engine.

A day is driven through the engine with a manual clock across the boundary (05:00); the checks must
find nothing in it, and must find each kind of mistake planted in a copy of its log.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import pytest

from bench.chaos_day.checks import (
    Violations,
    check_reset,
    classify_refusal,
    estimate_faults,
    without_estimates,
)
from onestop.clock import ManualClock
from onestop.protocol import iso
from queue_controller.engine import Engine
from tests.unit.sites import MONDAY_8AM, VN, site

BOUNDARY = datetime(2026, 11, 24, 5, 0, tzinfo=VN)
PLAN = {"epoch": BOUNDARY.timestamp(), "day1": "20261123", "day2": "20261124"}

Event = tuple[int, str, str, dict[str, Any]]


class Day:
    """An engine whose decisions are numbered like the controller's event log."""

    def __init__(self) -> None:
        self.cfg = site()
        self.clock = ManualClock(MONDAY_8AM)
        self.eng = Engine(self.cfg, self.clock)
        self.events: list[Event] = []
        self.tickets: dict[str, dict[str, Any]] = {}
        #: (device, command id) -> the time its decision was committed (the ``commands`` table)
        self.decided: dict[tuple[str, str], str] = {}

    def do(self, device: str, op: str, cid: str = "", **args: Any) -> dict[str, Any]:
        d = self.eng.handle(device, op, args)
        self._keep(d.events, d.tickets)
        if cid:
            self.decided[(device, cid)] = iso(self.clock.now())
        return {"ok": d.error is None, "code": d.error.code if d.error else None, "result": d.result}

    def tick(self) -> None:
        d = self.eng.tick()
        self._keep(d.events, d.tickets)

    def _keep(self, events: list[tuple[str, str, dict[str, Any]]], tickets: dict[str, Any]) -> None:
        for kind, ts, data in events:
            self.events.append((len(self.events) + 1, kind, ts, json.loads(json.dumps(data))))
        for tid, t in tickets.items():
            self.tickets[tid] = t.record()

    def table(self) -> dict[str, tuple[str, str, dict[str, Any]]]:
        return {tid: (r["day"], r["status"], r) for tid, r in self.tickets.items()}


@pytest.fixture
def day() -> Day:
    """Monday: 4 tickets; counter 1 serving A001, counter 2 skipped A002; the reset at 05:00 on
    Tuesday (A003 and A004 waiting, A001 being served), then two tickets of the new day."""
    d = Day()
    for _ in range(4):
        d.do("kiosk-1", "issue", service="tuphap")
    d.do("counter-1", "open", "c1-open", officer="cb1")
    d.do("counter-2", "open", "c2-open")
    d.do("counter-1", "call_next", "c1-1")
    d.do("counter-2", "call_next", "c2-1")
    d.do("counter-2", "skip", "c2-2")
    d.clock.set(BOUNDARY.replace(second=0, microsecond=300_000))
    d.tick()
    d.clock.advance(1)
    for _ in range(2):
        d.do("kiosk-1", "issue", service="tuphap")
    return d


def run(day: Day, events: list[Event] | None = None) -> tuple[dict[str, int], Any]:
    v = Violations([])
    reset = check_reset(v, day.cfg, events or day.events, day.table(), [], PLAN)
    return {k: n for k, n in v.counts.items() if n}, reset


def test_a_right_reset_passes(day: Day) -> None:
    found, reset = run(day)
    assert found == {}
    assert reset.expired == {"20261123-A003", "20261123-A004"}
    assert reset.done == {"20261123-A001"} and reset.closed == {"1", "2"}


def test_a_waiting_ticket_not_expired_is_found(day: Day) -> None:
    events = [e for e in day.events if not (e[1] == "ticket.expired" and e[3]["ticket"]["number"] == "A004")]
    found, _ = run(day, events)
    assert found.get("reset_wrong", 0) >= 2  # A004 waited and was not expired; day.closed says 2


def test_a_ticket_of_the_old_day_called_on_the_new_one_is_found(day: Day) -> None:
    events = copy.deepcopy(day.events)
    seq, _kind, ts, data = events[-1]
    called = dict(data["ticket"], id="20261123-A003", number="A003", status="called", counter="1")
    events.append((seq + 1, "ticket.called", ts, {"ticket": called, "recall": False}))
    found, _ = run(day, events)
    assert found == {"day1_ticket_after_reset": 1}


def test_a_late_reset_is_found(day: Day) -> None:
    events = copy.deepcopy(day.events)
    i = next(i for i, e in enumerate(events) if e[1] == "ticket.skipped")
    events[i] = (events[i][0], events[i][1], "2026-11-23T22:00:02.000+00:00", events[i][3])  # 05:00:02
    found, _ = run(day, events)
    assert found == {"ticket_in_wrong_day": 1}


def test_numbering_that_does_not_restart_is_found(day: Day) -> None:
    events = copy.deepcopy(day.events)
    last = events[-1][3]["ticket"]
    last.update(number="A005", id="20261124-A005")
    found, _ = run(day, events)
    assert found == {"numbering_wrong": 1}


def test_no_reset_is_found(day: Day) -> None:
    events = [e for e in day.events if e[1] != "day.closed"]
    found, _ = run(day, events)
    assert found["boundary_not_crossed"] == 1


def test_refusals_are_excused_only_by_the_reset(day: Day) -> None:
    _, reset = run(day)
    # Counter 2 acted on its skip of Monday; its call_next is decided after the reset: legitimate.
    r = day.do("counter-2", "call_next", "c2-3")
    assert r["code"] == "counter_closed"
    refusal = {
        "device": "counter-2",
        "id": "c2-3",
        "op": "call_next",
        "code": "counter_closed",
        "view": "c2-2",
    }
    assert classify_refusal(day.cfg, refusal, day.decided, reset) is not None
    # The same refusal on a view of the new day, or decided before the reset: not excused.
    day.do("counter-2", "open", "c2-open2")
    day.do("counter-2", "close", "c2-close")
    day.do("counter-2", "call_next", "c2-4")
    late = dict(refusal, id="c2-4", view="c2-open2")
    assert classify_refusal(day.cfg, late, day.decided, reset) is None
    early = dict(refusal, id="c2-1", view="c2-open")
    assert classify_refusal(day.cfg, early, day.decided, reset) is None
    # Counter 1 finishing A001 after the reset ended it; a refusal of another ticket is not excused.
    finish = {"device": "counter-1", "id": "c1-x", "op": "finish", "code": "no_current_ticket"}
    day.do("counter-1", "finish", "c1-x")
    assert classify_refusal(day.cfg, dict(finish, serving="20261123-A001"), day.decided, reset) is not None
    assert classify_refusal(day.cfg, dict(finish, serving="20261123-A003"), day.decided, reset) is None
    assert classify_refusal(day.cfg, dict(finish, code="already_rated"), day.decided, reset) is None


def test_a_board_compared_later_differs_only_in_its_estimates() -> None:
    """A retained state keeps the estimate made when it was published; the checks compare it with
    one made later, which differs (the pace of recent calls moves with time: CI's seed 1518419418):
    so the estimates are compared by shape, and the rest of the state exactly."""
    day = Day()
    day.do("counter-1", "open", "c1-open", officer="cb1")
    for _ in range(12):
        day.do("kiosk-1", "issue", service="tuphap")
    for n in range(6):  # enough calls for the pace of the line to count (estimate.PACE_MIN_CALLS)
        day.clock.advance(120)
        day.do("counter-1", "call_next", f"c1-{n}")
    published = json.loads(json.dumps(day.eng.board_state()))
    later = []
    for minutes in (1, 5, 15, 40):
        day.clock.advance(minutes * 60)
        later.append(json.loads(json.dumps(day.eng.board_state())))
    assert any(s != published for s in later)  # the estimates moved with the clock alone
    assert all(estimate_faults(s) == [] for s in [published, *later])
    assert all(without_estimates(s) == without_estimates(published) for s in later)

    bad = copy.deepcopy(published)
    bad["services"][0]["est_wait_range_s"] = [bad["services"][0]["est_wait_s"] + 60, 10**6]
    bad["services"][1]["est_wait_s"] = -5
    assert len(estimate_faults(bad)) == 2
    changed = copy.deepcopy(published)
    changed["services"][0]["waiting"] += 1
    assert without_estimates(changed) != without_estimates(published)
