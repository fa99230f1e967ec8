"""Prometheus metrics at ``/metrics`` (text exposition format 0.0.4); a viewer token is needed.

The families are produced by :class:`HubCollector`, a ``prometheus_client`` collector that reads the
hub's state at each scrape, registered on a registry of its own per hub (never the library's global
registry: two hubs in one process, as in the tests, each expose their own figures). The family names
are a contract with the operators' dashboards and alerts: docs/operations.md "Metrics" lists them.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub_api.app import Hub, HubDep
from hub_api.deps import Viewer, refusals
from hub_api.routers.devices import alerts_of, devices_of, forwarder_metrics

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
        alerts = alerts_of(hub)
        g = _gauge("onestop_hub_alerts", "Current alerts, per severity.", ("severity",))
        for sev in ("critical", "warning"):
            g.add_metric([sev], sum(1 for a in alerts if a.severity == sev))
        yield g
        yield from self._forwarder()

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


def registry_of(hub: Hub) -> CollectorRegistry:
    """The hub's metrics registry (made on first use, one per hub)."""
    if hub.metrics is None:
        reg = CollectorRegistry(auto_describe=False)
        reg.register(HubCollector(hub))
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
