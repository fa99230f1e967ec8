"""Liveness of the hub itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hub_api.app import HubDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(hub: HubDep) -> dict[str, Any]:
    """The hub is up; says whether it is connected to the broker and how far it has read."""
    connected = hub.ingest is not None and hub.ingest.mqtt.connected.is_set()
    return {
        "ok": True,
        "site": hub.cfg.site.id,
        "broker_connected": connected,
        "controller_online": hub.live.controller_online,
        "last_seq": hub.store.last_seq,
    }
