"""What the traffic simulator makes of the events it sees: which counters and rating terminals a
person uses, and for how long it leaves them alone."""

from __future__ import annotations

from typing import Any

from onestop.simulate import Watch


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watch() -> tuple[Watch, Ticks]:
    t = Ticks()
    w = Watch({"sim-counter-1", "sim-counter-2", "sim-rate-1"}, {"1": "cb001", "2": "cb002"}, 30.0, t)
    return w, t


def counter_event(
    kind: str, counter: str, status: str, device: str | None, officer: str | None = None
) -> dict:
    data: dict[str, Any] = {
        "counter": {"counter": counter, "status": status, "officer": officer and {"id": officer, "name": "X"}}
    }
    if device is not None:
        data["command"] = {"device": device, "id": "c1"}
    return {"seq": 1, "type": kind, "ts": "…", "data": data}


def test_its_own_commands_and_the_clocks_leave_every_counter_to_it() -> None:
    w, _ = watch()
    w.on_event(counter_event("counter.opened", "1", "open", "sim-counter-1", "cb001"))
    w.on_event(counter_event("counter.closed", "2", "closed", None))  # the daily reset
    w.on_event(
        {"type": "ticket.issued", "data": {"ticket": {"counter": None}, "command": {"device": "kiosk-1"}}}
    )
    assert not w.counter_left_alone("1") and not w.counter_left_alone("2")
    assert w.state("1")["status"] == "open" and w.officer_at("cb001") == "1"


def test_a_counter_a_person_opened_is_theirs_until_it_is_closed_then_for_a_while() -> None:
    w, t = watch()
    w.on_event(counter_event("counter.opened", "2", "open", "caller-2", "cb003"))
    t.now += 3600
    assert w.counter_left_alone("2") and not w.counter_left_alone("1")
    w.on_event(counter_event("counter.closed", "2", "closed", "caller-2"))
    assert w.counter_left_alone("2")  # just closed by the person
    t.now += 31
    assert not w.counter_left_alone("2")


def test_a_persons_call_on_an_open_counter_takes_it() -> None:
    w, t = watch()
    w.on_event(
        {"type": "ticket.called", "data": {"ticket": {"counter": "1"}, "command": {"device": "caller-1"}}}
    )
    t.now += 3600
    assert w.counter_left_alone("1")


def test_a_rating_by_hand_keeps_the_simulated_citizens_off_that_terminal_for_a_while() -> None:
    w, t = watch()
    rating = {"rating": {"counter": "1"}, "ticket": {}}
    w.on_event({"type": "rating.recorded", "data": {**rating, "command": {"device": "sim-rate-1"}}})
    assert not w.rater_left_alone("1")
    w.on_event({"type": "rating.recorded", "data": {**rating, "command": {"device": "rate-1"}}})
    assert w.rater_left_alone("1") and not w.rater_left_alone("2") and not w.counter_left_alone("1")
    t.now += 31
    assert not w.rater_left_alone("1")


def test_a_counter_open_before_the_simulation_with_another_officer_is_a_persons() -> None:
    w, _ = watch()
    w.on_counter_state({"counter": "1", "status": "open", "officer": {"id": "cb001"}}, retained=True)
    w.on_counter_state({"counter": "2", "status": "open", "officer": {"id": "cb009"}}, retained=True)
    assert not w.counter_left_alone("1")  # the simulation's own, from a former run
    assert w.counter_left_alone("2")
    assert w.seen_states.is_set()
