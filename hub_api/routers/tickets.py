"""Tickets as the hub knows them: the full records (viewer token) and a public status per ticket."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from hub_api.app import Hub, HubDep
from hub_api.deps import Viewer, refusals
from hub_api.models import (
    SQLITE_INT_MAX,
    Responses,
    TicketOut,
    TicketPage,
    TicketStatus,
    TicketStatusName,
    answer,
)
from onestop.ticket_links import looks_like_token

router = APIRouter(prefix="/api/tickets", tags=["tickets"])

NO_TICKET: Responses = {404: answer("no ticket with this id")}
NO_LINK: Responses = {404: answer("no ticket with this link token")}


def people_ahead(hub: Hub, t: dict[str, Any]) -> int | None:
    """Waiting tickets of the same service that will likely be called first (None unless waiting)."""
    if t["status"] != "waiting":
        return None
    rows = hub.store.query(
        """SELECT COUNT(*) AS n FROM tickets WHERE service = ? AND status = 'waiting' AND day = ?
           AND (priority > ? OR (priority = ? AND updated_seq < ?))""",
        (t["service"], t["day"], t["priority"], t["priority"], t["updated_seq"]),
    )
    return int(rows[0]["n"])


def _out(t: dict[str, Any], ahead: int | None = None) -> TicketOut:
    booking = json.loads(t["booking"]) if t.get("booking") else None
    return TicketOut.model_validate(
        {**t, "priority": bool(t["priority"]), "ahead": ahead, "booking": booking}
    )


@router.get("", response_model=TicketPage, responses=refusals("viewer"))
def tickets(
    hub: HubDep,
    _who: Viewer,
    day: Annotated[str | None, Query(pattern=r"^\d{8}$", description="business day, yyyymmdd")] = None,
    service: str | None = None,
    counter: str | None = None,
    status: TicketStatusName | None = None,
    offset: Annotated[int, Query(ge=0, le=SQLITE_INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TicketPage:
    """Tickets, newest first, filtered by business day, service, counter and status; paged."""
    where, params = [], []
    for col, value in (("day", day), ("service", service), ("counter", counter), ("status", status)):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    total = hub.store.query(f"SELECT COUNT(*) AS n FROM tickets {cond}", tuple(params))[0]["n"]
    rows = hub.store.query(
        f"SELECT * FROM tickets {cond} ORDER BY day DESC, issued_at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return TicketPage(total=total, offset=offset, limit=limit, items=[_out(r) for r in rows])


@router.get("/{ticket_id}", response_model=TicketOut, responses={**refusals("viewer"), **NO_TICKET})
def ticket(ticket_id: str, hub: HubDep, _who: Viewer) -> TicketOut:
    """One ticket with everything the hub knows, and the people still ahead of it while it waits."""
    t = hub.store.ticket(ticket_id)
    if t is None:
        raise HTTPException(404, f"no ticket {ticket_id}")
    return _out(t, people_ahead(hub, t))


def ticket_by_token(hub: Hub, token: str) -> dict[str, Any] | None:
    """The ticket whose link carries ``token``; None for anything else (a sequential id included)."""
    return hub.store.ticket_by_token(token) if looks_like_token(token) else None


def ticket_status(hub: Hub, token: str) -> TicketStatus | None:
    """The public status of the ticket whose link token is ``token`` (its status page), or None."""
    seq = hub.store.last_seq  # read first: the answer is at least this fresh
    t = ticket_by_token(hub, token)
    if t is None:
        return None
    cfg = hub.cfg
    svc = next((s for s in cfg.services if s.id == t["service"]), None)
    ctr = next((c for c in cfg.counters if c.id == t["counter"]), None)
    ahead = people_ahead(hub, t)
    est: int | None = None
    if ahead is not None:
        live = hub.live.snapshot()["services"].get(t["service"]) or {}
        waiting, est_all = live.get("waiting"), live.get("est_wait_s")
        if isinstance(waiting, int) and isinstance(est_all, int) and waiting > 0:
            est = round(est_all * ahead / waiting)  # the controller's estimate is linear in people ahead
        elif ahead == 0:
            est = 0
    return TicketStatus(
        id=t["id"],
        number=t["number"],
        service=t["service"],
        service_name=svc.name if svc else t["service"],
        service_name_en=svc.name_en if svc else "",
        priority=bool(t["priority"]),
        status=t["status"],
        counter=t["counter"],
        counter_label=ctr.label if ctr else (f"Quầy {t['counter']}" if t["counter"] else None),
        counter_label_en=ctr.english_label if ctr else (f"Counter {t['counter']}" if t["counter"] else None),
        issued_at=t["issued_at"],
        called_at=t["called_at"],
        ahead=ahead,
        est_wait_s=est,
        site_name=cfg.site.name,
        agency=cfg.site.agency,
        seq=seq,
    )


@router.get("/{token}/status", response_model=TicketStatus, responses=NO_LINK)
def public_status(token: str, hub: HubDep) -> TicketStatus:
    """Public: what the ticket's status page shows (number, service, status, counter, people ahead).

    ``token`` is the unguessable token of the ticket's QR code (``/t/{token}``), not the ticket id."""
    st = ticket_status(hub, token)
    if st is None:
        raise HTTPException(404, "no ticket with this link")
    return st
