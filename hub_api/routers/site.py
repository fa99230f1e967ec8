"""Who and where the site is, for pages: names, time zone and the hub's clock, counters, officers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from hub_api.app import HubDep
from hub_api.caller import web_keypad_devices
from onestop import __version__
from onestop.protocol import iso

router = APIRouter(prefix="/api", tags=["site"])


@router.get("/site")
def site(hub: HubDep) -> dict[str, Any]:
    """The site's names and time, its services, counters and officers, and the board settings."""
    cfg = hub.cfg
    now = datetime.now(cfg.site.tz)
    offset = now.utcoffset()
    web = web_keypad_devices(cfg)
    return {
        "id": cfg.site.id,
        "name": cfg.site.name,
        "agency": cfg.site.agency,
        "address": cfg.site.address,
        "timezone": cfg.site.timezone,
        "now": iso(now),
        "utc_offset_s": int(offset.total_seconds()) if offset is not None else 0,
        "version": __version__,
        "board": {"notice": cfg.board.notice, "calls_shown": cfg.board.calls_shown},
        "services": [
            {"id": s.id, "name": s.name, "name_en": s.name_en, "prefix": s.prefix} for s in cfg.services
        ],
        "counters": [
            {"id": c.id, "label": c.label, "services": list(c.services), "web_keypad": c.id in web}
            for c in cfg.counters
        ],
        "officers": [{"id": o.id, "name": o.name, "title": o.title} for o in cfg.officers],
    }
