"""Booked tickets and result pickups in the engine: each rule, asserted on outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from onestop import config
from onestop.clock import ManualClock
from onestop.errors import ConfigError
from queue_controller.engine import Engine
from queue_controller.store import Pending, Store
from tests.unit.sites import BASE, MONDAY_8AM, site

BOOKINGS = {
    "enabled": True,
    "before_min": 15,
    "after_min": 10,
    "early": "wait",
    "late": "walk_in",
    "max_in_row": 2,
}


def booking_site(**rules: Any) -> config.SiteConfig:
    return site(bookings={**BOOKINGS, **rules}, dossiers={"service": "datdai"})


def slot(start: datetime, code: str = "DL24120400017", minutes: int = 15) -> dict[str, str]:
    return {
        "code": code,
        "slot_start": start.isoformat(),
        "slot_end": (start + timedelta(minutes=minutes)).isoformat(),
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_8AM)


@pytest.fixture
def eng(clock: ManualClock) -> Engine:
    return Engine(booking_site(), clock)


def issue(eng: Engine, **args: Any) -> dict[str, Any]:
    d = eng.handle("kiosk-1", "issue", {"service": "tuphap", **args})
    assert d.error is None, f"{d.error.code}: {d.error.message}"
    assert d.result is not None
    return d.result


def refused(eng: Engine, **args: Any) -> str:
    before = (eng.services["tuphap"].issued, set(eng.booking_codes))
    d = eng.handle("kiosk-1", "issue", {"service": "tuphap", **args})
    assert d.error is not None, d.result
    assert not d.events and not d.tickets
    assert (eng.services["tuphap"].issued, set(eng.booking_codes)) == before
    return d.error.code


def call_next(eng: Engine, counter: str = "1") -> str | None:
    d = eng.handle(f"counter-{counter}", "call_next", {})
    assert d.error is None and d.result is not None
    t = d.result["ticket"]
    return t["number"] if t else None


def open_counter(eng: Engine, counter: str = "1") -> None:
    assert eng.handle(f"counter-{counter}", "open", {}).error is None


# -- the window ---------------------------------------------------------------------------------
def test_on_time_booking_is_booked_and_says_so(eng: Engine) -> None:
    r = issue(eng, booking=slot(MONDAY_8AM + timedelta(minutes=10)))
    assert r["booking_status"] == "on_time"
    b = r["ticket"]["booking"]
    assert b["code"] == "DL24120400017" and b["status"] == "on_time" and b["line"] == "booked"
    assert b["due_at"] == (MONDAY_8AM - timedelta(minutes=5)).isoformat(timespec="milliseconds")
    assert r["ticket"]["dossier"] is None
    assert r["ticket"]["number"] == "A001"  # numbering = "service" (the default)


@pytest.mark.parametrize(
    ("minutes", "status"),
    [(15, "on_time"), (16, "early"), (-10, "on_time"), (-11, "late")],
)
def test_window_edges(eng: Engine, minutes: int, status: str) -> None:
    r = issue(eng, booking=slot(MONDAY_8AM + timedelta(minutes=minutes)))
    assert r["booking_status"] == status


def test_a_slot_without_offset_is_site_time(eng: Engine) -> None:
    r = issue(
        eng,
        booking={"code": "DL24120400017", "slot_start": "2026-11-23T08:05", "slot_end": "2026-11-23T08:20"},
    )
    assert r["booking_status"] == "on_time"
    assert r["ticket"]["booking"]["slot_start"] == "2026-11-23T08:05:00.000+07:00"


def test_early_wait_is_not_called_before_its_window(eng: Engine, clock: ManualClock) -> None:
    r = issue(eng, booking=slot(MONDAY_8AM + timedelta(minutes=60)))
    assert r["booking_status"] == "early" and r["ticket"]["booking"]["line"] == "booked"
    assert r["est_wait_s"] >= 45 * 60  # at least until its window opens
    open_counter(eng)
    assert call_next(eng) is None
    clock.advance(45 * 60 - 1)
    assert call_next(eng) is None
    clock.advance(1)
    assert call_next(eng) == "A001"


def test_early_walk_in_gets_a_normal_ticket(clock: ManualClock) -> None:
    eng = Engine(booking_site(early="walk_in"), clock)
    issue(eng)
    r = issue(eng, booking=slot(MONDAY_8AM + timedelta(minutes=60)))
    assert r["booking_status"] == "early" and r["ticket"]["booking"]["line"] == "walk_in"
    assert r["ahead"] == 1
    open_counter(eng)
    assert [call_next(eng), call_next(eng)] == ["A001", "A002"]


def test_early_refuse_says_when_to_come_back(clock: ManualClock) -> None:
    eng = Engine(booking_site(early="refuse"), clock)
    d = eng.handle(
        "kiosk-1", "issue", {"service": "tuphap", "booking": slot(MONDAY_8AM + timedelta(minutes=60))}
    )
    assert d.error is not None and d.error.code == "booking_early"
    assert "08:45" in d.error.message
    # Refused: the code is still unused, the citizen comes back in the window and gets a ticket.
    clock.advance(45 * 60)
    assert issue(eng, booking=slot(MONDAY_8AM + timedelta(minutes=60)))["booking_status"] == "on_time"


def test_late_walk_in_and_late_refuse(clock: ManualClock) -> None:
    eng = Engine(booking_site(), clock)
    r = issue(eng, booking=slot(MONDAY_8AM - timedelta(minutes=30)))
    assert r["booking_status"] == "late" and r["ticket"]["booking"]["line"] == "walk_in"
    open_counter(eng)
    assert call_next(eng) == "A001"
    assert eng.calls[0]["booked"] is False  # called as the walk-in it is: no mark on the board
    issue(eng, booking=slot(MONDAY_8AM, "DL99999999"))
    assert call_next(eng) == "A002" and eng.calls[0]["booked"] is True
    eng = Engine(booking_site(late="refuse"), clock)
    assert refused(eng, booking=slot(MONDAY_8AM - timedelta(minutes=30))) == "booking_late"


def test_a_code_is_used_once_a_day(eng: Engine, clock: ManualClock) -> None:
    issue(eng, booking=slot(MONDAY_8AM))
    assert refused(eng, booking=slot(MONDAY_8AM)) == "booking_used"
    # Typed differently (lowercase, spaces, dashes): the same code.
    assert refused(eng, booking=slot(MONDAY_8AM, code="dl-2412 0400017")) == "booking_used"
    # Another business day: the code's day is gone with it.
    clock.advance(24 * 3600)
    eng.tick()
    assert issue(eng, booking=slot(MONDAY_8AM + timedelta(days=1)))["booking_status"] == "on_time"


def test_a_booking_for_another_day_is_refused(eng: Engine) -> None:
    assert refused(eng, booking=slot(MONDAY_8AM + timedelta(days=1))) == "booking_not_today"


@pytest.mark.parametrize(
    "bad",
    [
        "not an object",
        {
            "code": "DL1",
            "slot_start": MONDAY_8AM.isoformat(),
            "slot_end": (MONDAY_8AM + timedelta(minutes=15)).isoformat(),
        },
        {"code": "DL24120400017", "slot_start": MONDAY_8AM.isoformat(), "slot_end": MONDAY_8AM.isoformat()},
        {"code": "DL24120400017", "slot_start": "yesterday", "slot_end": "today"},
        {"code": "DL24120400017", "slot_start": MONDAY_8AM.isoformat()},
        {**slot(MONDAY_8AM), "name": "Nguyễn Văn A"},
        {**slot(MONDAY_8AM), "code": "DL" + "9" * 40},
        {**slot(MONDAY_8AM), "code": "DL<script>"},
        {
            "code": "DL12345678",
            "slot_start": "0001-01-01T00:00:00+14:00",
            "slot_end": "0001-01-01T00:10:00+14:00",
        },
        {
            "code": "DL12345678",
            "slot_start": "9999-12-31T20:00:00+00:00",
            "slot_end": "9999-12-31T21:00:00+00:00",
        },
        {"code": "DL12345678", "slot_start": MONDAY_8AM.isoformat(), "slot_end": "9999-12-31T21:00:00+00:00"},
    ],
)
def test_bad_bookings_are_bad_requests(eng: Engine, bad: Any) -> None:
    assert refused(eng, booking=bad) == "bad_request"


def test_bookings_off_refuses_a_booking(clock: ManualClock) -> None:
    eng = Engine(site(), clock)
    assert refused(eng, booking=slot(MONDAY_8AM)) == "bad_request"


def test_daily_limit_counts_booked_tickets(clock: ManualClock) -> None:
    eng = Engine(booking_site(), clock)  # dkkd has daily_limit 3
    for i in range(2):
        assert eng.handle(
            "kiosk-1", "issue", {"service": "dkkd", "booking": slot(MONDAY_8AM, f"DL0000000{i}")}
        ).ok
    assert eng.handle("kiosk-1", "issue", {"service": "dkkd"}).ok
    d = eng.handle("kiosk-1", "issue", {"service": "dkkd", "booking": slot(MONDAY_8AM, "DL00000009")})
    assert d.error is not None and d.error.code == "daily_limit"
    assert "DL00000009" not in eng.booking_codes


# -- calling order ------------------------------------------------------------------------------
def test_due_booked_go_before_walk_ins_but_at_most_max_in_row(eng: Engine) -> None:
    for _ in range(3):
        issue(eng)  # A001..A003 walk-ins
    for i in range(4):
        issue(eng, booking=slot(MONDAY_8AM, f"DL1000000{i}"))  # A004..A007 booked, due now
    open_counter(eng)
    order = [call_next(eng) for _ in range(7)]
    assert order == ["A004", "A005", "A001", "A006", "A007", "A002", "A003"]


def test_booked_alone_are_called_in_a_row(eng: Engine) -> None:
    for i in range(4):
        issue(eng, booking=slot(MONDAY_8AM, f"DL1000000{i}"))
    open_counter(eng)
    assert [call_next(eng) for _ in range(4)] == ["A001", "A002", "A003", "A004"]


def test_booked_are_called_by_slot_not_by_arrival(eng: Engine, clock: ManualClock) -> None:
    issue(eng, booking=slot(MONDAY_8AM + timedelta(minutes=10), "DL20000001"))  # due 07:55
    issue(eng, booking=slot(MONDAY_8AM, "DL20000002"))  # due 07:45
    open_counter(eng)
    assert [call_next(eng), call_next(eng)] == ["A002", "A001"]


def test_priority_still_goes_first(eng: Engine) -> None:
    issue(eng, booking=slot(MONDAY_8AM, "DL30000001"))
    issue(eng, priority=True)
    issue(eng)
    open_counter(eng)
    assert [call_next(eng) for _ in range(3)] == ["A002", "A001", "A003"]


def test_booked_ticket_ahead_counts_due_booked_and_priority(eng: Engine) -> None:
    issue(eng)
    issue(eng)
    issue(eng, priority=True)
    issue(eng, booking=slot(MONDAY_8AM, "DL40000001"))
    r = issue(eng, booking=slot(MONDAY_8AM + timedelta(minutes=5), "DL40000002"))
    assert r["ahead"] == 2  # the priority one and the booked one due before it; not the walk-ins
    walk_in = issue(eng)
    assert walk_in["ahead"] == 5


def test_priority_reason_implies_priority(eng: Engine) -> None:
    r = issue(eng, priority_reason="age")
    assert r["ticket"]["priority"] is True and r["ticket"]["priority_reason"] == "age"
    assert refused(eng, priority=False, priority_reason="age") == "bad_request"
    assert refused(eng, priority_reason="Tuổi cao") == "bad_request"


def test_transferred_booked_ticket_waits_as_walk_in(eng: Engine) -> None:
    issue(eng, booking=slot(MONDAY_8AM, "DL50000001"))
    open_counter(eng)
    assert call_next(eng) == "A001"
    d = eng.handle("counter-1", "transfer", {"service": "datdai"})
    assert d.ok and d.result is not None
    assert d.result["ticket"]["booking"]["line"] == "walk_in"
    assert [t.number for t in eng.waiting_list("datdai")] == ["A001"]
    assert call_next(eng) == "A001"


def test_day_close_expires_booked_waiting_ones(eng: Engine, clock: ManualClock) -> None:
    issue(eng, booking=slot(MONDAY_8AM + timedelta(hours=3), "DL60000001"))
    clock.advance(24 * 3600)
    d = eng.tick()
    assert [e[2]["ticket"]["number"] for e in d.events if e[0] == "ticket.expired"] == ["A001"]
    assert eng.services["tuphap"].waiting == 0 and not eng.booking_codes


# -- numbering ----------------------------------------------------------------------------------
def test_own_prefix_numbering_is_unique_per_day(clock: ManualClock) -> None:
    eng = Engine(booking_site(numbering="prefix", prefix="L"), clock)
    a = issue(eng)["ticket"]["number"]
    l1 = issue(eng, booking=slot(MONDAY_8AM, "DL70000001"))["ticket"]["number"]
    d = eng.handle("kiosk-1", "issue", {"service": "datdai", "booking": slot(MONDAY_8AM, "DL70000002")})
    assert d.result is not None
    l2 = d.result["ticket"]["number"]
    late = issue(eng, booking=slot(MONDAY_8AM - timedelta(hours=1), "DL70000003"))["ticket"]["number"]
    assert [a, l1, l2, late] == ["A001", "L001", "L002", "A003"]  # a late walk-in: a normal number
    assert eng.services["tuphap"].issued == 3 and eng.services["datdai"].issued == 1
    open_counter(eng)
    assert eng.handle("counter-1", "call", {"number": "L002"}).ok


def test_own_prefix_must_not_be_a_service_prefix() -> None:
    with pytest.raises(ConfigError) as exc:
        site(bookings={"enabled": True, "numbering": "prefix", "prefix": "B"})
    assert "bookings.prefix" in str(exc.value)


# -- dossiers -----------------------------------------------------------------------------------
def test_dossier_code_rides_on_the_result_return_ticket(eng: Engine) -> None:
    d = eng.handle("kiosk-1", "issue", {"service": "datdai", "dossier": " 000.00.12.h23-241204-0003 "})
    assert d.ok and d.result is not None
    assert d.result["ticket"]["dossier"] == "000.00.12.H23-241204-0003"
    assert d.result["ticket"]["booking"] is None
    assert "booking_status" not in d.result


@pytest.mark.parametrize(
    ("service", "dossier"),
    [
        ("tuphap", "000.00.12.H23-241204-0003"),  # not the result return service
        ("datdai", "000.00.12.H23-2412040003"),
        ("datdai", "x" * 200),
        ("datdai", "000.00.12.H23-241204-0003; DROP"),
        ("datdai", ""),
    ],
)
def test_bad_dossiers_are_bad_requests(eng: Engine, service: str, dossier: str) -> None:
    d = eng.handle("kiosk-1", "issue", {"service": service, "dossier": dossier})
    assert d.error is not None and d.error.code == "bad_request"
    assert not d.events


def test_dossiers_service_must_exist() -> None:
    with pytest.raises(ConfigError) as exc:
        site(dossiers={"service": "traketqua"})
    assert "dossiers.service" in str(exc.value) and "traketqua" in str(exc.value)


def test_example_and_defaults_parse() -> None:
    cfg = config.parse({**BASE})
    assert cfg.bookings.enabled is False and cfg.dossiers.service is None
    with pytest.raises(ConfigError) as exc:
        site(bookings={"early": "later"})
    assert "bookings.early" in str(exc.value)


# -- persistence --------------------------------------------------------------------------------
def test_restart_keeps_booked_line_streak_and_used_codes(tmp_path: Path, clock: ManualClock) -> None:
    cfg = booking_site()
    eng = Engine(cfg, clock)
    store = Store(tmp_path / "c.db")

    def run(device: str, op: str, args: dict[str, Any]) -> Any:
        d = eng.handle(device, op, args)
        store.commit(
            [Pending(d)],
            eng.meta(),
            {c: eng.counters[c].record() for c in d.counters},
            {s: eng.services[s].record() for s in d.services},
            clock.now().isoformat(),
        )
        return d

    run("kiosk-1", "issue", {"service": "tuphap"})
    run("kiosk-1", "issue", {"service": "tuphap", "booking": slot(MONDAY_8AM, "DL80000001")})
    run("kiosk-1", "issue", {"service": "tuphap", "booking": slot(MONDAY_8AM, "DL80000002")})
    run(
        "kiosk-1",
        "issue",
        {"service": "tuphap", "booking": slot(MONDAY_8AM + timedelta(hours=2), "DL80000003")},
    )
    run("counter-1", "open", {})
    run("counter-1", "call_next", {})  # A002 (booked), streak 1
    run("counter-1", "finish", {})  # A002 done: gone from memory, its code must stay used
    loaded = store.load(eng.day)
    again = Engine(cfg, clock)
    again.restore(loaded.meta, loaded.tickets, loaded.counters, loaded.services, loaded.booking_codes)
    assert again.booking_codes == {"DL80000001", "DL80000002", "DL80000003"}
    assert [t.number for t in again.waiting_list("tuphap")] == ["A003", "A004", "A001"]
    assert again.counters["1"].booked_streak == 1
    assert (
        again.handle(
            "kiosk-1", "issue", {"service": "tuphap", "booking": slot(MONDAY_8AM, "DL80000001")}
        ).error.code
        == "booking_used"
    )  # type: ignore[union-attr]
    d = again.handle("counter-1", "call_next", {})
    assert d.result is not None and d.result["ticket"]["number"] == "A003"
    d = again.handle("counter-1", "call_next", {})
    assert d.result is not None and d.result["ticket"]["number"] == "A001"  # max_in_row = 2 reached
    store.close()


def test_old_ticket_records_load_without_booking_fields() -> None:
    from queue_controller.model import Ticket

    rec = {
        "id": "20261123-A001", "number": "A001", "service": "tuphap", "priority": False, "status": "waiting",
        "issued_at": MONDAY_8AM.isoformat(), "day": "2026-11-23", "rank": 1,
    }  # fmt: skip
    t = Ticket.from_record(rec)
    assert t.booking is None and t.dossier is None and not t.booked
    assert t.wire()["booking"] is None and t.wire()["dossier"] is None
