"""The simulated citizens of `onestop simulate`: walk-ins, booked citizens around their slots and
result pickups, in the shares asked for, each one a command the engine accepts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from onestop.clock import ManualClock
from onestop.simulate import Simulation, Traffic
from queue_controller.engine import Engine
from tests.unit.sites import MONDAY_8AM, site


def test_simulated_citizens_are_booked_walk_ins_and_pickups() -> None:
    cfg = site(bookings={"enabled": True}, dossiers={"service": "datdai"})
    sim = Simulation(cfg, Traffic(speed=1.0, booked_share=0.3, pickup_share=0.1), seed=7)
    clock = ManualClock(MONDAY_8AM)
    eng = Engine(cfg, clock)
    kinds: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for _ in range(600):
        clock.advance(20)
        args = sim.citizen(["tuphap", "datdai"], clock.now())
        d = eng.handle("kiosk-1", "issue", args)
        assert d.ok and d.result is not None, (args, d.error and d.error.message)
        sim.issued += 1
        kinds["booked" if "booking" in args else "pickup" if "dossier" in args else "walk_in"] += 1
        if "booking" in args:
            statuses[d.result["booking_status"]] += 1
    assert 140 <= kinds["booked"] <= 220 and 30 <= kinds["pickup"] <= 90
    # Some come early, most on time, some late (arrivals from 30 min before to 20 min after the slot).
    assert statuses["early"] > 0 and statuses["late"] > 0 and statuses["on_time"] > statuses["early"]


def test_without_bookings_or_dossiers_everyone_walks_in() -> None:
    sim = Simulation(site(), Traffic(), seed=1)
    for _ in range(100):
        args = sim.citizen(["tuphap", "datdai"], MONDAY_8AM + timedelta(minutes=1))
        assert set(args) == {"service", "priority"}
