"""Queue engine rules, asserted on outcomes (tickets, states, events), with an injected clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from onestop.clock import ManualClock
from queue_controller.engine import Engine, business_day
from queue_controller.model import Decision
from queue_controller.store import Pending, Store
from tests.unit.sites import MONDAY_8AM, VN, site


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_8AM)


@pytest.fixture
def eng(clock: ManualClock) -> Engine:
    return Engine(site(), clock)


def ok(eng: Engine, device: str, op: str, **args: object) -> dict:
    d = eng.handle(device, op, dict(args))
    assert d.error is None, f"{op} failed: {d.error.code}: {d.error.message}"
    assert d.result is not None
    return d.result


def err(eng: Engine, device: str, op: str, **args: object) -> str:
    d = eng.handle(device, op, dict(args))
    assert d.error is not None, f"{op} unexpectedly succeeded: {d.result}"
    assert not d.events, "a refused command must not emit events"
    return d.error.code


def issue(eng: Engine, service: str = "tuphap", priority: bool = False) -> str:
    return ok(eng, "kiosk-1", "issue", service=service, priority=priority)["ticket"]["number"]


def call_next(eng: Engine, counter: str) -> str | None:
    t = ok(eng, f"counter-{counter}", "call_next")["ticket"]
    return t["number"] if t else None


def test_numbers_follow_prefix_and_digits_per_service(eng: Engine) -> None:
    assert [issue(eng) for _ in range(3)] == ["A001", "A002", "A003"]
    assert issue(eng, "datdai") == "B001"
    assert eng.service_state("tuphap")["last_issued"] == "A003"
    assert eng.service_state("tuphap")["waiting"] == 3


def test_issue_reports_people_ahead_and_estimate(eng: Engine) -> None:
    for _ in range(4):
        issue(eng)
    r = ok(eng, "kiosk-1", "issue", service="tuphap")
    assert r["ahead"] == 4
    # 4 people x 5 min prior, no counter open: one counter assumed.
    assert r["est_wait_s"] == 4 * 5 * 60
    ok(eng, "counter-1", "open", officer="cb1")
    ok(eng, "counter-2", "open", officer="cb2")
    assert eng.service_state("tuphap")["est_wait_s"] == 5 * 5 * 60 // 2
    assert eng.service_state("tuphap")["counters_open"] == 2


def test_fifo_counter_calls_oldest_across_its_services(eng: Engine) -> None:
    issue(eng, "datdai")
    issue(eng, "tuphap")
    ok(eng, "counter-1", "open")
    assert call_next(eng, "1") == "B001"
    assert call_next(eng, "1") == "A001"
    assert call_next(eng, "1") is None


def test_ordered_counter_serves_its_first_service_first(eng: Engine) -> None:
    issue(eng, "tuphap")
    issue(eng, "datdai")
    issue(eng, "tuphap")
    ok(eng, "counter-2", "open")  # ordered: datdai before tuphap
    assert [call_next(eng, "2") for _ in range(3)] == ["B001", "A001", "A002"]


def test_priority_first_but_nobody_starves(eng: Engine) -> None:
    for _ in range(2):
        issue(eng)
    for _ in range(5):
        issue(eng, priority=True)
    ok(eng, "counter-1", "open")
    called = [call_next(eng, "1") for _ in range(7)]
    # priority_streak = 3 by default: three priority, then an ordinary one.
    assert called == ["A003", "A004", "A005", "A001", "A006", "A007", "A002"]


def test_call_next_finishes_current_and_emits_events(eng: Engine) -> None:
    issue(eng)
    issue(eng)
    ok(eng, "counter-1", "open", officer="cb1")
    call_next(eng, "1")
    d = eng.handle("counter-1", "call_next", {})
    assert [e[0] for e in d.events] == ["ticket.done", "ticket.called"]
    done, called = d.events[0][2]["ticket"], d.events[1][2]["ticket"]
    assert (done["number"], done["status"]) == ("A001", "done")
    assert (called["number"], called["status"], called["counter"], called["officer"]) == (
        "A002",
        "called",
        "1",
        "cb1",
    )
    assert eng.counter_state("1")["serving"]["number"] == "A002"
    assert eng.board_state()["calls"][0]["number"] == "A002"


def test_recall_moves_the_number_to_the_top_of_the_board(eng: Engine) -> None:
    issue(eng)
    issue(eng)
    ok(eng, "counter-1", "open")
    ok(eng, "counter-2", "open")
    call_next(eng, "1")
    call_next(eng, "2")
    assert [c["number"] for c in eng.board_state()["calls"]] == ["A002", "A001"]
    d = eng.handle("counter-1", "recall", {})
    assert d.events[0][0] == "ticket.called" and d.events[0][2]["recall"] is True
    assert [c["number"] for c in eng.board_state()["calls"]] == ["A001", "A002"]


def test_skip_then_call_the_skipped_ticket_later(eng: Engine) -> None:
    issue(eng)
    issue(eng)
    ok(eng, "counter-1", "open")
    call_next(eng, "1")
    assert ok(eng, "counter-1", "skip")["ticket"]["status"] == "skipped"
    assert eng.counter_state("1")["serving"] is None
    assert call_next(eng, "1") == "A002"
    t = ok(eng, "counter-1", "call", number="a001")["ticket"]
    assert (t["number"], t["status"]) == ("A001", "called")
    assert eng.tickets["20261123-A002"].status == "done"


def test_call_by_number_refuses_what_it_cannot_call(eng: Engine) -> None:
    issue(eng, "dkkd")
    ok(eng, "counter-1", "open")
    assert err(eng, "counter-1", "call", number="A999") == "not_found"
    assert err(eng, "counter-1", "call", number="C001") == "not_found"  # not its service
    issue(eng)
    ok(eng, "counter-2", "open")
    assert call_next(eng, "2") == "A001"
    assert err(eng, "counter-1", "call", number="A001") == "not_found"  # served elsewhere


def test_transfer_to_back_and_front_of_another_service(eng: Engine) -> None:
    issue(eng, "datdai")
    issue(eng, "datdai")
    issue(eng, "tuphap")
    ok(eng, "counter-1", "open")
    assert call_next(eng, "1") == "B001"
    t = ok(eng, "counter-1", "transfer", service="tuphap")["ticket"]
    assert (t["number"], t["service"], t["status"], t["counter"]) == ("B001", "tuphap", "waiting", None)
    assert [x.number for x in eng.waiting_list("tuphap")] == ["A001", "B001"]
    ok(eng, "counter-2", "open")
    assert call_next(eng, "2") == "B002"
    ok(eng, "counter-2", "transfer", service="tuphap", front=True)
    assert [x.number for x in eng.waiting_list("tuphap")] == ["B002", "A001", "B001"]
    assert err(eng, "counter-2", "transfer", service="nope") == "unknown_service"


def test_counter_lifecycle_and_its_errors(eng: Engine) -> None:
    assert err(eng, "counter-1", "call_next") == "counter_closed"
    assert err(eng, "counter-1", "pause") == "counter_closed"
    assert err(eng, "counter-1", "recall") == "counter_closed"
    assert err(eng, "counter-1", "open", officer="ghost") == "not_found"
    st = ok(eng, "counter-1", "open", officer="cb2")
    assert (st["status"], st["officer"]["name"]) == ("open", "Trần Văn Hùng")
    assert err(eng, "counter-1", "recall") == "no_current_ticket"
    assert err(eng, "counter-1", "skip") == "no_current_ticket"
    assert err(eng, "counter-1", "finish") == "no_current_ticket"
    assert ok(eng, "counter-1", "pause")["status"] == "paused"
    assert err(eng, "counter-1", "call_next") == "counter_closed"
    assert ok(eng, "counter-1", "resume")["status"] == "open"
    issue(eng)
    call_next(eng, "1")
    d = eng.handle("counter-1", "close", {})
    assert [e[0] for e in d.events] == ["ticket.done", "counter.closed"]
    assert d.result == {**eng.counter_state("1")} and d.result["officer"] is None


def test_an_officer_works_at_one_counter_at_a_time(eng: Engine) -> None:
    ok(eng, "counter-1", "open", officer="cb1")
    issue(eng)
    assert call_next(eng, "1") == "A001"
    # Opening a second counter as the same officer is refused, names the counter, changes nothing.
    d = eng.handle("counter-2", "open", {"officer": "cb1"})
    assert d.error is not None and d.error.code == "officer_elsewhere"
    assert "Quầy 1" in d.error.message and not d.events
    assert eng.counter_state("2")["status"] == "closed"
    assert eng.counter_state("1")["officer"]["id"] == "cb1"
    # A paused counter still holds its officer.
    ok(eng, "counter-1", "pause")
    assert err(eng, "counter-2", "open", officer="cb1") == "officer_elsewhere"
    # Re-opening at the officer's own counter, or opening another counter without naming the
    # officer, is not a conflict.
    ok(eng, "counter-1", "resume")
    assert ok(eng, "counter-1", "open", officer="cb1")["officer"]["id"] == "cb1"
    assert ok(eng, "counter-2", "open")["officer"] is None
    # An explicit move closes the other counter (finishing its ticket) and opens this one.
    d = eng.handle("counter-2", "open", {"officer": "cb1", "move": True})
    assert d.error is None
    assert [e[0] for e in d.events] == ["ticket.done", "counter.closed", "counter.opened"]
    assert eng.counter_state("1")["status"] == "closed" and eng.counter_state("1")["officer"] is None
    assert eng.counter_state("2")["officer"]["id"] == "cb1"
    # Once closed there, the officer may open anywhere again.
    ok(eng, "counter-2", "close")
    assert ok(eng, "counter-1", "open", officer="cb1")["status"] == "open"
    assert err(eng, "counter-2", "open", officer="cb1", move="yes") == "bad_request"


def test_roles_and_devices_are_enforced(eng: Engine) -> None:
    assert err(eng, "kiosk-1", "call_next") == "forbidden"
    assert err(eng, "counter-1", "issue", service="tuphap") == "forbidden"
    assert err(eng, "board-1", "issue", service="tuphap") == "forbidden"
    assert err(eng, "intruder", "issue", service="tuphap") == "forbidden"
    assert err(eng, "kiosk-land", "issue", service="tuphap") == "forbidden"
    assert ok(eng, "kiosk-land", "issue", service="datdai")["ticket"]["number"] == "B001"


def test_bad_arguments_are_bad_requests(eng: Engine) -> None:
    assert err(eng, "kiosk-1", "issue") == "bad_request"
    assert err(eng, "kiosk-1", "issue", service=7) == "bad_request"
    assert err(eng, "kiosk-1", "issue", service="tuphap", priority="yes") == "bad_request"
    assert err(eng, "kiosk-1", "issue", service="tuphap", colour="red") == "bad_request"
    assert err(eng, "kiosk-1", "issue", service="x" * 500) == "bad_request"
    assert err(eng, "kiosk-1", "issue", service="nope") == "unknown_service"
    assert eng.service_state("tuphap")["issued_today"] == 0


def test_opening_hours_days_and_daily_limit(clock: ManualClock, eng: Engine) -> None:
    for _ in range(3):
        issue(eng, "dkkd")
    assert err(eng, "kiosk-1", "issue", service="dkkd") == "daily_limit"
    clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=VN))  # lunch break
    d = eng.handle("kiosk-1", "issue", {"service": "dkkd"})
    assert d.error is not None and d.error.code == "service_closed" and "13:30-17:00" in d.error.message
    clock.set(datetime(2026, 11, 28, 9, 0, tzinfo=VN))  # Saturday
    assert [e[0] for e in eng.tick().events][-1] == "day.closed"
    assert err(eng, "kiosk-1", "issue", service="dkkd") == "service_closed"
    assert issue(eng, "tuphap") == "A001"  # no hours: always open, and a new day


def test_tick_publishes_a_service_opening(clock: ManualClock) -> None:
    clock.set(datetime(2026, 11, 23, 6, 59, tzinfo=VN))
    eng = Engine(site(), clock)
    assert eng.service_state("dkkd")["open"] is False
    clock.advance(60)
    d = eng.tick()
    assert "dkkd" in d.services and eng.service_state("dkkd")["open"] is True


def test_day_close_expires_waiting_and_restarts_numbering(clock: ManualClock, eng: Engine) -> None:
    for _ in range(3):
        issue(eng)
    ok(eng, "counter-1", "open", officer="cb1")
    call_next(eng, "1")
    clock.set(datetime(2026, 11, 24, 5, 0, 1, tzinfo=VN))
    d = eng.tick()
    kinds = [e[0] for e in d.events]
    assert kinds.count("ticket.expired") == 2 and kinds.count("ticket.done") == 1
    assert kinds[-1] == "day.closed" and d.events[-1][2] == {"day": "2026-11-23", "issued": 3, "expired": 2}
    assert all(t.status in ("done", "expired") for t in d.tickets.values()) and len(d.tickets) == 3
    assert eng.counter_state("1")["status"] == "closed" and eng.board_state()["calls"] == []
    assert issue(eng) == "A001"
    assert eng.tickets["20261124-A001"].day == "2026-11-24"


def test_business_day_starts_at_day_starts() -> None:
    cfg = site()
    assert business_day(cfg, datetime(2026, 11, 24, 4, 59, tzinfo=VN)).isoformat() == "2026-11-23"
    assert business_day(cfg, datetime(2026, 11, 24, 5, 0, tzinfo=VN)).isoformat() == "2026-11-24"


def test_estimate_learns_from_real_service_times(clock: ManualClock, eng: Engine) -> None:
    prior = eng.services["tuphap"].ewma_s
    ok(eng, "counter-1", "open")
    for _ in range(20):
        issue(eng)
        call_next(eng, "1")
        clock.advance(60)
        ok(eng, "counter-1", "finish")
    assert prior == 300 and 60 < eng.services["tuphap"].ewma_s < 70


def test_rating_rules(clock: ManualClock, eng: Engine) -> None:
    assert err(eng, "rate-1", "rate", score=3) == "nothing_to_rate"
    issue(eng)
    ok(eng, "counter-1", "open", officer="cb1")
    call_next(eng, "1")
    assert err(eng, "rate-1", "rate", score=3) == "nothing_to_rate"  # still being served
    ok(eng, "counter-1", "finish")
    assert err(eng, "rate-1", "rate", score=4) == "bad_request"
    assert err(eng, "rate-1", "rate", score=1, reasons=["Không có"]) == "bad_request"
    r = ok(eng, "rate-1", "rate", score=1, reasons=["Chờ lâu"], comment="  Đợi quá lâu  ")["rating"]
    assert (r["ticket"], r["officer"], r["level"], r["satisfied"], r["comment"]) == (
        "20261123-A001",
        "cb1",
        "Không hài lòng",
        False,
        "Đợi quá lâu",
    )
    assert err(eng, "rate-1", "rate", score=3) == "already_rated"
    issue(eng)
    call_next(eng, "1")
    ok(eng, "counter-1", "finish")
    clock.advance(301)
    assert err(eng, "rate-1", "rate", score=3) == "nothing_to_rate"  # window passed


def test_a_no_show_or_a_transfer_leaves_nothing_to_rate(eng: Engine) -> None:
    for _ in range(3):
        issue(eng)
    ok(eng, "counter-1", "open", officer="cb1")
    call_next(eng, "1")
    call_next(eng, "1")  # A001 done: rateable
    ok(eng, "counter-1", "skip")  # A002 did not come
    assert err(eng, "rate-1", "rate", score=3) == "nothing_to_rate", "it would rate A001's visit"
    call_next(eng, "1")
    ok(eng, "counter-1", "transfer", service="datdai")
    assert err(eng, "rate-1", "rate", score=3) == "nothing_to_rate"


def test_rating_names_the_visit_it_is_for(eng: Engine) -> None:
    issue(eng)
    issue(eng)
    ok(eng, "counter-1", "open", officer="cb1")
    call_next(eng, "1")
    call_next(eng, "1")  # A001 done, A002 called
    assert err(eng, "rate-1", "rate", score=3, ticket="20261123-A002") == "nothing_to_rate"
    r = ok(eng, "rate-1", "rate", score=3, ticket="20261123-A001")["rating"]
    assert r["ticket"] == "20261123-A001"


def test_a_long_day_keeps_only_what_can_still_change_in_memory(clock: ManualClock, eng: Engine) -> None:
    ok(eng, "counter-1", "open")
    ok(eng, "counter-2", "open")
    for i in range(600):
        issue(eng)
        call_next(eng, "1" if i % 2 else "2")
        clock.advance(30)
    ok(eng, "counter-1", "skip")
    # waiting: none; called: one at counter 2; skipped: one; last finished: one per counter.
    assert len(eng.tickets) <= 4, sorted(eng.tickets)
    (skipped,) = [t.number for t in eng.tickets.values() if t.status == "skipped"]
    assert ok(eng, "counter-1", "call", number=skipped)["ticket"]["status"] == "called"  # still callable


def test_every_call_and_recall_changes_the_counter_state(clock: ManualClock, eng: Engine) -> None:
    for _ in range(3):
        issue(eng)
    ok(eng, "counter-1", "open")
    ok(eng, "counter-2", "open")
    assert (eng.counter_state("1")["calls"], eng.counter_state("1")["last_call"]) == (0, None)
    d = eng.handle("counter-1", "call_next", {})
    assert "1" in d.counters
    assert eng.counter_state("1")["calls"] == 1
    assert eng.counter_state("1")["last_call"] == {
        "number": "A001",
        "recall": False,
        "ts": "2026-11-23T08:00:00.000+07:00",
    }
    clock.advance(20)
    d = eng.handle("counter-1", "recall", {})
    # A recall changes nothing else at the counter, yet its state must be published (and stored) again.
    assert d.counters == {"1"} and not d.services
    assert eng.counter_state("1")["calls"] == 2
    assert eng.counter_state("1")["last_call"] == {
        "number": "A001",
        "recall": True,
        "ts": "2026-11-23T08:00:20.000+07:00",
    }
    ok(eng, "counter-1", "skip")
    ok(eng, "counter-1", "pause")
    ok(eng, "counter-1", "resume")
    assert eng.counter_state("1")["calls"] == 2  # only calls count
    assert call_next(eng, "2") == "A002"  # another counter's call
    assert eng.counter_state("1")["calls"] == 2 and eng.counter_state("2")["calls"] == 1
    ok(eng, "counter-1", "call", number="A001")  # the skipped one, by number
    assert eng.counter_state("1")["calls"] == 3 and eng.counter_state("1")["last_call"]["number"] == "A001"
    assert call_next(eng, "1") == "A003"
    assert call_next(eng, "1") is None  # nobody waits: no call
    assert eng.counter_state("1")["calls"] == 4
    clock.set(datetime(2026, 11, 24, 5, 0, 1, tzinfo=VN))
    eng.tick()  # the daily reset: the number of calls goes on, so no display blinks
    assert (eng.counter_state("1")["calls"], eng.counter_state("1")["last_call"]) == (4, None)


def test_a_restart_restores_the_calls_of_each_counter(clock: ManualClock, tmp_path: Path) -> None:
    cfg = site()
    eng = Engine(cfg, clock)
    store = Store(tmp_path / "controller.db")

    def persist(d: Decision) -> None:  # what the controller's shell does with every decision
        store.commit(
            [Pending(d)],
            eng.meta(),
            {c: eng.counters[c].record() for c in d.counters},
            {s: eng.services[s].record() for s in d.services},
            "2026-11-23T08:00:00.000+07:00",
        )

    for op, device, args in [
        ("issue", "kiosk-1", {"service": "tuphap"}),
        ("open", "counter-1", {}),
        ("call_next", "counter-1", {}),
        ("recall", "counter-1", {}),  # the last change of counter 1: lost unless a recall is stored
    ]:
        persist(eng.handle(device, op, args))
    before = {c.id: eng.counter_state(c.id) for c in cfg.counters}
    assert before["1"]["calls"] == 2 and before["1"]["last_call"]["recall"] is True

    again = Engine(cfg, clock)
    loaded = store.load(business_day(cfg, clock.now()))
    again.restore(loaded.meta, loaded.tickets, loaded.counters, loaded.services)
    assert {c.id: again.counter_state(c.id) for c in cfg.counters} == before
    assert call_next(again, "1") is None and again.counter_state("1")["calls"] == 2


def test_counter_records_written_before_calls_existed_still_load(clock: ManualClock) -> None:
    old = {
        "status": "open",
        "officer": None,
        "serving": None,
        "last_done": None,
        "last_done_at": None,
        "streak": 0,
    }
    eng = Engine(site(), clock)
    eng.restore({}, [], {"1": old}, {})
    assert eng.counter_state("1")["status"] == "open"
    assert (eng.counter_state("1")["calls"], eng.counter_state("1")["last_call"]) == (0, None)
    issue(eng)
    call_next(eng, "1")
    assert eng.counter_state("1")["calls"] == 1
