"""Wait estimates that say how sure they are (docs/controller.md, "Wait estimates").

The plain estimate is the people ahead times the moving average of real service times, shared by
the counters open for the service, plus the break when the call would fall after the end of one of the
service's opening-hour ranges (the lunch break). Real days differ from that in ways the formula cannot
see: counters that open late, clerks who pause, a morning peak. So each service also learns, from
its own tickets, how real waits compared with what the formula said when each ticket was issued:

    ratio = (real wait + slot) / (plain estimate + slot)

where ``slot`` is one service time shared by the open counters (it keeps the ratio meaningful when
nobody is ahead). The recent ratios (two pools: issued while a counter was open, or while none was)
give a median, told as the estimate, and a low and a high quantile, told as the range. Until a pool
holds enough ratios, a wide default range is told and the estimate is the plain one.

Everything here is pure: the engine calls it with its own state and clock.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

#: Recent ratios kept per pool (older ones are forgotten, so that the calibration follows the centre).
WINDOW = 150
#: A pool needs this many ratios before its quantiles are used.
MIN_SAMPLES = 20
#: The quantiles told: the range covers what happened to about 86 % of recent tickets.
Q_LO, Q_MID, Q_HI = 0.07, 0.5, 0.93
#: Before a pool has learned anything: the plain estimate, in a range from half of it to 1.7 times it.
DEFAULT_RATIOS = (0.5, 1.0, 1.7)
#: The pace of a line is measured over its latest calls, if they are this many, within PACE_WINDOW_S.
PACE_CALLS = 8
PACE_MIN_CALLS = 5
PACE_WEIGHT = 0.5
PACE_WINDOW_S = 40 * 60.0
#: Pools: the ticket was issued while at least one counter of its service was open, or none was.
POOLS = ("open", "closed", "open_long", "closed_long")
#: From this many people ahead, a ticket's ratio goes to the "_long" pools (relative errors shrink).
LONG_AHEAD = 4


def pool_of(counters_open: int, ahead: int) -> str:
    """The calibration pool of a ticket issued with ``ahead`` people before it while
    ``counters_open`` counters of its service were open."""
    return ("open" if counters_open > 0 else "closed") + ("_long" if ahead >= LONG_AHEAD else "")


@dataclass(frozen=True)
class WaitEstimate:
    """A wait estimate in seconds: the point told as "about" and the range it most likely falls in."""

    point_s: int
    lo_s: int
    hi_s: int


@dataclass(frozen=True)
class Told:
    """What the engine remembers of an issued ticket until its first call, to learn from it."""

    pool: str
    plain_s: float
    slot_s: float


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (linear interpolation) of a sorted, non-empty sequence."""
    pos = q * (len(sorted_values) - 1)
    i = int(pos)
    j = min(i + 1, len(sorted_values) - 1)
    return sorted_values[i] + (sorted_values[j] - sorted_values[i]) * (pos - i)


@dataclass
class Calibration:
    """The recent ratios of one service, per pool (persisted with the service's record)."""

    pools: dict[str, deque[float]] = field(default_factory=lambda: {p: deque(maxlen=WINDOW) for p in POOLS})
    _sorted: dict[str, list[float]] = field(default_factory=dict, repr=False)
    _record: dict[str, list[float]] | None = field(default=None, repr=False)

    @classmethod
    def from_record(cls, rec: object) -> Calibration:
        """Read ``{"open": [...], "closed": [...]}``; anything malformed is ignored (nothing learned)."""
        c = cls()
        if isinstance(rec, dict):
            for p in POOLS:
                values = rec.get(p)
                if isinstance(values, list):
                    for v in values[-WINDOW:]:
                        if isinstance(v, int | float) and math.isfinite(v) and v > 0:
                            c.pools[p].append(float(v))
        return c

    def record(self) -> dict[str, list[float]]:
        """Persistent form (kept until the next ratio: the service's record is written on every change)."""
        if self._record is None:
            self._record = {p: [round(v, 3) for v in d] for p, d in self.pools.items() if d}
        return self._record

    def add(self, pool: str, ratio: float) -> None:
        """Learn one ratio (real over told)."""
        if math.isfinite(ratio) and ratio > 0:
            self.pools[pool].append(ratio)
            self._sorted.pop(pool, None)
            self._record = None

    def ratios(self, pool: str) -> tuple[float, float, float]:
        """The low, middle and high ratio of a pool (the defaults until it has learned enough)."""
        d = self.pools[pool]
        if len(d) < MIN_SAMPLES:
            return DEFAULT_RATIOS
        s = self._sorted.get(pool)
        if s is None:
            s = self._sorted[pool] = sorted(d)
        return _quantile(s, Q_LO), _quantile(s, Q_MID), _quantile(s, Q_HI)


def drain_pace(calls: Sequence[datetime], now: datetime, time_scale: float = 1.0) -> float | None:
    """Seconds between two calls of a service lately (its latest calls within PACE_WINDOW_S), or
    None when too few were made to tell (the day just started, or the counters came back from a break).
    Under a ``time_scale`` (a simulated day), both are in simulated seconds."""
    recent = [t for t in calls if (now - t).total_seconds() * time_scale <= PACE_WINDOW_S]
    if len(recent) < PACE_MIN_CALLS:
        return None
    span = max((now - recent[0]).total_seconds() * time_scale, 1.0)
    return span / len(recent)


def break_after(now: datetime, seconds: float, ranges: Iterable[tuple[time, time]]) -> float:
    """Seconds of closed time (between two of today's opening-hour ranges) that a wait of
    ``seconds`` starting at ``now`` (site-local) would run across. Nobody is called in a break."""
    spans = sorted(ranges)
    total = 0.0
    end = now + timedelta(seconds=seconds)
    for (_, closes), (opens, _) in itertools.pairwise(spans):
        start = now.replace(hour=closes.hour, minute=closes.minute, second=0, microsecond=0)
        stop = now.replace(hour=opens.hour, minute=opens.minute, second=0, microsecond=0)
        if stop <= start or stop <= now:
            continue
        start = max(start, now)
        if end > start:
            gap = (stop - start).total_seconds()
            total += gap
            end += timedelta(seconds=gap)
    return total


def nice_bounds(lo_s: float, hi_s: float) -> tuple[int, int]:
    """A range rounded outwards to what reads well: whole minutes, 5 minutes from half an hour on,
    and a quarter hour from two hours on."""

    def step(s: float) -> int:
        return 60 if s < 1800 else 300 if s < 7200 else 900

    lo = max(0, int(lo_s // step(lo_s) * step(lo_s)))
    hi = max(60, int(-(-hi_s // step(hi_s)) * step(hi_s)))
    return lo, max(lo, hi)


def combine(plain_s: float, slot_s: float, ratios: tuple[float, float, float]) -> WaitEstimate:
    """The estimate told for a plain estimate, its slot and the pool's ratios."""
    basis = plain_s + slot_s
    lo_r, mid_r, hi_r = ratios
    point = max(0.0, mid_r * basis - slot_s)
    lo = max(0.0, lo_r * basis - slot_s)
    hi = max(point, hi_r * basis - slot_s)
    lo_s, hi_s = nice_bounds(min(lo, point), hi)
    return WaitEstimate(math.ceil(point), lo_s, hi_s)


def learn(cal: Calibration, told: Told, real_s: float) -> None:
    """Feed one real wait (issue to first call) into a service's calibration."""
    basis = told.plain_s + told.slot_s
    if basis > 0:
        cal.add(told.pool, (max(0.0, real_s) + told.slot_s) / basis)


__all__ = [
    "DEFAULT_RATIOS",
    "MIN_SAMPLES",
    "POOLS",
    "Calibration",
    "Told",
    "WaitEstimate",
    "break_after",
    "combine",
    "learn",
    "nice_bounds",
    "pool_of",
]
