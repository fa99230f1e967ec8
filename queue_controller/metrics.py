"""The controller's figures for the operator's metrics, carried in its retained health message.

The controller serves no HTTP: it publishes these in ``dev/controller/health`` (every
``METRICS_INTERVAL_S`` and with every other publication of its health), and the hub re-exports them as
``onestop_controller_*`` families (hub_api/routers/metrics.py, docs/operations.md "Metrics").

Payload part ``metrics``::

    {"process": {"cpu_seconds": 1.2, "rss_bytes": 31000000, "open_fds": 12, "start_time_seconds": ...},
     "commands": [{"op": "issue", "result": "ok", "count": 10}, ...],
     "latency": {"le": [0.001, ..., "+Inf"], "counts": [cumulative...], "count": 10, "sum": 0.05}}

Counts are cumulative since the controller started, so a restart shows as a counter reset, which
Prometheus' ``rate()`` handles.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from prometheus_client import ProcessCollector

#: How often the controller publishes its health (with these figures) when nothing else changed.
METRICS_INTERVAL_S = 30.0

#: Upper bounds (seconds) of the latency histogram: a decision is a few milliseconds, a commit to
#: an SD card can be hundreds.
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: The op label of a command too malformed to name its op.
INVALID_OP = "invalid"

_PROCESS_FIELDS = {
    "process_cpu_seconds_total": "cpu_seconds",
    "process_resident_memory_bytes": "rss_bytes",
    "process_open_fds": "open_fds",
    "process_start_time_seconds": "start_time_seconds",
}


_PROCESS = ProcessCollector(registry=None)  # registered nowhere: read by process_figures() only


def process_figures() -> dict[str, float]:
    """CPU seconds, resident memory, open files and start time of this process, as
    ``prometheus_client``'s process collector reads them (``/proc``; empty where there is none)."""
    out: dict[str, float] = {}
    for fam in _PROCESS.collect():
        for s in fam.samples:
            key = _PROCESS_FIELDS.get(s.name)
            if key is not None:
                out[key] = s.value
    return out


def result_of(reply: dict[str, Any]) -> str:
    """``"ok"`` or the error code of a reply."""
    if reply.get("ok"):
        return "ok"
    err = reply.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else "error"


class CommandMetrics:
    """Commands answered, by op and result, and the latency of each batch's answers."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.buckets = [0] * len(LATENCY_BUCKETS)  # per bucket, not cumulative
        self.over = 0  # above the last bound
        self.count = 0
        self.sum = 0.0

    def handled(self, op: str, result: str, seconds: float) -> None:
        """One command answered ``result`` after ``seconds`` (from taking it to publishing its reply)."""
        self.counts[(op, result)] = self.counts.get((op, result), 0) + 1
        i = bisect_left(LATENCY_BUCKETS, seconds)
        if i < len(self.buckets):
            self.buckets[i] += 1
        else:
            self.over += 1
        self.count += 1
        self.sum += seconds

    def payload(self) -> dict[str, Any]:
        """The ``metrics`` part of the health message."""
        cumulative: list[int] = []
        total = 0
        for n in self.buckets:
            total += n
            cumulative.append(total)
        return {
            "process": process_figures(),
            "commands": [
                {"op": op, "result": result, "count": n} for (op, result), n in sorted(self.counts.items())
            ],
            "latency": {
                "le": [*LATENCY_BUCKETS, "+Inf"],
                "counts": [*cumulative, self.count],
                "count": self.count,
                "sum": round(self.sum, 6) if math.isfinite(self.sum) else 0.0,
            },
        }
