"""Officers of the site and the counter each works at now."""

from __future__ import annotations

from fastapi import APIRouter

from hub_api.app import HubDep
from hub_api.deps import Viewer, refusals
from hub_api.models import OfficerOut

router = APIRouter(prefix="/api/officers", tags=["officers"])


@router.get("", response_model=list[OfficerOut], responses=refusals("viewer"))
def officers(hub: HubDep, _who: Viewer) -> list[OfficerOut]:
    """Every officer of site.toml, with the counter they have opened (if any)."""
    at: dict[str, str] = {}
    for cid, st in hub.live.snapshot()["counters"].items():
        officer = st.get("officer") or {}
        if officer.get("id") and st.get("status") != "closed":
            at[officer["id"]] = cid
    return [
        OfficerOut(id=o.id, name=o.name, title=o.title, at_counter=at.get(o.id)) for o in hub.cfg.officers
    ]
