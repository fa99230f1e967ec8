"""Benchmarks that print JSON: ``python -m bench`` runs them all, ``python -m bench NAME`` one.

They are measurements, not tests: nothing here fails a build. Each benchmark starts its own private
Mosquitto and controller process on loopback, stops by itself (bounded in count and in time) and
cleans up even on error.
"""

from __future__ import annotations

BENCHMARKS = ("call_latency", "throughput", "display_latency", "kiosk_issue", "forwarder")
