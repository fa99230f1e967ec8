"""The chaos day's checks of devices that give up, ticket ids, the business day and the flood, on
hand-made data: each finds nothing in a right log and finds the mistake planted in a copy of it."""

from __future__ import annotations

import copy
from typing import Any

from bench.chaos_day.checks import (
    Violations,
    check_days_forward,
    check_failed_commands,
    check_flood,
    check_ticket_ids,
)

Event = tuple[int, str, str, dict[str, Any]]
TS = "2026-12-03T09:00:00.000+07:00"


def ticket(tid: str, status: str, counter: str | None = None) -> dict[str, Any]:
    number = "A" + tid.rsplit("-", 1)[1][1:]
    return {"id": tid, "number": number, "service": "tuphap", "status": status, "counter": counter}


def by(device: str, cid: str) -> dict[str, str]:
    return {"device": device, "id": cid}


def log() -> list[Event]:
    """Two tickets issued, one called and served, one expired by the daily reset (a tick: no
    command), a rating; then a ticket of the next day."""
    a, b, c = "20261202-A00001", "20261202-A00002", "20261203-A00001"
    return [
        (1, "ticket.issued", TS, {"ticket": ticket(a, "waiting"), "command": by("kiosk-1", "k1")}),
        (2, "ticket.issued", TS, {"ticket": ticket(b, "waiting"), "command": by("kiosk-1", "k2")}),
        (3, "ticket.called", TS, {"ticket": ticket(a, "called", "1"), "command": by("counter-1", "c1")}),
        (4, "ticket.done", TS, {"ticket": ticket(a, "done", "1"), "command": by("counter-1", "c2")}),
        (5, "rating.recorded", TS, {"rating": {"ticket": a, "score": 1}, "command": by("rate-1", "r1")}),
        (6, "ticket.expired", TS, {"ticket": ticket(b, "expired")}),
        (7, "day.closed", TS, {"day": "2026-12-02", "issued": 2, "expired": 1}),
        (8, "ticket.issued", TS, {"ticket": ticket(c, "waiting"), "command": by("kiosk-2", "k3")}),
    ]


RECORDS = {
    "queue-records": [
        {"ticket_id": "20261202-A00001", "outcome": "done"},
        {"ticket_id": "20261202-A00002", "outcome": "expired"},
    ],
    "ratings": [{"ticket_id": "20261202-A00001"}],
}
#: What the devices reported as failed: commands that never reached the controller, or were refused.
FAILED = [
    {"device": "counter-1", "id": "c9", "op": "call_next", "why": "no_reply"},
    {"device": "kiosk-1", "id": "k9", "op": "issue", "why": "expired"},
]


def counts(v: Violations) -> dict[str, int]:
    return {k: n for k, n in v.counts.items() if n}


def test_failed_commands_without_effect_pass() -> None:
    v = Violations([])
    figures = check_failed_commands(v, FAILED, log(), hub_events=log(), records=RECORDS)
    assert counts(v) == {}
    assert figures == {"reported_failed": 2, "events_naming_their_command": 6}


def test_a_finish_the_counter_reported_as_failed_is_found_everywhere() -> None:
    # The clerk's "finish" c2 was reported as failed, yet ticket A00001 was ended by it: in the
    # controller's log, in the hub's copy, and as the back end's "done" record.
    failed = [*FAILED, {"device": "counter-1", "id": "c2", "op": "finish", "why": "no_reply"}]
    v = Violations([])
    check_failed_commands(v, failed, log(), hub_events=log(), records=RECORDS)
    assert counts(v) == {"failed_command_took_effect": 3}
    assert sorted(e["where"] for e in v.examples["failed_command_took_effect"]) == [
        "backend",
        "controller",
        "hub",
    ]


def test_a_call_and_a_rating_reported_as_failed_are_found() -> None:
    failed = [
        {"device": "counter-1", "id": "c1", "op": "call_next", "why": "no_reply"},
        {"device": "rate-1", "id": "r1", "op": "rate", "why": "expired"},
    ]
    v = Violations([])
    check_failed_commands(v, failed, log(), records=RECORDS)
    # the call (its event), the rating (its event and the back end's rating record)
    assert counts(v) == {"failed_command_took_effect": 3}


def test_an_issue_without_its_command_is_found() -> None:
    events = copy.deepcopy(log())
    del events[1][3]["command"]
    v = Violations([])
    check_failed_commands(v, [], events)
    assert counts(v) == {"event_without_command": 1}


def test_unique_ticket_ids_pass() -> None:
    v = Violations([])
    skipped_twice = [*RECORDS["queue-records"], *[{"ticket_id": "20261202-A00003", "outcome": "skipped"}] * 2]
    check_ticket_ids(v, log(), skipped_twice)
    assert counts(v) == {}


def test_a_ticket_id_issued_twice_is_found_in_the_log_and_the_back_end() -> None:
    events = log()
    # The clock went back across day_starts and the reopened day numbered A00001 again.
    events.append((9, "ticket.issued", TS, {"ticket": ticket("20261202-A00001", "waiting")}))
    records = [
        *RECORDS["queue-records"],
        {"ticket_id": "20261202-A00002", "outcome": "expired"},
        {"ticket_id": "20261202-A00001", "outcome": "expired"},
    ]
    v = Violations([])
    check_ticket_ids(v, events, records)
    # the event, two "expired" records of A00002, A00001 both done and expired
    assert counts(v) == {"ticket_id_issued_twice": 3}


def test_days_that_move_forward_pass() -> None:
    v = Violations([])
    assert check_days_forward(v, log()) == ["20261202"]
    assert counts(v) == {}


def test_a_reopened_day_is_found() -> None:
    events = log()
    events += [
        (9, "ticket.issued", TS, {"ticket": ticket("20261202-A00003", "waiting")}),  # a closed day
        (10, "day.closed", TS, {"day": "2026-12-02", "issued": 3, "expired": 0}),  # closed again
    ]
    v = Violations([])
    check_days_forward(v, events)
    assert counts(v) == {"business_day_went_back": 2}


def test_a_day_that_goes_back_without_closing_is_found() -> None:
    events = log()[:2]
    events.insert(1, (9, "ticket.issued", TS, {"ticket": ticket("20261203-A00001", "waiting")}))
    v = Violations([])
    check_days_forward(v, events)
    assert counts(v) == {"business_day_went_back": 1}


def flood(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "device": "kiosk-flood",
        "windows_s": [4.0],
        "issued": {f"20261203-A{i:05d}": {} for i in range(1, 41)},
        "sent": {"issue": 3000, "call_next": 3000},
        "replies": {"ok": 40, "rate_limited": 2960, "forbidden": 3000},
        "others": {
            "flood": {"commands": 400, "failed": 2},
            "before": {"commands": 300, "failed": 0},
            "calm": {"commands": 4000, "failed": 30},
        },
    }
    doc.update(kw)
    return doc


STORED = [{"id": "x", "ok": True, "result": {}}] * 40


def test_a_fair_flood_passes() -> None:
    v = Violations([])
    figures = check_flood(v, flood(), 70, STORED)
    assert counts(v) == {}
    assert figures["tickets_taken"] == 40 and figures["refused_rows_stored"] == 0


def test_a_flooder_over_its_share_is_found() -> None:
    v = Violations([])
    check_flood(v, flood(), 39, STORED)
    assert counts(v) == {"flooder_over_share": 1}


def test_others_starved_by_the_flood_are_found() -> None:
    # 3 % of the others' commands failed during the flood, none just before it: found, although the
    # rest of the day (a stall, kills) failed 2 % of them.
    others = {
        "flood": {"commands": 400, "failed": 12},
        "before": {"commands": 300, "failed": 0},
        "calm": {"commands": 4000, "failed": 80},
    }
    v = Violations([])
    check_flood(v, flood(others=others), 70, STORED)
    assert counts(v) == {"others_starved_by_flood": 1}
    assert v.examples["others_starved_by_flood"][0]["baseline"] == "before"


def test_a_row_per_refused_command_is_found() -> None:
    refused = [{"id": f"f{i}", "ok": False, "error": {"code": "forbidden"}} for i in range(3000)]
    v = Violations([])
    check_flood(v, flood(), 70, STORED + refused)
    assert counts(v) == {"refused_commands_stored": 1}


def test_tickets_the_flooder_was_never_told_of_count_towards_its_share() -> None:
    # The devices saw 40 tickets, the controller's table holds 75 issued to the flooder.
    v = Violations([])
    check_flood(v, flood(), 70, STORED, taken=75)
    assert counts(v) == {"flooder_over_share": 1}
    assert v.examples["flooder_over_share"][0]["tickets"] == 75
