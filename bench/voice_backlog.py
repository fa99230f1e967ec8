"""voice_backlog: how long a citizen waits between the call and hearing it, when calls pile up.

A call is a chime and the sentence said twice: 13-20 s of sound. A 30-counter centre at its morning
peak calls every few seconds, so calls queue behind each other at the one hall speaker. This bench
drives the announcer's REAL call queue (display_agents.call_queue.CallQueue: dedupe, replacement of
waiting recalls, the backlog limit, and the choice of what to say next) with calls on a simulated
clock, and times every announcement with the REAL clip library (espeak-ng's Vietnamese voice, the
same clips a site plays) through CallBuilder.timeline, so no audio is played and the bench takes
seconds. For every call it measures the delay from the call to the moment its number starts to be
heard (the start of its sentence in a full call, of its number in a joined announcement); a call
dropped unheard counts apart.

Scenarios (30 counters, five services, seeded):

- ``peak``: a morning peak hour. Counters open over the first five minutes; each serves citizens one
  after another (lognormal service times, mean ``PEAK_SERVICE_MIN`` minutes, cv 0.7); one citizen in
  ten does not come: the clerk recalls after 45 s and calls the next after 90 s. About a call every
  seven seconds, recalls included.
- ``burst``: each of the 30 counters calls once within the same 60 s (the opening of the day):
  repeated over ``BURST_RUNS`` seeds.

Policies: ``before`` (every call in full, at most 8 waiting, the oldest dropped: the announcer until
this bench), ``after`` (the defaults: a lone call in full, calls that wait joined up to
``[announcer] join_max`` = 6, none dropped), ``after_two_zones`` (the same, with the hall split into two
announcer zones of 15 counters, each with its own speaker: ``counters`` on the announcer device).

The floor, measured in the same run: the delay of a call that finds the speaker idle (chime, pause,
then its sentence), and the length of one full call.
"""

from __future__ import annotations

import logging
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from display_agents.call_queue import CallQueue, CallRequest
from display_agents.voice import (
    BUSY_RATE,
    FAST,
    SO,
    XIN_MOI,
    CallBuilder,
    ClipLibrary,
    call_clips,
    joined_clips,
)

NAME = "voice_backlog"
COUNTERS = 30
PREFIXES = "ABCDE"
PEAK_S = 3600.0
PEAK_SERVICE_MIN = 4.0
NO_SHOW = 0.10
BURST_WINDOW_S = 60.0
BURST_RUNS = 20
#: What the hall issue asks: a call heard within 10 s, at the 95th percentile, with 30 counters.
TARGET_P95_S = 10.0
JOIN_MAX = 6
QUIET_S = 10.0
REPEAT = 2


@dataclass(frozen=True)
class Call:
    """A call event: when, which number, which counter, a recall or not."""

    t: float
    number: str
    counter: str
    recall: bool = False


def peak_calls(rng: random.Random) -> list[Call]:
    """A morning peak hour at 30 counters (see the module's docstring)."""
    out: list[Call] = []
    issued = dict.fromkeys(PREFIXES, 0)
    sigma = math.sqrt(math.log(1 + 0.7**2))
    mu = math.log(PEAK_SERVICE_MIN * 60) - sigma**2 / 2
    for c in range(1, COUNTERS + 1):
        prefix = PREFIXES[(c - 1) % len(PREFIXES)]
        t = rng.uniform(0, 300)
        while t < PEAK_S:
            issued[prefix] += 1
            number = f"{prefix}{issued[prefix]:03d}"
            out.append(Call(t, number, str(c)))
            if rng.random() < NO_SHOW:
                out.append(Call(t + 45, number, str(c), recall=True))
                t += 90
            else:
                t += rng.lognormvariate(mu, sigma)
    return sorted(out, key=lambda x: x.t)


def burst_calls(rng: random.Random) -> list[Call]:
    """Each counter calls once within the same minute."""
    out = [
        Call(rng.uniform(0, BURST_WINDOW_S), f"{PREFIXES[(c - 1) % len(PREFIXES)]}{c:03d}", str(c))
        for c in range(1, COUNTERS + 1)
    ]
    return sorted(out, key=lambda x: x.t)


class Timer:
    """How long announcements take, and where in them each number starts: the real clips."""

    def __init__(self, builder: CallBuilder) -> None:
        self.builder = builder

    def full(self, number: str, counter: str) -> tuple[float, float]:
        """(offset of the speech, length) of a call played in full."""
        clips = call_clips(number, counter, "digits", "north", REPEAT)
        starts, length = self.builder.timeline(clips)
        return starts[2], length  # after the chime and the pause

    def say(self, calls: Sequence[tuple[str, str]], chime: bool) -> tuple[list[float], float]:
        """(offset of each call's speech, length) of an announcement of ``calls``."""
        clips = joined_clips(calls, "digits", "north", chime=chime)
        starts, length = self.builder.timeline(clips)
        return [starts[i] for i, k in enumerate(clips) if k in (XIN_MOI, FAST + SO)], length


def play_out(
    calls: list[Call], timer: Timer, make_queue: Callable[[Callable[[], float]], CallQueue]
) -> dict[str, Any]:
    """Feed ``calls`` to a real CallQueue at their times; the speaker says what ``take()`` gives it,
    and says it again when ``said()`` allows, as the announcer's player thread does."""
    t, i, n, announcements = 0.0, 0, len(calls), 0
    q = make_queue(lambda: t)  # the queue reads this simulated clock
    delays: list[float] = []
    called_at: dict[int, float] = {}

    def arrive(until: float) -> None:
        nonlocal i
        while i < n and calls[i].t <= until:
            c = calls[i]
            called_at[i + 1] = c.t
            q.submit(CallRequest(c.number, c.counter, seq=i + 1, recall=c.recall))
            i += 1

    while i < n or q.waiting:
        if not q.waiting:
            t = max(t, calls[i].t)
        arrive(t)
        if not q.waiting:
            continue
        batch, chime = q.take()
        announcements += 1
        pairs = [(r.number, r.counter) for r in batch]
        if q.say is None:
            offset, length = timer.full(*pairs[0])
            offsets = [offset]
        else:
            offsets, length = timer.say(pairs, chime)
        for r, off in zip(batch, offsets, strict=True):
            assert r.seq is not None
            delays.append(t + off - called_at[r.seq])
        t += length
        arrive(t)
        times = 1
        while q.said(times):  # said again only while nobody else waits
            t += timer.say(pairs, False)[1]
            arrive(t)
            times += 1
    st = q.stats
    return {
        "calls": n,
        "heard": len(delays),
        "dropped_unheard": st.dropped,
        "replaced_recalls": st.replaced,
        "absorbed": st.absorbed,
        "announcements": announcements,
        "delays": delays,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    delays = sorted(d for r in runs for d in r["delays"])
    q = statistics.quantiles(delays, n=100, method="inclusive") if len(delays) > 1 else delays * 99
    return {
        "calls": sum(r["calls"] for r in runs),
        "heard": len(delays),
        "dropped_unheard": sum(r["dropped_unheard"] for r in runs),
        "replaced_recalls": sum(r["replaced_recalls"] for r in runs),
        "announcements": sum(r["announcements"] for r in runs),
        "delay_p50_s": round(q[49], 1),
        "delay_p95_s": round(q[94], 1),
        "delay_max_s": round(delays[-1], 1),
    }


def _queues() -> dict[str, Callable[[Callable[[], float]], CallQueue]]:
    def before(clock: Callable[[], float]) -> CallQueue:
        return CallQueue(lambda r: b"", None, max_backlog=8, clock=clock)

    def after(clock: Callable[[], float]) -> CallQueue:
        return CallQueue(
            lambda r: b"", None, say=lambda rs, chime: b"", join_max=JOIN_MAX, repeat=REPEAT,
            quiet_s=QUIET_S, clock=clock,
        )  # fmt: skip

    return {"before": before, "after": after}


def scenario(plans: list[list[Call]], timer: Timer) -> dict[str, Any]:
    """Every policy over the same planned calls."""
    out: dict[str, Any] = {}
    for name, make in _queues().items():
        out[name] = _summary([play_out(p, timer, make) for p in plans])
    half = COUNTERS // 2
    zones = [{str(c) for c in range(1, half + 1)}, {str(c) for c in range(half + 1, COUNTERS + 1)}]
    runs = [
        play_out([c for c in p if c.counter in z], timer, _queues()["after"]) for p in plans for z in zones
    ]
    out["after_two_zones"] = _summary(runs)
    return out


def run(seed: int = 20261204, burst_runs: int = BURST_RUNS, voice_dir: Path | None = None) -> dict[str, Any]:
    """Both scenarios, every policy; the clips are generated once into ``voice_dir`` (a temporary
    folder by default)."""
    started = time.perf_counter()
    quiet = logging.getLogger("display_agents.call_queue")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the thousands of drops of "before" are counted, not logged
    try:
        return _run(seed, burst_runs, voice_dir, started)
    finally:
        quiet.setLevel(level)


def _run(seed: int, burst_runs: int, voice_dir: Path | None, started: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="onestop-voice-") as tmp:
        base = voice_dir or Path(tmp)
        fast = ClipLibrary(base / f"espeak-vi-{BUSY_RATE}", base / "recorded", rate=BUSY_RATE)
        builder = CallBuilder(ClipLibrary(base / "espeak-vi", base / "recorded"), fast=fast)
        builder.library.prepare()
        fast.prepare()
        timer = Timer(builder)
        floor_offset, full_len = timer.full("A012", "3")
        rng = random.Random(seed)
        peak = [peak_calls(rng)]
        bursts = [burst_calls(rng) for _ in range(burst_runs)]
        per_min = len(peak[0]) / (PEAK_S / 60)
        result_peak = scenario(peak, timer)
        result_burst = scenario(bursts, timer)
    after_peak, after_burst = result_peak["after"], result_burst["after"]
    return {
        "name": NAME,
        "seed": seed,
        "counters": COUNTERS,
        "floor": {"speech_starts_after_s": round(floor_offset, 2), "full_call_s": round(full_len, 2)},
        "peak": {"calls_per_min": round(per_min, 1), **result_peak},
        "burst": {"runs": burst_runs, "window_s": BURST_WINDOW_S, **result_burst},
        "target": {"delay_p95_s": TARGET_P95_S, "dropped_unheard": 0},
        "pass": after_peak["delay_p95_s"] <= TARGET_P95_S
        and after_peak["dropped_unheard"] == 0
        and after_burst["dropped_unheard"] == 0,
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), ensure_ascii=False, indent=2))
