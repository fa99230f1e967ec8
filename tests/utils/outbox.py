"""Outbox rows made the real way (``HubStore.apply`` of synthetic controller events), and checks of
what a back end received against them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from hub_api.store import STREAMS, HubStore
from onestop.fake_backend import FakeBackend

DAY = "20250102"
TS = "2025-01-02T08:00:00+07:00"


def _ticket(seq: int) -> dict[str, Any]:
    number = f"A{seq:06d}"
    return {
        "id": f"{DAY}-{number}",
        "number": number,
        "service": "tuphap",
        "priority": seq % 7 == 0,
        "status": "done",
        "counter": "1",
        "officer": "cb001",
        "issued_at": "2025-01-02T08:00:00+07:00",
        "first_called_at": "2025-01-02T08:05:00+07:00",
        "called_at": "2025-01-02T08:05:00+07:00",
        "finished_at": "2025-01-02T08:09:30+07:00",
    }


def done_event(seq: int) -> dict[str, Any]:
    """``ticket.done`` of a ticket of its own: one ``queue-records`` outbox row."""
    return {"seq": seq, "type": "ticket.done", "ts": TS, "data": {"ticket": _ticket(seq)}}


def rating_event(seq: int) -> dict[str, Any]:
    """``rating.recorded``: one ``ratings`` outbox row."""
    t = _ticket(seq)
    rating = {
        "ticket": t["id"],
        "number": t["number"],
        "service": "tuphap",
        "counter": "1",
        "officer": "cb001",
        "officer_name": "Nguyễn Thị Lan",
        "score": 1 + seq % 3,
        "level": ["Không hài lòng", "Hài lòng", "Rất hài lòng"][seq % 3],
        "satisfied": seq % 3 > 0,
        "reasons": ["Chờ lâu"] if seq % 3 == 0 else [],
        "comment": f"góp ý {seq}",
        "rated_at": TS,
    }
    return {"seq": seq, "type": "rating.recorded", "ts": TS, "data": {"rating": rating, "ticket": t}}


def fill_outbox(db: Path, queue: int = 0, ratings: int = 0, *, chunk: int = 5000) -> None:
    """Append ``queue`` queue records and ``ratings`` ratings (interleaved) through ``HubStore.apply``."""
    store = HubStore(db)
    try:
        seq = store.last_seq
        total = queue + ratings
        # spread the ratings among the queue records, so the streams' ids mix in the one outbox table
        r_at = {k * total // ratings for k in range(ratings)} if ratings else set()
        events: list[dict[str, Any]] = []
        for i in range(total):
            seq += 1
            events.append(rating_event(seq) if i in r_at else done_event(seq))
            if len(events) >= chunk:
                store.apply(events)
                events = []
        if events:
            store.apply(events)
    finally:
        store.close()


def outbox(db: Path, stream: str) -> list[tuple[int, dict[str, Any]]]:
    """The stream's outbox rows in id order: (id, record)."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT id, record FROM outbox WHERE stream = ? ORDER BY id", (stream,)).fetchall()
    finally:
        con.close()
    return [(i, json.loads(r)) for i, r in rows]


def forwarder_row(db: Path, stream: str) -> dict[str, Any]:
    """The stream's row of the forwarder's table."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        row = con.execute("SELECT * FROM forwarder WHERE stream = ?", (stream,)).fetchone()
    finally:
        con.close()
    return dict(row)


def assert_exactly_once_in_order(backend: FakeBackend, db: Path, site: str = "t-site") -> None:
    """Every outbox record arrived once, in id order, in batches whose keys name their ids."""
    assert backend.conflicts == 0, "a key came again with different records"
    for stream in STREAMS:
        rows = outbox(db, stream)
        got = backend.records(stream)
        assert [g["record"] for g in got] == [r for _, r in rows], stream
        ids = iter(i for i, _ in rows)
        for b in backend.batches(stream):
            assert b["key"] == f"{site}:{stream}:{b['first']}-{b['last']}"
            members = [next(ids) for _ in range(b["count"])]
            assert (members[0], members[-1]) == (b["first"], b["last"]), b
        assert next(ids, None) is None, f"{stream}: records never acknowledged"
