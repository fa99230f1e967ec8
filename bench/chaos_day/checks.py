"""The checks after a chaos day: the databases (opened read-only), the back end's records, the
retained display states and what the simulated devices were told must all tell the same story."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from onestop.clock import SystemClock
from onestop.config import SiteConfig
from onestop.protocol import Topics
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
]


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


def check_all(
    cfg: SiteConfig,
    *,
    controller_db: Path,
    hub_db: Path,
    backend_db: Path,
    devices: dict[str, Any],
    retained: dict[str, dict[str, Any]],
    backend_conflicts: int,
) -> tuple[Violations, dict[str, Any]]:
    """Run every check; return the violations and the day's figures."""
    v = Violations(CHECKS)
    events = load_events(controller_db)
    with read_only(controller_db) as db:
        table = {
            r[0]: (r[1], r[2], json.loads(r[3]))
            for r in db.execute("SELECT id, day, status, data FROM tickets").fetchall()
        }

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
    told: dict[str, dict[str, Any]] = devices["issued"]
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
        if shown != json.loads(json.dumps(state)) or not isinstance(seq, int) or seq > last:
            v.add("display_differs", {"topic": topic, "retained": {**shown, "seq": seq}, "controller": state})

    # -- what the devices were told -------------------------------------------------------------
    for r in devices["reply_changed"]:
        v.add("reply_changed", r)
    for m in devices["view_mismatch"]:
        v.add("device_view_differs", m)
    for tid, status in devices["final_status"].items():
        stored = table.get(tid)
        if stored is not None and stored[1] != status:
            v.add("device_view_differs", {"ticket": tid, "device_saw": status, "stored": stored[1]})
    for r in devices["refusals"]:
        v.add("unexpected_refusal", r)

    statuses = Counter(row[1] for row in table.values())
    kinds = Counter(e[1] for e in events)
    recalls = sum(1 for e in events if e[1] == "ticket.called" and e[3].get("recall"))
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
            "called_back_after_skip": kinds["ticket.called"]
            - recalls
            - len(table)
            - kinds["ticket.transferred"],
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
    return v, figures
