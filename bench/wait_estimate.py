"""wait_estimate: how honest the wait told on the ticket is, over simulated working days.

The REAL queue engine (queue_controller.engine.Engine) runs on a simulated clock through ten seeded
working days of a centre: a morning peak, a lunch break (the services' hours are 07:30-11:30 and
13:30-17:00, the counters close for it and tickets waiting cross it), counters that open late or pause,
services of different lengths served at different speeds, and no-shows. Every ticket's told wait (the
``issue`` reply) is compared with its real wait (issue to first call). The same days run twice: with
the plain estimate (``[queue] wait_ranges = false``, the estimator before ranges) and with the learned
ranges (the default). No MQTT, no database: the engine's decisions only, so the figures do not
depend on the machine and the bench takes a few seconds.

Figures: the median and 90th percentile of the absolute error of the told point, in minutes, and the
share of citizens whose real wait fell within what they were told. A told range ``[lo, hi]`` is what
the kiosk and the ticket print ("khoảng 10–20 phút", "dưới 5 phút"; a narrow one as one number,
"khoảng 8 phút", read as that number ± 2 minutes: kiosk_app.ticket_kiosk.ticket.told_wait). The plain estimate
told one number ("khoảng 15 phút"), read the same way: within ± 2 minutes of it.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import simulated_centre
from kiosk_app.ticket_kiosk.ticket import told_wait
from onestop import config
from onestop.clock import ManualClock
from queue_controller.engine import Engine

NAME = "wait_estimate"
#: What the issue asks of the estimator.
TARGET_MEDIAN_MIN = 3.0
TARGET_WITHIN = 0.80
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: A Monday: the simulated days are the ten working days from it.
FIRST_DAY = date(2026, 11, 23)
HOURS = ["07:30-11:30", "13:30-17:00"]

#: (id, name, prefix, configured average minutes, real mean minutes, coefficient of variation,
#: arrivals per hour at the peak)
SERVICES = [
    ("tuphap", "Tư pháp - Hộ tịch", "A", 6, 7.0, 0.6, 26.0),
    ("datdai", "Đất đai", "B", 15, 13.0, 0.7, 8.0),
    ("dkkd", "Đăng ký kinh doanh", "C", 9, 10.0, 0.5, 4.5),
    ("bhxh", "Bảo hiểm xã hội", "D", 4, 4.5, 0.5, 16.0),
]
#: (counter, services in its order, policy)
COUNTERS = [
    ("1", ["tuphap"], "fifo"),
    ("2", ["tuphap", "bhxh"], "ordered"),
    ("3", ["datdai"], "fifo"),
    ("4", ["datdai", "dkkd"], "fifo"),
    ("5", ["dkkd", "tuphap"], "ordered"),
    ("6", ["bhxh"], "fifo"),
]
#: Relative arrival rate by local hour: the morning peak, a slow end of the morning, a calmer afternoon.
PROFILE = [
    ((7, 30), (8, 0), 0.7),
    ((8, 0), (9, 30), 1.0),
    ((9, 30), (10, 30), 0.75),
    ((10, 30), (11, 30), 0.45),
    ((13, 30), (15, 0), 0.7),
    ((15, 0), (16, 30), 0.5),
    ((16, 30), (17, 0), 0.25),
]
NO_SHOW = 0.03
PRIORITY = 0.05


def site_data(wait_ranges: bool) -> dict[str, Any]:
    """The simulated centre's site.toml (as data)."""
    return simulated_centre("bench-wait", SERVICES, COUNTERS, HOURS, queue={"wait_ranges": wait_ranges})


@dataclass
class Told:
    """One issued ticket: when, what it was told, and when it was first called."""

    issued: datetime
    point_s: int
    lo_s: int
    hi_s: int
    called: datetime | None = None


@dataclass
class CounterSim:
    """A counter's simulated clerk."""

    id: str
    speed: float = 1.0
    open: bool = False
    busy: bool = False
    closing: bool = False  # close after the current citizen (lunch) ...
    drain: bool = False  # ... or once nobody waits any more (end of the day)
    want_pause: bool = False  # pause after the current citizen
    paused: bool = False
    gen: int = 0  # bumps on open/close, so that stale "next" events are ignored
    serving: str | None = None


@dataclass
class Day:
    """The plan of one day, drawn from the seed (the same for both estimators)."""

    arrivals: list[tuple[datetime, str, bool, float]] = field(
        default_factory=list
    )  # time, svc, prio, minutes
    shifts: list[tuple[datetime, str, str]] = field(default_factory=list)  # time, counter, action
    speed: dict[str, float] = field(default_factory=dict)


def at(day: date, h: int, m: int, extra_s: float = 0.0) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ) + timedelta(seconds=extra_s)


def plan_day(rng: random.Random, day: date, heavy: float = 1.0) -> Day:
    """Arrivals (a non-homogeneous Poisson process per service), service lengths (log-normal) and
    the clerks' day (late openings, a pause, lunch)."""
    plan = Day()
    load = heavy * rng.uniform(0.8, 1.2) * (1.15 if day.weekday() == 0 else 1.0)
    for sid, _, _, _, mean, cv, peak in SERVICES:
        sigma = math.log1p(cv * cv) ** 0.5
        mu = math.log(mean) - sigma * sigma / 2
        for (h0, m0), (h1, m1), rel in PROFILE:
            t, end = at(day, h0, m0), at(day, h1, m1)
            rate = peak * rel * load / 3600.0
            while True:
                t += timedelta(seconds=rng.expovariate(rate))
                if t >= end:
                    break
                plan.arrivals.append((t, sid, rng.random() < PRIORITY, rng.lognormvariate(mu, sigma)))
    for cid, _, _ in COUNTERS:
        plan.speed[cid] = rng.uniform(0.85, 1.2)
        for h, m, close in ((7, 30, (11, 30)), (13, 30, (17, 0))):
            r = rng.random()
            late = rng.uniform(-3, 3) if r < 0.6 else rng.uniform(5, 25) if r < 0.9 else rng.uniform(30, 60)
            plan.shifts.append((at(day, h, m, max(-180.0, late * 60)), cid, "open"))
            plan.shifts.append((at(day, *close), cid, "lunch" if close == (11, 30) else "evening"))
            if rng.random() < 0.25:  # a pause of 5-20 minutes in the shift
                p = at(day, h + 1, m, rng.uniform(0, 5400))
                plan.shifts.append((p, cid, "pause"))
                plan.shifts.append((p + timedelta(minutes=rng.uniform(5, 20)), cid, "resume"))
    return plan


def simulate(plans: list[tuple[date, Day]], wait_ranges: bool, seed: int) -> dict[str, Any]:
    """Run the real engine through the planned days; return every ticket's told and real wait."""
    rng = random.Random(seed + 1)
    cfg = config.parse(site_data(wait_ranges), "bench-wait.toml")
    clock = ManualClock(at(plans[0][0], 6, 0))
    eng = Engine(cfg, clock)
    told: dict[str, Told] = {}
    expired = 0
    seq = itertools.count()

    def do(device: str, op: str, **args: Any) -> dict[str, Any] | None:
        d = eng.handle(device, op, args)
        return d.result if d.error is None else None

    for day, plan in plans:
        counters = {cid: CounterSim(cid, plan.speed[cid]) for cid, _, _ in COUNTERS}
        events: list[tuple[datetime, int, str, Any]] = []
        for t, sid, prio, minutes in plan.arrivals:
            heapq.heappush(events, (t, next(seq), "arrive", (sid, prio, minutes)))
        for t, cid, action in plan.shifts:
            heapq.heappush(events, (t, next(seq), action, cid))
        minutes_of: dict[str, float] = {}

        def push(t: datetime, kind: str, payload: Any, events: list[Any] = events) -> None:
            heapq.heappush(events, (t, next(seq), kind, payload))

        while events:
            t, _, kind, payload = heapq.heappop(events)
            clock.set(max(t, clock.now()))
            now = clock.now()
            if kind == "arrive":
                sid, prio, minutes = payload
                r = do("kiosk-1", "issue", service=sid, priority=prio)
                if r is None:
                    continue
                lo, hi = r.get("est_wait_range_s") or (r["est_wait_s"], r["est_wait_s"])
                told[r["ticket"]["id"]] = Told(now, int(r["est_wait_s"]), int(lo), int(hi))
                minutes_of[r["ticket"]["id"]] = minutes
                for c in counters.values():
                    if c.open and not c.busy:
                        push(now, "next", (c.id, c.gen))
            elif kind == "open":
                c = counters[payload]
                c.closing = c.drain = c.paused = c.want_pause = False
                if not c.open:
                    c.open, c.gen = True, c.gen + 1
                    do(f"counter-{c.id}", "open")
                    push(now, "next", (c.id, c.gen))
            elif kind in ("lunch", "evening"):
                c = counters[payload]
                if c.open:
                    if kind == "lunch":
                        c.closing = True
                    else:
                        c.drain = True
                    if not c.busy:
                        push(now, "next", (c.id, c.gen))
            elif kind == "pause":
                c = counters[payload]
                if c.open and not c.closing and not c.drain:
                    c.want_pause = True
                    if not c.busy:
                        push(now, "next", (c.id, c.gen))
            elif kind == "resume":
                c = counters[payload]
                c.want_pause = False
                if c.paused:
                    c.open, c.paused, c.gen = True, False, c.gen + 1
                    do(f"counter-{c.id}", "resume")
                    push(now, "next", (c.id, c.gen))
            elif kind == "next":
                cid, gen = payload
                c = counters[cid]
                if not c.open or gen != c.gen:
                    continue
                if c.closing or c.want_pause:
                    if c.serving is not None:
                        do(f"counter-{cid}", "finish")
                        c.serving = None
                    c.busy = False
                    if c.closing:
                        do(f"counter-{cid}", "close")
                        c.closing = False
                    else:
                        do(f"counter-{cid}", "pause")
                        c.paused, c.want_pause = True, False
                    c.open, c.gen = False, c.gen + 1
                    continue
                r = do(f"counter-{cid}", "call_next")
                ticket = (r or {}).get("ticket")
                if ticket is None:
                    c.busy, c.serving = False, None
                    if c.drain:
                        do(f"counter-{cid}", "close")
                        c.open, c.drain, c.gen = False, False, c.gen + 1
                    continue
                tid = ticket["id"]
                if tid in told and told[tid].called is None:
                    told[tid].called = now
                c.busy, c.serving = True, tid
                if rng.random() < NO_SHOW:
                    dur = 60.0
                    do(f"counter-{cid}", "recall")
                    push(now + timedelta(seconds=dur), "skip", (cid, c.gen))
                    continue
                dur = minutes_of.get(tid, 5.0) * 60 * c.speed
                push(now + timedelta(seconds=dur), "next", (cid, c.gen))
            elif kind == "skip":
                cid, gen = payload
                c = counters[cid]
                if gen == c.gen and c.serving is not None:
                    do(f"counter-{cid}", "skip")
                    c.serving = None
                    push(now, "next", (cid, c.gen))
        # The next morning: the engine closes the day at day_starts and expires what was left.
        clock.set(clock.now() + timedelta(hours=1))
        expired += sum(1 for v in told.values() if v.called is None and v.issued.date() == day)
    return {"told": told, "expired": expired}


def score(told: dict[str, Told], *, ranged: bool) -> dict[str, Any]:
    """Error and honesty figures over every ticket that was called."""
    errors: list[float] = []
    within = 0
    widths: list[float] = []
    for v in told.values():
        if v.called is None:
            continue
        real = (v.called - v.issued).total_seconds()
        errors.append(abs(real - v.point_s) / 60)
        if ranged:  # the bounds that the words printed on the ticket state
            lo, hi = told_wait(v.point_s, (v.lo_s, v.hi_s))[2]
        else:
            lo, hi = told_wait(v.point_s)[2]
        widths.append((hi - lo) / 60)
        within += lo <= real <= hi
    errors.sort()
    n = len(errors)
    return {
        "tickets_called": n,
        "median_abs_error_min": round(statistics.median(errors), 2),
        "p90_abs_error_min": round(errors[int(0.9 * (n - 1))], 2),
        "within_told_share": round(within / n, 3),
        "median_told_width_min": round(statistics.median(widths), 1),
    }


def run(days: int = 10, seed: int = 20261123, load: float = 1.0) -> dict[str, Any]:
    """Plan ``days`` working days from ``seed`` (arrivals times ``load``) and score both estimators."""
    rng = random.Random(seed)
    plans: list[tuple[date, Day]] = []
    d = FIRST_DAY
    while len(plans) < days:
        if d.weekday() < 5:
            plans.append((d, plan_day(rng, d, load)))
        d += timedelta(days=1)
    started = time.perf_counter()
    plain = simulate(copy.deepcopy(plans), False, seed)
    learned = simulate(copy.deepcopy(plans), True, seed)
    before = score(plain["told"], ranged=False)
    after = score(learned["told"], ranged=True)
    return {
        "name": NAME,
        "days": days,
        "seed": seed,
        "load": load,
        "tickets_issued": len(learned["told"]),
        "tickets_expired": learned["expired"],
        "plain": before,
        "ranges": after,
        "target": {"median_abs_error_min": TARGET_MEDIAN_MIN, "within_told_share": TARGET_WITHIN},
        "pass": after["median_abs_error_min"] <= TARGET_MEDIAN_MIN
        and after["within_told_share"] >= TARGET_WITHIN,
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
