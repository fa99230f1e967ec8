"""Fair share for every device: rate limits, a fair inbox, and a watch on misbehaving devices.

Three small parts, each with no I/O and an injected monotonic clock, used by the controller's worker
thread (docs/controller.md "Fair share"):

- :class:`RateLimiter`: a token bucket per device, sized by role (``[limits]`` in site.toml). A command
  without a token is answered ``rate_limited``; it changes nothing and is not stored, so the device
  may send it again later with the same id.
- :class:`FairInbox`: the messages waiting for the worker, one queue per device, taken round-robin
  into each batch. However much one device sends, every other device's next message is in the next
  batch. A device's queue is bounded: beyond ``backlog`` its messages are dropped (and counted) before
  any parsing, so a flood costs the controller little more than reading it.
- :class:`DeviceWatch`: counts refusals per device and says, at most once a minute per device, which
  devices misbehave; the controller logs that and sets its ``devices`` health condition.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from onestop.config import LimitsSection, RoleLimit, SiteConfig

T = TypeVar("T")
Monotonic = Callable[[], float]


# -- token buckets ---------------------------------------------------------------------------


class TokenBucket:
    """``burst`` tokens at most, refilled at ``per_minute`` a minute; one token per command."""

    __slots__ = ("burst", "last", "rate_s", "tokens")

    def __init__(self, burst: int, per_minute: float, now: float) -> None:
        self.burst = float(burst)
        self.rate_s = per_minute / 60.0
        self.tokens = float(burst)
        self.last = now

    def take(self, now: float) -> bool:
        """Take a token if there is one."""
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate_s)
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until the next token (as of the last :meth:`take`)."""
        return max(0.0, (1.0 - self.tokens) / self.rate_s)


class RateLimiter:
    """A token bucket per device, by the device's role (``[limits]``); the hub is not limited."""

    def __init__(self, cfg: SiteConfig, clock: Monotonic, exempt: Iterable[str] = ()) -> None:
        self.limits: LimitsSection = cfg.limits
        self.clock = clock
        self._roles = {d.id: d.role for d in cfg.devices}
        self._exempt = frozenset(exempt)
        self._buckets: dict[str, TokenBucket] = {}

    def rate(self, device: str) -> RoleLimit:
        """The limit of ``device`` (a device not in site.toml gets the strictest role's)."""
        role = self._roles.get(device)
        return self.limits.for_role(role) if role is not None else self.limits.strictest()

    def allow(self, device: str) -> bool:
        """Take one token of ``device``'s bucket; False when it has none left."""
        if device in self._exempt:
            return True
        bucket = self._buckets.get(device)
        now = self.clock()
        if bucket is None:
            if len(self._buckets) > 10_000:  # ids come from accounts, but never grow without bound
                self._buckets.clear()
            r = self.rate(device)
            bucket = self._buckets[device] = TokenBucket(r.burst, r.per_minute, now)
        return bucket.take(now)

    def refusal(self, device: str) -> str:
        """The message of a ``rate_limited`` reply: the limit, and when to try again."""
        r = self.rate(device)
        bucket = self._buckets.get(device)
        wait = math.ceil(bucket.wait_s()) if bucket is not None else 1
        return (
            f"too many commands from {device}: at most {r.burst} at once and {r.per_minute:g} a minute; "
            f"nothing was done, try again in {max(1, wait)} s"
        )


# -- the fair inbox --------------------------------------------------------------------------


class FairInbox(Generic[T]):
    """Messages waiting for the worker, one FIFO per key (the device), taken round-robin.

    :meth:`take` serves the waiting keys in turn, starting with the one served longest ago; each turn
    takes up to an equal share of what is left of the batch, but never less than ``quantum`` (what a
    well-behaved device has in flight is taken whole, as a FIFO inbox would). The order of one key's
    messages is kept; the contract orders nothing across devices."""

    def __init__(self, backlog: int, quantum: int = 32) -> None:
        if backlog < 1 or quantum < 1:
            raise ValueError("backlog and quantum must be >= 1")
        self.backlog = backlog
        self.quantum = quantum
        self._queues: dict[str, deque[T]] = {}  # non-empty queues, in round-robin order
        self._size = 0
        #: Messages dropped per key since :meth:`pop_dropped` was last called.
        self.dropped: dict[str, int] = {}

    def __len__(self) -> int:
        return self._size

    def put(self, key: str, item: T) -> bool:
        """Queue ``item`` under ``key``; False (and counted) when that key's queue is full."""
        q = self._queues.get(key)
        if q is None:
            self._queues[key] = deque((item,))
        elif len(q) >= self.backlog:
            self.dropped[key] = self.dropped.get(key, 0) + 1
            return False
        else:
            q.append(item)
        self._size += 1
        return True

    def put_front(self, key: str, items: list[T]) -> None:
        """Queue ``items`` (in their order) ahead of what ``key`` has waiting, and serve ``key`` first:
        what was held back (the start-up check) goes before what came after it."""
        if not items:
            return
        q = self._queues.pop(key, None) or deque()
        q.extendleft(reversed(items))
        self._queues = {key: q, **self._queues}
        self._size += len(items)

    def take(self, n: int) -> list[T]:
        """Up to ``n`` messages, shared fairly between the keys that have some."""
        out: list[T] = []
        queues = self._queues
        while queues and len(out) < n:
            keys = list(queues)
            share = max(self.quantum, (n - len(out)) // len(keys))
            for key in keys:
                q = queues.pop(key)
                m = min(share, len(q), n - len(out))
                if m == len(q):
                    out.extend(q)
                else:
                    out.extend(q.popleft() for _ in range(m))
                    queues[key] = q  # back of the line
                if len(out) >= n:
                    break
        self._size -= len(out)
        return out

    def pop_dropped(self) -> dict[str, int]:
        """The drop counts since the last call, reset."""
        dropped, self.dropped = self.dropped, {}
        return dropped


# -- misbehaving devices ---------------------------------------------------------------------

#: Refusals that say a device misbehaves (a bug, a stuck key, a tampered device): rate_limited and
#: dropped always; forbidden and bad_request from FORBIDDEN_ALERT on in a minute.
ALWAYS_ALERT = frozenset({"rate_limited", "dropped"})
WATCHED = frozenset({"rate_limited", "dropped", "forbidden", "bad_request"})
FORBIDDEN_ALERT = 10
#: Refusals of a device logged one by one before its next warning; the rest are only counted.
LOUD = 5


@dataclass
class _Record:
    counts: dict[str, int] = field(default_factory=dict)
    since: float = 0.0
    last_warned: float | None = None
    last_refused: float = 0.0
    total: int = 0  # refusals since the last warning (or the first refusal), for LOUD


@dataclass
class Misbehaviour:
    """One device's misbehaviour over a period, to log."""

    device: str
    counts: dict[str, int]
    seconds: float

    def line(self) -> str:
        """``kiosk-01: 1034 commands refused in the last 60 s (rate_limited 1020, forbidden 14)``."""
        total = sum(self.counts.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items(), key=lambda kv: -kv[1]))
        secs = max(1, round(self.seconds))
        return f"{self.device}: {total} commands refused in the last {secs} s ({parts})"


class DeviceWatch:
    """Counts refusals per device; :meth:`review` says who to warn about, once a minute at most.

    A device is *misbehaving* from its first warning until it has had no refusal for ``quiet_s``."""

    def __init__(self, clock: Monotonic, period_s: float = 60.0, quiet_s: float = 120.0) -> None:
        self.clock = clock
        self.period_s = period_s
        self.quiet_s = quiet_s
        self._records: dict[str, _Record] = {}
        #: Devices warned about and not yet quiet, with the line of their last warning.
        self.misbehaving: dict[str, str] = {}

    def note(self, device: str, code: str, n: int = 1) -> bool:
        """Count ``n`` refusals ``code`` of ``device`` (codes outside :data:`WATCHED` are not counted).

        True when this refusal may still be logged on its own line: the first :data:`LOUD` of a
        device's period are; after that only the warning of :meth:`review` speaks for them."""
        if code not in WATCHED:
            return True
        now = self.clock()
        rec = self._records.get(device)
        if rec is None:
            if len(self._records) > 10_000:
                self._records.clear()
            rec = self._records[device] = _Record(since=now)
        elif not rec.counts:
            rec.since = now
        rec.counts[code] = rec.counts.get(code, 0) + n
        rec.last_refused = now
        rec.total += n
        return rec.total <= LOUD

    def review(self) -> tuple[list[Misbehaviour], bool]:
        """The warnings due now, and whether the set of misbehaving devices changed."""
        now = self.clock()
        due: list[Misbehaviour] = []
        changed = False
        for device, rec in list(self._records.items()):
            if rec.counts and _alarming(rec.counts):
                if rec.last_warned is None or now - rec.last_warned >= self.period_s:
                    start = rec.since if rec.last_warned is None else rec.last_warned
                    w = Misbehaviour(device, rec.counts, now - start)
                    due.append(w)
                    rec.counts, rec.since, rec.last_warned, rec.total = {}, now, now, 0
                    changed = changed or self.misbehaving.get(device) != w.line()
                    self.misbehaving[device] = w.line()
            elif rec.counts and now - rec.since >= self.period_s:
                rec.counts, rec.total = {}, 0  # a few forbidden commands in a minute: no warning
            if now - rec.last_refused >= self.quiet_s:
                del self._records[device]
                if self.misbehaving.pop(device, None) is not None:
                    changed = True
        return due, changed

    def detail(self) -> str:
        """The health detail: every misbehaving device's last warning, by device id."""
        return "; ".join(self.misbehaving[d] for d in sorted(self.misbehaving))


def _alarming(counts: dict[str, int]) -> bool:
    if any(counts.get(c, 0) for c in ALWAYS_ALERT):
        return True
    return counts.get("forbidden", 0) + counts.get("bad_request", 0) >= FORBIDDEN_ALERT
