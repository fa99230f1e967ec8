"""Clocks: the engine never reads the wall clock itself; processes inject one of these."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

log = logging.getLogger("onestop.clock")


class Clock(Protocol):
    """Something that tells the current time (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The current instant, UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        """The clock's current instant."""
        return self._now

    def advance(self, seconds: float = 0, **kw: float) -> datetime:
        """Move forward by ``seconds`` (and any ``timedelta`` keywords); return the new time."""
        self._now += timedelta(seconds=seconds, **kw)
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when``."""
        self._now = when


def _boottime() -> float:
    """Seconds of a clock that never steps and keeps counting while the machine is suspended."""
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


class GuardedClock:
    """The wall clock, checked against a clock that never steps (docs/controller.md, "Time").

    While the two agree (within ``step_s``; NTP's slewing is absorbed as it goes) it tells the wall
    time. When the wall clock steps, forward or back, it logs the step once and keeps time by the
    steady clock from the last good reading: a step that is undone (an NTP server that was wrong for
    a while, a technician's typo) then changes nothing at all. A step that lasts ``hold_s`` is taken as
    the new truth, logged again. :attr:`state` says which (``"ok"``, ``"stepped"``), :attr:`detail`
    says why, for the controller's health. :meth:`trust_wall` takes the wall clock at once (the
    controller does so while it waits for a clock that was behind its store at start)."""

    def __init__(
        self,
        *,
        step_s: float = 5.0,
        hold_s: float = 600.0,
        wall: Callable[[], datetime] | None = None,
        steady: Callable[[], float] | None = None,
    ) -> None:
        self.step_s = step_s
        self.hold_s = hold_s
        self._wall = wall or (lambda: datetime.now(UTC))
        self._steady = steady or _boottime
        self._anchor_wall = self._wall()
        self._anchor_steady = self._steady()
        self._step_since: float | None = None  # steady time the current step was first seen
        self._step_offset = 0.0
        self.state = "ok"
        self.detail = ""
        self.steps = 0

    def now(self) -> datetime:
        """The current instant (UTC) as far as it can be trusted."""
        wall, steady = self._wall(), self._steady()
        expected = self._anchor_wall + timedelta(seconds=steady - self._anchor_steady)
        offset = (wall - expected).total_seconds()
        if abs(offset) <= self.step_s:
            if self._step_since is not None:
                log.warning("the system clock agrees again with the steady clock (%+.1f s)", offset)
                self._step_since, self.state, self.detail = None, "ok", ""
            self._anchor_wall, self._anchor_steady = wall, steady
            return wall
        if self._step_since is None or abs(offset - self._step_offset) > self.step_s:
            self.steps += 1
            self._step_since, self._step_offset = steady, offset
            self.state = "stepped"
            self.detail = (
                f"the system clock stepped {offset:+.0f} s at {expected.isoformat(timespec='seconds')}; "
                f"time is kept by the steady clock until the step is undone or has lasted {self.hold_s:.0f} s"
            )
            log.warning("clock step: %s", self.detail)
        elif steady - self._step_since >= self.hold_s:
            log.warning(
                "the system clock has kept its step of %+.0f s for %.0f s: taking it as the new time",
                offset,
                steady - self._step_since,
            )
            self._take(wall, steady)
            return wall
        return expected

    def trust_wall(self) -> None:
        """Take the wall clock as it is now, whatever step it made."""
        self._take(self._wall(), self._steady())

    def _take(self, wall: datetime, steady: float) -> None:
        self._anchor_wall, self._anchor_steady = wall, steady
        self._step_since, self.state, self.detail = None, "ok", ""
