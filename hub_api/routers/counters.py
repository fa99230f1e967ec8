"""Counters as the hub knows them: who waits for a counter, in the order it will likely call them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from hub_api.app import HubDep
from hub_api.deps import Viewer, refusals
from hub_api.models import CounterOut, answer
from onestop.config import CounterConfig

router = APIRouter(prefix="/api/counters", tags=["counters"])


def _line(rows: list[dict[str, Any]]) -> list[tuple[float, dict[str, Any]]]:
    """One service's waiting tickets with a sort value: by the event that queued them, except that a
    ticket transferred "to the front" goes before everybody who was waiting then."""
    by_seq = sorted(rows, key=lambda r: r["updated_seq"])
    ordered: list[dict[str, Any]] = []
    for r in by_seq:
        if r["front"]:
            ordered.insert(0, r)
        else:
            ordered.append(r)
    out: list[tuple[float, dict[str, Any]]] = []
    nxt: float | None = None
    for r in reversed(ordered):  # a front ticket sorts just before the one it went ahead of
        value = float(r["updated_seq"]) if not r["front"] or nxt is None else nxt - 0.001
        out.append((value, r))
        nxt = value
    out.reverse()
    return out


def _due_at(r: dict[str, Any]) -> str | None:
    """When a ticket of the booked line may be called (None: it waits like any other)."""
    try:
        b = json.loads(r["booking"]) if r.get("booking") else None
    except ValueError:
        return None
    return b.get("due_at") if isinstance(b, dict) and b.get("line") == "booked" else None


def waiting_for(
    hub_rows: list[dict[str, Any]], counter: CounterConfig, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Waiting tickets of a counter's services in likely calling order: priority first, then booked
    ones whose window has begun (by window), then walk-ins, by the counter's policy (``fifo``: longest
    waiting; ``ordered``: its first service first), then booked ones not due yet. (The controller
    lets a walk-in in after ``[bookings] max_in_row`` booked calls: the order is likely, not sure.)"""
    rank = {s: i for i, s in enumerate(counter.services)}
    keyed: list[tuple[tuple[int, int, str, float], dict[str, Any]]] = []
    for r in hub_rows:
        r["booked"] = _due_at(r) is not None
    for prio in (True, False):
        for sid in counter.services:
            rows = [
                r for r in hub_rows if r["service"] == sid and bool(r["priority"]) == prio and not r["booked"]
            ]
            for value, r in _line(rows):
                svc = rank[sid] if counter.policy == "ordered" else 0
                keyed.append(((0 if prio else 2, svc, "", value), r))
    moment = now or datetime.now(UTC)
    for r in hub_rows:
        due = _due_at(r)
        if due is not None:
            early = datetime.fromisoformat(due) > moment
            svc = rank[r["service"]] if counter.policy == "ordered" else 0
            keyed.append(((3 if early else 1, svc, due, float(r["updated_seq"])), r))
    keyed.sort(key=lambda kr: kr[0])
    return [r for _k, r in keyed]


def _public(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "number": r["number"],
        "service": r["service"],
        "priority": bool(r["priority"]),
        "issued_at": r["issued_at"],
        "booked": bool(r.get("booked")),
    }


@router.get("/{counter}/queue", responses={404: answer("no counter with this id in site.toml")})
def queue(hub: HubDep, counter: str, limit: int = Query(10, ge=0, le=200)) -> dict[str, Any]:
    """The tickets waiting for ``counter`` (the first ``limit``, likely next first), counts per service,
    and today's skipped tickets of its services (they can be called back by number)."""
    try:
        conf = hub.cfg.counter(counter)
    except KeyError:
        raise HTTPException(404, f"no counter {counter}") from None
    marks = ",".join("?" * len(conf.services))
    rows = hub.store.query(
        f"""SELECT t.id, t.number, t.service, t.priority, t.issued_at, t.updated_seq, t.booking,
                   CASE WHEN e.type = 'ticket.transferred' AND json_extract(e.data, '$.front')
                        THEN 1 ELSE 0 END AS front
            FROM tickets t LEFT JOIN events e ON e.seq = t.updated_seq
            WHERE t.status = 'waiting' AND t.service IN ({marks})""",
        tuple(conf.services),
    )
    line = waiting_for(rows, conf)
    skipped = hub.store.query(
        f"""SELECT id, number, service, priority, issued_at, updated_seq, 0 AS front FROM tickets
            WHERE status = 'skipped' AND service IN ({marks})
              AND day = (SELECT MAX(day) FROM tickets)
            ORDER BY updated_seq DESC LIMIT 20""",
        tuple(conf.services),
    )
    names = {s.id: s.name for s in hub.cfg.services}
    return {
        "counter": conf.id,
        "label": conf.label,
        "policy": conf.policy,
        "waiting": len(line),
        "by_service": [
            {"service": sid, "name": names[sid], "waiting": sum(1 for r in line if r["service"] == sid)}
            for sid in conf.services
        ],
        "next": [_public(r) for r in line[:limit]],
        "skipped": [_public(r) for r in skipped],
    }


@router.get("", response_model=list[CounterOut], responses=refusals("viewer"))
def counters(hub: HubDep, _who: Viewer) -> list[CounterOut]:
    """Every counter of site.toml with its live state (status, the number served, the officer)."""
    live = hub.live.snapshot()["counters"]
    out = []
    for c in hub.cfg.counters:
        st = live.get(c.id) or {}
        serving = st.get("serving") or {}
        officer = st.get("officer") or {}
        out.append(
            CounterOut(
                id=c.id,
                label=c.label,
                services=list(c.services),
                policy=c.policy,
                status=st.get("status"),
                serving=serving.get("number"),
                officer=officer.get("id"),
            )
        )
    return out
