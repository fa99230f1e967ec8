"""The key rules a clerk relies on: bounce never acts twice, hold recalls, double presses are ignored."""

from __future__ import annotations

import pytest

from device_drivers.keys import KeyEvent
from display_agents.keys_logic import KeyInterpreter, KeyRules


def run(k: KeyInterpreter, *events: tuple[str, str, float]) -> list[str]:
    out: list[str] = []
    for key, kind, at in events:
        out += k.feed(KeyEvent(key, kind, at))  # type: ignore[arg-type]
    return out


def test_a_short_press_acts_on_release() -> None:
    k = KeyInterpreter()
    assert run(k, ("next", "down", 10.0)) == []
    assert run(k, ("next", "up", 10.2)) == ["next"]


def test_contact_bounce_is_one_press() -> None:
    k = KeyInterpreter()
    bouncy = [("next", "down", 10.0), ("next", "up", 10.005), ("next", "down", 10.01), ("next", "up", 10.2),
              ("next", "down", 10.203), ("next", "up", 10.21)]  # fmt: skip
    assert run(k, *bouncy) == ["next"]


def test_a_very_short_tap_is_settled_by_poll_not_lost() -> None:
    k = KeyInterpreter(KeyRules(debounce_s=0.03))
    assert run(k, ("next", "down", 10.0), ("next", "up", 10.02)) == []
    assert k.next_deadline() == pytest.approx(10.05)
    assert k.poll(10.05) == ["next"]
    assert k.poll(20.0) == [], "a settled tap must not turn into a hold later"


def test_holding_next_recalls_once_while_held_and_never_calls() -> None:
    k = KeyInterpreter(KeyRules(hold_s=1.0))
    run(k, ("next", "down", 10.0))
    assert k.next_deadline() == 11.0
    assert k.poll(10.9) == []
    assert k.poll(11.0) == ["recall"]
    assert k.poll(12.0) == []
    assert run(k, ("next", "up", 13.0)) == []
    assert k.next_deadline() is None


def test_a_long_press_seen_only_at_release_is_still_a_hold() -> None:
    k = KeyInterpreter(KeyRules(hold_s=1.0))
    assert run(k, ("next", "down", 10.0), ("next", "up", 11.5)) == ["recall"]
    assert run(k, ("skip", "down", 20.0), ("skip", "up", 21.5)) == ["skip"]  # no hold action: as pressed


def test_the_same_action_twice_within_the_guard_is_ignored() -> None:
    k = KeyInterpreter(KeyRules(guard_s=1.5))
    acts = run(k, ("next", "press", 10.0), ("next", "press", 10.8), ("finish", "press", 10.9),
               ("next", "press", 11.6))  # fmt: skip
    assert acts == ["next", "finish", "next"]
    assert k.ignored == 1


def test_serial_holds_map_like_gpio_holds() -> None:
    k = KeyInterpreter()
    assert run(k, ("next", "hold", 5.0), ("pause", "hold", 9.0)) == ["recall", "pause"]
