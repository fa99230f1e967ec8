"""bookings: what booked citizens gain, and what walk-ins pay for it, over simulated working days.

The REAL queue engine (queue_controller.engine.Engine) runs on a simulated clock through seeded
working days of a centre (07:30-11:30 and 13:30-17:00; counters close for lunch and serve the line
to its end in the evening). The same citizens come every run, with the same service lengths: in the
run *without bookings* all of them walk in; in the run *with bookings* a share of them (30 %) booked
the 15-minute slot in which they would have come, and arrive around its start instead (most a little
early, some very early, some late: ``ARRIVAL``), with ``[bookings]`` as the example site has it
(on time from 15 minutes before to 10 minutes after the start, early ones wait, late ones walk in).

Figures (minutes): booked citizens' wait from max(arrival, slot start) to their first call (median,
95th percentile, and the share called within 10 minutes of that), and walk-ins' wait (arrival to
first call: mean, 95th percentile) with and without bookings; plus the same for a few values of
``max_in_row``. No MQTT, no database: the engine's decisions only, so the figures do not depend on the
machine and the run takes seconds.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import statistics
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import simulated_centre
from onestop import config
from onestop.clock import ManualClock
from queue_controller.engine import Engine

NAME = "bookings"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST_DAY = date(2026, 11, 23)  # a Monday
SESSIONS = [((7, 30), (11, 30)), ((13, 30), (17, 0))]
HOURS = ["07:30-11:30", "13:30-17:00"]
SLOT_MIN = 15
#: (id, name, prefix, configured average minutes, real mean minutes, coefficient of variation,
#: arrivals per hour at the peak)
SERVICES = [
    ("tuphap", "Tư pháp - Hộ tịch", "A", 6, 6.5, 0.6, 20.0),
    ("datdai", "Đất đai", "B", 12, 12.0, 0.7, 8.0),
    ("bhxh", "Bảo hiểm xã hội", "C", 5, 5.0, 0.5, 12.0),
]
COUNTERS = [
    ("1", ["tuphap"], "fifo"),
    ("2", ["tuphap", "bhxh"], "fifo"),
    ("3", ["datdai"], "fifo"),
    ("4", ["datdai", "tuphap"], "ordered"),
    ("5", ["bhxh", "tuphap"], "ordered"),
]
#: Relative arrival rate by local time: a morning peak, a calmer afternoon.
PROFILE = [
    ((7, 30), (8, 0), 0.7),
    ((8, 0), (9, 30), 1.0),
    ((9, 30), (10, 30), 0.8),
    ((10, 30), (11, 30), 0.5),
    ((13, 30), (15, 0), 0.8),
    ((15, 0), (16, 30), 0.6),
    ((16, 30), (17, 0), 0.3),
]
#: When booked citizens arrive, in minutes from their slot's start: (share, low, high).
ARRIVAL = [(0.70, -15.0, 5.0), (0.12, -45.0, -15.0), (0.10, 5.0, 10.0), (0.08, 10.0, 40.0)]
NO_SHOW = 0.03
BOOKINGS = {"enabled": True, "before_min": 15, "after_min": 10, "early": "wait", "late": "walk_in"}


def site_data(max_in_row: int) -> dict[str, Any]:
    """The simulated centre's site.toml (as data)."""
    bookings = {**BOOKINGS, "max_in_row": max_in_row}
    return simulated_centre("bench-bookings", SERVICES, COUNTERS, HOURS, bookings=bookings)


@dataclass
class Citizen:
    """One visit: when the citizen would walk in, what for, how long the service takes."""

    walk_in_at: datetime
    service: str
    minutes: float
    no_show: bool
    booker: bool  # books a slot in the runs with bookings
    arrival_offset_min: float  # when a booker arrives, from the slot's start


def at(day: date, h: int, m: int, extra_s: float = 0.0) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=TZ) + timedelta(seconds=extra_s)


def plan_day(rng: random.Random, day: date, share: float, load: float) -> list[Citizen]:
    """The day's citizens (a non-homogeneous Poisson process per service), each drawn once."""
    out: list[Citizen] = []
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
                r, acc, offset = rng.random(), 0.0, 0.0
                for p, lo, hi in ARRIVAL:
                    acc += p
                    if r <= acc:
                        offset = rng.uniform(lo, hi)
                        break
                out.append(
                    Citizen(
                        t,
                        sid,
                        rng.lognormvariate(mu, sigma),
                        rng.random() < NO_SHOW,
                        rng.random() < share,
                        offset,
                    )
                )
    return out


def slot_for(c: Citizen) -> datetime:
    """The slot a booker books: the one whose start, plus the citizen's habit of arriving early or
    late, is nearest to when they would have walked in (so that bookings move nobody's arrival on
    average: the load over the day stays the same), within the opening hours."""
    aim = c.walk_in_at - timedelta(minutes=c.arrival_offset_min)
    day = aim.date()
    starts = [
        at(day, h0, m0) + timedelta(minutes=k * SLOT_MIN)
        for (h0, m0), (h1, m1) in SESSIONS
        for k in range(((h1 * 60 + m1) - (h0 * 60 + m0)) // SLOT_MIN)
    ]
    return min(starts, key=lambda s: abs((s - aim).total_seconds()))


def simulate(days: list[tuple[date, list[Citizen]]], bookings: bool, max_in_row: int) -> list[dict[str, Any]]:
    """Run the real engine through the days; one record per citizen who got a ticket."""
    cfg = config.parse(site_data(max_in_row), "bench-bookings.toml")
    clock = ManualClock(at(days[0][0], 6, 0))
    eng = Engine(cfg, clock)
    seq = itertools.count()
    records: list[dict[str, Any]] = []

    def do(device: str, op: str, **args: Any) -> dict[str, Any] | None:
        d = eng.handle(device, op, args)
        return d.result if d.error is None else None

    for day, citizens in days:
        events: list[tuple[datetime, int, str, Any]] = []

        def push(t: datetime, kind: str, payload: Any, events: list[Any] = events) -> None:
            heapq.heappush(events, (t, next(seq), kind, payload))

        for i, c in enumerate(citizens):
            if bookings and c.booker:
                slot = slot_for(c)
                arrive = max(slot + timedelta(minutes=c.arrival_offset_min), at(day, 7, 30, 1 + i % 60))
                if at(day, 11, 30) <= arrive < at(day, 13, 30):
                    arrive = at(day, 13, 30, 1 + i % 60)  # the hall is closed at lunch
                push(arrive, "arrive", (i, slot))
            else:
                push(c.walk_in_at, "arrive", (i, None))
        for (h0, m0), (h1, m1) in SESSIONS:
            for cid, _, _ in COUNTERS:
                push(at(day, h0, m0), "open", cid)
                push(at(day, h1, m1), "lunch" if h1 < 12 else "evening", cid)
        # A "next" event is either the end of the counter's current service (its ``visit`` number) or a
        # wake-up of an idle counter (visit None: an arrival, or a booked ticket that may be due now);
        # a wake-up that finds the counter busy is dropped, or it would cut the service short.
        state = {cid: {"open": False, "busy": False, "gen": 0, "closing": False, "drain": False, "visit": 0}
                 for cid, *_ in COUNTERS}  # fmt: skip
        by_ticket: dict[str, dict[str, Any]] = {}
        while events:
            t, _, kind, payload = heapq.heappop(events)
            clock.set(max(t, clock.now()))
            now = clock.now()
            if kind == "arrive":
                i, slot = payload
                c = citizens[i]
                args: dict[str, Any] = {"service": c.service}
                if slot is not None:
                    args["booking"] = {
                        "code": f"DL{day:%y%m%d}{i:04d}",
                        "slot_start": slot.isoformat(),
                        "slot_end": (slot + timedelta(minutes=SLOT_MIN)).isoformat(),
                    }
                r = do("kiosk-1", "issue", **args)
                if r is None:
                    continue
                rec = {"citizen": (day, i), "arrived": now, "slot": slot, "status": r.get("booking_status"),
                       "called": None, "minutes": c.minutes, "no_show": c.no_show}  # fmt: skip
                records.append(rec)
                by_ticket[r["ticket"]["id"]] = rec
                for cid, s in state.items():
                    if s["open"] and not s["busy"]:
                        push(now, "next", (cid, s["gen"], None))
            elif kind == "open":
                s = state[payload]
                s["open"], s["closing"], s["drain"], s["gen"] = True, False, False, s["gen"] + 1
                do(f"counter-{payload}", "open")
                push(now, "next", (payload, s["gen"], None))
            elif kind in ("lunch", "evening"):
                s = state[payload]
                s["closing" if kind == "lunch" else "drain"] = True
                if not s["busy"]:
                    push(now, "next", (payload, s["gen"], None))
            elif kind == "next":
                cid, gen, visit = payload
                s = state[cid]
                if not s["open"] or gen != s["gen"] or (s["busy"] and visit != s["visit"]):
                    continue
                if s["closing"]:
                    do(f"counter-{cid}", "close")
                    s["open"], s["busy"], s["gen"] = False, False, s["gen"] + 1
                    continue
                r = do(f"counter-{cid}", "call_next")
                ticket = (r or {}).get("ticket")
                if ticket is None:
                    s["busy"] = False
                    waiting = sum(eng.services[sid].waiting for sid in cfg.counter(cid).services)
                    if waiting:  # booked ones that are not due yet: look again in a minute
                        push(now + timedelta(minutes=1), "next", (cid, s["gen"], None))
                    elif s["drain"]:
                        do(f"counter-{cid}", "close")
                        s["open"], s["gen"] = False, s["gen"] + 1
                    continue
                rec = by_ticket[ticket["id"]]
                if rec["called"] is None:
                    rec["called"] = now
                s["busy"], s["visit"] = True, s["visit"] + 1
                dur = 60.0 if rec["no_show"] else rec["minutes"] * 60
                push(now + timedelta(seconds=dur), "next", (cid, s["gen"], s["visit"]))
        clock.set(at(day + timedelta(days=1), 6, 0))
        eng.tick()  # the day closes: what was left expires
    return records


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))], 1) if values else 0.0


def _minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


def walk_in_figures(
    records: list[dict[str, Any]], who: set[tuple[date, int]] | None = None
) -> dict[str, Any]:
    """Walk-ins' wait (arrival to first call), minutes; only the citizens in ``who`` when given."""
    waits = [
        _minutes(r["arrived"], r["called"])
        for r in records
        if r["slot"] is None and r["called"] is not None and (who is None or r["citizen"] in who)
    ]
    return {
        "citizens": len(waits),
        "mean_wait_min": round(statistics.fmean(waits), 1) if waits else 0.0,
        "p50_wait_min": _p(waits, 0.5),
        "p95_wait_min": _p(waits, 0.95),
    }


def booked_figures(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Booked citizens' wait from max(arrival, slot start) to their first call, minutes (0 for those
    called before their slot started: the window opens ``before_min`` earlier)."""
    booked = [r for r in records if r["slot"] is not None and r["called"] is not None]
    signed = [_minutes(max(r["arrived"], r["slot"]), r["called"]) for r in booked]
    waits = [max(0.0, w) for w in signed]
    statuses: dict[str, int] = {}
    for r in booked:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {
        "citizens": len(waits),
        "arrivals": statuses,
        "p50_wait_from_slot_min": _p(waits, 0.5),
        "p95_wait_from_slot_min": _p(waits, 0.95),
        "called_within_10_min_share": round(sum(w <= 10 for w in waits) / len(waits), 3) if waits else 0.0,
        "called_before_slot_share": round(sum(w < 0 for w in signed) / len(signed), 3) if signed else 0.0,
        "on_time_p50_wait_from_slot_min": _p(
            [w for w, r in zip(waits, booked, strict=True) if r["status"] == "on_time"], 0.5
        ),
    }


def run(days: int = 10, seed: int = 20261204, share: float = 0.3, load: float = 1.0) -> dict[str, Any]:
    """Simulate ``days`` working days without bookings and with ``share`` of the citizens booked."""
    started = time.perf_counter()
    rng = random.Random(seed)
    plans: list[tuple[date, list[Citizen]]] = []
    d = FIRST_DAY
    while len(plans) < days:
        if d.weekday() < 5:
            plans.append((d, plan_day(rng, d, share, load)))
        d += timedelta(days=1)
    without = simulate(plans, bookings=False, max_in_row=2)
    with_b = simulate(plans, bookings=True, max_in_row=2)
    walk_ins_then = {r["citizen"] for r in with_b if r["slot"] is None}
    by_max: dict[str, Any] = {}
    for m in (1, 4):
        recs = simulate(plans, bookings=True, max_in_row=m)
        by_max[str(m)] = {"booked": booked_figures(recs), "walk_ins": walk_in_figures(recs)}
    return {
        "name": NAME,
        "days": days,
        "seed": seed,
        "booked_share": share,
        "load": load,
        "citizens": sum(len(c) for _, c in plans),
        "without_bookings": {"walk_ins": walk_in_figures(without)},
        "with_bookings": {"booked": booked_figures(with_b), "walk_ins": walk_in_figures(with_b)},
        # The very citizens who walk in on the days with bookings, on the same days without any.
        "same_walk_ins_without_bookings": walk_in_figures(without, walk_ins_then),
        "max_in_row": by_max,
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
