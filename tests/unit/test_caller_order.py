"""The soft caller's "next" list is the order in which the counter's call_next will really take the
tickets: the hub plays the controller's rule forward (priority_streak, max_in_row and the counter's
streaks from its retained state). Checked against the real engine after random days (hypothesis):
the counter then calls until nobody is due, and the numbers it calls are the list, in order."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub_api.routers.counters import Rules, waiting_for
from onestop.clock import ManualClock
from queue_controller.engine import Engine
from tests.unit.sites import MONDAY_8AM, site
from tests.unit.test_bookings_properties import COUNTERS, RULES, run, steps


def _hub_rows(eng: Engine, services: list[str]) -> list[dict[str, Any]]:
    """The counter's waiting tickets as the hub's table has them (the queue position: the rank)."""
    rows = []
    for t in eng.tickets.values():
        if t.status == "waiting" and t.service in services:
            booking = t.wire().get("booking")
            rows.append({
                "id": t.id, "number": t.number, "service": t.service, "priority": t.priority,
                "issued_at": t.issued_at.isoformat(), "updated_seq": t.rank, "front": 0,
                "booking": json.dumps(booking) if booking else None,
            })  # fmt: skip
    return rows


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.sampled_from(COUNTERS),
    st.sampled_from(["fifo", "ordered"]),
    steps,
)
def test_the_next_list_is_the_order_of_the_calls(
    conf: tuple[int, int], cid: str, policy: str, seq: list[tuple[Any, ...]]
) -> None:
    max_in_row, streak = conf
    base = site()
    counters = [
        {**c.model_dump(), "policy": policy} if c.id == cid else c.model_dump() for c in base.counters
    ]
    cfg = site(
        bookings={**RULES, "max_in_row": max_in_row},
        queue={"priority_streak": streak},
        counters=counters,
    )
    clock = ManualClock(MONDAY_8AM)
    eng = Engine(cfg, clock)
    run(eng, clock, [("counter", c, "open", 0, 0) for c in COUNTERS] + seq)
    device = f"counter-{cid}"
    status = eng.counters[cid].status
    if status != "open":
        assert eng.handle(device, "resume" if status == "paused" else "open", {}).ok
    state = json.loads(json.dumps(eng.counter_state(cid)))  # as the hub gets it
    rules = Rules(streak, max_in_row, state["streaks"]["priority"], state["streaks"]["booked"])
    conf_c = cfg.counter(cid)
    predicted = [
        r["number"] for r in waiting_for(_hub_rows(eng, list(conf_c.services)), conf_c, clock.now(), rules)
    ]
    called = []
    while True:
        d = eng.handle(device, "call_next", {})
        assert d.ok, d.error
        if not d.result or not d.result.get("ticket"):
            break
        called.append(d.result["ticket"]["number"])
    assert called == predicted[: len(called)]
    # What was left uncalled are booked tickets whose window has not begun: the end of the list.
    assert all(eng.tickets[t].booked for s in conf_c.services for t in eng.services[s].booked)
    assert len(predicted) == len(called) + sum(len(eng.services[s].booked) for s in conf_c.services)
