"""When a counter display blinks: ``CallWatch`` over the counter state's ``calls`` (docs/protocol.md)."""

from __future__ import annotations

from display_agents.counter_agent import CallWatch


def test_the_first_state_is_a_baseline_and_each_change_blinks_once() -> None:
    w = CallWatch()
    assert not w.feed({"calls": 7})  # calls made before the agent started
    assert not w.feed({"calls": 7})  # the controller republishing after a restart
    assert w.feed({"calls": 8})
    assert not w.feed({"calls": 8})
    assert w.feed({"calls": 10})  # two calls decided in one batch: one blink


def test_a_reconnect_keeps_the_memory() -> None:
    w = CallWatch()
    w.feed({"calls": 3})
    # Offline for a while; on reconnecting, the broker's retained copy is the first state again.
    assert w.feed({"calls": 4})
    assert not w.feed({"calls": 4})  # reconnected again, nothing happened meanwhile


def test_a_replaced_database_blinks_once_instead_of_staying_dark() -> None:
    w = CallWatch()
    w.feed({"calls": 50})
    assert w.feed({"calls": 0})
    assert w.feed({"calls": 1})


def test_a_state_without_calls_never_blinks_nor_resets_the_memory() -> None:
    w = CallWatch()
    assert not w.feed({})  # an older controller
    assert not w.feed({"calls": True}) and not w.feed({"calls": "3"})
    assert not w.feed({"calls": 2})  # still the baseline
    assert not w.feed({})
    assert not w.feed({"calls": 2})
    assert w.feed({"calls": 3})
