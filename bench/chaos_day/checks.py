"""The checks after a chaos day: the databases (opened read-only), the back end's records, the
retained display states and what the simulated devices were told must all tell the same story.

The day crosses one business-day boundary (``[site] day_starts``), so the checks hold for two business
days: numbers are unique per day and restart at 1 on the new day, every ticket of the first day ended
(served, skipped, or ended by the reset) and was forwarded exactly once per ending with that outcome,
and the reset itself is checked against the event log replayed up to it (see :func:`check_reset`).

What the engine decides at the reset (``queue_controller/engine.py``, ``_close_day``), and therefore
what is correct here: in one batch, at the first look at the clock on or after the boundary, every
ticket still being served is ended ``done`` (a visit that was under way was served), every counter
that is not closed is closed (``reason: day_end``), every ticket still waiting is ``expired``, the
board's calls are cleared, numbering restarts, and ``day.closed`` ends the batch. Skipped tickets stay
skipped: they can be called back by number only on their own day (``call`` looks the number up in
today's tickets), so no ticket of the old day is called, or changed at all, on the new one.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from onestop.clock import SystemClock
from onestop.config import SiteConfig
from onestop.protocol import UNSTORED_ERRORS, Topics
from queue_controller.engine import Engine
from queue_controller.model import Ticket

ENDINGS = ("ticket.done", "ticket.skipped", "ticket.expired")
#: At most this many examples are kept per violated check (the count is always complete).
EXAMPLES = 20


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to an SQLite file (the writer has stopped)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        yield db


class Violations:
    """Violations by check: a complete count and the first few examples of each."""

    def __init__(self, checks: list[str]) -> None:
        self.counts: dict[str, int] = dict.fromkeys(checks, 0)
        self.examples: dict[str, list[Any]] = {}

    def add(self, check: str, example: Any) -> None:
        """Record one violation of ``check``."""
        self.counts[check] = self.counts.get(check, 0) + 1
        ex = self.examples.setdefault(check, [])
        if len(ex) < EXAMPLES:
            ex.append(example)

    @property
    def total(self) -> int:
        """All violations."""
        return sum(self.counts.values())


CHECKS = [
    "number_issued_twice",
    "ticket_lost",
    "ticket_not_answered",
    "called_by_two_counters",
    "queue_record_missing",
    "queue_record_extra",
    "record_forwarded_twice",
    "backend_key_conflict",
    "rating_missing",
    "rating_extra",
    "rating_not_as_told",
    "event_seq_gap",
    "hub_events_differ",
    "display_differs",
    "reply_changed",
    "device_view_differs",
    "unexpected_refusal",
    # the business-day boundary
    "boundary_not_crossed",
    "reset_wrong",
    "numbering_wrong",
    "ticket_in_wrong_day",
    "day1_ticket_after_reset",
    "final_status_differs",
    "hub_tickets_differ",
    # devices that give up, clock steps, the flooding device
    "failed_command_took_effect",
    "event_without_command",
    "ticket_id_issued_twice",
    "business_day_went_back",
    "flooder_over_share",
    "others_starved_by_flood",
    "refused_commands_stored",
    "clock_step_not_logged",
]
#: Answers a device shows its user as a failure (as it shows no answer at all): the command must
#: never take effect. They are legitimate refusals; the command is in the devices' ``failed`` list.
USER_FAILURES = frozenset({"expired", "unavailable", "rate_limited"})
#: Refusals that the boundary makes legitimate, by op: the code, and what must hold (see
#: :func:`classify_refusal`).
BOUNDARY_REFUSALS = {
    ("call_next", "counter_closed"),
    ("call", "counter_closed"),
    ("recall", "counter_closed"),
    ("pause", "counter_closed"),
    ("resume", "counter_closed"),
    ("skip", "no_current_ticket"),
    ("finish", "no_current_ticket"),
    ("transfer", "no_current_ticket"),
    ("call", "not_found"),
    ("rate", "nothing_to_rate"),
}


ESTIMATE_KEYS = ("est_wait_s", "est_wait_range_s")


def without_estimates(state: dict[str, Any]) -> dict[str, Any]:
    """A retained state without its wait estimates (``state/service/*`` and each board service)."""
    out = {k: v for k, v in state.items() if k not in ESTIMATE_KEYS}
    if isinstance(out.get("services"), list):
        out["services"] = [
            without_estimates(s) if isinstance(s, dict) else s for s in out["services"]
        ]  # fmt: skip
    return out


def estimate_faults(state: dict[str, Any]) -> list[str]:
    """What is wrong with the shape of a retained state's wait estimates: a point that is not a
    whole number of seconds >= 0, or a range that does not hold it."""
    faults: list[str] = []
    parts = [state, *(s for s in state.get("services") or [] if isinstance(s, dict))]
    for part in parts:
        if "est_wait_s" not in part:
            continue
        point, span = part["est_wait_s"], part.get("est_wait_range_s")
        name = part.get("service", "?")
        if not isinstance(point, int) or point < 0:
            faults.append(f"{name}: est_wait_s {point!r}")
        elif span is not None and not (
            isinstance(span, list) and len(span) == 2 and span[0] <= point <= span[1]
        ):  # fmt: skip
            faults.append(f"{name}: est_wait_range_s {span!r} does not hold {point}")
    return faults


def day_of(ticket_id: str) -> str:
    """The business day (``YYYYMMDD``) in a ticket id."""
    return ticket_id.split("-", 1)[0]


def epoch(ts: str) -> float:
    """An ISO 8601 timestamp with offset as Unix time."""
    return datetime.fromisoformat(ts).timestamp()


def load_events(db_path: Path) -> list[tuple[int, str, str, dict[str, Any]]]:
    """Every event of a controller or hub database, in ``seq`` order."""
    with read_only(db_path) as db:
        rows = db.execute("SELECT seq, type, ts, data FROM events ORDER BY seq").fetchall()
    return [(int(s), str(t), str(ts), json.loads(d)) for s, t, ts, d in rows]


def engine_from_db(cfg: SiteConfig, db_path: Path) -> Engine:
    """The controller's engine as a restart would rebuild it (``Store.load``, read-only)."""
    with read_only(db_path) as db:
        row = db.execute("SELECT value FROM meta WHERE key='engine'").fetchone()
        meta = json.loads(row[0]) if row else {}
        eng = Engine(cfg, SystemClock())
        day = meta.get("day", eng.day.isoformat())
        tickets = [
            Ticket.from_record(json.loads(r[0]))
            for r in db.execute("SELECT data FROM tickets WHERE day = ?", (day,))
        ]
        counters = {r[0]: json.loads(r[1]) for r in db.execute("SELECT id, data FROM counters")}
        services = {r[0]: json.loads(r[1]) for r in db.execute("SELECT id, data FROM services")}
    eng.restore(meta, tickets, counters, services)
    return eng


@dataclass
class Reset:
    """The daily reset of the day, as the controller's event log shows it."""

    boundary: float | None = None
    day1: str = ""
    day2: str = ""
    #: ``seq`` and ``ts`` of ``day.closed``; the first ``seq`` of the reset batch.
    seq: int | None = None
    ts: str | None = None
    at: float | None = None
    first_seq: int | None = None
    expired: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)

    def figures(
        self, table: dict[str, tuple[str, str, dict[str, Any]]], legit: Counter[str], devices: dict[str, Any]
    ) -> dict[str, Any]:
        """The boundary's part of the summary."""
        per_day: dict[str, Counter[str]] = {self.day1: Counter(), self.day2: Counter()}
        for tid, (_d, status, _data) in table.items():
            per_day.setdefault(day_of(tid), Counter())[status] += 1
        return {
            "planned_at": _iso(self.boundary),
            "day1": self.day1,
            "day2": self.day2,
            "reset_at": self.ts,
            "reset_delay_s": round(self.at - self.boundary, 3) if self.at and self.boundary else None,
            "reset_seq": [self.first_seq, self.seq],
            "expired_by_reset": len(self.expired),
            "served_by_reset": len(self.done),
            "counters_closed_by_reset": len(self.closed),
            "tickets_by_day": {
                d: {"issued": sum(c.values()), **dict(sorted(c.items()))} for d, c in sorted(per_day.items())
            },
            "refusals_made_legitimate": dict(sorted(legit.items())),
            "tickets_ended_by_reset_at_a_counter": len(devices.get("ended_unseen", [])),
            "callback_numbers_meaning_today": len(devices.get("boundary_calls", [])),
        }


def _iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds") if at is not None else None


def _reset_start(events: list[tuple[int, str, str, dict[str, Any]]], k: int) -> int:
    """Index of the first event of the reset batch that ends with ``day.closed`` at ``k``: the
    ``ticket.done`` of tickets being served (each followed by its counter's ``counter.closed``), the
    ``counter.closed`` with ``reason: day_end``, the ``ticket.expired``."""

    def closed_by_reset(i: int) -> bool:
        return events[i][1] == "counter.closed" and events[i][3].get("reason") == "day_end"

    j = k - 1
    while j >= 0:
        kind, data = events[j][1], events[j][3]
        if (
            kind == "ticket.expired"
            or closed_by_reset(j)
            or (
                kind == "ticket.done"
                and closed_by_reset(j + 1)
                and events[j + 1][3]["counter"]["counter"] == data["ticket"].get("counter")
            )
        ):
            j -= 1
        else:
            break
    return j + 1


def _concerns(data: dict[str, Any]) -> str | None:
    """The ticket an event is about (a rating's ticket for ``rating.recorded``)."""
    tk = data.get("ticket")
    if isinstance(tk, dict):
        return str(tk["id"])
    rating = data.get("rating")
    return str(rating["ticket"]) if isinstance(rating, dict) else None


def check_numbering(
    v: Violations, cfg: SiteConfig, events: list[tuple[int, str, str, dict[str, Any]]]
) -> None:
    """In each business day and service, numbers are issued 1, 2, 3, ... in order: unique, without a
    gap, and restarting at 1 on a new day."""
    numbers: dict[tuple[str, str], list[int]] = {}
    for _seq, kind, _ts, data in events:
        if kind != "ticket.issued":
            continue
        t = data["ticket"]
        prefix = cfg.service(t["service"]).prefix
        numbers.setdefault((day_of(t["id"]), t["service"]), []).append(int(t["number"][len(prefix) :]))
    for (day, sid), got in sorted(numbers.items()):
        if got != list(range(1, len(got) + 1)):
            at = next(i for i, n in enumerate(got) if n != i + 1)
            v.add(
                "numbering_wrong",
                {"day": day, "service": sid, "index": at, "numbers": got[max(0, at - 2) : at + 3]},
            )


def check_reset(
    v: Violations,
    cfg: SiteConfig,
    events: list[tuple[int, str, str, dict[str, Any]]],
    table: dict[str, tuple[str, str, dict[str, Any]]],
    queue_records: list[dict[str, Any]],
    boundary: dict[str, Any] | None,
    clock_back_s: float = 0.0,
) -> Reset:
    """The daily reset against the event log replayed up to it, and the two days on either side.

    - exactly one ``day.closed``, at or after the boundary, for the old day, with its figures right;
    - the reset batch expired exactly the tickets waiting just before it, ended ``done`` exactly the
      tickets being served, closed exactly the counters not closed; all at one instant;
    - no ``ticket.expired`` anywhere else; every ``expired`` record forwarded is one of these, with the
      reset's time as ``finished_at``;
    - everything before the reset was decided before the boundary (to the millisecond) and issued
      tickets of the old day; everything after it, at or after the boundary, with the new day's ids;
    - after the reset no event concerns a ticket of the old day (not called, not rated, not changed)."""
    check_numbering(v, cfg, events)
    r = Reset()
    closes = [i for i, e in enumerate(events) if e[1] == "day.closed"]
    if boundary is None:
        for i in closes:
            v.add("reset_wrong", {"what": "a day closed in a day without a boundary", "seq": events[i][0]})
        return r
    at = float(boundary["epoch"])
    r.boundary = at
    d2 = datetime.fromtimestamp(at, cfg.site.tz).date()  # day_starts is the local time of the boundary
    r.day1, r.day2 = f"{d2 - timedelta(days=1):%Y%m%d}", f"{d2:%Y%m%d}"
    if (boundary.get("day1"), boundary.get("day2")) != (r.day1, r.day2):
        v.add(
            "reset_wrong",
            {"what": "the harness planned other days", "planned": boundary, "site": [r.day1, r.day2]},
        )
    issued = Counter(day_of(e[3]["ticket"]["id"]) for e in events if e[1] == "ticket.issued")
    if len(closes) != 1 or not issued[r.day1] or not issued[r.day2]:
        v.add(
            "boundary_not_crossed",
            {"day.closed": len(closes), "tickets": {d: issued[d] for d in (r.day1, r.day2)}},
        )
    if len(closes) > 1:
        v.add(
            "reset_wrong", {"what": "the day closed more than once", "seqs": [events[i][0] for i in closes]}
        )
    if not closes:
        return r
    k = closes[0]
    r.seq, _kind, ts, data = events[k]
    r.ts, r.at = ts, epoch(ts)
    start = _reset_start(events, k)
    r.first_seq = events[start][0]

    # the state just before the reset, replayed from the log
    status: dict[str, str] = {}
    counters = {c.id: "closed" for c in cfg.counters}
    for _seq, kind, _ts, d in events[:start]:
        tk = d.get("ticket")
        if isinstance(tk, dict) and kind != "rating.recorded":
            status[tk["id"]] = tk["status"]
        elif kind.startswith("counter."):
            counters[d["counter"]["counter"]] = d["counter"]["status"]
    waiting = {t for t, st in status.items() if st == "waiting"}
    called = {t for t, st in status.items() if st == "called"}
    not_closed = {c for c, st in counters.items() if st != "closed"}
    for seq, kind, t_ts, d in events[start:k]:
        if t_ts != ts:
            v.add("reset_wrong", {"what": "an event of the reset at another instant", "seq": seq, "ts": t_ts})
        if kind == "ticket.expired":
            r.expired.add(d["ticket"]["id"])
        elif kind == "ticket.done":
            r.done.add(d["ticket"]["id"])
        elif kind == "counter.closed":
            r.closed.add(d["counter"]["counter"])
    for what, want, got in (
        ("waiting when the day closed, expired by it", waiting, r.expired),
        ("being served when the day closed, ended done by it", called, r.done),
        ("counter not closed when the day closed, closed by it", not_closed, r.closed),
    ):
        for x in sorted(want - got):
            v.add("reset_wrong", {"what": f"{what}: not", "id": x, "before": status.get(x, counters.get(x))})
        for x in sorted(got - want):
            v.add(
                "reset_wrong",
                {"what": f"{what}: but was not", "id": x, "before": status.get(x, counters.get(x))},
            )
    for tid in sorted(r.expired | r.done):
        if day_of(tid) != r.day1:
            v.add("reset_wrong", {"what": "the reset ended a ticket of another day", "ticket": tid})
    want_data = {
        "day": f"{d2 - timedelta(days=1):%Y-%m-%d}",
        "issued": issued[r.day1],
        "expired": len(r.expired),
    }
    if data != want_data:
        v.add("reset_wrong", {"what": "day.closed says otherwise", "data": data, "expected": want_data})
    if r.at < at:
        v.add("reset_wrong", {"what": "the day closed before the boundary", "ts": ts, "boundary": _iso(at)})
    for i, (seq, kind, _t, d) in enumerate(events):
        if kind == "ticket.expired" and not start <= i < k:
            v.add(
                "reset_wrong", {"what": "expired outside the reset", "seq": seq, "ticket": d["ticket"]["id"]}
            )
    for rec in queue_records:
        if rec["outcome"] == "expired" and (rec["ticket_id"] not in r.expired or rec["finished_at"] != ts):
            v.add("reset_wrong", {"what": "an expired record that the reset did not write", "record": rec})

    # each decision in its business day
    for i, (seq, kind, t_ts, d) in enumerate(events):
        t_at = epoch(t_ts)
        if i < start and t_at >= at + 0.001:
            # (Within the boundary's millisecond: the engine reads the clock for its tick and again for
            # the command, microseconds apart.)
            v.add(
                "ticket_in_wrong_day",
                {"what": "decided after the boundary on the old day", "seq": seq, "ts": t_ts},
            )
        elif i > k and t_at < at - clock_back_s:
            v.add(
                "ticket_in_wrong_day",
                {"what": "decided before the boundary on the new day", "seq": seq, "ts": t_ts},
            )
        if kind == "ticket.issued":
            tid = d["ticket"]["id"]
            if day_of(tid) != (r.day1 if i < start else r.day2):
                v.add("ticket_in_wrong_day", {"ticket": tid, "seq": seq, "reset_seq": r.seq})
        if i > k:
            about = _concerns(d)
            if about is not None and day_of(about) < r.day2:
                v.add("day1_ticket_after_reset", {"seq": seq, "type": kind, "ticket": about})
    for tid, (_d, st, _data) in table.items():
        if day_of(tid) < r.day2 and st in ("waiting", "called"):
            v.add("day1_ticket_after_reset", {"ticket": tid, "status": st, "what": "still open"})
    return r


def classify_refusal(
    cfg: SiteConfig,
    r: dict[str, Any],
    decided: dict[tuple[str, str], str],
    reset: Reset,
    clock_back_s: float = 0.0,
) -> str | None:
    """Why the boundary makes a refusal legitimate, or None when nothing does.

    Only a command decided on the new day (``commands.ts``, the commit time of its batch, is at or
    after ``day.closed``) by a device acting on what it knew of the old day:

    - ``counter_closed`` when the reply the counter acted on was decided on the old day and the reset
      closed that counter;
    - ``no_current_ticket`` when the ticket the counter was serving is one the reset ended;
    - ``call`` ``not_found`` when the number called back was skipped on the old day;
    - ``rate`` ``nothing_to_rate`` when the visit rated was of the old day (the reset forgets it).
    """
    if reset.at is None or (r["op"], r["code"]) not in BOUNDARY_REFUSALS:
        return None
    ts = decided.get((r["device"], r["id"]))
    if ts is None or epoch(ts) < reset.at - clock_back_s:
        return None
    code = r["code"]
    if code == "counter_closed":
        view = r.get("view")
        view_ts = decided.get((r["device"], view)) if view else None
        counter = cfg.device(r["device"]).counter
        if view_ts is not None and epoch(view_ts) <= reset.at and counter in reset.closed:
            return "the reset closed the counter"
        return None
    if code == "no_current_ticket":
        return "the reset ended the ticket" if r.get("serving") in reset.done else None
    ticket = r.get("ticket")
    if ticket and day_of(ticket) == reset.day1:
        return "a visit of the old day"
    return None


Event = tuple[int, str, str, dict[str, Any]]


def check_failed_commands(
    v: Violations,
    failed: list[dict[str, Any]],
    events: list[Event],
    *,
    hub_events: list[Event] | None = None,
    records: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, int]:
    """No command that a device reported to its user as failed (no answer in time, ``expired``,
    ``unavailable``, ``rate_limited``) took effect: no event names it as its cause
    (``data.command``), in the controller's log or the hub's copy, and no record of the back end
    comes from such an event. Every ``ticket.issued`` and ``rating.recorded`` names its command
    (only a command issues a ticket or records a rating). Returns figures."""
    bad = {(f["device"], f["id"]) for f in failed}
    cause: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (ticket, outcome) -> commands
    named = 0
    for where, log in (("controller", events), ("hub", hub_events or [])):
        for seq, kind, _ts, data in log:
            by = data.get("command")
            if not isinstance(by, dict):
                if where == "controller" and kind in ("ticket.issued", "rating.recorded"):
                    v.add("event_without_command", {"seq": seq, "type": kind, "ticket": _concerns(data)})
                continue
            key = (str(by.get("device")), str(by.get("id")))
            if where == "controller":
                named += 1
                about = _concerns(data)
                if about is not None and (kind in ENDINGS or kind == "rating.recorded"):
                    outcome = "rating" if kind == "rating.recorded" else kind.split(".")[1]
                    cause.setdefault((about, outcome), []).append(key)
            if key in bad:
                v.add(
                    "failed_command_took_effect",
                    {"where": where, "seq": seq, "type": kind, "command": by, "ticket": _concerns(data)},
                )
    for stream, recs in (records or {}).items():
        for rec in recs:
            outcome = "rating" if stream == "ratings" else str(rec.get("outcome"))
            for key in cause.get((rec["ticket_id"], outcome), []):
                if key in bad:
                    v.add(
                        "failed_command_took_effect",
                        {"where": "backend", "stream": stream, "ticket": rec["ticket_id"], "command": key},
                    )
    return {"reported_failed": len(bad), "events_naming_their_command": named}


def check_ticket_ids(v: Violations, events: list[Event], queue_records: list[dict[str, Any]]) -> None:
    """No ticket id issued twice over the whole run (whatever the clock did), and in the back end no
    two records of one outcome share a ticket id (a ticket can be skipped, called back and skipped
    again; it is served or expired once), nor is a ticket both served and expired."""
    ids = Counter(e[3]["ticket"]["id"] for e in events if e[1] == "ticket.issued")
    for tid, n in sorted(ids.items()):
        if n > 1:
            v.add("ticket_id_issued_twice", {"ticket": tid, "ticket.issued events": n})
    per = Counter((r["ticket_id"], r["outcome"]) for r in queue_records)
    outcomes: dict[str, set[str]] = {}
    for (tid, outcome), n in sorted(per.items()):
        outcomes.setdefault(tid, set()).add(outcome)
        if n > 1 and outcome != "skipped":
            v.add("ticket_id_issued_twice", {"ticket": tid, "backend_records": n, "outcome": outcome})
    for tid, outs in sorted(outcomes.items()):
        if {"done", "expired"} <= outs:
            v.add("ticket_id_issued_twice", {"ticket": tid, "backend_outcomes": sorted(outs)})


def check_days_forward(v: Violations, events: list[Event]) -> list[str]:
    """The business day never went back: the days of ``day.closed`` strictly increase, and no ticket
    is issued in a day before the newest one already numbered or in a day already closed. Returns
    the closed days."""
    closed: list[str] = []
    newest = ""
    for seq, kind, _ts, data in events:
        if kind == "day.closed":
            day = str(data.get("day", "")).replace("-", "")
            if closed and day <= closed[-1]:
                v.add("business_day_went_back", {"seq": seq, "closed": day, "after_closing": closed[-1]})
            closed.append(day)
        elif kind == "ticket.issued":
            day = day_of(data["ticket"]["id"])
            if day < newest:
                v.add("business_day_went_back", {"seq": seq, "ticket": data["ticket"]["id"], "after": newest})
            elif closed and day <= max(closed):
                v.add(
                    "business_day_went_back",
                    {"seq": seq, "ticket": data["ticket"]["id"], "closed": max(closed)},
                )
            newest = max(newest, day)
    return closed


def check_flood(
    v: Violations,
    flood: dict[str, Any],
    share: int,
    stored_replies: list[dict[str, Any]],
    *,
    taken: int | None = None,
) -> dict[str, Any]:
    """The flooding kiosk took at most ``share`` numbers; the other devices failed no more often
    while it flooded than just before it (``before``: as long as the flood; the rest of the day,
    ``calm``, when that saw too few commands), with 2 points of room; the controller did not store
    a row for each command it refused without looking (``UNSTORED_ERRORS``: ``stored_replies`` are
    the flooder's rows of the ``commands`` table). ``taken``: the tickets the controller issued to
    the flooder (by default those it was told of). Returns figures."""
    issued = len(flood.get("issued") or {}) if taken is None else taken
    if issued > share:
        v.add("flooder_over_share", {"device": flood.get("device"), "tickets": issued, "share": share})
    others = flood.get("others") or {}
    rates: dict[str, float] = {}
    for k in ("flood", "before", "calm"):
        n = (others.get(k) or {}).get("commands", 0)
        rates[k] = ((others.get(k) or {}).get("failed", 0) / n) if n else 0.0
    base = "before" if (others.get("before") or {}).get("commands", 0) >= 20 else "calm"
    if (others.get("flood") or {}).get("commands", 0) >= 20 and rates["flood"] > rates[base] + 0.02:
        v.add("others_starved_by_flood", {"failure_rate": rates, "baseline": base, "others": others})
    replies = flood.get("replies") or {}
    refused = sum(n for code, n in replies.items() if code in UNSTORED_ERRORS)
    stored = sum(1 for r in stored_replies if ((r.get("error") or {}).get("code")) in UNSTORED_ERRORS)
    if stored > max(10, refused // 100):
        v.add("refused_commands_stored", {"device": flood.get("device"), "refused": refused, "rows": stored})
    return {
        "device": flood.get("device"),
        "seconds": flood.get("windows_s"),
        "sent": flood.get("sent"),
        "replies": replies,
        "tickets_taken": issued,
        "share": share,
        "refused_rows_stored": stored,
        "others_failure_rate": {k: round(r, 4) for k, r in rates.items()},
        "others": flood.get("others"),
    }


def check_all(
    cfg: SiteConfig,
    *,
    controller_db: Path,
    hub_db: Path,
    backend_db: Path,
    devices: dict[str, Any],
    retained: dict[str, dict[str, Any]],
    backend_conflicts: int,
    boundary: dict[str, Any] | None = None,
    clock_back_s: float = 0.0,
    flood_share: int | None = None,
) -> tuple[Violations, dict[str, Any]]:
    """Run every check; return the violations and the day's figures.

    ``boundary`` (``{"epoch": unix time, "day1": "YYYYMMDD", "day2": "YYYYMMDD"}``) is the business-day
    boundary the day crossed; without it the day is checked as one business day. ``clock_back_s``:
    the controller's clock was stepped back this far after the boundary (its decisions of the new day
    may then be dated up to that much before it). ``flood_share``: the most tickets the flooding
    device (``devices["flood"]``) may take."""
    v = Violations(CHECKS)
    events = load_events(controller_db)
    with read_only(controller_db) as db:
        table = {
            r[0]: (r[1], r[2], json.loads(r[3]))
            for r in db.execute("SELECT id, day, status, data FROM tickets").fetchall()
        }
        decided = {(d, c): ts for d, c, ts in db.execute("SELECT device, id, ts FROM commands")}
        flood = devices.get("flood") or {}
        flood_rows = [
            json.loads(r[0])
            for r in db.execute("SELECT reply FROM commands WHERE device = ?", (flood.get("device") or "",))
        ]

    # -- the event log is gapless ------------------------------------------------------------
    last = 0
    for seq, *_ in events:
        if seq != last + 1:
            v.add("event_seq_gap", {"after": last, "next": seq})
        last = seq

    # -- no number twice in a business day ----------------------------------------------------
    issued_events = [e for e in events if e[1] == "ticket.issued"]
    per_number = Counter(
        (e[3]["ticket"]["id"].split("-")[0], e[3]["ticket"]["number"]) for e in issued_events
    )
    for (day, number), n in per_number.items():
        if n > 1:
            v.add("number_issued_twice", {"day": day, "number": number, "times": n})
    told: dict[str, dict[str, Any]] = {**devices["issued"], **(flood.get("issued") or {})}
    told_numbers = Counter((tid.split("-")[0], t["number"]) for tid, t in told.items())
    for (day, number), n in told_numbers.items():
        if n > 1:
            v.add("number_issued_twice", {"day": day, "number": number, "told_to_kiosks": n})

    # -- no ticket lost, none issued behind a kiosk's back -------------------------------------
    for tid, t in told.items():
        row = table.get(tid)
        if row is None:
            v.add("ticket_lost", {"ticket": tid, **t})
        elif row[2]["number"] != t["number"]:
            v.add("ticket_lost", {"ticket": tid, "told": t["number"], "stored": row[2]["number"]})
    for tid in table:
        if tid not in told:
            v.add(
                "ticket_not_answered", {"ticket": tid, "status": table[tid][1], "by": table[tid][2].get("by")}
            )

    # -- nobody called by two counters at once --------------------------------------------------
    serving_by_ticket: dict[str, str] = {}
    serving_at: dict[str, str] = {}
    for seq, kind, _ts, data in events:
        tk: dict[str, Any] | None = data["ticket"] if isinstance(data.get("ticket"), dict) else None
        if kind == "ticket.called" and tk is not None:
            tid, counter = tk["id"], tk["counter"]
            if data.get("recall"):
                if serving_at.get(counter) != tid:
                    v.add("called_by_two_counters", {"seq": seq, "recall_of": tid, "at": counter})
                continue
            elsewhere = serving_by_ticket.get(tid)
            if elsewhere is not None and elsewhere != counter:
                v.add(
                    "called_by_two_counters", {"seq": seq, "ticket": tid, "at": counter, "also_at": elsewhere}
                )
            current = serving_at.get(counter)
            if current is not None and current != tid:
                v.add("called_by_two_counters", {"seq": seq, "counter": counter, "serving": [current, tid]})
            serving_by_ticket[tid] = counter
            serving_at[counter] = tid
        elif kind in (*ENDINGS, "ticket.transferred") and tk is not None:
            counter = serving_by_ticket.pop(tk["id"], None)
            if counter is not None and serving_at.get(counter) == tk["id"]:
                del serving_at[counter]

    # -- every ended ticket and every rating forwarded exactly once ---------------------------
    ended = Counter((e[3]["ticket"]["id"], e[1].split(".")[1]) for e in events if e[1] in ENDINGS)
    rated = Counter(e[3]["rating"]["ticket"] for e in events if e[1] == "rating.recorded")
    with read_only(backend_db) as db:
        rows = db.execute("SELECT key, stream, record FROM records ORDER BY n").fetchall()
        batches = db.execute("SELECT stream, COUNT(*), SUM(count), SUM(repeats) FROM batches GROUP BY stream")
        batch_figures = {s: {"batches": b, "records": r, "repeats": rep} for s, b, r, rep in batches}
    recs = {"queue-records": [], "ratings": []}  # type: dict[str, list[dict[str, Any]]]
    whole: Counter[str] = Counter()
    for key, stream, record in rows:
        rec = json.loads(record)
        recs[stream].append(rec)
        canonical = stream + json.dumps(rec, sort_keys=True, ensure_ascii=False)
        whole[canonical] += 1
        if whole[canonical] == 2:
            v.add("record_forwarded_twice", {"stream": stream, "key": key, "record": rec})
    got_q = Counter((r["ticket_id"], r["outcome"]) for r in recs["queue-records"])
    for (tid, outcome), n in (ended - got_q).items():
        v.add("queue_record_missing", {"ticket": tid, "outcome": outcome, "missing": n})
    for (tid, outcome), n in (got_q - ended).items():
        v.add("queue_record_extra", {"ticket": tid, "outcome": outcome, "extra": n})
    got_r = Counter(r["ticket_id"] for r in recs["ratings"])
    for tid, n in (rated - got_r).items():
        v.add("rating_missing", {"ticket": tid, "missing": n})
    for tid, n in (got_r - rated).items():
        v.add("rating_extra", {"ticket": tid, "extra": n})
    for tid, n in rated.items():
        if n > 1:
            v.add("rating_extra", {"ticket": tid, "rated_times": n})
    for _ in range(backend_conflicts):
        v.add("backend_key_conflict", "a key came again with different records (see backend.log)")
    told_ratings = Counter(devices["ratings"].values())
    if told_ratings != rated:
        for tid in set(told_ratings) ^ set(rated):
            v.add("rating_not_as_told", {"ticket": tid, "told": told_ratings[tid], "recorded": rated[tid]})

    # -- the hub's event table equals the controller's -----------------------------------------
    hub_events = load_events(hub_db)
    if len(hub_events) != len(events):
        v.add("hub_events_differ", {"controller": len(events), "hub": len(hub_events)})
    for a, b in zip(events, hub_events, strict=False):
        if a != b:
            v.add("hub_events_differ", {"seq": a[0], "controller": a[:3], "hub": b[:3]})

    # -- displays: retained states equal the controller's state --------------------------------
    eng = engine_from_db(cfg, controller_db)
    topics = Topics(cfg.site.id)
    want: dict[str, dict[str, Any]] = {topics.board: eng.board_state()}
    for c in cfg.counters:
        want[topics.counter_state(c.id)] = eng.counter_state(c.id)
    for s in cfg.services:
        want[topics.service_state(s.id)] = eng.service_state(s.id)
    for topic, state in want.items():
        shown = retained.get(topic)
        if shown is None:
            v.add("display_differs", {"topic": topic, "retained": None})
            continue
        shown = dict(shown)
        seq = shown.pop("seq", None)
        expected = json.loads(json.dumps(state))
        # A wait estimate depends on the moment it is made (the pace of recent calls, breaks ahead):
        # the one retained was made when it was published, the controller's here is made now. They
        # are compared by shape only; everything else must be equal.
        for bad in estimate_faults(shown):
            v.add("display_differs", {"topic": topic, "estimate": bad, "retained": {**shown, "seq": seq}})
        shown, expected = without_estimates(shown), without_estimates(expected)
        if shown != expected or not isinstance(seq, int) or seq > last:
            # The differing keys first: a failure message is cut after a few thousand characters.
            keys = sorted(k for k in set(shown) | set(expected) if shown.get(k) != expected.get(k))
            v.add("display_differs", {"topic": topic, "keys": keys, "seq": seq, "last_seq": last,
                                      "retained": {**shown, "seq": seq}, "controller": state})  # fmt: skip

    # -- every ticket's stored status is the one its last event says -----------------------------
    last_status: dict[str, tuple[int, str]] = {}
    for seq, _kind, _ts, data in events:
        tk = data.get("ticket")
        if isinstance(tk, dict):
            last_status[tk["id"]] = (seq, tk["status"])
    for tid, (_day, status, _data) in table.items():
        if tid in last_status and last_status[tid][1] != status:
            v.add(
                "final_status_differs",
                {"ticket": tid, "stored": status, "last_event": last_status[tid]},
            )
    with read_only(hub_db) as db:
        hub_tickets = dict(db.execute("SELECT id, status FROM tickets").fetchall())
    for tid in set(hub_tickets) | set(table):
        if hub_tickets.get(tid) != (table[tid][1] if tid in table else None):
            v.add(
                "hub_tickets_differ",
                {"ticket": tid, "hub": hub_tickets.get(tid), "controller": table.get(tid, (0, None))[1]},
            )

    # -- the business-day boundary ---------------------------------------------------------------
    reset = check_reset(v, cfg, events, table, recs["queue-records"], boundary, clock_back_s)

    # -- devices that gave up, ticket ids, the business day, the flood ---------------------------
    failed_figures = check_failed_commands(
        v, devices.get("failed") or [], events, hub_events=hub_events, records=recs
    )
    check_ticket_ids(v, events, recs["queue-records"])
    closed_days = check_days_forward(v, events)
    flood_figures = None
    if flood_share is not None:
        taken = sum(1 for row in table.values() if row[2].get("by") == flood.get("device"))
        flood_figures = check_flood(v, flood, flood_share, flood_rows, taken=taken)

    # -- what the devices were told -------------------------------------------------------------
    for r in devices["reply_changed"]:
        v.add("reply_changed", r)
    for m in devices["view_mismatch"]:
        v.add("device_view_differs", m)
    for tid, status in devices["final_status"].items():
        stored = table.get(tid)
        if stored is None:
            continue
        if status == "ended_unseen":  # a counter lost it to the reset: it must have ended it, served
            if stored[1] != "done" or tid not in reset.done:
                v.add("device_view_differs", {"ticket": tid, "device_saw": status, "stored": stored[1]})
        elif stored[1] != status:
            v.add("device_view_differs", {"ticket": tid, "device_saw": status, "stored": stored[1]})
    for c in devices.get("boundary_calls", []):
        if not (day_of(c["wanted"]) == reset.day1 and day_of(c["got"]) == reset.day2):
            v.add("device_view_differs", {"what": "call returned another ticket", **c})
    legit: Counter[str] = Counter()
    for r in devices["refusals"]:
        if r["code"] in USER_FAILURES:  # shown as a failure; checked above never to take effect
            legit[f"{r['op']}:{r['code']}"] += 1
            continue
        why = classify_refusal(cfg, r, decided, reset, clock_back_s)
        if why is None:
            v.add("unexpected_refusal", r)
        else:
            legit[f"{r['op']}:{r['code']}"] += 1

    statuses = Counter(row[1] for row in table.values())
    kinds = Counter(e[1] for e in events)
    recalls = sum(1 for e in events if e[1] == "ticket.called" and e[3].get("recall"))
    callbacks, seen_status = 0, {}  # type: int, dict[str, str]
    for _seq, kind, _ts, data in events:
        tk = data.get("ticket") if isinstance(data.get("ticket"), dict) else None
        if tk is None or kind == "rating.recorded":
            continue
        if kind == "ticket.called" and not data.get("recall") and seen_status.get(tk["id"]) == "skipped":
            callbacks += 1
        seen_status[tk["id"]] = tk["status"]
    figures = {
        "tickets": {
            "issued": len(table),
            "served": statuses["done"],
            "skipped": statuses["skipped"],
            "expired": statuses["expired"],
            "left_waiting_or_called": statuses["waiting"] + statuses["called"],
            "priority": sum(1 for row in table.values() if row[2].get("priority")),
            "transferred": kinds["ticket.transferred"],
            "recalled": recalls,
            "called_back_after_skip": callbacks,
        },
        "ratings": sum(rated.values()),
        "events": len(events),
        "events_by_type": dict(sorted(kinds.items())),
        "records_forwarded": {
            "queue-records": len(recs["queue-records"]),
            "ratings": len(recs["ratings"]),
            "batches": batch_figures,
        },
        "queue_endings": {k.split(".")[1]: kinds[k] for k in ENDINGS},
    }
    figures["failed_commands"] = {
        **failed_figures,
        "by_reason": dict(Counter(f["why"] for f in devices.get("failed") or [])),
        "refusals_shown_as_failures": {
            k: n for k, n in sorted(legit.items()) if k.split(":")[1] in USER_FAILURES
        },
    }
    figures["days_closed"] = closed_days
    if flood_figures is not None:
        figures["flood"] = flood_figures
    if boundary is not None:
        figures["boundary"] = reset.figures(table, legit, devices)
    return v, figures
