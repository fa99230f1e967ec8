"""From key edges to clerk actions: debounce, press versus hold, and the repeat-press guard.

Pure (times are passed in), so that the rules a clerk relies on are tested without hardware:
a bouncing contact never acts twice, holding "Gọi tiếp" recalls instead of calling the next
citizen, and a second press of the same key within ``guard_s`` is ignored, so a nervous double
press never calls two citizens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from device_drivers.keys.base import KeyEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyRules:
    """Timing rules, configurable per keypad in ``site.toml`` (``keys`` table)."""

    debounce_s: float = 0.03  # edges closer than this are contact bounce
    hold_s: float = 1.2  # a press at least this long is a hold
    guard_s: float = 1.5  # the same action again within this is ignored
    #: What holding a key does (default: holding "next" recalls); other keys act as when pressed.
    hold_actions: dict[str, str] = field(default_factory=lambda: {"next": "recall"})


@dataclass
class _Down:
    at: float
    held: bool = False


class KeyInterpreter:
    """Feed it :class:`KeyEvent` s and call :meth:`poll` now and then; both return the actions due.

    An edge that comes within ``debounce_s`` of the last accepted edge of its key is not acted on
    at once: the key's raw level is remembered and settled by :meth:`poll` once it has been stable
    for ``debounce_s``. So bounce never acts twice, and a very short tap is not lost either."""

    def __init__(self, rules: KeyRules | None = None) -> None:
        self.rules = rules or KeyRules()
        self._down: dict[str, _Down] = {}
        self._accepted: dict[str, float] = {}
        self._raw: dict[str, tuple[str, float]] = {}
        self._last_action: dict[str, float] = {}
        self.ignored = 0

    def feed(self, ev: KeyEvent) -> list[str]:
        """Actions caused by one event (usually none or one)."""
        r = self.rules
        if ev.kind == "press":
            return self._fire(ev.key, ev.at)
        if ev.kind == "hold":
            return self._fire(r.hold_actions.get(ev.key, ev.key), ev.at)
        self._raw[ev.key] = (ev.kind, ev.at)
        last = self._accepted.get(ev.key)
        if last is not None and ev.at - last < r.debounce_s:
            return []  # bounce, or a change too quick to trust yet: poll() settles it
        return self._edge(ev.key, ev.kind, ev.at)

    def poll(self, now: float) -> list[str]:
        """Settle keys whose level has been stable long enough, and fire holds of keys still down."""
        out: list[str] = []
        r = self.rules
        for key, (kind, at) in list(self._raw.items()):
            settled = now - at >= r.debounce_s
            if settled and (kind == "up") == (key in self._down):
                out += self._edge(key, kind, at)
        for key, down in self._down.items():
            if not down.held and now - down.at >= r.hold_s and self._raw.get(key, ("down", 0))[0] == "down":
                down.held = True
                out += self._fire(r.hold_actions.get(key, key), now)
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`poll` may next have something to do (None: nothing pending)."""
        r = self.rules
        pending = [d.at + r.hold_s for d in self._down.values() if not d.held]
        pending += [
            at + r.debounce_s for k, (kind, at) in self._raw.items() if (kind == "up") == (k in self._down)
        ]
        return min(pending) if pending else None

    def _edge(self, key: str, kind: str, at: float) -> list[str]:
        r = self.rules
        if kind == "down":
            if key not in self._down:
                self._down[key] = _Down(at)
                self._accepted[key] = at
            return []
        down = self._down.pop(key, None)
        if down is None:
            return []
        self._accepted[key] = at
        if down.held:
            return []
        if at - down.at >= r.hold_s:
            return self._fire(r.hold_actions.get(key, key), at)
        return self._fire(key, at)

    def _fire(self, action: str, at: float) -> list[str]:
        last = self._last_action.get(action)
        if last is not None and at - last < self.rules.guard_s:
            self.ignored += 1
            log.info(
                "ignored %s pressed again after %.2f s (guard %.1f s)", action, at - last, self.rules.guard_s
            )
            return []
        self._last_action[action] = at
        return [action]
