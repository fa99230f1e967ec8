"""Invariants of the queue engine under random sequences of commands and clock moves (hypothesis)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestop.clock import ManualClock
from queue_controller.engine import Engine
from tests.unit.sites import MONDAY_8AM, site

CFG = site()
COUNTERS = ["1", "2", "3"]
SERVICES = ["tuphap", "datdai", "dkkd", "nope"]

counter_op = st.tuples(
    st.just("counter"),
    st.sampled_from(COUNTERS),
    st.sampled_from(
        [
            "open",
            "call_next",
            "call_next",
            "call_next",
            "recall",
            "skip",
            "finish",
            "pause",
            "resume",
            "close",
            "transfer",
            "call",
        ]
    ),
    st.sampled_from(SERVICES),
    st.booleans(),
    st.integers(1, 12),
)
kiosk_op = st.tuples(
    st.just("kiosk"), st.just(""), st.just("issue"), st.sampled_from(SERVICES), st.booleans(), st.just(0)
)
rate_op = st.tuples(
    st.just("rate"), st.just("1"), st.just("rate"), st.just(""), st.booleans(), st.integers(0, 4)
)
time_op = st.tuples(
    st.just("time"), st.just(""), st.just(""), st.just(""), st.booleans(), st.integers(1, 4 * 3600)
)
steps = st.lists(st.one_of(kiosk_op, kiosk_op, counter_op, rate_op, time_op), min_size=1, max_size=120)


def run(engine: Engine, clock: ManualClock, seq: list[tuple]) -> list:
    decisions = []
    for kind, who, op, service, flag, n in seq:
        if kind == "time":
            clock.advance(n if flag else n // 60)
            decisions.append(engine.tick())
        elif kind == "kiosk":
            decisions.append(engine.handle("kiosk-1", "issue", {"service": service, "priority": flag}))
        elif kind == "rate":
            decisions.append(engine.handle("rate-1", "rate", {"score": n}))
        else:
            args: dict = {}
            if op == "transfer":
                args = {"service": service, "front": flag}
            elif op == "call":
                args = {"number": f"{'ABC'[n % 3]}{n:03d}"}
            elif op == "open" and flag:
                args = {"officer": "cb1", "move": n % 2 == 1}
            decisions.append(engine.handle(f"counter-{who}", op, args))
    return decisions


def check_invariants(engine: Engine, issued: list[tuple[str, str]]) -> None:
    # No number issued twice in a business day.
    dupes = [k for k, n in Counter(issued).items() if n > 1]
    assert not dupes, f"numbers issued twice: {dupes}"
    # No ticket served by two counters; a serving counter's ticket is called there.
    serving = [c.serving for c in engine.counters.values() if c.serving]
    assert len(serving) == len(set(serving))
    for c in engine.counters.values():
        if c.serving:
            t = engine.tickets[c.serving]
            assert (t.status, t.counter) == ("called", c.id)
    called = [t.id for t in engine.tickets.values() if t.status == "called"]
    # One officer, one counter.
    working = [c.officer for c in engine.counters.values() if c.status != "closed" and c.officer]
    assert len(working) == len(set(working)), f"an officer at two counters: {working}"
    assert sorted(called) == sorted(serving), "a called ticket is not at any counter"
    # Waiting counts always equal the waiting tickets.
    for sid, svc in engine.services.items():
        truly = sorted(t.id for t in engine.tickets.values() if t.status == "waiting" and t.service == sid)
        assert sorted([*svc.prio, *svc.normal]) == truly
        assert engine.service_state(sid)["waiting"] == len(truly)
        # Lines stay in calling order.
        for line in (svc.prio, svc.normal):
            ranks = [engine.tickets[t].rank for t in line]
            assert ranks == sorted(ranks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_invariants_hold_after_any_sequence(seq: list[tuple]) -> None:
    clock = ManualClock(MONDAY_8AM)
    engine = Engine(CFG, clock)
    decisions = run(engine, clock, seq)
    issued = [
        (e[2]["ticket"]["id"].split("-")[0], e[2]["ticket"]["number"])
        for d in decisions
        for e in d.events
        if e[0] == "ticket.issued"
    ]
    check_invariants(engine, issued)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_every_ticket_ends_in_exactly_one_terminal_state(seq: list[tuple]) -> None:
    clock = ManualClock(MONDAY_8AM)
    engine = Engine(CFG, clock)
    decisions = run(engine, clock, seq)
    clock.advance(timedelta(days=1).total_seconds())
    decisions.append(engine.tick())
    final: dict[str, str] = {}
    for d in decisions:
        for tid, t in d.tickets.items():
            final[tid] = t.status
    issued = {e[2]["ticket"]["id"] for d in decisions for e in d.events if e[0] == "ticket.issued"}
    assert set(final) == issued
    assert all(s in ("done", "skipped", "expired") for s in final.values()), Counter(final.values())
    # Events and states agree: the last ticket event of each ticket matches its final status.
    last: dict[str, str] = {}
    for d in decisions:
        for kind, _ts, data in d.events:
            if "ticket" in data and kind != "rating.recorded":
                last[data["ticket"]["id"]] = data["ticket"]["status"]
    assert last == final


def snapshot(engine: Engine) -> tuple:
    return (
        {k: t.record() for k, t in engine.tickets.items()},
        {k: c.record() for k, c in engine.counters.items()},
        {k: (s.record(), list(s.prio), list(s.normal)) for k, s in engine.services.items()},
        engine.meta(),
    )


@settings(max_examples=150, deadline=None)
@given(steps)
def test_refused_commands_change_nothing(seq: list[tuple]) -> None:
    clock = ManualClock(MONDAY_8AM)
    engine = Engine(CFG, clock)
    refused = 0
    for step in seq:
        engine.tick()
        before = snapshot(engine)
        (d,) = run(engine, clock, [step])
        if d.error is not None:
            refused += 1
            assert not d.events and not d.tickets
            assert snapshot(engine) == before, f"{step} was refused ({d.error.code}) but changed state"


@settings(max_examples=150, deadline=None)
@given(steps)
def test_each_call_and_recall_changes_its_counter_state_once(seq: list[tuple]) -> None:
    clock = ManualClock(MONDAY_8AM)
    engine = Engine(CFG, clock)
    called: Counter[str] = Counter()
    for d in run(engine, clock, seq):
        here = Counter(data["ticket"]["counter"] for kind, _ts, data in d.events if kind == "ticket.called")
        # The counter's state is stored and published again with every decision that calls there.
        assert set(here) <= d.counters, f"a call at {set(here) - d.counters} left the counter state as it was"
        called.update(here)
    for cid in COUNTERS:
        assert engine.counter_state(cid)["calls"] == called[cid]
