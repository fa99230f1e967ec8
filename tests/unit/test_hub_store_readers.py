"""The hub store's reading connections: a report in progress never holds up the ingest, and the web
handlers cannot write through them."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest

from hub_api.store import READERS, HubStore
from tests.utils.events import EventFeed


def test_ingest_goes_on_while_a_report_is_in_the_middle_of_its_query(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    feed = EventFeed(store)
    feed.ticket("A001", "tuphap", "2026-03-31T08:00:00+07:00", wait_min=3, service_min=4, end="done")
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def slow_report() -> None:
        with store.reading() as conn:

            def gate() -> int:  # runs inside the SELECT: the read transaction is open
                inside.set()
                release.wait(30)
                return 1

            conn.create_function("gate", 0, gate)
            seen.append(len(conn.execute("SELECT gate(), id FROM tickets").fetchall()))

    reader = threading.Thread(target=slow_report)
    reader.start()
    try:
        assert inside.wait(10), "the report never started"
        ingest = threading.Thread(
            target=lambda: feed.ticket("A002", "tuphap", "2026-03-31T08:05:00+07:00", wait_min=1)
        )
        ingest.start()
        ingest.join(10)
        assert not ingest.is_alive(), "the ingest waited for the report"
        assert store.query("SELECT COUNT(*) AS n FROM tickets") == [{"n": 2}]
    finally:
        release.set()
        reader.join(10)
    assert seen == [1], "the report saw the database as it was when its query began"
    store.close()


def test_handlers_cannot_write_through_the_reading_connections(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.query("DELETE FROM tickets")
        assert store.rows("SELECT 1, 'a'") == [(1, "a")]
    finally:
        store.close()


def test_at_most_readers_connections_are_opened(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    held: list[sqlite3.Connection] = []
    try:
        with contextlib.ExitStack() as stack:
            for _ in range(READERS):
                held.append(stack.enter_context(store.reading()))
            assert len({id(c) for c in held}) == READERS
            late: list[object] = []
            waiter = threading.Thread(target=lambda: late.append(store.query("SELECT 1 AS x")))
            waiter.start()
            waiter.join(0.2)
            assert waiter.is_alive(), "a reader beyond the pool did not wait"
        waiter.join(10)
        assert late == [[{"x": 1}]]
        with store.reading() as again:
            assert again in held, "a connection was not reused"
    finally:
        store.close()


def test_a_repeated_health_is_written_again_only_after_the_refresh(tmp_path: Path, monkeypatch) -> None:
    """A device's periodic health with a newer ts only is not an fsynced commit every 30 s (SD cards);
    a change is written at once, the controller's health always (its figures feed /metrics)."""
    import time as time_module

    from hub_api import store as store_module

    clock = [1000.0]
    monkeypatch.setattr(time_module, "monotonic", lambda: clock[0])
    hub = store_module.HubStore(tmp_path / "hub.db")
    try:
        changes = hub.db.total_changes

        def writes() -> int:
            return hub.db.total_changes - changes

        health = {"printer": "ok", "detail": "", "ts": "2026-12-04T08:00:00+07:00"}
        hub.device_health("kiosk-1", health, "2026-12-04T01:00:00Z")
        hub.device_health("kiosk-1", {**health, "ts": "2026-12-04T08:00:30+07:00"}, "2026-12-04T01:00:30Z")
        assert writes() == 1
        hub.device_health("kiosk-1", {**health, "printer": "paper_low"}, "2026-12-04T01:00:40Z")
        assert writes() == 2  # a change: at once
        stored = hub.query("SELECT health, last_seen FROM devices WHERE id = 'kiosk-1'")[0]
        assert '"paper_low"' in stored["health"] and stored["last_seen"] == "2026-12-04T01:00:40Z"
        clock[0] += store_module.HEALTH_REFRESH_S
        hub.device_health("kiosk-1", {**health, "printer": "paper_low"}, "2026-12-04T01:05:40Z")
        assert writes() == 3  # the same again, after the refresh: last_seen moves on
        for i in range(3):
            hub.device_health("controller", {"metrics": {"n": 1}, "ts": f"t{i}"}, f"s{i}")
        assert writes() == 6
    finally:
        hub.close()
