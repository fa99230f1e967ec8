"""The controller's event stream as stored by the hub, page by page."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from hub_api.app import HubDep
from hub_api.deps import Viewer, refusals
from hub_api.models import SQLITE_INT_MAX, EventOut, EventPage

router = APIRouter(prefix="/api/events", tags=["events"])


@router.get("", response_model=EventPage, responses=refusals("viewer"))
def events(
    hub: HubDep,
    _who: Viewer,
    from_seq: Annotated[int, Query(ge=1, le=SQLITE_INT_MAX)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Events with ``seq >= from_seq``, oldest first, at most ``limit``; ``next_seq`` continues."""
    rows = hub.store.query(
        "SELECT seq, type, ts, data FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (from_seq, limit)
    )
    items = [EventOut(seq=r["seq"], type=r["type"], ts=r["ts"], data=json.loads(r["data"])) for r in rows]
    nxt = items[-1].seq + 1 if items else from_seq
    return EventPage(last_seq=hub.store.last_seq, next_seq=nxt, items=items)
