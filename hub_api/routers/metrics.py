"""Prometheus metrics (text exposition format 0.0.4), written by hand; a viewer token is needed."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from hub_api.app import Hub, HubDep
from hub_api.deps import Viewer, refusals
from hub_api.routers.devices import alerts_of, devices_of, forwarder_metrics

router = APIRouter(tags=["metrics"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value) if isinstance(value, int) else repr(float(value))


class Exposition:
    """Collects metric families and renders them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        """One metric family: HELP, TYPE and its samples."""
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{lab}}} {_num(value)}" if lab else f"{name} {_num(value)}")

    def text(self) -> str:
        """The exposition text."""
        return "\n".join(self.lines) + "\n"


def render(hub: Hub) -> str:
    """The hub's metrics as Prometheus text."""
    x = Exposition()
    stats = dict(hub.ingest.stats) if hub.ingest is not None else {}
    connected = hub.ingest is not None and hub.ingest.mqtt.connected.is_set()
    x.family(
        "onestop_hub_events_applied_total",
        "counter",
        "Events applied to the hub's store since it started.",
        [({}, stats.get("events", 0))],
    )
    x.family(
        "onestop_hub_last_seq", "gauge", "The last event seq stored by the hub.", [({}, hub.store.last_seq)]
    )
    x.family(
        "onestop_hub_ingest_replays_total",
        "counter",
        "Replays asked from the controller.",
        [({}, stats.get("replays", 0))],
    )
    x.family(
        "onestop_hub_ingest_gaps_total",
        "counter",
        "Events that arrived ahead of a missing one.",
        [({}, stats.get("gaps", 0))],
    )
    x.family(
        "onestop_hub_ingest_bad_messages_total",
        "counter",
        "Unreadable messages dropped.",
        [({}, stats.get("bad", 0))],
    )
    x.family(
        "onestop_hub_broker_connected",
        "gauge",
        "1 when the hub is connected to the broker.",
        [({}, connected)],
    )
    ctl = hub.live.controller_online
    x.family(
        "onestop_hub_controller_online",
        "gauge",
        "1 when the queue controller is online (-1: unknown).",
        [({}, -1 if ctl is None else int(ctl))],
    )
    waiting = {
        r["service"]: r["n"]
        for r in hub.store.query(
            "SELECT service, COUNT(*) AS n FROM tickets WHERE status = 'waiting' GROUP BY service"
        )
    }
    x.family(
        "onestop_hub_tickets_waiting",
        "gauge",
        "Tickets waiting, per service.",
        [({"service": s.id}, waiting.get(s.id, 0)) for s in hub.cfg.services],
    )
    devs = devices_of(hub)
    x.family(
        "onestop_hub_device_online",
        "gauge",
        "1 when a device is online, 0 when offline or never seen.",
        [({"device": d["id"], "role": d["role"]}, bool(d["online"])) for d in devs],
    )
    x.family(
        "onestop_hub_devices_online", "gauge", "Devices online.", [({}, sum(1 for d in devs if d["online"]))]
    )
    alerts = alerts_of(hub)
    x.family(
        "onestop_hub_alerts",
        "gauge",
        "Current alerts, per severity.",
        [({"severity": s}, sum(1 for a in alerts if a.severity == s)) for s in ("critical", "warning")],
    )
    fwd = forwarder_metrics(hub)
    if fwd is not None:
        streams = fwd.get("streams") or {}
        x.family(
            "onestop_hub_forwarder_running",
            "gauge",
            "1 when the outbox forwarder runs.",
            [({}, bool(fwd.get("running")))],
        )
        x.family(
            "onestop_hub_forwarder_pending",
            "gauge",
            "Outbox records not yet delivered, per stream.",
            [({"stream": s}, st.get("pending") or 0) for s, st in streams.items()],
        )
        x.family(
            "onestop_hub_forwarder_consecutive_failures",
            "gauge",
            "Failed attempts in a row, per stream.",
            [({"stream": s}, st.get("consecutive_failures") or 0) for s, st in streams.items()],
        )
        x.family(
            "onestop_hub_forwarder_records_delivered_total",
            "counter",
            "Records delivered since the hub started, per stream.",
            [({"stream": s}, st.get("records_delivered") or 0) for s, st in streams.items()],
        )
    return x.text()


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
