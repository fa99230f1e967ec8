"""Benchmarks that print JSON: ``python -m bench`` runs them all, ``python -m bench NAME`` one.

They are measurements, not tests: nothing here fails a build. Each benchmark starts its own private
Mosquitto and controller process on loopback, stops by itself (bounded in count and in time) and
cleans up even on error.
"""

from __future__ import annotations

BENCHMARKS = (
    "call_latency",
    "throughput",
    "display_latency",
    "kiosk_issue",
    "forwarder",
    "chaos",
    "scale",
    "history",
    "wait_estimate",
    "bookings",
    "voice_backlog",
    "site_memory",
    "province",
    "sd_writes",
)

#: What ``python -m bench`` runs when no name is given: the long ones (the chaos day, ~4 min; the
#: 30-day history, ~20 min; the 500-counter scale run) run only when named.
DEFAULT = tuple(
    b for b in BENCHMARKS if b not in ("chaos", "history", "scale", "site_memory", "province", "sd_writes")
)
