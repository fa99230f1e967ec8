"""Device health and the alert list, for the centre manager."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from hub_api.alerts import Alert, compute_alerts, device_list
from hub_api.app import Hub, HubDep
from hub_api.deps import Viewer, refusals
from hub_api.models import AlertOut, DeviceOut
from provisioning.release import latest

router = APIRouter(prefix="/api", tags=["devices"])


def devices_of(hub: Hub) -> list[dict[str, Any]]:
    """Every device of the site and every other sender seen, with presence and health."""
    return device_list(hub.cfg, hub.store.query("SELECT * FROM devices"))


def forwarder_metrics(hub: Hub) -> dict[str, Any] | None:
    """The outbox forwarder's figures, when the hub has one."""
    fwd = getattr(hub, "forwarder", None)
    if fwd is None or not hasattr(fwd, "metrics"):
        return None
    metrics: dict[str, Any] = fwd.metrics()
    return metrics


def alerts_of(hub: Hub, now: datetime | None = None) -> list[Alert]:
    """The hub's current alert list."""
    connected = hub.ingest is not None and hub.ingest.mqtt.connected.is_set()
    return compute_alerts(
        devices_of(hub),
        now or datetime.now(UTC),
        broker_connected=connected,
        controller_online=hub.live.controller_online,
        forwarder=forwarder_metrics(hub),
        rewind=hub.store.rewind_note(),
        published=published_version(hub),
    )


def published_version(hub: Hub) -> str | None:
    """The version of the release the hub serves to devices (None: none published)."""
    pub = latest(hub.cfg.data_dir)
    return pub.version if pub is not None else None


@router.get("/devices", response_model=list[DeviceOut], responses=refusals("viewer"))
def devices(hub: HubDep, _who: Viewer) -> list[DeviceOut]:
    """Devices: online or offline (null: never seen), role, last seen, kiosk printer, health detail."""
    return [DeviceOut.model_validate(d) for d in devices_of(hub)]


@router.get("/alerts", response_model=list[AlertOut], responses=refusals("viewer"))
def alerts(hub: HubDep, _who: Viewer) -> list[AlertOut]:
    """Problems to act on, most severe first: controller or devices offline, printers, back end."""
    return [AlertOut.model_validate(a.as_dict()) for a in alerts_of(hub)]
