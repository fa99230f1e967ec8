"""Tickets as the hub knows them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from hub_api.app import HubDep

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


@router.get("/{ticket_id}")
def ticket(ticket_id: str, hub: HubDep) -> dict[str, Any]:
    """One ticket, with the people still ahead of it while it waits."""
    t = hub.store.ticket(ticket_id)
    if t is None:
        raise HTTPException(404, f"no ticket {ticket_id}")
    ahead = None
    if t["status"] == "waiting":
        rows = hub.store.query(
            """SELECT COUNT(*) AS n FROM tickets WHERE service = ? AND status = 'waiting' AND day = ?
               AND (priority > ? OR (priority = ? AND updated_seq < ?))""",
            (t["service"], t["day"], t["priority"], t["priority"], t["updated_seq"]),
        )
        ahead = rows[0]["n"]
    return {**t, "priority": bool(t["priority"]), "ahead": ahead}
