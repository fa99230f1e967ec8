"""chaos: a full simulated day of 20,000 tickets on a whole site while a fault injector breaks it.

A real site (Mosquitto with persistence, ``onestop controller``, ``onestop hub`` with its forwarder,
``onestop fake-backend``) serves 50 simulated counters, 5 kiosks and 5 rating terminals while the
controller is killed with SIGKILL (24 times), the broker restarted (6 times, cleanly and with
SIGKILL), the hub killed, the back end taken down for long stretches (503, held answers, 500s, its
process killed) and device connections dropped; the day crosses a business-day boundary (the daily
reset), with the controller killed just before and after it. Afterwards the databases, the back end's
records and the retained display states are checked: nothing lost, doubled or shown wrong. The day
itself lives in :mod:`bench.chaos_day.day` (``make test`` runs its short variant); this prints the
full day's summary.

``pass`` is true when every check found 0 violations.
"""

from __future__ import annotations

import secrets
from typing import Any

from bench.common import machine_info

NAME = "chaos"


def run(tickets: int = 20_000, seed: int | None = None, *, keep: bool = False) -> dict[str, Any]:
    """Run the full chaos day (``tickets`` tickets, the fault schedule of ``seed``) and summarise it."""
    from bench.chaos_day.day import full_plan, run_day

    plan = full_plan(secrets.randbelow(2**31) if seed is None else seed, tickets)
    summary = run_day(plan, keep=keep)
    summary["pass"] = summary["violations_total"] == 0
    summary["machine"] = machine_info()
    return summary
