"""Invariants of booked tickets under random arrivals, calls and clock moves (hypothesis), as
test_engine_properties.py does for priority: no walk-in starves, no booked ticket is called twice, no
booking code gets two tickets in a day, the daily limit holds, and an early citizen who waits is never
called before the window of the slot."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from onestop.clock import ManualClock
from queue_controller.engine import Engine
from tests.unit.sites import MONDAY_8AM, site

RULES = {"enabled": True, "before_min": 15, "after_min": 10, "early": "wait", "late": "walk_in"}
SERVICES = ["tuphap", "datdai", "dkkd"]
COUNTERS = ["1", "2", "3"]

walk_in = st.tuples(st.just("walk_in"), st.sampled_from(SERVICES), st.booleans(), st.just(0), st.just(0))
# A booking: its slot from 1 h before now to 3 h after (early, on time and late ones), a code from a
# small pool so that codes come back.
booked = st.tuples(
    st.just("booked"), st.sampled_from(SERVICES), st.booleans(), st.integers(-60, 180), st.integers(0, 15)
)
counter = st.tuples(
    st.just("counter"),
    st.sampled_from(COUNTERS),
    st.sampled_from(
        [
            "open",
            "call_next",
            "call_next",
            "call_next",
            "call_next",
            "skip",
            "finish",
            "pause",
            "resume",
            "close",
            "transfer",
        ]
    ),
    st.sampled_from(SERVICES),
    st.just(0),
)
clock_move = st.tuples(st.just("time"), st.just(""), st.booleans(), st.integers(1, 90), st.just(0))
steps = st.lists(st.one_of(walk_in, booked, booked, counter, counter, clock_move), min_size=1, max_size=150)
configs = st.tuples(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["service", "prefix"]))


class Watch:
    """What the invariants need to remember across the steps."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.first_calls: Counter[str] = Counter()
        self.codes: Counter[tuple[str, str]] = Counter()
        self.issued: Counter[tuple[str, str]] = Counter()
        self.numbers: Counter[tuple[str, str]] = Counter()
        #: Per counter: calls in a row that passed over a waiting walk-in.
        self.passed_over: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.worst = 0


def run(eng: Engine, clock: ManualClock, seq: list[tuple[Any, ...]]) -> Watch:
    w = Watch(eng)
    for kind, who, flag, n, m in seq:
        if kind == "time":
            clock.advance(n * 60 if flag else n)
            eng.tick()
        elif kind in ("walk_in", "booked"):
            args: dict[str, Any] = {"service": who, "priority": flag}
            if kind == "booked":
                start = clock.now() + timedelta(minutes=n)
                args["booking"] = {"code": f"DL{m:08d}", "slot_start": start.isoformat(),
                                   "slot_end": (start + timedelta(minutes=15)).isoformat()}  # fmt: skip
            d = eng.handle("kiosk-1", "issue", args)
            if d.ok:
                assert d.result is not None
                t = d.result["ticket"]
                w.issued[(eng.day.isoformat(), who)] += 1
                w.numbers[(eng.day.isoformat(), t["number"])] += 1
                if t["booking"] is not None:
                    w.codes[(eng.day.isoformat(), t["booking"]["code"])] += 1
        else:
            cid = who
            waited = any(eng.services[s].normal for s in eng.cfg.counter(cid).services)
            op_args = {"service": n} if flag == "transfer" else {}
            d = eng.handle(f"counter-{cid}", flag, op_args)
            if flag == "transfer" and d.ok and d.result:
                # It waits again, elsewhere (a walk-in there): its next call is a new one.
                w.first_calls.pop(d.result["ticket"]["id"], None)
            if flag == "call_next" and d.ok and d.result and d.result["ticket"]:
                t = eng.tickets[d.result["ticket"]["id"]]
                w.first_calls[t.id] += 1
                if t.booked:
                    assert t.due_at is not None and t.due_at <= clock.now(), (
                        f"{t.number} called at {clock.now()} before its window {t.due_at}"
                    )
                walked_in = not t.booked and not t.priority
                w.passed_over[cid] = w.passed_over[cid] + 1 if (waited and not walked_in) else 0
                w.worst = max(w.worst, w.passed_over[cid])
    return w


@settings(max_examples=300, deadline=None)
@given(configs, steps)
def test_booking_invariants(conf: tuple[int, int, str], seq: list[tuple[Any, ...]]) -> None:
    max_in_row, streak, numbering = conf
    cfg = site(
        bookings={**RULES, "max_in_row": max_in_row, "numbering": numbering},
        queue={"priority_streak": streak},
    )
    clock = ManualClock(MONDAY_8AM)
    eng = Engine(cfg, clock)
    seq = [("counter", c, "open", 0, 0) for c in COUNTERS] + seq
    w = run(eng, clock, seq)
    called_twice = [t for t, k in w.first_calls.items() if k > 1]
    assert not called_twice, f"called twice by call_next: {called_twice}"
    used_twice = [c for c, k in w.codes.items() if k > 1]
    assert not used_twice, f"booking codes with two tickets in a day: {used_twice}"
    numbers_twice = [c for c, k in w.numbers.items() if k > 1]
    assert not numbers_twice, f"numbers issued twice in a day: {numbers_twice}"
    for (_day, sid), k in w.issued.items():
        assert k <= cfg.service(sid).capacity, f"{sid}: {k} tickets over its daily limit"
    # A waiting walk-in is passed over by at most max_in_row booked calls, each of them after at
    # most priority_streak priority calls, and priority_streak more before its own turn.
    bound = max_in_row + (max_in_row + 1) * streak
    assert w.worst <= bound, f"a walk-in was passed over {w.worst} times in a row (bound {bound})"
    # Every waiting ticket is in exactly one line, the right one.
    for s in eng.services.values():
        ids = [*s.prio, *s.booked, *s.normal]
        assert len(ids) == len(set(ids))
        assert all(eng.tickets[t].status == "waiting" and eng.tickets[t].service == s.id for t in ids)
        assert all(eng.tickets[t].booked for t in s.booked)
        keys = [(eng.tickets[t].due_at, eng.tickets[t].rank) for t in s.booked]
        assert keys == sorted(keys)  # type: ignore[type-var]


@settings(max_examples=200, deadline=None)
@given(configs, st.lists(st.sampled_from(["walk_in", "booked", "booked", "priority", "call"]), max_size=200))
def test_no_walk_in_starves_while_booked_ones_keep_arriving(
    conf: tuple[int, int, str], seq: list[str]
) -> None:
    max_in_row, streak, numbering = conf
    cfg = site(
        bookings={**RULES, "max_in_row": max_in_row, "numbering": numbering},
        queue={"priority_streak": streak},
    )
    clock = ManualClock(MONDAY_8AM)
    eng = Engine(cfg, clock)
    assert eng.handle("counter-1", "open", {}).ok
    bound = max_in_row + (max_in_row + 1) * streak
    passed_over, booked_in_row = 0, 0
    for i, step in enumerate(seq):
        clock.advance(30)
        if step == "call":
            waited = any(eng.services[s].normal for s in ("tuphap", "datdai"))
            d = eng.handle("counter-1", "call_next", {})
            assert d.ok and d.result is not None
            if d.result["ticket"] is None:
                continue
            t = eng.tickets[d.result["ticket"]["id"]]
            passed_over = passed_over + 1 if waited and (t.booked or t.priority) else 0
            booked_in_row = (
                booked_in_row + 1 if waited and t.booked else (0 if not t.priority else booked_in_row)
            )
            assert passed_over <= bound, f"a walk-in was passed over {passed_over} times (bound {bound})"
            assert booked_in_row <= max_in_row
        else:
            args: dict[str, Any] = {"service": "tuphap", "priority": step == "priority"}
            if step == "booked":
                args["booking"] = {"code": f"DL{i:08d}", "slot_start": clock.now().isoformat(),
                                   "slot_end": (clock.now() + timedelta(minutes=15)).isoformat()}  # fmt: skip
            assert eng.handle("kiosk-1", "issue", args).ok


def _stamp(dt: Any, minutes: int) -> str:
    return dt.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


stamps = st.builds(_stamp, st.datetimes(), st.integers(-14 * 60, 14 * 60))
values = st.one_of(
    st.text(max_size=80), stamps, st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=3))
)
bookings = st.one_of(
    st.dictionaries(st.sampled_from(["code", "slot_start", "slot_end", "name"]), values, max_size=5),
    values,
)


@settings(max_examples=300, deadline=None)
@given(bookings, st.one_of(st.none(), st.text(max_size=60)))
def test_any_booking_or_dossier_is_decided_never_raised(booking: Any, dossier: str | None) -> None:
    eng = Engine(site(bookings=RULES, dossiers={"service": "datdai"}), ManualClock(MONDAY_8AM))
    args: dict[str, Any] = {"service": "datdai", "booking": booking}
    if dossier is not None:
        args["dossier"] = dossier
    d = eng.handle("kiosk-1", "issue", args)
    if d.error is not None:
        assert not d.events and not d.tickets and eng.services["datdai"].issued == 0
    else:
        assert d.result is not None and d.result["ticket"]["number"] == "B001"
