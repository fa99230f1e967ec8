"""Counters as the hub knows them: who waits for a counter, in the order it will likely call them."""

from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Rules:
    """What decides a counter's next call besides its lines: ``[queue] priority_streak``, ``[bookings]
    max_in_row``, and the counter's streaks so far (its retained state's ``streaks``)."""

    priority_streak: int = 3
    max_in_row: int = 2
    streak: int = 0
    booked_streak: int = 0


def waiting_for(
    hub_rows: list[dict[str, Any]],
    counter: CounterConfig,
    now: datetime | None = None,
    rules: Rules | None = None,
) -> list[dict[str, Any]]:
    """Waiting tickets of a counter's services in the order its ``call_next`` will take them, if
    nothing else happens meanwhile: the controller's rule played forward (queue_controller/engine.py,
    ``_pick``): priority first, unless ``priority_streak`` of them were called in a row while others
    waited; then booked ones whose window has begun (by window), unless ``max_in_row`` of them were
    called in a row while a walk-in waited; then walk-ins, by the counter's policy (``fifo``: longest
    waiting; ``ordered``: its first service first); booked ones not due yet last. (Tickets issued,
    transferred or called elsewhere meanwhile, and windows that begin, change it.)"""
    rules = rules or Rules()
    rank = {s: i for i, s in enumerate(counter.services)}
    moment = now or datetime.now(UTC)

    def svc(r: dict[str, Any]) -> int:
        return rank[r["service"]] if counter.policy == "ordered" else 0

    prio: list[tuple[tuple[int, float], dict[str, Any]]] = []
    walk: list[tuple[tuple[int, float], dict[str, Any]]] = []
    for r in hub_rows:
        r["booked"] = _due_at(r) is not None
    for sid in counter.services:
        for p in (True, False):
            rows = [
                r for r in hub_rows if r["service"] == sid and bool(r["priority"]) == p and not r["booked"]
            ]
            (prio if p else walk).extend(((svc(r), value), r) for value, r in _line(rows))
    due: list[tuple[tuple[int, str, float], dict[str, Any]]] = []
    later: list[tuple[tuple[int, str, float], dict[str, Any]]] = []
    for r in hub_rows:
        at = _due_at(r)
        if at is not None:
            key = (svc(r), at, float(r["updated_seq"]))
            (later if datetime.fromisoformat(at) > moment else due).append((key, r))
    p_line, d_line, w_line = (
        [r for _k, r in sorted(line, key=lambda kr: kr[0])] for line in (prio, due, walk)
    )
    out: list[dict[str, Any]] = []
    streak, booked_streak = rules.streak, rules.booked_streak
    while p_line or d_line or w_line:
        any_normal = bool(w_line) or bool(d_line)
        use_prio = bool(p_line) and (not any_normal or streak < rules.priority_streak)
        use_booked = not use_prio and bool(d_line) and (not w_line or booked_streak < rules.max_in_row)
        line = p_line if use_prio else d_line if use_booked else w_line
        any_walk_in = bool(w_line)
        out.append(line.pop(0))
        streak = streak + 1 if (use_prio and any_normal) else 0
        if not use_prio:
            booked_streak = booked_streak + 1 if (use_booked and any_walk_in) else 0
    return out + [r for _k, r in sorted(later, key=lambda kr: kr[0])]


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
    streaks = (hub.live.snapshot()["counters"].get(conf.id) or {}).get("streaks") or {}
    rules = Rules(
        priority_streak=hub.cfg.queue.priority_streak,
        max_in_row=hub.cfg.bookings.max_in_row,
        streak=int(streaks.get("priority") or 0),
        booked_streak=int(streaks.get("booked") or 0),
    )
    line = waiting_for(rows, conf, rules=rules)
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
