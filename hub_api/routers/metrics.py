"""Prometheus metrics at ``/metrics`` (text exposition format 0.0.4); a viewer token is needed.

The families are produced by :class:`HubCollector`, a ``prometheus_client`` collector that reads the
hub's state at each scrape, registered on a registry of its own per hub (never the library's global
registry: two hubs in one process, as in the tests, each expose their own figures). The family names
are a contract with the operators' dashboards and alerts: docs/operations.md "Metrics" lists them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from hub_api.app import Hub, HubDep
from hub_api.deps import Viewer, refusals
from hub_api.routers.devices import alerts_of, devices_of, forwarder_metrics
from onestop.protocol import CONTROLLER_ID

router = APIRouter(tags=["metrics"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
    # prometheus_client names a counter without "_total" and adds it to the TYPE line and the sample.
    return CounterMetricFamily(name.removesuffix("_total"), doc, labels=list(labels))


class HubCollector(Collector):
    """The hub's own families, read from its store, live state and forwarder at each scrape."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        stats = dict(hub.ingest.stats) if hub.ingest is not None else {}
        connected = hub.ingest is not None and hub.ingest.mqtt.connected.is_set()
        for name, key, doc in (
            (
                "onestop_hub_events_applied_total",
                "events",
                "Events applied to the hub's store since it started.",
            ),
            ("onestop_hub_ingest_replays_total", "replays", "Replays asked from the controller."),
            ("onestop_hub_ingest_gaps_total", "gaps", "Events that arrived ahead of a missing one."),
            ("onestop_hub_ingest_bad_messages_total", "bad", "Unreadable messages dropped."),
        ):
            c = _counter(name, doc)
            c.add_metric([], stats.get(key, 0))
            yield c
        g = _gauge("onestop_hub_last_seq", "The last event seq stored by the hub.")
        g.add_metric([], hub.store.last_seq)
        yield g
        g = _gauge("onestop_hub_broker_connected", "1 when the hub is connected to the broker.")
        g.add_metric([], int(connected))
        yield g
        ctl = hub.live.controller_online
        g = _gauge("onestop_hub_controller_online", "1 when the queue controller is online (-1: unknown).")
        g.add_metric([], -1 if ctl is None else int(ctl))
        yield g
        waiting = {
            r["service"]: r["n"]
            for r in hub.store.query(
                "SELECT service, COUNT(*) AS n FROM tickets WHERE status = 'waiting' GROUP BY service"
            )
        }
        g = _gauge("onestop_hub_tickets_waiting", "Tickets waiting, per service.", ("service",))
        for s in hub.cfg.services:
            g.add_metric([s.id], waiting.get(s.id, 0))
        yield g
        now = datetime.now(UTC)
        oldest = {
            r["service"]: r["oldest"]
            for r in hub.store.query(
                "SELECT service, MIN(issued_at) AS oldest FROM tickets WHERE status = 'waiting' "
                "GROUP BY service"
            )
        }
        g = _gauge(
            "onestop_hub_oldest_waiting_seconds",
            "Age of the oldest waiting ticket (since it was issued), per service; 0 when none waits.",
            ("service",),
        )
        for s in hub.cfg.services:
            # In simulated seconds under `onestop up --traffic`'s time scale, as the reports' waits are.
            g.add_metric([s.id], _age_s(oldest.get(s.id), now) * hub.store.time_scale)
        yield g
        devs = devices_of(hub)
        g = _gauge(
            "onestop_hub_device_online",
            "1 when a device is online, 0 when offline or never seen.",
            ("device", "role"),
        )
        for d in devs:
            g.add_metric([d["id"], d["role"]], int(bool(d["online"])))
        yield g
        g = _gauge("onestop_hub_devices_online", "Devices online.")
        g.add_metric([], sum(1 for d in devs if d["online"]))
        yield g
        by_role: dict[str, int] = {d.role: 0 for d in hub.cfg.devices}
        for d in devs:
            if d["role"]:
                by_role[d["role"]] = by_role.get(d["role"], 0) + int(bool(d["online"]))
        g = _gauge("onestop_hub_devices_online_by_role", "Devices online, per role.", ("role",))
        for role, n in sorted(by_role.items()):
            g.add_metric([role], n)
        yield g
        alerts = alerts_of(hub)
        g = _gauge("onestop_hub_alerts", "Current alerts, per severity.", ("severity",))
        for sev in ("critical", "warning"):
            g.add_metric([sev], sum(1 for a in alerts if a.severity == sev))
        yield g
        yield from self._forwarder()
        yield from self._lookups()
        ctl_dev = next((d for d in devs if d["id"] == CONTROLLER_ID), None)
        yield from _controller(ctl_dev["health"] if ctl_dev is not None else {}, now)

    def _lookups(self) -> Iterator[Metric]:
        relay = self.hub.lookups
        if relay is None:
            return
        c = _counter(
            "onestop_hub_lookups_total",
            "Kiosks' booking and dossier lookups, by what became of them (docs/backend.md).",
            ("outcome",),
        )
        for outcome, n in sorted(relay.stats.items()):
            c.add_metric([outcome], n)
        yield c

    def _forwarder(self) -> Iterator[Metric]:
        fwd = forwarder_metrics(self.hub)
        if fwd is None:
            return
        streams = fwd.get("streams") or {}
        g = _gauge("onestop_hub_forwarder_running", "1 when the outbox forwarder runs.")
        g.add_metric([], int(bool(fwd.get("running"))))
        yield g
        for name, key, doc, make in (
            (
                "onestop_hub_forwarder_pending",
                "pending",
                "Outbox records not yet delivered, per stream.",
                _gauge,
            ),
            (
                "onestop_hub_forwarder_consecutive_failures",
                "consecutive_failures",
                "Failed attempts in a row, per stream.",
                _gauge,
            ),
            (
                "onestop_hub_forwarder_records_delivered_total",
                "records_delivered",
                "Records delivered since the hub started, per stream.",
                _counter,
            ),
        ):
            fam = make(name, doc, ("stream",))
            for s, st in streams.items():
                fam.add_metric([s], st.get(key) or 0)
            yield fam
        g = _gauge(
            "onestop_hub_forwarder_lag_seconds",
            "Age of the oldest record not yet delivered, per stream; 0 when nothing is owed.",
            ("stream",),
        )
        for s, st in streams.items():
            lag = st.get("lag_s")
            if isinstance(lag, (int, float)):
                g.add_metric([s], lag)
        yield g


def _age_s(ts: str | None, now: datetime) -> float:
    """Seconds from ``ts`` (ISO 8601) to ``now``; 0 when there is none."""
    if not ts:
        return 0.0
    try:
        then = datetime.fromisoformat(ts)
    except ValueError:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


def _number(x: Any) -> float | None:
    """A finite number from the network, or None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


#: The controller's process figures (queue_controller/metrics.py) and the families they become.
_CONTROLLER_PROCESS = (
    (
        "cpu_seconds",
        "onestop_controller_process_cpu_seconds_total",
        "CPU seconds of the controller.",
        _counter,
    ),
    (
        "rss_bytes",
        "onestop_controller_process_resident_memory_bytes",
        "Resident memory of the controller.",
        _gauge,
    ),
    ("open_fds", "onestop_controller_process_open_fds", "Open file descriptors of the controller.", _gauge),
    (
        "start_time_seconds",
        "onestop_controller_process_start_time_seconds",
        "When the controller started (Unix seconds).",
        _gauge,
    ),
)


def _controller(health: dict[str, Any], now: datetime) -> Iterator[Metric]:
    """The figures the controller publishes in its retained health message, as Prometheus families.
    Nothing when the controller has not published them (never seen, or an older controller)."""
    figures = health.get("metrics")
    if not isinstance(figures, dict):
        return
    g = _gauge(
        "onestop_controller_metrics_age_seconds",
        "Seconds since the controller published the figures below (it does every 30 s).",
    )
    ts = health.get("ts")
    g.add_metric([], _age_s(ts if isinstance(ts, str) else None, now))
    yield g
    proc = figures.get("process")
    proc = proc if isinstance(proc, dict) else {}
    for key, name, doc, make in _CONTROLLER_PROCESS:
        v = _number(proc.get(key))
        if v is not None:
            fam = make(name, doc)
            fam.add_metric([], v)
            yield fam
    c = _counter(
        "onestop_controller_commands_total",
        "Commands the controller answered since it started, per op and result (ok or the error code).",
        ("op", "result"),
    )
    rows = figures.get("commands")
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        op, result, n = row.get("op"), row.get("result"), _number(row.get("count"))
        if isinstance(op, str) and isinstance(result, str) and n is not None:
            c.add_metric([op, result], n)
    yield c
    lat = figures.get("latency")
    if isinstance(lat, dict):
        les, counts, total = lat.get("le"), lat.get("counts"), _number(lat.get("sum"))
        if (
            isinstance(les, list)
            and isinstance(counts, list)
            and len(les) == len(counts)
            and total is not None
        ):
            buckets = []
            for le, n in zip(les, counts, strict=True):
                bound = "+Inf" if le == "+Inf" else _number(le)
                value = _number(n)
                if bound is None or value is None:
                    return
                buckets.append((bound if isinstance(bound, str) else repr(bound), value))
            if buckets and buckets[-1][0] == "+Inf":
                h = HistogramMetricFamily(
                    "onestop_controller_command_latency_seconds",
                    "Seconds from taking a command to publishing its reply (decided and committed).",
                )
                h.add_metric([], buckets, total)
                yield h


def registry_of(hub: Hub) -> CollectorRegistry:
    """The hub's metrics registry (made on first use, one per hub)."""
    if hub.metrics is None:
        reg = CollectorRegistry(auto_describe=False)
        reg.register(HubCollector(hub))
        ProcessCollector(registry=reg)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        hub.metrics = reg
    return hub.metrics


def render(hub: Hub) -> str:
    """The hub's metrics as Prometheus text."""
    return generate_latest(registry_of(hub)).decode("utf-8")


#: The success is text; the refusals are JSON. (With ``response_class=PlainTextResponse`` FastAPI would
#: document the JSON refusals as text/plain too, so the route's class is the neutral ``Response``.)
_TEXT = {
    "description": "Prometheus text format 0.0.4",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


@router.get("/metrics", response_class=Response, responses={200: _TEXT, **refusals("viewer")})
def metrics(hub: HubDep, _who: Viewer) -> PlainTextResponse:
    """Prometheus metrics: events, last seq, waiting per service, devices, ingest, alerts, forwarder."""
    return PlainTextResponse(render(hub), media_type=CONTENT_TYPE)
