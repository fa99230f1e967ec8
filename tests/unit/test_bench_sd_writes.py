"""bench/sd_writes.py's arithmetic and its readings of /proc (the benchmark itself runs minutes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import sd_writes


def test_io_counters_see_this_process_write(tmp_path: Path) -> None:
    before = sd_writes.io_counters(os.getpid())
    assert before is not None and {"write_bytes", "wchar"} <= set(before)
    with open(tmp_path / "x", "wb") as f:
        f.write(b"x" * 100_000)
        f.flush()
        os.fsync(f.fileno())
    after = sd_writes.io_counters(os.getpid())
    assert after is not None and after["wchar"] - before["wchar"] >= 100_000
    assert sd_writes.io_counters(2**22 + 7) is None  # no such process


def test_a_day_is_the_idle_rate_all_day_plus_the_tickets() -> None:
    idle = {"window_s": 10.0, "roles": {"hub": {"processes": 1, "write_bytes": 1000}}}
    busy = {
        "window_s": 10.0,
        "speed": 60.0,
        "tickets": 5,
        "roles": {"hub": {"processes": 1, "write_bytes": 6000}},
    }
    idle_day, per_ticket = sd_writes._per_day(idle, busy, "write_bytes", "hub")  # type: ignore[misc]
    assert idle_day == 100 * 86_400  # 100 B/s all day
    assert per_ticket == (6000 - 1000) / 5
    busy["tickets"] = 0
    assert sd_writes._per_day(idle, busy, "write_bytes", "hub") is None  # nothing to divide by


def test_card_life_follows_endurance_and_amplification() -> None:
    years = sd_writes.card_life(1e9)  # 1 GB a day, written 10 times over by the card
    assert years["32 GB TLC, 1000 P/E"] == pytest.approx(32e12 / 1e10 / 365, abs=0.1)
    assert years["32 GB TLC, 3000 P/E"] == pytest.approx(3 * float(years["32 GB TLC, 1000 P/E"]), abs=0.2)
    assert sd_writes.card_life(0)["16 GB TLC, 1000 P/E"] == ">1000"


def test_fsyncs_are_counted_per_role_from_an_strace_file(tmp_path: Path) -> None:
    trace = tmp_path / "strace.txt"
    pid = os.getpid()
    trace.write_text(
        f"{pid} fdatasync(4</var/hub.db-wal>) = 0\n{pid} fsync(5) = 0\n999999 fsync(3) = 0\n"
        f"{pid} +++ exited with 0 +++\n"
    )
    assert sd_writes._count_syncs(trace, {pid: "hub"}) == {"hub": 2, "?": 1}
