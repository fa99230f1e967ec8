"""Services (lĩnh vực) of the site and their live queues."""

from __future__ import annotations

from fastapi import APIRouter

from hub_api.app import HubDep
from hub_api.deps import Viewer, refusals
from hub_api.models import ServiceOut

router = APIRouter(prefix="/api/services", tags=["services"])


@router.get("", response_model=list[ServiceOut], responses=refusals("viewer"))
def services(hub: HubDep, _who: Viewer) -> list[ServiceOut]:
    """Every service of site.toml with its live queue (open, waiting, estimate, issued today)."""
    live = hub.live.snapshot()["services"]
    out = []
    for s in hub.cfg.services:
        st = live.get(s.id) or {}
        out.append(
            ServiceOut(
                id=s.id,
                name=s.name,
                name_en=s.name_en,
                prefix=s.prefix,
                hours=list(s.hours),
                daily_limit=s.daily_limit,
                open=st.get("open"),
                waiting=st.get("waiting"),
                est_wait_s=st.get("est_wait_s"),
                issued_today=st.get("issued_today"),
            )
        )
    return out
